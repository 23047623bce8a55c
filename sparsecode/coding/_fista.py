r"""ISTA / FISTA: validated public functions over the batched kernel.

Also home of the small pieces shared with the L0 solvers (:mod:`._iht`): the dense
dictionary adapter to the operator protocol, operator checks, power iteration and the
``SolverInfo`` record.
"""

from __future__ import annotations

import numbers
import warnings
from collections import namedtuple
from contextlib import nullcontext

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from .._jit import num_threads, resolve_n_jobs
from ..backends import any_torch
from ..kernels.fista import PENALTIES, fista_solve, penalty_value
from ..utils._validation import (
    check_alpha as _check_alpha,
    check_bool as _check_bool,
    _as_float_array,
    check_dictionary,
    check_positive_int,
    check_signals,
    check_tol,
)

#: Per-sample results of a solver call (``return_info=True``).
SolverInfo = namedtuple("SolverInfo", ["n_iter", "objective", "converged"])
SolverInfo.__doc__ = """Per-sample solver report.

Attributes
----------
n_iter : ndarray of shape (n_samples,), int
    Iterations run for each sample (``max_iter`` for those that did not converge).
objective : ndarray of shape (n_samples,), float64
    Final objective of each sample (for IHT/CoSaMP: ``0.5 * ||x - z D||^2``).
converged : ndarray of shape (n_samples,), bool
    Whether each sample met the stopping test.
"""

#: Rows per chunk: bounds memory (about 8 arrays of chunk x n_components) and keeps the
#: working set in cache; BLAS stays efficient at this size.
_CHUNK = 4096

#: Dense dictionaries up to this many atoms are solved in the Gram form (the Gram
#: matrix, k*k floats, is then at most 128 MiB in float64).
_GRAM_MAX_COMPONENTS = 4096


# ------------------------------------------------------------------- operator support


class _DenseDictionary:
    """Operator view of a dictionary ``D`` (n_components, n_features), atoms in rows.

    ``shape = (n_features, n_components)``; ``forward(z) = z @ D`` maps codes to
    signals and ``adjoint(r) = r @ D.T`` maps signals to correlations.
    """

    def __init__(self, D):
        self.matrix = D
        self.shape = (D.shape[1], D.shape[0])

    def forward(self, z):
        return z @ self.matrix

    def adjoint(self, r):
        return r @ self.matrix.T


def _is_operator(obj):
    return all(hasattr(obj, a) for a in ("shape", "forward", "adjoint")) and not isinstance(
        obj, np.ndarray)


def _check_operator_or_dictionary(dictionary, X, name="dictionary"):
    """Return ``(op, X, dense)``: validated signals and an operator in the protocol."""
    if _is_operator(dictionary):
        shape = tuple(dictionary.shape)
        if len(shape) != 2 or min(shape) < 1:
            raise ValueError(f"{name}.shape must be (n_out, n_in) with positive sizes, "
                             f"got {shape}.")
        X = check_signals(X, n_features=shape[0])
        return dictionary, X, None
    D = check_dictionary(dictionary, name=name)
    dtype = np.float32 if (D.dtype == np.float32 and np.asarray(X).dtype == np.float32) \
        else np.float64
    D = D.astype(dtype, copy=False)
    X = check_signals(X, n_features=D.shape[1], dtype=dtype, dictionary_shape=D.shape)
    return _DenseDictionary(D), X, D


def _power_iteration(op, dtype, *, n_iter=100, rtol=1e-7, seed=0):
    """Estimate ``||A||_2^2`` (largest eigenvalue of ``A^T A``); a lower bound."""
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((1, op.shape[1])).astype(dtype)
    v /= np.linalg.norm(v)
    est = 0.0
    for _ in range(n_iter):
        w = np.asarray(op.adjoint(np.asarray(op.forward(v), dtype=dtype)), dtype=dtype)
        new = float(np.linalg.norm(w))
        if new == 0.0:
            return 0.0
        v = w / new
        if abs(new - est) <= rtol * new:
            est = new
            break
        est = new
    return est


def _lipschitz_dense(D):
    """``||D||_2^2``, exactly (SVD) for dictionaries of moderate size."""
    if min(D.shape) <= 4096:
        D64 = D.astype(np.float64)
        small = D64 @ D64.T if D.shape[0] <= D.shape[1] else D64.T @ D64
        return float(np.linalg.eigvalsh(small)[-1]) * (1 + 1e-12)
    return _power_iteration(_DenseDictionary(D), D.dtype) * 1.01


def _blas_threads(n_jobs):
    return nullcontext() if n_jobs is None else threadpool_limits(
        limits=resolve_n_jobs(n_jobs), user_api="blas")


def _check_init(init, n_samples, n_in, dtype):
    if init is None:
        return np.zeros((n_samples, n_in), dtype=dtype)
    Z0 = _as_float_array(init, "init", dtype=dtype)
    if Z0.shape != (n_samples, n_in):
        raise ValueError(f"init must have shape (n_samples, n_components) = "
                         f"({n_samples}, {n_in}), got {Z0.shape}.")
    return Z0




# ------------------------------------------------------------------------- validation




def _check_penalty(penalty, l1_ratio, groups, weights, n_in):
    """Return ``(code, l1_ratio, thresh_weights, order, ptr)``."""
    if not isinstance(penalty, str) or penalty not in PENALTIES:
        raise ValueError(f"penalty must be one of {', '.join(map(repr, PENALTIES))}; "
                         f"got {penalty!r}.")
    code = PENALTIES[penalty]
    if isinstance(l1_ratio, bool) or not isinstance(l1_ratio, numbers.Real):
        raise TypeError(f"l1_ratio must be a float in [0, 1], got {l1_ratio!r}.")
    l1_ratio = float(l1_ratio)
    if not 0.0 <= l1_ratio <= 1.0:
        raise ValueError(f"l1_ratio must be in [0, 1], got {l1_ratio}.")
    order = np.zeros(0, dtype=np.int64)
    ptr = np.zeros(1, dtype=np.int64)
    if penalty == "group":
        from ..prox import _check_groups

        order, ptr, labels = _check_groups(groups, n_in)
        n_w = labels.size
    else:
        if groups is not None:
            raise ValueError(f"groups is only used with penalty='group', got penalty={penalty!r}.")
        n_w = n_in
    if weights is None:
        w = np.ones(n_w, dtype=np.float64)
    else:
        w = _as_float_array(weights, "weights", dtype=np.float64, ndim=1)
        if w.shape[0] != n_w:
            what = "group (sorted labels)" if penalty == "group" else "coefficient"
            raise ValueError(f"weights must have one value per {what}: length {n_w}, "
                             f"got {w.shape[0]}.")
        if (w < 0).any():
            raise ValueError("weights must be non-negative.")
    return code, l1_ratio, w, order, ptr


def _check_lipschitz(lipschitz):
    if lipschitz is None or (isinstance(lipschitz, str) and lipschitz == "backtracking"):
        return lipschitz
    if isinstance(lipschitz, bool) or not isinstance(lipschitz, numbers.Real):
        raise TypeError(f"lipschitz must be None, 'backtracking' or a positive float, "
                        f"got {lipschitz!r}.")
    if not np.isfinite(lipschitz) or lipschitz <= 0:
        raise ValueError(f"lipschitz must be a positive finite float, got {lipschitz}.")
    return float(lipschitz)


# ---------------------------------------------------------------------------- solvers


def fista(X, dictionary, *, alpha=None, penalty="l1", l1_ratio=0.5, groups=None,
          weights=None, max_iter=1000, tol=1e-6, lipschitz=None, init=None, restart=True,
          accelerated=True, prox=None, callback=None, verbose=False, n_jobs=None,
          return_info=False):
    r"""Sparse codes of many signals by FISTA (accelerated proximal gradient).

    Solves, independently for every signal :math:`x` (a row of ``X``),

    .. math::

        \min_z \; \tfrac12 \|x - z D\|_2^2 + \alpha\, \Omega(z),

    (or :math:`\min_z \tfrac12 \|x - z D\|_2^2 + g(z)` for any :math:`g` whose proximal
    operator is given as ``prox``), with ``alpha`` the weight exactly as written (not
    scaled by ``n_features``) and

    - ``"l1"``: :math:`\Omega(z) = \sum_j w_j |z_j|` (weighted with ``weights``);
    - ``"l1_positive"``: the same plus the constraint :math:`z \ge 0`;
    - ``"elastic_net"``: :math:`\sum_j w_j(\rho |z_j| + \frac{1-\rho}{2} z_j^2)`,
      :math:`\rho` = ``l1_ratio`` (scikit-learn's ``ElasticNet`` convention);
    - ``"group"``: :math:`\sum_g w_g \|z_g\|_2` over the groups given by ``groups``.

    All signals are processed at once: the products are BLAS calls on the whole
    active batch, each signal has its own convergence test and leaves the batch as soon
    as it passes, and the momentum restarts adaptively per signal.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Signals, one per row. Never modified.
    dictionary : array-like of shape (n_components, n_features) or linear operator
        Atoms, one per row; or any object with ``shape = (n_features, n_components)``,
        ``forward(z)`` mapping ``(n, n_components) -> (n, n_features)`` and
        ``adjoint(r)`` mapping ``(n, n_features) -> (n, n_components)``.
    alpha : float
        Non-negative penalty weight. Required, unless ``prox`` is given (then leave it
        unset: the penalty is the prox's own).
    penalty : {"l1", "l1_positive", "elastic_net", "group"}, default="l1"
    l1_ratio : float in [0, 1], default=0.5
        Only for ``"elastic_net"``.
    groups : array-like of int, shape (n_components,), default=None
        Group label of every atom; required for ``"group"``.
    weights : array-like of shape (n_components,) or (n_groups,), default=None
        Non-negative per-coefficient weights (per group, in sorted-label order, for
        ``"group"``). None means all ones.
    max_iter : int, default=1000
        Maximal number of iterations per signal.
    tol : float, default=1e-6
        A signal stops when the proximal-gradient step is small relative to its code,
        :math:`\|z_{k+1} - y_k\|_2 \le \mathrm{tol}\,\|z_{k+1}\|_2`.
    lipschitz : float, "backtracking" or None, default=None
        Lipschitz constant of the gradient, :math:`\|D\|_2^2`. None: computed (exactly
        for a dense dictionary; by power iteration, safeguarded by backtracking, for an
        operator). ``"backtracking"``: per-signal backtracking (Beck & Teboulle) from a
        lower estimate.
    init : array-like of shape (n_samples, n_components), default=None
        Warm start (zeros if None).
    restart : bool, default=True
        Adaptive restart of the momentum (O'Donoghue & Candès, gradient scheme).
    accelerated : bool, default=True
        False gives ISTA (see :func:`ista`).
    prox : callable, default=None
        A proximal operator replacing the built-in penalties: ``prox(V, step)`` takes a
        block ``V`` of shape ``(n_rows, n_components)`` (one point per row, a C-contiguous
        float array, not to be modified in place) and a step size ``step`` (a Python
        float, :math:`1/L`) and returns an array of the shape of ``V`` holding
        :math:`\mathrm{prox}_{\text{step}\cdot g}(v)` of every row :math:`v`,

        .. math::

            \mathrm{prox}_{s g}(v) = \arg\min_z \tfrac{1}{2s}\|z - v\|_2^2 + g(z).

        ``penalty``, ``alpha``, ``weights`` and ``groups`` must then be left unset.
        With ``lipschitz="backtracking"`` (or an operator and ``lipschitz=None``), rows
        with different step sizes are passed in separate calls. Example: total
        variation, ``prox = lambda V, s: denoise_tv_chambolle(V.reshape(shape),
        weight=s * alpha).reshape(1, -1)`` for one image per call (see
        :func:`sparsecode.cs.reconstruct_image`).
    callback : callable, default=None
        Called after every iteration as ``callback(n_iter, codes)``, with the iteration
        number (from 1) and a copy of the current iterate of shape
        ``(n_samples, n_components)`` (converged signals hold their final codes). A
        true return value stops the solve: the signals not yet converged keep their
        current codes, report ``n_iter`` = that iteration and ``converged=False``, and
        no ConvergenceWarning is issued. Beyond 4096 signals the signals are solved in
        chunks of 4096 rows, one after the other: ``codes`` is then the chunk's iterate
        and ``n_iter`` restarts at 1 for every chunk (a stop ends all chunks).
    verbose : bool, default=False
        Show a tqdm progress bar over the iterations (with the number of signals still
        running).
    n_jobs : int, default=None
        Threads for the elementwise kernels and BLAS (None: library defaults).
    return_info : bool, default=False
        Also return a :class:`SolverInfo` with per-sample ``n_iter``, ``objective``
        and ``converged``. With ``prox``, ``objective`` is the data term
        :math:`\tfrac12\|x - zD\|_2^2` alone (the penalty of a custom prox is unknown).

    Returns
    -------
    codes : ndarray of shape (n_samples, n_components)
        float32 when ``X`` and the dictionary are float32, float64 otherwise. When
        ``X`` or the dictionary is a torch tensor, the solver runs in torch on its
        device and ``codes`` (and the fields of ``info``) are tensors there (see
        :ref:`torch-backend`).
    info : SolverInfo
        Only with ``return_info=True``.

    Raises
    ------
    ValueError
        When a given ``lipschitz`` is too small and the iterates diverged: the codes
        are not finite, or :math:`\|zD\|_2^2 > 1.001\,L\,\|z\|_2^2` for a final code
        :math:`z` (a proof that :math:`L < \|D\|_2^2`). The message gives that lower
        bound on :math:`\|D\|_2^2`; pass ``lipschitz=None`` or a larger value.

    Warns
    -----
    ConvergenceWarning
        When some signals did not meet ``tol`` within ``max_iter`` iterations.

    Notes
    -----
    For a dense dictionary (up to 4096 atoms, unless ``lipschitz="backtracking"`` or
    ``prox`` is given)
    the gradient :math:`(zD - x)D^\top` is kept as :math:`zG - xD^\top` with the Gram
    matrix :math:`G = DD^\top`, and the gradient of each new iterate is accumulated
    over its nonzeros only: :math:`\mathrm{nnz}(z)\,k` flops per signal and iteration
    instead of :math:`2kf` for the two dense products of the operator form
    (``n_components`` :math:`k`, ``n_features`` :math:`f`). The iterates of a sparse
    problem have far fewer than :math:`2f` nonzeros, so this wins for every
    dictionary shape; the whole iteration is then one fused Numba pass, parallel over
    signals. Operators use their forward/adjoint pair (two products per iteration on
    the active batch).

    References
    ----------
    A. Beck, M. Teboulle, SIAM J. Imaging Sci. 2(1), 183-202 (2009),
    doi:10.1137/080716542.
    B. O'Donoghue, E. Candès, Found. Comput. Math. 15, 715-732 (2015),
    doi:10.1007/s10208-013-9150-3.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.coding._fista import fista
    >>> rng = np.random.default_rng(0)
    >>> D = rng.standard_normal((40, 20))
    >>> D /= np.linalg.norm(D, axis=1, keepdims=True)
    >>> z = np.zeros((1, 40)); z[0, [2, 30]] = [2.0, -1.5]
    >>> codes = fista(z @ D, D, alpha=0.05)
    >>> np.flatnonzero(np.abs(codes[0]) > 0.1).tolist()
    [2, 30]
    """
    if any_torch(X, dictionary):
        from ..backends._torch_prox_grad import fista_torch

        return fista_torch(X, dictionary, alpha=alpha, penalty=penalty, l1_ratio=l1_ratio,
                           groups=groups, weights=weights, max_iter=max_iter, tol=tol,
                           lipschitz=lipschitz, init=init, restart=restart,
                           accelerated=accelerated, n_jobs=n_jobs, return_info=return_info)
    op, X, D = _check_operator_or_dictionary(dictionary, X)
    if prox is not None:
        if not callable(prox):
            raise TypeError(f"prox must be a callable prox(v, step) or None, got "
                            f"{type(prox).__name__}.")
        unset = [name for name, value, default in (
            ("alpha", alpha, None), ("penalty", penalty, "l1"), ("weights", weights, None),
            ("groups", groups, None)) if not (value is default or (
                isinstance(value, str) and value == default))]
        if unset:
            raise ValueError(f"{', '.join(unset)} must be left unset when prox is given: "
                             "the penalty is the prox's own.")
        alpha = 0.0
    else:
        alpha = _check_alpha(alpha)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a callable callback(n_iter, codes) or None, got "
                        f"{type(callback).__name__}.")
    verbose = _check_bool(verbose, "verbose")
    n_samples = X.shape[0]
    n_in = op.shape[1]
    code, l1_ratio, w, order, ptr = _check_penalty(penalty, l1_ratio, groups, weights, n_in)
    max_iter = check_positive_int(max_iter, "max_iter")
    tol = check_tol(tol)
    lipschitz = _check_lipschitz(lipschitz)
    restart = _check_bool(restart, "restart")
    accelerated = _check_bool(accelerated, "accelerated")
    if n_jobs is not None:
        resolve_n_jobs(n_jobs)
    dtype = X.dtype
    Z0 = _check_init(init, n_samples, n_in, dtype)
    thresh = alpha * w

    backtracking = False
    if isinstance(lipschitz, float):
        L0 = lipschitz
    elif lipschitz == "backtracking":
        backtracking = True
        L0 = max(_power_iteration(op, dtype, n_iter=5), np.finfo(np.float64).tiny)
    elif D is not None:
        L0 = _lipschitz_dense(D)
    else:
        # The operator's own estimate when it has one (exact or cached), else power
        # iteration; both approach ||A||^2 from below, so backtracking guards them.
        estimate = getattr(op, "lipschitz", None)
        L0 = float(estimate()) if callable(estimate) else _power_iteration(op, dtype)
        backtracking = True
    if L0 <= 0:
        raise ValueError(f"{'dictionary' if D is not None else 'the operator'} is zero: "
                         "the Lipschitz constant must be positive.")

    use_gram = (D is not None and not backtracking and prox is None
                and D.shape[0] <= _GRAM_MAX_COMPONENTS)
    codes = np.empty((n_samples, n_in), dtype=dtype)
    n_iter = np.empty(n_samples, dtype=np.int64)
    converged = np.empty(n_samples, dtype=bool)
    name = "fista" if accelerated else "ista"
    n_chunks = -(-n_samples // _CHUNK)
    bar = None
    if verbose:
        from tqdm.auto import tqdm

        bar = tqdm(total=max_iter * n_chunks, desc=name, unit="it", leave=False)
    stopped = [False]

    def hook(it, current):
        if bar is not None:
            bar.update(1)
        if callback is not None and callback(it, current()):
            stopped[0] = True
            return True
        return False

    try:
        with _blas_threads(n_jobs), num_threads(n_jobs):
            G = D @ D.T if use_gram else None
            for s in range(0, n_samples, _CHUNK):
                if stopped[0]:
                    codes[s:], n_iter[s:], converged[s:] = Z0[s:], 0, False
                    break
                sl = slice(s, min(s + _CHUNK, n_samples))
                kw = dict(max_iter=max_iter, tol=tol, accelerated=accelerated,
                          restart=restart, backtracking=backtracking, prox=prox,
                          callback=hook if (bar is not None or callback is not None)
                          else None)
                if use_gram:
                    kw.update(gram=G, corr=X[sl] @ D.T)
                else:
                    kw.update(X=X[sl], forward=op.forward, adjoint=op.adjoint)
                codes[sl], n_iter[sl], converged[sl], _ = fista_solve(
                    Z0[sl], L0, thresh, code, l1_ratio, order, ptr, **kw)
                if bar is not None:  # a chunk that converged early: fill its share
                    bar.update(max_iter * (s // _CHUNK + 1) - bar.n)
    finally:
        if bar is not None:
            bar.close()
    F = None
    if isinstance(lipschitz, float):
        F = _check_divergence(op, codes, lipschitz, name)
    if not converged.all() and not stopped[0]:
        warnings.warn(
            f"{name} did not converge for {int((~converged).sum())} of {n_samples} "
            f"signals within max_iter={max_iter} iterations (tol={tol}); increase "
            "max_iter or tol.", ConvergenceWarning, stacklevel=2)
    if not return_info:
        return codes
    if F is None:
        F = np.asarray(op.forward(codes), dtype=np.float64)
    R = F - X
    objective = 0.5 * np.einsum("ij,ij->i", R, R)
    if prox is None:
        objective += penalty_value(codes, thresh, code, l1_ratio, order, ptr)
    return codes, SolverInfo(n_iter, objective, converged)


def _check_divergence(op, codes, lipschitz, name):
    """Raise if the iterates of a solve with a given ``lipschitz`` diverged.

    ``||z D||^2 <= ||D||_2^2 ||z||^2`` for every ``z``: a final code breaking it with
    ``lipschitz`` in place of ``||D||_2^2`` (with 0.1 % slack, for rounding and for
    estimates a hair low) proves the constant too small. Returns ``forward(codes)``
    (float64) for reuse.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        F = np.asarray(op.forward(codes), dtype=np.float64)
    finite = bool(np.isfinite(codes).all() and np.isfinite(F).all())
    if finite:
        with np.errstate(over="ignore", invalid="ignore"):
            zz = np.einsum("ij,ij->i", codes, codes, dtype=np.float64)
            ff = np.einsum("ij,ij->i", F, F)
        finite = bool(np.isfinite(zz).all() and np.isfinite(ff).all())
    if not finite:
        raise ValueError(
            f"{name} diverged: the codes are not finite with lipschitz={lipschitz:g}, which "
            "must be at least ||D||_2^2 (the squared spectral norm of the dictionary or "
            "operator); pass lipschitz=None to compute it.")
    ratio = np.divide(ff, zz, out=np.zeros_like(ff), where=zz > 0)
    worst = float(ratio.max()) if ratio.size else 0.0
    if worst > 1.001 * lipschitz:
        raise ValueError(
            f"{name} diverged: lipschitz={lipschitz:g} is too small, ||D||_2^2 >= "
            f"{worst:.6g} (the squared spectral norm of the dictionary or operator, shown "
            "by a code z with ||z D||^2 / ||z||^2 that large); pass lipschitz=None to "
            "compute it, or a value at least that large.")
    return F


def ista(X, dictionary, *, alpha=None, penalty="l1", l1_ratio=0.5, groups=None,
         weights=None, max_iter=1000, tol=1e-6, lipschitz=None, init=None, prox=None,
         callback=None, verbose=False, n_jobs=None, return_info=False):
    r"""Sparse codes of many signals by ISTA (proximal gradient, no momentum).

    Same problem, parameters and returns as :func:`fista` (which see), with
    ``accelerated=False``: slower in iterations, but monotone.

    .. math::

        \min_z \; \tfrac12 \|x - z D\|_2^2 + \alpha\, \Omega(z)

    References
    ----------
    I. Daubechies, M. Defrise, C. De Mol, "An iterative thresholding algorithm for
    linear inverse problems with a sparsity constraint", Comm. Pure Appl. Math. 57(11),
    1413-1457 (2004), doi:10.1002/cpa.20042.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.coding._fista import ista
    >>> rng = np.random.default_rng(0)
    >>> D = rng.standard_normal((40, 20))
    >>> D /= np.linalg.norm(D, axis=1, keepdims=True)
    >>> codes = ista(rng.standard_normal((3, 20)), D, alpha=0.5, max_iter=5000)
    >>> codes.shape
    (3, 40)
    """
    return fista(X, dictionary, alpha=alpha, penalty=penalty, l1_ratio=l1_ratio,
                 groups=groups, weights=weights, max_iter=max_iter, tol=tol,
                 lipschitz=lipschitz, init=init, restart=False, accelerated=False,
                 prox=prox, callback=callback, verbose=verbose, n_jobs=n_jobs,
                 return_info=return_info)
