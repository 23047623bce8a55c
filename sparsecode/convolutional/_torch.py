"""torch twin of the convolutional sparse coding solvers (imported only for tensors).

The same algorithms as :mod:`._cbpdn` (FFT-domain ADMM with the Sherman–Morrison solve
and the same penalty rule, FISTA with the exact Lipschitz constant), written with
out-of-place ``torch.fft`` operations so that they run on any device and autograd can
differentiate through the iterations (with respect to the images and the filters).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._cbpdn import CBPDNInfo, _xi


def _as_tensor(a, name, *, like=None, ndim=None):
    if not torch.is_tensor(a):
        arr = np.asarray(a)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}.")
        a = torch.as_tensor(arr)
        if like is not None:
            a = a.to(device=like.device, dtype=like.dtype)
    if a.is_complex():
        raise TypeError(f"{name} must be real, got a {a.dtype} tensor.")
    if not a.is_floating_point():
        a = a.to(like.dtype if like is not None else torch.get_default_dtype())
    if like is not None and (a.dtype != like.dtype or a.device != like.device):
        a = a.to(device=like.device, dtype=like.dtype)
    if ndim is not None and a.ndim not in ndim:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndim))} dimensions, got a "
                         f"tensor of shape {tuple(a.shape)}.")
    if a.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(a.shape)}).")
    if not bool(torch.isfinite(a).all()):
        raise ValueError(f"{name} contains NaN or infinity; all values must be finite.")
    return a


def _images(X, name="X"):
    X = _as_tensor(X, name, ndim=(2, 3))
    single = X.ndim == 2
    return (X[None] if single else X), single


def _filters(filters, like, image_shape):
    D = _as_tensor(filters, "filters", like=like, ndim=(2, 3))
    if D.ndim == 2:
        D = D[None]
    H, W = image_shape
    if D.shape[1] > H or D.shape[2] > W:
        raise ValueError(f"filters of size {D.shape[1]}x{D.shape[2]} are larger than the "
                         f"images ({H}x{W}); each filter must fit in the image.")
    if bool((D.detach().flatten(1).abs().sum(1) == 0).any()):
        raise ValueError("filters has an all-zero filter; every filter needs a nonzero entry.")
    return D


def filters_fft(D, image_shape):
    H, W = image_shape
    pad = torch.nn.functional.pad(D, (0, W - D.shape[2], 0, H - D.shape[1]))
    return torch.fft.rfft2(pad)


def _maps(maps, like):
    Z = _as_tensor(maps, "maps", like=like, ndim=(3, 4))
    single = Z.ndim == 3
    return (Z[None] if single else Z), single


def convolve(maps, filters):
    Z, single = _maps(maps, None if torch.is_tensor(maps) else filters)
    D = _filters(filters, Z, Z.shape[2:])
    if D.shape[0] != Z.shape[1]:
        raise ValueError(f"maps have {Z.shape[1]} channels but there are {D.shape[0]} "
                         "filters; they must match.")
    H, W = Z.shape[2:]
    out = torch.fft.irfft2((filters_fft(D, (H, W))[None] * torch.fft.rfft2(Z)).sum(1),
                           s=(H, W))
    return out[0] if single else out


def convolve_adjoint(images, filters):
    if torch.is_tensor(images):
        X, single = _images(images, "images")
    else:
        X, single = _images(_as_tensor(images, "images", like=filters), "images")
    D = _filters(filters, X, X.shape[1:])
    H, W = X.shape[1:]
    out = torch.fft.irfft2(filters_fft(D, (H, W)).conj()[None] * torch.fft.rfft2(X)[:, None],
                           s=(H, W))
    return out[0] if single else out


def _mask(mask, X):
    if mask is None:
        return None
    m = _as_tensor(mask, "mask", like=X)
    if tuple(m.shape) == tuple(X.shape[1:]):
        m = m.expand_as(X)
    if tuple(m.shape) != tuple(X.shape):
        raise ValueError(f"mask must have the images' shape {tuple(X.shape[1:])} or "
                         f"{tuple(X.shape)}, got {tuple(m.shape)}.")
    if not bool(((m == 0) | (m == 1)).all()):
        raise ValueError("mask must contain only 0 (missing) and 1 (observed) values.")
    return m


def _objective(X, Z, Dh, alpha, mask):
    H, W = X.shape[1:]
    R = torch.fft.irfft2((Dh[None] * torch.fft.rfft2(Z)).sum(1), s=(H, W)) - X
    if mask is not None:
        R = R * mask
    return 0.5 * (R * R).sum((1, 2)) + alpha * Z.abs().sum((1, 2, 3))


def cbpdn_objective(X, maps, filters, alpha, *, mask=None):
    if torch.is_tensor(X):
        X3, single = _images(X)
    else:
        like = maps if torch.is_tensor(maps) else filters
        X3, single = _images(_as_tensor(X, "X", like=like))
    Z, _ = _maps(maps, X3)
    if Z.shape[0] != X3.shape[0] or tuple(Z.shape[2:]) != tuple(X3.shape[1:]):
        raise ValueError(f"maps of shape {tuple(Z.shape)} do not match images of shape "
                         f"{tuple(X3.shape)}.")
    D = _filters(filters, X3, X3.shape[1:])
    if D.shape[0] != Z.shape[1]:
        raise ValueError(f"maps have {Z.shape[1]} channels but there are {D.shape[0]} filters.")
    obj = _objective(X3, Z, filters_fft(D, X3.shape[1:]), float(alpha), _mask(mask, X3))
    return obj[0] if single else obj


def _soft(v, t, positive):
    if positive:
        return torch.relu(v - t)
    return torch.sign(v) * torch.relu(v.abs() - t)


def _admm(X, Dh, alpha, *, max_iter, tol, relax, positive, auto_rho, rho, mask, init):
    n, H, W = X.shape
    M = Dh.shape[0]
    Sh = torch.fft.rfft2(X)
    if mask is not None:
        Dh = torch.cat([Dh, torch.ones_like(Dh[:1])])
        if init is not None:
            init = torch.cat([init, torch.zeros_like(init[:, :1])], 1)
    energy = (Dh.real ** 2 + Dh.imag ** 2).sum(0)
    Y = torch.zeros((n, Dh.shape[0], H, W), dtype=X.dtype, device=X.device) \
        if init is None else init
    U = torch.zeros_like(Y)
    xi = _xi(alpha)
    mu, tau = 1.2, 1000.0
    converged = False
    k = 0
    for k in range(1, max_iter + 1):
        Wh = torch.fft.rfft2(Y - U)
        acc = (Sh - (Dh[None] * Wh).sum(1)) / (rho + energy)
        Xs = torch.fft.irfft2(Wh + Dh.conj()[None] * acc[:, None], s=(H, W))
        Xr = relax * Xs + (1.0 - relax) * Y
        V = Xr + U
        Yn = _soft(V, alpha / rho, positive)
        if mask is not None:
            Yn = torch.cat([Yn[:, :M], (V[:, M:] * (1 - mask[:, None]))], 1)
        Un = V - Yn
        with torch.no_grad():
            rn = max(float(Xs.norm()), float(Yn.norm())) or 1.0
            sn = float(Un.norm()) or 1.0
            r = float((Xs - Yn).norm()) / rn
            s = float((Yn - Y).norm()) / sn
        Y, U = Yn, Un
        if r <= tol and s <= tol:
            converged = True
            break
        if auto_rho and k > 1:
            if s == 0.0 or r == 0.0:
                mult = tau
            else:
                mult = min(tau, math.sqrt(r / (s * xi) if r > s * xi else (s * xi) / r))
            mult = min(mult, 1.0 + 100.0 / k ** 1.5)
            scale = 1.0
            if r > xi * mu * s:
                scale = mult
            elif s > (mu / xi) * r:
                scale = 1.0 / mult
            if scale != 1.0:
                rho *= scale
                U = U / scale
    return Y[:, :M], k, converged, rho


def _fista(X, Dh, alpha, *, max_iter, tol, positive, mask, init):
    n, H, W = X.shape
    M = Dh.shape[0]
    Sh = torch.fft.rfft2(X)
    energy = (Dh.real ** 2 + Dh.imag ** 2).sum(0)
    # a tensor: the step size depends on the filters, and autograd follows it
    L = energy.max() * (1 + 1e-6)
    Z = torch.zeros((n, M, H, W), dtype=X.dtype, device=X.device) if init is None else init
    V = Z
    t = 1.0
    converged = False
    k = 0
    for k in range(1, max_iter + 1):
        Vh = torch.fft.rfft2(V)
        Rh = (Dh[None] * Vh).sum(1) - Sh
        if mask is not None:
            Rh = torch.fft.rfft2(torch.fft.irfft2(Rh, s=(H, W)) * mask)
        P = _soft(torch.fft.irfft2(Vh - Dh.conj()[None] * Rh[:, None] / L, s=(H, W)),
                  alpha / L, positive)
        with torch.no_grad():
            restart = float(((V - P) * (P - Z)).sum()) > 0
            dz = float((P - Z).norm())
            nz = float(P.norm())
        if restart:
            t = 1.0
        t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
        V = P + ((t - 1.0) / t_next) * (P - Z)
        Z = P
        t = t_next
        if dz <= tol * nz:
            converged = True
            break
    return Z, k, converged


def cbpdn(X, filters, alpha, *, method, max_iter, tol, positive, mask, rho, auto_rho,
          relaxation, init, return_info):
    if torch.is_tensor(X):
        X3, single = _images(X)
    else:
        X3, single = _images(_as_tensor(X, "X", like=filters))
    H, W = X3.shape[1:]
    D = _filters(filters, X3, (H, W))
    m = _mask(mask, X3)
    n, M = X3.shape[0], D.shape[0]
    Z0 = None
    if init is not None:
        Z0 = _as_tensor(init, "init", like=X3)
        if Z0.ndim == 3 and n == 1:
            Z0 = Z0[None]
        if tuple(Z0.shape) != (n, M, H, W):
            raise ValueError(f"init must have shape (n_samples, n_filters, H, W) = "
                             f"{(n, M, H, W)}, got {tuple(Z0.shape)}.")
    Dh = filters_fft(D, (H, W))
    if method == "admm":
        Z, n_iter, converged, final_rho = _admm(
            X3, Dh, alpha, max_iter=max_iter, tol=tol, relax=relaxation, positive=positive,
            auto_rho=auto_rho, rho=50.0 * alpha + 1.0 if rho is None else rho, mask=m,
            init=Z0)
    else:
        Z, n_iter, converged = _fista(X3, Dh, alpha, max_iter=max_iter, tol=tol,
                                      positive=positive, mask=m, init=Z0)
        final_rho = None
    out = Z[0] if single else Z
    if not return_info:
        return out
    with torch.no_grad():
        obj = _objective(X3, Z, Dh, alpha, m).double().cpu().numpy()
    return out, CBPDNInfo(n_iter, float(obj[0]) if single else obj, bool(converged), final_rho)
