"""Batch dictionary learning: K-SVD (exact and approximate) and MOD."""

from __future__ import annotations

import time

import numpy as np

from .._jit import num_threads
from .._jit import gram as _gram
from ..kernels.dictionary import (
    codes_to_csc,
    csc_to_codes,
    ksvd_update,
    mod_update,
    sparse_residual,
    sparse_stats,
)
from ..utils._validation import check_random_state, check_signals, check_tol, check_positive_int
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

#: Dictionary updates of the batch learner, name -> description.
BATCH_UPDATES = {
    "approx_ksvd": "approximate K-SVD (one power-iteration step per atom)",
    "ksvd": "exact K-SVD (rank-1 SVD per atom)",
    "mod": "Method of Optimal Directions (least squares)",
}


def _row_sq(R):
    return np.einsum("ij,ij->i", R, R, dtype=np.float64)


def learn_batch(
    X,
    n_components,
    update,
    *,
    coder="omp",
    n_nonzero_coefs=None,
    tol=None,
    alpha=None,
    max_iter=10,
    init="data",
    random_state=None,
    n_jobs=None,
    verbose=False,
    callback=None,
    replace_atoms_=True,
    duplicate_threshold=0.99,
    convergence_tol=None,
    mod_reg=1e-8,
    min_usage=0.0,
):
    """Shared loop of :func:`ksvd` and :func:`mod` (see their docstrings)."""
    if update not in BATCH_UPDATES:
        raise ValueError(f"algorithm must be one of {tuple(BATCH_UPDATES)}, got {update!r}.")
    X = check_signals(X)
    n_components = check_n_components(n_components)
    n_samples, n_features = X.shape
    if n_components > n_samples:
        raise ValueError(
            f"n_components={n_components} is larger than the number of samples "
            f"n_samples={n_samples}; batch dictionary learning needs at least as many "
            "samples as atoms."
        )
    max_iter = check_positive_int(max_iter, "max_iter", minimum=0)
    callback = check_callback(callback)
    duplicate_threshold = check_threshold(duplicate_threshold, "duplicate_threshold")
    convergence_tol = check_tol(convergence_tol, name="convergence_tol")
    min_usage = check_tol(min_usage, name="min_usage")
    rng = check_random_state(random_state)
    code_fn = resolve_coder(coder, n_nonzero_coefs=n_nonzero_coefs, tol=tol, alpha=alpha,
                            n_jobs=n_jobs, n_components=n_components)
    D = initial_dictionary(X, n_components, init, rng)
    dtype = X.dtype
    R = np.empty_like(X)
    codes = np.zeros((n_samples, n_components), dtype=dtype)
    records = []
    fresh = np.zeros(n_components, dtype=bool)
    start = time.perf_counter()
    bar = progress(max_iter, verbose, update)
    try:
        for it in range(max_iter):
            G = _gram(D)
            codes = run_coder(code_fn, X, D, G)
            if update == "mod":
                A = np.zeros((n_components, n_components), dtype=dtype)
                B = np.zeros((n_components, n_features), dtype=dtype)
                sparse_stats(codes, X, A, B, dtype.type(1.0))
                diag = np.diag(A).copy()
                reg = mod_reg * max(float(diag.mean()), np.finfo(dtype).tiny)
                Dn = mod_update(A, B, dtype.type(reg))
                norms = np.linalg.norm(Dn, axis=1)
                used = (diag > 0) & (norms > np.finfo(dtype).eps)
                D[used] = Dn[used] / norms[used, None]
                codes[:, used] *= norms[used]
                codes[:, ~used] = 0
                with num_threads(n_jobs):
                    sq_total = sparse_residual(X, codes, D, R)
            else:
                with num_threads(n_jobs):
                    sparse_residual(X, codes, D, R)
                indptr, rows, vals = codes_to_csc(codes)
                used = ksvd_update(R, D, indptr, rows, vals, update == "ksvd")
                codes[...] = 0
                csc_to_codes(indptr, rows, vals, codes)
                sq_total = None
            sq = _row_sq(R)
            if sq_total is None:
                sq_total = float(sq.sum())
            error = float(np.sqrt(sq_total / X.size))
            n_rep = 0
            if replace_atoms_ and it < max_iter - 1:
                if min_usage > 0:
                    # rarely used atoms count as dead, except those just replaced
                    # (they get one iteration to attract signals)
                    count = np.count_nonzero(codes, axis=0)
                    used = used & ((count >= min_usage * count.mean()) | fresh)
                before = D.copy()
                n_rep = replace_atoms(D, X, sq, used, duplicate_threshold)
                fresh = (before != D).any(axis=1)
            rec = IterationRecord(it, error, time.perf_counter() - start, n_rep)
            records.append(rec)
            bar.update(1)
            bar.set_postfix(error=f"{error:.4g}", replaced=n_rep)
            stop = False
            if callback is not None:
                stop = bool(callback(rec))
            if (convergence_tol is not None and len(records) > 1 and n_rep == 0
                    and records[-2].error - error <= convergence_tol * records[-2].error):
                stop = True
            if stop:
                break
    finally:
        bar.close()
    return D, codes, _info(records)


def ksvd(
    X,
    n_components=256,
    n_nonzero_coefs=None,
    tol=None,
    max_iter=10,
    init="data",
    method="approx",
    random_state=None,
    n_jobs=None,
    verbose=False,
    callback=None,
    *,
    coder="omp",
    alpha=None,
    replace_atoms=True,
    duplicate_threshold=0.99,
    convergence_tol=None,
    min_usage=0.0,
):
    r"""Learn a dictionary by K-SVD (exact or approximate).

    Alternates sparse coding of the signals (OMP by default) with a sweep over the atoms
    that replaces each atom :math:`d_k` and its coefficients :math:`g_k` (on the signals
    :math:`\omega_k` that use it) by the best rank-1 fit of the error without it,

    .. math::

        \min_{D, Z} \|X - Z D\|_F^2 \quad \text{s.t.}\quad \|z_i\|_0 \le k
        \ (\text{or } \|x_i - z_i D\|_2^2 \le \mathrm{tol}), \quad \|d_k\|_2 = 1,

    .. math::

        E_k = X_{\omega_k} - Z_{\omega_k} D + g_k d_k^\top, \qquad
        (g_k, d_k) \leftarrow \arg\min \|E_k - g d^\top\|_F.

    ``method="exact"`` solves the rank-1 problem by SVD (Aharon et al., 2006);
    ``method="approx"`` does one alternating step :math:`d = E^\top g/\|E^\top g\|`,
    :math:`g = E d` (Rubinstein et al., 2008), much cheaper and as good in practice.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training signals, one per row (e.g. image patches).
    n_components : int, default=256
        Number of atoms; at most ``n_samples``.
    n_nonzero_coefs : int, default=None
        Atoms per signal in the coding step. If this and ``tol`` are None,
        ``max(1, int(0.1 * n_features))``.
    tol : float, default=None
        Target squared residual norm per signal in the coding step (OMP).
    max_iter : int, default=10
        Number of K-SVD iterations (coding + dictionary sweep).
    init : {"data", "random", "dct"} or array-like, default="data"
        Initial dictionary: random distinct training signals, Gaussian atoms, an
        overcomplete 2-D DCT (square patches), or a given dictionary of shape
        ``(n_components, n_features)`` (normalised, not modified).
    method : {"approx", "exact"}, default="approx"
        Approximate (one power-iteration step) or exact (SVD) atom update.
    random_state : int, RandomState or Generator, default=None
        Seed of the initialisation.
    n_jobs : int, default=None
        Threads of the coding step and residuals (None: all Numba threads).
    verbose : bool, default=False
        Show a tqdm progress bar.
    callback : callable, default=None
        Called after each iteration with an :class:`IterationRecord`; returning True
        stops learning.
    coder : {"omp", "lasso_lars"} or callable, default="omp"
        Coding step; a callable gets ``(X, dictionary, gram)`` and returns codes of shape
        ``(n_samples, n_components)``.
    alpha : float, default=None
        Penalty of ``coder="lasso_lars"``.
    replace_atoms : bool, default=True
        Replace unused atoms and duplicates (``|<d_i, d_j>| > duplicate_threshold``) by
        the worst-represented signals after each iteration but the last.
    duplicate_threshold : float, default=0.99
        Coherence above which an atom counts as a duplicate.
    convergence_tol : float, default=None
        Stop early when the relative decrease of the error is at most this.
    min_usage : float, default=0.0
        Atoms used by fewer than ``min_usage`` times the mean number of signals per atom
        count as dead and are replaced as well (0: only unused atoms). Around 0.2 helps
        K-SVD escape local minima where one atom serves a handful of signals.

    Returns
    -------
    dictionary : ndarray of shape (n_components, n_features)
        Learned unit-norm atoms, in ``X``'s dtype (float32 or float64).
    codes : ndarray of shape (n_samples, n_components)
        Codes of the training signals consistent with ``dictionary`` (updated by the last
        sweep).
    info : LearningInfo
        ``n_iter``, and per iteration ``error`` (RMS), ``n_replaced`` and ``time``.

    References
    ----------
    M. Aharon, M. Elad, A. Bruckstein, "K-SVD: An algorithm for designing overcomplete
    dictionaries for sparse representation", IEEE Trans. Signal Process. 54(11), 2006,
    doi:10.1109/TSP.2006.881199.

    R. Rubinstein, M. Zibulevsky, M. Elad, "Efficient implementation of the K-SVD
    algorithm using batch orthogonal matching pursuit", Technion CS-2008-08, 2008.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.dictionary import ksvd
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((500, 16))
    >>> D, Z, info = ksvd(X, n_components=32, n_nonzero_coefs=3, max_iter=5,
    ...                   random_state=0)
    >>> D.shape, Z.shape, info.n_iter
    ((32, 16), (500, 32), 5)
    """
    if method not in ("approx", "exact"):
        raise ValueError(f"method must be 'approx' or 'exact', got {method!r}.")
    return learn_batch(
        X, n_components, "approx_ksvd" if method == "approx" else "ksvd",
        coder=coder, n_nonzero_coefs=n_nonzero_coefs, tol=tol, alpha=alpha,
        max_iter=max_iter, init=init, random_state=random_state, n_jobs=n_jobs,
        verbose=verbose, callback=callback, replace_atoms_=replace_atoms,
        duplicate_threshold=duplicate_threshold, convergence_tol=convergence_tol,
        min_usage=min_usage,
    )


def mod(
    X,
    n_components=256,
    n_nonzero_coefs=None,
    tol=None,
    max_iter=10,
    init="data",
    random_state=None,
    n_jobs=None,
    verbose=False,
    callback=None,
    *,
    coder="omp",
    alpha=None,
    replace_atoms=True,
    duplicate_threshold=0.99,
    convergence_tol=None,
    min_usage=0.0,
    reg=1e-8,
):
    r"""Learn a dictionary by the Method of Optimal Directions (MOD).

    Alternates sparse coding with the least-squares dictionary for the codes,

    .. math::

        D \leftarrow (Z^\top Z + \lambda I)^{-1} Z^\top X, \qquad
        \lambda = \mathrm{reg}\cdot \mathrm{mean}(\mathrm{diag}(Z^\top Z)),

    then normalises the atoms (rescaling the codes so that ``Z D`` is unchanged).
    ``ZᵀZ`` and ``ZᵀX`` are accumulated from the nonzeros of ``Z``; the solve is a
    Cholesky factorisation (least squares if it fails).

    Parameters are those of :func:`ksvd` (without ``method``), plus

    reg : float, default=1e-8
        Relative Tikhonov regularisation of the normal equations.

    Returns
    -------
    dictionary, codes, info
        As in :func:`ksvd`.

    References
    ----------
    K. Engan, S. O. Aase, J. H. Husøy, "Method of optimal directions for frame design",
    ICASSP 1999, doi:10.1109/ICASSP.1999.760624.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.dictionary import mod
    >>> rng = np.random.default_rng(0)
    >>> D, Z, info = mod(rng.standard_normal((300, 16)), n_components=24,
    ...                  n_nonzero_coefs=2, max_iter=3, random_state=0)
    >>> D.shape, info.n_iter
    ((24, 16), 3)
    """
    reg = check_tol(reg, name="reg")
    return learn_batch(
        X, n_components, "mod", coder=coder, n_nonzero_coefs=n_nonzero_coefs, tol=tol,
        alpha=alpha, max_iter=max_iter, init=init, random_state=random_state,
        n_jobs=n_jobs, verbose=verbose, callback=callback, replace_atoms_=replace_atoms,
        duplicate_threshold=duplicate_threshold, convergence_tol=convergence_tol,
        mod_reg=reg, min_usage=min_usage,
    )
