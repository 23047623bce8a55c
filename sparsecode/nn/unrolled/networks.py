r"""Unrolled (learned) sparse recovery networks: LISTA and its successors.

Every network here solves the compressed-sensing problem

.. math::

    y = x A^\top + e, \qquad A \in \mathbb{R}^{m \times n},

with samples in rows (``y`` of shape ``(n_samples, n_measurements)``, ``x`` of shape
``(n_samples, n_features)``), by ``n_layers`` layers that mimic iterations of ISTA on the
LASSO

.. math::

    \min_x \tfrac12 \|y - x A^\top\|_2^2 + \alpha \|x\|_1 .

ISTA with step ``1/L`` (``L = ||A||_2^2``), started at ``x_0 = 0``, iterates
``x_{k+1} = soft(x_k - (x_k A^T - y) A / L, alpha / L)``. In the column notation of the
papers that is ``x_{k+1} = eta(W_1 y + S x_k)`` with ``W_1 = A^T / L``,
``S = I - A^T A / L`` and threshold ``theta = alpha / L``.

Models (all :class:`torch.nn.Module`):

* :class:`LISTA` (Gregor & LeCun, 2010): ``x_{k+1} = eta_{theta_k}(y W_k + x_k S_k)``,
  ``W_k, S_k, theta_k`` learned (tied across layers with ``tied=True``).
* :class:`LISTACP` (Chen et al., 2018): the coupled form
  ``x_{k+1} = eta_{theta_k}(x_k - (x_k A^T - y) W_k)``, optionally with support selection.
* :class:`LISTACPSS`: LISTA-CP with support selection (the largest ``p_k`` % of the
  entries of each sample skip the shrinkage, ``p_k = min(p * (k+1), p_max)``).
* :class:`ALISTA` (Liu et al., 2019): the weight ``W`` is computed analytically
  (:func:`sparsecode.nn.unrolled.alista.analytic_weight`), only the step sizes ``gamma_k`` and
  thresholds ``theta_k`` are learned: ``x_{k+1} = eta_{theta_k}(x_k - gamma_k (x_k A^T - y) W)``.
* :class:`UnrolledISTA` / :class:`UnrolledFISTA`: the classic algorithms with learned
  per-layer step sizes and thresholds; the operator ``A`` is fixed.

At initialisation every model computes exactly ``n_layers`` iterations of ISTA
(:class:`UnrolledFISTA`: of FISTA), with the documented exception of :class:`ALISTA`
with its analytic weight (it is ISTA-like; with ``weight=A`` it is exactly ISTA), and
of the support-selection variants (exactly ISTA when ``support_selection=None``).

References
----------
.. [1] K. Gregor and Y. LeCun, "Learning fast approximations of sparse coding",
   ICML 2010. https://dl.acm.org/doi/10.5555/3104322.3104374
.. [2] X. Chen, J. Liu, Z. Wang and W. Yin, "Theoretical linear convergence of unfolded
   ISTA and its practical weights and thresholds", NeurIPS 2018.
   https://doi.org/10.48550/arXiv.1808.10038
.. [3] J. Liu, X. Chen, Z. Wang and W. Yin, "ALISTA: Analytic weights are as good as
   learned weights in LISTA", ICLR 2019. https://doi.org/10.48550/arXiv.1812.00196
"""


from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from torch import nn

from ..functional import soft_threshold as _soft
from ..functional import support_selection_threshold
from ._checks import (
    _check_alpha,
    _check_n_layers,
    _check_support_selection,
    check_operator_matrix,
    lipschitz_constant,
)
from .alista import analytic_weight

__all__ = [
    "ALISTA",
    "LISTA",
    "LISTACP",
    "LISTACPSS",
    "MODELS",
    "UnrolledFISTA",
    "UnrolledISTA",
    "UnrolledNetwork",
    "make_model",
]


# --------------------------------------------------------------------------------------
# base class
# --------------------------------------------------------------------------------------
class UnrolledNetwork(nn.Module):
    """Base of the unrolled networks: operator buffer, shapes, layer bookkeeping.

    Subclasses implement :meth:`_layer` and :meth:`layer_parameters`.

    Parameters
    ----------
    A : array-like of shape (n_measurements, n_features) or LinearOperator
        Sensing matrix (or operator with ``to_matrix()``).
    n_layers : int
        Number of layers (>= 1).
    alpha : float
        LASSO penalty defining the initial thresholds ``alpha / L``.
    dtype : torch.dtype, default=torch.float32
    """

    def __init__(self, A, n_layers, alpha, *, dtype=torch.float32):
        super().__init__()
        A = check_operator_matrix(A)
        self.n_layers = _check_n_layers(n_layers)
        self.alpha = _check_alpha(alpha)
        self.n_measurements, self.n_features = A.shape
        self.lipschitz = lipschitz_constant(A)
        self.register_buffer("A", torch.as_tensor(A, dtype=dtype))

    # -- helpers ------------------------------------------------------------------------
    def _param(self, value, dtype):
        return nn.Parameter(torch.as_tensor(np.asarray(value), dtype=dtype).clone())

    def _check_input(self, y):
        if not isinstance(y, torch.Tensor):
            raise TypeError(f"y must be a torch.Tensor, got {type(y).__name__}.")
        if y.ndim < 1 or y.shape[-1] != self.n_measurements:
            raise ValueError(
                f"y must have shape (n_samples, {self.n_measurements}) to match A of shape "
                f"({self.n_measurements}, {self.n_features}), got {tuple(y.shape)}.")
        return y.to(dtype=self.A.dtype)

    def layer_parameters(self, k):
        """Parameters introduced by layer ``k`` (0-based), for stage-wise training."""
        raise NotImplementedError

    def _layer(self, k, state, y):
        raise NotImplementedError

    def own_parameters(self, k):
        """Parameters that belong to layer ``k`` alone (not tied to other layers).

        Models with ``tied=True`` share their matrices; only the threshold is their own.
        """
        if getattr(self, "tied", False):
            return [self.theta[k]]
        return list(self.layer_parameters(k))

    @torch.no_grad()
    def init_layer_from(self, k, j):
        """Copy the layer-own parameters of layer ``j`` into layer ``k`` (in place).

        Stage-wise training starts a new layer from the trained previous one this way
        (:func:`sparsecode.nn.unrolled.training.train_stagewise`, ``new_layer_init``).
        Shared (tied) parameters are left alone.
        """
        for name, idx in (("k", k), ("j", j)):
            if isinstance(idx, bool) or not isinstance(idx, numbers.Integral) \
                    or not 0 <= idx < self.n_layers:
                raise ValueError(f"{name} must be a layer index in [0, {self.n_layers - 1}], "
                                 f"got {idx!r}.")
        dst, src = self.own_parameters(k), self.own_parameters(j)
        if len(dst) != len(src) or any(a.shape != b.shape for a, b in zip(dst, src)):
            raise ValueError(f"layers {k} and {j} do not have parameters of the same shapes.")
        for a, b in zip(dst, src):
            a.copy_(b)

    def _init_state(self, y):
        x0 = y.new_zeros(y.shape[:-1] + (self.n_features,))
        return {"x": x0}

    def forward(self, y, *, n_layers=None, return_all=False):
        """Run the network on measurements ``y``.

        Parameters
        ----------
        y : Tensor of shape (n_samples, n_measurements)
        n_layers : int, default=None
            Run only the first ``n_layers`` layers (all by default).
        return_all : bool, default=False
            Return the list of the outputs of every layer instead of the last one.

        Returns
        -------
        x : Tensor of shape (n_samples, n_features), or a list of ``n_layers`` of them.
        """
        y = self._check_input(y)
        T = self.n_layers if n_layers is None else int(n_layers)
        if not 1 <= T <= self.n_layers:
            raise ValueError(f"n_layers must be in [1, {self.n_layers}], got {n_layers}.")
        state = self._init_state(y)
        outs = []
        for k in range(T):
            state = self._layer(k, state, y)
            if return_all:
                outs.append(state["x"])
        return outs if return_all else state["x"]

    def extra_repr(self):
        return (f"n_measurements={self.n_measurements}, n_features={self.n_features}, "
                f"n_layers={self.n_layers}, alpha={self.alpha:g}")


class _SupportSelectionMixin:
    def _setup_ss(self, support_selection):
        self.support_selection = _check_support_selection(support_selection)

    def layer_percent(self, k):
        """Support-selection percentage of layer ``k`` (0 when disabled)."""
        if self.support_selection is None:
            return 0.0
        p, p_max = self.support_selection
        return min(p * (k + 1), p_max)

    def _eta(self, k, x, theta):
        if self.support_selection is None:
            return _soft(x, theta)
        return support_selection_threshold(x, theta, self.layer_percent(k) / 100.0)


# --------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------
class LISTA(UnrolledNetwork):
    r"""LISTA (Gregor & LeCun, 2010): ``x_{k+1} = soft(y W_k + x_k S_k, theta_k)``.

    Row-sample form of :math:`x_{k+1} = \eta_{\theta_k}(W_1^k y + S^k x_k)`, ``x_0 = 0``.
    Initialised at ``W_k = A / L`` (i.e. ``W_1 = A^T/L`` in column form),
    ``S_k = I - A^T A / L``, ``theta_k = alpha / L``: then it computes ``n_layers``
    ISTA iterations exactly.

    Parameters
    ----------
    A : array-like of shape (n_measurements, n_features) or LinearOperator
    n_layers : int
    alpha : float, default=0.1
    tied : bool, default=False
        Share ``W`` and ``S`` across layers (thresholds stay per layer).
    dtype : torch.dtype, default=torch.float32

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sparsecode.nn.unrolled import LISTA
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((20, 40)) / np.sqrt(20)
    >>> net = LISTA(A, n_layers=4, alpha=0.05)
    >>> net(torch.zeros(3, 20)).shape
    torch.Size([3, 40])
    """

    def __init__(self, A, n_layers, alpha=0.1, *, tied=False, dtype=torch.float32):
        super().__init__(A, n_layers, alpha, dtype=dtype)
        A64 = check_operator_matrix(A)
        L = self.lipschitz
        W = A64 / L
        S = np.eye(self.n_features) - A64.T @ A64 / L
        self.tied = bool(tied)
        n_w = 1 if self.tied else self.n_layers
        self.W = nn.ParameterList([self._param(W, dtype) for _ in range(n_w)])
        self.S = nn.ParameterList([self._param(S, dtype) for _ in range(n_w)])
        self.theta = nn.ParameterList(
            [self._param(self.alpha / L, dtype) for _ in range(self.n_layers)])

    def layer_parameters(self, k):
        if self.tied:
            return ([self.W[0], self.S[0]] if k == 0 else []) + [self.theta[k]]
        return [self.W[k], self.S[k], self.theta[k]]

    def _layer(self, k, state, y):
        j = 0 if self.tied else k
        x = state["x"]
        z = y @ self.W[j]
        if k > 0:  # x_0 = 0
            z = z + x @ self.S[j]
        return {"x": _soft(z, self.theta[k])}


class LISTACP(_SupportSelectionMixin, UnrolledNetwork):
    r"""LISTA with coupled weights (LISTA-CP, Chen et al., 2018).

    ``x_{k+1} = eta_{theta_k}(x_k - (x_k A^T - y) W_k)``, i.e. the partial weight
    coupling :math:`S^k = I - W^{k\top} A`. ``W_k`` (shape ``(n_measurements,
    n_features)``) is initialised at ``A / L`` and ``theta_k`` at ``alpha / L``, so that
    without support selection the network computes ``n_layers`` ISTA iterations.

    Parameters
    ----------
    A : array-like of shape (n_measurements, n_features) or LinearOperator
    n_layers : int
    alpha : float, default=0.1
    tied : bool, default=False
        One ``W`` shared by all layers.
    support_selection : (float, float) or None, default=None
        ``(p, p_max)``: layer ``k`` lets the largest ``min(p (k+1), p_max)`` % entries of
        each sample skip the shrinkage. ``None`` disables it.
    dtype : torch.dtype, default=torch.float32
    """

    def __init__(self, A, n_layers, alpha=0.1, *, tied=False, support_selection=None,
                 dtype=torch.float32):
        super().__init__(A, n_layers, alpha, dtype=dtype)
        self._setup_ss(support_selection)
        A64 = check_operator_matrix(A)
        L = self.lipschitz
        self.tied = bool(tied)
        n_w = 1 if self.tied else self.n_layers
        self.W = nn.ParameterList([self._param(A64 / L, dtype) for _ in range(n_w)])
        self.theta = nn.ParameterList(
            [self._param(self.alpha / L, dtype) for _ in range(self.n_layers)])

    def layer_parameters(self, k):
        if self.tied:
            return ([self.W[0]] if k == 0 else []) + [self.theta[k]]
        return [self.W[k], self.theta[k]]

    def _layer(self, k, state, y):
        W = self.W[0 if self.tied else k]
        x = state["x"]
        if k == 0:
            z = y @ W
        else:
            z = x - (x @ self.A.T - y) @ W
        return {"x": self._eta(k, z, self.theta[k])}


class LISTACPSS(LISTACP):
    """LISTA-CP with support selection (LISTA-CPSS, Chen et al., 2018).

    :class:`LISTACP` with ``support_selection=(1.2, 13.0)`` by default, the schedule of
    the reference code for noiseless problems (``-p 1.2 -maxp 13``). With
    ``support_selection=(0, 0)`` (or None) it is exactly ISTA at initialisation.
    """

    def __init__(self, A, n_layers, alpha=0.1, *, tied=False, support_selection=(1.2, 13.0),
                 dtype=torch.float32):
        super().__init__(A, n_layers, alpha, tied=tied, support_selection=support_selection,
                         dtype=dtype)


class ALISTA(_SupportSelectionMixin, UnrolledNetwork):
    r"""Analytic LISTA (Liu, Chen, Wang & Yin, 2019).

    ``x_{k+1} = eta_{theta_k}(x_k - gamma_k (x_k A^T - y) W)`` with a *fixed* weight ``W``
    (shape ``(n_measurements, n_features)``) and learned scalars ``gamma_k, theta_k``.

    ``weight="analytic"`` computes ``W`` by coherence minimisation
    (:func:`sparsecode.nn.unrolled.alista.analytic_weight`: ``min ||W^T A||_F`` subject to
    ``diag(W^T A) = 1``); an array uses that ``W``. Steps start at
    ``gamma_k = 1 / ||W^T A||_2`` and thresholds at ``theta_k = alpha * gamma_k``.

    With ``weight=A`` (and no support selection) the initial network is *exactly*
    ``n_layers`` ISTA iterations (``gamma = 1/L``, ``theta = alpha/L``). With the
    analytic weight it is ISTA-like: the same iteration with the preconditioned
    gradient ``W^T (A x - y)`` in place of ``A^T (A x - y)``; it does not minimise the
    LASSO and is not compared with ISTA.

    Parameters
    ----------
    A : array-like of shape (n_measurements, n_features) or LinearOperator
    n_layers : int
    alpha : float, default=0.1
    weight : "analytic" or array-like of shape (n_measurements, n_features)
    support_selection : (float, float) or None, default=(1.2, 13.0)
    dtype : torch.dtype, default=torch.float32
    """

    def __init__(self, A, n_layers, alpha=0.1, *, weight="analytic",
                 support_selection=(1.2, 13.0), dtype=torch.float32):
        super().__init__(A, n_layers, alpha, dtype=dtype)
        self._setup_ss(support_selection)
        A64 = check_operator_matrix(A)
        if isinstance(weight, str):
            if weight != "analytic":
                raise ValueError(f"weight must be 'analytic' or a matrix, got {weight!r}.")
            W = analytic_weight(A64)
        else:
            W = check_operator_matrix(weight, name="weight")
            if W.shape != A64.shape:
                raise ValueError(f"weight must have the shape of A {A64.shape}, got {W.shape}.")
        gamma0 = 1.0 / float(np.linalg.norm(W.T @ A64, 2))
        self.register_buffer("W", torch.as_tensor(W, dtype=dtype))
        self.gamma = nn.ParameterList(
            [self._param(gamma0, dtype) for _ in range(self.n_layers)])
        self.theta = nn.ParameterList(
            [self._param(self.alpha * gamma0, dtype) for _ in range(self.n_layers)])

    def layer_parameters(self, k):
        return [self.gamma[k], self.theta[k]]

    def _layer(self, k, state, y):
        x = state["x"]
        if k == 0:
            z = self.gamma[k] * (y @ self.W)
        else:
            z = x - self.gamma[k] * ((x @ self.A.T - y) @ self.W)
        return {"x": self._eta(k, z, self.theta[k])}


class UnrolledISTA(UnrolledNetwork):
    r"""ISTA (or FISTA) unrolled, with learned step sizes and thresholds.

    ``x_{k+1} = soft(z_k - gamma_k (z_k A^T - y) A, theta_k)`` with ``z_k = x_k`` (ISTA) or
    the FISTA extrapolation ``z_k = x_k + (t_{k-1} - 1)/t_k (x_k - x_{k-1})`` (fixed
    coefficients, ``t_0 = 1``). ``A`` is fixed; ``gamma_k = 1/L`` and
    ``theta_k = alpha/L`` at initialisation, where the network is exactly ISTA (FISTA).

    Parameters
    ----------
    A : array-like of shape (n_measurements, n_features) or LinearOperator
    n_layers : int
    alpha : float, default=0.1
    accelerated : bool, default=False
        FISTA momentum.
    dtype : torch.dtype, default=torch.float32
    """

    def __init__(self, A, n_layers, alpha=0.1, *, accelerated=False, dtype=torch.float32):
        super().__init__(A, n_layers, alpha, dtype=dtype)
        L = self.lipschitz
        self.accelerated = bool(accelerated)
        self.gamma = nn.ParameterList([self._param(1.0 / L, dtype) for _ in range(self.n_layers)])
        self.theta = nn.ParameterList(
            [self._param(self.alpha / L, dtype) for _ in range(self.n_layers)])
        t = [1.0]
        for _ in range(self.n_layers):
            t.append((1.0 + math.sqrt(1.0 + 4.0 * t[-1] ** 2)) / 2.0)
        # momentum applied before layer k (k >= 1): (t_{k-1} - 1) / t_k
        self._momentum = [0.0] + [(t[k - 1] - 1.0) / t[k] for k in range(1, self.n_layers)]

    def layer_parameters(self, k):
        return [self.gamma[k], self.theta[k]]

    def _init_state(self, y):
        x0 = y.new_zeros(y.shape[:-1] + (self.n_features,))
        return {"x": x0, "x_prev": x0}

    def _layer(self, k, state, y):
        x, x_prev = state["x"], state["x_prev"]
        if k == 0:
            z = self.gamma[k] * (y @ self.A)
        else:
            zk = x
            if self.accelerated and self._momentum[k] != 0.0:
                zk = x + self._momentum[k] * (x - x_prev)
            z = zk - self.gamma[k] * ((zk @ self.A.T - y) @ self.A)
        return {"x": _soft(z, self.theta[k]), "x_prev": x}


class UnrolledFISTA(UnrolledISTA):
    """:class:`UnrolledISTA` with FISTA momentum (``accelerated=True``)."""

    def __init__(self, A, n_layers, alpha=0.1, *, dtype=torch.float32):
        super().__init__(A, n_layers, alpha, accelerated=True, dtype=dtype)


#: name -> class, for the estimators and the benchmark.
MODELS = {
    "ista": UnrolledISTA,
    "fista": UnrolledFISTA,
    "lista": LISTA,
    "lista-cp": LISTACP,
    "lista-cpss": LISTACPSS,
    "alista": ALISTA,
}


def make_model(name, A, n_layers, alpha=0.1, *, dtype=torch.float32, **kwargs):
    """Build a model by name (``"ista"``, ``"fista"``, ``"lista"``, ``"lista-cp"``,
    ``"lista-cpss"``, ``"alista"``)."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {name!r}.")
    return MODELS[name](A, n_layers, alpha, dtype=dtype, **kwargs)
