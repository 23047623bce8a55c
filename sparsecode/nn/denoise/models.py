r"""The learned sparse denoisers: CSCnet and Deep K-SVD as ``nn.Module`` s.

Both map a batch of noisy grayscale images ``(N, 1, H, W)`` (intensities in [0, 1]) to
denoised images of the same shape, and both are unrolled sparse coders initialised so
that, untrained, they compute what the classic solver computes:

:class:`CSCNet`
    convolutional LISTA (Simon & Elad, 2019): ``n_layers`` unfoldings of ISTA for
    convolutional sparse coding with *separate* encoder, decoder and output filters and
    one learned threshold per filter; the filters act with a stride (8), and the image
    is coded at all ``stride ** 2`` shifts of the stride grid, whose reconstructions are
    averaged. Initialised with all three filter banks equal to ``D / sqrt(L)`` (``D``
    the initial filters, ``L`` the squared norm of the strided convolution operator)
    and thresholds ``lam / sqrt(L)``: untrained, the network is ``n_layers`` ISTA
    iterations (step ``1 / L``, from zero; its codes are ``sqrt(L)`` times ISTA's) of

    .. math::

        \min_z \tfrac12 \|y - \textstyle\sum_m d_m *_s z_m\|_2^2 + \lambda\|z\|_1

    for every shift, followed by the average of the shifted reconstructions.
:class:`DeepKSVD`
    Deep K-SVD (Scetbon, Elad & Milanfar, 2021): every overlapping ``p × p`` patch
    (its mean removed, as in the K-SVD denoiser of :mod:`sparsecode.denoise`) is coded
    by ``n_layers`` ISTA steps over a learned dictionary (initially the overcomplete
    DCT of :func:`sparsecode.image.overcomplete_dct_dictionary`), with a penalty
    :math:`\lambda` predicted per patch by a small MLP, and the patches are averaged back
    with learned per-pixel patch weights (initially uniform: the overlap average of
    :func:`sparsecode.image.reconstruct_from_patches`).

References
----------
D. Simon, M. Elad, "Rethinking the CSC model for natural images", NeurIPS 2019,
arXiv:1909.05742.

M. Scetbon, M. Elad, P. Milanfar, "Deep K-SVD denoising", IEEE Trans. Image Process.
30:5944-5955, 2021, doi:10.1109/TIP.2021.3090531.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...image._dct import overcomplete_dct_dictionary
from ..functional import soft_threshold

__all__ = ["CSCNet", "DeepKSVD", "conv_operator_norm", "shift_pads"]


# --------------------------------------------------------------------------- helpers
def _as_filters(filters, n_filters, kernel_size):
    """Initial filters ``(n_filters, 1, k, k)``: given, or the overcomplete DCT (DC
    atom first), each of unit norm."""
    if filters is None:
        D = overcomplete_dct_dictionary(kernel_size, n_filters)
        return torch.as_tensor(D, dtype=torch.float32).reshape(n_filters, 1, kernel_size,
                                                               kernel_size)
    t = torch.as_tensor(np.asarray(filters, dtype=np.float32)).clone()
    if t.ndim == 3:
        t = t[:, None]
    if t.shape != (n_filters, 1, kernel_size, kernel_size):
        raise ValueError(
            f"filters must have shape ({n_filters}, {kernel_size}, {kernel_size}), got "
            f"{tuple(t.shape)}."
        )
    if not torch.isfinite(t).all():
        raise ValueError("filters contain NaN or infinity.")
    return t


def shift_pads(image_shape, kernel_size, stride):
    """Reflect paddings ``(left, right, top, bottom)`` for each of the ``stride ** 2``
    shifts ``(i, j)`` of the stride grid (row-major over ``i, j``).

    Shift ``(i, j)`` pads ``k - 1 - i`` rows on top and ``k - 1 - j`` columns on the
    left, and enough at the bottom/right that the padded side minus ``k`` is a multiple
    of ``stride``: a strided convolution then covers the padded image exactly and its
    transpose returns an image of the padded size.
    """
    H, W = image_shape
    k, s = kernel_size, stride
    pads = []
    for i in range(s):
        for j in range(s):
            top, left = k - 1 - i, k - 1 - j
            bottom = (k - 1 + i) + (-(H + 2 * (k - 1) - k)) % s
            right = (k - 1 + j) + (-(W + 2 * (k - 1) - k)) % s
            pads.append((left, right, top, bottom))
    return pads


def _pad_reflect(x, pad):
    """Reflect padding ``(left, right, top, bottom)`` of any size: pads wider than the
    image are applied in rounds (reflections of reflections)."""
    left, right, top, bottom = pad
    while left or right or top or bottom:
        H, W = x.shape[-2:]
        step = (min(left, W - 1), min(right, W - 1), min(top, H - 1), min(bottom, H - 1))
        x = F.pad(x, step, mode="reflect")
        left, right, top, bottom = (a - b for a, b in zip((left, right, top, bottom), step))
    return x


@torch.no_grad()
def conv_operator_norm(filters, stride, image_size=64, n_iter=50, seed=0):
    """Squared spectral norm ``L`` of the strided convolution ``z -> conv_transpose(z)``
    by power iteration on a ``image_size`` square (upper-bounds smaller images up to
    boundary effects; a 2 % margin is added)."""
    g = torch.Generator().manual_seed(seed)
    k = filters.shape[-1]
    n = (image_size - k) // stride + 1
    z = torch.randn(1, filters.shape[0], n, n, generator=g, dtype=filters.dtype)
    z /= z.norm()
    lam = 1.0
    for _ in range(n_iter):
        x = F.conv_transpose2d(z, filters, stride=stride)
        z = F.conv2d(x, filters, stride=stride)
        lam = float(z.norm())
        z /= lam
    return 1.02 * lam


# --------------------------------------------------------------------------- CSCnet
class CSCNet(nn.Module):
    r"""CSCnet: convolutional LISTA with strided filters and shift averaging.

    Each of the ``stride ** 2`` shifted (reflect-padded) copies of the image is coded by

    .. math::

        z^{(0)} = \eta_\theta(B^\top y), \qquad
        z^{(t+1)} = \eta_\theta\big(z^{(t)} - B^\top (A z^{(t)} - y)\big),

    for ``n_layers`` thresholdings in all, with :math:`A z = \sum_m a_m *_s z_m` the
    strided transposed convolution by the decoder filters, :math:`B^\top` the strided
    convolution by the encoder filters, :math:`\eta_\theta` the soft threshold with one
    learned :math:`\theta_m` per filter; the output is :math:`C z^{(T)}` (output filters),
    cropped, averaged over the shifts, plus the image mean removed at the input.

    Parameters
    ----------
    n_filters : int, default=175
    kernel_size : int, default=11
    stride : int, default=8
    n_layers : int, default=12
        Number of thresholdings (ISTA iterations from zero).
    filters : array-like of shape (n_filters, kernel_size, kernel_size), default=None
        Initial dictionary filters ``D``; default the overcomplete 2-D DCT.
    lam : float, default=0.05
        Initial :math:`\lambda` (intensities in [0, 1]); thresholds start at
        :math:`\lambda / \sqrt L` (the codes are :math:`\sqrt L` times ISTA's).
    remove_mean : bool, default=True
        Code ``y - mean(y)`` (per image) and add the mean back.

    Attributes
    ----------
    encoder, decoder, output : Parameter of shape (n_filters, 1, k, k)
        :math:`B`, :math:`A`, :math:`C`.
    threshold : Parameter of shape (n_filters,)
    lipschitz : float
        :math:`L` of the initial filters.
    """

    def __init__(self, n_filters=175, kernel_size=11, stride=8, n_layers=12, *,
                 filters=None, lam=0.05, remove_mean=True):
        super().__init__()
        for name, v in (("n_filters", n_filters), ("kernel_size", kernel_size),
                        ("stride", stride), ("n_layers", n_layers)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}.")
        if stride > kernel_size:
            raise ValueError(
                f"stride={stride} must be <= kernel_size={kernel_size} so that the "
                "filters cover the image."
            )
        if not (isinstance(lam, (int, float)) and math.isfinite(lam) and lam >= 0):
            raise ValueError(f"lam must be a non-negative float, got {lam!r}.")
        self.n_filters, self.kernel_size, self.stride = n_filters, kernel_size, stride
        self.n_layers, self.remove_mean = n_layers, bool(remove_mean)
        D = _as_filters(filters, n_filters, kernel_size)
        L = conv_operator_norm(D.double(), stride)
        self.lipschitz = L
        W = D / math.sqrt(L)
        self.encoder = nn.Parameter(W.clone())
        self.decoder = nn.Parameter(W.clone())
        self.output = nn.Parameter(W.clone())
        self.threshold = nn.Parameter(torch.full((n_filters,), float(lam) / math.sqrt(L)))

    def set_lam(self, lam):
        """Reset the thresholds to ``lam / sqrt(L)`` (ISTA of penalty ``lam``)."""
        with torch.no_grad():
            self.threshold.fill_(float(lam) / math.sqrt(self.lipschitz))
        return self

    def _check(self, x):
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(
                f"CSCNet expects a batch of grayscale images (N, 1, H, W), got shape "
                f"{tuple(x.shape)}."
            )
        if min(x.shape[-2:]) < self.kernel_size:
            raise ValueError(
                f"the image ({x.shape[-2]}x{x.shape[-1]}) is smaller than the "
                f"{self.kernel_size}x{self.kernel_size} filters."
            )

    def split(self, x, shifts=None):
        """Reflect-padded shifted copies of ``x``, stacked in the batch (shift-major):
        ``(N * n_shifts, 1, H', W')``, and their paddings. ``shifts`` selects indices
        into :func:`shift_pads` (default all ``stride ** 2``)."""
        pads = shift_pads(x.shape[-2:], self.kernel_size, self.stride)
        if shifts is not None:
            pads = [pads[i] for i in shifts]
        return torch.cat([_pad_reflect(x, p) for p in pads], dim=0), pads

    def code(self, y):
        """Codes ``(n, n_filters, h, w)`` of padded images ``y`` ``(n, 1, H', W')``."""
        theta = self.threshold.view(1, -1, 1, 1)
        s = self.stride
        by = F.conv2d(y, self.encoder, stride=s)
        z = soft_threshold(by, theta)
        for _ in range(self.n_layers - 1):
            r = self.synthesize(z, self.decoder, y.shape[-2:])
            z = soft_threshold(z - F.conv2d(r, self.encoder, stride=s) + by, theta)
        return z

    def synthesize(self, z, filters, size):
        """``sum_m filters_m *_s z_m``: the strided transposed convolution, computed as
        a matrix product and a fold (several times faster than ``conv_transpose2d`` on
        the CPU)."""
        n, m = z.shape[:2]
        k = self.kernel_size
        cols = filters.reshape(m, k * k).T @ z.reshape(n, m, -1)
        return F.fold(cols, tuple(size), k, stride=self.stride)

    def forward(self, x, *, shifts=None, chunk=8):
        """Denoise ``x`` ``(N, 1, H, W)``.

        ``shifts``: indices of the shifts to average (default all ``stride ** 2``; the
        training recipe averages a random subset per step). ``chunk``: shifts coded at
        a time (bounds memory; the result does not depend on it).
        """
        self._check(x)
        N, _, H, W = x.shape
        mean = x.mean(dim=(-2, -1), keepdim=True) if self.remove_mean else 0.0
        xc = x - mean
        if shifts is None:
            shifts = range(self.stride ** 2)
        shifts = list(shifts)
        out = 0.0
        for start in range(0, len(shifts), chunk):
            xs, pads = self.split(xc, shifts[start:start + chunk])
            rec = self.synthesize(self.code(xs), self.output, xs.shape[-2:])
            for n, (left, _, top, _) in enumerate(pads):
                out = out + rec[n * N:(n + 1) * N, :, top:top + H, left:left + W]
        return out / len(shifts) + mean


# --------------------------------------------------------------------------- Deep K-SVD
def _inv_softplus(v):
    return float(v + math.log(-math.expm1(-v))) if v < 20 else float(v)


class DeepKSVD(nn.Module):
    r"""Deep K-SVD: patch-based unrolled sparse coding with a per-patch penalty.

    For every overlapping ``p × p`` patch :math:`y_i` (stride 1), with its mean
    :math:`\bar y_i` removed,

    .. math::

        \lambda_i = \operatorname{softplus}(\mathrm{MLP}(y_i - \bar y_i)), \qquad
        z^{(t+1)} = \eta_{\lambda_i / c}\Big(z^{(t)} - \tfrac1c
        (z^{(t)} D - (y_i - \bar y_i)) D^\top\Big),\ z^{(0)} = 0,

    for ``n_layers`` steps (LISTA with tied weights, :math:`D` the dictionary with atoms
    in rows and :math:`c` a learned step), and the image is
    :math:`\hat x = \sum_i R_i^\top (w \odot (z_i D + \bar y_i)) \oslash
    \sum_i R_i^\top w` with learned positive pixel weights :math:`w` (``p * p``).

    Untrained, the MLP outputs the constant ``lam`` (its last layer is zero with bias
    :math:`\operatorname{softplus}^{-1}(\lambda)`), :math:`c = \|D\|_2^2` and
    :math:`w = 1`: ``n_layers`` ISTA iterations of the lasso per patch over the
    overcomplete DCT, overlap-averaged.

    Parameters
    ----------
    patch_size : int, default=8
    n_components : int, default=256
    n_layers : int, default=5
    hidden : tuple of int, default=(128, 64, 32)
        Widths of the hidden layers of the MLP.
    dictionary : array-like of shape (n_components, patch_size ** 2), default=None
        Initial dictionary; default the overcomplete DCT.
    lam : float, default=0.05
        Initial penalty (intensities in [0, 1]).
    """

    def __init__(self, patch_size=8, n_components=256, n_layers=5, *, hidden=(128, 64, 32),
                 dictionary=None, lam=0.05):
        super().__init__()
        for name, v in (("patch_size", patch_size), ("n_components", n_components),
                        ("n_layers", n_layers)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}.")
        if not (isinstance(lam, (int, float)) and math.isfinite(lam) and lam > 0):
            raise ValueError(f"lam must be a positive float, got {lam!r}.")
        self.patch_size, self.n_components, self.n_layers = patch_size, n_components, n_layers
        self.hidden = tuple(int(h) for h in hidden)
        d = patch_size * patch_size
        if dictionary is None:
            D = overcomplete_dct_dictionary(patch_size, n_components)
        else:
            D = np.asarray(dictionary, dtype=np.float64)
            if D.shape != (n_components, d) or not np.isfinite(D).all():
                raise ValueError(
                    f"dictionary must be a finite array of shape ({n_components}, {d}), "
                    f"got {D.shape}."
                )
        self.dictionary = nn.Parameter(torch.as_tensor(D, dtype=torch.float32))
        c = float(np.linalg.norm(D, 2) ** 2)
        self.step = nn.Parameter(torch.tensor(c, dtype=torch.float32))
        layers, width = [], d
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        last = nn.Linear(width, 1)
        nn.init.zeros_(last.weight)
        nn.init.constant_(last.bias, _inv_softplus(float(lam)))
        self.mlp = nn.Sequential(*layers, last)
        self.log_weights = nn.Parameter(torch.zeros(d))

    def set_lam(self, lam):
        """Reset the MLP to the constant penalty ``lam`` (zero last layer)."""
        last = self.mlp[-1]
        with torch.no_grad():
            last.weight.zero_()
            last.bias.fill_(_inv_softplus(float(lam)))
        return self

    def _check(self, x):
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(
                f"DeepKSVD expects a batch of grayscale images (N, 1, H, W), got shape "
                f"{tuple(x.shape)}."
            )
        if min(x.shape[-2:]) < self.patch_size:
            raise ValueError(
                f"the image ({x.shape[-2]}x{x.shape[-1]}) is smaller than the "
                f"{self.patch_size}x{self.patch_size} patches."
            )

    def code_patches(self, P):
        """Denoised patches ``(..., p*p)`` of DC-removed patches ``P``; returns
        ``(patches, codes, lam)``."""
        D, c = self.dictionary, self.step
        lam = F.softplus(self.mlp(P))
        theta = lam / c
        G = D @ D.T
        S = torch.eye(D.shape[0], dtype=D.dtype, device=D.device) - G / c
        b = (P @ D.T) / c
        z = soft_threshold(b, theta)
        for _ in range(self.n_layers - 1):
            z = soft_threshold(z @ S + b, theta)
        return z @ D, z, lam

    def forward(self, x, *, chunk=None):
        self._check(x)
        N, _, H, W = x.shape
        p = self.patch_size
        cols = F.unfold(x, p)                        # (N, p*p, n_patches)
        P = cols.transpose(1, 2)                     # (N, n_patches, p*p)
        mean = P.mean(dim=-1, keepdim=True)
        P = P - mean
        if chunk is None or P.shape[1] <= chunk:
            rec = self.code_patches(P)[0]
        else:
            rec = torch.cat([self.code_patches(P[:, s:s + chunk])[0]
                             for s in range(0, P.shape[1], chunk)], dim=1)
        w = torch.exp(self.log_weights)
        num = F.fold(((rec + mean) * w).transpose(1, 2), (H, W), p)
        den = F.fold(w.expand(N, P.shape[1], -1).transpose(1, 2), (H, W), p)
        return num / den

