"""Sparsity penalties (L1, group lasso) over chosen parameters of any module."""

from __future__ import annotations

import math
import numbers

import torch

from ._common import _current, prunable_parameters


# ---------------------------------------------------------------------------------------
# penalties
# ---------------------------------------------------------------------------------------
def _l1(w, group_dim):
    return w.abs().sum()


def _group_lasso(w, group_dim):
    if w.dim() < 2:
        return w.norm()
    g = w.transpose(0, group_dim).reshape(w.shape[group_dim], -1)
    return (g.norm(dim=1) * math.sqrt(g.shape[1])).sum()


#: Penalties by name.
PENALTIES = {"l1": _l1, "group_lasso": _group_lasso}


def sparsity_penalty(module, penalty="l1", *, alpha=1.0, parameters=None, group_dim=0):
    r"""L1 or group-lasso penalty over chosen parameters of ``module``.

    .. math::

        \text{l1}:\ \alpha\sum_{w}\|w\|_1, \qquad
        \text{group\_lasso}:\ \alpha\sum_{w}\sum_{g}\sqrt{|g|}\,\|w_g\|_2,

    where the groups :math:`g` of a weight are its slices along ``group_dim`` (``0``: the
    output neurons / channels of ``nn.Linear`` / ``nn.Conv*``; ``1``: the inputs) --
    the group lasso of Yuan & Lin (2006), which zeroes whole neurons.

    Parameters
    ----------
    module : nn.Module
    penalty : {"l1", "group_lasso"}, default="l1"
    alpha : float, default=1.0
    parameters : None, str or sequence of str
        See :func:`prunable_parameters` (None: all weights of dimension >= 2).
    group_dim : int, default=0

    Returns
    -------
    Tensor (scalar), differentiable.

    Examples
    --------
    >>> import torch
    >>> from sparsecode.nn.prune import sparsity_penalty
    >>> lin = torch.nn.Linear(3, 2)
    >>> with torch.no_grad():
    ...     _ = lin.weight.copy_(torch.tensor([[1.0, -2.0, 0.0], [0.0, 0.0, 3.0]]))
    >>> float(sparsity_penalty(lin, "l1", alpha=0.5).detach())
    3.0
    """
    try:
        fn = PENALTIES[penalty]
    except (KeyError, TypeError):
        raise ValueError(
            f"penalty must be one of {sorted(PENALTIES)}, got {penalty!r}."
        ) from None
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or alpha < 0:
        raise ValueError(f"alpha must be a non-negative float, got {alpha!r}.")
    total = None
    for sub, name, _ in prunable_parameters(module, parameters):
        w = _current(sub, name)
        term = fn(w, group_dim)
        total = term if total is None else total + term
    if total is None:
        return torch.zeros(())
    return alpha * total


