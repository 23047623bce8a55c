"""Classic compressed-sensing reconstruction of images.

Measure a grayscale image with block compressed sensing (:func:`measure_image`) and
reconstruct it (:func:`reconstruct_image`) by FISTA with an l1 prior on the 2-D DCT or
Haar wavelet coefficients of the whole image, by total variation, or by the
least-squares back-projection; :func:`search_alpha` tunes the penalty on images with
known ground truth. The operators come from :mod:`sparsecode.operators`.
"""

from ._reconstruct import (
    DEFAULT_ALPHA,
    DEFAULT_MAX_ITER,
    LEARNED_METHODS,
    METHODS,
    backprojection,
    image_quality,
    learned_sensing_operator,
    measure_image,
    reconstruct_image,
    search_alpha,
)

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_MAX_ITER",
    "LEARNED_METHODS",
    "METHODS",
    "backprojection",
    "image_quality",
    "learned_sensing_operator",
    "measure_image",
    "reconstruct_image",
    "search_alpha",
]
