"""Reading and writing grayscale and colour images.

Convention: images are read as **float64 arrays in [0, 255]** (8-bit intensities,
whatever the file's bit depth), which is the scale in which the denoising literature
states noise levels (σ = 25 means 25 grey levels). :func:`write_image` writes such
arrays back as 8-bit PNG/TIFF/... after rounding and clipping to [0, 255]. Grayscale
arrays are ``(H, W)``, colour ones ``(H, W, 3)`` (RGB); :func:`read_image` gives
luminance unless ``mode="auto"`` or ``"rgb"`` asks for the colours.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

__all__ = ["read_image", "write_image", "check_output_path", "WRITE_EXTENSIONS"]

#: File extensions :func:`write_image` writes (8-bit grayscale).
WRITE_EXTENSIONS = (".png", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg", ".gif", ".webp")


def check_output_path(path, what="output"):
    """Raise ValueError unless ``path`` ends with a supported image extension and its
    folder exists (checked before any long computation)."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in WRITE_EXTENSIONS:
        raise ValueError(
            f"{what} {path!r} has {'extension ' + repr(ext) if ext else 'no extension'}; "
            f"supported image extensions: {', '.join(WRITE_EXTENSIONS)}.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"output folder does not exist: {folder}")
    return path


def read_image(path, *, mode="gray"):
    """Read an image as a float64 array with values in [0, 255].

    With ``mode="gray"`` colour images are converted to luminance (the weights of
    ``skimage.color.rgb2gray``); ``"auto"`` keeps the colours of a colour file
    (``(H, W, 3)``) and returns grayscale files as ``(H, W)``; ``"rgb"`` always returns
    ``(H, W, 3)`` (gray replicated). An alpha channel is dropped. 16-bit images are
    rescaled to [0, 255], and so are floating-point files whose values lie in [0, 1].

    Parameters
    ----------
    path : str or os.PathLike
        Any format imageio/scikit-image can read (PNG, TIFF, BMP, JPEG, ...).
    mode : {"gray", "auto", "rgb"}, default="gray"

    Returns
    -------
    image : ndarray of shape (height, width) or (height, width, 3), float64, values
        in [0, 255]

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a readable image or not 2-D after conversion.
    """
    import imageio.v3 as iio

    if mode not in ("gray", "auto", "rgb"):
        raise ValueError(f"mode must be 'gray', 'auto' or 'rgb', got {mode!r}.")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"image file not found: {path}")
    if os.path.isdir(path):
        raise ValueError(f"{path} is a directory, not an image file.")
    try:
        with warnings.catch_warnings():  # imageio's plugin probing warns on bad files
            warnings.simplefilter("ignore", DeprecationWarning)
            img = np.asarray(iio.imread(path))
    except Exception as exc:  # imageio raises many types for bad files
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"cannot read {path} as an image: {reason}") from exc
    if img.ndim == 3 and img.shape[-1] in (2, 4):  # drop alpha
        img = img[..., :-1]
    if img.dtype.kind in "iu":
        scale = 255.0 / np.iinfo(img.dtype).max
    elif img.dtype.kind == "b":
        scale = 255.0
    else:
        scale = 255.0 if img.size and float(np.nanmax(img)) <= 1.0 else 1.0
    img = img.astype(np.float64) * scale
    if img.ndim == 3 and img.shape[-1] == 3:
        if mode == "gray":
            img = img @ np.array([0.2125, 0.7154, 0.0721])
    elif img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[-1] == 3)):
        raise ValueError(
            f"{path} is not a 2-D grayscale or RGB image (array shape {img.shape})."
        )
    if img.size == 0:
        raise ValueError(f"{path} is an empty image.")
    if mode == "rgb" and img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    return np.ascontiguousarray(img)


def write_image(path, image):
    """Write a grayscale or RGB image with values in [0, 255] as an 8-bit file.

    Parameters
    ----------
    path : str or os.PathLike
        Output file; the format follows the extension, one of
        :data:`WRITE_EXTENSIONS` (``.png`` recommended); others raise instead of
        silently writing some default format.
    image : array-like of shape (height, width) or (height, width, 3)
        Values in [0, 255] (rounded and clipped; uint8 arrays are written as is).

    Raises
    ------
    ValueError
        If ``image`` is not 2-D or (H, W, 3), contains NaN, the extension is not
        supported, or the file cannot be written.
    """
    import imageio.v3 as iio

    path = check_output_path(path)
    arr = np.asarray(image)
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] == 3)):
        raise ValueError(
            f"image must be a 2-D (grayscale) or (H, W, 3) colour array, got shape "
            f"{arr.shape}."
        )
    if arr.dtype != np.uint8:
        arr = arr.astype(np.float64)
        if not np.isfinite(arr).all():
            raise ValueError("image contains NaN or infinity; cannot write it.")
        arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    try:
        iio.imwrite(path, arr)
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"cannot write {path}: {reason}") from exc
