"""``sparsecode cs``: measure an image by block compressed sensing and reconstruct it.

Examples::

    sparsecode cs house.png --ratio 0.25 --method fista-dct --out recon.png
    sparsecode cs house.png --ratio 0.1 --method tv --alpha 0.01 --seed 1 --out tv.png
    sparsecode cs house.png --ratio 0.25 --method ista-net+ --out net.png   # needs torch

The image (colour converted to luminance) is scaled to [0, 1], measured with a
Gaussian block matrix with orthonormal rows (``--block-size`` blocks, ``--seed``),
reconstructed, and PSNR/SSIM of the reconstruction against the input are printed
(scikit-image metrics; SSIM is skipped, with a note, for images under 7x7 pixels). The
reconstruction is written to ``--out`` as an 8-bit image (PNG, TIFF, BMP, JPEG, GIF or
WebP, by extension).

The solvers stop when their relative step falls below ``--tol`` (default 1e-4, which
the default ``--max-iter`` reaches: on cameraman at 25 % TV gives 29.42 dB against
29.49 dB at 1e-6, in three quarters of the time); a run that hits ``--max-iter`` first
says so, with the tolerance it was asked for.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np

from ..cs._reconstruct import DEFAULT_ALPHA, DEFAULT_MAX_ITER, LEARNED_METHODS, METHODS

#: Stopping tolerance of the command line: reached within the default iterations on
#: natural images (1e-6, the library's default, never is: every run warned).
DEFAULT_TOL = 1e-4


def add_arguments(parser):
    parser.add_argument("image", metavar="IMAGE", help="input grayscale (or colour) image")
    parser.add_argument("--ratio", type=float, default=0.25,
                        help="CS ratio, measurements per pixel, in (0, 1] (default 0.25)")
    parser.add_argument("--method", choices=sorted(METHODS) + sorted(LEARNED_METHODS),
                        default="tv",
                        help="reconstruction method (default tv, the best classic method "
                             "on Set11 from 10 %% up; ista-net+ and opine-net+ use the "
                             "shipped networks, ratios 0.1, 0.25, 0.5, needs torch)")
    parser.add_argument("--alpha", type=float, default=None,
                        help="penalty for images in [0, 1] (default: "
                             + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_ALPHA.items()) + ")")
    parser.add_argument("--block-size", type=int, default=33, help="block side (default 33)")
    parser.add_argument("--max-iter", type=int, default=None,
                        help="solver iterations (default: tv 100, fista-* 300)")
    parser.add_argument("--tol", type=float, default=DEFAULT_TOL,
                        help=f"stop when the relative step is below this (default "
                             f"{DEFAULT_TOL:g})")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the sensing matrix (default 0)")
    parser.add_argument("--out", "-o", metavar="PATH", default=None,
                        help="where to write the reconstruction (PNG recommended)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def run(args):
    from sklearn.exceptions import ConvergenceWarning

    from ..cli import UserError
    from ..cs import image_quality, measure_image, reconstruct_image
    from ..cs._reconstruct import SSIM_MIN_SIDE
    from ..image.io import check_output_path, read_image, write_image

    if not (np.isfinite(args.ratio) and 0.0 < args.ratio <= 1.0):
        raise UserError(f"--ratio must be in (0, 1], got {args.ratio:g}")
    if args.alpha is not None and not (np.isfinite(args.alpha) and args.alpha >= 0):
        raise UserError(f"--alpha must be a non-negative number, got {args.alpha:g}")
    if args.block_size < 1:
        raise UserError(f"--block-size must be a positive integer, got {args.block_size}")
    if args.max_iter is not None and args.max_iter < 1:
        raise UserError(f"--max-iter must be a positive integer, got {args.max_iter}")
    if args.seed < 0:
        raise UserError(f"--seed must be a non-negative integer, got {args.seed}")
    if not (np.isfinite(args.tol) and args.tol >= 0):
        raise UserError(f"--tol must be a non-negative number, got {args.tol:g}")
    if args.out is not None:
        try:
            check_output_path(args.out, "--out")
        except ValueError as exc:
            raise UserError(str(exc)) from None
    try:
        image = read_image(args.image) / 255.0
    except (OSError, ValueError) as exc:
        raise UserError(f"IMAGE: {exc}") from None

    t0 = time.perf_counter()
    try:
        if args.method in LEARNED_METHODS:
            y, A = _learned_measure(args, image)
        else:
            y, A = measure_image(image, args.ratio, block_size=args.block_size,
                                 random_state=args.seed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            recon = reconstruct_image(y, A, method=args.method, alpha=args.alpha,
                                      max_iter=args.max_iter, tol=args.tol,
                                      verbose=not args.quiet)
    except (TypeError, ValueError) as exc:
        raise UserError(str(exc)) from None
    elapsed = time.perf_counter() - t0
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            max_iter = args.max_iter or DEFAULT_MAX_ITER.get(args.method)
            reached = str(w.message).split("the last relative change of the iterate was ")
            reached = reached[1].split(")")[0] if len(reached) > 1 else "?"
            print(f"note: {args.method} stopped at --max-iter={max_iter} with a relative "
                  f"change of {reached} per iteration, above --tol={args.tol:g}; raise "
                  "--max-iter (or --tol) for a converged result", file=sys.stderr)
        else:
            print(f"warning: {w.message}", file=sys.stderr)
    H, W = image.shape
    print(f"reconstructed {args.image} ({H}x{W}, ratio={args.ratio:g}, "
          f"{A.shape[0]} measurements, method={args.method}) in {elapsed:.2f} s")
    if min(H, W) < SSIM_MIN_SIDE:
        from ..image.metrics import psnr as _psnr

        print(f"PSNR {_psnr(image, recon, data_range=1.0):6.2f} dB   (SSIM skipped: the "
              f"image is smaller than SSIM's {SSIM_MIN_SIDE}x{SSIM_MIN_SIDE} window)")
    else:
        psnr, ssim = image_quality(image, recon)
        print(f"PSNR {psnr:6.2f} dB   SSIM {ssim:.4f}")
    if args.out is not None:
        try:
            write_image(args.out, recon * 255.0)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        print(f"wrote {args.out}")
    sys.stdout.flush()
    return 0


def _learned_measure(args, image):
    """Measurements with the matrix the shipped network of ``args.method`` knows."""
    from ..cli import UserError
    from ..cs import learned_sensing_operator

    if args.seed != 0:
        raise UserError(f"--seed does not apply to --method {args.method}: the shipped "
                        "network was trained with its own sensing matrix")
    try:
        A = learned_sensing_operator(args.method, image.shape, args.ratio,
                                     block_size=args.block_size)
    except ImportError:
        raise UserError(f"--method {args.method} needs PyTorch: pip install "
                        "sparsecode[torch]") from None
    return A.forward(image.astype(np.float64).ravel()), A
