r"""CNN compressed-sensing recovery networks on the library's block-CS measurement model.

Every network reconstructs an image from block compressed-sensing measurements

.. math::

    y_b = \Phi x_b \quad\text{for every } B\times B \text{ block } x_b
    \text{ of the image (flattened row-major)},

the model of :class:`sparsecode.operators.BlockCSOperator`, with the same block order
(row-major over the blocks, zero padding at the bottom and right) and the same
per-block matrix :math:`\Phi` (``(n_measurements, block_size**2)``, by default the
Gaussian draw with orthonormal rows of
:class:`sparsecode.operators.OrthogonalGaussianOperator`), so measurements made for the
classic solvers (:func:`sparsecode.cs.measure_image`) feed the networks unchanged.

Tensors: images ``(n_images, 1, H, W)`` with ``H, W`` multiples of ``block_size``;
measurements ``(n_images, n_blocks, n_measurements)``.

Models
------
:class:`ReconNet`
    Kulkarni et al. 2016: a fully connected layer ``m -> B*B`` and six convolutions.
:class:`ISTANet`, :class:`ISTANetPlus`
    Zhang & Ghanem 2018: ``n_phases`` unrolled ISTA iterations with a learned nonlinear
    transform, learned step and threshold per phase, least-squares initialisation.
:class:`OPINENetPlus`
    Zhang, Zhao & Ghanem 2020: the ISTA-Net+ phases with a learned sampling matrix
    (optionally binary through a straight-through sign), initialisation
    :math:`\Phi^\top y`, trained with an orthogonality loss.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "CS_MODELS",
    "BlockSampling",
    "CSNetworkModule",
    "ISTANet",
    "ISTANetPlus",
    "OPINENetPlus",
    "ReconNet",
    "make_cs_model",
    "n_parameters",
]


# ---------------------------------------------------------------------------- block layout
def image_to_blocks(x, block_size):
    """``(N, 1, H, W) -> (N, n_blocks, B*B)``: the block layout of ``BlockCSOperator``."""
    N, _, H, W = x.shape
    B = block_size
    blocks = x.reshape(N, H // B, B, W // B, B).transpose(2, 3)
    return blocks.reshape(N, (H // B) * (W // B), B * B)


def blocks_to_image(blocks, block_size, shape):
    """Inverse of :func:`image_to_blocks` for images of ``shape = (H, W)``."""
    N = blocks.shape[0]
    H, W = shape
    B = block_size
    img = blocks.reshape(N, H // B, W // B, B, B).transpose(2, 3)
    return img.reshape(N, 1, H, W)


class _SignSTE(torch.autograd.Function):
    """``sign`` (with sign(0) = +1) whose gradient is passed straight through."""

    @staticmethod
    def forward(ctx, x):
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, grad):
        return grad


class BlockSampling(nn.Module):
    r"""The per-block sensing matrix :math:`\Phi` and its block-CS forward/adjoint.

    Parameters
    ----------
    phi : Tensor of shape (n_measurements, block_size**2)
    block_size : int
    learn : bool, default=False
        Train :math:`\Phi` (a parameter) instead of keeping it fixed (a buffer).
    binary : bool, default=False
        Use :math:`s\,\mathrm{sign}(\Phi)` with a learned scale ``s`` (initialised to
        ``1/block_size`` so that the rows have about unit norm) and a straight-through
        gradient; only with ``learn=True``.
    """

    def __init__(self, phi, block_size, *, learn=False, binary=False):
        super().__init__()
        phi = torch.as_tensor(phi)
        if not phi.is_floating_point():
            phi = phi.to(torch.get_default_dtype())
        if phi.ndim != 2 or phi.shape[1] != block_size * block_size:
            raise ValueError(f"phi must have shape (n_measurements, {block_size ** 2}), "
                             f"got {tuple(phi.shape)}.")
        if binary and not learn:
            raise ValueError("binary=True needs learn=True (a learned binary matrix).")
        self.block_size = int(block_size)
        self.learn = bool(learn)
        self.binary = bool(binary)
        if learn:
            self.phi = nn.Parameter(phi.clone())
        else:
            self.register_buffer("phi", phi.clone())
        if binary:
            self.phi_scale = nn.Parameter(torch.tensor(1.0 / block_size, dtype=phi.dtype))

    @property
    def n_measurements(self):
        return self.phi.shape[0]

    def matrix(self):
        """The effective :math:`\\Phi` (binarised and scaled when ``binary``)."""
        if self.binary:
            return self.phi_scale * _SignSTE.apply(self.phi)
        return self.phi

    def forward(self, x, phi=None):
        """Measure images ``(N, 1, H, W)`` -> ``(N, n_blocks, m)``."""
        phi = self.matrix() if phi is None else phi
        return image_to_blocks(x, self.block_size) @ phi.T

    def adjoint(self, y, shape, phi=None):
        """:math:`A^\\top y`: ``(N, n_blocks, m)`` -> images ``(N, 1, H, W)``."""
        phi = self.matrix() if phi is None else phi
        return blocks_to_image(y @ phi, self.block_size, shape)


# ---------------------------------------------------------------------------- base class
class CSNetworkModule(nn.Module):
    """Base class: a sampling module, a reconstruction ``forward(y, shape)``.

    Subclasses implement :meth:`reconstruct` on padded images; :attr:`blockwise`
    networks see every block as its own ``B x B`` image (ReconNet, ISTA-Net(+), as
    published), the others the whole padded image (OPINE-Net+).
    """

    blockwise = True
    #: weight of the symmetry loss (ISTA-Net, ISTA-Net+, OPINE-Net+)
    has_symmetry = False

    def __init__(self, phi, block_size, *, learn_phi=False, binary=False):
        super().__init__()
        self.block_size = int(block_size)
        self.sampling = BlockSampling(phi, block_size, learn=learn_phi, binary=binary)

    @property
    def n_measurements(self):
        return self.sampling.n_measurements

    @property
    def n_features(self):
        return self.block_size ** 2

    def measure(self, x):
        """Block-CS measurements of images ``(N, 1, H, W)`` (sides multiples of B)."""
        return self.sampling(x)

    def forward(self, y, shape=None, *, return_aux=False):
        """Reconstruct images of ``shape`` (default one block) from ``y (N, n_blocks, m)``.

        Returns the images ``(N, 1, H, W)``, and with ``return_aux`` also the list of
        per-phase symmetry residuals (empty for ReconNet).
        """
        B = self.block_size
        shape = (B, B) if shape is None else tuple(int(s) for s in shape)
        if y.ndim == 2:  # (N, m): one block per image
            y = y[:, None, :]
        N, nb, m = y.shape
        if self.blockwise and nb > 1:
            x, aux = self.reconstruct(y.reshape(N * nb, 1, m), (B, B))
            x = blocks_to_image(x.reshape(N, nb, B * B), B, shape)
        else:
            x, aux = self.reconstruct(y, shape)
        return (x, aux) if return_aux else x

    def reconstruct(self, y, shape):  # pragma: no cover - abstract
        raise NotImplementedError


# ---------------------------------------------------------------------------- ReconNet
class ReconNet(CSNetworkModule):
    r"""ReconNet: a fully connected layer and six convolutions.

    :math:`\hat x = \mathrm{CNN}(W y + b)`, with the published 11x11 (64), 1x1 (32),
    7x7 (1) convolution triple applied twice, ReLU between them (none after the last).
    The fully connected layer is initialised with the least-squares map
    ``init_matrix`` (default :math:`\Phi^\top`) instead of at random.

    Parameters
    ----------
    phi : Tensor of shape (m, block_size**2)
    block_size : int, default=33
    n_channels : int, default=64
        Channels of the first convolution of each triple (the second has half).
    init_matrix : Tensor of shape (block_size**2, m) or None
    residual : bool, default=False
        Add the fully connected output to the CNN's (not in the paper; it makes short
        trainings start from the linear reconstruction).

    References
    ----------
    K. Kulkarni, S. Lohit, P. Turaga, R. Kerviche, A. Ashok, "ReconNet: Non-iterative
    reconstruction of images from compressively sensed measurements", CVPR 2016.
    doi:10.1109/CVPR.2016.55
    """

    def __init__(self, phi, block_size=33, *, n_channels=64, init_matrix=None,
                 residual=False):
        super().__init__(phi, block_size)
        self.residual = bool(residual)
        n, m = self.n_features, self.n_measurements
        self.fc = nn.Linear(m, n)
        c1, c2 = int(n_channels), max(1, int(n_channels) // 2)
        self.convs = nn.ModuleList()
        for _ in range(2):
            self.convs.extend([nn.Conv2d(1, c1, 11, padding=5), nn.Conv2d(c1, c2, 1),
                               nn.Conv2d(c2, 1, 7, padding=3)])
        with torch.no_grad():
            Q = self.sampling.phi.T if init_matrix is None else torch.as_tensor(init_matrix)
            self.fc.weight.copy_(Q.to(self.fc.weight.dtype))
            self.fc.bias.zero_()

    def reconstruct(self, y, shape):
        B = self.block_size
        x0 = self.fc(y).reshape(-1, 1, B, B)
        h = x0
        for i, conv in enumerate(self.convs):
            h = conv(h)
            if i != len(self.convs) - 1:
                h = F.relu(h)
        return (x0 + h if self.residual else h), []


# ---------------------------------------------------------------------------- ISTA-Net
def _xavier(*shape):
    return nn.Parameter(nn.init.xavier_normal_(torch.empty(*shape)))


def _soft(x, thr):
    return torch.sign(x) * F.relu(torch.abs(x) - thr)


class _ISTAPhase(nn.Module):
    """One ISTA-Net phase: gradient step, transform, soft threshold, inverse transform."""

    def __init__(self, n_channels):
        super().__init__()
        C = n_channels
        self.step_size = nn.Parameter(torch.tensor(0.5))
        self.threshold = nn.Parameter(torch.tensor(0.01))
        self.conv1_forward = _xavier(C, 1, 3, 3)
        self.conv2_forward = _xavier(C, C, 3, 3)
        self.conv1_backward = _xavier(C, C, 3, 3)
        self.conv2_backward = _xavier(1, C, 3, 3)

    def transform(self, r):
        return F.conv2d(F.relu(F.conv2d(r, self.conv1_forward, padding=1)),
                        self.conv2_forward, padding=1)

    def inverse(self, z):
        return F.conv2d(F.relu(F.conv2d(z, self.conv1_backward, padding=1)),
                        self.conv2_backward, padding=1)

    def forward(self, r):
        z = self.transform(r)
        x = self.inverse(_soft(z, self.threshold))
        return x, self.inverse(z) - r


class _ISTAPlusPhase(nn.Module):
    """One ISTA-Net+ phase: ``x = r + G(H~(soft(H(D r))))`` with the residual ``G``."""

    def __init__(self, n_channels):
        super().__init__()
        C = n_channels
        self.step_size = nn.Parameter(torch.tensor(0.5))
        self.threshold = nn.Parameter(torch.tensor(0.01))
        self.conv_D = _xavier(C, 1, 3, 3)
        self.conv1_forward = _xavier(C, C, 3, 3)
        self.conv2_forward = _xavier(C, C, 3, 3)
        self.conv1_backward = _xavier(C, C, 3, 3)
        self.conv2_backward = _xavier(C, C, 3, 3)
        self.conv_G = _xavier(1, C, 3, 3)

    def transform(self, d):
        return F.conv2d(F.relu(F.conv2d(d, self.conv1_forward, padding=1)),
                        self.conv2_forward, padding=1)

    def inverse(self, z):
        return F.conv2d(F.relu(F.conv2d(z, self.conv1_backward, padding=1)),
                        self.conv2_backward, padding=1)

    def forward(self, r):
        d = F.conv2d(r, self.conv_D, padding=1)
        z = self.transform(d)
        x = r + F.conv2d(self.inverse(_soft(z, self.threshold)), self.conv_G, padding=1)
        return x, self.inverse(z) - d


class _UnrolledISTA(CSNetworkModule):
    """Shared loop of ISTA-Net, ISTA-Net+ and OPINE-Net+:

    ``r = x - step * A^T(A x - y)``, then the phase's proximal network."""

    has_symmetry = True
    _phase = None

    def __init__(self, phi, block_size=33, *, n_phases=9, n_channels=32, init_matrix=None,
                 learn_phi=False, binary=False, zero_residual=False):
        super().__init__(phi, block_size, learn_phi=learn_phi, binary=binary)
        self.n_phases = int(n_phases)
        self.n_channels = int(n_channels)
        self.phases = nn.ModuleList(self._phase(self.n_channels) for _ in range(self.n_phases))
        if zero_residual:
            if not hasattr(self.phases[0], "conv_G"):
                raise ValueError("zero_residual=True needs a residual network "
                                 "(ISTA-Net+ or OPINE-Net+).")
            with torch.no_grad():
                for phase in self.phases:
                    phase.conv_G.zero_()
        if not learn_phi:
            Q = self.sampling.phi.T if init_matrix is None else torch.as_tensor(init_matrix)
            self.register_buffer("init_matrix", Q.to(self.sampling.phi.dtype).clone())

    def initial(self, y, shape, phi):
        """The initial image: ``Q y`` block by block (``Q`` the least-squares map)."""
        return blocks_to_image(y @ self.init_matrix.T, self.block_size, shape)

    def reconstruct(self, y, shape):
        phi = self.sampling.matrix()
        x = self.initial(y, shape, phi)
        aty = self.sampling.adjoint(y, shape, phi)
        sym = []
        for phase in self.phases:
            r = x - phase.step_size * (self.sampling.adjoint(self.sampling(x, phi), shape, phi)
                                       - aty)
            x, s = phase(r)
            sym.append(s)
        return x, sym


class ISTANet(_UnrolledISTA):
    r"""ISTA-Net: unrolled ISTA with a learned nonlinear sparsifying transform.

    Phase :math:`k`:

    .. math::

        r^{(k)} = x^{(k-1)} - \rho_k A^\top(Ax^{(k-1)} - y),\qquad
        x^{(k)} = \tilde{\mathcal F}_k\big(\mathrm{soft}(\mathcal F_k(r^{(k)}),
        \theta_k)\big),

    :math:`\mathcal F_k` = conv(1→C), ReLU, conv(C→C); :math:`\tilde{\mathcal F}_k` its
    mirror; learned step :math:`\rho_k` and threshold :math:`\theta_k`. The start is
    :math:`x^{(0)} = Q_\text{init}\,y` per block; the symmetry residuals
    :math:`\tilde{\mathcal F}_k(\mathcal F_k(r^{(k)})) - r^{(k)}` are returned for the
    symmetry loss. Each block is reconstructed as its own ``B x B`` image.

    Parameters
    ----------
    phi : Tensor of shape (m, block_size**2)
    block_size : int, default=33
    n_phases : int, default=9
    n_channels : int, default=32
    init_matrix : Tensor of shape (block_size**2, m) or None
        :math:`Q_\text{init}`; None: :math:`\Phi^\top` (the least-squares map of an
        orthonormal-row :math:`\Phi`). :func:`sparsecode.nn.cs.least_squares_init`
        computes the data-driven one.

    References
    ----------
    J. Zhang, B. Ghanem, "ISTA-Net: Interpretable optimization-inspired deep network
    for image compressive sensing", CVPR 2018. doi:10.1109/CVPR.2018.00196
    """

    _phase = _ISTAPhase


class ISTANetPlus(_UnrolledISTA):
    r"""ISTA-Net+: ISTA-Net with a residual proximal step.

    .. math::

        r^{(k)} = x^{(k-1)} - \rho_k A^\top(Ax^{(k-1)} - y),\qquad
        x^{(k)} = r^{(k)} + \mathcal G_k\Big(\tilde{\mathcal H}_k\big(\mathrm{soft}
        (\mathcal H_k(\mathcal D_k r^{(k)}), \theta_k)\big)\Big),

    :math:`\mathcal D_k` conv(1→C), :math:`\mathcal H_k` = conv, ReLU, conv (C→C),
    :math:`\tilde{\mathcal H}_k` its mirror, :math:`\mathcal G_k` conv(C→1), all 3x3
    without bias: 37,442 parameters per phase at C = 32, 336,978 (0.337 M) for 9 phases.
    With :math:`\mathcal G_k = 0` the phase is the gradient step itself: for
    :math:`\rho_k = 1` and orthonormal rows, the projection onto :math:`\{Ax = y\}`.
    Parameters as :class:`ISTANet`.

    References
    ----------
    J. Zhang, B. Ghanem, "ISTA-Net: Interpretable optimization-inspired deep network
    for image compressive sensing", CVPR 2018. doi:10.1109/CVPR.2018.00196
    """

    _phase = _ISTAPlusPhase


class OPINENetPlus(_UnrolledISTA):
    r"""OPINE-Net+: ISTA-Net+ phases with a learned sampling matrix.

    The sampling matrix :math:`\Phi` is a parameter (initialised here with the seeded
    orthonormal-row Gaussian ``phi``), trained jointly with the phases under the
    orthogonality loss :math:`\mu\,\mathrm{mean}((\Phi\Phi^\top - I)^2)`; with
    ``binary=True`` the measurements use :math:`s\,\mathrm{sign}(\Phi)`
    (straight-through gradient, learned scale ``s``). The start is
    :math:`x^{(0)} = \Phi^\top y`, and the whole (padded) image is processed at once,
    so the convolutions see across block borders.

    Parameters
    ----------
    phi : Tensor of shape (m, block_size**2)
        Initial sampling matrix.
    block_size : int, default=33
    n_phases : int, default=9
    n_channels : int, default=32
    binary : bool, default=False
    zero_residual : bool, default=False
        Initialise the residual convolutions to zero (see :class:`ISTANetPlus`).

    References
    ----------
    J. Zhang, C. Zhao, B. Ghanem, "Optimization-inspired compact deep compressive
    sensing", IEEE J. Sel. Topics Signal Process. 14(4), 2020.
    doi:10.1109/JSTSP.2020.2977507
    """

    _phase = _ISTAPlusPhase
    blockwise = False

    def __init__(self, phi, block_size=33, *, n_phases=9, n_channels=32, binary=False,
                 zero_residual=False):
        super().__init__(phi, block_size, n_phases=n_phases, n_channels=n_channels,
                         learn_phi=True, binary=binary, zero_residual=zero_residual)

    def initial(self, y, shape, phi):
        return self.sampling.adjoint(y, shape, phi)

    def orthogonality_loss(self):
        r""":math:`\mathrm{mean}((\Phi\Phi^\top - I)^2)` of the effective matrix."""
        phi = self.sampling.matrix()
        eye = torch.eye(phi.shape[0], dtype=phi.dtype, device=phi.device)
        return ((phi @ phi.T - eye) ** 2).mean()


#: Networks by name (the ``model`` parameter of :class:`CSNetwork`).
CS_MODELS = {
    "reconnet": ReconNet,
    "ista-net": ISTANet,
    "ista-net+": ISTANetPlus,
    "opine-net+": OPINENetPlus,
}


def make_cs_model(name, phi, block_size=33, *, n_phases=9, n_channels=32, init_matrix=None,
                  binary=False, zero_residual=False):
    """Build a network of :data:`CS_MODELS` by name.

    ``n_phases`` is ignored by ReconNet, ``init_matrix`` by OPINE-Net+, ``binary`` by
    all but OPINE-Net+, ``zero_residual`` by all but ISTA-Net+ and OPINE-Net+;
    ReconNet's ``n_channels`` is that of its wide convolutions.
    """
    if name not in CS_MODELS:
        raise ValueError(f"model must be one of {sorted(CS_MODELS)}, got {name!r}.")
    if name == "reconnet":
        return ReconNet(phi, block_size, n_channels=n_channels, init_matrix=init_matrix)
    if name == "opine-net+":
        return OPINENetPlus(phi, block_size, n_phases=n_phases, n_channels=n_channels,
                            binary=binary, zero_residual=zero_residual)
    if name == "ista-net":
        return ISTANet(phi, block_size, n_phases=n_phases, n_channels=n_channels,
                       init_matrix=init_matrix)
    return ISTANetPlus(phi, block_size, n_phases=n_phases, n_channels=n_channels,
                       init_matrix=init_matrix, zero_residual=zero_residual)


def n_parameters(module, *, trainable_only=True):
    """Number of (trainable) parameters of a module."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
