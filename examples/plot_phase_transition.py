"""
Compressed sensing: the phase transition of OMP and l1
======================================================

Donoho and Tanner's empirical phase transition: for a Gaussian sensing matrix
``A`` (``m x n``, unit-norm columns) and ``k``-sparse signals, recovery from ``y = A x``
succeeds with high probability when the sparsity :math:`\\rho = k / m` is below a curve of
the undersampling :math:`\\delta = m / n`, and fails above it.

On a small grid (``n = 64``, 8 x 8 cells, 12 signals per cell) this counts a recovery as a
success when :math:`\\|\\hat x - x\\| \\le 10^{-3}\\|x\\|`, for OMP told ``k``
(:func:`sparsecode.orthogonal_mp`) and for the l1 minimiser at a vanishing penalty
(basis pursuit, by the exact LARS-lasso homotopy :func:`sparsecode.lasso_lars`). The
signals come from :func:`sparsecode.datasets.make_sparse_signals`, whose dictionary is
exactly such a matrix, one atom (column of ``A``) per row. ``benchmarks/bench_phase_transition.py``
runs the same experiment on a finer grid with scikit-learn and SPAMS alongside.
"""

import argparse
import os
import time

import matplotlib.pyplot as plt
import numpy as np

from sparsecode import lasso_lars, orthogonal_mp
from sparsecode.datasets import make_sparse_signals

parser = argparse.ArgumentParser(description="Phase transition of OMP and l1.")
parser.add_argument("--n", type=int, default=64, help="signal length")
parser.add_argument("--grid", type=int, default=8, help="cells per axis")
parser.add_argument("--trials", type=int, default=12, help="signals per cell")
parser.add_argument("--out", default=None, help="folder to write the figure to "
                                                "(default: show it)")
args = parser.parse_args()

# %%
# One sensing matrix per cell, shared by the trials of the cell, so that each solver
# codes all of them in one batched call. ``make_sparse_signals(trials, m, n, k)`` returns
# ``X = Z @ D`` with ``D`` of shape ``(n, m)``: ``D.T`` is the sensing matrix and the rows
# of ``X`` are the measurements.
deltas = np.linspace(0.1, 0.9, args.grid)
rhos = np.linspace(0.05, 0.6, args.grid)
success = {"OMP": np.zeros((args.grid, args.grid)), "l1": np.zeros((args.grid, args.grid))}
t0 = time.perf_counter()
for i, rho in enumerate(rhos):
    for j, delta in enumerate(deltas):
        m = max(2, int(round(delta * args.n)))
        k = max(1, int(round(rho * m)))
        Y, D, Z = make_sparse_signals(args.trials, m, args.n, k,
                                      random_state=1000 * i + j)
        estimates = {
            "OMP": orthogonal_mp(Y, D, n_nonzero_coefs=k),
            "l1": lasso_lars(Y, D, alpha=1e-6),
        }
        for name, Z_hat in estimates.items():
            ok = np.linalg.norm(Z_hat - Z, axis=1) <= 1e-3 * np.linalg.norm(Z, axis=1)
            success[name][i, j] = ok.mean()
print(f"{args.grid}x{args.grid} grid, n={args.n}, {args.trials} signals per cell: "
      f"{time.perf_counter() - t0:.1f} s")
for name, table in success.items():
    print(f"{name}: mean success {100 * table.mean():.1f} %")

# %%
# Success rate per cell; the white line, drawn on both panels, is where l1 succeeds
# half of the time. Below it l1 recovers every signal; OMP, even told the true
# sparsity, fails earlier, the more so as ``delta`` grows (Donoho & Tanner 2009 observe
# the same ordering).
fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
for ax, (name, table) in zip(axes, success.items()):
    im = ax.pcolormesh(deltas, rhos, table, shading="nearest", vmin=0, vmax=1,
                       cmap="viridis")
    ax.contour(deltas, rhos, success["l1"], levels=[0.5], colors="w", linewidths=2)
    ax.set_title(f"{name}: success rate (white: l1 at 50 %)")
    ax.set_xlabel(r"undersampling $\delta = m/n$")
axes[0].set_ylabel(r"sparsity $\rho = k/m$")
fig.colorbar(im, ax=axes, shrink=0.9)

if args.out:
    os.makedirs(args.out, exist_ok=True)
    fig.savefig(os.path.join(args.out, "phase_transition.png"))
    print(f"wrote {os.path.join(args.out, 'phase_transition.png')}")
else:
    plt.show()
