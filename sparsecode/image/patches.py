"""Overlapping image patches: extraction and reassembly by overlap averaging.

The patch grid of an ``(H, W)`` image for ``p×p`` patches and stride ``s`` has its
top-left corners at rows ``0, s, 2s, ...`` and, whenever ``H - p`` is not a multiple of
``s``, also at ``H - p``, so that the last row of pixels is always covered (likewise for
columns). Every pixel is therefore covered by at least one patch and
:func:`reconstruct_from_patches` of :func:`extract_patches` is the identity.

Everything here is vectorised NumPy: extraction is one fancy-indexed copy of a strided
view, reassembly is ``p*p`` fancy-indexed additions (one per pixel offset inside the
patch), and the overlap counts are the outer product of two 1-D counts. Callers that
must bound memory (a 512×512 image has 255,025 patches of 64 pixels at stride 1) work
one band of patch rows at a time with :func:`extract_patches` ``(rows=...)`` and
:func:`accumulate_patches`.

Patches are flattened row-major: pixel ``(i, j)`` of a patch is feature ``i * pw + j``.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..utils._validation import _as_float_array

#: Widest float with at least 63 mantissa bits if the platform has one (exact sums of
#: up to 2**10 float64 values), float64 otherwise.
_WIDE = np.longdouble if np.finfo(np.longdouble).nmant >= 63 else np.float64

__all__ = [
    "patch_grid",
    "extract_patches",
    "reconstruct_from_patches",
    "accumulate_patches",
    "overlap_counts",
    "sample_patches",
]


def _pair(value, name, *, minimum=1):
    """An int or a pair of ints -> (int, int), each ``>= minimum``."""
    if isinstance(value, (numbers.Integral,)) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value)
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{name} must be an integer or a pair of integers, got {value!r}.")
    if min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}.")
    return pair


def _check_image_shape(image_shape, name="image_shape"):
    try:
        shape = tuple(int(s) for s in image_shape)
    except TypeError as exc:
        raise TypeError(f"{name} must be a pair (height, width), got {image_shape!r}.") from exc
    if len(shape) != 2:
        raise ValueError(
            f"{name} must describe a 2-D (grayscale) image (height, width), got {image_shape!r}."
        )
    return shape


def _axis_positions(length, patch, stride):
    pos = np.arange(0, length - patch + 1, stride, dtype=np.intp)
    if pos[-1] != length - patch:
        pos = np.append(pos, length - patch)
    return pos


def patch_grid(image_shape, patch_size=8, stride=1):
    """Top-left corners of the overlapping patches of an image.

    Parameters
    ----------
    image_shape : tuple of int (height, width)
        Shape of the 2-D image.
    patch_size : int or (int, int), default=8
        Patch height and width.
    stride : int or (int, int), default=1
        Step between neighbouring patches. The last row and column of patches (flush
        with the bottom and right borders) are always included, so the grid covers the
        whole image even when ``height - patch_size`` is not a multiple of ``stride``.

    Returns
    -------
    rows : ndarray of shape (n_rows,), int
        Row coordinates of the top-left corners, increasing.
    cols : ndarray of shape (n_cols,), int
        Column coordinates, increasing. The patches are ordered row-major over
        ``rows × cols``.

    Examples
    --------
    >>> from sparsecode.image.patches import patch_grid
    >>> rows, cols = patch_grid((10, 7), patch_size=4, stride=3)
    >>> rows.tolist(), cols.tolist()
    ([0, 3, 6], [0, 3])
    """
    H, W = _check_image_shape(image_shape)
    ph, pw = _pair(patch_size, "patch_size")
    sh, sw = _pair(stride, "stride")
    if ph > H or pw > W:
        raise ValueError(
            f"patch_size {(ph, pw)} is larger than the image {(H, W)}; patches must fit "
            "inside the image."
        )
    return _axis_positions(H, ph, sh), _axis_positions(W, pw, sw)


def _check_image(image, name="image"):
    arr = np.asarray(image) if image is not None else None
    if arr is not None and arr.ndim != 2 and arr.dtype.kind in "fiu":
        raise ValueError(
            f"{name} must be a 2-D (grayscale) array, got an array of shape {arr.shape}."
        )
    return _as_float_array(image, name, ndim=2)


def extract_patches(image, patch_size=8, stride=1, *, rows=None):
    """All overlapping patches of a 2-D image, one flattened patch per row.

    Parameters
    ----------
    image : array-like of shape (height, width)
        Grayscale image (any real dtype; float32 stays float32, others become float64).
    patch_size : int or (int, int), default=8
        Patch height and width.
    stride : int or (int, int), default=1
        Step between patches (see :func:`patch_grid`; the border patches are always
        included).
    rows : slice, default=None
        Only the patches whose top-left corner is in ``patch_grid(...)[0][rows]`` (a band
        of patch rows), to bound memory on large images. All rows when None.

    Returns
    -------
    patches : ndarray of shape (n_patches, patch_height * patch_width)
        Row-major over the grid, each patch flattened row-major. A new array (never a
        view of ``image``).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.image.patches import extract_patches, reconstruct_from_patches
    >>> img = np.arange(30.0).reshape(5, 6)
    >>> P = extract_patches(img, patch_size=3, stride=2)
    >>> P.shape
    (6, 9)
    >>> bool(np.array_equal(reconstruct_from_patches(P, img.shape, 3, stride=2), img))
    True
    """
    img = _check_image(image)
    ph, pw = _pair(patch_size, "patch_size")
    r, c = patch_grid(img.shape, (ph, pw), stride)
    if rows is not None:
        r = r[rows]
    return _extract(img, r, c, ph, pw)


def _extract(img, r, c, ph, pw):
    """Patches at the grid ``r × c`` (trusted inputs)."""
    view = sliding_window_view(img, (ph, pw))  # (H-ph+1, W-pw+1, ph, pw), no copy
    out = view[r[:, None], c[None, :]]  # one copy: (len(r), len(c), ph, pw)
    return out.reshape(len(r) * len(c), ph * pw)


def _extract_at(img, r, c, ph, pw):
    """Patches at the listed corners ``(r[k], c[k])`` (trusted inputs)."""
    view = sliding_window_view(img, (ph, pw))
    return view[r, c].reshape(len(r), ph * pw)


def sample_patches(image, patch_size=8, n_patches=None, stride=1, *, random_state=None):
    """A random subset of the overlapping patches (all of them if there are fewer).

    Parameters
    ----------
    image : array-like of shape (height, width)
    patch_size : int or (int, int), default=8
    n_patches : int, default=None
        Number of distinct patches drawn without replacement from the grid; all
        patches (in grid order) when None or when the grid has at most that many.
    stride : int or (int, int), default=1
    random_state : int, RandomState or Generator, default=None
        Seed of the draw.

    Returns
    -------
    patches : ndarray of shape (min(n_patches, n_grid), patch_height * patch_width)
    """
    from ..utils._validation import check_positive_int, check_random_state

    img = _check_image(image)
    ph, pw = _pair(patch_size, "patch_size")
    r, c = patch_grid(img.shape, (ph, pw), stride)
    total = len(r) * len(c)
    if n_patches is None or check_positive_int(n_patches, "n_patches") >= total:
        return _extract(img, r, c, ph, pw)
    if isinstance(random_state, np.random.Generator):
        pick = random_state.choice(total, size=n_patches, replace=False)
    else:
        pick = check_random_state(random_state).choice(total, size=n_patches, replace=False)
    pick.sort()
    return _extract_at(img, r[pick // len(c)], c[pick % len(c)], ph, pw)


def overlap_counts(image_shape, patch_size=8, stride=1):
    """Number of grid patches covering each pixel.

    Returns
    -------
    counts : ndarray of shape image_shape, float64
        At least 1 everywhere (the grid covers the image).
    """
    H, W = _check_image_shape(image_shape)
    ph, pw = _pair(patch_size, "patch_size")
    r, c = patch_grid((H, W), (ph, pw), stride)
    return np.outer(_axis_counts(H, r, ph), _axis_counts(W, c, pw))


def _axis_counts(length, pos, patch):
    cnt = np.zeros(length + 1, dtype=np.float64)
    np.add.at(cnt, pos, 1.0)
    np.add.at(cnt, pos + patch, -1.0)
    return np.cumsum(cnt)[:length]


def accumulate_patches(out, patches, r, c, patch_size):
    """Add patches into ``out`` in place at the grid ``r × c`` (no averaging).

    Parameters
    ----------
    out : ndarray of shape (height, width), float
        Accumulator, modified in place.
    patches : ndarray of shape (len(r) * len(c), ph * pw)
        Patches, row-major over ``r × c`` as returned by :func:`extract_patches`.
    r, c : ndarray of int
        Top-left corners (distinct, as returned by :func:`patch_grid`).
    patch_size : int or (int, int)

    Returns
    -------
    out : the same array.
    """
    ph, pw = _pair(patch_size, "patch_size")
    P = np.asarray(patches).reshape(len(r), len(c), ph, pw)
    if len(r) == 0 or len(c) == 0:
        return out
    # Row/column index sets of one offset are distinct, so += on a fancy index adds each
    # value exactly once. Contiguous runs (stride 1) use slices, which are faster.
    r_slice = _as_slice(r)
    c_slice = _as_slice(c)
    runs = r_slice is not None and c_slice is not None
    for di in range(ph):
        for dj in range(pw):
            if runs:
                out[r_slice.start + di:r_slice.stop + di,
                    c_slice.start + dj:c_slice.stop + dj] += P[:, :, di, dj]
            else:
                out[np.ix_(r + di, c + dj)] += P[:, :, di, dj]
    return out


def _as_slice(pos):
    """``slice(a, b)`` if ``pos`` is the run ``a, a+1, ..., b-1``, else None."""
    if len(pos) and pos[-1] - pos[0] == len(pos) - 1:
        return slice(int(pos[0]), int(pos[-1]) + 1)
    return None


def reconstruct_from_patches(patches, image_shape, patch_size=8, stride=1):
    r"""Reassemble an image from its grid patches by averaging the overlaps.

    .. math::

        \hat x = \Big(\sum_{k} R_k^\top p_k\Big) \oslash \Big(\sum_k R_k^\top
        \mathbf 1\Big)

    where :math:`R_k` extracts patch :math:`k` of the grid.

    Parameters
    ----------
    patches : array-like of shape (n_patches, patch_height * patch_width)
        Patches in the order of :func:`extract_patches` for the same ``image_shape``,
        ``patch_size`` and ``stride``.
    image_shape : tuple of int (height, width)
    patch_size : int or (int, int), default=8
    stride : int or (int, int), default=1

    Returns
    -------
    image : ndarray of shape image_shape
        float32 if ``patches`` is float32, float64 otherwise. For patches extracted from
        an image this returns the image exactly (sums are accumulated in a wider float:
        float64 for float32 patches, extended precision for float64 patches on
        platforms that have it, e.g. x86-64; elsewhere to within rounding).

    Raises
    ------
    ValueError
        If ``stride`` exceeds ``patch_size`` (pixels would be left uncovered) or the
        shape of ``patches`` does not match the grid.
    """
    H, W = _check_image_shape(image_shape)
    ph, pw = _pair(patch_size, "patch_size")
    r, c = patch_grid((H, W), (ph, pw), stride)
    P = _as_float_array(patches, "patches", ndim=2)
    expected = (len(r) * len(c), ph * pw)
    if P.shape != expected:
        raise ValueError(
            f"patches must have shape {expected} for image_shape {(H, W)}, patch_size "
            f"{(ph, pw)} and stride {_pair(stride, 'stride')}, got {P.shape}."
        )
    sh, sw = _pair(stride, "stride")
    if sh > ph or sw > pw:
        raise ValueError(
            f"stride {(sh, sw)} is larger than patch_size {(ph, pw)}: the patches leave "
            "pixels uncovered and the image cannot be reassembled."
        )
    # Accumulate in a wider type so that the sums of up to ph*pw copies of a value are
    # exact: float32 -> float64, float64 -> extended precision where the platform has
    # it (x86: 64-bit mantissa). The average of identical copies is then exactly the
    # value, making reassembly of extracted patches the identity.
    acc_dtype = np.float64 if P.dtype == np.float32 else _WIDE
    acc = np.zeros((H, W), dtype=acc_dtype)
    accumulate_patches(acc, P, r, c, (ph, pw))
    acc /= np.outer(_axis_counts(H, r, ph), _axis_counts(W, c, pw)).astype(acc_dtype)
    return acc.astype(P.dtype)
