"""Weights of the CS networks in ``safetensors`` files, and the shipped ones.

A file holds the module's state dict and, as metadata, the estimator's parameters
(model, ratio, block size, phases, channels, sensing seed) and how it was trained.
A fixed (not learned) sampling matrix is not stored: it is redrawn from its seed and
checked. Matrices (the least-squares initialisation, OPINE-Net+'s learned sampling
matrix) are stored in float16 to keep the shipped files small.

The shipped weights (``sparsecode/nn/cs/weights/``, see the README there) are
ISTA-Net+ and OPINE-Net+ at 10, 25 and 50 %, trained with the CPU ``light`` schedule
by ``sparsecode train-cs``.
"""

from __future__ import annotations

import json
import os

import numpy as np
import torch

from ...operators._image import check_ratio, n_measurements_for
from .data import sensing_matrix

__all__ = ["SHIPPED_DIR", "load_weights", "pretrained", "save_weights", "shipped_weights",
           "weights_filename"]

#: Folder of the shipped weights.
SHIPPED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")

_FORMAT = "sparsecode.nn.cs/1"
_PARAMS = ("model", "ratio", "block_size", "n_phases", "n_channels", "binary", "sensing_seed",
           "zero_residual")
_FILE_STEMS = {"reconnet": "reconnet", "ista-net": "ista_net", "ista-net+": "ista_net_plus",
               "opine-net+": "opine_net_plus"}
_HALF = ("init_matrix", "sampling.phi")


def weights_filename(model, ratio):
    """File name of a network's weights: ``ista_net_plus_r25.safetensors`` etc."""
    if model not in _FILE_STEMS:
        raise ValueError(f"model must be one of {sorted(_FILE_STEMS)}, got {model!r}.")
    return f"{_FILE_STEMS[model]}_r{check_ratio(ratio) * 100:.4g}.safetensors"


def save_weights(estimator, path, *, metadata=None):
    """Write a fitted :class:`~sparsecode.nn.cs.CSNetwork` to ``path`` (safetensors).

    Parameters
    ----------
    estimator : CSNetwork, fitted
    path : str
    metadata : dict or None
        Extra JSON-serialisable facts (training command, data, device...), stored
        under ``"training"``.

    Returns
    -------
    path : str
    """
    from safetensors.torch import save_file
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "module_")
    module = estimator.module_
    tensors = {}
    for key, value in module.state_dict().items():
        if key == "sampling.phi" and not module.sampling.learn:
            continue  # redrawn from sensing_seed
        value = value.detach().cpu().contiguous()
        tensors[key] = value.half() if key in _HALF else value.float()
    params = {k: getattr(estimator, k) for k in _PARAMS}
    params["ratio"] = float(params["ratio"])
    training = {"n_steps": getattr(estimator, "n_steps_", None),
                "epochs": len(getattr(estimator, "history_", [])),
                "wall_time_s": round(float(getattr(estimator, "training_time_", 0.0)), 1),
                "device": getattr(estimator, "training_device_", None),
                "learning_rate": estimator.learning_rate, "batch_size": estimator.batch_size}
    training.update(metadata or {})
    meta = {"format": _FORMAT, "params": json.dumps(params), "training": json.dumps(training)}
    save_file(tensors, os.fspath(path), metadata=meta)
    return os.fspath(path)


def read_metadata(path):
    """``(params, training)`` dictionaries stored in a weights file."""
    from safetensors import safe_open

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types
        raise ValueError(f"cannot read {path} as a safetensors file: {exc}") from None
    if meta.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a sparsecode CS-network weights file "
                         f"(format {meta.get('format')!r}, expected {_FORMAT!r}).")
    return json.loads(meta["params"]), json.loads(meta.get("training", "{}"))


def _load_into(estimator, path):
    """Load ``path`` into ``estimator`` (its parameters must match the file's)."""
    from safetensors.torch import load_file

    params, training = read_metadata(path)
    ratio = check_ratio(estimator.ratio)
    if abs(params["ratio"] - ratio) > 1e-12:
        raise ValueError(f"the weights in {path} are for ratio {params['ratio']:g}, "
                         f"the model has ratio {ratio:g}.")
    for key in ("model", "block_size", "n_phases", "n_channels", "binary", "sensing_seed"):
        if params[key] != getattr(estimator, key):
            raise ValueError(f"the weights in {path} have {key}={params[key]!r}, the model "
                             f"has {key}={getattr(estimator, key)!r}.")
    state = load_file(os.fspath(path))
    phi = None
    if "sampling.phi" not in state:
        phi = sensing_matrix(ratio, estimator.block_size, random_state=estimator.sensing_seed)
    module = estimator._init_module(dtype=np.float32, **estimator._module_spec())
    own = module.state_dict()
    if phi is not None:
        state["sampling.phi"] = torch.as_tensor(phi)
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ValueError(f"the weights in {path} do not fit the {estimator.model} network: "
                         f"missing {missing[:5]}, unexpected {unexpected[:5]}.")
    for key, value in state.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise ValueError(f"the weights in {path} do not fit the network: {key} has shape "
                             f"{tuple(value.shape)}, the network expects "
                             f"{tuple(own[key].shape)}.")
        state[key] = value.to(own[key].dtype)
    module.load_state_dict(state)
    estimator.history_ = []
    estimator.n_steps_ = training.get("n_steps")
    estimator.training_time_ = training.get("wall_time_s")
    estimator.training_device_ = training.get("device")
    estimator.training_info_ = training
    estimator._finish_fit()
    return estimator


def load_weights(path, *, device="cpu"):
    """A fitted :class:`~sparsecode.nn.cs.CSNetwork` from a weights file.

    Parameters
    ----------
    path : str
        Written by :func:`save_weights` / ``sparsecode train-cs``.
    device : str, default="cpu"

    Returns
    -------
    CSNetwork
    """
    from .estimator import CSNetwork

    params, _ = read_metadata(path)
    est = CSNetwork(**params, device=device)
    return est.load_weights(path)


def shipped_weights(folder=None):
    """The weights files of a folder (default: the shipped ones), by ``(model, ratio)``."""
    folder = SHIPPED_DIR if folder is None else os.fspath(folder)
    out = {}
    if not os.path.isdir(folder):
        return out
    for name in sorted(os.listdir(folder)):
        if name.endswith(".safetensors"):
            path = os.path.join(folder, name)
            try:
                params, _ = read_metadata(path)
            except ValueError:
                continue
            out[(params["model"], params["ratio"])] = path
    return out


def pretrained(model, ratio, *, block_size=33, device="cpu", folder=None):
    """The shipped network for a model and a ratio.

    Parameters
    ----------
    model : str
        ``"ista-net+"`` or ``"opine-net+"`` (the shipped ones).
    ratio : float in (0, 1]
    block_size : int, default=33
    device : str, default="cpu"
    folder : str or None
        Look there instead of the shipped folder.

    Raises
    ------
    ValueError
        When there are no weights for that model and ratio: the message names the
        ratios available and the command that trains one.
    """
    ratio = check_ratio(ratio)
    n = block_size * block_size
    found = shipped_weights(folder)
    for (name, r), path in found.items():
        # same ratio, or one that gives the same number of measurements per block
        if name == model and n_measurements_for(r, n) == n_measurements_for(ratio, n):
            est = load_weights(path, device=device)
            if est.block_size != block_size:
                break
            return est
    have = sorted(r for (name, r) in found if name == model)
    avail = ", ".join(f"{r:g}" for r in have) if have else "none"
    raise ValueError(
        f"no trained {model} weights for ratio {ratio:.4g} with {block_size}x{block_size} "
        f"blocks (available ratios: {avail}). Train them with `sparsecode train-cs "
        f"IMAGE_FOLDER --model {model} --ratio {ratio:.4g} --out "
        f"{weights_filename(model, ratio) if model in _FILE_STEMS else 'weights.safetensors'}`"
        " and load the file with sparsecode.nn.cs.load_weights.")
