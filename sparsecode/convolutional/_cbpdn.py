r"""Convolutional basis pursuit denoising: validated public functions, NumPy solvers.

The model is the one of SPORCO and of Wohlberg (2016): images of shape ``(H, W)``,
filters ``d_m`` of shape ``(h, w)`` (``h <= H``, ``w <= W``), coefficient maps ``z_m`` of
the image's shape, and *circular* convolution with the filter's origin at its first
pixel,

.. math::

    \Big(\sum_m d_m * z_m\Big)[i, j] = \sum_m \sum_{a<h,\, b<w} d_m[a, b]\,
    z_m[(i - a) \bmod H, (j - b) \bmod W],

so that every operator is diagonal in the 2-D discrete Fourier domain. The solvers work
there: one batched real FFT of all the maps and one inverse per iteration
(``scipy.fft``, multi-threaded), with everything in between fused in Numba kernels
(:mod:`sparsecode.kernels.convolutional`). torch tensors are dispatched to the torch twin
(:mod:`._torch`), imported only then.
"""

from __future__ import annotations

import math
import numbers
import os
from collections import namedtuple

import numpy as np
import scipy.fft as sfft

from .._jit import num_threads, resolve_n_jobs
from ..kernels import convolutional as K
from ..operators._backend import is_torch
from ..utils._validation import (
    _as_float_array,
    check_alpha,
    check_bool,
    check_positive_int,
    check_tol,
)

#: Result record of :func:`cbpdn` with ``return_info=True``.
CBPDNInfo = namedtuple("CBPDNInfo", ["n_iter", "objective", "converged", "rho"])
CBPDNInfo.__doc__ = """Report of a convolutional sparse coding run.

Attributes
----------
n_iter : int
    Iterations run (all images of a batch are solved together).
objective : ndarray of shape (n_samples,) (a float for one 2-D image)
    Final objective of every image, evaluated on the returned (sparse) maps.
converged : bool
    Whether the stopping test was met before ``max_iter``.
rho : float or None
    Final ADMM penalty parameter (None for FISTA).
"""

METHODS = ("admm", "fista")


# ------------------------------------------------------------------------- validation


def _is_tensor_input(*arrays):
    return any(is_torch(a) for a in arrays if a is not None)


def check_images(X, name="X", *, dtype=None):
    """``(X3, single)``: images as a C-contiguous ``(n, H, W)`` float array."""
    arr = np.asarray(X) if not hasattr(X, "toarray") else X
    ndim = getattr(arr, "ndim", None)
    if ndim not in (2, 3):
        shape = getattr(arr, "shape", None)
        raise ValueError(f"{name} must be one image (H, W) or a batch (n_samples, H, W), "
                         f"got an array of shape {shape}.")
    X3 = _as_float_array(X, name, dtype=dtype, ndim=ndim)
    single = X3.ndim == 2
    if single:
        X3 = X3[None]
    return X3, single


def check_filters(filters, image_shape=None, *, dtype=None, name="filters"):
    """Filters as ``(n_filters, h, w)``; a single 2-D filter is accepted as ``(h, w)``."""
    arr = np.asarray(filters) if not hasattr(filters, "toarray") else filters
    ndim = getattr(arr, "ndim", None)
    if ndim not in (2, 3):
        raise ValueError(f"{name} must have shape (n_filters, h, w), got an array of shape "
                         f"{getattr(arr, 'shape', None)}.")
    D = _as_float_array(filters, name, dtype=dtype, ndim=ndim)
    if D.ndim == 2:
        D = D[None]
    norms = np.sqrt(np.einsum("mij,mij->m", D, D, dtype=np.float64))
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise ValueError(f"{name} has {zero.size} all-zero filter(s) (indices "
                         f"{zero[:5].tolist()}); every filter needs a nonzero entry.")
    if image_shape is not None:
        H, W = image_shape
        if D.shape[1] > H or D.shape[2] > W:
            raise ValueError(f"{name} of size {D.shape[1]}x{D.shape[2]} are larger than the "
                             f"images ({H}x{W}); each filter must fit in the image.")
    return D


def _check_alpha_positive(alpha):
    if alpha is None or isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha must be a positive float, got {alpha!r}.")
    alpha = float(alpha)
    if not np.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"alpha must be a positive finite float, got {alpha}.")
    return alpha


def _check_positive_float(value, name, *, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive float, got {value!r}.")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite float, got {value}.")
    return value


def check_mask(mask, shape, name="mask"):
    """Mask of observed pixels as a float ``(n, H, W)`` array of zeros and ones."""
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a boolean or 0/1 array, got dtype {m.dtype}.")
    if m.shape == shape[1:]:
        m = np.broadcast_to(m, shape)
    if m.shape != shape:
        raise ValueError(f"{name} must have the images' shape {shape[1:]} or {shape}, "
                         f"got {m.shape}.")
    if m.dtype.kind == "f" and not np.isfinite(m).all():
        raise ValueError(f"{name} contains NaN or infinity.")
    if not np.isin(m, (0, 1)).all():
        raise ValueError(f"{name} must contain only 0 (missing) and 1 (observed) values.")
    return np.ascontiguousarray(m, dtype=np.float64)


def check_init(init, shape, dtype, name="init"):
    if init is None:
        return None
    Z0 = np.asarray(init)
    if Z0.shape == shape[1:] and shape[0] == 1:
        Z0 = Z0[None]
    if Z0.shape != shape:
        raise ValueError(f"{name} must have shape (n_samples, n_filters, H, W) = {shape}, "
                         f"got {np.asarray(init).shape}.")
    return _as_float_array(Z0, name, dtype=dtype, ndim=4)


# ---------------------------------------------------------------------- FFT helpers


def _workers(n_jobs):
    return resolve_n_jobs(n_jobs) if n_jobs is not None else (os.cpu_count() or 1)


def filters_fft(D, image_shape, workers=1):
    """Real 2-D FFT ``(M, H, W // 2 + 1)`` of filters zero-padded (at the origin)."""
    H, W = image_shape
    pad = np.zeros((D.shape[0], H, W), dtype=D.dtype)
    pad[:, : D.shape[1], : D.shape[2]] = D
    return sfft.rfft2(pad, workers=workers)


def _synthesis_hat(Zh, Dh):
    return np.einsum("mhf,imhf->ihf", Dh, Zh)


def convolve(maps, filters, *, n_jobs=None):
    r"""Synthesis :math:`\sum_m d_m * z_m`: images from coefficient maps (circular).

    Parameters
    ----------
    maps : array-like or tensor of shape (n_samples, n_filters, H, W) or (n_filters, H, W)
    filters : array-like or tensor of shape (n_filters, h, w)
    n_jobs : int, default=None
        FFT threads (None: all cores).

    Returns
    -------
    images : ndarray or tensor of shape (n_samples, H, W) or (H, W)
        NumPy for NumPy input, a tensor (same device, differentiable) for tensors.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.convolutional import convolve
    >>> z = np.zeros((1, 8, 8)); z[0, 2, 3] = 1.0
    >>> convolve(z, np.ones((1, 2, 2)))[2:4, 3:5]
    array([[1., 1.],
           [1., 1.]])
    """
    if _is_tensor_input(maps, filters):
        from . import _torch

        return _torch.convolve(maps, filters)
    Z = np.asarray(maps)
    if Z.ndim not in (3, 4):
        raise ValueError(f"maps must have shape (n_samples, n_filters, H, W) or "
                         f"(n_filters, H, W), got {Z.shape}.")
    single = Z.ndim == 3
    Z = _as_float_array(Z[None] if single else Z, "maps", ndim=4)
    D = check_filters(filters, Z.shape[2:], dtype=Z.dtype)
    if D.shape[0] != Z.shape[1]:
        raise ValueError(f"maps have {Z.shape[1]} channels but there are {D.shape[0]} "
                         "filters; they must match.")
    w = _workers(n_jobs)
    H, W = Z.shape[2:]
    out = sfft.irfft2(_synthesis_hat(sfft.rfft2(Z, workers=w), filters_fft(D, (H, W), w)),
                      s=(H, W), workers=w).astype(Z.dtype, copy=False)
    return out[0] if single else out


def convolve_adjoint(images, filters, *, n_jobs=None):
    r"""Adjoint of :func:`convolve`: the correlations :math:`d_m \star x` of images with
    every filter.

    Parameters
    ----------
    images : array-like or tensor of shape (n_samples, H, W) or (H, W)
    filters : array-like or tensor of shape (n_filters, h, w)
    n_jobs : int, default=None

    Returns
    -------
    maps : ndarray or tensor of shape (n_samples, n_filters, H, W) or (n_filters, H, W)
    """
    if _is_tensor_input(images, filters):
        from . import _torch

        return _torch.convolve_adjoint(images, filters)
    X, single = check_images(images, "images")
    D = check_filters(filters, X.shape[1:], dtype=X.dtype)
    w = _workers(n_jobs)
    H, W = X.shape[1:]
    Xh = sfft.rfft2(X, workers=w)
    out = sfft.irfft2(np.conj(filters_fft(D, (H, W), w))[None] * Xh[:, None], s=(H, W),
                      workers=w).astype(X.dtype, copy=False)
    return out[0] if single else out


def _objective(X3, Z, Dh, alpha, mask, workers):
    H, W = X3.shape[1:]
    R = sfft.irfft2(_synthesis_hat(sfft.rfft2(Z, workers=workers), Dh), s=(H, W),
                    workers=workers) - X3
    if mask is not None:
        R = R * mask
    return 0.5 * np.einsum("ihw,ihw->i", R, R, dtype=np.float64) + \
        alpha * np.abs(Z).sum(axis=(1, 2, 3), dtype=np.float64)


def cbpdn_objective(X, maps, filters, alpha, *, mask=None):
    r"""Objective of :func:`cbpdn` for every image,
    :math:`\tfrac12\|m\odot(x - \sum_m d_m * z_m)\|_2^2 + \alpha\sum_m\|z_m\|_1`.

    Parameters
    ----------
    X : array-like or tensor of shape (n_samples, H, W) or (H, W)
    maps : array-like or tensor of shape (n_samples, n_filters, H, W) or (n_filters, H, W)
    filters : array-like or tensor of shape (n_filters, h, w)
    alpha : float
    mask : array-like of shape (H, W) or (n_samples, H, W), default=None
        1 where a pixel is observed, 0 where it is missing (None: all observed).

    Returns
    -------
    objective : ndarray of shape (n_samples,), a float for one image, or a tensor
        (differentiable in the maps and the filters) for tensor input.
    """
    alpha = check_alpha(alpha)
    if _is_tensor_input(X, maps, filters):
        from . import _torch

        return _torch.cbpdn_objective(X, maps, filters, alpha, mask=mask)
    X3, single = check_images(X)
    Z = np.asarray(maps)
    Z = _as_float_array(Z[None] if Z.ndim == 3 else Z, "maps", dtype=np.float64, ndim=4)
    if Z.shape[0] != X3.shape[0] or Z.shape[2:] != X3.shape[1:]:
        raise ValueError(f"maps of shape {Z.shape} do not match images of shape {X3.shape}.")
    D = check_filters(filters, X3.shape[1:], dtype=np.float64)
    if D.shape[0] != Z.shape[1]:
        raise ValueError(f"maps have {Z.shape[1]} channels but there are {D.shape[0]} filters.")
    m = check_mask(mask, X3.shape)
    obj = _objective(X3.astype(np.float64), Z, filters_fft(D, X3.shape[1:]), alpha, m, 1)
    return float(obj[0]) if single else obj


# --------------------------------------------------------------------------- solvers


class _ADMMState:
    """Iterate of the FFT-domain ADMM (kept between calls for warm starts)."""

    def __init__(self, shape, dtype, rho, init=None):
        self.Y = np.zeros(shape, dtype=dtype) if init is None else init.copy()
        self.U = np.zeros(shape, dtype=dtype)
        self.rho = rho
        self.n_iter = 0
        self.Xh = None  # Fourier transform of the last x (the dictionary update uses it)


def _xi(alpha):
    # Residual target of the automatic penalty (Wohlberg 2017, Sec. VI.C).
    return 1.0 + 18.3 ** (math.log10(alpha) + 1.0)


def _admm_iterations(state, Sh, Dh, alpha, *, max_iter, tol, relax, positive, auto_rho,
                     mask, workers, dh_energy=None):
    """Run up to ``max_iter`` ADMM iterations on ``state``; returns ``converged``."""
    Y, U = state.Y, state.U
    n, M, H, W = Y.shape
    dtype = Y.dtype.type
    impulse = mask is not None
    missing = (1.0 - mask).astype(Y.dtype) if impulse else np.zeros((1, 1, 1), Y.dtype)
    if dh_energy is None:
        dh_energy = np.einsum("mhf,mhf->hf", Dh.real, Dh.real) + \
            np.einsum("mhf,mhf->hf", Dh.imag, Dh.imag)
    rho = state.rho
    inv = (1.0 / (rho + dh_energy)).astype(dtype)
    xi = _xi(alpha)
    mu, tau = 1.2, 1000.0
    sums = np.empty((n * M * H, 5))
    Wsp = Y - U
    converged = False
    for k in range(max_iter):
        Wh = sfft.rfft2(Wsp, workers=workers)
        K.freq_solve(Wh, Sh, Dh, inv)
        state.Xh = Wh
        Xsp = sfft.irfft2(Wh, s=(H, W), workers=workers)
        K.admm_ystep(Xsp, Y, U, dtype(relax), dtype(alpha / rho), positive, impulse,
                     missing, sums)
        Wsp = Xsp
        state.n_iter += 1
        tot = sums.sum(axis=0)
        rn = max(math.sqrt(tot[K.SUM_X]), math.sqrt(tot[K.SUM_Y])) or 1.0
        sn = math.sqrt(tot[K.SUM_U]) or 1.0
        r = math.sqrt(tot[K.SUM_PRIMAL]) / rn
        s = math.sqrt(tot[K.SUM_DUAL]) / sn
        if r <= tol and s <= tol:
            converged = True
            break
        if auto_rho and state.n_iter > 1:
            if s == 0.0 or r == 0.0:
                mult = tau
            else:
                mult = min(tau, math.sqrt(r / (s * xi) if r > s * xi else (s * xi) / r))
            # Bounded total variation of the penalty (He, Yang & Wang 2000): the largest
            # change decays like k^-1.5, so the sequence converges and so does ADMM.
            mult = min(mult, 1.0 + 100.0 / state.n_iter ** 1.5)
            scale = 1.0
            if r > xi * mu * s:
                scale = mult
            elif s > (mu / xi) * r:
                scale = 1.0 / mult
            if scale != 1.0:
                rho *= scale
                U *= dtype(1.0 / scale)
                np.subtract(Y, U, out=Wsp)
                inv = (1.0 / (rho + dh_energy)).astype(dtype)
    state.rho = rho
    return converged


def _fista_iterations(Z, Sh, Dh, alpha, *, max_iter, tol, positive, mask, workers):
    n, M, H, W = Z.shape
    dtype = Z.dtype.type
    energy = np.einsum("mhf,mhf->hf", Dh.real, Dh.real) + \
        np.einsum("mhf,mhf->hf", Dh.imag, Dh.imag)
    L = float(energy.max()) * (1 + 1e-6)
    inv = np.full(energy.shape, 1.0 / L, dtype=dtype)
    V = Z.copy()
    t = 1.0
    sums = np.empty((n * M * H, 3))
    R = np.empty((n, H, Dh.shape[2]), dtype=Dh.dtype) if mask is not None else None
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        Vh = sfft.rfft2(V, workers=workers)
        if mask is None:
            K.freq_solve(Vh, Sh, Dh, inv)
        else:
            K.freq_residual(Vh, Sh, Dh, R)
            r = sfft.irfft2(R, s=(H, W), workers=workers)
            r *= mask
            K.freq_adjoint_step(Vh, sfft.rfft2(r, workers=workers), Dh, dtype(1.0 / L))
        P = sfft.irfft2(Vh, s=(H, W), workers=workers)
        K.fista_prox(P, Z, V, dtype(alpha / L), positive, sums)
        tot = sums.sum(axis=0)
        if tot[0] > 0:  # adaptive restart (O'Donoghue & Candes)
            t = 1.0
        t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
        K.fista_momentum(P, Z, V, dtype((t - 1.0) / t_next))
        t = t_next
        if math.sqrt(tot[1]) <= tol * math.sqrt(tot[2]):
            converged = True
            break
    return it, converged


def cbpdn(X, filters, alpha, *, method="admm", max_iter=500, tol=1e-3, positive=False,
          mask=None, rho=None, auto_rho=True, relaxation=1.8, init=None, n_jobs=None,
          return_info=False):
    r"""Convolutional sparse coding of images (convolutional basis pursuit denoising).

    Solves, for every image :math:`x` (one per leading index of ``X``),

    .. math::

        \min_{z_1,\dots,z_M} \; \tfrac12 \Big\| m \odot \Big(x - \sum_{m=1}^M d_m * z_m
        \Big)\Big\|_2^2 + \alpha \sum_{m=1}^M \|z_m\|_1 \quad (\text{and } z \ge 0
        \text{ with } \texttt{positive}),

    with circular 2-D convolution (filter origin at its first pixel, coefficient maps of
    the image's size, as in SPORCO) and :math:`m` the 0/1 mask of observed pixels (all
    ones by default).

    - ``method="admm"``: ADMM in the Fourier domain with the Sherman–Morrison solve of
      Wohlberg (2016), over-relaxation and the residual-balancing automatic penalty
      (Wohlberg 2017). With a mask, the *additive mask simulation*: an impulse filter is
      appended whose map is free on the missing pixels and zero on the observed ones,
      which makes the data term exactly the masked one.
    - ``method="fista"``: FISTA with the exact Lipschitz constant
      :math:`\max_f \sum_m |\hat d_m(f)|^2` and adaptive restart.

    Parameters
    ----------
    X : array-like or tensor of shape (n_samples, H, W) or (H, W)
        Images (a batch, or one). Never modified.
    filters : array-like or tensor of shape (n_filters, h, w)
        Dictionary filters, ``h <= H``, ``w <= W``.
    alpha : float
        Positive weight of the l1 penalty.
    method : {"admm", "fista"}, default="admm"
    max_iter : int, default=500
    tol : float, default=1e-3
        ADMM stops when the relative primal and dual residuals are both at most ``tol``
        (SPORCO's ``RelStopTol``); FISTA when :math:`\|z_{k+1}-z_k\| \le
        \mathrm{tol}\,\|z_{k+1}\|`.
    positive : bool, default=False
        Non-negative coefficient maps.
    mask : array-like of shape (H, W) or (n_samples, H, W), default=None
        1 (or True) for observed pixels, 0 for missing ones (inpainting).
    rho : float, default=None
        Initial ADMM penalty (:math:`50\alpha + 1` if None).
    auto_rho : bool, default=True
        Residual balancing of the penalty at every iteration.
    relaxation : float in (0, 2), default=1.8
        ADMM over-relaxation.
    init : array-like of shape (n_samples, n_filters, H, W), default=None
        Warm start (zeros if None).
    n_jobs : int, default=None
        Threads for the FFTs and the kernels (None: all cores).
    return_info : bool, default=False
        Also return a :class:`CBPDNInfo`.

    Returns
    -------
    maps : ndarray or tensor of shape (n_samples, n_filters, H, W) or (n_filters, H, W)
        Coefficient maps, in ``X``'s dtype (float32 or float64); a tensor on ``X``'s device
        for tensor input (differentiable through the iterations).
    info : CBPDNInfo
        Only with ``return_info=True``.

    References
    ----------
    B. Wohlberg, "Efficient algorithms for convolutional sparse representations",
    IEEE Trans. Image Process. 25(1), 301-315 (2016), doi:10.1109/TIP.2015.2495260.
    B. Wohlberg, "ADMM penalty parameter selection by residual balancing",
    arXiv:1704.06209 (2017).
    B. Wohlberg, "Boundary handling for convolutional sparse representations",
    Proc. IEEE ICIP (2016), doi:10.1109/ICIP.2016.7532675.
    A. Beck, M. Teboulle (2009), doi:10.1137/080716542.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.convolutional import cbpdn
    >>> rng = np.random.default_rng(0)
    >>> filters = rng.standard_normal((4, 5, 5))
    >>> X = rng.standard_normal((2, 32, 32))
    >>> cbpdn(X, filters, alpha=0.5).shape
    (2, 4, 32, 32)
    """
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}; "
                         f"got {method!r}.")
    alpha = _check_alpha_positive(alpha)
    max_iter = check_positive_int(max_iter, "max_iter")
    tol = check_tol(tol)
    positive = check_bool(positive, "positive")
    auto_rho = check_bool(auto_rho, "auto_rho")
    return_info = check_bool(return_info, "return_info")
    rho = _check_positive_float(rho, "rho", allow_none=True)
    relaxation = _check_positive_float(relaxation, "relaxation")
    if relaxation >= 2.0:
        raise ValueError(f"relaxation must be in (0, 2), got {relaxation}.")
    if _is_tensor_input(X, filters):
        from . import _torch

        return _torch.cbpdn(X, filters, alpha, method=method, max_iter=max_iter, tol=tol,
                            positive=positive, mask=mask, rho=rho, auto_rho=auto_rho,
                            relaxation=relaxation, init=init, return_info=return_info)
    X3, single = check_images(X)
    dtype = X3.dtype
    D = check_filters(filters, X3.shape[1:], dtype=dtype)
    m = check_mask(mask, X3.shape)
    n, H, W = X3.shape
    M = D.shape[0]
    Z0 = check_init(init, (n, M, H, W), dtype)
    workers = _workers(n_jobs)
    with num_threads(n_jobs):
        Dh = filters_fft(D, (H, W), workers)
        Sh = sfft.rfft2(X3, workers=workers)
        if method == "admm":
            if m is not None:  # additive mask simulation: a free impulse map
                Dh = np.concatenate([Dh, np.ones((1,) + Dh.shape[1:], dtype=Dh.dtype)])
                if Z0 is not None:
                    Z0 = np.concatenate([Z0, np.zeros((n, 1, H, W), dtype=dtype)], axis=1)
            state = _ADMMState((n, Dh.shape[0], H, W), dtype,
                               50.0 * alpha + 1.0 if rho is None else rho, Z0)
            converged = _admm_iterations(
                state, Sh, Dh, alpha, max_iter=max_iter, tol=tol, relax=relaxation,
                positive=positive, auto_rho=auto_rho, mask=m, workers=workers)
            Z = state.Y[:, :M]
            Z = np.ascontiguousarray(Z) if m is not None else Z
            n_iter, final_rho = state.n_iter, state.rho
            Dh = Dh[:M]
        else:
            Z = np.zeros((n, M, H, W), dtype=dtype) if Z0 is None else Z0.copy()
            n_iter, converged = _fista_iterations(
                Z, Sh, Dh, alpha, max_iter=max_iter, tol=tol, positive=positive, mask=m,
                workers=workers)
            final_rho = None
        out = Z[0] if single else Z
        if not return_info:
            return out
        obj = _objective(X3.astype(np.float64), Z.astype(np.float64), Dh.astype(np.complex128),
                         alpha, m, workers)
    info = CBPDNInfo(n_iter, float(obj[0]) if single else obj, bool(converged), final_rho)
    return out, info
