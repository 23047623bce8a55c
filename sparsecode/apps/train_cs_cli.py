"""``sparsecode train-cs``: train a CS recovery network on a folder of images.

Examples::

    sparsecode train-cs T91/ --model ista-net+ --ratio 0.25 --out ista_net_plus_r25.safetensors
    sparsecode train-cs T91/ --model opine-net+ --ratio 0.1 --schedule reference --device cuda \\
        --checkpoint opine10.ckpt --out opine_net_plus_r10.safetensors

Blocks (``--n-blocks`` random ``--block-size`` crops of the luminance, 88,912 33x33 by
default as in ISTA-Net) are cut from every image of FOLDER; the network is trained with
the chosen schedule (``light``: the CPU one of the shipped weights; ``reference``: the
published 200 epochs) and written as ``safetensors`` with its parameters and training
budget. A checkpoint, when given, is resumed.
"""

from __future__ import annotations

import os
import time


def add_arguments(parser):
    parser.add_argument("folder", metavar="FOLDER", help="folder of training images")
    parser.add_argument("--model", default="ista-net+",
                        choices=["reconnet", "ista-net", "ista-net+", "opine-net+"],
                        help="network (default ista-net+)")
    parser.add_argument("--ratio", type=float, default=0.25,
                        help="CS ratio in (0, 1] (default 0.25)")
    parser.add_argument("--schedule", choices=["light", "reference"], default="light",
                        help="training schedule (default light: 5 phases, 16 channels, "
                             "lr 1e-3, at most 400 steps and 300 s; reference: 9 phases, "
                             "32 channels, 200 epochs at lr 1e-4)")
    parser.add_argument("--out", "-o", metavar="PATH", required=True,
                        help="weights file to write (.safetensors)")
    parser.add_argument("--block-size", type=int, default=33, help="block side (default 33)")
    parser.add_argument("--n-blocks", type=int, default=None,
                        help="training blocks (default: the schedule's, 88912)")
    parser.add_argument("--n-phases", type=int, default=None, help="override the schedule")
    parser.add_argument("--n-channels", type=int, default=None, help="override the schedule")
    parser.add_argument("--epochs", type=int, default=None, help="override the schedule")
    parser.add_argument("--max-steps", type=int, default=None, help="override the schedule")
    parser.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                        help="stop training after SECONDS (at a step boundary)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="override the schedule")
    parser.add_argument("--batch-size", type=int, default=None, help="override the schedule")
    parser.add_argument("--binary", action="store_true",
                        help="OPINE-Net+: learn a binary sampling matrix")
    parser.add_argument("--augment", action="store_true", help="random flips/rotations")
    parser.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    parser.add_argument("--sensing-seed", type=int, default=0,
                        help="seed of the Gaussian sensing matrix (default 0, the matrix of "
                             "`sparsecode cs --seed 0`)")
    parser.add_argument("--checkpoint", default=None, help="checkpoint file (resumed)")
    parser.add_argument("--device", default="auto",
                        help="cpu, cuda, cuda:N or auto (default: cuda when available)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def run(args):
    from ..cli import UserError

    try:
        import torch
    except ImportError:
        raise UserError("train-cs needs PyTorch: pip install sparsecode[torch]") from None
    from ..nn.cs import CSNetwork, load_images

    if not (0.0 < args.ratio <= 1.0):
        raise UserError(f"--ratio must be in (0, 1], got {args.ratio:g}")
    for name in ("block_size", "n_blocks", "n_phases", "n_channels", "epochs", "max_steps",
                 "batch_size", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UserError(f"--{name.replace('_', '-')} must be a positive integer, "
                            f"got {value}")
    if args.learning_rate is not None and not args.learning_rate > 0:
        raise UserError(f"--learning-rate must be positive, got {args.learning_rate:g}")
    if args.time_limit is not None and not args.time_limit > 0:
        raise UserError(f"--time-limit must be positive, got {args.time_limit:g}")
    if args.binary and args.model != "opine-net+":
        raise UserError("--binary is only for --model opine-net+")
    folder = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(folder):
        raise UserError(f"output folder does not exist: {folder}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        images = load_images(args.folder)
    except (OSError, ValueError) as exc:
        raise UserError(f"FOLDER: {exc}") from None

    overrides = {"n_blocks": args.n_blocks, "n_phases": args.n_phases,
                 "n_channels": args.n_channels, "max_iter": args.epochs,
                 "max_steps": args.max_steps, "learning_rate": args.learning_rate,
                 "batch_size": args.batch_size, "time_limit": args.time_limit}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    try:
        net = CSNetwork.from_schedule(
            args.schedule, args.model, args.ratio, block_size=args.block_size,
            binary=args.binary, augment=args.augment, sensing_seed=args.sensing_seed,
            checkpoint=args.checkpoint, device=args.device, random_state=args.seed,
            verbose=0 if args.quiet else 1, **overrides)
        print(f"training {args.model} at ratio {args.ratio:g} on {len(images)} images "
              f"({net.n_blocks} blocks of {args.block_size}x{args.block_size}), schedule "
              f"{args.schedule}", flush=True)
        t0 = time.perf_counter()
        net.fit(images)
        wall = time.perf_counter() - t0
    except (TypeError, ValueError) as exc:
        raise UserError(str(exc)) from None
    last = net.history_[-1] if net.history_ else {}
    meta = {"schedule": args.schedule, "data": os.path.basename(os.path.normpath(args.folder)),
            "n_images": len(images), "n_blocks": net.n_blocks, "augment": args.augment,
            "seed": args.seed, "threads": torch.get_num_threads(),
            "total_time_s": round(wall, 1), "final_mse": last.get("mse"),
            "command": _command_line(args)}
    net.save_weights(args.out, metadata=meta)
    print(f"trained {net.n_steps_} steps ({len(net.history_)} epoch(s)) on "
          f"{net.training_device_} in {net.training_time_:.0f} s, final mse "
          f"{last.get('mse', float('nan')):.3g}; wrote {args.out}")
    return 0


def _command_line(args):
    """The command, with the folder and output reduced to their base names."""
    parts = ["sparsecode", "train-cs", os.path.basename(os.path.normpath(args.folder)),
             "--model", args.model, "--ratio", f"{args.ratio:g}", "--schedule", args.schedule]
    for name in ("block_size", "n_blocks", "n_phases", "n_channels", "epochs", "max_steps",
                 "learning_rate", "batch_size", "time_limit", "seed", "sensing_seed", "threads"):
        value = getattr(args, name)
        default = {"block_size": 33, "seed": 0, "sensing_seed": 0}.get(name)
        if value is not None and value != default:
            parts += [f"--{name.replace('_', '-')}", f"{value:g}" if isinstance(value, float)
                      else str(value)]
    parts += [f"--{f}" for f in ("binary", "augment") if getattr(args, f)]
    parts += ["--out", os.path.basename(args.out)]
    return " ".join(parts)
