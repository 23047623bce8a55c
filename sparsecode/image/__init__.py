"""Images: patches, the overcomplete DCT dictionary, file I/O and quality metrics."""

from ._dct import overcomplete_dct_dictionary
from .io import read_image, write_image
from .metrics import nmse, psnr, ssim
from .patches import (
    accumulate_patches,
    extract_patches,
    overlap_counts,
    patch_grid,
    reconstruct_from_patches,
    sample_patches,
)

__all__ = [
    "overcomplete_dct_dictionary",
    "read_image",
    "write_image",
    "psnr",
    "ssim",
    "nmse",
    "patch_grid",
    "extract_patches",
    "reconstruct_from_patches",
    "accumulate_patches",
    "overlap_counts",
    "sample_patches",
]
