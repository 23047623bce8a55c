"""
A sparse autoencoder on image patches
=====================================

A TopK sparse autoencoder (Makhzani & Frey 2014; Gao et al. 2024) learns a dictionary
together with a one-layer encoder: exactly ``k`` latents are active per sample, and the
decoder rows are the atoms. :class:`sparsecode.nn.TopKSAE` has the dictionary-learning API
(``fit``, ``transform`` for the codes, ``components_`` for the atoms), so its atoms are
plotted with :func:`sparsecode.dictionary.plot_dictionary` and compared with OMP coding on
the same atoms.

10,000 8x8 patches of scikit-image's ``camera`` (mean removed), 100 latents, ``k = 5``,
a few epochs on the CPU.
"""

import argparse
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from skimage import data

from sparsecode import orthogonal_mp
from sparsecode.dictionary import plot_dictionary
from sparsecode.image import sample_patches
from sparsecode.nn import TopKSAE

torch.set_num_threads(1)

parser = argparse.ArgumentParser(description="A TopK sparse autoencoder on image patches.")
parser.add_argument("--n-patches", type=int, default=10000)
parser.add_argument("--epochs", type=int, default=30)
parser.add_argument("--out", default=None, help="folder to write the figure to "
                                                "(default: show it)")
args = parser.parse_args()

# %%
image = data.camera() / 255.0
patches = sample_patches(image, 8, args.n_patches + 2000, random_state=0)
patches = patches - patches.mean(axis=1, keepdims=True)
train, test = patches[:-2000], patches[-2000:]

t0 = time.perf_counter()
sae = TopKSAE(100, n_nonzero_coefs=5, learning_rate=3e-3, batch_size=128,
              max_iter=args.epochs, random_state=0).fit(train)
print(f"trained {args.epochs} epochs in {time.perf_counter() - t0:.1f} s")

# %%
# Held-out metrics: ``l0`` active latents per patch, ``fvu`` the fraction of variance
# unexplained. Coding the same patches with OMP on the SAE's atoms (normalised) gives
# the error of the best 5-atom codes over that dictionary, a floor for the encoder.
metrics = sae.score_metrics(test)
print("held-out: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
atoms = sae.components_ / np.linalg.norm(sae.components_, axis=1, keepdims=True)
codes = orthogonal_mp(test, atoms, n_nonzero_coefs=5)
fvu_omp = np.sum((test - codes @ atoms) ** 2) / np.sum((test - test.mean(axis=0)) ** 2)
print(f"OMP with 5 of the same atoms: fvu {fvu_omp:.3f}")

# %%
# The decoder atoms.
fig = plot_dictionary(sae.components_, title=f"TopK SAE (k=5): 100 atoms, held-out fvu "
                                            f"{metrics['fvu']:.3f}")

if args.out:
    os.makedirs(args.out, exist_ok=True)
    fig.savefig(os.path.join(args.out, "sae_atoms.png"))
    print(f"wrote {os.path.join(args.out, 'sae_atoms.png')}")
else:
    plt.show()
