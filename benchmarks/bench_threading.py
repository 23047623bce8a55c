"""Numba threading layer: the library's fork-safe default against Numba's ``omp`` layer.

sparsecode starts Numba's pool with the ``forksafe`` layer (``workqueue`` here, TBB
when installed) unless ``NUMBA_THREADING_LAYER`` is set; see ``sparsecode._jit``.
This script measures what that costs or gains. Each layer runs in its own fresh
interpreter (the layer is fixed once per process), the two alternating ``--rounds``
times. SPAMS' OMP is timed in the parent on the same data as the reference for ratios.

Workloads (2 threads):

* OMP, 256x1024 dictionary, k=16, 5,000 signals, Gram given (as in ``bench_omp.py``):
  best and median signals/s of 15 calls;
* FISTA (l1, alpha=0.5, 200 iterations), 64x256 dictionary, 5,000 signals: best of 3;
* OMP on one signal (64x256, k=8): median time of 200 calls.

Usage::

    python benchmarks/bench_threading.py        # writes benchmarks/results/threading.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import best_time, header, markdown_table, write_result  # noqa: E402

WORKER = r"""
import json, sys, time
import numpy as np, numba
sys.path.insert(0, {bench_dir!r})
from bench_omp import make_case
from sparsecode import orthogonal_mp
from sparsecode.coding._fista import fista

def times(fn, n):
    fn()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    return sorted(ts)

X, D = make_case(256, 1024, 16, 5000)
G = D @ D.T
t_omp = times(lambda: orthogonal_mp(X, D, n_nonzero_coefs=16, gram=G, n_jobs=2), 15)
X2, D2 = make_case(64, 256, 8, 5000)
import warnings
warnings.simplefilter("ignore")
t_fista = times(lambda: fista(X2, D2, alpha=0.5, max_iter=200, n_jobs=2), 3)
x1 = X2[:1]
t_one = times(lambda: orthogonal_mp(x1, D2, n_nonzero_coefs=8), 200)
print(json.dumps({{"layer": numba.threading_layer(),
                  "omp_best": 5000 / t_omp[0], "omp_median": 5000 / t_omp[len(t_omp) // 2],
                  "fista_best": t_fista[0], "one_signal_median": t_one[len(t_one) // 2]}}))
"""


def run_layer(layer):
    env = dict(os.environ)
    env.pop("NUMBA_THREADING_LAYER", None)
    if layer != "default":
        env["NUMBA_THREADING_LAYER"] = layer
    code = WORKER.format(bench_dir=os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    runs = {"default": [], "omp": []}
    for _ in range(args.rounds):
        for layer in runs:
            runs[layer].append(run_layer(layer))
            print(layer, runs[layer][-1], flush=True)

    spams_rate = None
    try:
        import spams

        from bench_omp import make_case

        X, D = make_case(256, 1024, 16, 5000)
        Xf, Df = (np.asfortranarray(X.T), np.asfortranarray(D.T))
        t_sp, _ = best_time(lambda: spams.omp(Xf, Df, L=16, numThreads=2), repeat=7)
        spams_rate = 5000 / t_sp
    except ImportError:
        pass

    rows = []
    for layer, rs in runs.items():
        name = f"{rs[0]['layer']}" + (" (library default)" if layer == "default" else
                                      " (NUMBA_THREADING_LAYER=omp)")
        best = max(r["omp_best"] for r in rs)
        rows.append([
            name,
            " / ".join(f"{r['omp_best']:,.0f}" for r in rs),
            " / ".join(f"{r['omp_median']:,.0f}" for r in rs),
            f"{best / spams_rate:.2f}×" if spams_rate else "n/a",
            " / ".join(f"{r['fista_best']:.2f}" for r in rs),
            " / ".join(f"{r['one_signal_median'] * 1e3:.2f}" for r in rs),
        ])
    lines = header("Numba threading layer: fork-safe default vs omp")
    lines += [f"{args.rounds} rounds, layers alternating, each in a fresh interpreter; 2 "
              "threads. One value per round.", ""]
    lines += markdown_table(
        ["layer", "OMP 256×1024 k=16, best signals/s", "OMP median signals/s",
         "best OMP / SPAMS", "FISTA 5,000 signals, s (best of 3)",
         "OMP one signal, ms (median)"], rows)
    if spams_rate:
        lines += ["", f"SPAMS `omp` (2 threads, best of 7, same data): {spams_rate:,.0f} "
                      "signals/s."]
    write_result("threading.md", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
