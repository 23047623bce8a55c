"""Sparse autoencoders versus dictionary learning: held-out error against L0.

Data: 8x8 patches of scikit-learn's sample images (grayscale china.jpg + flower.jpg in
[0, 1], DC removed per patch) and scikit-learn's digits (8x8, pixel values / 16,
centred by the training mean). Every method learns 128 atoms on the training split and
is evaluated on held-out samples:

- SAEs (``sparsecode.nn.sae``): TopK and BatchTopK at k in {2, 4, 8}; ReLU+L1 and
  JumpReLU at three penalty weights each; the KL-sparsity autoencoder (dense codes).
  Codes come from the SAE's own encoder (one matrix product + activation); for TopK we
  also code with OMP over the SAE's decoder ("TopK SAE dict + OMP").
- Dictionary learning + OMP at the same L0 (exactly k nonzeros per sample): ours
  (``sparsecode.dictionary``, approximate K-SVD, 10 iterations, trained at that k),
  scikit-learn's MiniBatchDictionaryLearning (lasso by coordinate descent, fitted once) and
  SPAMS trainDL (lasso, fitted once).

Reported: held-out L0 (mean nonzeros per sample), NMSE = ||X - X_hat||^2 / ||X||^2,
training time and time to code the held-out set. Everything single-threaded (torch,
Numba and BLAS) so the comparison is fair on a shared machine.

    python benchmarks/bench_sae.py            # full run (< 5 min), writes results/sae.md + sae.png
    python benchmarks/bench_sae.py --quick    # smoke run (< 1 min), writes results/sae_quick.md
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import header, load_patches, markdown_table, write_result  # noqa: E402

N_COMPONENTS = 128


# ----------------------------------------------------------------------------- data
def load_digits_split(seed=0):
    from sklearn.datasets import load_digits

    X = load_digits().data / 16.0
    idx = np.random.default_rng(seed).permutation(X.shape[0])
    n_train = int(0.8 * X.shape[0])
    Xtr, Xte = X[idx[:n_train]], X[idx[n_train:]]
    mean = Xtr.mean(axis=0)
    return np.ascontiguousarray(Xtr - mean), np.ascontiguousarray(Xte - mean)


# ----------------------------------------------------------------------------- helpers
def nmse(X, X_hat):
    return float(((X - X_hat) ** 2).sum() / (X ** 2).sum())


def omp_eval(D, Xte, k):
    from sparsecode import orthogonal_mp

    D = np.asarray(D, dtype=np.float64)
    norms = np.linalg.norm(D, axis=1)
    D = D[norms > 1e-12] / norms[norms > 1e-12, None]
    t0 = time.perf_counter()
    Z = orthogonal_mp(Xte, D, n_nonzero_coefs=k, n_jobs=1)
    t = time.perf_counter() - t0
    return float((Z != 0).sum(axis=1).mean()), nmse(Xte, Z @ D), t


def sae_eval(model, Xte):
    t0 = time.perf_counter()
    Z = model.transform(Xte)
    t = time.perf_counter() - t0
    return float((Z != 0).sum(axis=1).mean()), nmse(Xte, model.inverse_transform(Z)), t


def timed_fit(est, X):
    t0 = time.perf_counter()
    est.fit(X)
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------- runs
def run_dataset(name, Xtr, Xte, ks, sae_kw, relu_alphas, jump_alphas, args):
    import torch
    from sklearn.decomposition import MiniBatchDictionaryLearning

    from sparsecode.dictionary import DictionaryLearning
    from sparsecode.nn.sae import KLSAE, BatchTopKSAE, JumpReLUSAE, ReLUSAE, TopKSAE

    torch.set_num_threads(1)
    rows = []
    # warm-up (first torch call, Numba compilation) so no method pays it in its timing
    TopKSAE(8, n_nonzero_coefs=2, max_iter=1, random_state=0).fit(Xtr[:300])
    omp_eval(Xtr[:16], Xte[:10], 2)

    def add(method, family, l0, err, t_fit, t_code, param=""):
        rows.append(dict(dataset=name, method=method, family=family, param=param, l0=l0,
                         nmse=err, fit_s=t_fit, code_s=t_code))
        print(f"  {name:8s} {method:28s} {param:10s} L0={l0:6.2f} NMSE={err:.4f} "
              f"fit={t_fit:6.2f}s code={t_code:.3f}s", flush=True)

    for k in ks:
        sae = TopKSAE(N_COMPONENTS, n_nonzero_coefs=k, **sae_kw)
        t = timed_fit(sae, Xtr)
        l0, err, tc = sae_eval(sae, Xte)
        add("TopK SAE", "sae", l0, err, t, tc, f"k={k}")
        l0, err, tc = omp_eval(sae.components_, Xte, k)
        add("TopK SAE dict + OMP", "sae+omp", l0, err, t, tc, f"k={k}")
        sae = BatchTopKSAE(N_COMPONENTS, n_nonzero_coefs=k, **sae_kw)
        t = timed_fit(sae, Xtr)
        l0, err, tc = sae_eval(sae, Xte)
        add("BatchTopK SAE", "sae", l0, err, t, tc, f"k={k}")
        dl = DictionaryLearning(N_COMPONENTS, algorithm="approx_ksvd", n_nonzero_coefs=k,
                                max_iter=args.ksvd_iter, random_state=0, n_jobs=1)
        t = timed_fit(dl, Xtr)
        l0, err, tc = omp_eval(dl.components_, Xte, k)
        add("ours approx K-SVD + OMP", "dl", l0, err, t, tc, f"k={k}")

    for a in relu_alphas:
        sae = ReLUSAE(N_COMPONENTS, alpha=a, **sae_kw)
        t = timed_fit(sae, Xtr)
        l0, err, tc = sae_eval(sae, Xte)
        add("ReLU+L1 SAE", "sae", l0, err, t, tc, f"alpha={a:g}")
    for a in jump_alphas:
        sae = JumpReLUSAE(N_COMPONENTS, alpha=a, **sae_kw)
        t = timed_fit(sae, Xtr)
        l0, err, tc = sae_eval(sae, Xte)
        add("JumpReLU SAE", "sae", l0, err, t, tc, f"alpha={a:g}")
    sae = KLSAE(N_COMPONENTS, alpha=1.0, sparsity_target=0.05, **sae_kw)
    t = timed_fit(sae, Xtr)
    l0, err, tc = sae_eval(sae, Xte)
    add("KL SAE (sigmoid, dense)", "sae", l0, err, t, tc, "rho=0.05")

    # learned once, coded at every k
    sk = MiniBatchDictionaryLearning(N_COMPONENTS, alpha=args.sk_alpha, batch_size=256,
                                     max_iter=args.sk_iter, fit_algorithm="cd",
                                     random_state=0)
    with warnings.catch_warnings():  # coordinate descent's per-batch ConvergenceWarnings
        warnings.simplefilter("ignore")
        t = timed_fit(sk, Xtr)
    for k in ks:
        l0, err, tc = omp_eval(sk.components_, Xte, k)
        add("sklearn MiniBatchDL + OMP", "dl", l0, err, t, tc, f"k={k}")
    try:
        import spams
    except ImportError:  # pragma: no cover
        print("  (SPAMS not installed: skipped)")
    else:
        Xf = np.asfortranarray(Xtr.T)
        t0 = time.perf_counter()
        D = spams.trainDL(Xf, K=N_COMPONENTS, lambda1=args.spams_lambda, mode=2,
                          iter=args.spams_iter, batchsize=256, numThreads=1, verbose=False)
        t = time.perf_counter() - t0
        for k in ks:
            l0, err, tc = omp_eval(np.asarray(D).T, Xte, k)
            add("SPAMS trainDL + OMP", "dl", l0, err, t, tc, f"k={k}")
    return rows


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4.5))
    axes = np.atleast_1d(axes)
    styles = {"sae": "o-", "sae+omp": "s--", "dl": "^:"}
    for ax, ds in zip(axes, datasets):
        methods = list(dict.fromkeys(r["method"] for r in rows if r["dataset"] == ds))
        for m in methods:
            pts = sorted((r["l0"], r["nmse"], r["family"]) for r in rows
                         if r["dataset"] == ds and r["method"] == m)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], styles[pts[0][2]], label=m)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("held-out L0 (mean nonzeros per sample)")
        ax.set_ylabel("held-out NMSE")
        ax.set_title(ds)
        ax.grid(True, which="both", alpha=0.3)
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small smoke run (< 1 min)")
    args = p.parse_args(argv)
    if args.quick:
        n_train, n_test, ks = 3000, 1000, [4]
        patch_epochs, digit_epochs = 6, 20
        args.ksvd_iter, args.sk_iter, args.spams_iter = 5, 1, 100
        relu_alphas, jump_alphas = [3.0], [3.0]
    else:
        n_train, n_test, ks = 10000, 4000, [2, 4, 8]
        patch_epochs, digit_epochs = 12, 40
        args.ksvd_iter, args.sk_iter, args.spams_iter = 10, 2, 400
        relu_alphas, jump_alphas = [1.0, 3.0, 10.0], [1.0, 3.0, 10.0]
    args.sk_alpha, args.spams_lambda = 0.1, 0.05
    t_start = time.perf_counter()
    rows = []
    base = dict(batch_size=256, learning_rate=1e-2, random_state=0)
    Xtr, Xte = load_patches(n_train, n_test)
    print(f"patches: train {Xtr.shape}, test {Xte.shape}")
    rows += run_dataset("patches", Xtr, Xte, ks, dict(base, max_iter=patch_epochs),
                        relu_alphas, jump_alphas, args)
    Xtr, Xte = load_digits_split()
    print(f"digits: train {Xtr.shape}, test {Xte.shape}")
    rows += run_dataset("digits", Xtr, Xte, ks, dict(base, batch_size=128,
                                                      max_iter=digit_epochs),
                        relu_alphas, jump_alphas, args)
    total = time.perf_counter() - t_start

    import torch

    name = "sae_quick" if args.quick else "sae"
    lines = header("Sparse autoencoders versus dictionary learning: held-out NMSE against L0")
    lines[-1:-1] = [f"- torch {torch.__version__}, all methods single-threaded; "
                    f"total run time {total:.0f} s"]
    lines += [
        f"Data: 8x8 patches of china.jpg + flower.jpg (grayscale, [0, 1], DC removed), "
        f"{n_train} training / {n_test} held-out; digits (1797 x 64, / 16, centred), "
        f"80 % / 20 %. {N_COMPONENTS} atoms everywhere. SAEs: Adam, learning rate 1e-2, "
        f"batch 256 (digits 128), {patch_epochs} epochs on patches and {digit_epochs} on "
        f"digits. Dictionary learning: ours approx K-SVD ({args.ksvd_iter} iterations, "
        f"OMP with k), scikit-learn MiniBatchDictionaryLearning (alpha={args.sk_alpha}, "
        f"max_iter={args.sk_iter}, fit_algorithm='cd': LARS took 10-20 s per epoch "
        f"here), SPAMS trainDL (lambda1={args.spams_lambda}, "
        f"iter={args.spams_iter}); their held-out codes by OMP with exactly k nonzeros. "
        "NMSE = ||X - X_hat||^2 / ||X||^2 on the held-out set; `fit` is the training "
        "time, `code` the time to encode the held-out set (SAE: encoder; others: OMP).",
        "",
    ]
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        lines += [f"## {ds}", ""]
        sel = sorted((r for r in rows if r["dataset"] == ds),
                     key=lambda r: (r["family"] != "sae", r["method"], r["l0"]))
        lines += markdown_table(
            ["method", "setting", "held-out L0", "held-out NMSE", "fit (s)", "code (s)"],
            [[r["method"], r["param"], f"{r['l0']:.2f}", f"{r['nmse']:.4f}",
              f"{r['fit_s']:.2f}", f"{r['code_s']:.3f}"] for r in sel])
        lines.append("")
        # ratios at equal k: best dictionary-learning NMSE / TopK SAE NMSE
        ratio_rows = []
        for k in ks:
            get = {r["method"]: r for r in rows
                   if r["dataset"] == ds and r["param"] == f"k={k}"}
            if "TopK SAE" not in get:
                continue
            sae = get["TopK SAE"]
            for m in ("ours approx K-SVD + OMP", "sklearn MiniBatchDL + OMP",
                      "SPAMS trainDL + OMP"):
                if m in get:
                    ratio_rows.append([f"k={k}", m, f"{get[m]['nmse'] / sae['nmse']:.2f}",
                                       f"{get[m]['fit_s'] / sae['fit_s']:.2f}",
                                       f"{get[m]['code_s'] / max(sae['code_s'], 1e-9):.1f}"])
        if ratio_rows:
            lines += [f"Ratios to the TopK SAE at the same k ({ds}; NMSE ratio < 1: the "
                      "dictionary method reconstructs better):", ""]
            lines += markdown_table(["k", "method", "NMSE ratio", "fit-time ratio",
                                     "code-time ratio"], ratio_rows)
            lines.append("")
    png = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", f"{name}.png")
    plot(rows, png)
    lines += [f"![held-out NMSE versus L0]({name}.png)", ""]
    write_result(f"{name}.md", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
