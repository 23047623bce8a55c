"""Figure helper: a dictionary's atoms as an image grid."""

from __future__ import annotations

import math

import numpy as np


def plot_dictionary(dictionary, *, patch_shape=None, n_cols=None, ax=None, cmap="gray",
                    title=None, padding=1):
    """Draw the atoms of a dictionary as a grid of small images.

    Parameters
    ----------
    dictionary : array-like of shape (n_components, n_features) or (n_components, h, w)
        Atoms, one per row, or convolutional filters (a 3-D array, e.g. the
        ``components_`` of :class:`~sparsecode.convolutional.ConvolutionalDictionaryLearning`);
        or a fitted estimator with ``components_``.
    patch_shape : tuple of int, default=None
        Shape of one atom image; ``(p, p)`` with ``p = sqrt(n_features)`` if None (for
        3-D filters, their own ``(h, w)``).
    n_cols : int, default=None
        Atoms per grid row (``ceil(sqrt(n_components))`` if None).
    ax : matplotlib Axes, default=None
        Where to draw; a new figure if None.
    cmap : str, default="gray"
    title : str, default=None
    padding : int, default=1
        Pixels between atoms.

    Returns
    -------
    fig : matplotlib Figure
        Each atom is scaled to its own [min, max] range; padding is drawn in white.

    Examples
    --------
    >>> import numpy as np
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sparsecode.dictionary import plot_dictionary
    >>> fig = plot_dictionary(np.random.default_rng(0).standard_normal((16, 64)))
    >>> fig = plot_dictionary(np.random.default_rng(0).standard_normal((36, 12, 12)))
    """
    import matplotlib.pyplot as plt

    D = getattr(dictionary, "components_", dictionary)
    D = np.asarray(D, dtype=np.float64)
    if D.ndim == 3:
        if patch_shape is not None and tuple(patch_shape) != D.shape[1:]:
            raise ValueError(f"patch_shape {tuple(patch_shape)} does not match filters of "
                             f"shape {D.shape[1:]}.")
        patch_shape = D.shape[1:]
        D = D.reshape(D.shape[0], -1)
    if D.ndim != 2:
        raise ValueError(f"dictionary must be 2-D (n_components, n_features) or 3-D "
                         f"filters (n_components, h, w), got {D.shape}.")
    k, n = D.shape
    if patch_shape is None:
        p = math.isqrt(n)
        if p * p != n:
            raise ValueError(
                f"patch_shape is required: n_features={n} is not a perfect square."
            )
        patch_shape = (p, p)
    if int(np.prod(patch_shape)) != n:
        raise ValueError(f"patch_shape {tuple(patch_shape)} does not hold {n} features.")
    h, w = patch_shape
    n_cols = n_cols or math.ceil(math.sqrt(k))
    n_rows = math.ceil(k / n_cols)
    grid = np.ones((n_rows * (h + padding) + padding, n_cols * (w + padding) + padding))
    for i, atom in enumerate(D):
        lo, hi = atom.min(), atom.max()
        img = (atom - lo) / (hi - lo) if hi > lo else np.full(n, 0.5)
        r, c = divmod(i, n_cols)
        y, x = padding + r * (h + padding), padding + c * (w + padding)
        grid[y:y + h, x:x + w] = img.reshape(h, w)
    if ax is None:
        fig, ax = plt.subplots(figsize=(min(12, 0.4 * n_cols + 1), min(12, 0.4 * n_rows + 1)))
    else:
        fig = ax.figure
    ax.imshow(grid, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig
