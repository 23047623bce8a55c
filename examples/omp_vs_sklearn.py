"""Sparse coding with Batch-OMP, against scikit-learn's orthogonal_mp on the same signals.

Codes 5,000 synthetic signals (64 features, 256 unit-norm atoms, 8 nonzeros each) with
``sparsecode.orthogonal_mp`` and with ``sklearn.linear_model.orthogonal_mp`` (which
takes the atoms as columns and the signals as columns), checks that the codes agree and
prints both times and the exact support recovery.

    python examples/omp_vs_sklearn.py [--n-signals 5000]
"""

import argparse
import time

import numpy as np
from sklearn.linear_model import orthogonal_mp as sklearn_omp

from sparsecode import orthogonal_mp
from sparsecode.datasets import make_sparse_signals


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-signals", type=int, default=5000)
    parser.add_argument("--out", default=None, help="unused (no files are written)")
    args = parser.parse_args(argv)

    X, D, Z = make_sparse_signals(args.n_signals, 64, 256, 8, random_state=0)  # X = Z @ D
    orthogonal_mp(X[:10], D, n_nonzero_coefs=8)          # compile (cached after a first run)

    t0 = time.perf_counter()
    ours = orthogonal_mp(X, D, n_nonzero_coefs=8)         # samples in rows, atoms in rows
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    theirs = sklearn_omp(D.T, X.T, n_nonzero_coefs=8).T   # scikit-learn: columns
    t_sklearn = time.perf_counter() - t0

    diff = np.abs(ours - theirs).max()
    exact = np.mean(np.all((ours != 0) == (Z != 0), axis=1))
    print(f"{args.n_signals} signals, 64 features, 256 atoms, k=8")
    print(f"sparsecode.orthogonal_mp: {t_ours:.3f} s; scikit-learn: {t_sklearn:.3f} s "
          f"({t_sklearn / t_ours:.0f}x)")
    print(f"max |codes difference| = {diff:.1e}; exact support recovery {100 * exact:.1f} %")
    assert diff < 1e-8, "the two implementations disagree"


if __name__ == "__main__":
    main()
