"""Donoho--Tanner empirical phase transition of OMP, l1 and IHT on Gaussian matrices.

For undersampling ``delta = m / n`` and sparsity ``rho = k / m`` on a grid, draws a
Gaussian sensing matrix ``A`` (m x n, columns normalised to unit norm) and ``trials``
k-sparse vectors with Gaussian nonzeros on random supports, measures ``y = A x``
(noiseless) and counts a recovery as a success when
``||x_hat - x|| <= 1e-3 ||x||``. One matrix per grid cell, shared by the trials of that
cell (so that every solver codes all of them in one batched call).

Solvers (same data, same run):

- OMP: ``sparsecode.orthogonal_mp`` (explicit matrix), scikit-learn
  ``orthogonal_mp`` and SPAMS ``omp``, all with ``n_nonzero_coefs = k``;
- l1: the lasso at a vanishing penalty (``alpha = 1e-6``, i.e. basis pursuit) by the
  exact LARS homotopy ``sparsecode.coding._lars.lasso_lars``, scikit-learn
  ``lars_path(method="lasso")`` and SPAMS ``lasso`` (LARS, mode 2);
- IHT: ``sparsecode.coding._iht.iht`` (normalised IHT, k known) given the operator;
  neither scikit-learn nor SPAMS has IHT.

Writes ``benchmarks/results/phase_transition.md`` (success tables, total times and
ratios) and ``phase_transition.png`` (one heat map per method with the empirical 50 %
contour; the OMP and IHT panels also show the l1 contour, the reference curve).

Usage::

    python benchmarks/bench_phase_transition.py            # n=200, 10x10 grid, 20 trials
    python benchmarks/bench_phase_transition.py --quick    # n=100, 5x5 grid, 5 trials

References
----------
D. L. Donoho, J. Tanner, "Observed universality of phase transitions in
high-dimensional geometry", Phil. Trans. R. Soc. A 367, 2009.
doi:10.1098/rsta.2009.0152
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import header, markdown_table, write_result  # noqa: E402

RTOL = 1e-3


def _problem(n, m, k, trials, seed):
    from sparsecode.operators import GaussianOperator

    rng = np.random.default_rng(seed)
    A = GaussianOperator(m, n, random_state=seed).to_matrix()
    A /= np.linalg.norm(A, axis=0)
    Z = np.zeros((trials, n))
    for i in range(trials):
        Z[i, rng.choice(n, k, replace=False)] = rng.standard_normal(k)
    return A, Z, Z @ A.T


def _success(Z_hat, Z):
    return np.linalg.norm(Z_hat - Z, axis=1) <= RTOL * np.linalg.norm(Z, axis=1)


def solvers(have_spams):
    from sklearn.linear_model import lars_path
    from sklearn.linear_model import orthogonal_mp as sk_omp

    from sparsecode import orthogonal_mp
    from sparsecode.coding._iht import iht
    from sparsecode.coding._lars import lasso_lars
    from sparsecode.operators import MatrixOperator

    def sk_lasso(A, Y, k):
        out = np.zeros((Y.shape[0], A.shape[1]))
        for i, y in enumerate(Y):
            # sklearn's lars_path objective is (1/(2m))||y - Ax||^2 + alpha ||x||_1
            _, _, coefs = lars_path(A, y, method="lasso", alpha_min=1e-6 / A.shape[0])
            out[i] = coefs[:, -1]
        return out

    table = {
        "OMP": {
            "sparsecode": lambda A, Y, k: orthogonal_mp(Y, A.T, n_nonzero_coefs=k),
            "scikit-learn": lambda A, Y, k: np.atleast_2d(sk_omp(A, Y.T, n_nonzero_coefs=k).T),
        },
        "l1": {
            "sparsecode": lambda A, Y, k: lasso_lars(Y, A.T, alpha=1e-6),
            "scikit-learn": sk_lasso,
        },
        "IHT": {
            "sparsecode": lambda A, Y, k: iht(Y, MatrixOperator(A), n_nonzero_coefs=k,
                                              max_iter=1000, tol=1e-10),
        },
    }
    if have_spams:
        import spams

        def sp(f):
            return lambda A, Y, k: np.asarray(f(A, Y, k).todense()).T

        table["OMP"]["SPAMS"] = sp(lambda A, Y, k: spams.omp(
            np.asfortranarray(Y.T), np.asfortranarray(A), L=k, numThreads=1))
        table["l1"]["SPAMS"] = sp(lambda A, Y, k: spams.lasso(
            np.asfortranarray(Y.T), D=np.asfortranarray(A), lambda1=1e-6, mode=2,
            numThreads=1))
    return table


def run(n, deltas, rhos, trials, seed):
    try:
        import spams  # noqa: F401
        have_spams = True
    except ImportError:
        have_spams = False
    table = solvers(have_spams)
    success = {(meth, lib): np.zeros((len(rhos), len(deltas)))
               for meth, libs in table.items() for lib in libs}
    times = {key: 0.0 for key in success}
    from tqdm import tqdm

    # Warm-up (Numba compilation, imports) outside the timings.
    A, Z, Y = _problem(n, n // 2, 2, 2, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for libs in table.values():
            for fn in libs.values():
                fn(A, Y, 2)
    cells = [(i, j) for j in range(len(deltas)) for i in range(len(rhos))]
    for i, j in tqdm(cells, desc="grid", unit="cell"):
        m = max(1, int(round(deltas[j] * n)))
        k = max(1, int(round(rhos[i] * m)))
        A, Z, Y = _problem(n, m, k, trials, seed + 1000 * i + j)
        for meth, libs in table.items():
            for lib, fn in libs.items():
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    Z_hat = fn(A, Y, k)
                times[(meth, lib)] += time.perf_counter() - t0
                success[(meth, lib)][i, j] = _success(Z_hat, Z).mean()
    return success, times, have_spams


def plot(success, deltas, rhos, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = ["OMP", "l1", "IHT"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharey=True)
    ref = success[("l1", "sparsecode")]
    for ax, meth in zip(axes, methods):
        S = success[(meth, "sparsecode")]
        hd = (deltas[1] - deltas[0]) / 2 if len(deltas) > 1 else 0.05
        hr = (rhos[1] - rhos[0]) / 2 if len(rhos) > 1 else 0.05
        im = ax.imshow(S, origin="lower", aspect="auto", vmin=0, vmax=1, cmap="viridis",
                       extent=[deltas[0] - hd, deltas[-1] + hd, rhos[0] - hr, rhos[-1] + hr])
        if len(deltas) > 1 and len(rhos) > 1:
            ax.contour(deltas, rhos, S, levels=[0.5], colors="w")
            if meth != "l1":
                ax.contour(deltas, rhos, ref, levels=[0.5], colors="r", linestyles="--")
        ax.set_title(f"{meth} (white: 50 %" + (", red dashed: l1)" if meth != "l1" else ")"))
        ax.set_xlabel(r"$\delta = m/n$")
    axes[0].set_ylabel(r"$\rho = k/m$")
    fig.colorbar(im, ax=axes, label="success probability")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="signal length (default 200)")
    parser.add_argument("--grid", type=int, default=10, help="grid points per axis (default 10)")
    parser.add_argument("--trials", type=int, default=20, help="signals per cell (default 20)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="n=100, 5x5 grid, 5 trials")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.grid, args.trials = 100, 5, 5
    deltas = np.linspace(0.1, 1.0, args.grid)
    rhos = np.linspace(0.05, 0.95, args.grid)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        success, times, have_spams = run(args.n, deltas, rhos, args.trials, args.seed)
    name = "phase_transition_quick" if args.quick else "phase_transition"
    results = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    os.makedirs(results, exist_ok=True)
    png = os.path.join(results, name + ".png")
    plot(success, deltas, rhos, png)

    lines = header("Donoho-Tanner phase transition: OMP, l1, IHT on Gaussian matrices")
    lines += [f"n = {args.n}, grid {args.grid} x {args.grid} (delta = m/n in "
              f"[{deltas[0]:.2f}, {deltas[-1]:.2f}], rho = k/m in "
              f"[{rhos[0]:.2f}, {rhos[-1]:.2f}]), "
              f"{args.trials} signals per cell, success: relative error <= {RTOL:g}; "
              "BLAS single-threaded, SPAMS numThreads=1. "
              + ("" if have_spams else "SPAMS not installed: its columns are missing. ")
              + f"Figure: `{os.path.basename(png)}`.", ""]
    lines += ["## Total time over the grid (s) and agreement with sparsecode", ""]
    rows = []
    for (meth, lib), t in times.items():
        ours = times[(meth, "sparsecode")]
        agree = np.abs(success[(meth, lib)] - success[(meth, "sparsecode")]).max()
        rows.append([meth, lib, f"{t:.2f}", f"{t / ours:.2f}x" if lib != "sparsecode" else "1",
                     f"{agree:.2f}"])
    lines += markdown_table(["method", "library", "time (s)", "time / sparsecode",
                             "max |success difference|"], rows)
    for meth in ("OMP", "l1", "IHT"):
        S = success[(meth, "sparsecode")]
        lines += ["", f"## {meth} (sparsecode): success probability, rows rho, columns delta", ""]
        cols = ["rho \\ delta"] + [f"{d:.2f}" for d in deltas]
        body = [[f"{r:.2f}"] + [f"{v:.2f}" for v in S[i]] for i, r in enumerate(rhos)]
        lines += markdown_table(cols, body[::-1])
    lines += ["", "## Empirical transition: largest rho with success >= 50 %", ""]
    body = []
    for meth in ("OMP", "l1", "IHT"):
        S = success[(meth, "sparsecode")]
        edge = [max([r for i, r in enumerate(rhos) if S[i, j] >= 0.5], default=0.0)
                for j in range(len(deltas))]
        body.append([meth] + [f"{e:.2f}" for e in edge])
    lines += markdown_table(["method \\ delta"] + [f"{d:.2f}" for d in deltas], body)
    lines += ["", "Reference: the Donoho-Tanner weak threshold for l1 with Gaussian matrices is "
              "rho ~ 0.19 at delta = 0.1 and ~0.385 at delta = 0.5 (large-n limit; finite n "
              f"smooths the edge). The grid step in rho is {rhos[1] - rhos[0]:.2f}.", ""]
    write_result(name + ".md", lines)


if __name__ == "__main__":
    main()
