"""Validation shared by the unrolled networks and ALISTA's analytic weight."""

from __future__ import annotations

import numbers

import numpy as np
import torch


# --------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------
def check_operator_matrix(A, *, name="A"):
    """Dense float64 matrix of a sensing matrix or operator, with clear errors.

    Accepts a 2-D array-like of shape ``(n_measurements, n_features)``, a torch tensor, or
    any object with ``to_matrix()`` (the library's linear operators).
    """
    if A is None:
        raise TypeError(f"{name} must be a matrix of shape (n_measurements, n_features) "
                        "or a linear operator with to_matrix(), got None.")
    if hasattr(A, "to_matrix") and not isinstance(A, (np.ndarray, torch.Tensor)):
        M = A.to_matrix()
    else:
        M = A
    if isinstance(M, torch.Tensor):
        M = M.detach().cpu().numpy()
    if hasattr(M, "toarray"):
        M = M.toarray()
    M = np.asarray(M)
    if M.dtype == object or M.dtype.kind not in "fiu" or M.dtype.kind == "b":
        raise TypeError(f"{name} must be a real numeric matrix, got dtype {M.dtype}.")
    if M.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix of shape (n_measurements, n_features), "
                         f"got shape {M.shape}.")
    if M.size == 0:
        raise ValueError(f"{name} is empty (shape {M.shape}).")
    M = np.array(M, dtype=np.float64, copy=True)
    if not np.isfinite(M).all():
        raise ValueError(f"{name} contains NaN or infinity; all values must be finite.")
    if not np.any(M):
        raise ValueError(f"{name} is all zeros; it cannot be used as a sensing operator.")
    return M


def _check_n_layers(n_layers):
    if isinstance(n_layers, bool) or not isinstance(n_layers, numbers.Integral):
        raise TypeError(f"n_layers must be an integer >= 1, got {n_layers!r}.")
    if n_layers < 1:
        raise ValueError(f"n_layers must be an integer >= 1, got {n_layers}.")
    return int(n_layers)


def _check_alpha(alpha):
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha must be a positive float, got {alpha!r}.")
    alpha = float(alpha)
    if not np.isfinite(alpha) or alpha < 0:
        raise ValueError(f"alpha must be a non-negative finite float, got {alpha}.")
    return alpha


def _check_support_selection(support_selection):
    if support_selection is None:
        return None
    try:
        p, p_max = support_selection
        p, p_max = float(p), float(p_max)
    except (TypeError, ValueError) as exc:
        raise TypeError("support_selection must be None or a pair (percent, max_percent), "
                        f"got {support_selection!r}.") from exc
    if not (0 <= p <= 100 and 0 <= p_max <= 100):
        raise ValueError("support_selection percentages must be in [0, 100], got "
                         f"{support_selection!r}.")
    return (p, p_max)


def lipschitz_constant(A):
    """``||A||_2^2``, the Lipschitz constant of the gradient of ``0.5 ||y - x A^T||^2``."""
    return float(np.linalg.norm(np.asarray(A, dtype=np.float64), 2) ** 2)


