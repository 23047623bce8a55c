"""Labelled comparison figures for the demo and the examples (matplotlib, Agg).

Figures are drawn on a :class:`matplotlib.figure.Figure` with the Agg canvas directly,
so writing them neither needs a display nor changes the user's pyplot backend.
"""

from __future__ import annotations

import numpy as np


def comparison_figure(path, images, titles, *, suptitle=None, vmin=None, vmax=None,
                      panel_inches=3.2):
    """Write ``images`` side by side (grayscale, one shared intensity scale) to ``path``.

    Parameters
    ----------
    path : str
        Output file (PNG); returned.
    images : sequence of 2-D arrays
    titles : sequence of str
        One per image (e.g. the method and its PSNR).
    suptitle : str, default=None
    vmin, vmax : float, default=None
        Shared grey scale (None: the range of the first image).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if len(images) != len(titles):
        raise ValueError(f"one title per image: {len(images)} images, {len(titles)} titles.")
    first = np.asarray(images[0], dtype=np.float64)
    vmin = float(first.min()) if vmin is None else vmin
    vmax = float(first.max()) if vmax is None else vmax
    fig = Figure(figsize=(panel_inches * len(images), panel_inches + 0.6), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(images), squeeze=False)[0]
    for ax, img, title in zip(axes, images, titles):
        ax.imshow(np.asarray(img, dtype=np.float64), cmap="gray", vmin=vmin, vmax=vmax,
                  interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    return path


def codes_figure(path, true_code, code, *, title):
    """Stem plot of one true sparse code against its recovery."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    true_code, code = np.asarray(true_code), np.asarray(code)
    idx = np.arange(len(true_code))
    nz = true_code != 0
    ax.axhline(0.0, color="k", linewidth=0.8)
    ax.stem(idx[nz], true_code[nz], linefmt="C0-", markerfmt="C0o", basefmt=" ",
            label="true code")
    ax.plot(idx[code != 0], code[code != 0], "rx", markersize=10, mew=2,
            label="recovered (OMP)")
    ax.set_xlim(-1, len(true_code))
    ax.set_xlabel("atom")
    ax.set_ylabel("coefficient")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="best", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    return path
