"""Operators on images flattened row-major: block compressed sensing and sparsifying transforms.

An image of shape ``(height, width)`` is the vector ``image.ravel()`` of
``height * width`` features; a batch of images is ``(..., height * width)``.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..utils._validation import check_positive_int
from ._base import LinearOperator
from ._dense import (
    BernoulliOperator,
    GaussianOperator,
    MatrixOperator,
    OrthogonalGaussianOperator,
)
from ._fast import SubsampledDCTOperator, SubsampledHadamardOperator


def check_image_shape(image_shape, name="image_shape"):
    """Validate a pair ``(height, width)`` of positive integers."""
    try:
        shape = tuple(image_shape)
    except TypeError:
        raise TypeError(f"{name} must be a pair (height, width), got {image_shape!r}.") from None
    if len(shape) != 2:
        raise ValueError(f"{name} must be a pair (height, width), got {image_shape!r}.")
    return (check_positive_int(shape[0], f"{name}[0]"), check_positive_int(shape[1], f"{name}[1]"))


def check_ratio(ratio, name="ratio"):
    """Validate a measurement ratio in (0, 1]."""
    if isinstance(ratio, bool) or not isinstance(ratio, numbers.Real):
        raise TypeError(f"{name} must be a float in (0, 1], got {ratio!r}.")
    ratio = float(ratio)
    if not (0.0 < ratio <= 1.0):  # also rejects NaN
        raise ValueError(f"{name} must be in (0, 1], got {ratio}.")
    return ratio


def n_measurements_for(ratio, n_features):
    """Measurements per block for a CS ratio: ``round(ratio * n_features)``, at least 1.

    Halves round up (0.5 * 1089 -> 545 as in ISTA-Net's matrices).
    """
    ratio = check_ratio(ratio)
    return int(min(n_features, max(1, np.floor(ratio * n_features + 0.5))))


class BlockCSOperator(LinearOperator):
    r"""Block compressed sensing of an image: one matrix applied to every B×B block.

    The image of shape ``(height, width)`` is zero-padded at the bottom and right to
    multiples of ``block_size``, cut into non-overlapping blocks (row-major order),
    each block flattened row-major and measured by ``block_operator``
    (:math:`\Phi`, shape ``(m, B*B)``); measurements are laid out block after block.
    The adjoint applies :math:`\Phi^\top` to every block and crops the padding.

    Parameters
    ----------
    image_shape : (int, int)
        ``(height, width)`` of the images.
    block_operator : LinearOperator or array-like of shape (m, block_size**2)
        The per-block sensing matrix :math:`\Phi`.
    block_size : int, default=33
        Side ``B`` of the blocks (33 as in ReconNet/ISTA-Net).

    Attributes
    ----------
    n_blocks : int
        Number of blocks, ``ceil(height/B) * ceil(width/B)``.
    padded_shape : (int, int)

    See Also
    --------
    block_cs_operator : build one from a CS ratio and a random ensemble.

    Examples
    --------
    >>> from sparsecode.operators import block_cs_operator
    >>> A = block_cs_operator((40, 40), 0.25, block_size=8, random_state=0)
    >>> A.shape  # 25 blocks of 16 measurements
    (400, 1600)
    """

    def __init__(self, image_shape, block_operator, *, block_size=33):
        self.image_shape = check_image_shape(image_shape)
        self.block_size = B = check_positive_int(block_size, "block_size")
        if not isinstance(block_operator, LinearOperator):
            block_operator = MatrixOperator(block_operator, name="block_operator")
        if block_operator.shape[1] != B * B:
            raise ValueError(
                f"block_operator must have shape (n_measurements, block_size**2) = (m, {B * B}), "
                f"got {block_operator.shape}."
            )
        self.block_operator = block_operator
        H, W = self.image_shape
        self._nbh, self._nbw = -(-H // B), -(-W // B)
        self.padded_shape = (self._nbh * B, self._nbw * B)
        self.n_blocks = self._nbh * self._nbw
        super().__init__((self.n_blocks * block_operator.shape[0], H * W), block_operator.dtype)

    def _to_blocks(self, x, xp):
        H, W = self.image_shape
        B = self.block_size
        lead = tuple(x.shape[:-1])
        img = xp.pad_last2(x.reshape(lead + (H, W)), self.padded_shape[0] - H,
                           self.padded_shape[1] - W)
        blocks = img.reshape(lead + (self._nbh, B, self._nbw, B))
        blocks = xp.swapaxes(blocks, -3, -2)  # (..., nbh, nbw, B, B)
        return blocks.reshape(lead + (self.n_blocks, B * B))

    def _from_blocks(self, blocks, xp):
        H, W = self.image_shape
        B = self.block_size
        lead = tuple(blocks.shape[:-2])
        img = xp.swapaxes(blocks.reshape(lead + (self._nbh, self._nbw, B, B)), -3, -2)
        img = img.reshape(lead + self.padded_shape)[..., :H, :W]
        return img.reshape(lead + (H * W,))

    def _forward(self, x, xp):
        lead = tuple(x.shape[:-1])
        y = self.block_operator._forward(self._to_blocks(x, xp), xp)
        return y.reshape(lead + (self.shape[0],))

    def _adjoint(self, y, xp):
        lead = tuple(y.shape[:-1])
        m = self.block_operator.shape[0]
        blocks = self.block_operator._adjoint(y.reshape(lead + (self.n_blocks, m)), xp)
        return self._from_blocks(blocks, xp)

    def _exact_lipschitz(self):
        return self.block_operator._exact_lipschitz()

    def __repr__(self):
        return (f"BlockCSOperator(image_shape={self.image_shape}, block_size={self.block_size}, "
                f"block_operator={self.block_operator!r})")


#: Largest explicit per-block matrix :func:`block_cs_operator` builds (256 MiB): a
#: 300-pixel block at ratio 0.25 would take 16 GiB (and its orthogonalisation more).
MAX_BLOCK_MATRIX_BYTES = 2**28

#: Ensembles stored as an explicit matrix (the others are fast transforms).
_EXPLICIT_ENSEMBLES = ("orthogonal-gaussian", "gaussian", "bernoulli")

#: Per-block sensing ensembles known by name to :func:`block_cs_operator`.
BLOCK_ENSEMBLES = {
    "orthogonal-gaussian": OrthogonalGaussianOperator,
    "gaussian": GaussianOperator,
    "bernoulli": BernoulliOperator,
    "dct": SubsampledDCTOperator,
    "hadamard": SubsampledHadamardOperator,
}


def block_cs_operator(image_shape, ratio, *, block_size=33, kind="orthogonal-gaussian",
                      random_state=0, dtype=np.float64):
    """Block-CS operator of an image for a CS ratio.

    Parameters
    ----------
    image_shape : (int, int)
        ``(height, width)``.
    ratio : float in (0, 1]
        Measurements per pixel; each block gets ``round(ratio * block_size**2)``.
    block_size : int, default=33
    kind : {"orthogonal-gaussian", "gaussian", "bernoulli", "dct", "hadamard"}
        Ensemble of the per-block matrix (default: Gaussian with orthonormal rows,
        as in ReconNet/ISTA-Net).
    random_state : int, Generator or None, default=0
    dtype : numpy dtype, default=np.float64

    Returns
    -------
    BlockCSOperator

    Raises
    ------
    ValueError
        When an explicit per-block matrix (the Gaussian and Bernoulli ensembles) would
        exceed :data:`MAX_BLOCK_MATRIX_BYTES` (256 MiB).
    """
    ratio = check_ratio(ratio)
    block_size = check_positive_int(block_size, "block_size")
    if kind not in BLOCK_ENSEMBLES:
        raise ValueError(f"kind must be one of {sorted(BLOCK_ENSEMBLES)}, got {kind!r}.")
    n = block_size * block_size
    m = n_measurements_for(ratio, n)
    nbytes = m * n * np.dtype(dtype).itemsize
    if kind in _EXPLICIT_ENSEMBLES and nbytes > MAX_BLOCK_MATRIX_BYTES:
        raise ValueError(
            f"block_size={block_size} at ratio={ratio:g} needs a {m}x{n} {kind} block "
            f"matrix of {nbytes / 2**30:.1f} GiB (the limit is "
            f"{MAX_BLOCK_MATRIX_BYTES / 2**20:.0f} MiB); use a smaller block_size (33, "
            "the usual, needs a few MiB) or kind='dct'/'hadamard' (fast, no matrix).")
    phi = BLOCK_ENSEMBLES[kind](m, n, random_state=random_state, dtype=dtype)
    return BlockCSOperator(image_shape, phi, block_size=block_size)


class CropOperator(LinearOperator):
    """Crop images to their top-left ``image_shape`` corner; the adjoint zero-pads.

    Lets a solver work on a larger canvas (e.g. a wavelet-friendly size) while the
    sensing operator sees the original image: ``A @ CropOperator(canvas, image)``.

    Parameters
    ----------
    canvas_shape : (int, int)
        Input ``(height, width)``.
    image_shape : (int, int)
        Output ``(height, width)``, no larger than the canvas.
    """

    def __init__(self, canvas_shape, image_shape):
        self.canvas_shape = check_image_shape(canvas_shape, "canvas_shape")
        self.image_shape = check_image_shape(image_shape)
        if (self.image_shape[0] > self.canvas_shape[0]
                or self.image_shape[1] > self.canvas_shape[1]):
            raise ValueError(f"image_shape={self.image_shape} must fit inside "
                             f"canvas_shape={self.canvas_shape}.")
        H, W = self.image_shape
        super().__init__((H * W, self.canvas_shape[0] * self.canvas_shape[1]))

    def _forward(self, x, xp):
        lead = tuple(x.shape[:-1])
        H, W = self.image_shape
        img = x.reshape(lead + self.canvas_shape)[..., :H, :W]
        return img.reshape(lead + (H * W,))

    def _adjoint(self, y, xp):
        lead = tuple(y.shape[:-1])
        H, W = self.image_shape
        img = xp.pad_last2(y.reshape(lead + (H, W)), self.canvas_shape[0] - H,
                           self.canvas_shape[1] - W)
        return img.reshape(lead + (self.shape[1],))

    def _exact_lipschitz(self):
        return 1.0

    def __repr__(self):
        return f"CropOperator(canvas_shape={self.canvas_shape}, image_shape={self.image_shape})"


class _ImageTransform(LinearOperator):
    """Square orthonormal analysis transform of images: ``forward`` = analysis."""

    def __init__(self, image_shape, dtype=np.float64):
        self.image_shape = check_image_shape(image_shape)
        n = self.image_shape[0] * self.image_shape[1]
        super().__init__((n, n), dtype)

    def _forward(self, x, xp):
        lead = tuple(x.shape[:-1])
        out = self._analysis(x.reshape(lead + self.image_shape), xp)
        return out.reshape(lead + (self.shape[0],))

    def _adjoint(self, c, xp):
        lead = tuple(c.shape[:-1])
        out = self._synthesis(c.reshape(lead + self.image_shape), xp)
        return out.reshape(lead + (self.shape[1],))

    def _exact_lipschitz(self):
        return 1.0

    def __repr__(self):
        return f"{type(self).__name__}(image_shape={self.image_shape})"


class DCT2Operator(_ImageTransform):
    r"""Orthonormal 2-D DCT-II of whole images (``scipy.fft.dct`` along both axes).

    ``forward`` gives the coefficients :math:`\Psi x`, ``adjoint`` (= inverse) the
    image :math:`\Psi^\top c`. Coefficients are laid out as the 2-D array
    ``(height, width)``, flattened row-major.

    Parameters
    ----------
    image_shape : (int, int)
    """

    def _analysis(self, img, xp):
        return xp.dct(xp.dct(img, axis=-1), axis=-2)

    def _synthesis(self, coef, xp):
        return xp.idct(xp.idct(coef, axis=-2), axis=-1)


_S = float(1.0 / np.sqrt(2.0))


class HaarWaveletOperator(_ImageTransform):
    r"""Orthonormal 2-D Haar wavelet transform of whole images (multi-level, Mallat layout).

    Each level splits the current approximation into LL (top-left), LH (top-right),
    HL (bottom-left) and HH (bottom-right) quarter-size sub-bands; ``levels`` levels are
    applied to the LL band in turn.

    Parameters
    ----------
    image_shape : (int, int)
    levels : int or None, default=None
        Number of levels. Both sides must be divisible by ``2**levels``. None: as
        many as the sides allow (at most ``log2(min(height, width))``).

    References
    ----------
    S. Mallat, "A theory for multiresolution signal decomposition: the wavelet
    representation", IEEE TPAMI 11(7), 1989. doi:10.1109/34.192463
    """

    def __init__(self, image_shape, levels=None, dtype=np.float64):
        super().__init__(image_shape, dtype)
        H, W = self.image_shape
        max_levels = 0
        while H % (2 ** (max_levels + 1)) == 0 and W % (2 ** (max_levels + 1)) == 0:
            max_levels += 1
        if levels is None:
            levels = max_levels
        else:
            levels = check_positive_int(levels, "levels", minimum=0)
            if levels > max_levels:
                raise ValueError(
                    f"levels={levels} needs both sides of image_shape={self.image_shape} "
                    f"divisible by {2**levels}; at most {max_levels} level(s) possible."
                )
        self.levels = levels

    def _analysis(self, x, xp, level=0):
        if level == self.levels:
            return x
        a, b = x[..., 0::2, :], x[..., 1::2, :]
        lo, hi = (a + b) * _S, (a - b) * _S
        ll = (lo[..., 0::2] + lo[..., 1::2]) * _S
        lh = (lo[..., 0::2] - lo[..., 1::2]) * _S
        hl = (hi[..., 0::2] + hi[..., 1::2]) * _S
        hh = (hi[..., 0::2] - hi[..., 1::2]) * _S
        ll = self._analysis(ll, xp, level + 1)
        top = xp.concatenate([ll, lh], axis=-1)
        bottom = xp.concatenate([hl, hh], axis=-1)
        return xp.concatenate([top, bottom], axis=-2)

    def _synthesis(self, c, xp, level=0):
        if level == self.levels:
            return c
        h, w = c.shape[-2], c.shape[-1]
        h2, w2 = h // 2, w // 2
        lead = tuple(c.shape[:-2])
        ll = self._synthesis(c[..., :h2, :w2], xp, level + 1)
        lh, hl, hh = c[..., :h2, w2:], c[..., h2:, :w2], c[..., h2:, w2:]
        lo = xp.stack([(ll + lh) * _S, (ll - lh) * _S], axis=-1).reshape(lead + (h2, w))
        hi = xp.stack([(hl + hh) * _S, (hl - hh) * _S], axis=-1).reshape(lead + (h2, w))
        return xp.stack([(lo + hi) * _S, (lo - hi) * _S], axis=-2).reshape(lead + (h, w))

    def __repr__(self):
        return f"HaarWaveletOperator(image_shape={self.image_shape}, levels={self.levels})"
