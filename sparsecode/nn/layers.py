r"""Threshold and sparse-activation layers (``nn.Module`` wrappers of
:mod:`sparsecode.nn.functional`).

Every layer maps a tensor ``(..., n_features)`` to a tensor of the same shape. Thresholds
are either one scalar (``n_features=None``) or one per feature (``n_features=int``), held
as an ``nn.Parameter`` when ``learnable=True`` (the default for the soft thresholds that
unrolled networks train) and as a buffer otherwise, so ``.to(device)`` and
``state_dict`` carry them either way.

==========================================  ==========================================
layer                                       operation
==========================================  ==========================================
:class:`SoftThreshold`                      ``sign(x) * relu(|x| - theta)``
:class:`NonNegSoftThreshold`                ``relu(x - theta)``
:class:`HardThreshold`                      ``x * (|x| > theta)``
:class:`TopK`                               keep the ``k`` largest (by magnitude)
:class:`SupportSelectionSoftThreshold`      LISTA-CPSS threshold (top ``fraction`` unshrunk)
:class:`JumpReLU`                           ``x * (x > theta)``, STE-trained ``theta``
:class:`Sparsemax`, :class:`Entmax15`       sparse probability maps
==========================================  ==========================================
"""

from __future__ import annotations

import numbers

import torch
from torch import nn

from . import functional as F

__all__ = [
    "SoftThreshold",
    "NonNegSoftThreshold",
    "HardThreshold",
    "TopK",
    "SupportSelectionSoftThreshold",
    "JumpReLU",
    "Sparsemax",
    "Entmax15",
    "make_threshold",
]


def _check_theta(theta, name="theta"):
    if torch.is_tensor(theta):
        if (theta < 0).any():
            raise ValueError(f"{name} must be non-negative.")
        return theta.detach().clone()
    if isinstance(theta, bool) or not isinstance(theta, numbers.Real):
        raise TypeError(f"{name} must be a non-negative float or a tensor, got {theta!r}.")
    if not theta >= 0:
        raise ValueError(f"{name} must be a non-negative float, got {theta}.")
    return float(theta)


class _ThresholdBase(nn.Module):
    """Holds ``theta`` (scalar or per feature) as a parameter or a buffer."""

    def __init__(self, theta=0.1, n_features=None, *, learnable=True, dtype=None,
                 device=None):
        super().__init__()
        theta = _check_theta(theta)
        if n_features is not None:
            if isinstance(n_features, bool) or not isinstance(n_features, numbers.Integral) \
                    or n_features < 1:
                raise ValueError(
                    f"n_features must be a positive integer or None, got {n_features!r}."
                )
        shape = () if n_features is None else (int(n_features),)
        t = torch.empty(shape, dtype=dtype or torch.get_default_dtype(), device=device)
        with torch.no_grad():
            t.copy_(torch.as_tensor(theta, dtype=t.dtype).expand(shape) if shape else
                    torch.as_tensor(theta, dtype=t.dtype))
        self.n_features = n_features
        self.learnable = bool(learnable)
        if learnable:
            self.theta = nn.Parameter(t)
        else:
            self.register_buffer("theta", t)

    def extra_repr(self):
        return (f"n_features={self.n_features}, learnable={self.learnable}")


class SoftThreshold(_ThresholdBase):
    r"""Soft threshold :math:`\operatorname{sign}(x)\max(|x|-\theta,0)` with (learnable)
    :math:`\theta`.

    Parameters
    ----------
    theta : float or Tensor, default=0.1
        Initial threshold (non-negative).
    n_features : int or None, default=None
        None: one scalar threshold; int: one threshold per feature (last dimension).
    learnable : bool, default=True

    Examples
    --------
    >>> import torch
    >>> from sparsecode.nn.layers import SoftThreshold
    >>> SoftThreshold(1.0)(torch.tensor([-2.0, 0.5, 3.0])).detach()
    tensor([-1.,  0.,  2.])
    """

    def forward(self, x):
        return F.soft_threshold(x, self.theta)


class NonNegSoftThreshold(_ThresholdBase):
    r"""Non-negative soft threshold :math:`\max(x-\theta, 0)` (a biased ReLU)."""

    def forward(self, x):
        return F.nonneg_soft_threshold(x, self.theta)


class HardThreshold(_ThresholdBase):
    r"""Hard threshold :math:`x\,\mathbb 1[|x|>\theta]`; ``theta`` is a buffer by default
    (no gradient reaches it)."""

    def __init__(self, theta=0.1, n_features=None, *, learnable=False, dtype=None,
                 device=None):
        super().__init__(theta, n_features, learnable=learnable, dtype=dtype, device=device)

    def forward(self, x):
        return F.hard_threshold(x, self.theta)


class TopK(nn.Module):
    r"""Keep the ``k`` largest entries along ``dim`` (exactly ``k`` per slice).

    Parameters
    ----------
    k : int
        Number of kept entries (checked against the width at call time).
    dim : int, default=-1
    absolute : bool, default=True
        Rank by magnitude (projection onto ``k``-sparse vectors) or by value.
    """

    def __init__(self, k, dim=-1, *, absolute=True):
        super().__init__()
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}.")
        self.k = int(k)
        self.dim = dim
        self.absolute = bool(absolute)

    def forward(self, x):
        return F.topk(x, self.k, dim=self.dim, absolute=self.absolute)

    def extra_repr(self):
        return f"k={self.k}, dim={self.dim}, absolute={self.absolute}"


class SupportSelectionSoftThreshold(_ThresholdBase):
    r"""Soft threshold with support selection (LISTA-CPSS, Chen et al. 2018).

    The largest ``fraction`` of entries (by magnitude, among those above ``theta``)
    pass through unshrunk, the others are soft-thresholded; see
    :func:`sparsecode.nn.functional.support_selection_threshold`.

    Parameters
    ----------
    theta : float or Tensor, default=0.1
    fraction : float in [0, 1], default=0.0
        Fraction :math:`p` of entries trusted as support (LISTA-CPSS grows it layer by
        layer, e.g. ``min(0.012 * (layer + 1), 0.13)`` with per-layer modules). May be
        changed after construction (``layer.fraction = 0.05``).
    n_features : int or None, default=None
    learnable : bool, default=True
    """

    def __init__(self, theta=0.1, fraction=0.0, n_features=None, *, learnable=True,
                 dtype=None, device=None):
        super().__init__(theta, n_features, learnable=learnable, dtype=dtype, device=device)
        self.fraction = F._check_fraction(fraction)

    def forward(self, x):
        return F.support_selection_threshold(x, self.theta, self.fraction)

    def extra_repr(self):
        return super().extra_repr() + f", fraction={self.fraction}"


class JumpReLU(_ThresholdBase):
    r"""JumpReLU :math:`x\,H(x-\theta)` with a per-feature threshold trained by the
    straight-through estimator of Rajamanoharan et al. (2024).

    The gradient reaching ``theta`` is the kernel pseudo-derivative of width
    ``bandwidth``; see :func:`sparsecode.nn.functional.jumprelu`.
    """

    def __init__(self, theta=0.1, n_features=None, *, bandwidth=1e-3, learnable=True,
                 dtype=None, device=None):
        super().__init__(theta, n_features, learnable=learnable, dtype=dtype, device=device)
        self.bandwidth = float(bandwidth)

    def forward(self, x):
        return F.jumprelu(x, self.theta, self.bandwidth)


class Sparsemax(nn.Module):
    """Sparsemax along ``dim`` (exact backward); see
    :func:`~sparsecode.nn.functional.sparsemax`."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.sparsemax(x, self.dim)


class Entmax15(nn.Module):
    """1.5-entmax along ``dim``; see :func:`~sparsecode.nn.functional.entmax15`."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.entmax15(x, self.dim)


#: Layer classes by name (for ``make_threshold``).
THRESHOLD_LAYERS = {
    "soft": SoftThreshold,
    "nonneg_soft": NonNegSoftThreshold,
    "hard": HardThreshold,
    "support_selection": SupportSelectionSoftThreshold,
    "jumprelu": JumpReLU,
}


def make_threshold(name, theta=0.1, n_features=None, **kwargs):
    """Build a threshold layer by name: one of ``THRESHOLD_LAYERS``.

    >>> from sparsecode.nn.layers import make_threshold
    >>> make_threshold("soft", 0.5, n_features=4).theta.shape
    torch.Size([4])
    """
    try:
        cls = THRESHOLD_LAYERS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"threshold name must be one of {sorted(THRESHOLD_LAYERS)}, got {name!r}."
        ) from None
    return cls(theta, n_features, **kwargs)
