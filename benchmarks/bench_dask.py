"""Sparse coding through Dask against the in-process NumPy call, on the same signals.

2,000,000 signals of 64 features (float32) are coded by Batch-OMP (k = 8) over a fixed
unit-norm dictionary of 256 atoms, with :class:`sparsecode.SparseCoder`:

* ``numpy``: the signals are computed into one NumPy array, then ``coder.transform``
  codes them in this process (all Numba threads);
* ``dask-threads``: ``coder.transform`` of the Dask array under dask's threaded scheduler
  (this process; all Numba threads per call);
* ``dask-cluster``: the same on a ``distributed.LocalCluster`` of 2 worker processes with
  1 thread each and ``n_jobs=1`` (one Numba thread per worker: one core each, its best
  setting on 2 cores; ``n_jobs=None`` would put 2 Numba threads in each worker).

The signals are generated lazily by ``dask.array.random.default_rng(seed)`` in chunks of
``--chunk`` rows, so in the Dask runs they are never whole in memory, and neither are the
codes: each run reduces the codes to a checksum (number of nonzeros, sum of absolute
values) inside the graph, and the NumPy run computes the same checksum on its codes.

Each configuration runs in a fresh interpreter (so its peak RSS, ``ru_maxrss``, is its
own), after a warm-up call that loads the kernels from Numba's cache; the wall time is the
coding alone (cluster start-up is reported apart). ``tracemalloc`` gives the peak of the
NumPy-allocated memory of the in-process runs; for the cluster the peak RSS of each
worker process is read with ``resource.getrusage`` inside the worker. Rounds alternate the
configurations; the table gives the median and every value.

Usage::

    python benchmarks/bench_dask.py            # full size; writes results/dask.md
    python benchmarks/bench_dask.py --quick    # 200,000 signals, one round, prints only
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import header, markdown_table, write_result  # noqa: E402

CONFIGS = ("numpy", "dask-threads", "dask-cluster")
N_FEATURES, N_ATOMS, K = 64, 256, 8


def make_dictionary(seed):
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((N_ATOMS, N_FEATURES))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    return D


def lazy_signals(n, chunk, seed):
    import dask.array as da

    return da.random.default_rng(seed).standard_normal((n, N_FEATURES), chunks=(chunk, -1),
                                                       dtype=np.float32)


def _maxrss_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _checksum_numpy(Z, step=100_000):
    nnz, total = 0, 0.0
    for s in range(0, Z.shape[0], step):
        b = Z[s:s + step]
        nnz += int(np.count_nonzero(b))
        total += float(np.abs(b).sum(dtype=np.float64))
    return nnz, total


def _checksum_dask(Z):
    import dask

    nnz, total = dask.compute((Z != 0).sum(), abs(Z).sum(dtype=np.float64))
    return int(nnz), float(total)


def run_one(config, n, chunk, seed):
    """One configuration in this (fresh) process; returns a dict of measurements."""
    import tracemalloc
    import warnings

    import dask

    from sparsecode import SparseCoder

    warnings.simplefilter("ignore")
    D = make_dictionary(seed)
    X = lazy_signals(n, chunk, seed)
    small = np.random.default_rng(1).standard_normal((2048, N_FEATURES)).astype(np.float32)
    out = {"config": config}
    if config == "dask-cluster":
        import logging

        import distributed

        t0 = time.perf_counter()
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=":0", silence_logs=logging.ERROR)
        client = distributed.Client(cluster)
        coder = SparseCoder(D, n_nonzero_coefs=K, n_jobs=1).fit(small)
        _checksum_dask(coder.transform(lazy_signals(4096, 2048, seed + 1)))  # warm workers
        out["startup_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        out["nnz"], out["abs_sum"] = _checksum_dask(coder.transform(X))
        out["wall_s"] = time.perf_counter() - t0
        rss = client.run(_maxrss_mb)
        out["worker_rss_mb"] = sorted(rss.values())
        out["client_rss_mb"] = _maxrss_mb()
        client.close()
        cluster.close()
        return out
    coder = SparseCoder(D, n_nonzero_coefs=K).fit(small)
    coder.transform(small)  # warm-up: kernels from Numba's cache ...
    with dask.config.set(scheduler="threads"):  # ... and dask's thread pool
        _checksum_dask(coder.transform(lazy_signals(4096, 2048, seed + 1)))
    tracemalloc.start()
    t0 = time.perf_counter()
    if config == "numpy":
        Xn = X.compute(scheduler="threads")
        t1 = time.perf_counter()
        Z = coder.transform(Xn)
        out["code_s"] = time.perf_counter() - t1
        out["nnz"], out["abs_sum"] = _checksum_numpy(Z)
    else:
        with dask.config.set(scheduler="threads"):
            out["nnz"], out["abs_sum"] = _checksum_dask(coder.transform(X))
    out["wall_s"] = time.perf_counter() - t0
    out["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    out["rss_mb"] = _maxrss_mb()
    return out


def _spawn(config, n, chunk, seed):
    cmd = [sys.executable, os.path.abspath(__file__), "--run", config, "--n", str(n),
           "--chunk", str(chunk), "--seed", str(seed)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode:
        raise RuntimeError(f"{config} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _fmt(values, spec="{:.1f}"):
    med = statistics.median(values)
    return f"{spec.format(med)} ({' / '.join(spec.format(v) for v in values)})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2_000_000, help="number of signals")
    ap.add_argument("--chunk", type=int, default=100_000, help="rows per Dask chunk")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="200,000 signals, one round")
    ap.add_argument("--run", choices=CONFIGS, help=argparse.SUPPRESS)
    ap.add_argument("--out", default="dask.md", help="file name under results/")
    args = ap.parse_args()
    if args.run:
        print(json.dumps(run_one(args.run, args.n, args.chunk, args.seed)))
        return
    if args.quick:
        args.n, args.chunk, args.rounds = 200_000, 25_000, 1

    results = {c: [] for c in CONFIGS}
    for r in range(args.rounds):
        for config in CONFIGS if r % 2 == 0 else CONFIGS[::-1]:
            res = _spawn(config, args.n, args.chunk, args.seed)
            results[config].append(res)
            print(f"round {r + 1}: {config}: {res}", flush=True)

    ref = results["numpy"][0]
    agree = all(res["nnz"] == ref["nnz"] and
                abs(res["abs_sum"] - ref["abs_sum"]) <= 1e-6 * ref["abs_sum"]
                for rs in results.values() for res in rs)
    data_mb = args.n * N_FEATURES * 4 / 1e6
    codes_mb = args.n * N_ATOMS * 4 / 1e6
    rows = []
    for config in CONFIGS:
        rs = results[config]
        wall = [x["wall_s"] for x in rs]
        sps = [args.n / w / 1e3 for w in wall]
        if config == "dask-cluster":
            mem = (f"workers {_fmt([max(x['worker_rss_mb']) for x in rs], '{:.0f}')}, "
                   f"client {_fmt([x['client_rss_mb'] for x in rs], '{:.0f}')}")
            traced = "-"
        else:
            mem = _fmt([x["rss_mb"] for x in rs], "{:.0f}")
            traced = _fmt([x["traced_peak_mb"] for x in rs], "{:.0f}")
        rows.append([config, _fmt(wall, "{:.2f}"), _fmt(sps, "{:.0f}"), mem, traced])
    lines = header("Sparse coding through Dask vs in-process NumPy")
    lines += [
        f"{args.n:,} signals × {N_FEATURES} features (float32, {data_mb:,.0f} MB; dense codes "
        f"{codes_mb:,.0f} MB), OMP k={K} over {N_ATOMS} unit-norm atoms; Dask chunks of "
        f"{args.chunk:,} rows generated lazily from seed {args.seed}. {args.rounds} rounds, "
        "configurations alternating, each in a fresh interpreter; median (every value).",
        ("The machine was loaded by other jobs during the run (see the load average): "
         "absolute times are noisy, compare within a round." if os.getloadavg()[0] > 2.5
         else "No other jobs ran on the machine during the run."),
        "",
    ]
    lines += markdown_table(
        ["configuration", "wall s (coding)", "k signals/s", "peak RSS MB",
         "tracemalloc peak MB"], rows)
    lines += [
        "",
        "- `numpy`: wall time includes generating the signals into one array "
        f"(coding alone: {_fmt([x['code_s'] for x in results['numpy']], '{:.2f}')} s); "
        "the codes are one dense array.",
        "- `dask-threads`: threaded scheduler, all Numba threads per block (the parallel "
        "kernels take turns on the workqueue layer).",
        "- `dask-cluster`: LocalCluster, 2 processes × 1 thread, `n_jobs=1`; start-up and "
        "warm-up "
        f"{_fmt([x['startup_s'] for x in results['dask-cluster']], '{:.1f}')} s, not "
        "counted. Peak RSS of the larger worker, and of the client process.",
        f"- checksums (nonzeros, sum of |codes|) of every run agree with the NumPy run: "
        f"{'yes' if agree else 'NO'} (nnz {ref['nnz']:,}).",
    ]
    if args.quick:  # a smoke run: the table is printed, results/ is left alone
        print("\n".join(lines))
    else:
        write_result(args.out, lines)


if __name__ == "__main__":
    main()
