"""``sparsecode denoise``: denoise a grayscale or colour image with a sparse model.

Examples::

    sparsecode denoise noisy.png --sigma 25 --out clean.png
    sparsecode denoise house.png --sigma 25 --add-noise --seed 0 --out den.png
    sparsecode denoise noisy.png --sigma 25 --clean house.png --method dct --out den.png
    sparsecode denoise noisy.png --sigma 25 --method cscnet --out den.png

Images are read as 8-bit intensities (float in [0, 255]; colour images stay RGB and
are denoised channel by channel); ``--sigma`` is on that scale. ``--method cscnet`` /
``deep-ksvd`` use the learned models (needs torch) with the shipped weights of the
nearest trained noise level, or ``--weights FILE`` from ``sparsecode train-denoiser``. With ``--add-noise`` the input is taken as
the clean image, Gaussian noise of standard deviation ``sigma`` is added (seeded by
``--seed``) and PSNR/SSIM are reported against the input. With ``--clean`` the metrics
are computed against that reference. Without ``--out`` the denoised image is written
to ``IMAGE-STEM-denoised.png`` in the current folder (printed), as ``demo`` writes its
outputs; ``--out`` takes PNG, TIFF, BMP, JPEG, GIF or WebP by extension.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np


def add_arguments(parser):
    parser.add_argument("image", metavar="IMAGE",
                        help="input image (noisy, or clean with --add-noise)")
    parser.add_argument("--sigma", type=float, required=True,
                        help="noise standard deviation on the 0-255 scale (e.g. 25)")
    parser.add_argument("--out", "-o", metavar="PATH", default=None,
                        help="where to write the denoised image (default: "
                             "./IMAGE-STEM-denoised.png)")
    parser.add_argument("--method", choices=["ksvd", "dct", "cscnet", "deep-ksvd"],
                        default="ksvd",
                        help="ksvd: adaptive dictionary (default); dct: fixed overcomplete "
                             "DCT; cscnet, deep-ksvd: learned sparse models (torch)")
    parser.add_argument("--weights", metavar="FILE", default=None,
                        help="weights of sparsecode train-denoiser for cscnet/deep-ksvd")
    parser.add_argument("--add-noise", action="store_true",
                        help="treat IMAGE as clean and add Gaussian noise of std --sigma")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the added noise and of K-SVD (default 0)")
    parser.add_argument("--clean", metavar="REF", default=None,
                        help="clean reference image: print PSNR/SSIM against it")
    parser.add_argument("--noisy-out", metavar="PATH", default=None,
                        help="with --add-noise, also write the noisy image here")
    parser.add_argument("--patch-size", type=int, default=8, help="patch side (default 8)")
    parser.add_argument("--n-components", type=int, default=256, help="atoms (default 256)")
    parser.add_argument("--n-iter", type=int, default=10, help="K-SVD iterations (default 10)")
    parser.add_argument("--max-patches", type=int, default=65000,
                        help="training patches for K-SVD (default 65000)")
    parser.add_argument("--stride", type=int, default=1,
                        help="patch stride when coding (default 1)")
    parser.add_argument("--n-jobs", type=int, default=None, help="threads (default: all)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")


def default_output(image_path):
    """``./<stem>-denoised.png`` for an input ``<folder>/<stem>.<ext>``."""
    stem = os.path.splitext(os.path.basename(image_path))[0] or "image"
    return os.path.join(os.curdir, f"{stem}-denoised.png")


def _read(path, what):
    from ..cli import UserError
    from ..image.io import read_image

    try:
        return read_image(path, mode="auto")
    except (OSError, ValueError) as exc:
        raise UserError(f"{what}: {exc}") from None


def run(args):
    from ..cli import UserError
    from ..denoise import denoise_image
    from ..image.io import check_output_path, write_image
    from ..image.metrics import psnr, ssim

    if not os.path.isfile(args.image):
        raise UserError(f"IMAGE: no such file: {args.image}")
    if not (np.isfinite(args.sigma) and args.sigma > 0):
        raise UserError(f"--sigma must be a positive number, got {args.sigma:g}")
    if args.out is None:
        args.out = default_output(args.image)
    for path, what in ((args.out, "--out"), (args.noisy_out, "--noisy-out")):
        if path is not None:
            try:
                check_output_path(path, what)
            except ValueError as exc:
                raise UserError(str(exc)) from None
    image = _read(args.image, "IMAGE")
    clean = None
    if args.add_noise:
        clean = image
        rng = np.random.default_rng(args.seed)
        noisy = clean + args.sigma * rng.standard_normal(clean.shape)
    else:
        noisy = image
    if args.clean is not None:
        clean = _read(args.clean, "--clean")
        if clean.shape != noisy.shape:
            raise UserError(
                f"--clean image has shape {clean.shape}, IMAGE has {noisy.shape}"
            )
    p = args.patch_size
    if p < 1 or p > min(noisy.shape[:2]):
        raise UserError(
            f"--patch-size must be between 1 and the image's smaller side "
            f"{min(noisy.shape[:2])}, got {p}"
        )
    if args.weights is not None and not os.path.isfile(args.weights):
        raise UserError(f"--weights: no such file: {args.weights}")
    extra = {"weights": args.weights} if args.weights is not None else {}
    t0 = time.perf_counter()
    try:
        out = denoise_image(
            noisy, args.sigma, method=args.method, patch_size=p,
            n_components=args.n_components, n_iter=args.n_iter,
            max_patches=args.max_patches, stride=args.stride, data_range=255.0,
            random_state=args.seed, n_jobs=args.n_jobs, verbose=not args.quiet, **extra,
        )
    except (TypeError, ValueError, ImportError) as exc:
        raise UserError(str(exc)) from None
    elapsed = time.perf_counter() - t0
    H, W = noisy.shape[:2]
    print(f"denoised {args.image} ({H}x{W}, sigma={args.sigma:g}, method={args.method}) "
          f"in {elapsed:.2f} s")
    if clean is not None:
        kw = {"channel_axis": -1} if noisy.ndim == 3 else {}
        print(f"noisy:    PSNR {psnr(clean, noisy, data_range=255.0):6.2f} dB   "
              f"SSIM {ssim(clean, np.clip(noisy, 0, 255), data_range=255.0, **kw):.4f}")
        print(f"denoised: PSNR {psnr(clean, out, data_range=255.0):6.2f} dB   "
              f"SSIM {ssim(clean, out, data_range=255.0, **kw):.4f}")
    for path, img in ((args.out, out), (args.noisy_out if args.add_noise else None, noisy)):
        if path is not None:
            try:
                write_image(path, img)
            except ValueError as exc:
                raise UserError(str(exc)) from None
            print(f"wrote {path}")
    sys.stdout.flush()
    return 0
