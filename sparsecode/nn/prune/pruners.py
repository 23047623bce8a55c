"""Magnitude pruning and gradual growth (RigL) as training callbacks."""

from __future__ import annotations

import math

import torch
from torch.nn.utils import prune

from ._common import _check_sparsity, _check_step, _current, prunable_parameters
from .schedules import SparsitySchedule


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
    >>> from sparsecode.nn.prune import MagnitudePruner, ConstantSparsity
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
        Seeds the initial random mask (and the random growth of ``grow="random"``).
    grow : {"gradient", "random"}, default="gradient"
        ``"gradient"``: grow where the dense gradient is largest (RigL);
        ``"random"``: grow uniformly at random among the inactive connections -- Sparse
        Evolutionary Training (SET, Mocanu et al., Nature Communications 9, 2018,
        doi:10.1038/s41467-018-04316-3).
    """

    def __init__(self, module=None, schedule=None, *, parameters=None, drop_fraction=0.3,
                 structured_dim=None, random_state=None, grow="gradient"):
        if grow not in ("gradient", "random"):
            raise ValueError(f"grow must be 'gradient' or 'random', got {grow!r}.")
        self.grow = grow
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
            m = getattr(sub, name + "_mask")
            if self.grow == "random":
                if not hasattr(self, "_set_gen"):
                    self._set_gen = torch.Generator()
                    self._set_gen.manual_seed(
                        1 + (0 if self.random_state is None else int(self.random_state)))
                g = torch.rand(m.shape, generator=self._set_gen).to(m)
            else:
                g = self._grads.get(qual)
            if g is None:
                continue
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



class SET(GradualGrowth):
    """Sparse Evolutionary Training (Mocanu et al. 2018): :class:`GradualGrowth` that
    regrows connections at random (``grow="random"``) instead of by gradient."""

    def __init__(self, module=None, schedule=None, *, parameters=None, drop_fraction=0.3,
                 structured_dim=None, random_state=None):
        super().__init__(module, schedule, parameters=parameters,
                         drop_fraction=drop_fraction, structured_dim=structured_dim,
                         random_state=random_state, grow="random")
