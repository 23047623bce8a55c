r"""Batched ISTA / FISTA for :math:`\min_z \tfrac12\|x - A z\|^2 + \alpha\,\Omega(z)`.

One call solves many problems at once (one signal per row). Products are done on the
whole *active* batch (BLAS or the caller's operator); everything elementwise (the
proximal step, the momentum, the adaptive restart, the convergence test) is fused in
Numba passes, parallel over rows for large batches. A row that meets its convergence
test is recorded and frozen at once; the batch is compacted when a quarter of it is
frozen.

Two forms of the smooth part share the same loop; both carry an affine *image* of the
iterate, so that the extrapolation ``y = z + beta (z - z_prev)`` is applied to the image
too and no extra product is needed:

* operator form: image ``I(z) = A z - x`` (the residual); gradient ``A^T I``; smooth
  value ``0.5 ||I||^2``. Two products (forward, adjoint) per iteration.
* Gram form (dense dictionaries): image ``I(z) = z G - x D^T`` (the gradient itself).
  Once the iterates are sparse (at most ``GRAM_DENSE_FRACTION`` nonzero) the whole
  iteration is one fused Numba pass per row (:func:`gram_step`): prox step, ``z_new G``
  accumulated over the nonzeros of ``z_new`` only (``nnz * k`` instead of ``k * k`` or
  ``2 k f`` flops), momentum and convergence test; before that, ``Z G`` is one BLAS
  product.

Penalty codes: 0 l1, 1 non-negative l1, 2 elastic net, 3 group lasso. For codes 0-2
``thresh`` holds ``alpha * weight`` per coefficient; for 3 ``alpha * weight`` per group.

References
----------
A. Beck, M. Teboulle, "A fast iterative shrinkage-thresholding algorithm for linear
inverse problems", SIAM J. Imaging Sci. 2(1), 183-202 (2009), doi:10.1137/080716542.
B. O'Donoghue, E. Candès, "Adaptive restart for accelerated gradient schemes",
Found. Comput. Math. 15, 715-732 (2015), doi:10.1007/s10208-013-9150-3.
"""

from __future__ import annotations

import math

import numpy as np

from .._jit import jit, pjit, prange

PENALTIES = {"l1": 0, "l1_positive": 1, "elastic_net": 2, "group": 3}


@jit(fastmath=True)
def _prox_grad_row(i, Y, G, inv_L, thresh, penalty, l1_ratio, order, ptr, Z):
    n = Y.shape[1]
    s = inv_L[i]
    if penalty == 3:
        for j in range(n):
            Z[i, j] = Y[i, j] - s * G[i, j]
        for g in range(ptr.shape[0] - 1):
            acc = 0.0
            for p in range(ptr[g], ptr[g + 1]):
                v = Z[i, order[p]]
                acc += v * v
            norm = math.sqrt(acc)
            tv = s * thresh[g]
            scale = 1.0 - tv / norm if norm > tv else 0.0
            for p in range(ptr[g], ptr[g + 1]):
                Z[i, order[p]] *= scale
    elif penalty == 1:
        for j in range(n):
            a = Y[i, j] - s * G[i, j] - s * thresh[j]
            Z[i, j] = a if a > 0 else 0.0
    elif penalty == 2:
        for j in range(n):
            v = Y[i, j] - s * G[i, j]
            tv = s * thresh[j]
            a = abs(v) - tv * l1_ratio
            Z[i, j] = math.copysign(a, v) / (1.0 + tv * (1.0 - l1_ratio)) if a > 0 else 0.0
    else:
        for j in range(n):
            v = Y[i, j] - s * G[i, j]
            a = abs(v) - s * thresh[j]
            Z[i, j] = math.copysign(a, v) if a > 0 else 0.0


@pjit
def _prox_grad_step_parallel(Y, G, inv_L, thresh, penalty, l1_ratio, order, ptr, Z):
    for i in prange(Y.shape[0]):
        _prox_grad_row(i, Y, G, inv_L, thresh, penalty, l1_ratio, order, ptr, Z)


@jit
def _prox_grad_step_serial(Y, G, inv_L, thresh, penalty, l1_ratio, order, ptr, Z):
    for i in range(Y.shape[0]):
        _prox_grad_row(i, Y, G, inv_L, thresh, penalty, l1_ratio, order, ptr, Z)


#: Gram form: while more than this fraction of the coefficients of the batch are
#: nonzero, the gradient of the new iterate is one BLAS product ``Z G`` (about ten times
#: the flop rate of the sparse accumulation of :func:`gram_step`).
GRAM_DENSE_FRACTION = 0.1

#: Below this many elements a batch is processed on one thread: a parallel launch
#: costs more than it saves (and much more on an oversubscribed machine).
PARALLEL_MIN_SIZE = 1 << 16


def prox_grad_step(Y, G, inv_L, thresh, penalty, l1_ratio, order, ptr, Z):
    """``Z[i] = prox_{inv_L[i] * Omega}(Y[i] - inv_L[i] * G[i])`` for every row."""
    f = _prox_grad_step_parallel if Y.size >= PARALLEL_MIN_SIZE else _prox_grad_step_serial
    f(Y, G, inv_L, thresh, penalty, l1_ratio, order, ptr, Z)


@jit(fastmath=True)
def _momentum_row(i, Z, Y, IZ, IY, Znew, Inew, t, accelerated, restart, tol2, done):
    n = Z.shape[1]
    p = IZ.shape[1]
    r2 = 0.0
    z2 = 0.0
    ip = 0.0
    for j in range(n):
        zn = Znew[i, j]
        d = zn - Y[i, j]
        r2 += d * d
        z2 += zn * zn
        ip -= d * (zn - Z[i, j])
    done[i] = r2 <= tol2 * z2
    beta = 0.0
    if accelerated:
        if restart and ip > 0:
            t[i] = 1.0
        else:
            tn = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t[i] * t[i]))
            beta = (t[i] - 1.0) / tn
            t[i] = tn
    for j in range(n):
        zn = Znew[i, j]
        Y[i, j] = zn + beta * (zn - Z[i, j])
        Z[i, j] = zn
    for j in range(p):
        v = Inew[i, j]
        IY[i, j] = v + beta * (v - IZ[i, j])
        IZ[i, j] = v


@pjit
def _momentum_update_parallel(Z, Y, IZ, IY, Znew, Inew, t, accelerated, restart, tol2, done):
    for i in prange(Z.shape[0]):
        _momentum_row(i, Z, Y, IZ, IY, Znew, Inew, t, accelerated, restart, tol2, done)


@jit
def _momentum_update_serial(Z, Y, IZ, IY, Znew, Inew, t, accelerated, restart, tol2, done):
    for i in range(Z.shape[0]):
        _momentum_row(i, Z, Y, IZ, IY, Znew, Inew, t, accelerated, restart, tol2, done)


def momentum_update(Z, Y, IZ, IY, Znew, Inew, t, accelerated, restart, tol, done):
    """Convergence test, momentum (with adaptive restart) and state update, per row.

    Converged when ``||Znew - Y|| <= tol * ||Znew||`` (the gradient-mapping step,
    relative). Restart (gradient scheme of O'Donoghue & Candès) when
    ``<Y - Znew, Znew - Z> > 0``. Afterwards ``Z, IZ`` hold the new iterate and ``Y, IY``
    the extrapolated point.
    """
    f = _momentum_update_parallel if Z.size >= PARALLEL_MIN_SIZE else _momentum_update_serial
    f(Z, Y, IZ, IY, Znew, Inew, t, bool(accelerated), bool(restart), float(tol) ** 2, done)


@jit(fastmath=True)
def _gram_row(i, Z, Y, IZ, IY, t, inv_L, thresh, penalty, l1_ratio, order, ptr, G, B,
              accelerated, restart, tol2, Zs, Is, done):
    """One whole Gram-form iteration for row ``i``: prox step from the gradient ``IY``,
    gradient of the new iterate accumulated over its nonzeros only, momentum."""
    k = Z.shape[1]
    _prox_grad_row(i, Y, IY, inv_L, thresh, penalty, l1_ratio, order, ptr, Zs)
    zn = Zs[i]
    inew = Is[i]
    for q in range(k):
        inew[q] = -B[i, q]
    for j in range(k):
        zj = zn[j]
        if zj != 0.0:
            gj = G[j]
            for q in range(k):
                inew[q] += zj * gj[q]
    _momentum_row(i, Z, Y, IZ, IY, Zs, Is, t, accelerated, restart, tol2, done)


@pjit
def _gram_step_parallel(Z, Y, IZ, IY, t, inv_L, thresh, penalty, l1_ratio, order, ptr, G, B,
                        accelerated, restart, tol2, Zs, Is, done, frozen):
    for i in prange(Z.shape[0]):
        if frozen[i]:
            continue
        _gram_row(i, Z, Y, IZ, IY, t, inv_L, thresh, penalty, l1_ratio, order, ptr, G, B,
                  accelerated, restart, tol2, Zs, Is, done)


@jit
def _gram_step_serial(Z, Y, IZ, IY, t, inv_L, thresh, penalty, l1_ratio, order, ptr, G, B,
                      accelerated, restart, tol2, Zs, Is, done, frozen):
    for i in range(Z.shape[0]):
        if frozen[i]:
            continue
        _gram_row(i, Z, Y, IZ, IY, t, inv_L, thresh, penalty, l1_ratio, order, ptr, G, B,
                  accelerated, restart, tol2, Zs, Is, done)


def gram_step(Z, Y, IZ, IY, t, inv_L, thresh, penalty, l1_ratio, order, ptr, G, B,
              accelerated, restart, tol, Zs, Is, done, frozen):
    """A full FISTA iteration in the Gram form for every row (one fused pass).

    ``IZ``/``IY`` hold the gradients ``z G - B`` at ``Z``/``Y``; ``Zs``/``Is`` are scratch.
    The product ``z_new G`` costs ``nnz(z_new) * k`` per row instead of ``k * k``.
    Rows flagged in ``frozen`` (already converged) are skipped.
    """
    f = _gram_step_parallel if Z.size >= PARALLEL_MIN_SIZE // 4 else _gram_step_serial
    f(Z, Y, IZ, IY, t, inv_L, thresh, penalty, l1_ratio, order, ptr, G, B,
      bool(accelerated), bool(restart), float(tol) ** 2, Zs, Is, done, frozen)


def _rowdot(a, b):
    return np.einsum("ij,ij->i", a, b)


def custom_prox_step(prox):
    """A proximal-gradient step ``Z = prox(Y - inv_L * G, inv_L)`` for a caller's ``prox``.

    Rows sharing a step size are passed to ``prox(V, step)`` together (``step`` a Python
    float), so a prox that only takes scalar steps works with per-row backtracking.
    """

    def step(Y, G, inv_L, thresh, penalty, l1_ratio, order, ptr, Z):
        V = Y - inv_L[:, None] * G
        values = np.unique(inv_L)
        groups = [(slice(None), values[0])] if values.size == 1 else [
            (np.flatnonzero(inv_L == v), v) for v in values]
        for rows, s in groups:
            out = np.asarray(prox(V[rows], float(s)))
            if out.shape != V[rows].shape:
                raise ValueError(
                    f"prox must return an array of the shape of its input {V[rows].shape}, "
                    f"got {out.shape}.")
            Z[rows] = out
    return step


def fista_solve(Z0, L0, thresh, penalty, l1_ratio, order, ptr, *, max_iter, tol,
                accelerated=True, restart=True, backtracking=False, X=None, forward=None,
                adjoint=None, gram=None, corr=None, eta=2.0, prox=None, callback=None):
    """Run batched (F)ISTA from ``Z0`` (not modified); returns ``Z, n_iter, converged, L``.

    Operator form: pass ``X``, ``forward`` and ``adjoint`` (optionally ``backtracking``).
    Gram form: pass ``gram`` (``D D^T``) and ``corr`` (``X D^T``); iterations are then
    one fused Numba pass (:func:`gram_step`) once the iterates are sparse. ``L0`` is the (initial)
    Lipschitz constant; with ``backtracking`` it is increased per row by ``eta`` until
    the sufficient-decrease condition of Beck & Teboulle holds.

    ``prox`` (operator form only): a callable ``prox(V, step)`` replacing the built-in
    penalties (``thresh``... are then ignored). ``callback(it, current)`` is called
    after every iteration with the iteration number and a function returning the
    current iterate of all rows; a true return value stops the solve (rows not yet
    converged then report ``n_iter = it``).
    """
    dtype = Z0.dtype
    n = Z0.shape[0]
    gram_form = gram is not None
    if gram_form and backtracking:
        raise ValueError("backtracking needs the operator form")
    if gram_form and prox is not None:
        raise ValueError("a custom prox needs the operator form")
    step_fn = prox_grad_step if prox is None else custom_prox_step(prox)
    data = corr if gram_form else X

    def image(Zs, data_s):
        if gram_form:
            out = Zs @ gram
        else:
            out = np.array(forward(Zs), dtype=dtype, order="C")
        out -= data_s
        return out

    def gradient(Is):
        return Is if gram_form else np.ascontiguousarray(adjoint(Is), dtype=dtype)

    out = np.array(Z0, dtype=dtype, order="C", copy=True)
    n_iter = np.full(n, max_iter, dtype=np.int64)
    converged = np.zeros(n, dtype=bool)
    L_out = np.full(n, L0, dtype=np.float64)
    active = np.arange(n)
    Z = out.copy()
    Y = Z.copy()
    IZ = image(Z, data)
    IY = IZ.copy()
    L = np.full(n, L0, dtype=np.float64)
    t = np.ones(n, dtype=np.float64)
    Znew = np.empty_like(Z)
    Inew = np.empty_like(IZ)
    done = np.zeros(n, dtype=np.bool_)
    frozen = np.zeros(n, dtype=np.bool_)
    l1r = float(l1_ratio)
    for it in range(1, max_iter + 1):
        if gram_form and np.count_nonzero(Z) <= GRAM_DENSE_FRACTION * Z.size:
            gram_step(Z, Y, IZ, IY, t, 1.0 / L, thresh, penalty, l1r, order, ptr, gram, data,
                      accelerated, restart, tol, Znew, Inew, done, frozen)
        elif gram_form:
            # Dense iterates (the first iterations): one BLAS product beats the sparse
            # accumulation.
            prox_grad_step(Y, IY, 1.0 / L, thresh, penalty, l1r, order, ptr, Znew)
            np.matmul(Znew, gram, out=Inew)
            Inew -= data
            momentum_update(Z, Y, IZ, IY, Znew, Inew, t, accelerated, restart, tol, done)
        else:
            Gy = gradient(IY)
            step_fn(Y, Gy, 1.0 / L, thresh, penalty, l1r, order, ptr, Znew)
            Inew = image(Znew, data)
            if backtracking:
                _backtrack(Y, Gy, IY, Znew, Inew, L, data, image, thresh, penalty, l1r,
                           order, ptr, eta, step_fn)
            momentum_update(Z, Y, IZ, IY, Znew, Inew, t, accelerated, restart, tol, done)
        new = done & ~frozen
        finished = False
        if new.any():
            # Converged rows are recorded at once and frozen (skipped by the Gram kernel);
            # the batch is compacted only when a quarter of it is frozen, so that the
            # copies stay a small fraction of the work.
            idx = active[new]
            out[idx] = Z[new]
            n_iter[idx] = it
            converged[idx] = True
            L_out[idx] = L[new]
            frozen |= new
            n_frozen = int(frozen.sum())
            finished = n_frozen == active.size
            if not finished and 4 * n_frozen >= active.size:
                keep = ~frozen
                active = active[keep]
                Z, Y, IZ, IY = Z[keep], Y[keep], IZ[keep], IY[keep]
                data, L, t = data[keep], L[keep], t[keep]
                Znew = np.empty_like(Z)
                Inew = np.empty_like(IZ)
                done = np.zeros(active.size, dtype=np.bool_)
                frozen = np.zeros(active.size, dtype=np.bool_)
        if callback is not None:
            def current(Z=Z, active=active, frozen=frozen):
                res = out.copy()
                keep = ~frozen
                res[active[keep]] = Z[keep]
                return res

            if callback(it, current):
                keep = ~frozen
                n_iter[active[keep]] = it
                out[active[keep]] = Z[keep]
                L_out[active[keep]] = L[keep]
                break
        if finished:
            break
    else:
        keep = ~frozen
        out[active[keep]] = Z[keep]
        L_out[active[keep]] = L[keep]
    return out, n_iter, converged, L_out


def _backtrack(Y, Gy, IY, Znew, Inew, L, data, image, thresh, penalty, l1r, order, ptr, eta,
               step_fn=prox_grad_step):
    """Operator form: raise ``L`` per row until ``f(z+) <= Q_L(z+, y)`` (in place)."""
    dtype = Y.dtype
    fy = 0.5 * _rowdot(IY, IY)
    # Rounding in f(z+) and Q_L scales with the data, not with f(y): near an exact fit
    # f(y) -> 0 and a slack relative to it would make every step "fail" and L overflow.
    scale = np.abs(fy) + 0.5 * _rowdot(data, data) if data is not None else np.abs(fy)
    slack = 1e3 * np.finfo(dtype).eps * scale + np.finfo(dtype).tiny
    for _ in range(64):
        D = Znew - Y
        q = fy + _rowdot(Gy, D) + 0.5 * L * _rowdot(D, D)
        bad = np.flatnonzero(0.5 * _rowdot(Inew, Inew) > q + slack)
        if bad.size == 0:
            return
        L[bad] *= eta
        Zb = np.empty((bad.size, Y.shape[1]), dtype=dtype)
        step_fn(np.ascontiguousarray(Y[bad]), np.ascontiguousarray(Gy[bad]),
                1.0 / L[bad], thresh, penalty, l1r, order, ptr, Zb)
        Znew[bad] = Zb
        Inew[bad] = image(Zb, data[bad])


def penalty_value(Z, thresh, penalty, l1_ratio, order, ptr):
    """``alpha * Omega(z)`` per row (``thresh`` already includes ``alpha``)."""
    Z = np.asarray(Z, dtype=np.float64)
    if penalty == 3:
        out = np.zeros(Z.shape[0])
        for g in range(ptr.shape[0] - 1):
            cols = order[ptr[g]:ptr[g + 1]]
            out += thresh[g] * np.linalg.norm(Z[:, cols], axis=1)
        return out
    if penalty == 2:
        return (np.abs(Z) * l1_ratio + 0.5 * (1 - l1_ratio) * Z**2) @ thresh
    return np.abs(Z) @ thresh


# --------------------------------------------------------------------------- NumPy


def fista_reference(X, D, alpha, *, penalty="l1", l1_ratio=1.0, groups=None, weights=None,
                    n_iter=5000, accelerated=True):
    """Plain FISTA (or ISTA) on a dense dictionary, fixed step ``1/||D||_2^2``, no
    restart, no early exit: the textbook algorithm, for tests."""
    X = np.asarray(X, dtype=np.float64)
    D = np.asarray(D, dtype=np.float64)
    L = np.linalg.norm(D, 2) ** 2
    k = D.shape[0]
    w = np.ones(k) if weights is None else np.asarray(weights, dtype=np.float64)

    def prox(V, s):
        if penalty == "l1":
            return np.sign(V) * np.maximum(np.abs(V) - s * alpha * w, 0)
        if penalty == "l1_positive":
            return np.maximum(V - s * alpha * w, 0)
        if penalty == "elastic_net":
            tv = s * alpha * w
            return np.sign(V) * np.maximum(np.abs(V) - tv * l1_ratio, 0) / (1 + tv * (1 - l1_ratio))
        out = np.zeros_like(V)
        for gi, g in enumerate(np.unique(groups)):
            cols = np.flatnonzero(np.asarray(groups) == g)
            nrm = np.linalg.norm(V[:, cols], axis=1, keepdims=True)
            tv = s * alpha * w[gi]
            out[:, cols] = np.maximum(1 - tv / np.maximum(nrm, 1e-300), 0) * V[:, cols]
        return out

    Z = np.zeros((X.shape[0], k))
    Y = Z.copy()
    t = 1.0
    for _ in range(n_iter):
        Zn = prox(Y - (Y @ D - X) @ D.T / L, 1.0 / L)
        if accelerated:
            tn = 0.5 * (1 + np.sqrt(1 + 4 * t * t))
            Y = Zn + (t - 1) / tn * (Zn - Z)
            t = tn
        else:
            Y = Zn
        Z = Zn
    return Z
