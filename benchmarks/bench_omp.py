"""Batch-OMP speed: sparsecode vs scikit-learn vs SPAMS, same data, same run.

Unit-norm Gaussian dictionaries; signals are exact k-sparse combinations plus noise
(σ=0.01). Reports signals/s for each tool, our ratio to each, and the time of the single
product ``X @ D.T`` (NumPy/BLAS, all threads) as the floor no OMP can beat.

    python benchmarks/bench_omp.py            # full run, writes benchmarks/results/omp.md
    python benchmarks/bench_omp.py --quick    # smoke run (10x fewer signals)
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import best_time, header, markdown_table, write_result  # noqa: E402

CASES = [  # (n_features, n_components, k, n_signals)
    (64, 256, 8, 100_000),
    (256, 1024, 16, 5_000),
]


def make_case(n_features, n_components, k, n, seed=0):
    from sparsecode.datasets import make_sparse_signals

    X, D, _ = make_sparse_signals(n, n_features, n_components, k, noise=0.01,
                                  random_state=seed)
    return X, D


def run_case(n_features, n_components, k, n, threads, sklearn_max, repeat=7):
    from sklearn.decomposition import SparseCoder as SkSparseCoder
    from sklearn.linear_model import orthogonal_mp_gram

    from sparsecode import orthogonal_mp

    X, D = make_case(n_features, n_components, k, n)
    G = D @ D.T
    rows = []
    ours = {}
    for dtype in (np.float64, np.float32):
        Xd, Dd = X.astype(dtype), D.astype(dtype)
        Gd = Dd @ Dd.T
        t, codes = best_time(lambda: orthogonal_mp(Xd, Dd, n_nonzero_coefs=k, gram=Gd,
                                                   n_jobs=threads), repeat=repeat)
        ours[dtype] = (t, codes)
    t64, codes64 = ours[np.float64]

    # scikit-learn is ~100x slower: time it on a subset and report its rate.
    m = min(n, sklearn_max)
    t_sk, sk_codes = best_time(lambda: orthogonal_mp_gram(G, D @ X[:m].T, n_nonzero_coefs=k),
                               repeat=1)
    sk_diff = np.abs(sk_codes.T - codes64[:m]).max()
    coder = SkSparseCoder(D, transform_algorithm="omp", transform_n_nonzero_coefs=k,
                          n_jobs=threads)
    t_skc, _ = best_time(lambda: coder.transform(X[:m]), repeat=1)

    # The BLAS floor is timed after our runs: OpenBLAS's worker threads keep spinning
    # after a multi-threaded product and slowed the OMP runs that followed by ~25 %.
    t_prod, _ = best_time(lambda: X @ D.T, repeat=repeat)
    spams_rate = None
    try:
        import spams

        Xf = np.asfortranarray(X.T)
        Df = np.asfortranarray(D.T)
        t_sp, sp = best_time(lambda: spams.omp(Xf, Df, L=k, numThreads=threads),
                             repeat=repeat)
        sp_dense = np.asarray(sp.todense()).T
        support_agree = np.mean(np.all((sp_dense != 0) == (codes64 != 0), axis=1))
        spams_rate = n / t_sp
    except ImportError:
        support_agree = float("nan")

    rate64 = n / t64
    rate32 = n / ours[np.float32][0]
    case = f"{n_features}×{n_components}, k={k}, {n:,} signals"

    def fmt(rate):
        return f"{rate:,.0f}"

    rows.append([case, "sparsecode orthogonal_mp float64", fmt(rate64), "1.00", ""])
    rows.append([case, "sparsecode orthogonal_mp float32", fmt(rate32),
                 f"{rate32 / rate64:.2f}", ""])
    if spams_rate:
        rows.append([case, f"SPAMS spams.omp ({threads} threads)", fmt(spams_rate),
                     f"{spams_rate / rate64:.3f}",
                     f"ours/SPAMS = **{rate64 / spams_rate:.2f}×** (float32 "
                     f"{rate32 / spams_rate:.2f}×); same support on {100 * support_agree:.2f} %"])
    rows.append([case, f"scikit-learn orthogonal_mp_gram ({m:,} signals)", fmt(m / t_sk),
                 f"{(m / t_sk) / rate64:.4f}",
                 f"ours/sklearn = {rate64 / (m / t_sk):.0f}×; max |diff| {sk_diff:.1e}"])
    rows.append([case, f"scikit-learn SparseCoder omp ({m:,} signals, n_jobs={threads})",
                 fmt(m / t_skc), f"{(m / t_skc) / rate64:.4f}",
                 f"ours/sklearn = {rate64 / (m / t_skc):.0f}×"])
    rows.append([case, "floor: X @ D.T alone (BLAS)", fmt(n / t_prod),
                 f"{(n / t_prod) / rate64:.2f}", ""])
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=7,
                   help="timed calls per tool (best kept; scikit-learn: 1)")
    p.add_argument("--sklearn-max", type=int, default=10_000,
                   help="signals given to scikit-learn (it is slow); its rate is reported")
    args = p.parse_args(argv)
    rows = []
    for (nf, nc, k, n) in CASES:
        if args.quick:
            n //= 10
        rows += run_case(nf, nc, k, n, args.threads,
                         args.sklearn_max // (10 if args.quick else 1), args.repeat)
        print(*markdown_table(["case", "tool", "signals/s", "rate / ours float64", "notes"],
                              rows[-6:]), sep="\n")
    lines = header("Batch-OMP: sparsecode vs scikit-learn vs SPAMS")
    lines += [f"Best of {args.repeat} runs (1 for scikit-learn) after a warm-up call; same data for every "
              "tool; codes dense for us and scikit-learn, sparse (CSC) for SPAMS.", ""]
    lines += markdown_table(["case", "tool", "signals/s", "rate / ours float64", "notes"], rows)
    if not args.quick:
        write_result("omp.md", lines)
    else:
        print("\n".join(lines))


if __name__ == "__main__":
    main()
