"""``sparsecode demo``: the library's main job in one command.

1. Sparse coding: recover synthetic sparse codes with Batch-OMP and report support
   recovery and speed (signals per second).
2. Further sections (image denoising, compressed sensing) run when their modules are
   installed; each prints PSNR and writes PNGs to ``--out``.

Every section also writes one labelled comparison figure to ``--out`` (matplotlib, Agg
canvas): ``coding_comparison.png`` (a true code and its recovery),
``denoise_comparison.png`` (clean / noisy / denoised, PSNR in the titles) and
``cs_comparison.png`` (original / reconstructions, PSNR in the titles).
"""

from __future__ import annotations

import os
import time

import numpy as np

SECTIONS = ["coding", "denoise", "cs"]


def add_arguments(parser):
    parser.add_argument("--out", default="sparsecode-demo",
                        help="folder for the PNGs (default: ./sparsecode-demo)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--quick", action="store_true", help="smaller problems, faster")
    parser.add_argument("--only", choices=SECTIONS, action="append",
                        help="run only this section (repeatable)")


def coding_section(seed=0, quick=False, out=None):
    from sparsecode import orthogonal_mp
    from sparsecode.datasets import make_sparse_signals

    n = 20_000 if quick else 100_000
    X, D, Z = make_sparse_signals(n, 64, 256, 8, noise=0.0, random_state=seed)
    orthogonal_mp(X[:10], D, n_nonzero_coefs=8)  # JIT warm-up (cached after first run)
    t0 = time.perf_counter()
    codes = orthogonal_mp(X, D, n_nonzero_coefs=8)
    elapsed = time.perf_counter() - t0
    exact = np.mean(np.all((codes != 0) == (Z != 0), axis=1))
    rel = np.linalg.norm(codes - Z) / np.linalg.norm(Z)
    print(f"[coding] Batch-OMP, {n:,} signals of 64 features over 256 atoms, k=8:")
    print(f"         exact support recovery {100 * exact:.2f} %, relative code error "
          f"{rel:.1e}, {n / elapsed:,.0f} signals/s")
    if out is not None:
        from ._figures import codes_figure

        path = codes_figure(
            os.path.join(out, "coding_comparison.png"), Z[0], codes[0],
            title=f"Batch-OMP, k=8 of 256 atoms: signal 0 (exact support recovery "
                  f"{100 * exact:.2f} % over {n:,} signals)")
        print(f"         figure: {path}")
    return {"support_recovery": exact, "signals_per_s": n / elapsed}


def run(args):
    os.makedirs(args.out, exist_ok=True)
    only = args.only or SECTIONS
    results = {}
    if "coding" in only:
        results["coding"] = coding_section(args.seed, args.quick, out=args.out)
    for name in ("denoise", "cs"):
        if name not in only:
            continue
        section = _optional_section(name)
        if section is None:
            print(f"[{name}] not available in this version")
            continue
        results[name] = section(out=args.out, seed=args.seed, quick=args.quick)
    return 0


def _optional_section(name):
    import importlib

    try:
        module = importlib.import_module(f"sparsecode.apps._demo_{name}")
    except ModuleNotFoundError:
        return None
    return module.section
