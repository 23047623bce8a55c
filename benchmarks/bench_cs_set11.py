"""Classic block-CS reconstruction on Set11: mean PSNR / SSIM and time per image.

Every image of Set11 is scaled to [0, 1], measured with a 33x33 block Gaussian matrix
with orthonormal rows (ReconNet / ISTA-Net protocol; one matrix per ratio, seed 0) at
CS ratios 1, 4, 10, 25, 40 and 50 %, and reconstructed by the classic methods of
:mod:`sparsecode.cs` (least-squares back-projection, FISTA with an l1 prior on the
2-D DCT or Haar coefficients of the whole image, FISTA with a TV proximal step).
PSNR/SSIM come from scikit-image on the [0, 1] scale (data_range=1), i.e. the 8-bit
PSNR of the literature.

Usage::

    python benchmarks/bench_cs_set11.py --data path/to/Set11      # or set SPARSECODE_DATA
    python benchmarks/bench_cs_set11.py --quick          # 2 cropped images, 2 ratios

Images come from ``--data`` or ``$SPARSECODE_DATA`` (a folder that holds the .tif
files, or its ``Set11`` sub-folder). Results are written to
``benchmarks/results/cs_set11.md`` (and ``.json``) after every ratio, so an
interrupted run leaves a partial table.

There is no scikit-learn or SPAMS counterpart of image block-CS reconstruction to time
against in the same run (neither library has an operator-based solver); the table
gives the published deep-learning numbers on the same images and protocol instead.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import sys
import time
import warnings
from datetime import datetime, timezone

import numpy as np

RATIOS = (0.10, 0.25, 0.50, 0.01, 0.04, 0.40)
METHODS = ("backprojection", "fista-dct", "fista-wavelet", "tv")

#: Published mean PSNR (dB) on Set11 (ISTA-Net paper, Zhang & Ghanem, CVPR 2018,
#: doi:10.1109/CVPR.2018.00196, as quoted in the issue).
PUBLISHED = {
    "ReconNet": {0.10: 24.06, 0.50: 31.48},
    "ISTA-Net+": {0.10: 26.39, 0.25: 32.44, 0.50: 38.07},
}

HERE = os.path.dirname(os.path.abspath(__file__))


def find_images(data):
    data = data or os.environ.get("SPARSECODE_DATA")
    if not data:
        sys.exit("error: give --data or set SPARSECODE_DATA to the folder holding Set11")
    for folder in (os.path.join(data, "Set11"), data):
        files = sorted(glob.glob(os.path.join(folder, "*.tif")))
        if files:
            return files
    sys.exit(f"error: no Set11 .tif images found under {data}")


def load(path):
    from sparsecode.image.io import read_image

    return read_image(path) / 255.0


def run(images, ratios, methods, max_iter, out_base, command):
    from threadpoolctl import threadpool_limits

    from sparsecode.cs import image_quality, measure_image, reconstruct_image

    results = {}
    json_path = out_base + ".json"
    if os.path.exists(json_path) and not command.get("fresh"):
        with open(json_path) as f:
            for row in json.load(f).get("rows", []):
                results[(row["ratio"], row["method"])] = row
    for ratio in ratios:
        for method in methods:
            if (ratio, method) in results:
                continue
            psnrs, ssims, times = [], [], []
            for name, img in images:
                t0 = time.perf_counter()
                with threadpool_limits(1), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    y, A = measure_image(img, ratio, block_size=33, random_state=0)
                    kw = {} if method == "backprojection" else {"max_iter": max_iter[method]}
                    x = reconstruct_image(y, A, method=method, **kw)
                times.append(time.perf_counter() - t0)
                p, s = image_quality(img, x)
                psnrs.append(p)
                ssims.append(s)
            row = {"ratio": ratio, "method": method, "psnr": float(np.mean(psnrs)),
                   "ssim": float(np.mean(ssims)), "time": float(np.mean(times)),
                   "per_image_psnr": dict(zip([n for n, _ in images], map(float, psnrs)))}
            results[(ratio, method)] = row
            print(f"ratio {ratio:4.0%} {method:15s} PSNR {row['psnr']:6.2f}  "
                  f"SSIM {row['ssim']:.4f}  {row['time']:6.2f} s/image", flush=True)
            write(results, out_base, command, max_iter)
    return results


def write(results, out_base, command, max_iter):
    rows = sorted(results.values(), key=lambda r: (r["ratio"], METHODS.index(r["method"])))
    with open(out_base + ".json", "w") as f:
        json.dump({"command": command, "max_iter": max_iter, "rows": rows}, f, indent=1)
    ratios = sorted({r["ratio"] for r in rows})
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    get = {(r["ratio"], r["method"]): r for r in rows}
    lines = [
        "# Classic block-CS reconstruction on Set11",
        "",
        f"Command: `{command['argv']}`  ",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs ({platform.processor() or 'cpu'}), "
        "shared with other jobs; BLAS limited to 1 thread  ",
        f"Date: {command['date']}  ",
        f"Images: {command['n_images']} ({command['images']}); 33x33 blocks, Gaussian block "
        "matrix with orthonormal rows (seed 0), measurements per block "
        "round(ratio * 1089); PSNR/SSIM by scikit-image on [0, 1].  ",
        f"Solvers: FISTA (shared `sparsecode.coding._fista.fista`) for l1, max_iter "
        f"{max_iter['fista-dct']}; TV-FISTA max_iter {max_iter['tv']}; default penalties "
        "of `sparsecode.cs.DEFAULT_ALPHA`.",
        "",
        "Mean PSNR (dB) / SSIM, and mean time per image (s):",
        "",
        "| ratio | " + " | ".join(methods) + " | ReconNet (publ.) | ISTA-Net+ (publ.) |",
        "|---|" + "---|" * (len(methods) + 2),
    ]
    for ratio in ratios:
        cells = []
        for m in methods:
            r = get.get((ratio, m))
            cells.append("—" if r is None
                         else f"{r['psnr']:.2f} / {r['ssim']:.3f} ({r['time']:.1f} s)")
        pub = [PUBLISHED[k].get(round(ratio, 2)) for k in ("ReconNet", "ISTA-Net+")]
        cells += ["—" if p is None else f"{p:.2f}" for p in pub]
        lines.append(f"| {ratio:.0%} | " + " | ".join(cells) + " |")
    lines += ["", "Published values: mean PSNR on Set11 from Zhang & Ghanem, ISTA-Net, CVPR 2018 "
              "(doi:10.1109/CVPR.2018.00196), same 33x33 block protocol, learned networks.", ""]
    with open(out_base + ".md", "w") as f:
        f.write("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="folder with Set11 (default $SPARSECODE_DATA)")
    parser.add_argument("--ratios", type=float, nargs="+", default=list(RATIOS),
                        help="CS ratios (default 0.1 0.25 0.5 0.01 0.04 0.4, in that order)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--max-iter", type=int, default=150, help="l1 FISTA iterations")
    parser.add_argument("--tv-iter", type=int, default=80, help="TV-FISTA iterations")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 images cropped to 99x99, ratios 0.1 and 0.5")
    parser.add_argument("--fresh", action="store_true", help="ignore results of an earlier run")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "cs_set11"),
                        help="output path without extension")
    parser.add_argument("--merge", nargs="+", metavar="JSON", default=None,
                        help="only merge the .json results of runs split over ratios "
                             "(e.g. run in parallel with --ratios/--out) into --out")
    args = parser.parse_args(argv)
    if args.merge:
        results, command, max_iter = {}, None, None
        for path in args.merge:
            with open(path) as f:
                data = json.load(f)
            command = command or data["command"]
            max_iter = max_iter or data.get("max_iter")
            for row in data["rows"]:
                results[(row["ratio"], row["method"])] = row
        command = dict(command, argv=command["argv"] + "  (ratios run in parallel, merged with "
                       "--merge)")
        write(results, args.out, command, max_iter or {"fista-dct": args.max_iter,
                                                      "tv": args.tv_iter})
        print(f"wrote {args.out}.md")
        return
    files = find_images(args.data)
    images = [(os.path.splitext(os.path.basename(f))[0], load(f)) for f in files]
    if args.quick:
        images = [(n, im[:99, :99]) for n, im in images[:2]]
        args.ratios = [0.1, 0.5]
        args.out = args.out + "_quick"
    from _common import portable

    command = {"argv": portable("python benchmarks/bench_cs_set11.py "
                                + " ".join(argv or sys.argv[1:])),
               "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "n_images": len(images), "images": ", ".join(n for n, _ in images),
               "fresh": args.fresh or args.quick}
    max_iter = {"fista-dct": args.max_iter, "fista-wavelet": args.max_iter, "tv": args.tv_iter}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    run(images, args.ratios, args.methods, max_iter, args.out, command)
    print(f"wrote {args.out}.md")


if __name__ == "__main__":
    main()
