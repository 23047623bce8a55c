"""Helpers shared by the pruning tools: argument checks and parameter selection."""

from __future__ import annotations

import fnmatch
import numbers

from torch.nn.utils import prune


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------
def _check_sparsity(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a float in [0, 1), got {value!r}.")
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}.")
    return value


def _check_step(value, name, minimum=0):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}.")
    return int(value)


def prunable_parameters(module, parameters=None):
    """``(submodule, name, qualified_name)`` for the parameters to prune or penalise.

    Parameters
    ----------
    module : nn.Module
    parameters : None, str or sequence of str
        None: every weight of dimension >= 2 (linear/conv weights, decoder matrices),
        not biases. Otherwise qualified names (``"encoder.weight"``) or glob patterns
        (``"*.weight"``) matched against ``module.named_parameters()`` (a pruned
        parameter is named without its ``_orig`` suffix).

    Raises
    ------
    ValueError
        If a name or pattern matches nothing.
    """
    entries = []
    for qual, p in module.named_parameters():
        if qual.endswith("_orig"):
            qual = qual[: -len("_orig")]
        path, _, name = qual.rpartition(".")
        sub = module.get_submodule(path) if path else module
        entries.append((sub, name, qual, p))
    if parameters is None:
        return [(s, n, q) for s, n, q, p in entries if p.dim() >= 2]
    if isinstance(parameters, str):
        parameters = [parameters]
    out, seen = [], set()
    for pat in parameters:
        matched = [(s, n, q) for s, n, q, _ in entries if fnmatch.fnmatchcase(q, pat)]
        if not matched:
            raise ValueError(
                f"parameters: {pat!r} matches no parameter of the module; available: "
                f"{[q for _, _, q, _ in entries]}."
            )
        for m in matched:
            if m[2] not in seen:
                seen.add(m[2])
                out.append(m)
    return out


def _current(sub, name):
    """The effective (masked) tensor of a possibly pruned parameter."""
    if prune.is_pruned(sub) and hasattr(sub, name + "_mask"):
        return getattr(sub, name + "_orig") * getattr(sub, name + "_mask")
    return getattr(sub, name)


