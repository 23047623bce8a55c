r"""Kernels of convolutional sparse coding: the fused passes of FFT-domain ADMM and FISTA.

Arrays follow one layout: spatial coefficient maps ``(n, M, H, W)`` (``n`` images,
``M`` filters), their real FFTs ``(n, M, H, F)`` with ``F = W // 2 + 1``, filter
transforms ``Dh (M, H, F)``, image transforms ``(n, H, F)``. The FFTs themselves are
done by the caller (``scipy.fft``, batched over all maps); these kernels do everything
elementwise in one pass each, parallel over rows, instead of the half-dozen temporaries a
NumPy expression would allocate.

* :func:`freq_solve` — the ADMM coefficient update of Wohlberg (2016) by the
  Sherman–Morrison formula. Per frequency, with :math:`a = \hat d^H` (one row of ``M``
  filter coefficients) the system :math:`(\rho I + a a^H)\hat x = a \hat s + \rho \hat w`
  has the solution :math:`\hat x = \hat w + a\,(\hat s - a^H \hat w)/(\rho + a^H a)`,
  so one pass over the ``M`` maps accumulates :math:`a^H\hat w` and a second applies the
  rank-one correction, in place. With a constant ``1/L`` instead of
  :math:`1/(\rho + a^Ha)` the same pass is a gradient step of FISTA,
  :math:`\hat v - a(a^H\hat v - \hat s)/L`.
* :func:`admm_ystep` — relaxation, soft thresholding (optionally non-negative, optionally
  the free impulse map of the additive mask simulation), the scaled dual update, the
  next right-hand side ``y - u`` and the five norms of the residual-balancing test.
* :func:`fista_prox` / :func:`fista_momentum` — proximal step with the adaptive-restart
  inner product and the extrapolation.

Each kernel has a NumPy reference twin (``*_reference``) used by the tests.

References
----------
B. Wohlberg, "Efficient algorithms for convolutional sparse representations",
IEEE Trans. Image Process. 25(1), 301-315 (2016), doi:10.1109/TIP.2015.2495260.
"""

from __future__ import annotations

import numpy as np

from .._jit import pjit, prange

#: Indices of the sums returned by :func:`admm_ystep`.
SUM_PRIMAL, SUM_DUAL, SUM_X, SUM_Y, SUM_U = range(5)


@pjit
def freq_solve(W, S, Dh, inv):  # pragma: no cover - compiled
    """In place: ``W[i, m] += conj(Dh[m]) * (S[i] - sum_m Dh[m] W[i, m]) * inv``.

    ``W (n, M, H, F)`` complex, ``S (n, H, F)``, ``Dh (M, H, F)``, ``inv (H, F)`` real.
    """
    n, M, H, F = W.shape
    for job in prange(n * H):
        i = job // H
        r = job - i * H
        acc = np.empty(F, dtype=W.dtype)
        for f in range(F):
            acc[f] = S[i, r, f]
        for m in range(M):
            for f in range(F):
                acc[f] -= Dh[m, r, f] * W[i, m, r, f]
        for f in range(F):
            acc[f] *= inv[r, f]
        for m in range(M):
            for f in range(F):
                d = Dh[m, r, f]
                W[i, m, r, f] += d.conjugate() * acc[f]


def freq_solve_reference(W, S, Dh, inv):
    acc = (S - np.einsum("mhf,imhf->ihf", Dh, W)) * inv
    return W + np.conj(Dh)[None] * acc[:, None]


@pjit
def freq_residual(V, S, Dh, out):  # pragma: no cover - compiled
    """``out[i] = sum_m Dh[m] V[i, m] - S[i]`` (the residual of the synthesis, in Fourier)."""
    n, M, H, F = V.shape
    for job in prange(n * H):
        i = job // H
        r = job - i * H
        for f in range(F):
            out[i, r, f] = -S[i, r, f]
        for m in range(M):
            for f in range(F):
                out[i, r, f] += Dh[m, r, f] * V[i, m, r, f]


@pjit
def freq_adjoint_step(V, R, Dh, step):  # pragma: no cover - compiled
    """In place: ``V[i, m] -= step * conj(Dh[m]) * R[i]``."""
    n, M, H, F = V.shape
    for job in prange(n * M * H):
        i = job // (M * H)
        rest = job - i * M * H
        m = rest // H
        r = rest - m * H
        for f in range(F):
            d = Dh[m, r, f]
            V[i, m, r, f] -= step * d.conjugate() * R[i, r, f]


@pjit
def admm_ystep(X, Y, U, relax, thresh, positive, impulse, mask, sums):  # pragma: no cover
    """One ADMM y/u update over spatial maps, in place; ``X`` receives ``y - u``.

    ``X (n, M, H, W)`` is the new x (non-relaxed); ``Y``, ``U`` the previous y and the
    scaled dual. ``thresh = alpha / rho``. With ``impulse`` the last map is the impulse
    map of the additive mask simulation: unpenalised where ``mask[i] == 0`` (missing
    pixels) and held at zero where ``mask[i] == 1``. ``sums (n*M*H, 5)`` receives per-row
    ``||x - y||^2, ||y - y_prev||^2, ||x||^2, ||y||^2, ||u||^2``.
    """
    n, M, H, Wd = X.shape
    for job in prange(n * M * H):
        i = job // (M * H)
        rest = job - i * M * H
        m = rest // H
        r = rest - m * H
        p = 0.0
        dl = 0.0
        sx = 0.0
        sy = 0.0
        su = 0.0
        free = impulse and m == M - 1
        for c in range(Wd):
            x = X[i, m, r, c]
            yo = Y[i, m, r, c]
            xr = relax * x + (1.0 - relax) * yo
            v = xr + U[i, m, r, c]
            if free:
                y = v * (1.0 - mask[i, r, c])
            elif positive:
                y = v - thresh
                if y < 0.0:
                    y = 0.0
            else:
                if v > thresh:
                    y = v - thresh
                elif v < -thresh:
                    y = v + thresh
                else:
                    y = 0.0 * v
            u = v - y
            Y[i, m, r, c] = y
            U[i, m, r, c] = u
            X[i, m, r, c] = y - u
            p += (x - y) * (x - y)
            dl += (y - yo) * (y - yo)
            sx += x * x
            sy += y * y
            su += u * u
        sums[job, 0] = p
        sums[job, 1] = dl
        sums[job, 2] = sx
        sums[job, 3] = sy
        sums[job, 4] = su


def _soft(v, t, positive):
    if positive:
        return np.maximum(v - t, 0.0)
    return np.sign(v) * np.maximum(np.abs(v) - t, 0.0)


def admm_ystep_reference(X, Y, U, relax, thresh, positive, impulse, mask):
    """Returns ``(Y, U, W, sums)`` with ``sums`` the five totals (not per row)."""
    xr = relax * X + (1.0 - relax) * Y
    v = xr + U
    Yn = _soft(v, thresh, positive)
    if impulse:
        Yn[:, -1] = v[:, -1] * (1.0 - mask)
    Un = v - Yn
    sums = np.array([np.sum((X - Yn) ** 2), np.sum((Yn - Y) ** 2), np.sum(X ** 2),
                     np.sum(Yn ** 2), np.sum(Un ** 2)])
    return Yn, Un, Yn - Un, sums


@pjit
def fista_prox(P, Z, V, thresh, positive, sums):  # pragma: no cover - compiled
    """In place: ``P <- prox(P)`` (the new iterate) with, per row in ``sums (rows, 3)``,
    ``<V - P, P - Z>`` (restart test), ``||P - Z||^2`` and ``||P||^2``."""
    n, M, H, Wd = P.shape
    for job in prange(n * M * H):
        i = job // (M * H)
        rest = job - i * M * H
        m = rest // H
        r = rest - m * H
        g = 0.0
        dz = 0.0
        sz = 0.0
        for c in range(Wd):
            v = P[i, m, r, c]
            if positive:
                z = v - thresh
                if z < 0.0:
                    z = 0.0
            else:
                if v > thresh:
                    z = v - thresh
                elif v < -thresh:
                    z = v + thresh
                else:
                    z = 0.0 * v
            P[i, m, r, c] = z
            d = z - Z[i, m, r, c]
            g += (V[i, m, r, c] - z) * d
            dz += d * d
            sz += z * z
        sums[job, 0] = g
        sums[job, 1] = dz
        sums[job, 2] = sz


@pjit
def fista_momentum(P, Z, V, beta):  # pragma: no cover - compiled
    """In place: ``V <- P + beta (P - Z)`` and ``Z <- P``."""
    n, M, H, Wd = P.shape
    for job in prange(n * M * H):
        i = job // (M * H)
        rest = job - i * M * H
        m = rest // H
        r = rest - m * H
        for c in range(Wd):
            z = P[i, m, r, c]
            V[i, m, r, c] = z + beta * (z - Z[i, m, r, c])
            Z[i, m, r, c] = z
