"""
Sparse coding with Batch-OMP, against scikit-learn
==================================================

Codes 5,000 synthetic signals (64 features, 256 unit-norm atoms, 8 nonzeros each) with
:func:`sparsecode.orthogonal_mp` and with scikit-learn's
:func:`~sklearn.linear_model.orthogonal_mp` (which takes the atoms and the signals as
columns), checks that the codes agree, prints both times and the exact support recovery,
and plots one code next to its recovery.
"""

import argparse
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import orthogonal_mp as sklearn_omp

from sparsecode import orthogonal_mp
from sparsecode.datasets import make_sparse_signals

parser = argparse.ArgumentParser(description="Batch-OMP against scikit-learn.")
parser.add_argument("--n-signals", type=int, default=5000)
parser.add_argument("--out", default=None, help="folder to write the figure to "
                                                "(default: show it)")
args = parser.parse_args()

# %%
# Signals ``X = Z @ D`` from a random dictionary ``D`` (one atom per row) and 8-sparse
# codes ``Z``. The first call compiles the kernels (cached after a first run).
X, D, Z = make_sparse_signals(args.n_signals, 64, 256, 8, random_state=0)
orthogonal_mp(X[:10], D, n_nonzero_coefs=8)

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

# %%
# One signal: its true code, and the codes of both implementations, identical. OMP is
# greedy: on some of these signals (8 nonzeros of 256 atoms in 64 dimensions, near the
# limit of its recovery, see :ref:`sphx_glr_auto_examples_plot_phase_transition.py`) it
# picks a wrong atom and ends with a larger residual; both implementations then make the
# same choice.
i = 0
recovered = np.array_equal(ours[i] != 0, Z[i] != 0)
fig, ax = plt.subplots(figsize=(8, 3))
ax.stem(np.flatnonzero(Z[i]), Z[i][Z[i] != 0], linefmt="C0-", markerfmt="C0o",
        basefmt=" ", label="true code")
ax.plot(np.flatnonzero(ours[i]), ours[i][ours[i] != 0], "x", color="C3", ms=11,
        label="sparsecode.orthogonal_mp")
ax.plot(np.flatnonzero(theirs[i]), theirs[i][theirs[i] != 0], "+", color="k", ms=11,
        label="scikit-learn orthogonal_mp")
ax.axhline(0, color="0.7", lw=0.8)
ax.set_xlim(-3, 259)
ax.set_xlabel("atom")
ax.set_title(f"signal {i}: 8 nonzeros of 256, support "
             f"{'recovered' if recovered else 'not recovered'}; max |difference| of the "
             f"two codes {diff:.0e}", fontsize=10)
ax.legend(fontsize=8)
fig.tight_layout()

if args.out:
    os.makedirs(args.out, exist_ok=True)
    fig.savefig(os.path.join(args.out, "omp_codes.png"))
    print(f"wrote {os.path.join(args.out, 'omp_codes.png')}")
else:
    plt.show()
