"""The ``sparsecode`` command line.

Each sub-command lives in its own module of :mod:`sparsecode.apps` exposing
``add_arguments(parser)`` and ``run(args) -> int``; this file only dispatches.
User errors (missing files, bad parameters) print one line to stderr and exit with
status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: name -> (module, one-line help)
COMMANDS = {
    "demo": ("sparsecode.apps.demo", "run the demo: sparse coding, denoising, compressed sensing"),
    "denoise": ("sparsecode.apps.denoise_cli", "denoise an image with a sparse model"),
    "cs": ("sparsecode.apps.cs_cli", "compressed-sensing reconstruction of an image"),
    "train-cs": ("sparsecode.apps.train_cs_cli", "train a CS recovery network on images"),
    "train-denoiser": ("sparsecode.apps.train_denoiser_cli", "train CSCnet / Deep K-SVD denoisers"),
}


class UserError(Exception):
    """An error caused by the user's input: reported in one line, exit status 2."""


def _available_commands():
    found = {}
    for name, (module, help_) in COMMANDS.items():
        try:
            found[name] = (importlib.import_module(module), help_)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a real missing dependency inside the module
                raise
    return found


def build_parser():
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="sparsecode",
        description="Sparse coding and signal recovery from the command line.",
    )
    parser.add_argument("--version", action="version", version=f"sparsecode {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_) in _available_commands().items():
        p = sub.add_parser(name, help=help_, description=help_)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except UserError as exc:
        print(f"sparsecode {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
