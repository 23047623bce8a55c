"""Why a fresh dense output costs 10x more on some calls than on others (diagnostic).

Issue 16 asked where the variance of OMP's throughput comes from. On this VM the
dominant term is the first touch of a fresh large array: memory freed by one call and
allocated again at once is touched at memory speed, but memory that has stayed free for
a few seconds (the guest reports free blocks to the host, which reclaims them) costs a
host page fault per page when it is touched again. Every library that returns a fresh
array pays it, NumPy's own ``X @ D.T`` included; ``orthogonal_mp(..., out=)`` and
``output="sparse"`` avoid it.

For each way of touching a fresh ``(n, n_components)`` float64 array (one thread writing
every entry, Numba's threads writing blocks of rows, OpenBLAS writing a product into it)
the script times the touch right after the previous array was freed, and after a pause
of ``--pause`` seconds; the touches alternate.

    python benchmarks/bench_first_touch.py            # ~2 minutes
    python benchmarks/bench_first_touch.py --quick
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import header, markdown_table, write_result  # noqa: E402


def main(argv=None):
    import numba
    from numba import prange

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--pause", type=float, default=3.0)
    p.add_argument("--rounds", type=int, default=6)
    args = p.parse_args(argv)
    n, n_components, n_features = (2_000, 1024, 256) if args.quick else (20_000, 1024, 256)
    rounds = 2 if args.quick else args.rounds
    pause = 0.5 if args.quick else args.pause

    @numba.njit(parallel=True)
    def parallel_touch(a):
        m = a.shape[0]
        for b in prange(256):
            for i in range(b * m // 256, (b + 1) * m // 256):
                for t in range(a.shape[1]):
                    a[i, t] = 0.0

    @numba.njit
    def serial_touch(a):
        for i in range(a.shape[0]):
            for t in range(a.shape[1]):
                a[i, t] = 0.0

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, n_features))
    DT = np.ascontiguousarray(rng.standard_normal((n_components, n_features)).T)
    ways = {"one thread writes every entry": serial_touch,
            "Numba threads (2) write blocks of rows": parallel_touch,
            "np.dot(X, D.T, out=a) (OpenBLAS, 2 threads)": lambda a: np.dot(X, DT, out=a)}
    warm = np.empty((n, n_components))
    for fn in ways.values():
        fn(warm)
    del warm
    times = {(w, s): [] for w in ways for s in ("at once", "after a pause")}
    reused = np.empty((n, n_components))
    base = {w: [] for w in ways}
    for _ in range(rounds):
        for w, fn in ways.items():
            t0 = time.perf_counter()
            fn(reused)
            base[w].append(time.perf_counter() - t0)
            for state in ("at once", "after a pause"):
                if state == "after a pause":
                    time.sleep(pause)
                a = np.empty((n, n_components))
                t0 = time.perf_counter()
                fn(a)
                times[(w, state)].append(time.perf_counter() - t0)
                del a
    mb = n * n_components * 8 / 2**20
    rows = []
    for w in ways:
        b = float(np.median(base[w]))
        rows.append([w, "a reused array (no first touch)", f"{1e3 * b:.1f}", "-"])
        for state in ("at once", "after a pause"):
            t = float(np.median(times[(w, state)]))
            label = ("fresh, right after the previous one was freed" if state == "at once"
                     else f"fresh, after {pause:g} s idle")
            rows.append([w, label, f"{1e3 * t:.1f}", f"{1e3 * (t - b):.1f}"])
    lines = header("First touch of a fresh dense output (diagnostic for the OMP benchmark)")
    lines += [f"One `({n:,}, {n_components})` float64 array ({mb:.0f} MiB) per call; median "
              f"of {rounds} alternating rounds. *extra*: the time above the same write "
              "into a reused array.", ""]
    lines += markdown_table(["how it is written", "array", "ms (median)", "extra ms"], rows)
    if args.quick:
        print("\n".join(lines))
    else:
        write_result("first_touch.md", lines)


if __name__ == "__main__":
    main()
