"""Synthetic data generators and loaders for the standard test images.

The standard image sets (Set11, Set12, ...) are never shipped with the library: they are
read from a folder given by the user or by the ``SPARSECODE_DATA`` environment variable.
"""

from __future__ import annotations

import os

import numpy as np

from .utils._validation import check_positive_int, check_random_state


def make_sparse_signals(n_samples, n_features, n_components, n_nonzero_coefs, *,
                        noise=0.0, random_state=None, dtype=np.float64):
    r"""Signals ``X = Z D + noise`` from a random unit-norm dictionary and sparse codes.

    Parameters
    ----------
    n_samples, n_features, n_components : int
        Shapes: ``X (n_samples, n_features)``, ``D (n_components, n_features)``.
    n_nonzero_coefs : int
        Nonzeros per code, at uniformly random positions, values :math:`\pm(1 + U[0,1))`
        (bounded away from zero so the support is identifiable).
    noise : float, default=0.0
        Standard deviation of additive Gaussian noise.
    random_state : int, Generator or None

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    dictionary : ndarray of shape (n_components, n_features)
        Gaussian atoms normalised to unit l2 norm.
    codes : ndarray of shape (n_samples, n_components)

    Examples
    --------
    >>> from sparsecode.datasets import make_sparse_signals
    >>> X, D, Z = make_sparse_signals(5, 16, 32, 3, random_state=0)
    >>> X.shape, D.shape, (Z != 0).sum(axis=1).tolist()
    ((5, 16), (32, 16), [3, 3, 3, 3, 3])
    """
    n_samples = check_positive_int(n_samples, "n_samples")
    n_features = check_positive_int(n_features, "n_features")
    n_components = check_positive_int(n_components, "n_components")
    n_nonzero_coefs = check_positive_int(n_nonzero_coefs, "n_nonzero_coefs")
    if n_nonzero_coefs > n_components:
        raise ValueError(
            f"n_nonzero_coefs must be <= n_components={n_components}, got {n_nonzero_coefs}."
        )
    rng = np.random.default_rng(random_state) if not isinstance(
        random_state, np.random.RandomState) else random_state
    if isinstance(rng, np.random.RandomState):  # legacy generator
        rng = np.random.default_rng(rng.randint(2**31))
    D = rng.standard_normal((n_components, n_features))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    # Random supports for all samples at once: argpartition of uniform keys.
    keys = rng.random((n_samples, n_components))
    support = np.argpartition(keys, n_nonzero_coefs - 1, axis=1)[:, :n_nonzero_coefs]
    values = rng.choice([-1.0, 1.0], size=support.shape) * (1.0 + rng.random(support.shape))
    Z = np.zeros((n_samples, n_components))
    np.put_along_axis(Z, support, values, axis=1)
    X = Z @ D
    if noise:
        X += noise * rng.standard_normal(X.shape)
    return X.astype(dtype), D.astype(dtype), Z.astype(dtype)


def data_home(data=None):
    """The folder holding the standard test images.

    ``data`` if given, else ``$SPARSECODE_DATA``; raises ``FileNotFoundError`` with a
    hint when neither names an existing folder.
    """
    path = data or os.environ.get("SPARSECODE_DATA")
    if not path:
        raise FileNotFoundError(
            "no data folder: pass its path or set SPARSECODE_DATA to the folder that "
            "holds Set11/, Set12/, ... (see datasets/README.md)"
        )
    if not os.path.isdir(path):
        raise FileNotFoundError(f"data folder {path!r} does not exist")
    return path


def image_set_paths(name, data=None):
    """Sorted image files (png, bmp, tif, jpg) of one standard set, e.g. ``"Set12"``."""
    root = os.path.join(data_home(data), name)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"image set {name!r} not found under {data_home(data)!r}")
    exts = (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg", ".pgm")
    files = sorted(f for f in os.listdir(root) if f.lower().endswith(exts))
    return [os.path.join(root, f) for f in files]
