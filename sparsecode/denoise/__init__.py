"""Image denoising with sparse models: K-SVD denoising (Elad & Aharon, 2006) and
fixed-dictionary (overcomplete DCT) patch denoising, any dictionary or coder pluggable.

The API is the function :func:`denoise_image`; see its docstring for the model.
"""

from ._patch_denoise import METHODS, denoise_image

__all__ = ["denoise_image", "METHODS"]
