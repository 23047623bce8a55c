"""LARS and the exact LARS-lasso homotopy: validated public functions over the kernels."""

from __future__ import annotations

import warnings

import numba
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._jit import blas_single_thread, num_threads
from .._jit import gram_reused
from ..kernels.csr import chunk_partition
from ..kernels.lars import (
    N_BLOCKS,
    STATUS_DEPENDENT,
    STATUS_LIMIT,
    STATUS_MAX_ITER,
    batch_lars_fused,
    batch_lars_fused_slots,
    lars_path_kernel,
)
from ..utils._validation import (
    _as_float_array,
    check_dictionary,
    check_n_nonzero_coefs,
    check_positive_int,
    check_signals,
    result_dtype,
)
from ..utils._validation import (
    check_alpha as _check_alpha,
)
from ..utils._validation import (
    check_bool as _check_bool,
)
from ._omp import _default_n_nonzero
from ._sparse import CSRBuilder, check_output, slot_chunk_rows

#: Signals per BLAS product inside one Numba thread.
_SUB_BLOCK = 128

_METHODS = ("lasso", "lar")






def _check_gram(gram, n_components):
    G = _as_float_array(gram, "gram", dtype=np.float64)
    if G.shape != (n_components, n_components):
        raise ValueError(
            f"gram must have shape (n_components, n_components) = "
            f"({n_components}, {n_components}), got {G.shape}."
        )
    return G


def _resolve_max_iter(max_iter, max_k):
    if max_iter is None:
        return max(500, 4 * max_k)
    return check_positive_int(max_iter, "max_iter")


def _prepare(X, dictionary, gram):
    """Validated float64 arrays X, D, G and the result dtype.

    The kernels compute in float64 whatever the input dtype (one compiled signature;
    the homotopy's decisions are too sensitive for float32); float32 results are
    cast at the end.
    """
    D_in = check_dictionary(dictionary)
    dtype = result_dtype(X, D_in)
    X = check_signals(X, n_features=D_in.shape[1], dtype=np.float64,
                      dictionary_shape=D_in.shape)
    D = D_in.astype(np.float64, copy=False)
    G = gram_reused(D) if gram is None else _check_gram(gram, D.shape[0])
    return X, D, G, dtype


def _warn_status(status, lambdas, alpha, user_limit, stacklevel=5):
    """ConvergenceWarning for signals whose path stopped before alpha unexpectedly."""
    bad_iter = int(np.count_nonzero(status == STATUS_MAX_ITER))
    bad_dep = int(np.count_nonzero(status == STATUS_DEPENDENT))
    bad_lim = 0 if user_limit else int(np.count_nonzero(status == STATUS_LIMIT))
    if bad_iter:
        warnings.warn(
            f"LARS reached max_iter before alpha={alpha:g} for {bad_iter} sample(s); "
            "their codes are not converged. Increase max_iter.",
            ConvergenceWarning,
            stacklevel=stacklevel,
        )
    if bad_dep or bad_lim:
        lam = float(np.max(lambdas[(status == STATUS_DEPENDENT) | (
            (status == STATUS_LIMIT) & (not user_limit))]))
        warnings.warn(
            f"LARS stopped early for {bad_dep + bad_lim} sample(s): the next atom is "
            "linearly dependent on the selected ones (or the rank bound "
            "min(n_components, n_features) was reached). Their codes are the exact "
            f"solutions for a larger penalty (up to {lam:g}) than alpha={alpha:g}.",
            ConvergenceWarning,
            stacklevel=stacklevel,
        )


def _lars_dense(X, Dt, G, alpha, max_k, lasso, positive, max_iter, n_jobs,
                user_limit, out_dtype):
    """Kernel call on validated arrays.

    ``X`` (n_samples, n_features), ``Dt`` (n_features, n_components) and ``G``
    C-contiguous float64. Returns ``(codes, n_iter, status, lambdas)`` with codes of
    ``out_dtype``, and warns on early stops.
    """
    n_samples = X.shape[0]
    n_components = G.shape[0]
    codes = np.zeros((n_samples, n_components), dtype=np.float64)
    n_iter = np.zeros(n_samples, dtype=np.int64)
    status = np.zeros(n_samples, dtype=np.int64)
    lambdas = np.zeros(n_samples, dtype=np.float64)
    if n_samples:
        with blas_single_thread(), num_threads(n_jobs):
            batch_lars_fused(X, Dt, G, float(alpha), int(max_k), bool(lasso),
                             bool(positive), int(max_iter), _SUB_BLOCK,
                             codes, n_iter, status, lambdas)
        _warn_status(status, lambdas, alpha, user_limit)
    return codes.astype(out_dtype, copy=False), n_iter, status, lambdas


def _lars_sparse(X, Dt, G, alpha, max_k, lasso, positive, max_iter, n_jobs,
                 user_limit, out_dtype, chunk_rows=None):
    """:func:`_lars_dense` returning a ``csr_array`` built from the slot kernel.

    ``X`` may be float32: each chunk is converted to float64 on its own. The slots hold
    at most ``max_k`` (the path cap) entries per signal. Chunks are cut where the dense
    call's BLAS products are cut, so the codes are bit-identical.
    """
    n_samples = X.shape[0]
    width = max(int(max_k), 1)
    if chunk_rows is None:
        chunk_rows = slot_chunk_rows(width, 8)
    n_active = np.zeros(n_samples, dtype=np.int64)
    n_iter = np.zeros(n_samples, dtype=np.int64)
    status = np.zeros(n_samples, dtype=np.int64)
    lambdas = np.zeros(n_samples, dtype=np.float64)
    builder = CSRBuilder(n_samples, G.shape[0], out_dtype)
    if n_samples:
        chunks = chunk_partition(n_samples, N_BLOCKS, _SUB_BLOCK, chunk_rows,
                                 4 * numba.get_num_threads())
        rows = max(e - s for s, e, _ in chunks)
        slot_idx = np.empty((rows, width), dtype=np.int32)
        slot_val = np.empty((rows, width), dtype=np.float64)
        with blas_single_thread(), num_threads(n_jobs):
            for s, e, bounds in chunks:
                batch_lars_fused_slots(
                    np.ascontiguousarray(X[s:e], dtype=np.float64), Dt, G, float(alpha),
                    int(max_k), bool(lasso), bool(positive), int(max_iter), _SUB_BLOCK,
                    bounds, slot_idx[: e - s], slot_val[: e - s], n_active[s:e],
                    n_iter[s:e], status[s:e], lambdas[s:e])
                builder.add_slots(slot_idx[: e - s], slot_val[: e - s], n_active[s:e])
        del slot_idx, slot_val
        _warn_status(status, lambdas, alpha, user_limit)
    return builder.finish(), n_iter, status, lambdas


def _lars_codes(X, D, G, *, method, alpha=0.0, n_nonzero_coefs=None, positive=False,
                max_iter=None, n_jobs=None, return_n_iter=False, output="dense",
                out_dtype=None):
    """Codes for already validated arrays (the path used by the estimators).

    ``X`` (n_samples, n_features), ``D`` (n_components, n_features) and ``G``
    (n_components, n_components) float32/float64 arrays; ``method`` is ``"lasso"``
    (:func:`lasso_lars`) or ``"lar"`` (:func:`lars`). The codes have the dtype
    ``out_dtype`` (None: that of ``X``), dense or as a ``csr_array`` (``output``).
    Scalar options are validated here (cheap).
    """
    out_dtype = X.dtype if out_dtype is None else np.dtype(out_dtype)
    alpha = _check_alpha(alpha)
    positive = _check_bool(positive, "positive")
    n_components, n_features = D.shape
    k_user = check_n_nonzero_coefs(n_nonzero_coefs, n_components)
    if method == "lar" and k_user is None:
        k_user = _default_n_nonzero(n_features, n_components)
    limit = min(n_components, n_features)
    max_k = limit if k_user is None else min(k_user, limit)
    max_iter = _resolve_max_iter(max_iter, max_k)
    if output == "sparse":
        codes, n_iter, _, _ = _lars_sparse(
            X, np.ascontiguousarray(np.asarray(D, dtype=np.float64).T),
            np.ascontiguousarray(G, dtype=np.float64),
            alpha, max_k, method == "lasso", positive, max_iter, n_jobs,
            k_user is not None, out_dtype,
        )
        return (codes, n_iter) if return_n_iter else codes
    codes, n_iter, _, _ = _lars_dense(
        np.ascontiguousarray(X, dtype=np.float64),
        np.ascontiguousarray(np.asarray(D, dtype=np.float64).T),
        np.ascontiguousarray(G, dtype=np.float64),
        alpha, max_k, method == "lasso", positive, max_iter, n_jobs,
        k_user is not None, out_dtype,
    )
    return (codes, n_iter) if return_n_iter else codes


def lasso_lars(
    X,
    dictionary,
    *,
    alpha,
    n_nonzero_coefs=None,
    positive=False,
    max_iter=None,
    gram=None,
    n_jobs=None,
    return_n_iter=False,
    output="dense",
):
    r"""Exact lasso codes of many signals by the LARS-lasso homotopy.

    For each signal :math:`x` (a row of ``X``) computes the exact minimiser of

    .. math::

        \min_z \ \tfrac12 \|x - z D\|_2^2 + \alpha \|z\|_1
        \qquad (\text{and } z \ge 0 \text{ if } \texttt{positive}),

    with ``alpha`` exactly as written, per sample (no division by ``n_features`` as in
    scikit-learn's ``Lasso``). The homotopy (Efron et al., 2004; Osborne, Presnell &
    Turlach, 2000) follows the piecewise-linear solution path from
    :math:`\alpha = \max_j |\langle d_j, x\rangle|`, where the code is zero, down to
    ``alpha``, adding atoms whose correlation reaches the penalty and removing those
    whose coefficient reaches zero. It works in the Gram domain
    (:math:`G = D D^\top`, correlations :math:`X D^\top` by one BLAS product per block
    of signals) with Cholesky updates and downdates of :math:`G_{AA}`, in parallel
    over signals. Computations are in float64.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Signals, one per row.
    dictionary : array-like of shape (n_components, n_features)
        Atoms, one per row (nonzero; unit norm not required).
    alpha : float
        Penalty :math:`\alpha \ge 0`. ``alpha >= max|D x|`` gives the zero code;
        ``alpha = 0`` the least-squares path end (at most ``n_features`` atoms).
    n_nonzero_coefs : int, default=None
        Optional cap on the number of nonzeros: a signal whose path would need one more
        atom stops there, returning the exact lasso solution for the (larger) penalty
        at which that atom would join.
    positive : bool, default=False
        Restrict the codes to be non-negative.
    max_iter : int, default=None
        Maximal number of path breakpoints per signal (None:
        ``max(500, 4 * min(n_components, n_features))``).
    gram : array-like of shape (n_components, n_components), default=None
        Precomputed ``dictionary @ dictionary.T``.
    n_jobs : int, default=None
        Number of threads (None or -1: all Numba threads).
    return_n_iter : bool, default=False
        Also return the number of breakpoints followed for each signal.
    output : {"dense", "sparse"}, default="dense"
        Format of the codes: a NumPy array, or a :class:`scipy.sparse.csr_array` built
        directly by the kernel (each signal's active set written into its own slots,
        at most ``min(n_nonzero_coefs, n_components, n_features)`` of them, then
        compacted, in chunks of signals), never through an
        ``(n_samples, n_components)`` array. Same nonzeros (indices and values) as the
        dense codes, with sorted column indices.

    Returns
    -------
    codes : ndarray or scipy.sparse.csr_array of shape (n_samples, n_components)
        Codes, ``X ≈ codes @ dictionary``; float32 if both ``X`` and ``dictionary``
        are float32, float64 otherwise.
    n_iter : ndarray of shape (n_samples,), int
        Only with ``return_n_iter=True``.

    Warns
    -----
    ConvergenceWarning
        When a path needs more than ``max_iter`` breakpoints, or stops early because
        the next atom is linearly dependent on the active ones (the code is then the
        exact solution for a larger penalty).

    References
    ----------
    B. Efron, T. Hastie, I. Johnstone, R. Tibshirani, "Least angle regression",
    Ann. Statist. 32(2), 407-499 (2004). :doi:`10.1214/009053604000000067`

    M. R. Osborne, B. Presnell, B. A. Turlach, "A new approach to variable selection
    in least squares problems", IMA J. Numer. Anal. 20(3), 389-403 (2000).
    :doi:`10.1093/imanum/20.3.389`

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.coding._lars import lasso_lars
    >>> rng = np.random.default_rng(0)
    >>> D = rng.standard_normal((50, 20))
    >>> D /= np.linalg.norm(D, axis=1, keepdims=True)
    >>> z = np.zeros((1, 50)); z[0, [3, 17]] = [1.0, -2.0]
    >>> codes = lasso_lars(z @ D, D, alpha=0.05)
    >>> np.flatnonzero(np.abs(codes[0]) > 0.5).tolist()
    [3, 17]
    """
    alpha = _check_alpha(alpha)
    return_n_iter = _check_bool(return_n_iter, "return_n_iter")
    output = check_output(output)
    X, D, G, dtype = _prepare(X, dictionary, gram)
    codes, n_iter = _lars_codes(
        X, D, G, method="lasso", alpha=alpha, n_nonzero_coefs=n_nonzero_coefs,
        positive=positive, max_iter=max_iter, n_jobs=n_jobs, return_n_iter=True,
        output=output, out_dtype=dtype)
    if output == "dense":
        codes = codes.astype(dtype, copy=False)
    return (codes, n_iter) if return_n_iter else codes


def lars(
    X,
    dictionary,
    *,
    n_nonzero_coefs=None,
    positive=False,
    max_iter=None,
    gram=None,
    n_jobs=None,
    return_n_iter=False,
    output="dense",
):
    r"""Codes of many signals by Least Angle Regression, stopped at ``n_nonzero_coefs``.

    Plain LARS (Efron et al., 2004): atoms join one at a time when their correlation
    with the residual equals that of the active atoms, and the code moves along the
    equiangular direction; no atom ever leaves. The path stops where atom number
    ``n_nonzero_coefs + 1`` would join (scikit-learn's ``Lars(n_nonzero_coefs=k)``),
    or at the least-squares solution when the residual becomes orthogonal to every
    atom. Along the path every code satisfies

    .. math::

        D (x - z D)^\top_A = \lambda\, s_A, \qquad
        |D (x - z D)^\top|_j \le \lambda \ \text{elsewhere},

    for the current :math:`\lambda` and signs :math:`s_A` fixed when the atoms joined.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Signals, one per row.
    dictionary : array-like of shape (n_components, n_features)
        Atoms, one per row.
    n_nonzero_coefs : int, default=None
        Number of atoms per signal (None: ``max(1, int(0.1 * n_features))`` as in
        scikit-learn).
    positive : bool, default=False
        Only atoms with positive correlation join, and an atom whose coefficient
        reaches zero leaves the active set (so codes are never negative: this is the
        positive-lasso homotopy stopped at ``n_nonzero_coefs`` atoms).
    max_iter, gram, n_jobs, return_n_iter, output
        As in :func:`lasso_lars`.

    Returns
    -------
    codes : ndarray or scipy.sparse.csr_array of shape (n_samples, n_components)
    n_iter : ndarray of shape (n_samples,), only with ``return_n_iter=True``.

    References
    ----------
    B. Efron, T. Hastie, I. Johnstone, R. Tibshirani, "Least angle regression",
    Ann. Statist. 32(2), 407-499 (2004). :doi:`10.1214/009053604000000067`

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.coding._lars import lars
    >>> rng = np.random.default_rng(0)
    >>> D = rng.standard_normal((50, 20))
    >>> D /= np.linalg.norm(D, axis=1, keepdims=True)
    >>> X = rng.standard_normal((4, 20))
    >>> codes = lars(X, D, n_nonzero_coefs=3)
    >>> (codes != 0).sum(axis=1).tolist()
    [3, 3, 3, 3]
    """
    return_n_iter = _check_bool(return_n_iter, "return_n_iter")
    output = check_output(output)
    X, D, G, dtype = _prepare(X, dictionary, gram)
    codes, n_iter = _lars_codes(
        X, D, G, method="lar", n_nonzero_coefs=n_nonzero_coefs, positive=positive,
        max_iter=max_iter, n_jobs=n_jobs, return_n_iter=True, output=output,
        out_dtype=dtype)
    if output == "dense":
        codes = codes.astype(dtype, copy=False)
    return (codes, n_iter) if return_n_iter else codes


def lars_path(
    x,
    dictionary,
    *,
    alpha=0.0,
    method="lasso",
    n_nonzero_coefs=None,
    positive=False,
    max_iter=None,
    gram=None,
    return_n_iter=False,
):
    r"""The whole LARS / LARS-lasso path of one signal.

    The solution of :math:`\min_z \tfrac12\|x - zD\|_2^2 + \lambda\|z\|_1` is
    piecewise linear in :math:`\lambda`; this returns its breakpoints from
    :math:`\lambda = \max_j|\langle d_j, x\rangle|` down to ``alpha`` (``method=
    "lasso"``), or the plain LARS path (``method="lar"``). Between two breakpoints
    the code is the linear interpolation of the codes at its ends. Equivalent to
    :func:`sklearn.linear_model.lars_path_gram` with ``Xy = D x``, ``Gram = D Dᵀ``
    and ``n_samples = 1`` (coefficients transposed).

    Parameters
    ----------
    x : array-like of shape (n_features,)
        One signal.
    dictionary : array-like of shape (n_components, n_features)
        Atoms, one per row.
    alpha : float, default=0.0
        Smallest penalty of the path (the last breakpoint).
    method : {"lasso", "lar"}, default="lasso"
        Lasso homotopy (atoms may leave) or plain LARS.
    n_nonzero_coefs : int, default=None
        Stop where one more atom would join.
    positive : bool, default=False
        Non-negative codes.
    max_iter : int, default=None
        Maximal number of breakpoints (None: ``max(500, 4 * min(n_components,
        n_features))``).
    gram : array-like of shape (n_components, n_components), default=None
        Precomputed ``dictionary @ dictionary.T``.
    return_n_iter : bool, default=False
        Also return the number of path segments followed.

    Returns
    -------
    alphas : ndarray of shape (n_alphas,)
        Penalties at the breakpoints, decreasing; ``alphas[0] = max|D x|`` (or
        ``max(D x, 0)`` when ``positive``) and the last is the penalty of the final
        code (``alpha`` unless the path stopped earlier).
    active : ndarray of shape (n_active,), int
        Atoms active at the end of the path, in the order they (last) joined.
    coefs : ndarray of shape (n_alphas, n_components)
        Codes at the breakpoints (one per row; the first is zero), float64.
    n_iter : int
        Only with ``return_n_iter=True``.

    Warns
    -----
    ConvergenceWarning
        As in :func:`lasso_lars`.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.coding._lars import lars_path
    >>> rng = np.random.default_rng(0)
    >>> D = rng.standard_normal((30, 10))
    >>> D /= np.linalg.norm(D, axis=1, keepdims=True)
    >>> alphas, active, coefs = lars_path(rng.standard_normal(10), D, alpha=0.1)
    >>> coefs.shape == (alphas.size, 30), bool(np.isclose(alphas[-1], 0.1))
    (True, True)
    """
    if not isinstance(method, str) or method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}.")
    alpha = _check_alpha(alpha)
    positive = _check_bool(positive, "positive")
    return_n_iter = _check_bool(return_n_iter, "return_n_iter")
    D = check_dictionary(dictionary, dtype=np.float64)
    n_components, n_features = D.shape
    xv = _as_float_array(x, "x", ndim=1, dtype=np.float64)
    if xv.shape[0] != n_features:
        raise ValueError(
            f"x has {xv.shape[0]} features but the dictionary has {n_features}; "
            f"x must have shape ({n_features},)."
        )
    G = gram_reused(D) if gram is None else _check_gram(gram, n_components)
    k_user = check_n_nonzero_coefs(n_nonzero_coefs, n_components)
    limit = min(n_components, n_features)
    max_k = limit if k_user is None else min(k_user, limit)
    max_iter = _resolve_max_iter(max_iter, max_k)
    c0 = D @ xv
    alphas, coefs, active, n_iter, status = lars_path_kernel(
        c0, G, alpha, max_k, method == "lasso", positive, max_iter)
    _warn_status(np.array([status]), np.array([alphas[-1]]), alpha,
                 k_user is not None or method == "lar", stacklevel=3)
    out = (alphas, active, coefs)
    return (*out, int(n_iter)) if return_n_iter else out
