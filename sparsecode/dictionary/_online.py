"""Online dictionary learning (Mairal, Bach, Ponce & Sapiro, 2010)."""

from __future__ import annotations

import time

import numpy as np

from .._jit import blas_single_thread, num_threads
from .._jit import gram as _gram
from ..kernels.dictionary import online_update, sparse_residual, sparse_stats
from ..utils._validation import check_positive_int, check_random_state, check_signals
from ._common import (
    IterationRecord,
    _info,
    check_callback,
    check_n_components,
    check_threshold,
    initial_dictionary,
    progress,
    replace_atoms,
    resolve_coder,
    run_coder,
)


class OnlineState:
    """Running state of the online learner: dictionary and sufficient statistics.

    ``A = Σ β_t z zᵀ`` (n_components, n_components) and ``B = Σ β_t z x``
    (n_components, n_features), averaged per mini-batch and down-weighted by the
    forgetting factor ``β_t = (1 - 1/t)^ρ`` of Mairal et al. (2010, sec. 3.4.3), ``t``
    counting mini-batches (see :func:`forgetting_factor`).
    """

    def __init__(self, D):
        self.D = D
        k, n = D.shape
        self.A = np.zeros((k, k), dtype=D.dtype)
        self.B = np.zeros((k, n), dtype=D.dtype)
        self.n_steps = 0


def start_online(X_first, n_components, init, rng):
    """Initial state from the first mini-batch (``init="data"`` draws its atoms there).

    If the first mini-batch has fewer usable samples than atoms, the remaining atoms
    are Gaussian random (online learning may see fewer samples than atoms at first).
    """
    n_samples = X_first.shape[0]
    if isinstance(init, str) and init == "data":
        norms = np.sqrt(np.einsum("ij,ij->i", X_first, X_first))
        ok = np.flatnonzero(norms > np.finfo(X_first.dtype).eps * max(norms.max(), 1.0))
        m = min(ok.size, n_components)
        D = np.empty((n_components, X_first.shape[1]), dtype=X_first.dtype)
        if m:
            pick = rng.choice(ok, size=m, replace=False)
            D[:m] = X_first[pick] / norms[pick, None]
        if m < n_components:
            Rn = rng.standard_normal((n_components - m, X_first.shape[1]))
            D[m:] = Rn / np.linalg.norm(Rn, axis=1, keepdims=True)
        return OnlineState(np.ascontiguousarray(D))
    del n_samples
    return OnlineState(initial_dictionary(X_first, n_components, init, rng))


#: Default forgetting exponent ρ of the running statistics (see :func:`forgetting_factor`).
FORGET_RATE = 10.0


def forgetting_factor(step, forget_rate):
    """Weight ``β_t = (1 - 1/t)^ρ`` of the past statistics before mini-batch ``t = step + 1``.

    Mairal et al. (2010, sec. 3.4.3). After ``t`` mini-batches the statistics weight
    mini-batch ``i`` by exactly ``(i/t)^ρ`` (telescoping product), so they remember
    roughly the last ``1/(ρ + 1)`` of what was seen: the contributions of codes
    computed with early, poor dictionaries fade instead of being averaged in for ever.
    ``ρ = 0`` is the plain sum (no forgetting). ``β_1 = 0`` (nothing to forget).
    Independent of ``batch_size`` and of the data size.
    """
    t = step + 1
    if t <= 1:
        return 0.0
    return (1.0 - 1.0 / t) ** forget_rate


def online_step(state, Xb, code_fn, *, batch_size, replace, duplicate_threshold, n_jobs,
                forget_rate=FORGET_RATE):
    """Code one mini-batch, update the statistics and the dictionary.

    ``forget_rate`` is the exponent ρ of :func:`forgetting_factor` (``batch_size`` is
    kept for the callers' signature; the rule does not depend on it).

    Returns ``(error, n_replaced)`` where ``error`` is the RMS error of the mini-batch
    coded with the dictionary *before* the update (an unbiased running estimate).
    """
    D = state.D
    # small products on one BLAS thread (see blas_single_thread: waking BLAS's pool
    # between the parallel kernels cost more than the products themselves)
    with blas_single_thread(Xb.shape[0] * D.shape[0] * D.shape[1]):
        return _online_step(state, Xb, code_fn, replace=replace,
                            duplicate_threshold=duplicate_threshold, n_jobs=n_jobs,
                            forget_rate=forget_rate)


def _online_step(state, Xb, code_fn, *, replace, duplicate_threshold, n_jobs, forget_rate):
    D, A, B = state.D, state.A, state.B
    dtype = D.dtype
    codes = run_coder(code_fn, Xb, D, _gram(D))
    R = np.empty_like(Xb)
    with num_threads(n_jobs):
        sq_total = sparse_residual(Xb, codes, D, R)
    error = float(np.sqrt(sq_total / Xb.size))
    # Forgetting (Mairal et al. 2010, sec. 3.4.3): β_t = (1 - 1/t)^ρ.
    beta = forgetting_factor(state.n_steps, forget_rate)
    A *= dtype.type(beta)
    B *= dtype.type(beta)
    sparse_stats(codes, Xb, A, B, dtype.type(1.0 / Xb.shape[0]))
    min_diag = float(np.finfo(dtype).eps) * max(float(np.trace(A)), float(np.finfo(dtype).tiny))
    used = online_update(D, A, B, dtype.type(min_diag))
    state.n_steps += 1
    n_rep = 0
    # Dead/duplicate atoms are looked for every 8 mini-batches (the check costs a Gram
    # matrix; atoms change little from one mini-batch to the next).
    if replace and state.n_steps % 8 == 0:
        before = D.copy()
        sq = np.einsum("ij,ij->i", R, R, dtype=np.float64)
        n_rep = replace_atoms(D, Xb, sq, used, duplicate_threshold)
        if n_rep:
            changed = np.flatnonzero((before != D).any(axis=1))
            A[changed, :] = 0
            A[:, changed] = 0
            B[changed] = 0
    return error, n_rep


def check_forget_rate(forget_rate):
    """``forget_rate`` as a finite float ``>= 0`` (TypeError/ValueError naming it)."""
    if isinstance(forget_rate, bool) or not isinstance(forget_rate, (int, float, np.integer,
                                                                      np.floating)):
        raise TypeError(
            f"forget_rate must be a real number >= 0, got {type(forget_rate).__name__}.")
    value = float(forget_rate)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"forget_rate must be a finite number >= 0, got {forget_rate!r}.")
    return value


def dict_learning_online(
    X,
    n_components=256,
    *,
    n_nonzero_coefs=None,
    tol=None,
    alpha=None,
    coder="omp",
    batch_size=256,
    max_iter=1,
    init="data",
    shuffle=True,
    random_state=None,
    n_jobs=None,
    verbose=False,
    callback=None,
    replace_atoms=True,
    duplicate_threshold=0.99,
    forget_rate=FORGET_RATE,
):
    r"""Learn a dictionary online, one mini-batch at a time (Mairal et al., 2010).

    For each mini-batch :math:`X_t` the codes :math:`Z_t` are computed with the current
    dictionary (OMP by default, or the lasso), the statistics are updated with
    forgetting,

    .. math::

        A \leftarrow \beta_t A + \tfrac{1}{b} Z_t^\top Z_t, \qquad
        B \leftarrow \beta_t B + \tfrac{1}{b} Z_t^\top X_t, \qquad
        \beta_t = \left(1 - \tfrac{1}{t}\right)^{\rho},

    and one block-coordinate sweep minimises the surrogate
    :math:`\tfrac12 \mathrm{tr}(D^\top A D) - \mathrm{tr}(D^\top B)` atom by atom,

    .. math::

        d_j \leftarrow \frac{u_j}{\|u_j\|_2}, \qquad
        u_j = d_j + \frac{b_j - a_j^\top D}{A_{jj}},

    keeping atoms unit-norm (as the OMP coder expects).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training signals.
    n_components : int, default=256
        Number of atoms (may exceed the number of samples).
    n_nonzero_coefs, tol : int, float, default=None
        OMP stopping rules (see :func:`sparsecode.orthogonal_mp`).
    alpha : float, default=None
        Penalty of ``coder="lasso_lars"``.
    coder : {"omp", "lasso_lars"} or callable, default="omp"
        Coding step; a callable gets ``(X, dictionary, gram)``.
    batch_size : int, default=256
        Signals per mini-batch.
    max_iter : int, default=1
        Passes (epochs) over ``X``.
    init : {"data", "random", "dct"} or array-like, default="data"
        ``"data"`` draws the atoms from the first mini-batch (random atoms fill in if it
        is smaller than ``n_components``).
    shuffle : bool, default=True
        Shuffle the samples at each epoch.
    random_state, n_jobs, verbose, callback, replace_atoms, duplicate_threshold
        As in :func:`sparsecode.dictionary.ksvd`; the callback is called after each
        mini-batch and its record's ``error`` is the RMS error of that mini-batch coded
        with the dictionary before the update.
    forget_rate : float, default=10.0
        Forgetting exponent :math:`\rho \ge 0` (Mairal et al. 2010, sec. 3.4.3; ``t``
        counts mini-batches): the statistics remember about the last
        :math:`1/(\rho + 1)` of the mini-batches seen. ``0`` sums all mini-batches
        with equal weight (the plain algorithm), which keeps the codes of the early,
        poor dictionaries for ever and converges much more slowly on image patches
        (see ``benchmarks/results/dictionary.md``).

    Returns
    -------
    dictionary : ndarray of shape (n_components, n_features)
        Learned unit-norm atoms in ``X``'s dtype.
    info : LearningInfo
        Per mini-batch ``error``, ``n_replaced`` and ``time``; ``n_iter`` counts
        mini-batches.

    References
    ----------
    J. Mairal, F. Bach, J. Ponce, G. Sapiro, "Online learning for matrix factorization
    and sparse coding", JMLR 11, 2010, doi:10.1145/1756006.1756008.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.dictionary import dict_learning_online
    >>> rng = np.random.default_rng(0)
    >>> D, info = dict_learning_online(rng.standard_normal((1000, 16)), n_components=32,
    ...                                n_nonzero_coefs=3, batch_size=100, random_state=0)
    >>> D.shape, info.n_iter
    ((32, 16), 10)
    """
    X = check_signals(X)
    n_components = check_n_components(n_components)
    batch_size = check_positive_int(batch_size, "batch_size")
    max_iter = check_positive_int(max_iter, "max_iter", minimum=0)
    callback = check_callback(callback)
    duplicate_threshold = check_threshold(duplicate_threshold, "duplicate_threshold")
    forget_rate = check_forget_rate(forget_rate)
    rng = check_random_state(random_state)
    code_fn = resolve_coder(coder, n_nonzero_coefs=n_nonzero_coefs, tol=tol, alpha=alpha,
                            n_jobs=n_jobs, n_components=n_components)
    n_samples = X.shape[0]
    state = None
    records = []
    start = time.perf_counter()
    n_batches = -(-n_samples // batch_size)
    bar = progress(max_iter * n_batches, verbose, "online")
    try:
        stop = False
        for _ in range(max_iter):
            order = rng.permutation(n_samples) if shuffle else None
            for b in range(n_batches):
                sl = slice(b * batch_size, (b + 1) * batch_size)
                Xb = X[sl] if order is None else X[order[sl]]
                if state is None:
                    state = start_online(Xb, n_components, init, rng)
                error, n_rep = online_step(
                    state, np.ascontiguousarray(Xb), code_fn, batch_size=batch_size,
                    replace=replace_atoms, duplicate_threshold=duplicate_threshold,
                    n_jobs=n_jobs, forget_rate=forget_rate)
                rec = IterationRecord(len(records), error, time.perf_counter() - start, n_rep)
                records.append(rec)
                bar.update(1)
                if callback is not None and callback(rec):
                    stop = True
                    break
            if stop:
                break
    finally:
        bar.close()
    if state is None:  # max_iter == 0
        state = start_online(X, n_components, init, rng)
    return state.D, _info(records)
