"""Image quality metrics: PSNR and SSIM (scikit-image), NMSE."""

from __future__ import annotations

import numpy as np

__all__ = ["psnr", "ssim", "nmse"]


def _pair_of_images(reference, estimate):
    ref = np.asarray(reference, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    if ref.shape != est.shape:
        raise ValueError(
            f"reference and estimate must have the same shape, got {ref.shape} and {est.shape}."
        )
    if ref.size == 0:
        raise ValueError("reference is empty; at least one value is needed.")
    if not (np.isfinite(ref).all() and np.isfinite(est).all()):
        raise ValueError("reference and estimate must be finite (no NaN or infinity).")
    return ref, est


def _data_range(reference, data_range):
    if data_range is not None:
        data_range = float(data_range)
        if not data_range > 0:
            raise ValueError(f"data_range must be positive, got {data_range}.")
        return data_range
    ref = np.asarray(reference)
    if ref.dtype.kind in "iu":
        info = np.iinfo(ref.dtype)
        return float(info.max - min(info.min, 0))
    raise ValueError(
        "data_range is required for floating-point images (e.g. 255.0 for images in "
        "[0, 255], 1.0 for images in [0, 1])."
    )


def psnr(reference, estimate, *, data_range=None):
    r"""Peak signal-to-noise ratio in dB.

    .. math:: \mathrm{PSNR} = 10 \log_{10} \frac{R^2}{\frac1N \|x - \hat x\|_2^2}

    Parameters
    ----------
    reference, estimate : array-like of the same shape
        Clean and estimated images.
    data_range : float, default=None
        Peak value :math:`R`. Required for floating-point references; integer
        references default to the dtype's range (255 for uint8).

    Returns
    -------
    psnr : float
        ``inf`` when the images are equal.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.image.metrics import psnr
    >>> round(psnr(np.zeros((4, 4)), np.full((4, 4), 2.55), data_range=255.0), 6)
    40.0
    """
    R = _data_range(reference, data_range)
    ref, est = _pair_of_images(reference, estimate)
    mse = float(np.mean((ref - est) ** 2))
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(R * R / mse))


def ssim(reference, estimate, *, data_range=None, **kwargs):
    """Structural similarity index (``skimage.metrics.structural_similarity``).

    Parameters
    ----------
    reference, estimate : array-like of the same shape (2-D)
    data_range : float, default=None
        As in :func:`psnr`.
    **kwargs
        Passed to :func:`skimage.metrics.structural_similarity` (defaults: 7×7 uniform
        window, as scikit-image).

    Returns
    -------
    ssim : float
    """
    from skimage.metrics import structural_similarity

    R = _data_range(reference, data_range)
    ref, est = _pair_of_images(reference, estimate)
    return float(structural_similarity(ref, est, data_range=R, **kwargs))


def nmse(reference, estimate):
    r"""Normalised mean squared error :math:`\|x - \hat x\|_2^2 / \|x\|_2^2`.

    Returns
    -------
    nmse : float
        Raises ``ValueError`` if the reference is identically zero.
    """
    ref, est = _pair_of_images(reference, estimate)
    denom = float(np.sum(ref * ref))
    if denom == 0:
        raise ValueError("reference is identically zero; NMSE is undefined.")
    return float(np.sum((ref - est) ** 2) / denom)
