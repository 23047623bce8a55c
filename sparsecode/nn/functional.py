r"""Sparse activations and thresholds on torch tensors (functional form).

One implementation of every thresholding non-linearity of the library, shared by the
threshold layers (:mod:`sparsecode.nn.layers`), the unrolled networks (LISTA and
relatives) and the sparse autoencoders (:mod:`sparsecode.nn.sae`).

All functions are differentiable where the operator is (autograd), work on any
floating dtype and device, and broadcast ``theta`` against ``x`` (a float, a 0-d
tensor, or one threshold per feature of shape ``(n_features,)``).

=================================  =====================================================
function                           definition
=================================  =====================================================
:func:`soft_threshold`             :math:`\operatorname{sign}(x)\max(|x|-\theta, 0)`
:func:`hard_threshold`             :math:`x\,\mathbb 1[|x| > \theta]`
:func:`nonneg_soft_threshold`      :math:`\max(x-\theta, 0)`
:func:`topk`                       keep the ``k`` largest entries (by magnitude)
:func:`support_selection_threshold` LISTA-CPSS: the largest ``fraction`` pass unshrunk
:func:`jumprelu`                   :math:`x\,\mathbb 1[x > \theta]`, STE gradient in θ
:func:`sparsemax`                  Euclidean projection onto the simplex
:func:`entmax15`                   1.5-entmax (Peters et al., 2019)
=================================  =====================================================

References
----------
.. [1] A. Martins and R. Astudillo, "From softmax to sparsemax: a sparse model of
   attention and multi-label classification", ICML 2016. arXiv:1602.02068.
.. [2] B. Peters, V. Niculae and A. Martins, "Sparse sequence-to-sequence models",
   ACL 2019. doi:10.18653/v1/P19-1146.
.. [3] X. Chen, J. Liu, Z. Wang and W. Yin, "Theoretical linear convergence of unfolded
   ISTA and its practical weights and thresholds", NeurIPS 2018. arXiv:1808.10038.
.. [4] S. Rajamanoharan et al., "Jumping ahead: improving reconstruction fidelity with
   JumpReLU sparse autoencoders", 2024. arXiv:2407.14435.
"""

from __future__ import annotations

import numbers

import torch

__all__ = [
    "soft_threshold",
    "hard_threshold",
    "nonneg_soft_threshold",
    "topk",
    "topk_mask",
    "support_selection_threshold",
    "jumprelu",
    "heaviside_ste",
    "sparsemax",
    "entmax15",
    "threshold",
    "THRESHOLDS",
]


def _check_k(k, size, name="k"):
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"{name} must be an integer in [1, {size}], got {k!r}.")
    if not 1 <= k <= size:
        raise ValueError(
            f"{name} must be in [1, {size}] (the width of the thresholded dimension), got {k}."
        )
    return int(k)


def _check_fraction(fraction, name="fraction"):
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real):
        raise TypeError(f"{name} must be a float in [0, 1], got {fraction!r}.")
    if not 0.0 <= float(fraction) <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {fraction}.")
    return float(fraction)


# ---------------------------------------------------------------------------------------
# thresholds
# ---------------------------------------------------------------------------------------
def soft_threshold(x, theta):
    r"""Soft threshold, the proximal operator of :math:`\theta\|\cdot\|_1`.

    .. math::

        \eta_\theta(x) = \operatorname{sign}(x)\,\max(|x| - \theta, 0)
        = \arg\min_z \tfrac12\|z - x\|_2^2 + \theta\|z\|_1 .

    Parameters
    ----------
    x : Tensor of any shape
    theta : float or Tensor broadcastable to ``x``
        Non-negative threshold(s); differentiable (learnable thresholds of LISTA).

    Returns
    -------
    Tensor of the shape of ``x``.

    Examples
    --------
    >>> import torch
    >>> from sparsecode.nn.functional import soft_threshold
    >>> soft_threshold(torch.tensor([-2.0, 0.5, 3.0]), 1.0)
    tensor([-1.,  0.,  2.])
    """
    return torch.sign(x) * torch.relu(torch.abs(x) - theta)


def nonneg_soft_threshold(x, theta):
    r"""Non-negative soft threshold :math:`\max(x - \theta, 0)` (prox of
    :math:`\theta\|z\|_1 + \iota_{z\ge 0}`)."""
    return torch.relu(x - theta)


def hard_threshold(x, theta):
    r"""Hard threshold :math:`x\,\mathbb 1[|x| > \theta]`, the proximal operator of
    :math:`\tfrac{\theta^2}{2}\|\cdot\|_0`.

    The gradient flows to ``x`` on the kept entries; none flows to ``theta`` (use
    :func:`jumprelu` for a threshold learned with a straight-through estimator).

    Examples
    --------
    >>> import torch
    >>> from sparsecode.nn.functional import hard_threshold
    >>> hard_threshold(torch.tensor([-2.0, -0.5, 0.5, 3.0]), 1.0)
    tensor([-2.,  0.,  0.,  3.])
    """
    theta = torch.as_tensor(theta, dtype=x.dtype, device=x.device)
    return torch.where(torch.abs(x) > theta, x, torch.zeros((), dtype=x.dtype,
                                                             device=x.device))


def topk_mask(x, k, dim=-1, *, absolute=True):
    """Boolean mask of the ``k`` largest entries of ``x`` along ``dim``.

    Ties are broken by :func:`torch.topk` (exactly ``k`` entries are selected).
    ``absolute=True`` ranks by magnitude, otherwise by value.
    """
    k = _check_k(k, x.shape[dim])
    score = torch.abs(x) if absolute else x
    idx = torch.topk(score, k, dim=dim, sorted=False).indices
    mask = torch.zeros_like(x, dtype=torch.bool)
    return mask.scatter(dim, idx, True)


def topk(x, k, dim=-1, *, absolute=True):
    r"""Keep the ``k`` largest entries of ``x`` along ``dim``, zero the others.

    .. math::

        H_k(x)_i = x_i\,\mathbb 1[i \in \operatorname{top}_k(|x|)]

    the projection onto :math:`\{z : \|z\|_0 \le k\}` (``absolute=True``). With
    ``absolute=False`` the ``k`` largest *values* are kept (the TopK activation of
    sparse autoencoders, followed there by a ReLU).

    Parameters
    ----------
    x : Tensor
    k : int
        Number of kept entries, ``1 <= k <= x.shape[dim]``.
    dim : int, default=-1
    absolute : bool, default=True

    Returns
    -------
    Tensor of the shape of ``x`` with exactly ``k`` entries kept along ``dim``
    (some may be zero if ``x`` is).

    Raises
    ------
    ValueError
        If ``k`` is not in ``[1, x.shape[dim]]``.

    Examples
    --------
    >>> import torch
    >>> from sparsecode.nn.functional import topk
    >>> topk(torch.tensor([[0.1, -3.0, 2.0, 0.5]]), 2)
    tensor([[ 0., -3.,  2.,  0.]])
    """
    k = _check_k(k, x.shape[dim])
    score = torch.abs(x) if absolute else x
    idx = torch.topk(score, k, dim=dim, sorted=False).indices
    vals = torch.gather(x, dim, idx)
    return torch.zeros_like(x).scatter(dim, idx, vals)


def support_selection_threshold(x, theta, fraction, dim=-1):
    r"""Soft threshold with support selection (LISTA-CPSS, Chen, Liu, Wang & Yin, NeurIPS 2018).

    The entries among the largest ``fraction`` (in magnitude, along ``dim``) that also
    exceed ``theta`` are trusted to be in the support and pass *unshrunk*; all other
    entries are soft-thresholded:

    .. math::

        \eta^{ss}_{\theta,p}(x)_i = \begin{cases}
            x_i & i \in S^p(x),\ |x_i| > \theta \\
            \operatorname{sign}(x_i)\max(|x_i| - \theta, 0) & \text{otherwise}
        \end{cases}

    with :math:`S^p(x)` the :math:`\lfloor p\,n + 1/2\rfloor` largest entries of
    :math:`|x|`. The support selection is not differentiated (as in the reference
    implementation, which stops its gradient).

    Parameters
    ----------
    x : Tensor
    theta : float or Tensor broadcastable to ``x``
    fraction : float in [0, 1]
        Fraction :math:`p` of entries passed through (``0.0`` gives
        :func:`soft_threshold`, ``1.0`` a hard threshold at ``theta``).
    dim : int, default=-1

    Examples
    --------
    >>> import torch
    >>> from sparsecode.nn.functional import support_selection_threshold
    >>> support_selection_threshold(torch.tensor([4.0, -2.0, 1.5, 0.2]), 1.0, 0.25).tolist()
    [4.0, -1.0, 0.5, 0.0]
    """
    fraction = _check_fraction(fraction)
    n = x.shape[dim]
    k = int(fraction * n + 0.5)
    soft = soft_threshold(x, theta)
    if k == 0:
        return soft
    with torch.no_grad():
        sel = topk_mask(x, min(k, n), dim=dim, absolute=True)
        sel = sel & (torch.abs(x) > theta)
    return torch.where(sel, x, soft)


class _HeavisideSTE(torch.autograd.Function):
    """H(x - theta) with the JumpReLU pseudo-derivative in theta (rectangle kernel)."""

    @staticmethod
    def forward(ctx, x, theta, bandwidth):
        ctx.save_for_backward(x, theta)
        ctx.bandwidth = bandwidth
        return (x > theta).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        x, theta = ctx.saved_tensors
        eps = ctx.bandwidth
        kernel = ((x - theta).abs() < eps / 2).to(x.dtype) / eps
        g_theta = -(grad_out * kernel)
        g_theta = _sum_to_shape(g_theta, theta.shape)
        return None, g_theta, None


class _JumpReLUSTE(torch.autograd.Function):
    """x * H(x - theta), exact gradient in x, straight-through pseudo-gradient in theta."""

    @staticmethod
    def forward(ctx, x, theta, bandwidth):
        ctx.save_for_backward(x, theta)
        ctx.bandwidth = bandwidth
        return x * (x > theta).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        x, theta = ctx.saved_tensors
        eps = ctx.bandwidth
        gate = (x > theta).to(x.dtype)
        kernel = ((x - theta).abs() < eps / 2).to(x.dtype) / eps
        g_x = grad_out * gate
        g_theta = _sum_to_shape(-(theta / 1.0) * kernel * grad_out, theta.shape)
        return g_x, g_theta, None


def _sum_to_shape(g, shape):
    """Sum a broadcast gradient back to ``shape``."""
    if g.shape == shape:
        return g
    ndiff = g.dim() - len(shape)
    if ndiff > 0:
        g = g.sum(dim=tuple(range(ndiff)))
    dims = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    if dims:
        g = g.sum(dim=dims, keepdim=True)
    return g.reshape(shape)


def _as_theta(theta, x):
    if not torch.is_tensor(theta):
        theta = torch.tensor(float(theta), dtype=x.dtype, device=x.device)
    return theta


def jumprelu(x, theta, bandwidth=1e-3):
    r"""JumpReLU :math:`x\,H(x-\theta)` with a straight-through estimator for ``theta``.

    The forward pass is exact. The gradient in ``x`` is the true one (``H(x-θ)``); the
    gradient in ``theta`` uses the kernel pseudo-derivative of Rajamanoharan et al. (2024)

    .. math::

        \frac{\partial}{\partial\theta}\,x H(x-\theta) :=
        -\frac{\theta}{\varepsilon}\,K\!\left(\frac{x-\theta}{\varepsilon}\right),

    with :math:`K` the rectangle kernel on :math:`[-1/2, 1/2]` and
    :math:`\varepsilon` = ``bandwidth``.

    Parameters
    ----------
    x : Tensor
    theta : float or Tensor broadcastable to ``x``
    bandwidth : float, default=1e-3
    """
    return _JumpReLUSTE.apply(x, _as_theta(theta, x), float(bandwidth))


def heaviside_ste(x, theta, bandwidth=1e-3):
    r"""Step :math:`H(x-\theta)` with the straight-through pseudo-derivative in ``theta``
    (:math:`-K((x-\theta)/\varepsilon)/\varepsilon`); no gradient flows to ``x``.

    Used for the L0 penalty of JumpReLU sparse autoencoders:
    ``heaviside_ste(pre, theta).sum(-1)`` counts active latents and trains ``theta``.
    """
    return _HeavisideSTE.apply(x, _as_theta(theta, x), float(bandwidth))


# ---------------------------------------------------------------------------------------
# sparsemax / entmax
# ---------------------------------------------------------------------------------------
def _sparsemax_threshold(z, dim):
    """tau and support size of sparsemax along ``dim`` (z already shifted by its max)."""
    zs, _ = torch.sort(z, dim=dim, descending=True)
    n = z.shape[dim]
    shape = [1] * z.dim()
    shape[dim] = n
    rho = torch.arange(1, n + 1, dtype=z.dtype, device=z.device).view(shape)
    cssv = zs.cumsum(dim) - 1
    support = (rho * zs > cssv)
    k = support.sum(dim=dim, keepdim=True)
    tau = cssv.gather(dim, k - 1) / k.to(z.dtype)
    return tau, k


def _simplex_input(x, dim, name):
    """Checks and the infinite cases of the projections onto the simplex.

    NaN has no projection, nor does a row of only -inf (ValueError). A row holding +inf
    maps to the uniform distribution over its +inf entries (the limit of the projection).
    Entries more than 2 below the row's maximum are outside the support of sparsemax and
    1.5-entmax, so ``x - max`` is clipped at -2 (exactly: -inf entries become zeros).

    Returns ``(z, inf_rows, inf_out)``: the shifted, clipped input and, for rows with
    +inf, a mask and their output (``None`` when there are none).
    """
    if x.numel() == 0:
        return x, None, None
    if torch.isnan(x).any():
        raise ValueError(f"{name}: x contains NaN; it has no projection onto the simplex.")
    posinf = x == torch.inf
    inf_rows = posinf.any(dim=dim, keepdim=True)
    if (x == -torch.inf).all(dim=dim).any():
        raise ValueError(f"{name}: a slice of x along dim={dim} is all -inf; it has no "
                         "projection onto the simplex.")
    has_inf = bool(inf_rows.any())
    safe = torch.where(inf_rows, torch.zeros_like(x), x) if has_inf else x
    z = torch.clamp(safe - safe.max(dim=dim, keepdim=True).values, min=-2.0)
    if not has_inf:
        return z, None, None
    inf_out = posinf.to(x.dtype) / posinf.sum(dim=dim, keepdim=True).clamp_min(1)
    return z, inf_rows, inf_out


def _finish(ctx, out, inf_rows, inf_out):
    if inf_rows is not None:
        out = torch.where(inf_rows, inf_out, out)  # zero gradient there (backward)
    ctx.inf_rows = inf_rows
    ctx.save_for_backward(out)
    return out


def _zero_inf_rows(ctx, grad):
    return grad if ctx.inf_rows is None else torch.where(
        ctx.inf_rows, torch.zeros_like(grad), grad)


class _Sparsemax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        z, inf_rows, inf_out = _simplex_input(x, dim, "sparsemax")
        if z.numel() == 0:
            ctx.inf_rows = None
            ctx.save_for_backward(z)
            return z.clone()
        tau, _ = _sparsemax_threshold(z, dim)
        return _finish(ctx, torch.clamp(z - tau, min=0), inf_rows, inf_out)

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved_tensors
        dim = ctx.dim
        supp = (out > 0).to(grad_out.dtype)
        g = grad_out * supp
        v_hat = g.sum(dim=dim, keepdim=True) / supp.sum(dim=dim, keepdim=True).clamp_min(1)
        return _zero_inf_rows(ctx, supp * (grad_out - v_hat)), None


def sparsemax(x, dim=-1):
    r"""Sparsemax: the Euclidean projection of ``x`` onto the probability simplex (Martins & Astudillo, ICML 2016).

    .. math::

        \operatorname{sparsemax}(x) = \arg\min_{p \in \Delta} \|p - x\|_2^2
        = \max(x - \tau(x), 0),

    with :math:`\tau` such that the output sums to one. The backward pass is the exact
    Jacobian-vector product :math:`J^\top g = s \odot (g - \bar g_S)` (``s`` the support
    indicator, :math:`\bar g_S` the mean of ``g`` over the support).

    Parameters
    ----------
    x : Tensor
    dim : int, default=-1

    Returns
    -------
    Tensor of the shape of ``x``, non-negative, summing to one along ``dim``. Entries
    of ``-inf`` get 0; a slice holding ``+inf`` gives the uniform distribution over its
    ``+inf`` entries (the limit); NaN, or a slice of only ``-inf``, is a ValueError.

    Examples
    --------
    >>> import torch
    >>> from sparsecode.nn.functional import sparsemax
    >>> sparsemax(torch.tensor([0.5, 0.2, -1.0]))
    tensor([0.6500, 0.3500, 0.0000])
    """
    return _Sparsemax.apply(x, dim)


class _Entmax15(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        z, inf_rows, inf_out = _simplex_input(x, dim, "entmax15")
        if z.numel() == 0:
            ctx.inf_rows = None
            ctx.save_for_backward(z)
            return z.clone()
        z = z / 2
        zs, _ = torch.sort(z, dim=dim, descending=True)
        n = z.shape[dim]
        shape = [1] * z.dim()
        shape[dim] = n
        rho = torch.arange(1, n + 1, dtype=z.dtype, device=z.device).view(shape)
        mean = zs.cumsum(dim) / rho
        mean_sq = (zs ** 2).cumsum(dim) / rho
        ss = rho * (mean_sq - mean ** 2)
        delta = torch.clamp((1 - ss) / rho, min=0)
        tau = mean - torch.sqrt(delta)
        k = (tau <= zs).sum(dim=dim, keepdim=True)
        tau_star = tau.gather(dim, k - 1)
        out = torch.clamp(z - tau_star, min=0) ** 2
        return _finish(ctx, out, inf_rows, inf_out)

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved_tensors
        dim = ctx.dim
        gppr = out.sqrt()
        dx = grad_out * gppr
        q = dx.sum(dim=dim, keepdim=True) / gppr.sum(dim=dim, keepdim=True).clamp_min(1e-300)
        return _zero_inf_rows(ctx, dx - q * gppr), None


def entmax15(x, dim=-1):
    r"""1.5-entmax (Peters, Niculae & Martins, ACL 2019), exact sort-based forward and
    exact backward.

    .. math::

        \operatorname{entmax}_{1.5}(x) = \arg\max_{p\in\Delta} p^\top x + H^T_{1.5}(p)
        = \left[\tfrac{x}{2} - \tau\right]_+^2 ,

    between softmax (dense) and sparsemax (sparsest).

    Examples
    --------
    >>> import torch
    >>> from sparsecode.nn.functional import entmax15
    >>> p = entmax15(torch.tensor([3.0, 1.0, -2.0]))
    >>> float(p.sum()), bool(p[2] == 0)
    (1.0, True)
    """
    return _Entmax15.apply(x, dim)


#: Named elementwise thresholds, name -> function(x, theta).
THRESHOLDS = {
    "soft": soft_threshold,
    "hard": hard_threshold,
    "nonneg_soft": nonneg_soft_threshold,
}


def threshold(x, theta, mode="soft"):
    """Dispatch to a named threshold (``"soft"``, ``"hard"``, ``"nonneg_soft"``)."""
    try:
        fn = THRESHOLDS[mode]
    except (KeyError, TypeError):
        raise ValueError(
            f"mode must be one of {sorted(THRESHOLDS)}, got {mode!r}."
        ) from None
    return fn(x, theta)
