"""Batch Orthogonal Matching Pursuit (Rubinstein, Zibulevsky & Elad, 2008).

The kernel works in the Gram domain: given ``alpha0 = X @ D.T`` (one BLAS product for a
whole chunk of signals) and the Gram matrix ``G = D @ D.T``, it never forms a residual.
Each selected atom ``j`` adds one row to the factor ``U`` whose rows are
``u_k = D q_k`` for the orthonormal basis ``q_k`` of the selected atoms (progressive
Gram-Schmidt carried out on Gram rows, i.e. a progressive Cholesky factorisation of
``G[I, I] = L L^T`` with ``L[k, m] = u_m[I_k]``). Then

* the correlations of the residual are updated by one axpy, ``alpha -= c_k u_k`` with
  ``c_k = alpha[j] / L_kk``;
* the squared residual norm falls by ``c_k**2`` (error-based stopping without forming
  the residual);
* at the end the coefficients solve the triangular system ``L^T gamma = c``.

The work per signal and per iteration is one pass over ``k`` Gram-sized rows, the same
as Rubinstein's Batch-OMP, with contiguous inner loops that Numba vectorises.
"""

from __future__ import annotations

import math

import numpy as np

from .._jit import jit, pjit, prange

# Kernel status codes of one signal, stored in ``n_iter`` only as counts; the reasons
# are not needed downstream but documented here for the reader:
#   stop by sparsity  -> n_iter == max_k
#   stop by tolerance -> squared residual <= tol
#   stop because the best remaining correlation is ~0 (residual orthogonal to D) or the
#   best atom is linearly dependent on the selected ones.


@jit(fastmath=True)
def _argmax_abs(alpha):
    """Index of the largest ``|alpha|`` and its value (first one on ties)."""
    best = alpha.dtype.type(-1.0)  # typed: no float64 promotion in float32 kernels
    j = 0
    for t in range(alpha.shape[0]):
        v = abs(alpha[t])
        if v > best:
            best = v
            j = t
    return j, best


@jit(fastmath=True)
def _orthogonalize_row(G, U, j, k, inv_d):
    """U[k] = (G[j] - sum_{m<k} U[m, j] U[m]) * inv_d.

    Four rows of ``U`` per pass over ``U[k]`` (fewer loads and stores of the target).
    """
    u = U[k]
    gj = G[j]
    n = u.shape[0]
    for t in range(n):
        u[t] = gj[t]
    m = 0
    while m + 4 <= k:
        s0 = U[m, j]
        s1 = U[m + 1, j]
        s2 = U[m + 2, j]
        s3 = U[m + 3, j]
        u0 = U[m]
        u1 = U[m + 1]
        u2 = U[m + 2]
        u3 = U[m + 3]
        for t in range(n):
            u[t] -= s0 * u0[t] + s1 * u1[t] + s2 * u2[t] + s3 * u3[t]
        m += 4
    while m < k:
        s = U[m, j]
        um = U[m]
        for t in range(n):
            u[t] -= s * um[t]
        m += 1
    for t in range(n):
        u[t] *= inv_d


@jit(fastmath=True)
def _axpy_argmax_abs(alpha, c, u, skip):
    """alpha -= c u with alpha[skip] = 0, returning the new argmax |alpha| and its value
    (first one on ties).

    One pass instead of an update followed by a search, in four interleaved lanes
    (``t % 4``) whose running maxima are independent, so the compare-and-select chains
    overlap; the lanes are merged keeping the smallest index among equal maxima.
    """
    n = alpha.shape[0]
    zero = alpha.dtype.type(0.0)
    b0 = b1 = b2 = b3 = alpha.dtype.type(-1.0)
    j0 = j1 = j2 = j3 = 0
    t = 0
    while t + 4 <= n:
        a0 = alpha[t] - c * u[t]
        a1 = alpha[t + 1] - c * u[t + 1]
        a2 = alpha[t + 2] - c * u[t + 2]
        a3 = alpha[t + 3] - c * u[t + 3]
        alpha[t] = a0
        alpha[t + 1] = a1
        alpha[t + 2] = a2
        alpha[t + 3] = a3
        v0 = abs(a0)
        v1 = abs(a1)
        v2 = abs(a2)
        v3 = abs(a3)
        if v0 > b0 and t != skip:
            b0 = v0
            j0 = t
        if v1 > b1 and t + 1 != skip:
            b1 = v1
            j1 = t + 1
        if v2 > b2 and t + 2 != skip:
            b2 = v2
            j2 = t + 2
        if v3 > b3 and t + 3 != skip:
            b3 = v3
            j3 = t + 3
        t += 4
    while t < n:
        a0 = alpha[t] - c * u[t]
        alpha[t] = a0
        v0 = abs(a0)
        if v0 > b0 and t != skip:
            b0 = v0
            j0 = t
        t += 1
    alpha[skip] = zero
    best, j = b0, j0
    if b1 > best or (b1 == best and j1 < j):
        best, j = b1, j1
    if b2 > best or (b2 == best and j2 < j):
        best, j = b2, j2
    if b3 > best or (b3 == best and j3 < j):
        best, j = b3, j3
    if best < zero:  # only the skipped entry (n == 1)
        best, j = zero, skip
    return j, best


@jit
def omp_support(a0, G, norm2, max_k, tol, tol_first, dep_eps, zero_eps, U, alpha, idx, c):
    """Batch-OMP for one signal; leaves its support in ``idx[:k]`` and code in ``c[:k]``.

    Parameters
    ----------
    a0 : (n_atoms,) correlations ``D x`` of the signal.
    G : (n_atoms, n_atoms) Gram matrix ``D D^T``.
    norm2 : squared norm of the signal (used only when ``tol >= 0``).
    max_k : maximal number of atoms.
    tol : squared-residual target, or a negative number for none.
    tol_first : if True a signal already within ``tol`` gets no atom; if False at least
        one atom is selected (scikit-learn's behaviour).
    dep_eps : relative threshold under which a new atom counts as linearly dependent.
    zero_eps : relative threshold under which the residual counts as orthogonal to D.
    U, alpha, idx, c : work buffers of shapes (max_k, n_atoms), (n_atoms,), (max_k,),
        (max_k,). On return ``idx[:k]`` holds the selected atoms in selection order and
        ``c[:k]`` their coefficients (the back-substitution overwrites the Cholesky
        right-hand side in place).

    Returns
    -------
    k : number of selected atoms.
    """
    n_atoms = a0.shape[0]
    for t in range(n_atoms):
        alpha[t] = a0[t]
    rn2 = norm2
    if tol >= 0.0 and tol_first and rn2 <= tol:
        return 0
    j, scale = _argmax_abs(alpha)
    if scale == 0.0:
        return 0
    zero_level = zero_eps * scale
    best = scale
    k = 0
    while k < max_k:
        if best <= zero_level:
            break
        d2 = G[j, j]
        for m in range(k):
            d2 -= U[m, j] * U[m, j]
        if d2 <= dep_eps * G[j, j]:
            break
        # in the signal's dtype: a float64 scalar here made every float32 loop below
        # convert element by element (float32 was slower than float64)
        inv_d = a0.dtype.type(1.0 / math.sqrt(d2))
        _orthogonalize_row(G, U, j, k, inv_d)
        ck = alpha[j] * inv_d
        idx[k] = j
        c[k] = ck
        j, best = _axpy_argmax_abs(alpha, ck, U[k], j)
        rn2 -= ck * ck
        k += 1
        if tol >= 0.0 and rn2 <= tol:
            break
    # Back-substitution L^T gamma = c, with L[r, m] = U[m, idx[r]], L[m, m] = U[m, idx[m]];
    # gamma[m] replaces c[m] (only c[m] and gamma[r > m] are read at step m).
    for m in range(k - 1, -1, -1):
        s = c[m]
        for r in range(m + 1, k):
            s -= U[m, idx[r]] * c[r]
        c[m] = s / U[m, idx[m]]
    return k


@jit
def omp_one(a0, G, norm2, max_k, tol, tol_first, dep_eps, zero_eps, U, alpha, idx, c, code):
    """Batch-OMP for one signal; writes its nonzeros into ``code`` (zeroed by caller).

    Parameters are those of :func:`omp_support`, plus ``code`` (n_atoms,), the dense
    output row.

    Returns
    -------
    n_iter : number of selected atoms.
    """
    k = omp_support(a0, G, norm2, max_k, tol, tol_first, dep_eps, zero_eps, U, alpha, idx, c)
    for m in range(k):
        code[idx[m]] = c[m]
    return k


@pjit
def batch_omp(alpha0, G, norms2, max_k, tol, tol_first, codes, n_iter):
    """Batch-OMP over many signals, parallel over signals.

    Parameters
    ----------
    alpha0 : (n_signals, n_atoms) C-contiguous, ``X @ D.T``.
    G : (n_atoms, n_atoms) C-contiguous Gram matrix.
    norms2 : (n_signals,) squared signal norms (ignored when ``tol < 0``).
    max_k : int, maximal number of atoms per signal (``<= n_atoms``).
    tol : float, squared residual target, negative for none.
    tol_first : bool, see :func:`omp_one`.
    codes : (n_signals, n_atoms) zero-initialised output, C-contiguous.
    n_iter : (n_signals,) int64 output, number of atoms selected per signal.
    """
    n, n_atoms = alpha0.shape
    eps = np.finfo(alpha0.dtype).eps
    dep_eps = 100.0 * eps
    zero_eps = 100.0 * eps
    n_blocks = min(n, 256)
    for b in prange(n_blocks):
        start = (b * n) // n_blocks
        stop = ((b + 1) * n) // n_blocks
        U = np.empty((max(max_k, 1), n_atoms), dtype=alpha0.dtype)
        alpha = np.empty(n_atoms, dtype=alpha0.dtype)
        idx = np.empty(max(max_k, 1), dtype=np.int64)
        c = np.empty(max(max_k, 1), dtype=alpha0.dtype)
        for i in range(start, stop):
            n_iter[i] = omp_one(
                alpha0[i], G, norms2[i], max_k, tol, tol_first, dep_eps, zero_eps,
                U, alpha, idx, c, codes[i],
            )


def batch_omp_reference(alpha0, G, norms2, max_k, tol, tol_first=True):
    """Plain-NumPy twin of :func:`batch_omp` (Rubinstein et al.'s Algorithm 2).

    Re-solves the normal equations ``G[I, I] gamma = alpha0[I]`` with a fresh Cholesky
    factorisation at every step: slow and obvious, used to test the kernel.
    """
    n, n_atoms = alpha0.shape
    codes = np.zeros((n, n_atoms), dtype=alpha0.dtype)
    n_iter = np.zeros(n, dtype=np.int64)
    for i in range(n):
        support, gamma = _omp_reference_one(alpha0[i], G, norms2[i], max_k, tol, tol_first)
        codes[i, support] = gamma
        n_iter[i] = len(support)
    return codes, n_iter


def batch_omp_slots_reference(alpha0, G, norms2, max_k, tol, tol_first=True):
    """Plain-NumPy twin of :func:`batch_omp_fused_slots` (from the correlations).

    Returns
    -------
    slot_idx : (n, max(max_k, 1)) int32, the selected atoms of each signal in selection
        order (entries past ``n_iter[i]`` are unspecified: here -1).
    slot_val : (n, max(max_k, 1)) their coefficients (past ``n_iter[i]``: 0).
    n_iter : (n,) int64, number of selected atoms.
    """
    n = alpha0.shape[0]
    width = max(max_k, 1)
    slot_idx = np.full((n, width), -1, dtype=np.int32)
    slot_val = np.zeros((n, width), dtype=alpha0.dtype)
    n_iter = np.zeros(n, dtype=np.int64)
    for i in range(n):
        support, gamma = _omp_reference_one(alpha0[i], G, norms2[i], max_k, tol, tol_first)
        k = len(support)
        slot_idx[i, :k] = support
        slot_val[i, :k] = gamma
        n_iter[i] = k
    return slot_idx, slot_val, n_iter


def _omp_reference_one(a0_in, G, norm2, max_k, tol, tol_first):
    """Support (selection order) and least-squares code of one signal, in float64."""
    eps = np.finfo(a0_in.dtype).eps
    a0 = a0_in.astype(np.float64)
    rn2 = float(norm2)
    if tol >= 0 and tol_first and rn2 <= tol:
        return [], np.zeros(0)
    scale = np.abs(a0).max()
    if scale == 0:
        return [], np.zeros(0)
    support = []
    gamma = np.zeros(0)
    alpha = a0.copy()
    while len(support) < max_k:
        j = int(np.argmax(np.abs(alpha)))
        if abs(alpha[j]) <= 100 * eps * scale:
            break
        trial = support + [j]
        Gs = G[np.ix_(trial, trial)].astype(np.float64)
        try:
            L = np.linalg.cholesky(Gs)
        except np.linalg.LinAlgError:
            break
        if L[-1, -1] ** 2 <= 100 * eps * G[j, j]:
            break
        support = trial
        gamma = np.linalg.solve(Gs, a0[support])
        alpha = a0 - G[:, support].astype(np.float64) @ gamma
        rn2 = float(norm2) - gamma @ a0[support]
        if tol >= 0 and rn2 <= tol:
            break
    return support, gamma


@pjit
def batch_omp_fused(X, Dt, G, norms2, max_k, tol, tol_first, sub_block, n_blocks, codes,
                    n_iter):
    """Batch-OMP computing ``X @ D.T`` itself, one small block of signals at a time.

    Each thread multiplies a block of ``sub_block`` signals by ``Dt`` (BLAS gemm, run
    single-threaded inside the Numba thread) and codes it while the correlations are
    still in cache. Callers must limit BLAS to one thread around this call.

    Parameters
    ----------
    X : (n_signals, n_features) C-contiguous signals.
    Dt : (n_features, n_atoms) C-contiguous transposed dictionary.
    G, norms2, max_k, tol, tol_first, codes, n_iter : as in :func:`batch_omp`.
    sub_block : int, number of signals per gemm.
    n_blocks : int, number of blocks of signals distributed over the threads (a few per
        thread: enough for load balance, few enough that each block's work buffers are
        allocated rarely).
    """
    n = X.shape[0]
    n_atoms = Dt.shape[1]
    eps = np.finfo(X.dtype).eps
    dep_eps = 100.0 * eps
    zero_eps = 100.0 * eps
    n_blocks = max(1, min(n, n_blocks))
    for b in prange(n_blocks):
        start = (b * n) // n_blocks
        stop = ((b + 1) * n) // n_blocks
        U = np.empty((max(max_k, 1), n_atoms), dtype=X.dtype)
        alpha = np.empty(n_atoms, dtype=X.dtype)
        idx = np.empty(max(max_k, 1), dtype=np.int64)
        c = np.empty(max(max_k, 1), dtype=X.dtype)
        a0 = np.empty((min(sub_block, stop - start), n_atoms), dtype=X.dtype)
        for s in range(start, stop, sub_block):
            e = min(s + sub_block, stop)
            blk = a0[: e - s]
            np.dot(X[s:e], Dt, blk)
            for i in range(s, e):
                n_iter[i] = omp_one(
                    blk[i - s], G, norms2[i], max_k, tol, tol_first, dep_eps, zero_eps,
                    U, alpha, idx, c, codes[i],
                )


@pjit
def batch_omp_fused_slots(X, Dt, G, norms2, max_k, tol, tol_first, sub_block, bounds,
                          slot_idx, slot_val, n_iter):
    """:func:`batch_omp_fused` writing each signal's support into fixed-width slots.

    Instead of a dense ``(n_signals, n_atoms)`` code array, signal ``i`` gets row ``i``
    of ``slot_idx`` / ``slot_val``: its ``n_iter[i] <= max_k`` selected atoms in
    selection order and their coefficients (entries past ``n_iter[i]`` are left as they
    were). The per-signal kernel is the dense version's (:func:`omp_support`);
    :func:`sparsecode.kernels.csr.compact_slots` turns the slots into CSR arrays.

    Parameters
    ----------
    X, Dt, G, norms2, max_k, tol, tol_first, sub_block, n_iter
        As in :func:`batch_omp_fused`.
    bounds : (n_groups + 1,) int64, increasing from 0 to ``n_signals``: the signals
        ``bounds[b]:bounds[b + 1]`` are one task of the thread pool, cut into gemms of
        ``sub_block`` signals from ``bounds[b]``.
        :func:`sparsecode.kernels.csr.chunk_partition` gives bounds under which every
        gemm is one of the dense call's (a BLAS product of one row may round
        differently from the same row inside a larger product), so the codes are
        bit-identical to it.
    slot_idx : (n_signals, width) int32 output, ``width >= max(max_k, 1)``.
    slot_val : (n_signals, width) output in the dtype of ``X``.
    """
    n_atoms = Dt.shape[1]
    eps = np.finfo(X.dtype).eps
    dep_eps = 100.0 * eps
    zero_eps = 100.0 * eps
    for b in prange(bounds.shape[0] - 1):
        start = bounds[b]
        stop = bounds[b + 1]
        U = np.empty((max(max_k, 1), n_atoms), dtype=X.dtype)
        alpha = np.empty(n_atoms, dtype=X.dtype)
        idx = np.empty(max(max_k, 1), dtype=np.int64)
        c = np.empty(max(max_k, 1), dtype=X.dtype)
        a0 = np.empty((min(sub_block, stop - start), n_atoms), dtype=X.dtype)
        for s in range(start, stop, sub_block):
            e = min(s + sub_block, stop)
            blk = a0[: e - s]
            np.dot(X[s:e], Dt, blk)
            for i in range(s, e):
                k = omp_support(
                    blk[i - s], G, norms2[i], max_k, tol, tol_first, dep_eps, zero_eps,
                    U, alpha, idx, c,
                )
                for m in range(k):
                    slot_idx[i, m] = idx[m]
                    slot_val[i, m] = c[m]
                n_iter[i] = k
