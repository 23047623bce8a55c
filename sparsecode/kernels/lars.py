"""LARS and the LARS-lasso homotopy (Efron, Hastie, Johnstone & Tibshirani, 2004).

For one signal ``x`` with correlations ``c0 = D x`` and Gram matrix ``G = D D^T`` the
homotopy follows the solution ``z(lam)`` of

    0.5 ||x - z D||^2 + lam ||z||_1

from ``lam = max|c0|`` (where ``z = 0``) down to the requested ``alpha``. Along the
path the correlations of the residual ``c = c0 - G z`` satisfy ``|c_j| <= lam`` with
equality, ``c_j = lam s_j``, on the active set ``A`` (``s`` the signs). Between two
breakpoints ``z_A`` moves along ``w = G_AA^{-1} s_A`` and the correlations along
``a = G[:, A] w``; a breakpoint is reached when an inactive correlation meets the
boundary (the atom joins) or, for the lasso, when an active coefficient reaches zero
(the atom leaves). ``G_AA = L L^T`` is kept factorised: a join appends one row to
``L`` (one triangular solve), a departure deletes one row and restores the triangle by
Givens rotations, both ``O(|A|^2)``.

Plain LARS (``lasso=False``) never drops an atom and is stopped after a number of
atoms. ``positive=True`` restricts the path to non-negative codes (only correlations
reaching ``+lam`` join).

Every kernel computes in float64, whatever the dtype of its inputs and outputs.

Per-signal status codes (``status`` output):

* ``STATUS_ALPHA`` (0): the path reached ``alpha``: the code is the exact solution.
* ``STATUS_LIMIT`` (1): one more atom would exceed ``max_k``; the code is the
  solution at the larger ``lam`` returned, just before that atom joins.
* ``STATUS_ZERO`` (2): the correlations vanished (``lam`` under ``1e-10 max|c0|``):
  the residual is orthogonal to every atom (least squares reached).
* ``STATUS_DEPENDENT`` (3): the next atom is linearly dependent on the active ones;
  the path stops cleanly at the ``lam`` returned.
* ``STATUS_MAX_ITER`` (4): ``max_iter`` breakpoints were not enough.
"""

from __future__ import annotations

import math

import numpy as np

from .._jit import jit, pjit, prange

STATUS_ALPHA = 0
STATUS_LIMIT = 1
STATUS_ZERO = 2
STATUS_DEPENDENT = 3
STATUS_MAX_ITER = 4

#: Relative level (to ``max|c0|``) under which correlations count as zero.
ZERO_RTOL = 1e-10
#: Relative level (to ``G_jj``) under which a new pivot counts as a dependent atom.
DEPENDENT_RTOL = 1e4 * np.finfo(np.float64).eps

_FM = {"reassoc", "contract", "nsz"}

#: Finite sentinel "never" for join steps (keeps fast-math reductions NaN/inf free).
_BIG = 1e300
#: Denominators ``1 -+ a_j`` under this count as zero: the correlation moves parallel
#: to the boundary (a duplicate of an active atom) and never joins.
_TINY = 1e-12


@jit(fastmath=_FM)
def _direction(L, sgn, k, y, w):
    """w = G_AA^{-1} s_A from the factor L (two triangular solves)."""
    for r in range(k):
        s = sgn[r]
        for m in range(r):
            s -= L[r, m] * y[m]
        y[r] = s / L[r, r]
    for r in range(k - 1, -1, -1):
        wr = y[r] / L[r, r]
        w[r] = wr
        for m in range(r):
            y[m] -= L[r, m] * wr


@jit(fastmath=_FM)
def _solve(L, rhs, k, y, out):
    """out = G_AA^{-1} rhs from the factor L."""
    for r in range(k):
        s = rhs[r]
        for m in range(r):
            s -= L[r, m] * y[m]
        y[r] = s / L[r, r]
    for r in range(k - 1, -1, -1):
        o = y[r] / L[r, r]
        out[r] = o
        for m in range(r):
            y[m] -= L[r, m] * o


@jit(fastmath=_FM)
def _gram_times(G, idx, w, k, a):
    """a = G[:, A] w as k contiguous axpys on rows of the symmetric G."""
    n = a.shape[0]
    g0 = G[idx[0]]
    w0 = w[0]
    for t in range(n):
        a[t] = w0 * g0[t]
    for m in range(1, k):
        gm = G[idx[m]]
        wm = w[m]
        for t in range(n):
            a[t] += wm * gm[t]


@jit(fastmath=_FM)
def _chol_append(L, G, idx, k, j, y):
    """Row k of the factor for atom j; returns the squared pivot (not yet checked)."""
    gj = G[j]
    d2 = gj[j]
    for r in range(k):
        s = gj[idx[r]]
        for m in range(r):
            s -= L[r, m] * y[m]
        s /= L[r, r]
        y[r] = s
        d2 -= s * s
    return d2


@jit
def _chol_remove(L, k, p):
    """Factor of G_AA without position p (rows shifted up, Givens rotations)."""
    for r in range(p, k - 1):
        for m in range(r + 2):
            L[r, m] = L[r + 1, m]
    for r in range(p, k - 1):
        a = L[r, r]
        b = L[r, r + 1]
        rho = math.hypot(a, b)
        cs = a / rho
        sn = b / rho
        for t in range(r, k - 1):
            u = L[t, r]
            v = L[t, r + 1]
            L[t, r] = cs * u + sn * v
            L[t, r + 1] = cs * v - sn * u
        L[r, r + 1] = 0.0
    for m in range(k):
        L[k - 1, m] = 0.0


@jit(fastmath=True)
def _join_fill(c, a, excluded, lam, positive, gbuf):
    """gbuf[t] = step at which atom t joins (``>= _BIG`` if never).

    Written with selects only (no ``min``/``max`` builtins, no branch in the loop) so
    that LLVM vectorises it: these divisions dominate the cost of a LARS step.
    """
    n = c.shape[0]
    if positive:
        for t in range(n):
            den = 1.0 - a[t]
            num = lam - c[t]
            num = num if num > 0.0 else 0.0
            ok = den > _TINY
            gbuf[t] = (num if ok else _BIG) / (den if ok else 1.0) + excluded[t]
    else:
        for t in range(n):
            at = a[t]
            ct = c[t]
            den = 1.0 - at
            num = lam - ct
            num = num if num > 0.0 else 0.0
            ok = den > _TINY
            g1 = (num if ok else _BIG) / (den if ok else 1.0)
            den2 = 1.0 + at
            num2 = lam + ct
            num2 = num2 if num2 > 0.0 else 0.0
            ok2 = den2 > _TINY
            g2 = (num2 if ok2 else _BIG) / (den2 if ok2 else 1.0)
            g = g1 if g1 < g2 else g2
            gbuf[t] = g + excluded[t]


@jit(fastmath=True)
def _min_reduce(gbuf):
    best = _BIG
    for t in range(gbuf.shape[0]):
        g = gbuf[t]
        best = g if g < best else best
    return best


@jit
def _join_step(c, a, excluded, lam, positive, gbuf, dropped, dropped_sign):
    """Smallest joining step and its atom (first one on ties; -1 if none).

    The atom ``dropped`` that just left the active set sits on the boundary
    ``c = dropped_sign * lam``; along the new (linear) segment it cannot meet that
    boundary again, so only the opposite boundary is considered for it (this also
    keeps rounding from re-adding it at once).
    """
    _join_fill(c, a, excluded, lam, positive, gbuf)
    if dropped >= 0:
        g = _BIG
        if not positive:
            den = 1.0 + dropped_sign * a[dropped]
            if den > _TINY:
                num = lam + dropped_sign * c[dropped]
                g = (num if num > 0.0 else 0.0) / den
        gbuf[dropped] = g
    best = _min_reduce(gbuf)
    if best >= _BIG:
        return _BIG, -1
    for t in range(c.shape[0]):
        if gbuf[t] == best:
            return best, t
    return _BIG, -1


@jit
def lars_one(c0, G, alpha, max_k, lasso, positive, max_iter,
             L, idx, sgn, z, w, y, c, a, excluded, gbuf,
             record, path_alphas, path_coefs):
    """LARS / LARS-lasso homotopy for one signal.

    Parameters
    ----------
    c0 : (n_atoms,) correlations ``D x``.
    G : (n_atoms, n_atoms) float64 Gram matrix ``D D^T`` (C-contiguous).
    alpha : float, target penalty (``>= 0``).
    max_k : int, maximal number of active atoms (``>= 1``, sizes the buffers).
    lasso : bool, drop atoms whose coefficient crosses zero (lasso) or not (LARS).
    positive : bool, non-negative codes.
    max_iter : int, maximal number of breakpoints.
    L : (max_k, max_k) float64 work buffer (Cholesky factor).
    idx : (max_k,) int64 work buffer (active atoms, in factor order).
    sgn, z, w, y : (max_k,) float64 work buffers.
    c, a : (n_atoms,) float64 work buffers.
    excluded : (n_atoms,) float64 work buffer (0 or ``_BIG`` for active atoms).
    gbuf : (n_atoms,) float64 work buffer.
    record : bool, write the path into ``path_alphas`` / ``path_coefs``.
    path_alphas : (max_iter + 1,) float64, ``lam`` at each breakpoint (if ``record``).
    path_coefs : (max_iter + 1, n_atoms) float64 zeroed, codes at each breakpoint.

    Returns
    -------
    k : number of active atoms at the end (``idx[:k]``, coefficients ``z[:k]``).
    n_iter : number of breakpoints (path segments) followed.
    status : see the module docstring.
    lam : penalty of the returned solution.
    n_path : number of recorded breakpoints (``record`` only, else 0).
    """
    n_atoms = c0.shape[0]
    cmax = 0.0
    j0 = 0
    for t in range(n_atoms):
        v = c0[t] if positive else abs(c0[t])
        c[t] = c0[t]
        excluded[t] = 0.0
        if v > cmax:
            cmax = v
            j0 = t
    n_path = 0
    if record:
        path_alphas[0] = max(cmax, 0.0)
        n_path = 1
    if cmax <= alpha:
        return 0, 0, STATUS_ALPHA, alpha, n_path
    zero_level = ZERO_RTOL * cmax
    if cmax <= 0.0:
        return 0, 0, STATUS_ZERO, 0.0, n_path
    lam = cmax
    # First atom.
    L[0, 0] = math.sqrt(G[j0, j0])
    idx[0] = j0
    sgn[0] = 1.0 if c[j0] > 0 else -1.0
    z[0] = 0.0
    excluded[j0] = _BIG
    k = 1
    n_iter = 0
    dropped = -1
    dropped_sign = 0.0
    status = STATUS_ALPHA
    while True:
        if n_iter >= max_iter:
            status = STATUS_MAX_ITER
            break
        _direction(L, sgn, k, y, w)
        _gram_times(G, idx, w, k, a)
        # Smallest step among: reaching alpha, a join, a drop.
        gamma = lam - alpha
        event = 0
        jj = -1
        gj, jj = _join_step(c, a, excluded, lam, positive, gbuf, dropped, dropped_sign)
        if gj < gamma:
            gamma = gj
            event = 1
        pp = -1
        if lasso or positive:
            for m in range(k):
                wm = w[m]
                if wm != 0.0:
                    g = -z[m] / wm
                    if g > 0.0 and g < gamma:
                        gamma = g
                        event = 2
                        pp = m
        # Step.
        for m in range(k):
            z[m] += gamma * w[m]
        for t in range(n_atoms):
            c[t] -= gamma * a[t]
        n_iter += 1
        if event == 0:
            lam = alpha
            status = STATUS_ALPHA
            if record:
                path_alphas[n_path] = lam
                for m in range(k):
                    path_coefs[n_path, idx[m]] = z[m]
                n_path += 1
            break
        lam -= gamma
        if record:
            path_alphas[n_path] = lam
            for m in range(k):
                if m != pp:
                    path_coefs[n_path, idx[m]] = z[m]
            n_path += 1
        if lam <= zero_level:
            status = STATUS_ZERO
            break
        if event == 2:
            excluded[idx[pp]] = 0.0
            dropped = idx[pp]
            dropped_sign = sgn[pp]
            _chol_remove(L, k, pp)
            for m in range(pp, k - 1):
                idx[m] = idx[m + 1]
                sgn[m] = sgn[m + 1]
                z[m] = z[m + 1]
            k -= 1
            continue
        # Join of atom jj.
        if k >= max_k:
            status = STATUS_LIMIT
            break
        d2 = _chol_append(L, G, idx, k, jj, y)
        if d2 <= DEPENDENT_RTOL * G[jj, jj]:
            status = STATUS_DEPENDENT
            break
        for m in range(k):
            L[k, m] = y[m]
        L[k, k] = math.sqrt(d2)
        idx[k] = jj
        sgn[k] = 1.0 if (positive or c[jj] > 0) else -1.0
        z[k] = 0.0
        excluded[jj] = _BIG
        dropped = -1
        k += 1
    # Refine: on the final active set the solution solves G_AA z = c0_A - lam s_A.
    if k > 0 and status != STATUS_MAX_ITER:
        for m in range(k):
            a[m] = c0[idx[m]] - lam * sgn[m]
        _solve(L, a, k, y, w)
        ok = True
        if lasso or positive:
            for m in range(k):
                if w[m] * sgn[m] < 0.0:
                    ok = False
        if ok:
            for m in range(k):
                z[m] = w[m]
    if positive:
        for m in range(k):
            if z[m] < 0.0:
                z[m] = 0.0
    if record and status != STATUS_MAX_ITER and k > 0:
        for m in range(k):
            path_coefs[n_path - 1, idx[m]] = z[m]
    return k, n_iter, status, lam, n_path


@jit
def _alloc(max_k, n_atoms):
    L = np.zeros((max_k, max_k))
    idx = np.empty(max_k, dtype=np.int64)
    sgn = np.empty(max_k)
    z = np.empty(max_k)
    w = np.empty(max_k)
    y = np.empty(max_k)
    c = np.empty(n_atoms)
    a = np.empty(max(n_atoms, max_k))
    excluded = np.empty(n_atoms)
    gbuf = np.empty(n_atoms)
    return L, idx, sgn, z, w, y, c, a, excluded, gbuf


@jit
def _lars_block(A, Dt, G, alpha, max_k, lasso, positive, max_iter, sub_block,
                precomputed, codes, n_iter, status, lambdas, slots, slot_idx, slot_val,
                n_active, start, stop):
    """Signals ``start:stop`` of :func:`_batch_lars` (serial; own work buffers)."""
    n_cols = A.shape[1]
    n_atoms = G.shape[0]
    dummy_a = np.zeros(1)
    dummy_c = np.zeros((1, 1))
    L, idx, sgn, z, w, y, c, a, excluded, gbuf = _alloc(max_k, n_atoms)
    xb = np.empty((sub_block, n_cols))
    cb = np.empty((sub_block, n_atoms))
    for s in range(start, stop, sub_block):
        e = min(s + sub_block, stop)
        if precomputed:
            for i in range(s, e):
                for t in range(n_atoms):
                    cb[i - s, t] = A[i, t]
        else:
            for i in range(s, e):
                for t in range(n_cols):
                    xb[i - s, t] = A[i, t]
            np.dot(xb[: e - s], Dt, cb[: e - s])
        for i in range(s, e):
            k, it, st, lam, _ = lars_one(
                cb[i - s], G, alpha, max_k, lasso, positive, max_iter,
                L, idx, sgn, z, w, y, c, a, excluded, gbuf, False, dummy_a, dummy_c,
            )
            if slots:
                for m in range(k):
                    slot_idx[i, m] = idx[m]
                    slot_val[i, m] = z[m]
                n_active[i] = k
            else:
                for m in range(k):
                    codes[i, idx[m]] = z[m]
            n_iter[i] = it
            status[i] = st
            lambdas[i] = lam


@pjit
def _batch_lars(A, Dt, G, alpha, max_k, lasso, positive, max_iter, sub_block,
                precomputed, codes, n_iter, status, lambdas, slots, slot_idx, slot_val,
                n_active, bounds):
    """The one parallel kernel behind :func:`batch_lars`, :func:`batch_lars_fused` and
    :func:`batch_lars_fused_slots`.

    ``A`` holds signals (``precomputed=False``: correlations are ``A @ Dt``, one BLAS
    product per block of ``sub_block`` signals) or correlations (``precomputed=True``,
    ``Dt`` unused). One compiled kernel, with a one-call ``prange`` body, keeps the
    JIT cost down. With ``slots`` the codes go to ``slot_idx`` / ``slot_val`` (the
    active atoms of signal ``i`` and their coefficients, ``n_active[i]`` of them, in
    factor order) and ``codes`` is unused; otherwise the slot arrays are unused.
    Signals ``bounds[b]:bounds[b + 1]`` form block ``b`` (one task of the thread
    pool; :func:`block_bounds` for the dense calls).
    """
    for b in prange(bounds.shape[0] - 1):
        _lars_block(A, Dt, G, alpha, max_k, lasso, positive, max_iter, sub_block,
                    precomputed, codes, n_iter, status, lambdas, slots, slot_idx,
                    slot_val, n_active, bounds[b], bounds[b + 1])


#: Blocks of signals of the dense LARS calls (tasks of the thread pool).
N_BLOCKS = 256


def batch_lars(cov, G, alpha, max_k, lasso, positive, max_iter,
               codes, n_iter, status, lambdas):
    """LARS(-lasso) over many signals from their correlations, parallel over signals.

    Parameters
    ----------
    cov : (n_signals, n_atoms) float64 C-contiguous correlations ``X @ D.T``.
    G : (n_atoms, n_atoms) float64 C-contiguous Gram matrix ``D @ D.T``.
    alpha, max_k, lasso, positive, max_iter : as in :func:`lars_one`.
    codes : (n_signals, n_atoms) float64 zero-initialised output.
    n_iter : (n_signals,) int64 output, breakpoints followed.
    status : (n_signals,) int64 output, status codes.
    lambdas : (n_signals,) float64 output, penalty of each returned code.
    """
    _batch_lars(cov, np.zeros((1, 1)), G, float(alpha), int(max_k), bool(lasso),
                bool(positive), int(max_iter), 128, True, codes, n_iter, status, lambdas,
                False, *_no_slots(), block_bounds(cov.shape[0], N_BLOCKS))


def batch_lars_fused(X, Dt, G, alpha, max_k, lasso, positive, max_iter, sub_block,
                     codes, n_iter, status, lambdas):
    """LARS(-lasso) computing ``X @ D.T`` itself, one small block of signals at a time.

    Each Numba thread multiplies a block of ``sub_block`` signals by ``Dt`` (BLAS
    gemm, single-threaded inside the Numba thread: callers limit BLAS to one thread
    around this call) and follows the paths while the correlations are in cache.

    Parameters
    ----------
    X : (n_signals, n_features) float64 C-contiguous signals.
    Dt : (n_features, n_atoms) float64 C-contiguous transposed dictionary.
    sub_block : int, signals per gemm.
    G, alpha, max_k, lasso, positive, max_iter, codes, n_iter, status, lambdas
        As in :func:`batch_lars`.
    """
    _batch_lars(X, Dt, G, float(alpha), int(max_k), bool(lasso), bool(positive),
                int(max_iter), int(sub_block), False, codes, n_iter, status, lambdas,
                False, *_no_slots(), block_bounds(X.shape[0], N_BLOCKS))


def batch_lars_fused_slots(X, Dt, G, alpha, max_k, lasso, positive, max_iter, sub_block,
                           bounds, slot_idx, slot_val, n_active, n_iter, status, lambdas):
    """:func:`batch_lars_fused` writing each signal's code into fixed-width slots.

    No dense ``(n_signals, n_atoms)`` array: signal ``i`` gets row ``i`` of
    ``slot_idx`` / ``slot_val``, its ``n_active[i] <= max_k`` active atoms (in factor
    order) and their float64 coefficients; entries past ``n_active[i]`` are left as
    they were. Same compiled kernel as the dense version;
    :func:`sparsecode.kernels.csr.compact_slots` turns the slots into CSR arrays.

    Parameters
    ----------
    X, Dt, G, alpha, max_k, lasso, positive, max_iter, sub_block, n_iter, status, lambdas
        As in :func:`batch_lars_fused`.
    bounds : (n_groups + 1,) int64, increasing from 0 to ``n_signals``: the signals
        ``bounds[b]:bounds[b + 1]`` are one task of the thread pool, cut into gemms of
        ``sub_block`` signals from ``bounds[b]``.
        :func:`sparsecode.kernels.csr.chunk_partition` gives bounds under which every
        gemm is one of the dense call's, so the codes are bit-identical to it.
    slot_idx : (n_signals, width) int32 output, ``width >= max_k``.
    slot_val : (n_signals, width) float64 output.
    n_active : (n_signals,) int64 output, number of active atoms of each code.
    """
    _batch_lars(X, Dt, G, float(alpha), int(max_k), bool(lasso), bool(positive),
                int(max_iter), int(sub_block), False, np.zeros((1, 1)), n_iter, status,
                lambdas, True, slot_idx, slot_val, n_active,
                np.ascontiguousarray(bounds, dtype=np.int64))


def block_bounds(n, n_blocks):
    """Boundaries of ``min(n, n_blocks)`` near-equal blocks of ``n`` signals (int64)."""
    n_blocks = max(1, min(n, n_blocks))
    return (np.arange(n_blocks + 1, dtype=np.int64) * n) // n_blocks


def _no_slots():
    """Placeholder slot arrays for the dense calls (same types: one compilation)."""
    return (np.zeros((1, 1), dtype=np.int32), np.zeros((1, 1)), np.zeros(1, dtype=np.int64))


@jit
def lars_path_kernel(c0, G, alpha, max_k, lasso, positive, max_iter):
    """The whole path for one signal.

    Returns
    -------
    alphas : (n_path,) penalties at the breakpoints, decreasing, first ``max|c0|``.
    coefs : (n_path, n_atoms) codes at the breakpoints (first row zero).
    active : (k,) final active atoms, in factor order.
    n_iter, status : as in :func:`lars_one`.
    """
    n_atoms = c0.shape[0]
    L, idx, sgn, z, w, y, c, a, excluded, gbuf = _alloc(max_k, n_atoms)
    path_alphas = np.zeros(max_iter + 1)
    path_coefs = np.zeros((max_iter + 1, n_atoms))
    c0_ = np.empty(n_atoms)
    for t in range(n_atoms):
        c0_[t] = c0[t]
    k, it, st, lam, n_path = lars_one(
        c0_, G, alpha, max_k, lasso, positive, max_iter,
        L, idx, sgn, z, w, y, c, a, excluded, gbuf, True, path_alphas, path_coefs,
    )
    return path_alphas[:n_path].copy(), path_coefs[:n_path].copy(), idx[:k].copy(), it, st


# --------------------------------------------------------------------------------------
# Plain-NumPy reference twin.
# --------------------------------------------------------------------------------------


def lars_reference(cov, G, alpha, max_k, lasso, positive, max_iter):
    """Plain-NumPy twin of :func:`batch_lars` (same decisions, no factor updates).

    Solves ``G_AA w = s_A`` afresh at every breakpoint with :func:`numpy.linalg.solve`;
    slow and obvious, used to test the kernels.

    Returns
    -------
    codes : (n_signals, n_atoms) float64
    n_iter, status : (n_signals,) int64
    lambdas : (n_signals,) float64
    """
    cov = np.asarray(cov, dtype=np.float64)
    G = np.asarray(G, dtype=np.float64)
    n, n_atoms = cov.shape
    codes = np.zeros((n, n_atoms))
    n_iter = np.zeros(n, dtype=np.int64)
    status = np.zeros(n, dtype=np.int64)
    lambdas = np.zeros(n)
    for i in range(n):
        codes[i], n_iter[i], status[i], lambdas[i], _ = _lars_reference_one(
            cov[i], G, alpha, max_k, lasso, positive, max_iter
        )
    return codes, n_iter, status, lambdas


def lars_slots_reference(cov, G, alpha, max_k, lasso, positive, max_iter):
    """Plain-NumPy twin of :func:`batch_lars_fused_slots` (from the correlations).

    Returns
    -------
    slot_idx : (n_signals, max_k) int32, active atoms of each code in the order they
        (last) joined (past ``n_active[i]``: -1).
    slot_val : (n_signals, max_k) float64, their coefficients (past ``n_active[i]``: 0).
    n_active, n_iter, status : (n_signals,) int64
    lambdas : (n_signals,) float64
    """
    cov = np.asarray(cov, dtype=np.float64)
    G = np.asarray(G, dtype=np.float64)
    n = cov.shape[0]
    slot_idx = np.full((n, max_k), -1, dtype=np.int32)
    slot_val = np.zeros((n, max_k))
    n_active = np.zeros(n, dtype=np.int64)
    n_iter = np.zeros(n, dtype=np.int64)
    status = np.zeros(n, dtype=np.int64)
    lambdas = np.zeros(n)
    for i in range(n):
        code, n_iter[i], status[i], lambdas[i], active = _lars_reference_one(
            cov[i], G, alpha, max_k, lasso, positive, max_iter
        )
        k = len(active)
        slot_idx[i, :k] = active
        slot_val[i, :k] = code[active]
        n_active[i] = k
    return slot_idx, slot_val, n_active, n_iter, status, lambdas


def _lars_reference_one(c0, G, alpha, max_k, lasso, positive, max_iter):
    n_atoms = c0.shape[0]
    code = np.zeros(n_atoms)
    score = c0 if positive else np.abs(c0)
    j0 = int(np.argmax(score))
    cmax = max(float(score[j0]), 0.0)
    if cmax <= alpha:
        return code, 0, STATUS_ALPHA, alpha, []
    if cmax <= 0.0:
        return code, 0, STATUS_ZERO, 0.0, []
    zero_level = ZERO_RTOL * cmax
    lam = cmax
    active = [j0]
    signs = [1.0 if c0[j0] > 0 else -1.0]
    z = np.zeros(1)
    c = c0.copy()
    dropped, dropped_sign = -1, 0.0
    n_iter = 0
    status = STATUS_ALPHA
    while True:
        if n_iter >= max_iter:
            status = STATUS_MAX_ITER
            break
        s = np.array(signs)
        w = np.linalg.solve(G[np.ix_(active, active)], s)
        a = G[:, active] @ w
        gamma = lam - alpha
        event, jj, pp = 0, -1, -1
        with np.errstate(divide="ignore", invalid="ignore"):
            for sign in ((1.0,) if positive else (1.0, -1.0)):
                mask = np.ones(n_atoms, dtype=bool)
                mask[active] = False
                if dropped >= 0 and sign == dropped_sign:
                    mask[dropped] = False  # cannot meet its own boundary again
                den = 1.0 - sign * a
                num = np.maximum(lam - sign * c, 0.0)
                ok = mask & (den > _TINY) & (num / np.where(den > _TINY, den, 1.0) < gamma)
                if ok.any():
                    g = np.where(ok, num / np.where(den > _TINY, den, 1.0), np.inf)
                    t = int(np.argmin(g))
                    gamma, event, jj = float(g[t]), 1, t
        if lasso or positive:
            with np.errstate(divide="ignore", invalid="ignore"):
                g = np.where(w != 0, -z / np.where(w != 0, w, 1.0), np.inf)
            ok = (g > 0) & (g < gamma)
            if ok.any():
                g = np.where(ok, g, np.inf)
                pp = int(np.argmin(g))
                gamma, event = float(g[pp]), 2
        z = z + gamma * w
        c = c - gamma * a
        n_iter += 1
        if event == 0:
            lam = alpha
            status = STATUS_ALPHA
            break
        lam -= gamma
        if lam <= zero_level:
            status = STATUS_ZERO
            break
        if event == 2:
            dropped, dropped_sign = active[pp], signs[pp]
            del active[pp], signs[pp]
            z = np.delete(z, pp)
            continue
        if len(active) >= max_k:
            status = STATUS_LIMIT
            break
        trial = active + [jj]
        Gt = G[np.ix_(trial, trial)]
        l = np.linalg.solve(np.linalg.cholesky(G[np.ix_(active, active)]), G[active, jj])
        if G[jj, jj] - l @ l <= DEPENDENT_RTOL * G[jj, jj]:
            status = STATUS_DEPENDENT
            break
        del Gt
        active.append(jj)
        signs.append(1.0 if (positive or c[jj] > 0) else -1.0)
        z = np.append(z, 0.0)
        dropped = -1
    if active and status != STATUS_MAX_ITER:
        s = np.array(signs)
        zr = np.linalg.solve(G[np.ix_(active, active)], c0[active] - lam * s)
        if not ((lasso or positive) and (zr * s < 0).any()):
            z = zr
    if positive:
        z = np.maximum(z, 0.0)
    code[active] = z
    return code, n_iter, status, lam, active
