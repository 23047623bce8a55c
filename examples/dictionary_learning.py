"""Learn a dictionary of 8x8 image patches online and plot its atoms.

Samples 20,000 patches of scikit-image's ``camera``, removes their mean, learns 100
atoms with ``sparsecode.dictionary.MiniBatchDictionaryLearning`` (OMP coder, 5
nonzeros) and writes the atoms as an image grid (``dictionary_atoms.png``), with the
relative reconstruction error of held-out patches against the initial dictionary.

    python examples/dictionary_learning.py --out sparsecode-examples
"""

import argparse
import os

import matplotlib.pyplot as plt
import numpy as np
from skimage import data

from sparsecode import orthogonal_mp
from sparsecode.dictionary import MiniBatchDictionaryLearning, plot_dictionary
from sparsecode.image import sample_patches


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="sparsecode-examples")
    parser.add_argument("--n-patches", type=int, default=20000)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    image = data.camera() / 255.0
    patches = sample_patches(image, 8, args.n_patches + 2000, random_state=0)
    patches = patches - patches.mean(axis=1, keepdims=True)     # remove the DC
    train, test = patches[:-2000], patches[-2000:]

    learner = MiniBatchDictionaryLearning(100, n_nonzero_coefs=5, max_iter=3,
                                          random_state=0)
    learner.fit(train)
    D = learner.components_                                      # (100, 64), atoms in rows

    def error(dictionary):
        codes = orthogonal_mp(test, dictionary, n_nonzero_coefs=5)
        return np.linalg.norm(test - codes @ dictionary) / np.linalg.norm(test)

    start = train[np.random.default_rng(0).choice(len(train), 100, replace=False)]
    start = start / np.linalg.norm(start, axis=1, keepdims=True)
    print(f"held-out relative error, 5 atoms per patch: {error(start):.3f} with 100 random "
          f"patches as atoms -> {error(D):.3f} with the learned dictionary")

    fig = plot_dictionary(D, title="100 atoms learned from 8x8 patches of camera")
    path = os.path.join(args.out, "dictionary_atoms.png")
    fig.savefig(path)
    plt.close(fig)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
