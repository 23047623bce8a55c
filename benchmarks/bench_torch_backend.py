"""Batch-OMP in torch: our torch backend vs our Numba kernel vs orthogonal-matching-pursuit-gpu.

Same data, same run, interleaved rounds (each round times every contender once, in
turn), medians reported. Unit-norm Gaussian dictionaries, exact k-sparse signals plus
noise (σ=0.01), k-sparsity stopping, float64 (and float32 on CUDA).

Contenders, each at its own best settings:

* ``sparsecode torch``: ``orthogonal_mp(X, D, n_nonzero_coefs=k)`` on tensors (our
  batched torch Batch-OMP with progressive Cholesky updates, on the tensors' device);
* ``sparsecode numba``: the same call on NumPy arrays (the Numba kernel, all threads;
  always on the CPU);
* ``omp-gpu v0``: ``orthogonal_matching_pursuit_gpu.run_omp(D.T, X, k, normalize=False,
  fit_intercept=False, alg="v0")`` (its README: v0, the inverse-Cholesky batched
  algorithm, is its fastest on GPU and on CPU for small/medium n_features; atoms are
  already unit norm, so no normalisation or centring); on the CPU also ``alg="v0_blas"``
  (its Cython-BLAS variant, best on CPU for large n_features).

Both the Gram matrix and the correlations are computed inside every call.

    python benchmarks/bench_torch_backend.py                 # CPU, writes results/torch_backend.md
    python benchmarks/bench_torch_backend.py --quick         # smoke run
    python benchmarks/bench_torch_backend.py --device cuda   # GPU, writes results/torch_backend_cuda.md

The CUDA mode is one prepared run of a few minutes (20k signals per case, 7 rounds,
float32 and float64).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import header, markdown_table, write_result  # noqa: E402

CASES = [(64, 256, 8), (256, 1024, 16)]  # (n_features, n_components, k)


def make_case(n_features, n_components, k, n, seed=0):
    from sparsecode.datasets import make_sparse_signals

    X, D, _ = make_sparse_signals(n, n_features, n_components, k, noise=0.01,
                                  random_state=seed)
    D = D / np.linalg.norm(D, axis=1, keepdims=True)
    return np.ascontiguousarray(X), np.ascontiguousarray(D)


def _with_threads(fn, n_threads):
    import torch

    def run():
        torch.set_num_threads(n_threads)
        return fn()
    return run


def contenders(X, D, k, device, dtype, torch_threads):
    import torch
    from orthogonal_matching_pursuit_gpu import run_omp

    from sparsecode import orthogonal_mp

    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    Xn, Dn = X.astype(dtype), D.astype(dtype)
    Xt = torch.as_tensor(Xn, device=device, dtype=tdtype)
    Dt = torch.as_tensor(Dn, device=device, dtype=tdtype)
    DtT = Dt.T.contiguous()  # their layout: (n_features, n_components)

    def sync():
        if device != "cpu":
            torch.cuda.synchronize()

    def ours_torch():
        out = orthogonal_mp(Xt, Dt, n_nonzero_coefs=k)
        sync()
        return out

    def theirs(alg):
        def run():
            out = run_omp(DtT, Xt, k, normalize=False, fit_intercept=False, alg=alg)
            sync()
            return out
        return run

    out = {"sparsecode numba (cpu)": lambda: orthogonal_mp(Xn, Dn, n_nonzero_coefs=k)}
    for nt in torch_threads:  # torch's CPU threads (one setting per row)
        tag = f"{device}, {nt} thread{'s' if nt > 1 else ''}" if device == "cpu" else device
        out[f"sparsecode torch ({tag})"] = _with_threads(ours_torch, nt)
        out[f"omp-gpu v0 ({tag})"] = _with_threads(theirs("v0"), nt)
        if device == "cpu" and dtype == np.float64:  # v0_blas is float64 and CPU only
            out[f"omp-gpu v0_blas ({tag})"] = _with_threads(theirs("v0_blas"), nt)
    return out


def to_numpy(codes):
    return codes.detach().cpu().numpy() if hasattr(codes, "detach") else np.asarray(codes)


def run_case(n_features, n_components, k, n, device, dtype, rounds, torch_threads):
    X, D = make_case(n_features, n_components, k, n)
    fns = contenders(X, D, k, device, dtype, torch_threads)
    results = {name: fn() for name, fn in fns.items()}  # warm-up (and JIT) + outputs
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    ref = to_numpy(results["sparsecode numba (cpu)"]).astype(np.float64)
    rows = []
    med_ours = min(statistics.median(t) for name, t in times.items()
                   if name.startswith("sparsecode torch"))
    for name in fns:
        codes = to_numpy(results[name]).astype(np.float64)
        same = float(((codes != 0) == (ref != 0)).all(axis=1).mean())
        diff = float(np.abs(codes - ref).max())
        med = statistics.median(times[name])
        rows.append([f"{n_features}×{n_components}, k={k}", np.dtype(dtype).name, name,
                     f"{n / med:,.0f}", f"{med:.3f}", f"{min(times[name]):.3f}",
                     f"{med / med_ours:.2f}×", f"{100 * same:.2f} %", f"{diff:.1e}"])
        print(" | ".join(rows[-1]), flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--n-signals", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=None,
                   help="interleaved rounds (default 5 on CPU, 7 on CUDA)")
    p.add_argument("--torch-threads", default=None,
                   help="comma-separated torch CPU thread counts, one row each (default: "
                        "1 and torch's own default on the CPU; torch's default on CUDA)")
    p.add_argument("--quick", action="store_true", help="smoke run (2k signals, 2 rounds)")
    p.add_argument("--out", default=None, help="result file name under results/")
    args = p.parse_args(argv)

    import torch

    import orthogonal_matching_pursuit_gpu as ompgpu

    device = args.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        p.error("--device cuda needs a CUDA build of torch and a GPU")
    default_threads = torch.get_num_threads()
    if args.torch_threads:
        torch_threads = [int(t) for t in args.torch_threads.split(",")]
    else:
        torch_threads = sorted({1, default_threads}) if device == "cpu" else [default_threads]
    n = 2_000 if args.quick else args.n_signals
    rounds = 2 if args.quick else (args.rounds or (7 if device != "cpu" else 5))
    dtypes = [np.float64] if device == "cpu" else [np.float32, np.float64]

    lines = header("Batch-OMP in torch: sparsecode vs orthogonal-matching-pursuit-gpu")
    gpu = torch.cuda.get_device_name(0) if device != "cpu" else "none used"
    lines += [f"- torch {torch.__version__} (CPU threads per row: {torch_threads}), "
              f"orthogonal-matching-pursuit-gpu {ompgpu.__version__}; device `{device}` "
              f"(GPU: {gpu})",
              f"- {n:,} signals per case, {rounds} interleaved rounds, median (and best) "
              "wall time per call; Gram matrix and correlations computed inside each call",
              "- same supports / max |Δ|: against our Numba kernel's codes", ""]
    cols = ["case", "dtype", "contender", "signals/s (median)", "median s", "best s",
            "time / best ours torch", "same supports", "max abs diff"]
    rows = []
    for dtype in dtypes:
        for f, kk, k in CASES:
            rows += run_case(f, kk, k, n, device, dtype, rounds, torch_threads)
    lines += markdown_table(cols, rows)
    name = args.out or ("torch_backend.md" if device == "cpu" else "torch_backend_cuda.md")
    if args.quick:
        print("\n".join(lines))
    else:
        write_result(name, lines)


if __name__ == "__main__":
    main()
