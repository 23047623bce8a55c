"""LISTA-family benchmark: NMSE (dB) per layer, the standard experiment of
Chen et al. (NeurIPS 2018) and Liu et al. (ICLR 2019).

A 250x500 Gaussian N(0, 1/250) with normalised columns, x Bernoulli(0.1)·N(0,1), 16
layers, noiseless and SNR 40 dB. NMSE per layer on 1000 test vectors for ISTA and FISTA
(best lambda per iteration count, from a grid; the iterates are checked against the
library's classic ``sparsecode.coding._fista.fista`` in the same run), and for LISTA,
LISTA-CP, LISTA-CPSS and ALISTA trained stage-wise with the LISTA-CPSS recipe
(fresh batches of 64, Adam 5e-4, refinement x0.2 and x0.02, decay 0.3, validation on
1000 vectors every 10 steps), each new layer starting from the trained previous one
(``--new-layer-init previous``, the library's default; ``model`` restarts every layer
at ISTA's step and threshold as the reference TensorFlow code does).

Usage::

    python benchmarks/bench_lista.py --jobs 2             # CPU schedule, both SNRs at once
    python benchmarks/bench_lista.py --device cuda --full --out results_gpu/
    python benchmarks/bench_lista.py --quick              # smoke run (seconds)

The default (CPU) schedule caps every stage at ``--max-steps`` (300) optimizer steps,
so a run is deterministic for a given seed and its cost is fixed. ``--full`` runs the
reference schedule instead: a stage stops after 4000 steps without improvement
(``--max-steps`` still caps it if given). ``--budget`` (seconds per model) adds a
wall-time cap, split evenly over the remaining stages. ``--jobs 2`` trains the
noiseless and the noisy setting in two processes of one thread each.
Results: ``<out>/lista.md``, ``<out>/lista.png``, ``<out>/lista.json``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import multiprocessing
import os
import platform
import sys
import time
import warnings

import numpy as np
import torch

from sparsecode.nn.unrolled.training import SyntheticProblem, nmse_db, train_stagewise
from sparsecode.nn.unrolled import make_model

LEARNED = ["lista", "lista-cp", "lista-cpss", "alista"]
LABELS = {"ista": "ISTA", "fista": "FISTA", "lista": "LISTA", "lista-cp": "LISTA-CP",
          "lista-cpss": "LISTA-CPSS", "alista": "ALISTA"}
LAMBDA_GRID = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4]


def log(msg):
    print(msg, flush=True)


def make_matrix(m, n, seed):
    rng = np.random.default_rng(seed)
    A = rng.normal(0.0, np.sqrt(1.0 / m), size=(m, n))
    return A / np.linalg.norm(A, axis=0)


def classic_curves(A, y, x, n_layers, device):
    """Best-lambda NMSE per iteration for ISTA and FISTA (iterates of the unrolled models
    at initialisation, which compute exactly ISTA/FISTA; checked against the kernel)."""
    out = {}
    yt = torch.as_tensor(y, dtype=torch.float64, device=device)
    for name in ["ista", "fista"]:
        per_lambda = {}
        for lam in LAMBDA_GRID:
            net = make_model(name, A, n_layers, lam, dtype=torch.float64).to(device)
            with torch.no_grad():
                outs = net(yt, return_all=True)
            per_lambda[lam] = [nmse_db(o, torch.as_tensor(x, device=device)) for o in outs]
        curve = [min(per_lambda[lam][k] for lam in LAMBDA_GRID) for k in range(n_layers)]
        best = [min(LAMBDA_GRID, key=lambda lam: per_lambda[lam][k]) for k in range(n_layers)]
        out[name] = {"nmse_db": curve, "best_lambda": best}
    # oracle check against the library's classic kernel at the last iteration
    try:
        from sklearn.exceptions import ConvergenceWarning

        from sparsecode.coding._fista import fista
    except ImportError:  # pragma: no cover
        return out, "classic kernel unavailable: not checked"
    lam = out["fista"]["best_lambda"][-1]
    L = np.linalg.norm(A, 2) ** 2
    n_chk = min(100, y.shape[0])
    msgs = []
    for name, acc in [("ista", False), ("fista", True)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ref = fista(y[:n_chk], A.T, alpha=lam, max_iter=n_layers, tol=0.0, restart=False,
                        accelerated=acc, lipschitz=L)
        net = make_model(name, A, n_layers, lam, dtype=torch.float64).to(device)
        with torch.no_grad():
            mine = net(yt[:n_chk]).cpu().numpy()
        err = float(np.abs(mine - ref).max())
        msgs.append(f"{name}: max |unrolled - sparsecode.coding._fista.fista| = {err:.1e}")
        if err > 1e-6:
            raise AssertionError(msgs[-1])
    return out, "; ".join(msgs)


def run_setting(A, snr, args, device, log):
    prob = SyntheticProblem(A, sparsity=0.1, snr=snr)
    y_test, x_test = prob.sample_numpy(args.n_test, random_state=args.seed + 1000)
    res, check = classic_curves(A, y_test, x_test, args.n_layers, device)
    log(f"[snr={snr}] classic: ISTA {res['ista']['nmse_db'][-1]:.2f} dB, "
        f"FISTA {res['fista']['nmse_db'][-1]:.2f} dB at {args.n_layers} iterations ({check})")
    for name in args.models:
        torch.manual_seed(args.seed)
        net = make_model(name, A, args.n_layers, args.alpha)
        kw = dict(lr=args.lr, batch_size=64, device=device, random_state=args.seed,
                  verbose=args.verbose, n_validation=args.n_val,
                  eval_every=args.eval_every, patience=args.patience,
                  max_steps_per_stage=args.max_steps, time_budget=args.budget,
                  new_layer_init=args.new_layer_init)
        ckpt = None
        if args.checkpoint_dir:
            os.makedirs(args.checkpoint_dir, exist_ok=True)
            ckpt = os.path.join(args.checkpoint_dir, f"{name}_snr{snr}.pt")
        hist = train_stagewise(net, prob, checkpoint=ckpt, **kw)
        net.eval()
        with torch.no_grad():
            yt = torch.as_tensor(y_test, dtype=net.A.dtype, device=device)
            xt = torch.as_tensor(x_test, dtype=net.A.dtype, device=device)
            curve = [nmse_db(o, xt) for o in net(yt, return_all=True)]
        steps = sum(s["steps"] for s in hist["stages"])
        res[name] = {"nmse_db": curve, "train_seconds": hist["seconds"], "steps": steps}
        log(f"[snr={snr}] {LABELS[name]}: {curve[-1]:.2f} dB at {args.n_layers} layers, "
            f"{steps} steps, {hist['seconds']:.0f} s")
    return res


def write_results(results, args, device, out_dir, total_seconds):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "lista.json"), "w") as fh:
        json.dump({"args": vars(args),
                   "results": results}, fh, indent=1)
    methods = ["ista", "fista"] + args.models
    lines = ["# LISTA family: NMSE (dB) per layer", ""]
    lines.append(f"- command: `{' '.join(sys.argv)}`")
    lines.append(f"- machine: {platform.platform()}, {os.cpu_count()} CPUs"
                 + (f", {torch.cuda.get_device_name(0)}" if device.type == "cuda" else "")
                 + f", device `{device}`, torch {torch.__version__}")
    lines.append(f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC"
                 f", total wall time {total_seconds / 60:.1f} min")
    sched = ("full reference schedule: a stage stops after "
             f"{args.patience} steps without improvement" if args.full else
             "CPU schedule") + (f", at most {args.max_steps} steps per stage"
                                if args.max_steps else "") + (
        f", wall-time cap {args.budget:.0f} s per model" if args.budget else "")
    lines.append(f"- training: {sched}; {args.n_layers} layers x 3 stages; validation "
                 f"{args.n_val} vectors every {args.eval_every} steps; Adam lr {args.lr:g}, "
                 f"batch 64, refinement x0.2, x0.02, older layers x0.3 per layer of age; "
                 f"new layers start from the {'trained previous layer' if args.new_layer_init == 'previous' else 'model initialisation (ISTA step and threshold)'}"
                 f"; initial alpha {args.alpha}; {args.threads or torch.get_num_threads()} "
                 f"thread(s) per process, {args.jobs} process(es)")
    lines.append(f"- problem: A {args.m}x{args.n} N(0,1/{args.m}) normalised columns, "
                 f"x Bernoulli(0.1)·N(0,1), {args.n_test} test vectors; ISTA/FISTA: best "
                 f"lambda per iteration count from {LAMBDA_GRID}")
    lines.append("")
    for snr, res in results.items():
        title = "noiseless" if snr == "None" else f"SNR {snr} dB"
        lines.append(f"## {title}")
        lines.append("")
        lines.append("| layer | " + " | ".join(LABELS[m] for m in methods) + " |")
        lines.append("|---:|" + "---:|" * len(methods))
        for k in range(args.n_layers):
            lines.append(f"| {k + 1} | " + " | ".join(
                f"{res[m]['nmse_db'][k]:.2f}" for m in methods) + " |")
        lines.append("")
        lines.append("| model | training steps | training wall time (s) |")
        lines.append("|---|---:|---:|")
        for m in args.models:
            lines.append(f"| {LABELS[m]} | {res[m]['steps']} | {res[m]['train_seconds']:.0f} |")
        lines.append("")
    lines.append(f"![NMSE vs layers]({args.png_name})")
    lines.append("")
    with open(os.path.join(out_dir, "lista.md"), "w") as fh:
        fh.write("\n".join(lines))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover
        return
    fig, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 4.2), squeeze=False)
    for ax, (snr, res) in zip(axes[0], results.items()):
        layers = np.arange(1, args.n_layers + 1)
        for m in methods:
            ax.plot(layers, res[m]["nmse_db"], marker="o", ms=3, label=LABELS[m],
                    ls="--" if m in ("ista", "fista") else "-")
        ax.set_title("noiseless" if snr == "None" else f"SNR {snr} dB")
        ax.set_xlabel("layer / iteration")
        ax.set_ylabel("NMSE (dB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, args.png_name), dpi=120)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny smoke run")
    p.add_argument("--full", action="store_true", help="full reference schedule")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    p.add_argument("--budget", type=float, default=None,
                   help="optional wall-time cap in seconds per model")
    p.add_argument("--max-steps", type=int, default=None,
                   help="cap on the steps of a stage (default 300, none with --full)")
    p.add_argument("--new-layer-init", choices=["previous", "model"], default="previous",
                   help="where a new layer starts (train_stagewise's new_layer_init)")
    p.add_argument("--jobs", type=int, default=1,
                   help="processes: the SNR settings are trained in parallel")
    p.add_argument("--snr", default="none,40", help="comma list: none and/or dB values")
    p.add_argument("--models", default=",".join(LEARNED))
    p.add_argument("--n-layers", type=int, default=16)
    p.add_argument("--alpha", type=float, default=0.4)
    p.add_argument("--lr", type=float, default=5e-4,
                   help="Adam learning rate of the new-layer stages (recipe: 5e-4)")
    p.add_argument("--n-test", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--checkpoint-dir", default=None)
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    args.m, args.n = 250, 500
    args.models = [m for m in args.models.split(",") if m]
    args.n_val, args.eval_every, args.patience = 1000, 10, 4000
    if args.max_steps is None and not args.full:
        args.max_steps = 300
    args.png_name = "lista.png"
    if args.quick:
        args.m, args.n, args.n_layers, args.n_test = 50, 100, 4, 200
        args.n_val, args.eval_every = 100, 5
        args.max_steps = 10
        args.png_name = "lista_quick.png"
    if args.jobs > 1 and not args.threads:
        args.threads = 1
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda but CUDA is not available")
    A = make_matrix(args.m, args.n, args.seed)
    t0 = time.perf_counter()
    results = {}

    snrs = [None if s.strip().lower() == "none" else float(s) for s in args.snr.split(",")]
    out_dir = args.out if not args.quick else os.path.join(args.out, "quick")
    if args.jobs > 1:
        # Spawned workers with one OpenMP thread each: two processes that each ran two
        # spinning OpenMP threads on 2 cores trained ten times slower (see
        # sparsecode._jit.start_threads for how that happened).
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
        with concurrent.futures.ProcessPoolExecutor(
                max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn"),
                initializer=torch.set_num_threads, initargs=(args.threads,)) as pool:
            futures = {str(snr): pool.submit(run_setting, A, snr, args, device, log)
                       for snr in snrs}
            for key, fut in futures.items():
                results[key] = fut.result()
        write_results(results, args, device, out_dir, time.perf_counter() - t0)
    for snr in snrs if args.jobs <= 1 else []:
        results[str(snr)] = run_setting(A, snr, args, device, log)
        write_results(results, args, device, out_dir, time.perf_counter() - t0)
    log(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
