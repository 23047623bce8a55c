"""Saving and loading the denoisers' weights (safetensors, config in the metadata)."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import torch

from .models import CSCNet, DeepKSVD

__all__ = ["MODELS", "build_model", "save_weights", "load_weights", "pretrained_path",
           "pretrained_sigmas", "WEIGHTS_DIR"]

#: Model name -> class.
MODELS = {"cscnet": CSCNet, "deep-ksvd": DeepKSVD}

#: Where the shipped weights live (``<model>_sigma<sigma>.safetensors``).
WEIGHTS_DIR = Path(__file__).parent / "weights"

_FORMAT = "sparsecode-denoiser"
_VERSION = "1"


def _config(module):
    if isinstance(module, CSCNet):
        return {"n_filters": module.n_filters, "kernel_size": module.kernel_size,
                "stride": module.stride, "n_layers": module.n_layers,
                "remove_mean": module.remove_mean}
    if isinstance(module, DeepKSVD):
        return {"patch_size": module.patch_size, "n_components": module.n_components,
                "n_layers": module.n_layers, "hidden": list(module.hidden)}
    raise TypeError(f"module must be a CSCNet or DeepKSVD, got {type(module).__name__}.")


def _name(module):
    return "cscnet" if isinstance(module, CSCNet) else "deep-ksvd"


def build_model(model, **config):
    """A fresh (untrained, ISTA-initialised) ``"cscnet"`` or ``"deep-ksvd"`` module."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {model!r}.")
    if model == "deep-ksvd" and "hidden" in config:
        config["hidden"] = tuple(config["hidden"])
    return MODELS[model](**config)


def save_weights(module, path, *, sigma, extra=None):
    """Write ``module``'s weights to ``path`` (safetensors) with its model name, config,
    ``sigma`` (0-255 scale) and ``extra`` (JSON-able, e.g. the training schedule)."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().float().contiguous() for k, v in module.state_dict().items()}
    meta = {"format": _FORMAT, "version": _VERSION, "model": _name(module),
            "sigma": repr(float(sigma)), "config": json.dumps(_config(module)),
            "extra": json.dumps(extra or {})}
    save_file(tensors, os.fspath(path), metadata=meta)


def load_weights(path):
    """Load a denoiser written by :func:`save_weights`; returns ``(module, info)``.

    The file is checked: format tag, known model, the exact set of tensor names and
    shapes of that model's config, finite values; a bad file raises ``ValueError``
    naming the problem.
    """
    from safetensors import safe_open

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own error types
        raise ValueError(f"{path} is not a readable safetensors file: {exc}") from exc
    if meta.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a sparsecode denoiser weights file "
                         f"(metadata format={meta.get('format')!r}).")
    model = meta.get("model")
    if model not in MODELS:
        raise ValueError(f"{path}: unknown model {model!r}; expected one of {sorted(MODELS)}.")
    try:
        config = json.loads(meta["config"])
        sigma = float(meta["sigma"])
        extra = json.loads(meta.get("extra", "{}"))
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path}: corrupt metadata ({exc}).") from exc
    module = build_model(model, **config)
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in tensors.items()}
    if expected != got:
        missing = sorted(set(expected) - set(got))
        unexpected = sorted(set(got) - set(expected))
        wrong = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
        raise ValueError(
            f"{path}: the tensors do not match a {model} with config {config}: missing "
            f"{missing}, unexpected {unexpected}, wrong shape {wrong}."
        )
    bad = sorted(k for k, v in tensors.items() if not torch.isfinite(v).all())
    if bad:
        raise ValueError(f"{path}: non-finite values in {bad}.")
    module.load_state_dict(tensors)
    module.eval()
    return module, {"model": model, "sigma": sigma, "config": config, "extra": extra,
                    "path": path}


def pretrained_path(model, sigma):
    """Path of the shipped weights of ``model`` at noise level ``sigma`` (an integer
    on the 0-255 scale); may not exist."""
    return WEIGHTS_DIR / f"{model}_sigma{int(round(sigma))}.safetensors"


def pretrained_sigmas(model):
    """Noise levels (0-255 scale) with shipped weights for ``model``, sorted."""
    out = []
    for p in WEIGHTS_DIR.glob(f"{model}_sigma*.safetensors"):
        try:
            out.append(int(p.stem.rsplit("sigma", 1)[1]))
        except ValueError:
            continue
    return sorted(out)


def load_pretrained(model, sigma, *, weights=None):
    """The denoiser for ``sigma`` (0-255 scale): ``weights`` (a path) if given, else the
    shipped model of the nearest trained sigma (a ``UserWarning`` when it is not
    ``sigma`` itself). Returns ``(module, info)``."""
    if weights is not None:
        return load_weights(weights)
    if model not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {model!r}.")
    sigmas = pretrained_sigmas(model)
    if not sigmas:
        raise ValueError(
            f"no trained {model} weights are installed; train them with `sparsecode "
            f"train-denoiser --model {model} --sigma {sigma:g}` and pass --weights."
        )
    best = min(sigmas, key=lambda s: (abs(s - sigma), s))
    if best != sigma:
        warnings.warn(
            f"no {model} weights for sigma={sigma:g}; using the nearest trained model "
            f"(sigma={best}). Train one with `sparsecode train-denoiser --model {model} "
            f"--sigma {sigma:g}`.", UserWarning, stacklevel=3,
        )
    return load_weights(pretrained_path(model, best))
