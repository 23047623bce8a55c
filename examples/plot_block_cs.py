"""
Block compressed sensing of an image
====================================

Measures 25 % of a 128x128 crop of scikit-image's ``camera`` with a 33x33-block Gaussian
sensing matrix (:func:`sparsecode.cs.measure_image`) and reconstructs it by
back-projection and by total variation (:func:`sparsecode.cs.reconstruct_image`: FISTA
with Chambolle's prox, 60 iterations; the library's default is 100), with the PSNR and
SSIM of each (:func:`sparsecode.cs.image_quality`).
"""

import argparse
import os
import time

import matplotlib.pyplot as plt
from skimage import data

from sparsecode.cs import image_quality, measure_image, reconstruct_image

parser = argparse.ArgumentParser(description="Block compressed sensing of an image.")
parser.add_argument("--size", type=int, default=128, help="side of the crop")
parser.add_argument("--ratio", type=float, default=0.25)
parser.add_argument("--out", default=None, help="folder to write the figure to "
                                                "(default: show it)")
args = parser.parse_args()

# %%
top, left = 40, 256 - args.size // 2 - 60                  # the photographer's head
image = data.camera()[top:top + args.size, left:left + args.size] / 255.0
y, A = measure_image(image, args.ratio, block_size=33, random_state=0)   # y = A x
panels = [("original", image)]
for method in ("backprojection", "tv"):
    t0 = time.perf_counter()
    x = reconstruct_image(y, A, method=method, max_iter=60, tol=1e-3)
    psnr, ssim = image_quality(image, x)
    print(f"{method:>14}: PSNR {psnr:.2f} dB, SSIM {ssim:.3f} "
          f"({time.perf_counter() - t0:.1f} s)")
    panels.append((f"{method}: PSNR {psnr:.2f} dB", x))

# %%
fig, axes = plt.subplots(1, 3, figsize=(10, 3.8))
for ax, (title, img) in zip(axes, panels):
    ax.imshow(img, cmap="gray", vmin=0, vmax=1)
    ax.set_title(title)
    ax.set_axis_off()
fig.suptitle(f"{A.shape[0]} measurements of a {image.shape[0]}x{image.shape[1]} image "
             f"({100 * args.ratio:.0f} %)")
fig.tight_layout()

if args.out:
    os.makedirs(args.out, exist_ok=True)
    fig.savefig(os.path.join(args.out, "block_cs.png"))
    print(f"wrote {os.path.join(args.out, 'block_cs.png')}")
else:
    plt.show()
