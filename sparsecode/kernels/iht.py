r"""L0 solvers: normalised IHT (batched, operator form) and CoSaMP (Numba, per signal).

Both approximate :math:`\min_z \|x - A z\|_2^2` s.t. :math:`\|z\|_0 \le k`, one signal per
row.

* :func:`niht_solve` -- normalised iterative hard thresholding (Blumensath & Davies,
  2010): gradient step with the step size that is exact on the current support, hard
  thresholding to ``k`` entries, and the step-size shrinkage rule when the support
  changes. Three products per iteration on the active batch (adjoint of the residual,
  forward of the restricted gradient, forward of the new iterate); signals leave the
  batch when their iterate stops moving.
* :func:`cosamp_dense` -- CoSaMP (Needell & Tropp, 2009) with an explicit matrix:
  proxy from the Gram matrix, merge of the ``2k`` largest proxy entries with the current
  support, least squares on the merged support, pruning to ``k``; parallel over signals.

References
----------
T. Blumensath, M. E. Davies, "Normalized iterative hard thresholding: guaranteed
stability and performance", IEEE J. Sel. Topics Signal Process. 4(2), 298-309 (2010),
doi:10.1109/JSTSP.2010.2042411.
D. Needell, J. A. Tropp, "CoSaMP: Iterative signal recovery from incomplete and
inaccurate samples", Appl. Comput. Harmon. Anal. 26(3), 301-321 (2009),
doi:10.1016/j.acha.2008.07.002.
"""

from __future__ import annotations

import numpy as np

from .._jit import jit, pjit, prange
from .prox import top_k


def _rowdot(a, b):
    return np.einsum("ij,ij->i", a, b)


def niht_solve(X, forward, adjoint, k, Z0, *, max_iter, tol, c=0.01, kappa=2.0):
    """Batched normalised IHT from ``Z0`` (rows with at most ``k`` nonzeros).

    Returns ``Z, n_iter, converged``. A row converges when
    ``||z_new - z|| <= tol * ||z_new||`` or its residual vanishes.
    """
    dtype = X.dtype
    n = X.shape[0]
    shrink = 1.0 / (kappa * (1.0 - c))
    tiny = np.finfo(dtype).tiny

    def fwd(Z):
        return np.array(forward(Z), dtype=dtype, order="C")

    out = np.array(Z0, dtype=dtype, order="C", copy=True)
    n_iter = np.full(n, max_iter, dtype=np.int64)
    converged = np.zeros(n, dtype=bool)
    active = np.arange(n)
    Z = out.copy()
    Xa = X
    R = X - fwd(Z)
    xnorm2 = _rowdot(X, X)
    for it in range(1, max_iter + 1):
        g = np.ascontiguousarray(adjoint(R), dtype=dtype)
        mask = Z != 0
        empty = ~mask.any(axis=1)
        if empty.any():
            mask[empty] = top_k(np.ascontiguousarray(g[empty]), k, np.empty_like(g[empty])) != 0
        gG = np.where(mask, g, 0)
        num = _rowdot(gG, gG)
        Ag = fwd(gG)
        den = _rowdot(Ag, Ag)
        mu = np.where(den > 0, num / np.maximum(den, tiny), 0.0)
        # Restricted gradient zero (least-squares optimal on the support) but the full
        # gradient not: take the normalised step on the best k-term gradient instead.
        stuck = (num == 0) & (_rowdot(g, g) > 0)
        if stuck.any():
            gk = top_k(np.ascontiguousarray(g[stuck]), k, np.empty_like(g[stuck]))
            Agk = fwd(gk)
            mu[stuck] = _rowdot(gk, gk) / np.maximum(_rowdot(Agk, Agk), tiny)
        V = Z + mu[:, None] * g
        Zn = top_k(np.ascontiguousarray(V), k, np.empty_like(V))
        Rn = Xa - fwd(Zn)
        for _ in range(60):
            changed = ((Zn != 0) != mask).any(axis=1)
            dZ = Zn - Z
            dR = R - Rn  # = A (z_new - z)
            omega = (1.0 - c) * _rowdot(dZ, dZ) / np.maximum(_rowdot(dR, dR), tiny)
            bad = np.flatnonzero(changed & (mu > omega))
            if bad.size == 0:
                break
            mu[bad] *= shrink
            Vb = Z[bad] + mu[bad, None] * g[bad]
            Zb = top_k(np.ascontiguousarray(Vb), k, np.empty_like(Vb))
            Zn[bad] = Zb
            Rn[bad] = Xa[bad] - fwd(Zb)
        dZ = Zn - Z
        done = (_rowdot(dZ, dZ) <= tol * tol * _rowdot(Zn, Zn)) | (
            _rowdot(Rn, Rn) <= (np.finfo(dtype).eps ** 2) * xnorm2)
        Z, R = Zn, Rn
        if done.any():
            idx = active[done]
            out[idx] = Z[done]
            n_iter[idx] = it
            converged[idx] = True
            keep = ~done
            active = active[keep]
            if active.size == 0:
                break
            Z, R, Xa, xnorm2 = Z[keep], R[keep], Xa[keep], xnorm2[keep]
    else:
        out[active] = Z
    return out, n_iter, converged


@jit
def _solve_normal(G, c, T, m, L, y):
    """Least squares on the atoms ``T``: solve ``G[T, T] b = c[T]`` by Cholesky.

    Atoms (nearly) dependent on earlier ones in ``T`` get a zero coefficient (their
    pivot is below ``1e-10`` of their squared norm), so rank-deficient merged supports
    still give a least-squares solution.
    """
    b = np.zeros(m)
    ok = np.ones(m, dtype=np.bool_)
    for p in range(m):
        for q in range(p + 1):
            s = G[T[p], T[q]]
            for r in range(q):
                s -= L[p, r] * L[q, r]
            if q < p:
                L[p, q] = s / L[q, q] if ok[q] else 0.0
            else:
                if s > 1e-10 * G[T[p], T[p]]:
                    L[p, p] = np.sqrt(s)
                else:
                    ok[p] = False
                    L[p, p] = 1.0
                    for r in range(p):
                        L[p, r] = 0.0
    for p in range(m):
        s = c[T[p]]
        for r in range(p):
            s -= L[p, r] * y[r]
        y[p] = s / L[p, p] if ok[p] else 0.0
    for p in range(m - 1, -1, -1):
        s = y[p]
        for r in range(p + 1, m):
            s -= L[r, p] * b[r]
        b[p] = s / L[p, p] if ok[p] else 0.0
    return b


@jit
def _cosamp_row(x, c, D, G, k, max_iter, tol, z):
    """CoSaMP for one signal (float64 work arrays); returns ``(n_iter, converged)``."""
    n_features = x.shape[0]
    n_atoms = D.shape[0]
    k2 = min(2 * k, n_atoms)
    mmax = min(3 * k, n_atoms)
    proxy = np.empty(n_atoms)
    keys = np.empty(n_atoms)
    inT = np.zeros(n_atoms, dtype=np.bool_)
    cho = np.empty((mmax, mmax))
    rhs = np.empty(mmax)
    best = np.zeros(n_atoms)
    xn2 = 0.0
    for f in range(n_features):
        xn2 += x[f] * x[f]
    best_r2 = xn2
    for j in range(n_atoms):
        z[j] = 0.0
    for it in range(max_iter):
        # proxy = D r = c - G z (over the current support)
        for j in range(n_atoms):
            proxy[j] = c[j]
        for j in range(n_atoms):
            if z[j] != 0.0:
                zj = z[j]
                for q in range(n_atoms):
                    proxy[q] -= zj * G[j, q]
        for j in range(n_atoms):
            keys[j] = -abs(proxy[j])
            inT[j] = z[j] != 0.0
        order = np.argsort(keys, kind="mergesort")
        for p in range(k2):
            inT[order[p]] = True
        T = np.flatnonzero(inT)
        m = T.shape[0]
        b = _solve_normal(G, c, T, m, cho, rhs)
        # prune to the k largest |b|
        kb = np.empty(m)
        for p in range(m):
            kb[p] = -abs(b[p])
        ob = np.argsort(kb, kind="mergesort")
        d2 = 0.0
        n2 = 0.0
        for j in range(n_atoms):
            keys[j] = 0.0  # reused as the new code
        for p in range(min(k, m)):
            keys[T[ob[p]]] = b[ob[p]]
        for j in range(n_atoms):
            d = keys[j] - z[j]
            d2 += d * d
            n2 += keys[j] * keys[j]
            z[j] = keys[j]
        support = np.flatnonzero(z)
        r2 = 0.0
        for f in range(n_features):
            s = x[f]
            for j in support:
                s -= z[j] * D[j, f]
            r2 += s * s
        if r2 >= best_r2:
            # the residual stopped decreasing: return the best code met
            for j in range(n_atoms):
                z[j] = best[j]
            return it + 1, True
        best_r2 = r2
        for j in range(n_atoms):
            best[j] = z[j]
        if d2 <= tol * tol * n2 or r2 <= 1e-28 * xn2:
            return it + 1, True
    return max_iter, False


@pjit
def cosamp_dense(X, D, G, C, k, max_iter, tol, Z, n_iter, converged):
    """CoSaMP for every row of ``X`` over the matrix ``D`` (n_atoms, n_features).

    All arrays float64; ``G = D D^T`` and ``C = X D^T``. Writes codes into ``Z``,
    iteration counts and convergence flags. A signal stops when its code stops moving
    (``||z_new - z|| <= tol ||z_new||``), its residual vanishes, or its residual stops
    decreasing (the best code met is then kept).
    """
    for i in prange(X.shape[0]):
        n_iter[i], converged[i] = _cosamp_row(X[i], C[i], D, G, k, max_iter, tol, Z[i])


# --------------------------------------------------------------------------- NumPy


def niht_reference(x, A, k, *, n_iter=500, c=0.01, kappa=2.0):
    """Normalised IHT for one signal ``x`` with a column matrix ``A`` (n_features,
    n_atoms), transcribed from Blumensath & Davies (2010), Algorithm 2."""
    x = np.asarray(x, dtype=np.float64)
    A = np.asarray(A, dtype=np.float64)

    def H(v):
        out = np.zeros_like(v)
        idx = np.argsort(-np.abs(v), kind="stable")[:k]
        out[idx] = v[idx]
        return out

    z = np.zeros(A.shape[1])
    supp = np.flatnonzero(H(A.T @ x))
    for _ in range(n_iter):
        g = A.T @ (x - A @ z)
        gG = np.zeros_like(g)
        gG[supp] = g[supp]
        den = np.linalg.norm(A @ gG) ** 2
        if den == 0:
            break
        mu = np.linalg.norm(gG) ** 2 / den
        zn = H(z + mu * g)
        if not np.array_equal(np.flatnonzero(zn), supp):
            while True:
                omega = (1 - c) * np.linalg.norm(zn - z) ** 2 / max(
                    np.linalg.norm(A @ (zn - z)) ** 2, 1e-300)
                if mu <= omega:
                    break
                mu /= kappa * (1 - c)
                zn = H(z + mu * g)
        z = zn
        supp = np.flatnonzero(z)
    return z


def cosamp_reference(x, A, k, *, n_iter=50):
    """CoSaMP for one signal with a column matrix ``A`` (Needell & Tropp, Algorithm 1),
    stopped (keeping the best code) when the residual stops decreasing."""
    x = np.asarray(x, dtype=np.float64)
    A = np.asarray(A, dtype=np.float64)
    z = np.zeros(A.shape[1])
    best_r2 = x @ x
    for _ in range(n_iter):
        proxy = A.T @ (x - A @ z)
        omega = np.argsort(-np.abs(proxy), kind="stable")[:2 * k]
        T = np.union1d(omega, np.flatnonzero(z))
        b = np.linalg.lstsq(A[:, T], x, rcond=None)[0]
        zn = np.zeros_like(z)
        keep = np.argsort(-np.abs(b), kind="stable")[:k]
        zn[T[keep]] = b[keep]
        r2 = np.sum((x - A @ zn) ** 2)
        if r2 >= best_r2:  # residual stopped decreasing: keep the best code
            break
        best_r2, z = r2, zn
    return z
