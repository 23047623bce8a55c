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
as Rubinstein's Batch-OMP, with contiguous inner loops that Numba vectorises: the
orthogonalisation, the axpy and the argmax are branch-free loops over the atoms, and no
array view is created per signal or per iteration (each one is an atomic reference-count
update on a shared array).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .._jit import jit, pjit, prange

# Kernel status codes of one signal, stored in ``n_iter`` only as counts; the reasons
# are not needed downstream but documented here for the reader:
#   stop by sparsity  -> n_iter == max_k
#   stop by tolerance -> squared residual <= tol
#   stop because the best remaining correlation is ~0 (residual orthogonal to D) or the
#   best atom is linearly dependent on the selected ones.


@intrinsic
def _abs_key(typingctx, x):
    """``|x|`` as an integer of the float's width: its bits with the sign bit cleared.

    Non-negative IEEE floats (finite or infinite) order as their bit patterns, so a max
    of keys is a max of ``|x|`` computed by integer instructions: they vectorise where a
    float max reduction stays scalar in Numba (its NaN semantics), and a compare-and-
    branch argmax was a third of Batch-OMP's time. The key keeps the float's width: the
    same with ``x.view(np.int32) & mask`` was promoted to int64 by Numba, and float32
    searches ran at half the vector width.
    """
    if x == types.float64:
        ity, mask = types.int64, 0x7FFFFFFFFFFFFFFF
    elif x == types.float32:
        ity, mask = types.int32, 0x7FFFFFFF
    else:
        return None

    def codegen(context, builder, signature, args):
        lty = context.get_value_type(ity)
        return builder.and_(builder.bitcast(args[0], lty), ir.Constant(lty, mask))

    return ity(x), codegen


@intrinsic
def _pack_key(typingctx, key, t, hi, nmax):
    """``(key & hi) | (nmax - t)``, all in the integer type of ``key``.

    With ``nmax = 2**nb - 1 >= t`` and ``hi = ~nmax``, the packed keys order as the keys
    truncated by their ``nb`` low bits, and among equal truncated keys the smallest
    ``t`` is the largest: the max of the packed keys names, in its low bits, the first
    atom of the largest truncated key. One vectorised reduction thus carries an argmax
    candidate (see :func:`_select` for how it is confirmed exactly). ``t``, ``hi``
    and ``nmax`` are truncated or sign-extended to the key's width (float32 keys stay
    int32: a promotion to int64 halved the vector width).
    """
    if not isinstance(key, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        lty = context.get_value_type(key)

        def convert(value, ty):
            width = context.get_value_type(ty).width
            if width > lty.width:
                return builder.trunc(value, lty)
            if width < lty.width:
                return builder.sext(value, lty)
            return value

        k, tt, h, m = args
        tt, h, m = convert(tt, t), convert(h, hi), convert(m, nmax)
        return builder.or_(builder.and_(k, h), builder.sub(m, tt))

    return key(key, t, hi, nmax), codegen


@jit
def _pack_params(n_atoms, itemsize):
    """``(hi, nmax)`` for :func:`_pack_key` over ``n_atoms`` atoms: ``nb`` low bits for
    the index, or ``(-1, 0)`` (no index: every candidate then goes to the exact search)
    when the key has no room for it (over 2**20 float32 or 2**40 float64 atoms)."""
    nb = 0
    while (1 << nb) < n_atoms:
        nb += 1
    if nb > (20 if itemsize == 4 else 40):
        return -1, 0
    nmax = (1 << nb) - 1
    return ~nmax, nmax


@jit
def _max_key(alpha):
    """``max_t _abs_key(alpha[t])``: one branch-free, vectorised integer reduction."""
    b = _abs_key(alpha.dtype.type(0.0))
    for t in range(alpha.shape[0]):
        b = max(b, _abs_key(alpha[t]))
    return b


@jit
def _find_key(alpha, b):
    """First index ``t`` with ``_abs_key(alpha[t]) == b``, ``len(alpha)`` if none.

    A branch-free min over the indices that hold the key (vectorised); a loop that
    returns at the first hit was slower (its branch stops the vectoriser).
    """
    n = alpha.shape[0]
    j = n
    for t in range(n):
        c = t if _abs_key(alpha[t]) == b else n
        j = min(j, c)
    return j


@jit
def _argmax_abs(alpha):
    """First index of the largest ``|alpha|`` (``np.argmax(np.abs(alpha))``)."""
    return _find_key(alpha, _max_key(alpha))


@jit
def _reduce_keys(a, t, b, p, hi, nmax):
    """``(max(b, key), max(p, packed key))`` of the entry ``a`` at atom ``t``: the two
    running reductions every loop over updated correlations carries (scalars only, so
    it inlines into the vectorised loops)."""
    q = _abs_key(a)
    return max(b, q), max(p, _pack_key(q, t, hi, nmax))


@jit
def _select(alpha, bk, pk, nmax, skip):
    """The first atom holding the largest key ``bk`` of ``alpha`` (its packed-key max
    ``pk``), not ``skip`` (the atom just selected, whose entry was zeroed).

    The candidate the packed keys name holds the largest key only if its own key is
    ``bk`` (else an atom of a later index shares its truncated key); confirmed, it is
    the first atom holding that key, as the search would find, and no pass is made. Not
    confirmed, the search runs; if ``bk`` was only ``skip``'s rounding residue, just
    zeroed, the largest of the others is searched for.
    """
    n = alpha.shape[0]
    t = nmax - (pk & nmax)
    if t != skip and t < n and _abs_key(alpha[t]) == bk:
        return t
    j = _find_key(alpha, bk)
    if j == n:
        j = _argmax_abs(alpha)
    return j


@intrinsic
def _fnma(typingctx, a, b, c):
    """``c - a * b`` as one ``llvm.fmuladd(-a, b, c)``: a fused multiply-add where the
    CPU has one (one rounding), else a multiply and an addition."""
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, signature, args):
        x, y, z = args
        fn = builder.module.declare_intrinsic("llvm.fmuladd", [x.type],
                                              ir.FunctionType(x.type, [x.type] * 3))
        return builder.call(fn, [builder.fneg(x), y, z])

    return a(a, b, c), codegen


# No fastmath in this module: with it, LLVM contracted and reassociated the row updates
# differently in the dense and the slot kernels that inline them, and their codes
# differed in the last bits (caught by the sparse-equals-dense tests on a fresh install);
# the loops vectorise without it (no float reductions) and ran as fast.
@jit
def _orthogonalize_axpy(G, U, j, k, inv_d, alpha, ck, hi, nmax):
    """``U[k] = (G[j] - sum_{m<k} U[m, j] U[m]) * inv_d`` and ``alpha -= ck * U[k]``;
    returns ``_max_key`` of the updated ``alpha`` and the max of its packed keys
    (:func:`_pack_key` with ``hi``, ``nmax``), which names the atom that holds it.

    Rows of ``U`` are subtracted six per pass over ``U[k]``, which holds the partial
    sum ``-sum_m U[m, j] U[m]`` between passes; the last pass (one to six rows) adds
    ``G[j]``, scales the row and updates ``alpha`` in the same loop. ``G[j]`` is read
    last because its row comes from L3 (the Gram matrix is shared and, at 1024 atoms,
    8 MB): an extra pass over a random Gram row cost 0.25 us per signal-iteration against
    0.09 us over a cached row, and in the last pass its fetch overlaps that pass's
    arithmetic. Against four rows per pass with ``G[j]`` read first, this was 3-4 %
    faster on 256 x 1024, k = 16 (2 threads, medians of 15 shuffled rounds, twice;
    unchanged on 64 x 256, k = 8); six rows with ``G[j]`` first gained 1 %, four with it
    last 2.5 %, five or eight rows with it last 1-3 % (2026-12-03, session prototypes).
    The codes differ from the earlier order's in their last bits only (1.6e-15).
    Each case is its own loop, written out: helpers taking the source row
    as an argument (``G`` or ``U`` itself) made LLVM's overlap check fail and run the
    scalar loop, padding short passes with zero coefficients cost a tenth of the
    time of small problems, and merging each first pass (which starts from zero) with
    the later ones by ``c = U[k, t] if m else 0`` (eight loops instead of fifteen; codes
    bit-identical) made the kernel 1.8-2x slower: the select stays in the loop and stops
    the vectoriser (2026-12-03, paired runs on both benchmark cases). Everything is indexed as ``U[m, t]`` rather than through row
    views: a view of a shared array costs two atomic reference-count updates, and with
    every thread making them on the same Gram matrix its cache line bounced between the
    cores (the views cost more than the arithmetic: Batch-OMP ran about 3x faster
    without them).

    The loop that updates ``alpha`` also reduces the keys of its new entries, so the
    next atom's search is one pass (:func:`_find_key`) instead of two over ``alpha``:
    6 % of float64 Batch-OMP's time at 256 x 1024, k = 16, and 25 % of float32's
    (``benchmarks/results/omp.md``). The same loop also reduces the packed keys, whose
    max names the atom that holds the largest key, so that search is no pass at all
    unless the candidate fails its check in :func:`_select` (4-8 % of float64's
    time; the codes are unchanged by it).

    Each product is subtracted by one multiply-add, ``_fnma(s, u, acc) = acc - s * u``
    (``llvm.fmuladd``: fused where the CPU has FMA, a multiply and a subtraction where
    not), row after row: 2-7 % faster than summing the products of a pass first
    (the row passes are bound by the arithmetic once ``U`` streams from L2), and as
    accurate. The operations are explicit, so every kernel inlining this one rounds
    alike (fast-math let LLVM contract them differently in the dense and slot kernels).
    """
    n = U.shape[1]
    b = _abs_key(alpha.dtype.type(0.0))
    p = b
    if k == 0:
        for t in range(n):
            x = G[j, t] * inv_d
            U[0, t] = x
            a = _fnma(ck, x, alpha[t])
            alpha[t] = a
            b, p = _reduce_keys(a, t, b, p, hi, nmax)
        return b, p
    m = 0
    while m < k:
        r = min(6, k - m)
        last = m + r == k
        if r == 6:
            s0 = U[m, j]
            s1 = U[m + 1, j]
            s2 = U[m + 2, j]
            s3 = U[m + 3, j]
            s4 = U[m + 4, j]
            s5 = U[m + 5, j]
            if m == 0 and last:
                for t in range(n):
                    c = alpha.dtype.type(0.0)
                    c = _fnma(s0, U[m, t], c)
                    c = _fnma(s1, U[m + 1, t], c)
                    c = _fnma(s2, U[m + 2, t], c)
                    c = _fnma(s3, U[m + 3, t], c)
                    c = _fnma(s4, U[m + 4, t], c)
                    c = _fnma(s5, U[m + 5, t], c)
                    c = G[j, t] + c
                    x = c * inv_d
                    U[k, t] = x
                    a = _fnma(ck, x, alpha[t])
                    alpha[t] = a
                    b, p = _reduce_keys(a, t, b, p, hi, nmax)
            elif m == 0:
                for t in range(n):
                    c = alpha.dtype.type(0.0)
                    c = _fnma(s0, U[m, t], c)
                    c = _fnma(s1, U[m + 1, t], c)
                    c = _fnma(s2, U[m + 2, t], c)
                    c = _fnma(s3, U[m + 3, t], c)
                    c = _fnma(s4, U[m + 4, t], c)
                    c = _fnma(s5, U[m + 5, t], c)
                    U[k, t] = c
            elif last:
                for t in range(n):
                    c = U[k, t]
                    c = _fnma(s0, U[m, t], c)
                    c = _fnma(s1, U[m + 1, t], c)
                    c = _fnma(s2, U[m + 2, t], c)
                    c = _fnma(s3, U[m + 3, t], c)
                    c = _fnma(s4, U[m + 4, t], c)
                    c = _fnma(s5, U[m + 5, t], c)
                    c = G[j, t] + c
                    x = c * inv_d
                    U[k, t] = x
                    a = _fnma(ck, x, alpha[t])
                    alpha[t] = a
                    b, p = _reduce_keys(a, t, b, p, hi, nmax)
            else:
                for t in range(n):
                    c = U[k, t]
                    c = _fnma(s0, U[m, t], c)
                    c = _fnma(s1, U[m + 1, t], c)
                    c = _fnma(s2, U[m + 2, t], c)
                    c = _fnma(s3, U[m + 3, t], c)
                    c = _fnma(s4, U[m + 4, t], c)
                    c = _fnma(s5, U[m + 5, t], c)
                    U[k, t] = c
        elif r == 5:
            s0 = U[m, j]
            s1 = U[m + 1, j]
            s2 = U[m + 2, j]
            s3 = U[m + 3, j]
            s4 = U[m + 4, j]
            if m == 0:
                for t in range(n):
                    c = alpha.dtype.type(0.0)
                    c = _fnma(s0, U[m, t], c)
                    c = _fnma(s1, U[m + 1, t], c)
                    c = _fnma(s2, U[m + 2, t], c)
                    c = _fnma(s3, U[m + 3, t], c)
                    c = _fnma(s4, U[m + 4, t], c)
                    c = G[j, t] + c
                    x = c * inv_d
                    U[k, t] = x
                    a = _fnma(ck, x, alpha[t])
                    alpha[t] = a
                    b, p = _reduce_keys(a, t, b, p, hi, nmax)
            else:
                for t in range(n):
                    c = U[k, t]
                    c = _fnma(s0, U[m, t], c)
                    c = _fnma(s1, U[m + 1, t], c)
                    c = _fnma(s2, U[m + 2, t], c)
                    c = _fnma(s3, U[m + 3, t], c)
                    c = _fnma(s4, U[m + 4, t], c)
                    c = G[j, t] + c
                    x = c * inv_d
                    U[k, t] = x
                    a = _fnma(ck, x, alpha[t])
                    alpha[t] = a
                    b, p = _reduce_keys(a, t, b, p, hi, nmax)
        elif r == 4:
            s0 = U[m, j]
            s1 = U[m + 1, j]
            s2 = U[m + 2, j]
            s3 = U[m + 3, j]
            if m == 0:
                for t in range(n):
                    c = alpha.dtype.type(0.0)
                    c = _fnma(s0, U[m, t], c)
                    c = _fnma(s1, U[m + 1, t], c)
                    c = _fnma(s2, U[m + 2, t], c)
                    c = _fnma(s3, U[m + 3, t], c)
                    c = G[j, t] + c
                    x = c * inv_d
                    U[k, t] = x
                    a = _fnma(ck, x, alpha[t])
                    alpha[t] = a
                    b, p = _reduce_keys(a, t, b, p, hi, nmax)
            else:
                for t in range(n):
                    c = U[k, t]
                    c = _fnma(s0, U[m, t], c)
                    c = _fnma(s1, U[m + 1, t], c)
                    c = _fnma(s2, U[m + 2, t], c)
                    c = _fnma(s3, U[m + 3, t], c)
                    c = G[j, t] + c
                    x = c * inv_d
                    U[k, t] = x
                    a = _fnma(ck, x, alpha[t])
                    alpha[t] = a
                    b, p = _reduce_keys(a, t, b, p, hi, nmax)
        elif r == 3:
            s0 = U[m, j]
            s1 = U[m + 1, j]
            s2 = U[m + 2, j]
            if m == 0:
                for t in range(n):
                    c = alpha.dtype.type(0.0)
                    c = _fnma(s0, U[m, t], c)
                    c = _fnma(s1, U[m + 1, t], c)
                    c = _fnma(s2, U[m + 2, t], c)
                    c = G[j, t] + c
                    x = c * inv_d
                    U[k, t] = x
                    a = _fnma(ck, x, alpha[t])
                    alpha[t] = a
                    b, p = _reduce_keys(a, t, b, p, hi, nmax)
            else:
                for t in range(n):
                    c = U[k, t]
                    c = _fnma(s0, U[m, t], c)
                    c = _fnma(s1, U[m + 1, t], c)
                    c = _fnma(s2, U[m + 2, t], c)
                    c = G[j, t] + c
                    x = c * inv_d
                    U[k, t] = x
                    a = _fnma(ck, x, alpha[t])
                    alpha[t] = a
                    b, p = _reduce_keys(a, t, b, p, hi, nmax)
        elif r == 2:
            s0 = U[m, j]
            s1 = U[m + 1, j]
            if m == 0:
                for t in range(n):
                    c = alpha.dtype.type(0.0)
                    c = _fnma(s0, U[m, t], c)
                    c = _fnma(s1, U[m + 1, t], c)
                    c = G[j, t] + c
                    x = c * inv_d
                    U[k, t] = x
                    a = _fnma(ck, x, alpha[t])
                    alpha[t] = a
                    b, p = _reduce_keys(a, t, b, p, hi, nmax)
            else:
                for t in range(n):
                    c = U[k, t]
                    c = _fnma(s0, U[m, t], c)
                    c = _fnma(s1, U[m + 1, t], c)
                    c = G[j, t] + c
                    x = c * inv_d
                    U[k, t] = x
                    a = _fnma(ck, x, alpha[t])
                    alpha[t] = a
                    b, p = _reduce_keys(a, t, b, p, hi, nmax)
        elif r == 1:
            s0 = U[m, j]
            if m == 0:
                for t in range(n):
                    c = alpha.dtype.type(0.0)
                    c = _fnma(s0, U[m, t], c)
                    c = G[j, t] + c
                    x = c * inv_d
                    U[k, t] = x
                    a = _fnma(ck, x, alpha[t])
                    alpha[t] = a
                    b, p = _reduce_keys(a, t, b, p, hi, nmax)
            else:
                for t in range(n):
                    c = U[k, t]
                    c = _fnma(s0, U[m, t], c)
                    c = G[j, t] + c
                    x = c * inv_d
                    U[k, t] = x
                    a = _fnma(ck, x, alpha[t])
                    alpha[t] = a
                    b, p = _reduce_keys(a, t, b, p, hi, nmax)
        m += r
    return b, p


@jit
def omp_support(A, i, G, norm2, max_k, tol, tol_first, dep_eps, zero_eps, U, alpha, idx,
                c):
    """Batch-OMP for signal ``i``; leaves its support in ``idx[:k]`` and code in ``c[:k]``.

    Parameters
    ----------
    A : (n_signals, n_atoms) correlations ``X D^T``; row ``i`` is the signal's.
    i : row of ``A``.
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
    n_atoms = A.shape[1]
    hi, nmax = _pack_params(n_atoms, alpha.itemsize)
    bk = _abs_key(alpha.dtype.type(0.0))
    pk = bk
    for t in range(n_atoms):
        a = A[i, t]
        alpha[t] = a
        bk, pk = _reduce_keys(a, t, bk, pk, hi, nmax)
    rn2 = norm2
    if tol >= 0.0 and tol_first and rn2 <= tol:
        return 0
    j = _select(alpha, bk, pk, nmax, -1)
    scale = abs(alpha[j])
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
        inv_d = alpha.dtype.type(1.0 / math.sqrt(d2))
        ck = alpha[j] * inv_d
        rn2 -= ck * ck
        idx[k] = j
        c[k] = ck
        if k + 1 == max_k or (tol >= 0.0 and rn2 <= tol):
            # The last atom: its row of U and the correlations after it are never read
            # (no atom follows), only the Cholesky diagonal L[k, k] = sqrt(d2) that the
            # back-substitution divides by. Skipping the row update saves k of the
            # k (k + 1) / 2 row passes of a signal (an eighth at k = 16, all at k = 1).
            U[k, j] = d2 * inv_d
            k += 1
            break
        bk, pk = _orthogonalize_axpy(G, U, j, k, inv_d, alpha, ck, hi, nmax)
        alpha[j] = 0.0  # orthogonal to the residual; never selected again
        k += 1
        j = _select(alpha, bk, pk, nmax, j)  # the first atom of the largest key
        best = abs(alpha[j])
    # Back-substitution L^T gamma = c, with L[r, m] = U[m, idx[r]], L[m, m] = U[m, idx[m]];
    # gamma[m] replaces c[m] (only c[m] and gamma[r > m] are read at step m).
    for m in range(k - 1, -1, -1):
        s = c[m]
        for r in range(m + 1, k):
            s -= U[m, idx[r]] * c[r]
        c[m] = s / U[m, idx[m]]
    return k


@jit
def _write_row(codes, i, idx, c, k, zeroed):
    """Row ``i`` of the dense codes: zeros (unless ``zeroed``: the row already holds
    them), then ``c[:k]`` at the atoms ``idx[:k]``. With ``zeroed=False`` every entry is
    written, so ``codes`` may be uninitialised or a reused buffer."""
    if not zeroed:
        for t in range(codes.shape[1]):
            codes[i, t] = 0.0
    for m in range(k):
        codes[i, idx[m]] = c[m]


@pjit
def batch_omp(alpha0, G, norms2, max_k, tol, tol_first, codes, n_iter, zeroed=False):
    """Batch-OMP over many signals, parallel over signals.

    Parameters
    ----------
    alpha0 : (n_signals, n_atoms) C-contiguous, ``X @ D.T``.
    G : (n_atoms, n_atoms) C-contiguous Gram matrix.
    norms2 : (n_signals,) squared signal norms (ignored when ``tol < 0``).
    max_k : int, maximal number of atoms per signal (``<= n_atoms``).
    tol : float, squared residual target, negative for none.
    tol_first : bool, see :func:`omp_support`.
    codes : (n_signals, n_atoms) output, C-contiguous; every row is written (zeros
        included), so it may be uninitialised (``np.empty``) or a reused buffer.
    n_iter : (n_signals,) int64 output, number of atoms selected per signal.
    zeroed : bool, default False. True when ``codes`` already holds zeros (a fresh
        ``np.zeros``): only the nonzeros are written. A fresh ``np.zeros`` gets pages
        zeroed by the operating system as they are first touched, so writing the zeros
        again doubled the output's memory traffic (4-7 % of the fresh-output call).
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
            k = omp_support(alpha0, i, G, norms2[i], max_k, tol, tol_first, dep_eps,
                            zero_eps, U, alpha, idx, c)
            _write_row(codes, i, idx, c, k, zeroed)
            n_iter[i] = k


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
                    n_iter, zeroed=False):
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
                k = omp_support(blk, i - s, G, norms2[i], max_k, tol, tol_first, dep_eps,
                                zero_eps, U, alpha, idx, c)
                _write_row(codes, i, idx, c, k, zeroed)
                n_iter[i] = k


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
                k = omp_support(blk, i - s, G, norms2[i], max_k, tol, tol_first, dep_eps,
                                zero_eps, U, alpha, idx, c)
                for m in range(k):
                    slot_idx[i, m] = idx[m]
                    slot_val[i, m] = c[m]
                n_iter[i] = k
