"""Training data for the CS networks: blocks cut from a folder of images, the sensing
matrix of a ratio, and the least-squares initialisation.

The standard protocol of ReconNet / ISTA-Net is 88,912 random 33x33 blocks of the
luminance of the 91 images of Yang et al. ("T91"); :func:`training_blocks` with its
defaults cuts that many from any folder. Everything is NumPy; no ``.mat`` file.
"""

from __future__ import annotations

import glob
import os

import numpy as np

from ...operators import OrthogonalGaussianOperator
from ...operators._image import check_ratio, n_measurements_for
from ...utils._validation import check_positive_int

__all__ = [
    "IMAGE_EXTENSIONS",
    "N_BLOCKS_T91",
    "extract_blocks",
    "find_dataset",
    "least_squares_init",
    "load_images",
    "sensing_matrix",
    "training_blocks",
]

#: File extensions read by :func:`load_images`.
IMAGE_EXTENSIONS = (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg", ".pgm")

#: Number of training blocks of the published protocol (T91, 33x33 blocks).
N_BLOCKS_T91 = 88912


def find_dataset(name, data=None):
    """The folder of a data set: ``data`` itself or its ``name`` sub-folder, else
    ``$SPARSECODE_DATA/name``; ``None`` when none exists."""
    roots = [data] if data else []
    if os.environ.get("SPARSECODE_DATA"):
        roots.append(os.environ["SPARSECODE_DATA"])
    for root in roots:
        for folder in (os.path.join(root, name), root):
            if os.path.isdir(folder) and _image_files(folder):
                return folder
    return None


def _image_files(folder):
    return sorted(f for f in glob.glob(os.path.join(folder, "*"))
                  if f.lower().endswith(IMAGE_EXTENSIONS))


def load_images(folder):
    """All images of a folder as luminance arrays in [0, 1] (sorted by file name).

    Colour images are converted by :func:`sparsecode.image.io.read_image`.

    Returns
    -------
    images : list of ndarray of shape (height, width), float64
    """
    from ...image.io import read_image

    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise ValueError(f"folder must be a directory of images, got {folder!r}.")
    files = _image_files(folder)
    if not files:
        raise ValueError(f"no image ({', '.join(IMAGE_EXTENSIONS)}) found in {folder!r}.")
    return [read_image(f) / 255.0 for f in files]


def _check_images(images, block_size):
    if isinstance(images, np.ndarray) and images.ndim == 2:
        images = [images]
    out = []
    for i, img in enumerate(images):
        img = np.asarray(img, dtype=np.float64)
        if img.ndim != 2:
            raise ValueError(f"images[{i}] must be a 2-D grayscale image, got shape {img.shape}.")
        if img.shape[0] < block_size or img.shape[1] < block_size:
            raise ValueError(f"images[{i}] of shape {img.shape} is smaller than a block "
                             f"({block_size}x{block_size}).")
        if not np.all(np.isfinite(img)):
            raise ValueError(f"images[{i}] contains NaN or infinity.")
        out.append(img)
    if not out:
        raise ValueError("images must contain at least one image.")
    return out


def extract_blocks(images, block_size=33, *, n_blocks=None, stride=None, augment=False,
                   random_state=0, dtype=np.float32):
    """Cut ``block_size x block_size`` blocks from images, flattened row-major.

    Parameters
    ----------
    images : sequence of array-like of shape (height, width)
        Luminance images (any size at least ``block_size`` on both sides).
    block_size : int, default=33
    n_blocks : int or None, default=None
        Random crops, each from an image drawn with probability proportional to its
        number of block positions (ISTA-Net's "88,912 randomly cropped blocks"). None:
        a regular grid instead.
    stride : int or None, default=None
        Grid step when ``n_blocks`` is None (default ``block_size``: non-overlapping).
    augment : bool, default=False
        Apply a random one of the 8 flips/rotations of the square to every block.
    random_state : int or Generator, default=0
    dtype : numpy dtype, default=float32

    Returns
    -------
    blocks : ndarray of shape (n_blocks, block_size**2)
    """
    B = check_positive_int(block_size, "block_size")
    images = _check_images(images, B)
    rng = np.random.default_rng(random_state)
    if n_blocks is None:
        step = B if stride is None else check_positive_int(stride, "stride")
        out = []
        for img in images:
            H, W = img.shape
            for i in range(0, H - B + 1, step):
                for j in range(0, W - B + 1, step):
                    out.append(img[i:i + B, j:j + B])
        blocks = np.stack(out)
    else:
        n_blocks = check_positive_int(n_blocks, "n_blocks")
        positions = np.array([(h - B + 1) * (w - B + 1) for h, w in
                              (img.shape for img in images)], dtype=np.float64)
        which = rng.choice(len(images), size=n_blocks, p=positions / positions.sum())
        blocks = np.empty((n_blocks, B, B))
        for k, idx in enumerate(which):
            img = images[idx]
            i = rng.integers(0, img.shape[0] - B + 1)
            j = rng.integers(0, img.shape[1] - B + 1)
            blocks[k] = img[i:i + B, j:j + B]
    if augment:
        ops = rng.integers(0, 8, size=len(blocks))
        for k, op in enumerate(ops):
            b = np.rot90(blocks[k], op % 4)
            blocks[k] = b.T if op >= 4 else b
    return np.ascontiguousarray(blocks.reshape(len(blocks), B * B), dtype=dtype)


def training_blocks(folder=None, block_size=33, *, n_blocks=N_BLOCKS_T91, augment=False,
                    random_state=0, dtype=np.float32):
    """Training blocks of a folder of images (default ``$SPARSECODE_DATA/T91``).

    With the defaults: the published protocol, 88,912 random 33x33 luminance blocks.
    """
    if folder is None:
        folder = find_dataset("T91")
        if folder is None:
            raise ValueError("folder is None and no T91 folder was found under "
                             "$SPARSECODE_DATA; give the folder of training images.")
    return extract_blocks(load_images(folder), block_size, n_blocks=n_blocks,
                          augment=augment, random_state=random_state, dtype=dtype)


def sensing_matrix(ratio, block_size=33, *, random_state=0, dtype=np.float64):
    """The per-block Gaussian matrix with orthonormal rows of a CS ratio.

    The draw of :class:`sparsecode.operators.OrthogonalGaussianOperator` with
    ``round(ratio * block_size**2)`` rows: the same matrix as
    ``sparsecode.cs.measure_image(image, ratio, block_size=..., random_state=...)``.

    Returns
    -------
    phi : ndarray of shape (n_measurements, block_size**2)
    """
    ratio = check_ratio(ratio)
    B = check_positive_int(block_size, "block_size")
    m = n_measurements_for(ratio, B * B)
    op = OrthogonalGaussianOperator(m, B * B, random_state=random_state, dtype=np.float64)
    return op.to_matrix().astype(dtype)


def least_squares_init(blocks, measurements, *, ridge=1e-6):
    r"""ISTA-Net's initialisation matrix :math:`Q_\text{init} = X Y^\top (Y Y^\top)^{-1}`.

    With blocks and measurements in rows (``X (N, n)``, ``Y (N, m)``) this is the
    least-squares linear map from measurements to blocks, ``x0 = Q y``.

    Parameters
    ----------
    blocks : ndarray of shape (n_samples, n_features)
    measurements : ndarray of shape (n_samples, n_measurements)
    ridge : float, default=1e-6
        Relative Tikhonov term added to :math:`YY^\top` (its trace / m times ``ridge``)
        so that a rank-deficient set of measurements still gives a matrix.

    Returns
    -------
    Q : ndarray of shape (n_features, n_measurements), float64
    """
    import scipy.linalg

    X = np.asarray(blocks)
    Y = np.asarray(measurements)
    if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0]:
        raise ValueError(f"blocks and measurements must be 2-D with the same number of rows, "
                         f"got {X.shape} and {Y.shape}.")
    m, n = Y.shape[1], X.shape[1]
    G = np.zeros((m, m))
    C = np.zeros((m, n))
    for start in range(0, X.shape[0], 8192):  # float64 sums over bounded chunks
        Xc = X[start:start + 8192].astype(np.float64)
        Yc = Y[start:start + 8192].astype(np.float64)
        G += Yc.T @ Yc
        C += Yc.T @ Xc
    G[np.diag_indices_from(G)] += ridge * max(np.trace(G) / m, 1e-300)
    return scipy.linalg.solve(G, C, assume_a="pos").T
