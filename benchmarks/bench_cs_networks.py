"""Learned vs classic block-CS reconstruction on Set11: mean PSNR / SSIM per ratio.

Every Set11 image (scaled to [0, 1]) is measured with 33x33 blocks at CS ratios 1, 4,
10, 25, 40 and 50 % and reconstructed by

* the classic methods of :func:`sparsecode.cs.reconstruct_image` (TV-FISTA, FISTA with
  an l1 prior on the 2-D DCT, and the back-projection), with the seed-0 Gaussian block
  matrix with orthonormal rows;
* the networks of :mod:`sparsecode.nn.cs` (ReconNet, ISTA-Net, ISTA-Net+, OPINE-Net+)
  whose weights are found in the shipped folder or in ``--weights DIR`` (files written
  by ``sparsecode train-cs``), each measured with its own matrix (the same seed-0
  Gaussian for all but OPINE-Net+, which learns its own). Ratios / models without
  weights are shown as "not trained".

A second table gives the training budget of every network (device, steps, epochs,
wall time, schedule) read from its weights file, a plot of PSNR vs ratio goes to
``docs/_static/cs_networks_psnr.png``.

Usage::

    python benchmarks/bench_cs_networks.py                     # Set11 from $SPARSECODE_DATA
    python benchmarks/bench_cs_networks.py --weights my_weights/ --classic-live
    python benchmarks/bench_cs_networks.py --quick             # 2 cropped images

The classic columns are, by default, taken from ``benchmarks/results/cs_set11.json``
(``bench_cs_set11.py``: same images, matrices and metrics; recomputing them costs about
half an hour on two loaded cores); ``--classic-live`` recomputes them in this run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from datetime import datetime, timezone

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RATIOS = (0.01, 0.04, 0.10, 0.25, 0.40, 0.50)
CLASSIC = ("backprojection", "fista-dct", "tv")
NETWORKS = ("reconnet", "ista-net", "ista-net+", "opine-net+")
LABELS = {"backprojection": "back-projection", "fista-dct": "FISTA-DCT", "tv": "TV",
          "reconnet": "ReconNet", "ista-net": "ISTA-Net", "ista-net+": "ISTA-Net+",
          "opine-net+": "OPINE-Net+"}

#: Published mean PSNR (dB) on Set11: ISTA-Net+ (Zhang & Ghanem, CVPR 2018,
#: doi:10.1109/CVPR.2018.00196, PyTorch release) and OPINE-Net+ (Zhang, Zhao & Ghanem,
#: IEEE JSTSP 2020, doi:10.1109/JSTSP.2020.2977507), 200 epochs on a GPU.
PUBLISHED = {
    "ista-net+": {0.10: 26.64, 0.25: 32.57, 0.50: 38.07},
    "opine-net+": {0.10: 29.8, 0.25: 34.8, 0.50: 40.2},
}


def find_images(data):
    sys.path.insert(0, ROOT)
    from sparsecode.image.io import read_image
    from sparsecode.nn.cs.data import _image_files, find_dataset

    folder = find_dataset("Set11", data)
    if folder is None:
        sys.exit("error: give --data or set SPARSECODE_DATA to the folder holding Set11")
    return [(os.path.splitext(os.path.basename(f))[0], read_image(f) / 255.0)
            for f in _image_files(folder)]


def classic_rows(images, ratios, live, classic_json):
    """``{(ratio, method): (psnr, ssim)}`` for the classic methods."""
    out = {}
    if not live and os.path.exists(classic_json):
        with open(classic_json) as f:
            for row in json.load(f)["rows"]:
                if row["method"] in CLASSIC:
                    out[(round(row["ratio"], 2), row["method"])] = (row["psnr"], row["ssim"])
        return out, f"`{os.path.relpath(classic_json, ROOT)}` (bench_cs_set11.py)"
    from threadpoolctl import threadpool_limits

    from sparsecode.cs import image_quality, measure_image, reconstruct_image

    for ratio in ratios:
        for method in CLASSIC:
            q = []
            for _, img in images:
                with threadpool_limits(1), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    y, A = measure_image(img, ratio, random_state=0)
                    q.append(image_quality(img, reconstruct_image(y, A, method=method)))
            out[(round(ratio, 2), method)] = tuple(np.mean(q, axis=0))
            print(f"{ratio:4.0%} {method:15s} {out[(round(ratio, 2), method)][0]:.2f} dB",
                  flush=True)
    return out, "this run"


def network_rows(images, ratios, folders):
    import torch

    from sparsecode.cs import image_quality
    from sparsecode.nn.cs import load_weights, n_parameters, shipped_weights

    torch.set_num_threads(1)
    found = {}
    for folder in folders:
        for (model, ratio), path in shipped_weights(folder).items():
            found[(model, round(ratio, 2))] = path  # later folders win
    rows, budget = {}, []
    for (model, ratio), path in sorted(found.items()):
        if ratio not in [round(r, 2) for r in ratios]:
            continue
        net = load_weights(path)
        q, t0 = [], time.perf_counter()
        for _, img in images:
            x = np.clip(net.reconstruct(img), 0.0, 1.0)
            q.append(image_quality(img, x))
        seconds = (time.perf_counter() - t0) / len(images)
        rows[(ratio, model)] = tuple(np.mean(q, axis=0))
        info = net.training_info_
        budget.append({"model": model, "ratio": ratio, "file": os.path.basename(path),
                       "phases": net.n_phases, "channels": net.n_channels,
                       "params": n_parameters(net.module_), "device": info.get("device"),
                       "steps": info.get("n_steps"), "epochs": info.get("epochs"),
                       "blocks": info.get("n_blocks"), "wall": info.get("wall_time_s"),
                       "schedule": info.get("schedule"), "lr": info.get("learning_rate"),
                       "command": info.get("command"), "infer_s": seconds})
        print(f"{ratio:4.0%} {model:15s} {rows[(ratio, model)][0]:.2f} dB "
              f"({seconds:.2f} s/image)", flush=True)
    return rows, budget


def plot(ratios, classic, nets, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for method, rows, style in ([(m, classic, "--") for m in CLASSIC]
                                + [(m, nets, "-o") for m in NETWORKS]):
        pts = [(r, rows[(round(r, 2), method)][0]) for r in ratios
               if (round(r, 2), method) in rows]
        if pts:
            ax.plot(*zip(*[(100 * r, p) for r, p in pts]), style, label=LABELS[method])
    for model, pub in PUBLISHED.items():
        ax.plot([100 * r for r in pub], list(pub.values()), ":x",
                label=f"{LABELS[model]} (published, GPU)")
    ax.set_xlabel("CS ratio (%)")
    ax.set_ylabel("mean PSNR on Set11 (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def write(path, images, ratios, classic, classic_src, nets, budget, argv):
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Learned vs classic block-CS reconstruction on Set11",
        "",
        f"Command: `python benchmarks/bench_cs_networks.py {' '.join(argv)}`  ",
        (f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, shared with other "
        f"engineers' jobs (load average {load:.1f} at the end), torch on 1 thread  "),
        f"Date: {date}  ",
        (f"Images: {len(images)} ({', '.join(n for n, _ in images)}); 33x33 blocks; "
        "PSNR / SSIM by scikit-image on [0, 1], networks' output clipped to [0, 1].  "),
        (f"Classic columns from {classic_src}; seed-0 Gaussian block matrix with orthonormal "
        "rows (also the matrix of ReconNet / ISTA-Net / ISTA-Net+; OPINE-Net+ learns its own)."),
        "",
        "Mean PSNR (dB) / SSIM:",
        "",
        "| ratio | " + " | ".join(LABELS[m] for m in CLASSIC + NETWORKS)
        + " | ISTA-Net+ (publ.) | OPINE-Net+ (publ.) |",
        "|---|" + "---|" * (len(CLASSIC) + len(NETWORKS) + 2),
    ]
    for ratio in ratios:
        r = round(ratio, 2)
        cells = []
        for m in CLASSIC:
            v = classic.get((r, m))
            cells.append("—" if v is None else f"{v[0]:.2f} / {v[1]:.3f}")
        for m in NETWORKS:
            v = nets.get((r, m))
            cells.append("not trained" if v is None else f"**{v[0]:.2f}** / {v[1]:.3f}")
        for m in ("ista-net+", "opine-net+"):
            p = PUBLISHED[m].get(r)
            cells.append("—" if p is None else f"{p:.2f}")
        lines.append(f"| {ratio:.0%} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Training budget of the networks (from their weights files):",
        "",
        ("| model | ratio | schedule | phases × channels | parameters | device | steps "
        "| epochs (blocks seen) | training wall time | inference s/image |"),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for b in budget:
        seen = (b["steps"] or 0) * 64
        frac = seen / b["blocks"] if b.get("blocks") else float("nan")
        lines.append(
            f"| {LABELS[b['model']]} | {b['ratio']:.0%} | {b['schedule']} | "
            f"{b['phases']} × {b['channels']} | {b['params']:,} | {b['device']} | "
            f"{b['steps']} | {frac:.2f} ({seen:,}) | {b['wall']:.0f} s | {b['infer_s']:.2f} |")
    steps = [b["steps"] for b in budget if b.get("steps")]
    cmds = sorted({b["command"] for b in budget if b.get("command")})
    if cmds:
        lines += ["", "Training commands:", ""] + [f"    {c}" for c in cmds]
    lines += [
        "",
        "Published: ISTA-Net+ from Zhang & Ghanem, CVPR 2018 (doi:10.1109/CVPR.2018.00196), "
        "OPINE-Net+ from Zhang, Zhao & Ghanem, IEEE JSTSP 2020 "
        "(doi:10.1109/JSTSP.2020.2977507): 9 phases, 32 channels, 200 epochs (about 278k "
        "steps) on a GPU" + (f", i.e. {278_000 // max(steps):,}-{278_000 // min(steps):,}x "
                             "the steps of the runs above." if steps else "."),
        "",
    ]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="Set11 folder (default $SPARSECODE_DATA)")
    parser.add_argument("--weights", nargs="*", default=[],
                        help="extra folders of weights files (after the shipped ones)")
    parser.add_argument("--no-shipped", action="store_true", help="ignore the shipped weights")
    parser.add_argument("--ratios", type=float, nargs="+", default=list(RATIOS))
    parser.add_argument("--classic-live", action="store_true",
                        help="recompute the classic columns instead of reading cs_set11.json")
    parser.add_argument("--quick", action="store_true", help="2 images cropped to 99x99")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "cs_networks.md"))
    parser.add_argument("--plot", default=os.path.join(ROOT, "docs", "_static",
                                                       "cs_networks_psnr.png"))
    args = parser.parse_args(argv)
    images = find_images(args.data)
    if args.quick:
        images = [(n, im[:99, :99]) for n, im in images[:2]]
        args.out = args.out.replace(".md", "_quick.md")
        args.plot = None
        args.classic_live = True
        args.ratios = [0.1, 0.25]
    from sparsecode.nn.cs import SHIPPED_DIR

    folders = ([] if args.no_shipped else [SHIPPED_DIR]) + args.weights
    classic, src = classic_rows(images, args.ratios, args.classic_live,
                                os.path.join(HERE, "results", "cs_set11.json"))
    nets, budget = network_rows(images, args.ratios, folders)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    write(args.out, images, args.ratios, classic, src, nets, budget, argv)
    if args.plot:
        plot(args.ratios, classic, nets, args.plot)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
