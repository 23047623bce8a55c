"""Shared helpers of the benchmark scripts: timing, machine description, tables."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
import time


def best_time(fn, repeat=3, warmup=True):
    """Best wall time of ``repeat`` calls of ``fn()`` (after one warm-up call)."""
    if warmup:
        fn()
    best = float("inf")
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def machine():
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}; "
            f"Python {platform.python_version()}; load average at start {load:.2f}")


def portable(text):
    """``text`` (a recorded command line) without this machine's folders: the value of
    ``$SPARSECODE_DATA`` becomes ``$SPARSECODE_DATA`` and paths inside the repository
    become relative to it, so that a results table names no absolute path."""
    data = os.environ.get("SPARSECODE_DATA")
    if data:
        text = text.replace(os.path.abspath(data).rstrip(os.sep), "$SPARSECODE_DATA")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return text.replace(repo + os.sep, "")


def header(title):
    import numpy
    import sklearn

    try:
        import numba
        nb = numba.__version__
    except ImportError:  # pragma: no cover
        nb = "-"
    lines = [
        f"# {title}",
        "",
        f"- command: `python {portable(' '.join(sys.argv))}`",
        f"- date: {_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {machine()}",
        f"- versions: numpy {numpy.__version__}, scikit-learn {sklearn.__version__}, "
        f"numba {nb}",
        "",
    ]
    return lines


def markdown_table(columns, rows):
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        out.append("| " + " | ".join(str(v) for v in r) + " |")
    return out


def write_result(name, lines):
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {path}")
    return path


def load_patches(n_train, n_test, seed=0):
    """8×8 patches of scikit-learn's grayscale china.jpg and flower.jpg in [0, 1], DC removed.

    Training and held-out patches are disjoint random draws, half from each image; the
    dictionary-learning and sparse-autoencoder benchmarks share this protocol.
    """
    import numpy as np
    from sklearn.datasets import load_sample_image
    from sklearn.feature_extraction.image import extract_patches_2d

    rng = np.random.default_rng(seed)
    train, test = [], []
    for name in ("china.jpg", "flower.jpg"):
        img = load_sample_image(name).astype(np.float64).mean(axis=2) / 255.0
        P = extract_patches_2d(img, (8, 8)).reshape(-1, 64)
        idx = rng.permutation(P.shape[0])
        train.append(P[idx[: n_train // 2]])
        test.append(P[idx[n_train // 2: n_train // 2 + n_test // 2]])
    Xtr, Xte = np.vstack(train), np.vstack(test)
    Xtr -= Xtr.mean(axis=1, keepdims=True)
    Xte -= Xte.mean(axis=1, keepdims=True)
    return np.ascontiguousarray(Xtr), np.ascontiguousarray(Xte)
