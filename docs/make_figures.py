"""Generate the figures of the user guide into docs/_static/ (seeded, under a minute).

    python docs/make_figures.py

Figures:

- ``dictionary_atoms.png``: the overcomplete 2-D DCT dictionary next to the dictionary
  learned from it by approximate K-SVD on 8x8 patches of ``skimage.data.camera()``.
- ``denoising_camera.png``: clean / noisy (sigma = 25) / K-SVD-denoised crop of the
  same image, with PSNRs.
"""

from __future__ import annotations

import os
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from skimage.data import camera  # noqa: E402

from sparsecode.denoise import denoise_image  # noqa: E402
from sparsecode.dictionary import DictionaryLearning, plot_dictionary  # noqa: E402
from sparsecode.image import overcomplete_dct_dictionary, psnr, sample_patches  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "_static")
SEED = 0


def figure_dictionary():
    image = camera().astype(np.float64) / 255.0
    X = sample_patches(image, patch_size=8, n_patches=20000, random_state=SEED)
    X = X - X.mean(axis=1, keepdims=True)  # remove the DC of every patch
    D0 = overcomplete_dct_dictionary(8, 256)
    est = DictionaryLearning(256, algorithm="approx_ksvd", n_nonzero_coefs=4, max_iter=10,
                             init=D0, random_state=SEED).fit(X)
    fig, axes = plt.subplots(1, 2, figsize=(10, 5.2))
    plot_dictionary(D0, ax=axes[0], title="overcomplete DCT (initialisation)")
    plot_dictionary(est, ax=axes[1],
                    title=f"approximate K-SVD, {est.n_iter_} iterations on camera()")
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "dictionary_atoms.png"), dpi=80)
    plt.close(fig)
    return est


def figure_denoising():
    clean = camera()[64:320, 128:384].astype(np.float64)  # 256x256 crop
    rng = np.random.default_rng(SEED)
    noisy = clean + 25.0 * rng.standard_normal(clean.shape)
    denoised = denoise_image(noisy, 25.0, method="ksvd", n_iter=5, data_range=255,
                             random_state=SEED)
    panels = [("clean", clean), (f"noisy, sigma=25: {psnr(clean, noisy, data_range=255):.2f} dB",
                                 noisy),
              (f"K-SVD denoised: {psnr(clean, denoised, data_range=255):.2f} dB", denoised)]
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4))
    for ax, (title, img) in zip(axes, panels):
        ax.imshow(np.clip(img, 0, 255), cmap="gray", vmin=0, vmax=255)
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "denoising_camera.png"), dpi=80)
    plt.close(fig)
    return psnr(clean, noisy, data_range=255), psnr(clean, denoised, data_range=255)


def main():
    os.makedirs(OUT, exist_ok=True)
    t0 = time.perf_counter()
    est = figure_dictionary()
    t1 = time.perf_counter()
    p_noisy, p_den = figure_denoising()
    t2 = time.perf_counter()
    print(f"dictionary_atoms.png: RMS training error {est.error_[-1]:.5f} ({t1 - t0:.1f} s)")
    print(f"denoising_camera.png: PSNR noisy {p_noisy:.2f} dB, denoised {p_den:.2f} dB "
          f"({t2 - t1:.1f} s)")


if __name__ == "__main__":
    main()
