"""``sparsecode train-denoiser``: train CSCnet / Deep K-SVD denoisers on clean images.

Examples::

    # the shipped weights (CPU schedule, one thread, seed 0), one model at a time
    sparsecode train-denoiser --model cscnet --sigma 25 --out weights/
    # all six shipped models
    sparsecode train-denoiser --model cscnet deep-ksvd --sigma 15 25 50 --out weights/
    # the reference GPU schedule
    sparsecode train-denoiser --model cscnet --sigma 25 --schedule gpu --device cuda

Training images come from ``--data`` or ``$SPARSECODE_DATA/Train400``. Each model is
written to ``OUT/<model>_sigma<sigma>.safetensors`` with its config, noise level and
schedule in the file's metadata; ``--weights FILE`` of ``sparsecode denoise`` uses it.
"""

from __future__ import annotations

import json
import os
import sys


def add_arguments(parser):
    parser.add_argument("--model", nargs="+", choices=["cscnet", "deep-ksvd"],
                        default=["cscnet"], help="model(s) to train (default cscnet)")
    parser.add_argument("--sigma", nargs="+", type=float, required=True,
                        help="noise level(s) on the 0-255 scale, e.g. 15 25 50")
    parser.add_argument("--out", "-o", metavar="FOLDER", required=True,
                        help="folder for the .safetensors files")
    parser.add_argument("--data", metavar="FOLDER", default=None,
                        help="clean training images (default $SPARSECODE_DATA/Train400)")
    parser.add_argument("--schedule", choices=["cpu", "gpu"], default="cpu",
                        help="training schedule (default cpu: about 80 s of CPU per model)")
    parser.add_argument("--n-steps", type=int, default=None,
                        help="override the schedule's optimizer steps")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1, the shipped weights' setting)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress lines")


def run(args):
    from ..cli import UserError

    try:
        import torch
    except ImportError:
        raise UserError("train-denoiser needs PyTorch: pip install sparsecode[torch]") from None
    from ..nn.denoise._io import save_weights
    from ..nn.denoise.training import default_data_folder, train_denoiser

    data = args.data or default_data_folder()
    if data is None:
        raise UserError("no training data: give --data FOLDER or set SPARSECODE_DATA "
                        "(a folder holding Train400/)")
    if not os.path.isdir(data):
        raise UserError(f"--data: no such folder: {data}")
    if not os.path.isdir(args.out):
        raise UserError(f"--out: no such folder: {args.out}")
    for s in args.sigma:
        if not (s > 0 and s < 1e6):
            raise UserError(f"--sigma must be positive numbers, got {s:g}")
    if args.n_steps is not None and args.n_steps < 1:
        raise UserError(f"--n-steps must be >= 1, got {args.n_steps}")
    if args.threads < 1:
        raise UserError(f"--threads must be >= 1, got {args.threads}")
    if args.device != "cpu" and not torch.cuda.is_available():
        raise UserError(f"--device {args.device}: CUDA is not available here")
    torch.set_num_threads(args.threads)
    say = (lambda line: None) if args.quiet else (lambda line: print(line, flush=True))
    for model in args.model:
        for sigma in args.sigma:
            try:
                module, info = train_denoiser(
                    model, sigma, data=data, schedule=args.schedule, seed=args.seed,
                    n_steps=args.n_steps, device=args.device, log=say)
            except ValueError as exc:
                raise UserError(str(exc)) from None
            path = os.path.join(args.out, f"{model}_sigma{int(round(sigma))}.safetensors")
            extra = {"schedule": args.schedule, **info["schedule"], "seed": args.seed,
                     "threads": args.threads, "lam": info["lam"],
                     "val_psnr_init": round(info["val_psnr_init"], 3),
                     "val_psnr": round(info["val_psnr"], 3),
                     "seconds": round(info["seconds"], 1),
                     "cpu_seconds": round(info["cpu_seconds"], 1),
                     "n_train_images": info["n_train_images"]}
            save_weights(module, path, sigma=sigma, extra=extra)
            print(f"wrote {path}  ({json.dumps(extra)})", flush=True)
    sys.stdout.flush()
    return 0
