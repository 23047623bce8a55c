"""Demo section: block compressed sensing of a bundled image (scikit-image's ``camera``)
at a 25 % measurement ratio, reconstructed by least squares, FISTA in the 2-D DCT domain
and total variation."""

from __future__ import annotations

import os
import time
import warnings

import numpy as np


def section(out, seed=0, quick=False):
    from skimage import data
    from sklearn.exceptions import ConvergenceWarning

    from sparsecode.cs import measure_image, reconstruct_image
    from sparsecode.image import psnr, ssim, write_image

    ratio = 0.25
    image = data.camera().astype(np.float64) / 255.0
    if quick:
        image = image[128:384, 128:384]
    y, A = measure_image(image, ratio, random_state=seed)
    write_image(os.path.join(out, "cs_original.png"), 255 * image)
    results = {}
    line = []
    panels, titles = [image], ["original"]
    for method in ("backprojection", "fista-dct", "tv"):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            # The demo runs each solver for its default iteration budget; TV is usually
            # still improving (slowly) when it stops, which is fine for a demo.
            warnings.simplefilter("ignore", ConvergenceWarning)
            x = reconstruct_image(y, A, method=method, image_shape=image.shape)
        elapsed = time.perf_counter() - t0
        p = psnr(image, x, data_range=1.0)
        s = ssim(image, x, data_range=1.0)
        results[method] = {"psnr": p, "ssim": s, "seconds": elapsed}
        write_image(os.path.join(out, f"cs_{method}.png"), 255 * np.clip(x, 0, 1))
        line.append(f"{method} {p:.2f} dB (SSIM {s:.3f}, {elapsed:.1f} s)")
        panels.append(np.clip(x, 0, 1))
        titles.append(f"{method}: PSNR {p:.2f} dB")
    from ._figures import comparison_figure

    figure = comparison_figure(
        os.path.join(out, "cs_comparison.png"), panels, titles, vmin=0, vmax=1,
        suptitle=f"Block CS of camera {image.shape[0]}×{image.shape[1]} from "
                 f"{int(100 * ratio)} % measurements (33×33 blocks)")
    print(f"[cs] block CS (33×33 orthogonalised Gaussian, {int(100 * ratio)} % of "
          f"measurements) of camera {image.shape[0]}×{image.shape[1]}:")
    print("     " + "; ".join(line) + f"; PNGs in {out}/, figure {figure}")
    return results
