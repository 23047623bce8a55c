"""
K-SVD image denoising
=====================

K-SVD denoising (Elad & Aharon 2006) of a 256x256 crop of scikit-image's ``camera`` at
:math:`\\sigma = 25`: :func:`sparsecode.denoise_image` learns a K-SVD dictionary on the
noisy patches, codes them with OMP to the noise level and averages the overlapping
patches. Pass ``--full`` for the whole 512x512 image (about four times longer).
"""

import argparse
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from skimage import data

from sparsecode import denoise_image
from sparsecode.image import psnr

parser = argparse.ArgumentParser(description="K-SVD image denoising.")
parser.add_argument("--full", action="store_true", help="the whole 512x512 image")
parser.add_argument("--out", default=None, help="folder to write the figure to "
                                                "(default: show it)")
args = parser.parse_args()

# %%
sigma = 25.0
clean = data.camera().astype(np.float64)
if not args.full:
    clean = clean[128:384, 128:384]
noisy = clean + sigma * np.random.default_rng(0).standard_normal(clean.shape)
t0 = time.perf_counter()
denoised = denoise_image(noisy, sigma, method="ksvd", n_iter=5, random_state=0,
                         data_range=255)
elapsed = time.perf_counter() - t0
p_noisy, p_out = psnr(clean, noisy, data_range=255), psnr(clean, denoised, data_range=255)
print(f"camera {clean.shape[0]}x{clean.shape[1]}, sigma=25: PSNR {p_noisy:.2f} dB -> "
      f"{p_out:.2f} dB in {elapsed:.1f} s")

# %%
fig, axes = plt.subplots(1, 3, figsize=(10, 3.8))
for ax, img, title in zip(axes, (clean, noisy, denoised), (
        "clean", f"noisy: PSNR {p_noisy:.2f} dB", f"K-SVD: PSNR {p_out:.2f} dB")):
    ax.imshow(np.clip(img, 0, 255), cmap="gray", vmin=0, vmax=255)
    ax.set_title(title)
    ax.set_axis_off()
fig.tight_layout()

if args.out:
    os.makedirs(args.out, exist_ok=True)
    fig.savefig(os.path.join(args.out, "ksvd_denoising.png"))
    print(f"wrote {os.path.join(args.out, 'ksvd_denoising.png')}")
else:
    plt.show()
