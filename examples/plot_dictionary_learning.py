"""
Dictionary learning on image patches
====================================

Samples 20,000 8x8 patches of scikit-image's ``camera``, removes their mean, learns 100
atoms online with :class:`sparsecode.dictionary.MiniBatchDictionaryLearning` (OMP coder,
5 nonzeros), compares the relative reconstruction error of held-out patches with that of
the initial dictionary and plots the atoms with
:func:`sparsecode.dictionary.plot_dictionary`.
"""

import argparse
import os

import matplotlib.pyplot as plt
import numpy as np
from skimage import data

from sparsecode import orthogonal_mp
from sparsecode.dictionary import MiniBatchDictionaryLearning, plot_dictionary
from sparsecode.image import sample_patches

parser = argparse.ArgumentParser(description="Dictionary learning on image patches.")
parser.add_argument("--n-patches", type=int, default=20000)
parser.add_argument("--out", default=None, help="folder to write the figure to "
                                                "(default: show it)")
args = parser.parse_args()

# %%
# Patches in rows, their DC removed; 2,000 held out.
image = data.camera() / 255.0
patches = sample_patches(image, 8, args.n_patches + 2000, random_state=0)
patches = patches - patches.mean(axis=1, keepdims=True)
train, test = patches[:-2000], patches[-2000:]

learner = MiniBatchDictionaryLearning(100, n_nonzero_coefs=5, max_iter=3, random_state=0)
learner.fit(train)
D = learner.components_                                      # (100, 64), atoms in rows


def error(dictionary):
    codes = orthogonal_mp(test, dictionary, n_nonzero_coefs=5)
    return np.linalg.norm(test - codes @ dictionary) / np.linalg.norm(test)


start = train[np.random.default_rng(0).choice(len(train), 100, replace=False)]
start = start / np.linalg.norm(start, axis=1, keepdims=True)
print(f"held-out relative error, 5 atoms per patch: {error(start):.3f} with 100 random "
      f"patches as atoms -> {error(D):.3f} with the learned dictionary")

# %%
# The learned atoms: oriented edges and gratings.
fig = plot_dictionary(D, title="100 atoms learned from 8x8 patches of camera")

if args.out:
    os.makedirs(args.out, exist_ok=True)
    fig.savefig(os.path.join(args.out, "dictionary_atoms.png"))
    print(f"wrote {os.path.join(args.out, 'dictionary_atoms.png')}")
else:
    plt.show()
