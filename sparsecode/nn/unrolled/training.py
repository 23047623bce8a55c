r"""Training of unrolled recovery networks: the LISTA-CPSS recipe and end-to-end training.

Stage-wise training (Chen et al. 2018; Liu et al. 2019, following Borgerding et al.)
----------------------------------------------------------------------------------------
Fresh synthetic batches every step from :class:`SyntheticProblem` (Bernoulli(p)·N(0,1)
codes, ``y = x A^T + e`` with noise at a given SNR), and the layers are trained one at
a time. For layer ``t = 1..T`` and the loss :math:`\|x_t(y) - x\|^2` of the output of
layer ``t``:

1. train only the parameters new in layer ``t`` at ``lr`` (Adam, 5e-4);
2. train all parameters of layers ``1..t`` at ``lr * 0.2``;
3. the same at ``lr * 0.02``;

in 2-3 the learning rate of layer ``j < t`` is further multiplied by
``decay_rate ** (t - j)`` (``decay_rate = 0.3``). Every stage evaluates the NMSE on a
fixed validation set every ``eval_every`` steps and stops when it has not improved for
``patience`` steps (or after ``max_steps_per_stage``); the best validation state of the
stage is kept. Batches of 64, 1000 validation vectors. Layer ``t`` starts from a copy
of the trained layer ``t - 1`` (``new_layer_init="previous"``); the reference code
starts it from ISTA's values (``"model"``), which trains much more slowly.

End-to-end training
-------------------
:func:`train_end_to_end` fits all layers at once on a user's pairs ``(y, x)`` or, when
only measurements/signals ``y`` are given, on FISTA solutions of the LASSO as targets
(the setting of Gregor & LeCun: learn a fast approximation of a sparse coder).

Both loops: tqdm progress bars when ``verbose``, checkpoints that resume (stage-wise:
after every stage; end-to-end: after every epoch), ``device="cuda"`` when available,
seeded and reproducible on CPU (data are drawn on the CPU from a seeded
:class:`torch.Generator`, so the same seed gives the same data on every device).

References
----------
.. [1] X. Chen, J. Liu, Z. Wang and W. Yin, NeurIPS 2018. arXiv:1808.10038.
.. [2] J. Liu, X. Chen, Z. Wang and W. Yin, ICLR 2019. arXiv:1812.00196.
.. [3] M. Borgerding, P. Schniter and S. Rangan, "AMP-inspired deep networks for sparse
   linear inverse problems", IEEE TSP 2017. https://doi.org/10.1109/TSP.2017.2708040
"""

from __future__ import annotations

import copy
import math
import numbers
import os
import time

import numpy as np
import torch

from ._checks import check_operator_matrix, lipschitz_constant
from .networks import UnrolledNetwork

__all__ = [
    "SyntheticProblem",
    "fista_targets",
    "nmse_db",
    "resolve_device",
    "stagewise_stages",
    "train_end_to_end",
    "train_stagewise",
]


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def resolve_device(device=None):
    """``None``/``"auto"`` -> ``"cuda"`` when available else ``"cpu"``; else as given
    (validated by :func:`sparsecode.nn._estimator.resolve_device`)."""
    from .._estimator import resolve_device as _shared_resolve_device

    return _shared_resolve_device("auto" if device is None else device)


def _seed_of(random_state):
    if random_state is None:
        return int(np.random.default_rng().integers(2**62))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**62))
    if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
        raise TypeError(f"random_state must be None, an int or a NumPy generator, "
                        f"got {random_state!r}.")
    return int(random_state)


def nmse_db(x_hat, x):
    r"""Normalised MSE in dB: :math:`10\log_{10}(\sum\|\hat x - x\|^2 / \sum\|x\|^2)`.

    Accepts NumPy arrays or tensors (any device); returns a Python float.
    """
    if isinstance(x_hat, torch.Tensor):
        num = torch.sum((x_hat.detach() - x.detach()) ** 2).item()
        den = torch.sum(x.detach() ** 2).item()
    else:
        num = float(np.sum((np.asarray(x_hat) - np.asarray(x)) ** 2))
        den = float(np.sum(np.asarray(x) ** 2))
    if den == 0:
        raise ValueError("nmse_db: the reference x is all zeros.")
    return 10.0 * math.log10(max(num / den, 1e-300))


# --------------------------------------------------------------------------------------
# synthetic problems
# --------------------------------------------------------------------------------------
class SyntheticProblem:
    r"""Bernoulli-Gaussian compressed-sensing problem generator.

    Draws ``x = b * g`` with ``b ~ Bernoulli(sparsity)`` and ``g ~ N(0, 1)`` i.i.d.
    (shape ``(n_samples, n_features)``) and ``y = x A^T + e`` with Gaussian noise ``e``
    whose variance gives the signal-to-noise ratio ``snr`` (dB) on average:
    :math:`\sigma^2 = \mathrm{sparsity}\,\|A\|_F^2 / m \cdot 10^{-\mathrm{snr}/10}`.

    Parameters
    ----------
    A : array-like of shape (n_measurements, n_features) or LinearOperator
    sparsity : float in (0, 1], default=0.1
        Probability that an entry of ``x`` is nonzero.
    snr : float or None, default=None
        Signal-to-noise ratio in dB; ``None`` for noiseless measurements.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sparsecode.nn.unrolled.training import SyntheticProblem
    >>> A = np.random.default_rng(0).standard_normal((10, 20))
    >>> y, x = SyntheticProblem(A, sparsity=0.2).sample(4, torch.Generator().manual_seed(0))
    >>> tuple(y.shape), tuple(x.shape)
    ((4, 10), (4, 20))
    """

    def __init__(self, A, *, sparsity=0.1, snr=None):
        self.A = check_operator_matrix(A)
        if isinstance(sparsity, bool) or not isinstance(sparsity, numbers.Real) \
                or not 0 < sparsity <= 1:
            raise ValueError(f"sparsity must be a float in (0, 1], got {sparsity!r}.")
        if snr is not None and (not isinstance(snr, numbers.Real) or not np.isfinite(snr)):
            raise ValueError(f"snr must be a finite float (dB) or None, got {snr!r}.")
        self.sparsity = float(sparsity)
        self.snr = None if snr is None else float(snr)
        m = self.A.shape[0]
        if self.snr is None:
            self.noise_std = 0.0
        else:
            power = self.sparsity * float(np.sum(self.A ** 2)) / m
            self.noise_std = math.sqrt(power * 10.0 ** (-self.snr / 10.0))
        self._A64 = torch.as_tensor(self.A, dtype=torch.float64)

    @property
    def n_measurements(self):
        return self.A.shape[0]

    @property
    def n_features(self):
        return self.A.shape[1]

    def sample(self, n_samples, generator=None, *, dtype=torch.float32, device="cpu"):
        """Draw ``(y, x)``: tensors of shapes ``(n_samples, n_measurements)``,
        ``(n_samples, n_features)`` (drawn on the CPU, then moved to ``device``)."""
        n = int(n_samples)
        mask = torch.rand(n, self.n_features, generator=generator, dtype=torch.float64)
        g = torch.randn(n, self.n_features, generator=generator, dtype=torch.float64)
        x = torch.where(mask < self.sparsity, g, torch.zeros_like(g))
        y = x @ self._A64.T
        if self.noise_std > 0:
            y = y + self.noise_std * torch.randn(n, self.n_measurements, generator=generator,
                                                 dtype=torch.float64)
        return (y.to(dtype=dtype, device=device), x.to(dtype=dtype, device=device))

    def sample_numpy(self, n_samples, random_state=None):
        """``(y, x)`` as float64 NumPy arrays (seeded by ``random_state``)."""
        gen = torch.Generator().manual_seed(_seed_of(random_state))
        y, x = self.sample(n_samples, gen, dtype=torch.float64)
        return y.numpy(), x.numpy()

    def __repr__(self):
        return (f"SyntheticProblem(A={self.A.shape}, sparsity={self.sparsity:g}, "
                f"snr={self.snr})")


# --------------------------------------------------------------------------------------
# stage-wise training
# --------------------------------------------------------------------------------------
def stagewise_stages(model, *, refine=(0.2, 0.02), decay_rate=0.3):
    """The stage list of the LISTA-CPSS recipe.

    Returns a list of ``(layer, name, [(params, lr_multiplier), ...])``: for each layer
    ``t`` the stage training its new parameters (multiplier 1), then one stage per
    entry of ``refine`` training layers ``0..t`` with multiplier
    ``refine_i * decay_rate ** (t - j)`` for the parameters of layer ``j``.
    """
    stages = []
    seen = set()
    layer_params = []
    for t in range(model.n_layers):
        new = [p for p in model.layer_parameters(t) if id(p) not in seen]
        seen.update(id(p) for p in new)
        layer_params.append(new)
        if new:
            stages.append((t, f"layer {t + 1}: new", [(new, 1.0)]))
        for fm in refine:
            groups = [(layer_params[j], fm * decay_rate ** (t - j))
                      for j in range(t + 1) if layer_params[j]]
            stages.append((t, f"layer {t + 1}: all x{fm:g}", groups))
    return stages


def _atomic_save(obj, path):
    tmp = f"{path}.tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _progress(total, desc, verbose):
    if not verbose:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False)


def train_stagewise(model, problem, *, lr=5e-4, batch_size=64, refine=(0.2, 0.02),
                    decay_rate=0.3, n_validation=1000, eval_every=10, patience=4000,
                    max_steps_per_stage=None, time_budget=None, max_stages=None,
                    new_layer_init="previous", device=None, random_state=0,
                    checkpoint=None, verbose=False):
    """Stage-wise (layer-wise) training of an unrolled network, LISTA-CPSS recipe.

    Parameters
    ----------
    model : UnrolledNetwork
        Trained in place (and moved to ``device``).
    problem : SyntheticProblem
        Generator of fresh ``(y, x)`` batches; its ``A`` must match the model's.
    lr : float, default=5e-4
        Adam learning rate of the first stage of every layer.
    batch_size : int, default=64
    refine : tuple of float, default=(0.2, 0.02)
        Learning-rate factors of the refinement stages (all layers).
    decay_rate : float, default=0.3
        Extra factor per layer of age in the refinement stages.
    n_validation : int, default=1000
        Size of the fixed validation set (drawn once from ``random_state + 1``).
    eval_every : int, default=10
        Validation interval (steps).
    patience : int, default=4000
        A stage stops after ``patience`` steps without validation improvement.
    max_steps_per_stage : int or None, default=None
        Hard cap on the steps of a stage (the reference code has 10^6).
    time_budget : float or None, default=None
        Wall-time budget in seconds for the whole run, spread evenly over the
        remaining stages (a stage stops when its share is spent).
    max_stages : int or None, default=None
        Stop after this many stages *of this call* (to split a long run into pieces
        with ``checkpoint``; the returned history then covers the stages done so far).
    new_layer_init : {"previous", "model"}, default="previous"
        Where the parameters of layer ``t > 1`` start when its first stage begins.
        ``"previous"``: a copy of the trained layer ``t - 1``
        (:meth:`~sparsecode.nn.unrolled.UnrolledNetwork.init_layer_from`).
        ``"model"``: the model's own initialisation (ISTA's step and threshold
        ``alpha / L``), as in the reference TensorFlow code. This is the one departure
        of the default from that code. A new layer that starts at ISTA's threshold
        undoes much of what the trained layers before it reached, and Adam at 5e-4
        needs thousands of steps to walk the threshold back down. On the 250x500
        benchmark (``benchmarks/bench_lista.py``, 300 steps per stage), ``"previous"``
        takes LISTA-CPSS to -50.5 dB and ALISTA to -55.7 dB at 16 layers, noiseless,
        in about 8 minutes of one CPU core each (``benchmarks/results/lista.md``).
        With ``"model"`` ALISTA reached -27.5 dB in 30 minutes
        (``benchmarks/results/lista_alista_cpu.md``).
    device : str or torch.device or None
        ``None``: CUDA when available, else CPU.
    random_state : int, default=0
        Seeds the training batches (``random_state``) and the validation set
        (``random_state + 1``).
    checkpoint : str or path or None
        File written after every stage; when it exists, training resumes after the
        last completed stage (same arguments expected).
    verbose : bool, default=False
        Progress bars (tqdm).

    Returns
    -------
    history : dict
        ``"stages"``: list of dicts (name, steps, best validation NMSE in dB, seconds),
        ``"val_nmse_db"``: validation NMSE (dB) of the output of every layer at the end,
        ``"seconds"``: total training time of this call.
    """
    if not isinstance(model, UnrolledNetwork):
        raise TypeError(f"model must be an UnrolledNetwork, got {type(model).__name__}.")
    if not isinstance(problem, SyntheticProblem):
        raise TypeError(f"problem must be a SyntheticProblem, got {type(problem).__name__}.")
    if problem.A.shape != (model.n_measurements, model.n_features):
        raise ValueError(f"problem.A has shape {problem.A.shape} but the model expects "
                         f"({model.n_measurements}, {model.n_features}).")
    if new_layer_init not in ("previous", "model"):
        raise ValueError(f"new_layer_init must be 'previous' or 'model', got "
                         f"{new_layer_init!r}.")
    dev = resolve_device(device)
    model.to(dev)
    dtype = model.A.dtype
    seed = _seed_of(random_state)
    gen = torch.Generator().manual_seed(seed)
    y_val, x_val = problem.sample(n_validation, torch.Generator().manual_seed(seed + 1),
                                  dtype=dtype, device=dev)
    stages = stagewise_stages(model, refine=refine, decay_rate=decay_rate)
    history = {"stages": [], "seconds": 0.0}
    start_stage = 0
    if checkpoint is not None and os.path.exists(checkpoint):
        state = torch.load(checkpoint, map_location=dev, weights_only=False)
        model.load_state_dict(state["model"])
        gen.set_state(state["generator"])
        history = state["history"]
        start_stage = state["next_stage"]
    t_start = time.perf_counter()

    def val_nmse(t):
        with torch.no_grad():
            return nmse_db(model(y_val, n_layers=t + 1), x_val)

    end_stage = len(stages) if max_stages is None else min(len(stages),
                                                              start_stage + int(max_stages))
    for s in range(start_stage, end_stage):
        t, name, groups = stages[s]
        if new_layer_init == "previous" and t > 0 and (s == 0 or stages[s - 1][0] != t):
            model.init_layer_from(t, t - 1)  # first stage of layer t
        params = [p for ps, _ in groups for p in ps]
        opt = torch.optim.Adam([{"params": ps, "lr": lr * m} for ps, m in groups])
        best = val_nmse(t)
        best_state = copy.deepcopy([p.detach().clone() for p in params])
        best_step, step = 0, 0
        stage_t0 = time.perf_counter()
        share = None
        if time_budget is not None:
            left = time_budget - (time.perf_counter() - t_start)
            share = max(left, 0.0) / (end_stage - s)
        bar = _progress(max_steps_per_stage, f"{name}", verbose)
        model.train()
        while True:
            if max_steps_per_stage is not None and step >= max_steps_per_stage:
                break
            if step - best_step > patience:
                break
            if share is not None and time.perf_counter() - stage_t0 > share:
                break
            y, x = problem.sample(batch_size, gen, dtype=dtype, device=dev)
            opt.zero_grad(set_to_none=True)
            x_hat = model(y, n_layers=t + 1)
            loss = torch.sum((x_hat - x) ** 2) / (2 * batch_size)
            loss.backward()
            opt.step()
            step += 1
            if bar is not None:
                bar.update(1)
            if step % eval_every == 0:
                cur = val_nmse(t)
                if not math.isfinite(cur):
                    break
                if cur < best:
                    best, best_step = cur, step
                    best_state = [p.detach().clone() for p in params]
                if bar is not None:
                    bar.set_postfix(val_nmse_db=f"{best:.2f}")
        if bar is not None:
            bar.close()
        with torch.no_grad():
            for p, b in zip(params, best_state):
                p.copy_(b)
        history["stages"].append({"name": name, "layer": t + 1, "steps": step,
                                  "val_nmse_db": best,
                                  "seconds": time.perf_counter() - stage_t0})
        if checkpoint is not None:
            _atomic_save({"model": model.state_dict(), "generator": gen.get_state(),
                          "history": history, "next_stage": s + 1}, checkpoint)
    model.eval()
    with torch.no_grad():
        outs = model(y_val, return_all=True)
    history["val_nmse_db"] = [nmse_db(o, x_val) for o in outs]
    history["seconds"] = history.get("seconds", 0.0) + time.perf_counter() - t_start
    return history


# --------------------------------------------------------------------------------------
# end-to-end training
# --------------------------------------------------------------------------------------
def fista_targets(Y, A, *, alpha, max_iter=1000, tol=1e-7, device=None):
    r"""LASSO solutions by FISTA, the targets of end-to-end training without codes.

    Solves :math:`\min_x \tfrac12\|y - x A^\top\|^2 + \alpha\|x\|_1` for every row of
    ``Y`` (the library's ``sparsecode.coding._fista.fista`` when present, else a torch
    FISTA on ``device``) and returns a float64 NumPy array ``(n_samples, n_features)``.
    """
    A = check_operator_matrix(A)
    Y = np.asarray(Y, dtype=np.float64)
    dev = resolve_device(device)
    At = torch.as_tensor(A, dtype=torch.float64, device=dev)
    Yt = torch.as_tensor(Y, dtype=torch.float64, device=dev)
    L = lipschitz_constant(A)
    x = torch.zeros(Y.shape[0], A.shape[1], dtype=torch.float64, device=dev)
    z, t = x, 1.0
    from ..functional import soft_threshold

    for _ in range(int(max_iter)):
        g = z - ((z @ At.T - Yt) @ At) / L
        x_new = soft_threshold(g, alpha / L)
        t_new = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
        z = x_new + ((t - 1.0) / t_new) * (x_new - x)
        delta = torch.max(torch.abs(x_new - x)).item()
        x, t = x_new, t_new
        if delta <= tol * max(1.0, torch.max(torch.abs(x)).item()):
            break
    return x.cpu().numpy()


def train_end_to_end(model, Y, X=None, *, lr=5e-4, batch_size=64, max_epochs=100,
                     validation_fraction=0.1, patience=10, fista_max_iter=1000,
                     device=None, random_state=0, checkpoint=None, verbose=False,
                     distributed="auto"):
    """Train all layers at once on measurement/code pairs (or FISTA targets).

    Minimises the mean of :math:`\\tfrac12\\|x_T(y) - x\\|^2` over mini-batches with
    Adam, through the library's shared loop (:class:`sparsecode.nn._training.Trainer`:
    progress bar, early stopping on the validation NMSE with the best weights restored,
    checkpoints that resume).

    Parameters
    ----------
    model : UnrolledNetwork
    Y : array-like of shape (n_samples, n_measurements)
        Measurements (in sparse coding: the signals).
    X : array-like of shape (n_samples, n_features) or None
        Target codes/signals. ``None``: FISTA solutions of the LASSO with the model's
        ``alpha`` (:func:`fista_targets`).
    lr, batch_size : float, int
    max_epochs : int, default=100
    validation_fraction : float, default=0.1
        Held-out fraction for early stopping (0 disables it: train ``max_epochs``).
    patience : int, default=10
        Epochs without validation improvement before stopping.
    fista_max_iter : int, default=1000
    device, random_state, checkpoint, verbose
        As in :func:`train_stagewise` (the checkpoint is written every epoch).
    distributed : {"auto", True, False}, default="auto"
        Data-parallel training over the ranks of ``torch.distributed``
        (:class:`~sparsecode.nn.Trainer`); every rank must be given the same data.

    Returns
    -------
    history : list of dict, one per epoch (``loss``, ``val_loss`` = validation NMSE in dB).
    """
    from .._training import Trainer

    if not isinstance(model, UnrolledNetwork):
        raise TypeError(f"model must be an UnrolledNetwork, got {type(model).__name__}.")
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim != 2 or Y.shape[1] != model.n_measurements:
        raise ValueError(f"Y must have shape (n_samples, {model.n_measurements}), "
                         f"got {Y.shape}.")
    if not np.isfinite(Y).all():
        raise ValueError("Y contains NaN or infinity; all values must be finite.")
    dev = resolve_device(device)
    model.to(dev)
    if X is None:
        X = fista_targets(Y, model.A.detach().cpu().numpy(), alpha=model.alpha,
                          max_iter=fista_max_iter, device=dev)
    X = np.asarray(X, dtype=np.float64)
    if X.shape != (Y.shape[0], model.n_features):
        raise ValueError(f"X must have shape ({Y.shape[0]}, {model.n_features}), got {X.shape}.")
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or infinity; all values must be finite.")
    dtype = model.A.dtype
    seed = _seed_of(random_state)
    gen = torch.Generator().manual_seed(seed)
    n = Y.shape[0]
    perm = torch.randperm(n, generator=gen)
    n_val = int(round(validation_fraction * n)) if n > 1 else 0
    if validation_fraction > 0 and n_val == 0 and n > 1:
        n_val = 1
    Yt = torch.tensor(Y, dtype=dtype)
    Xt = torch.tensor(X, dtype=dtype)
    val = (Yt[perm[:n_val]], Xt[perm[:n_val]]) if n_val else None
    tr = (Yt[perm[n_val:]], Xt[perm[n_val:]])

    def loss_fn(module, yb, xb):
        return torch.sum((module(yb) - xb) ** 2) / (2 * yb.shape[0])

    def validation_fn(module, yv, xv):
        out = module(yv)
        if torch.any(xv != 0):
            return nmse_db(out, xv)
        return 10 * math.log10(max(torch.mean(out ** 2).item(), 1e-300))

    trainer = Trainer(loss_fn, learning_rate=lr, batch_size=batch_size, max_iter=max_epochs,
                      early_stopping=val is not None, n_iter_no_change=patience, tol=0.0,
                      validation_fn=validation_fn, checkpoint_path=checkpoint, device=dev,
                      generator=gen, verbose=verbose, desc="end-to-end",
                      distributed=distributed)
    history = trainer.fit(model, *tr, validation=val)
    model.eval()
    return history
