"""Hard-concrete L0 gates (Louizos, Welling & Kingma 2018)."""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn


# ---------------------------------------------------------------------------------------
# hard-concrete L0 gate
# ---------------------------------------------------------------------------------------
class HardConcreteGate(nn.Module):
    r"""Hard-concrete stochastic gates with an expected-L0 penalty (Louizos et al. 2018).

    Multiplies its input by gates :math:`z \in [0, 1]^{n}` along the last dimension:

    .. math::

        u \sim U(0,1),\quad s = \operatorname{sigmoid}\Big(\frac{\log u - \log(1-u)
        + \log\alpha}{\beta}\Big),\quad z = \min(1, \max(0, s(\zeta-\gamma)+\gamma)),

    in training; in evaluation the deterministic
    :math:`z = \min(1,\max(0, \operatorname{sigmoid}(\log\alpha)(\zeta-\gamma)+\gamma))`.
    The expected number of open gates

    .. math::

        \mathbb E\|z\|_0 = \sum_j \operatorname{sigmoid}\Big(\log\alpha_j -
        \beta\log\frac{-\gamma}{\zeta}\Big)

    is differentiable in :math:`\log\alpha` (:meth:`l0_norm`), so
    ``loss + lam * gate.l0_norm()`` learns which inputs to keep.

    Parameters
    ----------
    n_features : int
        Number of gates (size of the last dimension of the input).
    init_keep : float in (0, 1), default=0.9
        Initial probability of a gate being open (sets :math:`\log\alpha`).
    beta : float, default=2/3
        Temperature. ``gamma``, ``zeta``: stretch interval, default (-0.1, 1.1).

    Examples
    --------
    >>> import torch
    >>> from sparsecode.nn.prune import HardConcreteGate
    >>> gate = HardConcreteGate(10).eval()
    >>> gate(torch.ones(2, 10)).shape, float(gate.l0_norm().detach()) > 8
    (torch.Size([2, 10]), True)
    """

    def __init__(self, n_features, *, init_keep=0.9, beta=2 / 3, gamma=-0.1, zeta=1.1):
        super().__init__()
        if isinstance(n_features, bool) or not isinstance(n_features, numbers.Integral) \
                or n_features < 1:
            raise ValueError(f"n_features must be a positive integer, got {n_features!r}.")
        if not 0.0 < init_keep < 1.0:
            raise ValueError(f"init_keep must be in (0, 1), got {init_keep}.")
        if not (gamma < 0.0 and zeta > 1.0):
            raise ValueError(f"need gamma < 0 < 1 < zeta, got gamma={gamma}, zeta={zeta}.")
        self.beta, self.gamma, self.zeta = float(beta), float(gamma), float(zeta)
        # choose log_alpha so that P(z > 0) = init_keep
        la = math.log(init_keep / (1 - init_keep)) + self.beta * math.log(-gamma / zeta)
        self.log_alpha = nn.Parameter(torch.full((int(n_features),), la))

    def sample(self):
        """Gates: random in training mode, deterministic in evaluation mode."""
        la = self.log_alpha
        if self.training:
            u = torch.rand_like(la).clamp(1e-6, 1 - 1e-6)
            s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + la) / self.beta)
        else:
            s = torch.sigmoid(la)
        return torch.clamp(s * (self.zeta - self.gamma) + self.gamma, 0.0, 1.0)

    def forward(self, x):
        return x * self.sample()

    def l0_norm(self):
        """Expected number of open gates (differentiable)."""
        shift = self.beta * math.log(-self.gamma / self.zeta)
        return torch.sigmoid(self.log_alpha - shift).sum()

    def mask(self):
        """Boolean mask of the gates open at evaluation time."""
        with torch.no_grad():
            s = torch.sigmoid(self.log_alpha)
            return (s * (self.zeta - self.gamma) + self.gamma) > 0

    def extra_repr(self):
        return f"n_features={self.log_alpha.numel()}, beta={self.beta:.3g}"


