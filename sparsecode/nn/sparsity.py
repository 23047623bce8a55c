r"""Sparsity for any torch model: penalties, L0 gates, pruning schedules, reports.

Penalties
    :func:`sparsity_penalty` -- L1 or group-lasso over chosen parameters, added to a loss.
L0 gates
    :class:`HardConcreteGate` -- the hard-concrete stochastic gate of Louizos, Welling &
    Kingma (2018) with its differentiable expected-L0 penalty; put it in front of a layer
    to select input features or neurons.
Pruning
    Schedules (:class:`ConstantSparsity`, :class:`PolynomialDecay` -- the TF-MOT schedule
    -- and :class:`LinearSparsity`) tell *how sparse at which step*;
    :class:`MagnitudePruner` prunes by magnitude (unstructured, or structured: whole
    neurons/channels) on that schedule; :class:`GradualGrowth` starts sparse and moves /
    adds connections where the dense gradient is largest (RigL, Evci et al. 2020, when the
    schedule is constant). Both store their masks with :mod:`torch.nn.utils.prune`
    (``weight_orig`` * ``weight_mask``), so pruned weights stay exactly zero through
    further training, and both are training callbacks
    (:class:`sparsecode.nn._training.Trainer`), e.g. ``sae.fit(X, callbacks=[pruner])``.
Reports
    :func:`sparsity_report` -- per-layer sparsity and the real size of the model stored in
    a compressed sparse (CSR) format.

References
----------
.. [1] C. Louizos, M. Welling and D. Kingma, "Learning sparse neural networks through L0
   regularization", ICLR 2018. arXiv:1712.01312.
.. [2] M. Zhu and S. Gupta, "To prune, or not to prune: exploring the efficacy of pruning
   for model compression", 2017. arXiv:1710.01878.
.. [3] U. Evci, T. Gale, J. Menick, P. Castro and E. Elsen, "Rigging the lottery: making
   all tickets winners", ICML 2020. arXiv:1911.11134.
.. [4] M. Yuan and Y. Lin, "Model selection and estimation in regression with grouped
   variables", JRSS-B 68(1), 2006. doi:10.1111/j.1467-9868.2005.00532.x.
"""

from __future__ import annotations

import fnmatch
import io
import math
import numbers
import warnings

import torch
from torch import nn
from torch.nn.utils import prune

__all__ = [
    "PENALTIES",
    "sparsity_penalty",
    "HardConcreteGate",
    "SparsitySchedule",
    "ConstantSparsity",
    "PolynomialDecay",
    "LinearSparsity",
    "MagnitudePruner",
    "GradualGrowth",
    "RigL",
    "sparsity_report",
    "SparsityReport",
    "prunable_parameters",
]


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------
def _check_sparsity(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a float in [0, 1), got {value!r}.")
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}.")
    return value


def _check_step(value, name, minimum=0):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}.")
    return int(value)


def prunable_parameters(module, parameters=None):
    """``(submodule, name, qualified_name)`` for the parameters to prune or penalise.

    Parameters
    ----------
    module : nn.Module
    parameters : None, str or sequence of str
        None: every weight of dimension >= 2 (linear/conv weights, decoder matrices),
        not biases. Otherwise qualified names (``"encoder.weight"``) or glob patterns
        (``"*.weight"``) matched against ``module.named_parameters()`` (a pruned
        parameter is named without its ``_orig`` suffix).

    Raises
    ------
    ValueError
        If a name or pattern matches nothing.
    """
    entries = []
    for qual, p in module.named_parameters():
        if qual.endswith("_orig"):
            qual = qual[: -len("_orig")]
        path, _, name = qual.rpartition(".")
        sub = module.get_submodule(path) if path else module
        entries.append((sub, name, qual, p))
    if parameters is None:
        return [(s, n, q) for s, n, q, p in entries if p.dim() >= 2]
    if isinstance(parameters, str):
        parameters = [parameters]
    out, seen = [], set()
    for pat in parameters:
        matched = [(s, n, q) for s, n, q, _ in entries if fnmatch.fnmatchcase(q, pat)]
        if not matched:
            raise ValueError(
                f"parameters: {pat!r} matches no parameter of the module; available: "
                f"{[q for _, _, q, _ in entries]}."
            )
        for m in matched:
            if m[2] not in seen:
                seen.add(m[2])
                out.append(m)
    return out


def _current(sub, name):
    """The effective (masked) tensor of a possibly pruned parameter."""
    if prune.is_pruned(sub) and hasattr(sub, name + "_mask"):
        return getattr(sub, name + "_orig") * getattr(sub, name + "_mask")
    return getattr(sub, name)


# ---------------------------------------------------------------------------------------
# penalties
# ---------------------------------------------------------------------------------------
def _l1(w, group_dim):
    return w.abs().sum()


def _group_lasso(w, group_dim):
    if w.dim() < 2:
        return w.norm()
    g = w.transpose(0, group_dim).reshape(w.shape[group_dim], -1)
    return (g.norm(dim=1) * math.sqrt(g.shape[1])).sum()


#: Penalties by name.
PENALTIES = {"l1": _l1, "group_lasso": _group_lasso}


def sparsity_penalty(module, penalty="l1", *, alpha=1.0, parameters=None, group_dim=0):
    r"""L1 or group-lasso penalty over chosen parameters of ``module``.

    .. math::

        \text{l1}:\ \alpha\sum_{w}\|w\|_1, \qquad
        \text{group\_lasso}:\ \alpha\sum_{w}\sum_{g}\sqrt{|g|}\,\|w_g\|_2,

    where the groups :math:`g` of a weight are its slices along ``group_dim`` (``0``: the
    output neurons / channels of ``nn.Linear`` / ``nn.Conv*``; ``1``: the inputs) --
    the group lasso of Yuan & Lin (2006), which zeroes whole neurons.

    Parameters
    ----------
    module : nn.Module
    penalty : {"l1", "group_lasso"}, default="l1"
    alpha : float, default=1.0
    parameters : None, str or sequence of str
        See :func:`prunable_parameters` (None: all weights of dimension >= 2).
    group_dim : int, default=0

    Returns
    -------
    Tensor (scalar), differentiable.

    Examples
    --------
    >>> import torch
    >>> from sparsecode.nn.sparsity import sparsity_penalty
    >>> lin = torch.nn.Linear(3, 2)
    >>> with torch.no_grad():
    ...     _ = lin.weight.copy_(torch.tensor([[1.0, -2.0, 0.0], [0.0, 0.0, 3.0]]))
    >>> float(sparsity_penalty(lin, "l1", alpha=0.5).detach())
    3.0
    """
    try:
        fn = PENALTIES[penalty]
    except (KeyError, TypeError):
        raise ValueError(
            f"penalty must be one of {sorted(PENALTIES)}, got {penalty!r}."
        ) from None
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or alpha < 0:
        raise ValueError(f"alpha must be a non-negative float, got {alpha!r}.")
    total = None
    for sub, name, _ in prunable_parameters(module, parameters):
        w = _current(sub, name)
        term = fn(w, group_dim)
        total = term if total is None else total + term
    if total is None:
        return torch.zeros(())
    return alpha * total


# ---------------------------------------------------------------------------------------
# hard-concrete L0 gate
# ---------------------------------------------------------------------------------------
class HardConcreteGate(nn.Module):
    r"""Hard-concrete stochastic gates with an expected-L0 penalty (Louizos et al. 2018).

    Multiplies its input by gates :math:`z \in [0, 1]^{n}` along the last dimension:

    .. math::

        u \sim U(0,1),\quad s = \operatorname{sigmoid}\Big(\frac{\log u - \log(1-u)
        + \log\alpha}{\beta}\Big),\quad z = \min(1, \max(0, s(\zeta-\gamma)+\gamma)),

    in training; in evaluation the deterministic
    :math:`z = \min(1,\max(0, \operatorname{sigmoid}(\log\alpha)(\zeta-\gamma)+\gamma))`.
    The expected number of open gates

    .. math::

        \mathbb E\|z\|_0 = \sum_j \operatorname{sigmoid}\Big(\log\alpha_j -
        \beta\log\frac{-\gamma}{\zeta}\Big)

    is differentiable in :math:`\log\alpha` (:meth:`l0_norm`), so
    ``loss + lam * gate.l0_norm()`` learns which inputs to keep.

    Parameters
    ----------
    n_features : int
        Number of gates (size of the last dimension of the input).
    init_keep : float in (0, 1), default=0.9
        Initial probability of a gate being open (sets :math:`\log\alpha`).
    beta : float, default=2/3
        Temperature. ``gamma``, ``zeta``: stretch interval, default (-0.1, 1.1).

    Examples
    --------
    >>> import torch
    >>> from sparsecode.nn.sparsity import HardConcreteGate
    >>> gate = HardConcreteGate(10).eval()
    >>> gate(torch.ones(2, 10)).shape, float(gate.l0_norm().detach()) > 8
    (torch.Size([2, 10]), True)
    """

    def __init__(self, n_features, *, init_keep=0.9, beta=2 / 3, gamma=-0.1, zeta=1.1):
        super().__init__()
        if isinstance(n_features, bool) or not isinstance(n_features, numbers.Integral) \
                or n_features < 1:
            raise ValueError(f"n_features must be a positive integer, got {n_features!r}.")
        if not 0.0 < init_keep < 1.0:
            raise ValueError(f"init_keep must be in (0, 1), got {init_keep}.")
        if not (gamma < 0.0 and zeta > 1.0):
            raise ValueError(f"need gamma < 0 < 1 < zeta, got gamma={gamma}, zeta={zeta}.")
        self.beta, self.gamma, self.zeta = float(beta), float(gamma), float(zeta)
        # choose log_alpha so that P(z > 0) = init_keep
        la = math.log(init_keep / (1 - init_keep)) + self.beta * math.log(-gamma / zeta)
        self.log_alpha = nn.Parameter(torch.full((int(n_features),), la))

    def sample(self):
        """Gates: random in training mode, deterministic in evaluation mode."""
        la = self.log_alpha
        if self.training:
            u = torch.rand_like(la).clamp(1e-6, 1 - 1e-6)
            s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + la) / self.beta)
        else:
            s = torch.sigmoid(la)
        return torch.clamp(s * (self.zeta - self.gamma) + self.gamma, 0.0, 1.0)

    def forward(self, x):
        return x * self.sample()

    def l0_norm(self):
        """Expected number of open gates (differentiable)."""
        shift = self.beta * math.log(-self.gamma / self.zeta)
        return torch.sigmoid(self.log_alpha - shift).sum()

    def mask(self):
        """Boolean mask of the gates open at evaluation time."""
        with torch.no_grad():
            s = torch.sigmoid(self.log_alpha)
            return (s * (self.zeta - self.gamma) + self.gamma) > 0

    def extra_repr(self):
        return f"n_features={self.log_alpha.numel()}, beta={self.beta:.3g}"


# ---------------------------------------------------------------------------------------
# schedules
# ---------------------------------------------------------------------------------------
class SparsitySchedule:
    """Base of pruning schedules: ``schedule(step) -> (update_now, target_sparsity)``.

    Subclasses implement :meth:`sparsity`. Masks are updated at
    ``begin_step``, then every ``frequency`` steps up to ``end_step`` (inclusive, and
    always at ``end_step`` itself), never after ``end_step`` (``None``: forever).
    """

    def __init__(self, begin_step=0, end_step=None, frequency=100):
        self.begin_step = _check_step(begin_step, "begin_step")
        if end_step is not None:
            end_step = _check_step(end_step, "end_step")
            if end_step < self.begin_step:
                raise ValueError(
                    f"end_step must be >= begin_step={self.begin_step}, got {end_step}."
                )
        self.end_step = end_step
        self.frequency = _check_step(frequency, "frequency", minimum=1)

    def sparsity(self, step):  # pragma: no cover - abstract
        raise NotImplementedError

    def should_update(self, step):
        if step < self.begin_step:
            return False
        if self.end_step is not None and step > self.end_step:
            return False
        return (step - self.begin_step) % self.frequency == 0 or step == self.end_step

    def __call__(self, step):
        return self.should_update(step), self.sparsity(step)

    def __repr__(self):
        attrs = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({attrs})"


class ConstantSparsity(SparsitySchedule):
    """Constant target sparsity (TF-MOT ``ConstantSparsity``).

    Parameters
    ----------
    target_sparsity : float in [0, 1)
    begin_step : int, default=0
    end_step : int or None, default=None
    frequency : int, default=100
    """

    def __init__(self, target_sparsity, begin_step=0, end_step=None, frequency=100):
        super().__init__(begin_step, end_step, frequency)
        self.target_sparsity = _check_sparsity(target_sparsity, "target_sparsity")

    def sparsity(self, step):
        return self.target_sparsity


class PolynomialDecay(SparsitySchedule):
    r"""Polynomial sparsity schedule (Zhu & Gupta 2017; TF-MOT ``PolynomialDecay``).

    .. math::

        s(t) = s_f + (s_i - s_f)\Big(1 - \frac{t - t_0}{t_1 - t_0}\Big)^{p},
        \qquad t_0 \le t \le t_1,

    :math:`s_i` before ``begin_step``, :math:`s_f` after ``end_step``; the target is
    reached exactly at ``end_step``.

    Parameters
    ----------
    initial_sparsity, final_sparsity : float in [0, 1)
    begin_step, end_step : int
    power : float, default=3
    frequency : int, default=100

    Examples
    --------
    >>> from sparsecode.nn.sparsity import PolynomialDecay
    >>> s = PolynomialDecay(0.0, 0.8, begin_step=0, end_step=100, frequency=10)
    >>> s(0), s(50)[1] > 0.6, s(100)
    ((True, 0.0), True, (True, 0.8))
    """

    def __init__(self, initial_sparsity, final_sparsity, begin_step, end_step, power=3,
                 frequency=100):
        super().__init__(begin_step, end_step, frequency)
        if self.end_step is None or self.end_step == self.begin_step:
            raise ValueError(
                f"end_step must be > begin_step={self.begin_step}, got {end_step}."
            )
        self.initial_sparsity = _check_sparsity(initial_sparsity, "initial_sparsity")
        self.final_sparsity = _check_sparsity(final_sparsity, "final_sparsity")
        if isinstance(power, bool) or not isinstance(power, numbers.Real) or power <= 0:
            raise ValueError(f"power must be a positive float, got {power!r}.")
        self.power = float(power)

    def sparsity(self, step):
        if step <= self.begin_step:
            return self.initial_sparsity
        if step >= self.end_step:
            return self.final_sparsity
        frac = (step - self.begin_step) / (self.end_step - self.begin_step)
        return self.final_sparsity + (self.initial_sparsity - self.final_sparsity) * (
            1.0 - frac) ** self.power


class LinearSparsity(PolynomialDecay):
    """:class:`PolynomialDecay` with ``power=1``."""

    def __init__(self, initial_sparsity, final_sparsity, begin_step, end_step,
                 frequency=100):
        super().__init__(initial_sparsity, final_sparsity, begin_step, end_step, power=1,
                         frequency=frequency)


# ---------------------------------------------------------------------------------------
# pruners
# ---------------------------------------------------------------------------------------
def _ensure_mask(sub, name):
    if not (prune.is_pruned(sub) and hasattr(sub, name + "_mask")):
        prune.identity(sub, name)
    return getattr(sub, name + "_mask")


def _slice_scores(w, dim):
    """L2 norm of every slice of ``w`` along ``dim``."""
    return w.detach().transpose(0, dim).reshape(w.shape[dim], -1).norm(dim=1)


class _PrunerBase:
    """Shared plumbing: binding to a module, step counting, callback protocol."""

    def __init__(self, module, schedule, parameters, structured_dim):
        if not isinstance(schedule, SparsitySchedule):
            raise TypeError(
                "schedule must be a SparsitySchedule (ConstantSparsity, PolynomialDecay, "
                f"...), got {type(schedule).__name__}."
            )
        if structured_dim is not None:
            _check_step(structured_dim, "structured_dim")
        self.schedule = schedule
        self.parameters = parameters
        self.structured_dim = structured_dim
        self.step_count = 0
        self.module = None
        self.targets = []
        if module is not None:
            self.bind(module)

    def bind(self, module):
        """Attach to ``module``: registers the masks (``torch.nn.utils.prune``)."""
        self.module = module
        self.targets = prunable_parameters(module, self.parameters)
        for sub, name, _ in self.targets:
            w = getattr(sub, name + "_orig", None)
            w = getattr(sub, name) if w is None else w
            if self.structured_dim is not None and self.structured_dim >= w.dim():
                raise ValueError(
                    f"structured_dim={self.structured_dim} is out of range for parameter "
                    f"of shape {tuple(w.shape)}."
                )
            _ensure_mask(sub, name)
        return self

    # -- callback protocol of sparsecode.nn._training.Trainer
    def on_train_begin(self, trainer):
        if self.module is not trainer.module:
            self.bind(trainer.module)
        self._apply_masks()

    def after_step(self, trainer):
        self.step()
        self._apply_masks()  # optimizer momentum must not revive stored pruned weights

    def state_dict(self):
        return {"step_count": self.step_count}

    def load_state_dict(self, s):
        self.step_count = s["step_count"]

    @torch.no_grad()
    def _apply_masks(self):
        """Zero the stored weights under the masks (keeps optimizer moments honest)."""
        for sub, name, _ in self.targets:
            orig, mask = getattr(sub, name + "_orig"), getattr(sub, name + "_mask")
            orig.mul_(mask)
            # refresh the masked attribute now (prune's hook only does it in forward)
            setattr(sub, name, orig * mask)

    def remove(self):
        """Make the pruning permanent (``prune.remove``): plain parameters with zeros."""
        for sub, name, _ in self.targets:
            if hasattr(sub, name + "_mask"):
                prune.remove(sub, name)
        self.targets = []

    def sparsity(self):
        """Current fraction of masked entries over the pruned parameters."""
        tot = zeros = 0
        for sub, name, _ in self.targets:
            m = getattr(sub, name + "_mask")
            tot += m.numel()
            zeros += int((m == 0).sum())
        return zeros / max(tot, 1)


class MagnitudePruner(_PrunerBase):
    r"""Magnitude pruning driven by a sparsity schedule.

    At every update step of the schedule, each pruned parameter (``scope="layer"``) or
    all of them together (``scope="global"``) keeps the :math:`(1-s)` fraction of entries
    of largest magnitude -- or, with ``structured_dim``, of slices (output neurons /
    channels for ``0``) of largest L2 norm. Masks only shrink: a pruned weight never comes
    back, and since the forward pass uses ``weight_orig * weight_mask`` pruned weights
    stay zero whatever the optimizer does.

    Call :meth:`step` after every optimizer step (or pass the pruner as a training
    callback: ``Trainer(..., callbacks=[pruner])`` or ``sae.fit(X, callbacks=[pruner])``).

    Parameters
    ----------
    module : nn.Module or None
        None: bound when training starts (callback use).
    schedule : SparsitySchedule
    parameters : None, str or sequence of str
        See :func:`prunable_parameters`.
    structured_dim : int or None, default=None
        None: unstructured; ``d``: prune whole slices along dimension ``d``.
    scope : {"layer", "global"}, default="layer"

    Examples
    --------
    >>> import torch
    >>> from sparsecode.nn.sparsity import MagnitudePruner, ConstantSparsity
    >>> net = torch.nn.Linear(10, 10)
    >>> pruner = MagnitudePruner(net, ConstantSparsity(0.7, frequency=1))
    >>> pruner.step()
    0.7
    >>> int((net.weight == 0).sum())
    70
    """

    def __init__(self, module=None, schedule=None, *, parameters=None, structured_dim=None,
                 scope="layer"):
        if scope not in ("layer", "global"):
            raise ValueError(f"scope must be one of ['global', 'layer'], got {scope!r}.")
        if scope == "global" and structured_dim is not None:
            raise ValueError("scope='global' supports unstructured pruning only.")
        self.scope = scope
        super().__init__(module, schedule, parameters, structured_dim)

    def step(self):
        """Advance one training step; prune if the schedule says so. Returns the
        schedule's target sparsity at this step."""
        if self.module is None:
            raise RuntimeError("MagnitudePruner is not bound to a module; call bind(module).")
        update, target = self.schedule(self.step_count)
        if update:
            self.prune_to(target)
        self.step_count += 1
        return target

    @torch.no_grad()
    def prune_to(self, sparsity):
        """Prune every target now to (at least) ``sparsity``."""
        sparsity = _check_sparsity(sparsity, "sparsity")
        if self.scope == "global":
            ws = [(_current(s, n).detach().abs(), getattr(s, n + "_mask"))
                  for s, n, _ in self.targets]
            flat = torch.cat([w.reshape(-1).float().cpu() for w, _ in ws])
            n_prune = int(round(sparsity * flat.numel()))
            if n_prune > 0:
                order = torch.argsort(flat, stable=True)
                keep = torch.ones(flat.numel(), dtype=torch.bool)
                keep[order[:n_prune]] = False
                start = 0
                for w, m in ws:
                    k = keep[start:start + w.numel()].reshape(w.shape).to(m.device)
                    m.mul_(k.to(m.dtype))
                    start += w.numel()
        else:
            for sub, name, _ in self.targets:
                m = getattr(sub, name + "_mask")
                w = _current(sub, name)
                if self.structured_dim is None:
                    scores = w.detach().abs().reshape(-1)
                    n_prune = int(round(sparsity * scores.numel()))
                    if n_prune == 0:
                        continue
                    order = torch.argsort(scores, stable=True)
                    flat = m.reshape(-1).clone()
                    flat[order[:n_prune]] = 0
                    m.copy_(flat.reshape(m.shape))
                else:
                    d = self.structured_dim
                    scores = _slice_scores(w, d)
                    n_prune = int(round(sparsity * scores.numel()))
                    if n_prune == 0:
                        continue
                    order = torch.argsort(scores, stable=True)
                    keep = torch.ones_like(scores)
                    keep[order[:n_prune]] = 0
                    shape = [1] * w.dim()
                    shape[d] = -1
                    m.mul_(keep.reshape(shape).to(m.dtype))
        self._apply_masks()


class GradualGrowth(_PrunerBase):
    r"""Dynamic sparse training: drop small weights, grow where the gradient is large.

    Starts from a random mask at the schedule's initial sparsity. At every update step
    of the schedule, per parameter, with :math:`n` active connections, target
    :math:`n^* = (1 - s(t))\,N`:

    1. drop the :math:`\lfloor f(t)\, n\rfloor` active weights of smallest magnitude,
       :math:`f(t) = \tfrac{f_0}{2}\big(1 + \cos\frac{\pi t}{T}\big)` (cosine decay of
       ``drop_fraction`` to the schedule's ``end_step`` :math:`T`);
    2. grow the inactive connections with the largest *dense* gradient magnitude until
       :math:`n^*` are active; grown weights start at zero.

    With :class:`ConstantSparsity` this is RigL (Evci et al., ICML 2020): connectivity
    moves at fixed sparsity. With a decreasing schedule (e.g.
    ``PolynomialDecay(0.95, 0.8, ...)``) the network starts sparse and grows connections
    where the gradient says they help. With ``structured_dim`` whole units are dropped
    and grown (slice scores: L2 norms of weights and of gradients).

    The dense gradient is captured by a hook on the masked weight during ``backward``;
    call :meth:`step` after the optimizer step (or use it as a training callback).

    Parameters
    ----------
    module : nn.Module or None
    schedule : SparsitySchedule
    parameters : None, str or sequence of str
    drop_fraction : float in [0, 1), default=0.3
    structured_dim : int or None, default=None
    random_state : int or None, default=None
        Seeds the initial random mask.
    """

    def __init__(self, module=None, schedule=None, *, parameters=None, drop_fraction=0.3,
                 structured_dim=None, random_state=None):
        self.drop_fraction = _check_sparsity(drop_fraction, "drop_fraction")
        self.random_state = random_state
        self._grads = {}
        self._handles = []
        super().__init__(module, schedule, parameters, structured_dim)

    def bind(self, module):
        super().bind(module)
        for h in self._handles:
            h.remove()
        self._handles = []
        gen = torch.Generator()
        gen.manual_seed(0 if self.random_state is None else int(self.random_state))
        s0 = self.schedule.sparsity(0)
        with torch.no_grad():
            for sub, name, qual in self.targets:
                m = getattr(sub, name + "_mask")
                if self.structured_dim is None:
                    n = m.numel()
                    n_off = int(round(s0 * n))
                    perm = torch.randperm(n, generator=gen)
                    flat = torch.ones(n, dtype=m.dtype)
                    flat[perm[:n_off]] = 0
                    m.copy_(flat.reshape(m.shape).to(m.device))
                else:
                    d = self.structured_dim
                    n = m.shape[d]
                    n_off = int(round(s0 * n))
                    perm = torch.randperm(n, generator=gen)
                    keep = torch.ones(n, dtype=m.dtype)
                    keep[perm[:n_off]] = 0
                    shape = [1] * m.dim()
                    shape[d] = -1
                    m.copy_(torch.ones_like(m) * keep.reshape(shape).to(m.device))
                self._handles.append(sub.register_forward_pre_hook(
                    self._make_hook(sub, name, qual)))
        self._apply_masks()
        return self

    def _make_hook(self, sub, name, qual):
        def hook(mod, inputs):
            w = getattr(mod, name)
            if torch.is_grad_enabled() and w.requires_grad:
                def save(g):
                    self._grads[qual] = g.detach()
                w.register_hook(save)
        return hook

    def _fraction(self, step):
        end = self.schedule.end_step
        if end is None or end <= 0:
            return self.drop_fraction
        return self.drop_fraction / 2 * (1 + math.cos(math.pi * min(step, end) / end))

    def step(self):
        """Advance one step; drop and grow if the schedule says so. Returns the target."""
        if self.module is None:
            raise RuntimeError("GradualGrowth is not bound to a module; call bind(module).")
        update, target = self.schedule(self.step_count)
        if update and self.step_count > 0:
            self.update(target, self._fraction(self.step_count))
        self.step_count += 1
        return target

    @torch.no_grad()
    def update(self, sparsity, drop_fraction):
        """One drop-and-grow update towards ``sparsity``."""
        for sub, name, qual in self.targets:
            g = self._grads.get(qual)
            if g is None:
                continue
            m = getattr(sub, name + "_mask")
            w = getattr(sub, name + "_orig")
            if self.structured_dim is None:
                mf = m.reshape(-1)
                wf = (w * m).abs().reshape(-1)
                gf = g.abs().reshape(-1)
                new = self._drop_grow(mf, wf, gf, sparsity, drop_fraction)
                grown = (new > 0) & (mf == 0)
                m.copy_(new.reshape(m.shape))
                w.reshape(-1)[grown] = 0.0
            else:
                d = self.structured_dim
                ms = _slice_scores(m, d) > 0
                ws = _slice_scores(w * m, d)
                gs = _slice_scores(g, d)
                new = self._drop_grow(ms.to(m.dtype), ws, gs, sparsity, drop_fraction)
                shape = [1] * m.dim()
                shape[d] = -1
                grown = ((new > 0) & ~ms).reshape(shape)
                m.copy_(torch.ones_like(m) * new.reshape(shape))
                w.mul_(~grown.expand_as(w) | (m == 0))
        self._apply_masks()

    @staticmethod
    def _drop_grow(mask, wabs, gabs, sparsity, drop_fraction):
        n = mask.numel()
        active = mask > 0
        n_active = int(active.sum())
        n_target = max(1, int(round((1 - sparsity) * n)))
        n_drop = int(drop_fraction * n_active)
        # drop: smallest magnitudes among active
        score = torch.where(active, wabs, torch.full_like(wabs, math.inf))
        order = torch.argsort(score, stable=True)
        new = mask.clone()
        n_drop = max(n_drop, n_active - n_target)
        new[order[:n_drop]] = 0
        # grow: largest gradients among the inactive (just-dropped excluded)
        n_grow = n_target - int((new > 0).sum())
        if n_grow > 0:
            cand = torch.where(active, torch.full_like(gabs, -math.inf), gabs)
            idx = torch.argsort(cand, descending=True, stable=True)[:n_grow]
            new[idx] = 1
        return new

    def remove(self):
        for h in self._handles:
            h.remove()
        self._handles = []
        super().remove()


#: RigL is :class:`GradualGrowth` with a :class:`ConstantSparsity` schedule.
RigL = GradualGrowth


# ---------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------
class SparsityReport:
    """Per-parameter sparsity and storage size (returned by :func:`sparsity_report`).

    Attributes
    ----------
    layers : list of dict
        ``name``, ``shape``, ``n_params``, ``n_zeros``, ``sparsity``, ``zero_rows``
        (slices along dim 0 entirely zero: removable neurons/channels),
        ``dense_bytes``, ``csr_bytes``.
    dense_bytes, sparse_bytes : int
        Whole model: all parameters and buffers dense, versus the weights stored as CSR
        (data + int32 indices + row pointers) where that is smaller, everything else
        dense.
    serialized_dense_bytes, serialized_sparse_bytes : int
        Real sizes of ``torch.save`` of the dense state dict and of the state dict with
        those weights as ``torch.sparse_csr`` tensors.
    """

    def __init__(self, layers, dense_bytes, sparse_bytes, ser_dense, ser_sparse):
        self.layers = layers
        self.dense_bytes = dense_bytes
        self.sparse_bytes = sparse_bytes
        self.serialized_dense_bytes = ser_dense
        self.serialized_sparse_bytes = ser_sparse

    @property
    def sparsity(self):
        """Fraction of zeros over the reported parameters."""
        n = sum(r["n_params"] for r in self.layers)
        return sum(r["n_zeros"] for r in self.layers) / max(n, 1)

    @property
    def compression(self):
        """``dense_bytes / sparse_bytes``."""
        return self.dense_bytes / max(self.sparse_bytes, 1)

    def to_markdown(self):
        lines = ["| parameter | shape | params | zeros | sparsity | zero rows | dense B | CSR B |",
                 "|---|---|---:|---:|---:|---:|---:|---:|"]
        for r in self.layers:
            lines.append(
                f"| {r['name']} | {'x'.join(map(str, r['shape']))} | {r['n_params']} | "
                f"{r['n_zeros']} | {r['sparsity']:.3f} | {r['zero_rows']} | "
                f"{r['dense_bytes']} | {r['csr_bytes']} |")
        lines.append(
            f"\nmodel: {self.dense_bytes} B dense, {self.sparse_bytes} B sparse "
            f"({self.compression:.2f}x); torch.save: {self.serialized_dense_bytes} B -> "
            f"{self.serialized_sparse_bytes} B; overall sparsity {self.sparsity:.3f}")
        return "\n".join(lines)

    __str__ = to_markdown

    def __repr__(self):
        return (f"SparsityReport(sparsity={self.sparsity:.3f}, dense_bytes="
                f"{self.dense_bytes}, sparse_bytes={self.sparse_bytes})")


def _csr_bytes(w2d, index_bytes=4):
    nnz = int((w2d != 0).sum())
    return nnz * (w2d.element_size() + index_bytes) + (w2d.shape[0] + 1) * index_bytes


def sparsity_report(module, parameters=None):
    """Per-layer sparsity of ``module`` and its size stored in a sparse format.

    Parameters
    ----------
    module : nn.Module
        Pruned or not (masked parameters are reported with their masks applied).
    parameters : None, str or sequence of str
        Which parameters to report (default: weights of dimension >= 2).

    Returns
    -------
    SparsityReport

    Examples
    --------
    >>> import torch
    >>> from sparsecode.nn.sparsity import sparsity_report, MagnitudePruner, ConstantSparsity
    >>> net = torch.nn.Linear(100, 100)
    >>> _ = MagnitudePruner(net, ConstantSparsity(0.9, frequency=1)).step()
    >>> rep = sparsity_report(net)
    >>> round(rep.layers[0]["sparsity"], 2), rep.compression > 3
    (0.9, True)
    """
    targets = prunable_parameters(module, parameters)
    layers = []
    sparse_names = {}
    for sub, name, qual in targets:
        w = _current(sub, name).detach().cpu()
        w2 = w.reshape(w.shape[0], -1) if w.dim() >= 2 else w.reshape(1, -1)
        dense_b = w.numel() * w.element_size()
        csr_b = _csr_bytes(w2)
        zero_rows = int((w2 == 0).all(dim=1).sum()) if w.dim() >= 2 else 0
        layers.append({
            "name": qual, "shape": tuple(w.shape), "n_params": w.numel(),
            "n_zeros": int((w == 0).sum()), "sparsity": float((w == 0).float().mean()),
            "zero_rows": zero_rows, "dense_bytes": dense_b, "csr_bytes": csr_b,
        })
        if csr_b < dense_b:
            sparse_names[qual] = w2
    # whole-model sizes: effective state dict (masks folded in)
    dense_sd, sparse_sd = {}, {}
    for key, t in module.state_dict().items():
        if key.endswith("_mask"):
            continue
        if key.endswith("_orig"):
            key = key[: -len("_orig")]
            path, _, name = key.rpartition(".")
            sub = module.get_submodule(path) if path else module
            t = _current(sub, name)
        t = t.detach().cpu()
        dense_sd[key] = t
        if key in sparse_names:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "CSR support is in beta"
                t = sparse_names[key].to_sparse_csr()
        sparse_sd[key] = t
    dense_bytes = sum(t.numel() * t.element_size() for t in dense_sd.values())
    sparse_bytes = 0
    for key, t in dense_sd.items():
        if key in sparse_names:
            sparse_bytes += _csr_bytes(sparse_names[key])
        else:
            sparse_bytes += t.numel() * t.element_size()

    def _saved(sd):
        buf = io.BytesIO()
        torch.save(sd, buf)
        return buf.getbuffer().nbytes

    return SparsityReport(layers, dense_bytes, sparse_bytes, _saved(dense_sd),
                          _saved(sparse_sd))
