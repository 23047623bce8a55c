"""How the growth settings of ``bench_sparse_networks.py`` were chosen, without test data.

Inside the *training* set of split ``s`` of the benchmark (``load_digits_split(s)``;
its 360 test images are never loaded into this script's models), a stratified 80/20
inner split (``random_state=1000 + s``): the dense CNN recipe of the benchmark (40
epochs at 3e-3 + 25 at 1e-3) and a few ``GrowingNetworkClassifier`` configurations are
trained on the inner 80 % (the grower holds out its own 20 % of that for its growth
decisions) and scored on the inner 20 % (287 images).

    python benchmarks/grow_settings_dev.py            # folds 0,1,2, configs A-G
    python benchmarks/grow_settings_dev.py --folds 0,1,2,3,4 --configs dense,E

Prints one line per fold and configuration and writes ``results/grow_settings_dev.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_sparse_networks as B
from _common import header, markdown_table, write_result

BASE = {"target_accuracy": 0.99, "initial_units": 2, "initial_density": 0.5,
        "conv_channels": (16, 32), "input_shape": (1, 8, 8), "batch_norm": True,
        "prune_fraction": 0.2, "max_prune_rounds": 3, "learning_rate": 2e-3,
        "batch_size": 64, "refit": True, "max_units": 64, "units_per_step": 8,
        "epochs_per_step": 20}
NEW = {"lr_schedule": "cosine", "refit_epochs": 40, "dropout": 0.2}
CONFIGS = {
    "dense": None,
    "A": {},                                            # the previous benchmark settings
    "B": {"lr_schedule": "cosine", "refit_epochs": 40},
    "C": NEW,
    "D": {**NEW, "target_accuracy": 1.0},
    "E": {**NEW, "selection": "loss"},                  # chosen, stem 16/32
    "F": {**NEW, "selection": "loss", "max_units": 96, "units_per_step": 16},
    "G": {**NEW, "selection": "loss", "conv_channels": (8, 16),
          "initial_density": 0.25},                     # chosen, stem 8/16
}


def main(argv=None):
    import torch
    from sklearn.model_selection import train_test_split

    from sparsecode.nn.prune import GrowingNetworkClassifier

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folds", default="0,1,2")
    p.add_argument("--configs", default=",".join(CONFIGS))
    args = p.parse_args(argv)
    folds = [int(v) for v in args.folds.split(",")]
    names = args.configs.split(",")
    torch.set_num_threads(1)
    res = {}
    for s in folds:
        Xtr, _, ytr, _ = B.load_digits_split(s)  # the test part of split s is not used
        Xa, Xb, ya, yb = train_test_split(Xtr, ytr, test_size=0.2, stratify=ytr,
                                          random_state=1000 + s)
        Xa_t, Xb_t, ya_t, yb_t = (torch.from_numpy(v) for v in (Xa, Xb, ya, yb))
        for name in names:
            cfg = CONFIGS[name]
            t0 = time.perf_counter()
            if cfg is None:
                net = B.train(B.make_cnn(s), Xa_t, ya_t, 40, 3e-3, seed=s)
                net = B.train(net.train(), Xa_t, ya_t, 25, 1e-3, seed=s)
                acc, npar, info = B.accuracy(net, Xb_t, yb_t), B.count_params(net), ""
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    g = GrowingNetworkClassifier(random_state=s, **{**BASE, **cfg}).fit(Xa, ya)
                acc, npar = float(np.mean(g.predict(Xb) == yb)), g.n_params_
                info = (f"{g.n_units_} units, inner validation "
                        f"{100 * (1 - g.validation_error_):.2f} %, {g.n_epochs_} epochs")
            res[s, name] = (acc, npar, info)
            print(f"fold {s} {name:6s} acc {100 * acc:.2f} params {npar} "
                  f"{time.perf_counter() - t0:.0f} s {info}", flush=True)
    lines = header("Growth settings on inner splits of the training data (no test data)")
    lines += [__doc__.split("\n\n")[1].replace("\n", " "), "",
              "Configurations (on top of the previous benchmark settings A: target 99 %, "
              "stop at the first network meeting it, constant learning rate 2e-3, no "
              "dropout, 8 units per step up to 64, 20 epochs per step, refit 20 epochs): "
              + "; ".join(f"{k}: {v}" for k, v in CONFIGS.items() if v), ""]
    rows = []
    for name in names:
        accs = [res[s, name][0] for s in folds]
        rows.append([name] + [f"{100 * res[s, name][0]:.2f} ({res[s, name][1]})"
                              for s in folds]
                    + [f"{100 * statistics.fmean(accs):.2f}"])
    lines += markdown_table(["config"] + [f"fold {s} acc % (params)" for s in folds]
                            + ["mean"], rows)
    write_result("grow_settings_dev.md", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
