r"""L0 solvers: normalised iterative hard thresholding and CoSaMP (validated functions)."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._jit import num_threads, resolve_n_jobs
from .._jit import gram as _gram
from ..backends import any_torch
from ..kernels.iht import cosamp_dense, niht_solve
from ._fista import (
    _CHUNK,
    SolverInfo,
    _blas_threads,
    _check_init,
    _check_operator_or_dictionary,
)
from ._omp import _default_n_nonzero
from ..utils._validation import check_n_nonzero_coefs, check_positive_int, check_tol


def _resolve_k(n_nonzero_coefs, n_in, n_out):
    k = check_n_nonzero_coefs(n_nonzero_coefs, n_in)
    return _default_n_nonzero(n_out, n_in) if k is None else k


def _row_scales(X):
    """Per-signal powers of two near ``max |x|`` (1 for zero rows).

    Both solvers are scale-equivariant (codes of ``c x`` are ``c`` times those of
    ``x``), but their step sizes and least-squares solves square the data and
    over/underflow beyond about 1e154 / 1e-154. Dividing every signal by a power of two
    is exact, so signals are solved at unit scale and the codes multiplied back.
    """
    amax = np.max(np.abs(X), axis=1) if X.shape[1] else np.zeros(X.shape[0])
    _, exponent = np.frexp(amax.astype(np.float64))
    scales = np.ldexp(1.0, exponent).astype(X.dtype)
    scales[amax == 0] = 1
    return scales[:, None]


def _finish(name, op, X, codes, n_iter, converged, max_iter, tol, return_info):
    if not converged.all():
        warnings.warn(
            f"{name} did not converge for {int((~converged).sum())} of {X.shape[0]} "
            f"signals within max_iter={max_iter} iterations (tol={tol}); increase "
            "max_iter or tol.", ConvergenceWarning, stacklevel=3)
    if not return_info:
        return codes
    with np.errstate(over="ignore"):  # honest inf for data near the float64 limit
        R = np.asarray(op.forward(codes), dtype=np.float64) - X
        objective = 0.5 * np.einsum("ij,ij->i", R, R)
    return codes, SolverInfo(n_iter, objective, converged)


def iht(X, dictionary, *, n_nonzero_coefs=None, max_iter=500, tol=1e-6, init=None,
        n_jobs=None, return_info=False):
    r"""Sparse codes of many signals by normalised iterative hard thresholding.

    Approximates, for every signal :math:`x` (a row of ``X``),

    .. math::

        \min_z \|x - z D\|_2^2 \quad\text{s.t.}\quad \|z\|_0 \le k

    by :math:`z \leftarrow H_k(z + \mu\, (x - zD) D^\top)`, with the step
    :math:`\mu = \|g_\Gamma\|^2 / \|g_\Gamma D\|^2` that is exact on the current
    support :math:`\Gamma` and the shrinkage rule of Blumensath & Davies when the
    support changes (:math:`c = 0.01`, :math:`\kappa = 2`). All signals are updated
    together (BLAS products on the active batch); each leaves the batch when it stops
    moving. Each signal is solved at unit scale (divided by a power of two near its
    largest entry, exactly; the codes are scaled back), so data of any magnitude works.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Signals, one per row. Never modified.
    dictionary : array-like of shape (n_components, n_features) or linear operator
        Atoms, one per row, or an operator with ``shape``, ``forward``, ``adjoint``
        (see :func:`sparsecode.coding._fista.fista`).
    n_nonzero_coefs : int, default=None
        Sparsity :math:`k`; None: ``max(1, int(0.1 * n_features))``.
    max_iter : int, default=500
    tol : float, default=1e-6
        Stop when :math:`\|z_{t+1} - z_t\| \le \mathrm{tol}\,\|z_{t+1}\|` (or the residual
        vanishes).
    init : array-like of shape (n_samples, n_components), default=None
        Warm start; hard-thresholded to ``n_nonzero_coefs`` entries first.
    n_jobs : int, default=None
        Threads (Numba and BLAS; None: library defaults).
    return_info : bool, default=False
        Also return a ``SolverInfo`` (``objective`` is :math:`\frac12\|x - zD\|^2`).

    Returns
    -------
    codes : ndarray of shape (n_samples, n_components)
        A torch tensor on the inputs' device when ``X`` or the dictionary is one (the
        solver then runs in torch, see :ref:`torch-backend`).
    info : SolverInfo, only with ``return_info=True``.

    References
    ----------
    T. Blumensath, M. E. Davies, IEEE J. Sel. Topics Signal Process. 4(2), 298-309
    (2010), doi:10.1109/JSTSP.2010.2042411.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.coding._iht import iht
    >>> rng = np.random.default_rng(0)
    >>> D = rng.standard_normal((128, 64)) / 8
    >>> z = np.zeros((1, 128)); z[0, [5, 50, 99]] = [1.0, -2.0, 1.5]
    >>> codes = iht(z @ D, D, n_nonzero_coefs=3, tol=1e-10)
    >>> np.flatnonzero(codes[0]).tolist()
    [5, 50, 99]
    """
    if any_torch(X, dictionary):
        from ..backends._torch_iht import iht_torch

        return iht_torch(X, dictionary, n_nonzero_coefs=n_nonzero_coefs, max_iter=max_iter,
                         tol=tol, init=init, n_jobs=n_jobs, return_info=return_info)
    op, X, D = _check_operator_or_dictionary(dictionary, X)
    n_out, n_in = op.shape
    k = _resolve_k(n_nonzero_coefs, n_in, n_out)
    max_iter = check_positive_int(max_iter, "max_iter")
    tol = check_tol(tol)
    if n_jobs is not None:
        resolve_n_jobs(n_jobs)
    Z0 = _check_init(init, X.shape[0], n_in, X.dtype)
    n = X.shape[0]
    scales = _row_scales(X)
    Xs = X / scales
    Z0 = Z0 / scales
    codes = np.empty((n, n_in), dtype=X.dtype)
    n_iter = np.empty(n, dtype=np.int64)
    converged = np.empty(n, dtype=bool)
    with _blas_threads(n_jobs), num_threads(n_jobs):
        from ..kernels.prox import top_k

        if init is not None:
            Z0 = top_k(Z0, k, np.empty_like(Z0))
        for s in range(0, n, _CHUNK):
            sl = slice(s, min(s + _CHUNK, n))
            codes[sl], n_iter[sl], converged[sl] = niht_solve(
                Xs[sl], op.forward, op.adjoint, k, Z0[sl], max_iter=max_iter, tol=tol)
    codes *= scales
    return _finish("iht", op, X, codes, n_iter, converged, max_iter, tol, return_info)


def cosamp(X, dictionary, *, n_nonzero_coefs=None, max_iter=100, tol=1e-6, n_jobs=None,
           return_info=False):
    r"""Sparse codes of many signals by CoSaMP (compressive sampling matching pursuit).

    Approximates, for every signal :math:`x`,

    .. math::

        \min_z \|x - z D\|_2^2 \quad\text{s.t.}\quad \|z\|_0 \le k

    Each iteration merges the :math:`2k` atoms most correlated with the residual into
    the current support, solves least squares on the merged support and keeps the
    :math:`k` largest coefficients (Needell & Tropp, 2009). Signals are processed in
    parallel (Numba threads), each at unit scale (divided by a power of two near its
    largest entry, which is exact; the codes are scaled back), so data of any magnitude
    works, 1e-200 to 1e200 alike.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    dictionary : array-like of shape (n_components, n_features) or linear operator
        An operator is turned into its matrix once (``to_matrix()`` when it has one,
        else ``forward`` of the identity): CoSaMP needs the columns of the support.
    n_nonzero_coefs : int, default=None
        Sparsity :math:`k`; None: ``max(1, int(0.1 * n_features))``.
    max_iter : int, default=100
    tol : float, default=1e-6
        Stop when :math:`\|z_{t+1} - z_t\| \le \mathrm{tol}\,\|z_{t+1}\|`, the residual
        vanishes, or the residual stops decreasing (CoSaMP may cycle on noisy signals;
        the code with the smallest residual is then returned).
    n_jobs : int, default=None
    return_info : bool, default=False
        Also return a ``SolverInfo`` (``objective`` is :math:`\frac12\|x - zD\|^2`).

    Returns
    -------
    codes : ndarray of shape (n_samples, n_components)
    info : SolverInfo, only with ``return_info=True``.

    References
    ----------
    D. Needell, J. A. Tropp, Appl. Comput. Harmon. Anal. 26(3), 301-321 (2009),
    doi:10.1016/j.acha.2008.07.002.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.coding._iht import cosamp
    >>> rng = np.random.default_rng(0)
    >>> D = rng.standard_normal((128, 64)) / 8
    >>> z = np.zeros((1, 128)); z[0, [5, 50, 99]] = [1.0, -2.0, 1.5]
    >>> codes = cosamp(z @ D, D, n_nonzero_coefs=3)
    >>> np.flatnonzero(codes[0]).tolist()
    [5, 50, 99]
    """
    op, X, D = _check_operator_or_dictionary(dictionary, X)
    n_out, n_in = op.shape
    k = _resolve_k(n_nonzero_coefs, n_in, n_out)
    max_iter = check_positive_int(max_iter, "max_iter")
    tol = check_tol(tol)
    if n_jobs is not None:
        resolve_n_jobs(n_jobs)
    if D is None:
        if hasattr(op, "to_matrix"):
            M = np.asarray(op.to_matrix())  # (n_out, n_in): columns are atoms
            D = np.ascontiguousarray(M.T, dtype=X.dtype)
        else:
            D = np.ascontiguousarray(op.forward(np.eye(n_in, dtype=X.dtype)), dtype=X.dtype)
    n = X.shape[0]
    # The kernel works in float64 (one compiled version; float32 codes are cast back).
    scales = _row_scales(X).astype(np.float64)
    X64 = np.array(X, dtype=np.float64, order="C") / scales
    D64 = np.array(D, dtype=np.float64, order="C")
    codes = np.zeros((n, n_in), dtype=np.float64)
    n_iter = np.zeros(n, dtype=np.int64)
    converged = np.zeros(n, dtype=bool)
    if n:
        with _blas_threads(n_jobs):
            G = _gram(D64)
            # in blocks of _CHUNK rows, as the converting path of output="sparse" cuts
            # its chunks: one BLAS product per block in both, so the same codes (BLAS
            # may round a row differently inside products of other heights)
            C = np.empty((n, n_in), dtype=np.float64)
            for s in range(0, n, _CHUNK):
                np.matmul(X64[s:s + _CHUNK], D64.T, out=C[s:s + _CHUNK])
        with num_threads(n_jobs):
            cosamp_dense(X64, D64, G, C, k, max_iter, float(tol), codes, n_iter, converged)
    codes *= scales
    codes = codes.astype(X.dtype, copy=False)
    return _finish("cosamp", op, X, codes, n_iter, converged, max_iter, tol, return_info)
