"""Dictionary updates: K-SVD (exact and approximate), MOD statistics, online BCD.

Kernels trust their inputs: C-contiguous arrays of one float dtype (float32 or
float64), dictionaries with one atom per row ``D (n_components, n_features)``, codes
``Z (n_samples, n_components)`` with ``X ≈ Z D``. Every kernel has a plain-NumPy
``*_reference`` twin used by the tests.

K-SVD works on the residual ``R = X - Z D`` (formed once per iteration) and on a
compressed-sparse-column view of the codes (``indptr, rows, vals``: for atom ``k`` the
signals ``rows[indptr[k]:indptr[k+1]]`` that use it and their coefficients). Updating
atom ``k`` only touches the rows of ``R`` that use it:

* the restricted error is ``E = R[ω] + g d_kᵀ`` (``g`` the atom's coefficients);
* exact K-SVD replaces ``(d_k, g)`` by the leading singular pair of ``E``
  (Aharon, Elad & Bruckstein, 2006);
* approximate K-SVD does one alternating step ``d = Eᵀg / ‖Eᵀg‖``, ``g = E d``
  (Rubinstein, Zibulevsky & Elad, 2008) without forming ``E``;
* then ``R[ω] = E - g dᵀ``, so the next atom sees the updated residual (Gauss-Seidel).

The cost per sweep is ``O(nnz(Z) · n_features)`` for the approximate update.
"""

from __future__ import annotations

import math

import numpy as np

from .._jit import jit, pjit, prange


# ---------------------------------------------------------------------------------------
# Sparse views of dense codes
# ---------------------------------------------------------------------------------------
@jit
def codes_to_csc(codes):
    """Compressed sparse columns of dense ``codes (n_samples, n_components)``.

    Returns ``indptr (n_components + 1,)``, ``rows (nnz,)`` (sample indices, increasing
    within an atom) and ``vals (nnz,)`` (the coefficients, same dtype as ``codes``).
    """
    n_samples, n_atoms = codes.shape
    indptr = np.zeros(n_atoms + 1, dtype=np.int64)
    for i in range(n_samples):
        for k in range(n_atoms):
            if codes[i, k] != 0:
                indptr[k + 1] += 1
    for k in range(n_atoms):
        indptr[k + 1] += indptr[k]
    nnz = indptr[n_atoms]
    rows = np.empty(nnz, dtype=np.int64)
    vals = np.empty(nnz, dtype=codes.dtype)
    pos = indptr[:-1].copy()
    for i in range(n_samples):
        for k in range(n_atoms):
            v = codes[i, k]
            if v != 0:
                p = pos[k]
                rows[p] = i
                vals[p] = v
                pos[k] = p + 1
    return indptr, rows, vals


def codes_to_csc_reference(codes):
    """NumPy twin of :func:`codes_to_csc`."""
    atom, sample = np.nonzero(codes.T)
    indptr = np.zeros(codes.shape[1] + 1, dtype=np.int64)
    np.add.at(indptr, atom + 1, 1)
    return np.cumsum(indptr), sample.astype(np.int64), codes[sample, atom]


@jit
def csc_to_codes(indptr, rows, vals, codes):
    """Scatter a CSC view back into dense ``codes`` (zeroed by the caller)."""
    for k in range(indptr.shape[0] - 1):
        for p in range(indptr[k], indptr[k + 1]):
            codes[rows[p], k] = vals[p]


# ---------------------------------------------------------------------------------------
# Residuals
# ---------------------------------------------------------------------------------------
def _residual_rows(X, codes, D, R, sq, i):
    n_atoms = codes.shape[1]
    n_features = X.shape[1]
    r = R[i]
    for t in range(n_features):
        r[t] = X[i, t]
    for k in range(n_atoms):
        z = codes[i, k]
        if z != 0:
            d = D[k]
            for t in range(n_features):
                r[t] -= z * d[t]
    s = 0.0
    for t in range(n_features):
        s += r[t] * r[t]
    sq[i] = s


_residual_rows_jit = jit(_residual_rows)


@pjit
def _sparse_residual_parallel(X, codes, D, R):
    sq = np.zeros(X.shape[0], dtype=np.float64)
    for i in prange(X.shape[0]):
        _residual_rows_jit(X, codes, D, R, sq, i)
    return sq.sum()


@jit
def _sparse_residual_serial(X, codes, D, R):
    sq = np.zeros(X.shape[0], dtype=np.float64)
    for i in range(X.shape[0]):
        _residual_rows_jit(X, codes, D, R, sq, i)
    return sq.sum()


def sparse_residual(X, codes, D, R):
    """``R = X - codes @ D`` exploiting the sparsity of ``codes``.

    Parallel over rows for large inputs, serial for small ones (a mini-batch).
    Returns the squared Frobenius norm of ``R`` (accumulated in float64).
    """
    if X.shape[0] >= 4096:
        return _sparse_residual_parallel(X, codes, D, R)
    return _sparse_residual_serial(X, codes, D, R)


def sparse_residual_reference(X, codes, D, R):
    """NumPy twin of :func:`sparse_residual`."""
    R[...] = X - codes @ D
    return float(np.sum(R.astype(np.float64) ** 2))


# ---------------------------------------------------------------------------------------
# K-SVD
# ---------------------------------------------------------------------------------------
@jit(fastmath=True)
def _approx_atom(R, d, rows, g, nd):
    """One approximate K-SVD step on one atom; returns False if the atom is left as is."""
    m = rows.shape[0]
    n = d.shape[0]
    gg = 0.0
    for t in range(n):
        nd[t] = 0.0
    for p in range(m):
        gi = g[p]
        gg += gi * gi
        r = R[rows[p]]
        for t in range(n):
            nd[t] += gi * r[t]
    nrm = 0.0
    for t in range(n):
        nd[t] += gg * d[t]
        nrm += nd[t] * nd[t]
    if nrm <= 0.0:
        return False
    inv = 1.0 / math.sqrt(nrm)
    dd = 0.0
    for t in range(n):
        nd[t] *= inv
        dd += d[t] * nd[t]
    for p in range(m):
        r = R[rows[p]]
        gi = g[p]
        s = 0.0
        for t in range(n):
            s += r[t] * nd[t]
        gn = s + gi * dd
        for t in range(n):
            r[t] += gi * d[t] - gn * nd[t]
        g[p] = gn
    for t in range(n):
        d[t] = nd[t]
    return True


@jit
def _exact_atom(R, d, rows, g, dold):
    """Exact K-SVD step on one atom: leading singular pair of ``E = R[ω] + g dᵀ``.

    The right singular vector is the leading eigenvector of ``EᵀE`` (n_features²,
    accumulated in float64, LAPACK ``eigh``); then ``g = E d``.
    """
    m = rows.shape[0]
    n = d.shape[0]
    M = np.zeros((n, n), dtype=np.float64)
    e = np.empty(n, dtype=np.float64)
    for p in range(m):
        r = R[rows[p]]
        gi = g[p]
        for t in range(n):
            e[t] = r[t] + gi * d[t]
        for a in range(n):
            ea = e[a]
            for b in range(a, n):
                M[a, b] += ea * e[b]
    for a in range(n):
        for b in range(a):
            M[a, b] = M[b, a]
    w, V = np.linalg.eigh(M)
    if w[n - 1] <= 0.0:
        return False
    sign = 0.0
    for t in range(n):
        sign += V[t, n - 1] * d[t]
    sg = 1.0 if sign >= 0.0 else -1.0
    dd = 0.0
    for t in range(n):
        dold[t] = d[t]
        d[t] = sg * V[t, n - 1]
        dd += dold[t] * d[t]
    for p in range(m):
        r = R[rows[p]]
        gi = g[p]
        s = 0.0
        for t in range(n):
            s += r[t] * d[t]
        gn = s + gi * dd
        for t in range(n):
            r[t] += gi * dold[t] - gn * d[t]
        g[p] = gn
    return True


@jit
def ksvd_update(R, D, indptr, rows, vals, exact):
    """One K-SVD sweep over the atoms, in place on ``R``, ``D`` and ``vals``.

    Parameters
    ----------
    R : (n_samples, n_features) residual ``X - Z D`` on entry, updated.
    D : (n_components, n_features) dictionary (unit-norm rows), updated.
    indptr, rows, vals : CSC view of the codes (see :func:`codes_to_csc`); ``vals``
        is updated with the new coefficients.
    exact : bool, rank-1 SVD (True) or one power-iteration step (False).

    Returns
    -------
    used : (n_components,) bool, False for the atoms no signal uses (left unchanged).
    """
    n_atoms, n = D.shape
    used = np.zeros(n_atoms, dtype=np.bool_)
    nd = np.empty(n, dtype=D.dtype)
    for k in range(n_atoms):
        p0 = indptr[k]
        p1 = indptr[k + 1]
        if p1 == p0:
            continue
        if exact:
            used[k] = _exact_atom(R, D[k], rows[p0:p1], vals[p0:p1], nd)
        else:
            used[k] = _approx_atom(R, D[k], rows[p0:p1], vals[p0:p1], nd)
    return used


def ksvd_update_reference(R, D, indptr, rows, vals, exact):
    """NumPy twin of :func:`ksvd_update` (same in-place contract)."""
    used = np.zeros(D.shape[0], dtype=bool)
    for k in range(D.shape[0]):
        sl = slice(indptr[k], indptr[k + 1])
        idx = rows[sl]
        if idx.size == 0:
            continue
        g = vals[sl]
        E = R[idx] + np.outer(g, D[k])
        if exact:
            u, s, vt = np.linalg.svd(E, full_matrices=False)
            if s[0] <= 0:
                continue
            sg = 1.0 if vt[0] @ D[k] >= 0 else -1.0
            d = sg * vt[0]
            gn = sg * s[0] * u[:, 0]
        else:
            d = E.T @ g
            nrm = np.linalg.norm(d)
            if nrm <= 0:
                continue
            d = d / nrm
            gn = E @ d
        D[k] = d
        vals[sl] = gn
        R[idx] = E - np.outer(gn, d)
        used[k] = True
    return used


# ---------------------------------------------------------------------------------------
# Sufficient statistics (MOD, online learning)
# ---------------------------------------------------------------------------------------
@jit
def sparse_stats(codes, X, A, B, scale):
    """``A += scale * Zᵀ Z`` and ``B += scale * Zᵀ X`` using the sparsity of ``Z``.

    ``A (n_components, n_components)``, ``B (n_components, n_features)``.
    """
    n_samples, n_atoms = codes.shape
    n = X.shape[1]
    idx = np.empty(n_atoms, dtype=np.int64)
    for i in range(n_samples):
        m = 0
        for k in range(n_atoms):
            if codes[i, k] != 0:
                idx[m] = k
                m += 1
        x = X[i]
        for a in range(m):
            ka = idx[a]
            za = scale * codes[i, ka]
            for b in range(m):
                A[ka, idx[b]] += za * codes[i, idx[b]]
            Bk = B[ka]
            for t in range(n):
                Bk[t] += za * x[t]


def sparse_stats_reference(codes, X, A, B, scale):
    """NumPy twin of :func:`sparse_stats`."""
    A += scale * (codes.T @ codes)
    B += scale * (codes.T @ X)


@jit(fastmath=True)
def online_update(D, A, B, min_diag):
    """One block-coordinate sweep of Mairal et al. (2010), atoms kept unit-norm.

    For each atom ``j`` with ``A[j, j] > min_diag``::

        u = d_j + (B[j] - A[j] @ D) / A[j, j];   d_j = u / ‖u‖

    Atoms with ``A[j, j] <= min_diag`` (not used so far) are left unchanged.

    Returns ``used (n_components,)`` bool.
    """
    n_atoms, n = D.shape
    used = np.zeros(n_atoms, dtype=np.bool_)
    u = np.empty(n, dtype=D.dtype)
    for j in range(n_atoms):
        ajj = A[j, j]
        if ajj <= min_diag:
            continue
        for t in range(n):
            u[t] = B[j, t]
        for l in range(n_atoms):
            a = A[j, l]
            if a != 0.0:
                dl = D[l]
                for t in range(n):
                    u[t] -= a * dl[t]
        inv = 1.0 / ajj
        nrm = 0.0
        for t in range(n):
            u[t] = D[j, t] + u[t] * inv
            nrm += u[t] * u[t]
        if nrm <= 0.0:
            continue
        inv = 1.0 / math.sqrt(nrm)
        for t in range(n):
            D[j, t] = u[t] * inv
        used[j] = True
    return used


def online_update_reference(D, A, B, min_diag):
    """NumPy twin of :func:`online_update`."""
    used = np.zeros(D.shape[0], dtype=bool)
    for j in range(D.shape[0]):
        if A[j, j] <= min_diag:
            continue
        u = D[j] + (B[j] - A[j] @ D) / A[j, j]
        nrm = np.linalg.norm(u)
        if nrm <= 0:
            continue
        D[j] = u / nrm
        used[j] = True
    return used


def mod_update(A, B, reg):
    """MOD dictionary: solve ``(A + reg·I) D = B`` with ``A = ZᵀZ``, ``B = ZᵀX``.

    BLAS/LAPACK (Cholesky, least squares as fallback); rows of atoms no signal uses
    (``A[k, k] == 0``) come back as zeros. Returns the new (not normalised) dictionary.
    """
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    K = A.shape[0]
    M = A + reg * np.eye(K, dtype=A.dtype)
    try:
        D = cho_solve(cho_factor(M, lower=True, check_finite=False), B, check_finite=False)
    except LinAlgError:
        D = np.linalg.lstsq(M, B, rcond=None)[0]
    return np.ascontiguousarray(D, dtype=B.dtype)


def mod_update_reference(A, B, reg):
    """NumPy twin of :func:`mod_update` (``numpy.linalg.solve``)."""
    return np.linalg.solve(A + reg * np.eye(A.shape[0]), B).astype(B.dtype)
