"""What a user's NumPy product right before an OMP call costs it (diagnostic).

Issue 16 asked whether BLAS threads spinning after a user's GEMM explain part of OMP's
variance. After a multi-threaded product OpenBLAS's idle worker threads keep spinning
(``sched_yield`` in a loop) for ``2**OPENBLAS_THREAD_TIMEOUT`` cycles, 2**28 by default,
and share the cores with the Numba threads of the next kernel. The script times
``orthogonal_mp`` on 256×1024, k=16 (the bench_omp case) alone (after a 0.5 s pause) and
right after one ``X @ D.T``, the two in alternation, each in two fresh processes: one
with OpenBLAS's default and one with ``OPENBLAS_THREAD_TIMEOUT=4`` (which must be set
before NumPy is imported, hence the processes). Medians over the rounds.

    python benchmarks/bench_blas_spin.py            # ~1 minute
    python benchmarks/bench_blas_spin.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import header, markdown_table, write_result  # noqa: E402

CHILD = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[3])
from bench_omp import _settle, make_case
from sparsecode import orthogonal_mp

n, rounds = int(sys.argv[1]), int(sys.argv[2])
X, D = make_case(256, 1024, 16, n)
ours = lambda: orthogonal_mp(X, D, n_nonzero_coefs=16, n_jobs=2)
ours(); X @ D.T  # warm-up
times = {"alone": [], "after_gemm": []}
for _ in range(rounds):
    for case in ("alone", "after_gemm"):
        time.sleep(0.5)
        _settle(n * 1024 * 8)
        if case == "after_gemm":
            X @ D.T
        t0 = time.perf_counter()
        ours()
        times[case].append(time.perf_counter() - t0)
print(json.dumps(times))
"""


def run_child(env_extra, n, rounds):
    env = dict(os.environ, **env_extra)
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(rounds), here],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    import numpy as np

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--rounds", type=int, default=9)
    args = p.parse_args(argv)
    n = 2_000 if args.quick else 20_000
    rounds = 3 if args.quick else args.rounds
    settings = [("OpenBLAS default", {}), ("OPENBLAS_THREAD_TIMEOUT=4",
                                          {"OPENBLAS_THREAD_TIMEOUT": "4"})]
    results = {name: {"alone": [], "after_gemm": []} for name, _ in settings}
    for _ in range(2):  # two processes per setting, alternating
        for name, env in settings:
            t = run_child(env, n, rounds)
            for case in t:
                results[name][case] += t[case]
    rows = []
    for name, t in results.items():
        a, g = np.median(t["alone"]), np.median(t["after_gemm"])
        rows.append([name, f"{1e3 * a:.0f}", f"{1e3 * g:.0f}", f"{g / a:.2f}×"])
    cols = ["OpenBLAS setting", "ours alone (ms, median)", "ours right after X @ D.T (ms)",
            "after / alone"]
    lines = header("OMP right after a user's GEMM: OpenBLAS's spinning threads")
    lines += [f"`orthogonal_mp` on {n:,} signals, 256×1024, k=16, 2 Numba threads; "
              f"{2 * rounds} calls per cell (two processes of {rounds} rounds each, the "
              "two cases alternating, 0.5 s pause and a settled allocator before each "
              "call).", ""]
    lines += markdown_table(cols, rows)
    table = "\n".join(lines)
    print(table)
    if not args.quick:
        write_result("blas_spin.md", lines)


if __name__ == "__main__":
    main()
