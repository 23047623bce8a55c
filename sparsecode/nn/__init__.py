"""Sparse networks in PyTorch: thresholds, sparse activations, sparse autoencoders,
sparsity penalties and pruning for any ``nn.Module``.

Needs the ``torch`` extra (``pip install sparsecode[torch]``). ``import sparsecode`` does
not import this package (nor torch); import it explicitly::

    import sparsecode.nn as snn

Modules
-------
functional
    soft / hard / top-k / support-selection thresholds, JumpReLU, sparsemax, entmax-1.5.
layers
    the same as ``nn.Module`` s with (learnable) thresholds.
sae
    sparse autoencoders as scikit-learn estimators (ReLU+L1, TopK, BatchTopK, JumpReLU,
    KL-sparsity).
sparsity
    L1 / group-lasso penalties, hard-concrete L0 gates, magnitude pruning with schedules,
    sparsity reports.
_estimator, _training
    the estimator base and training loop shared by every torch model of the library.
"""

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "sparsecode.nn needs PyTorch; install it with `pip install sparsecode[torch]`."
    ) from exc

from . import functional, layers, sae, sparsity
from .functional import (
    entmax15,
    hard_threshold,
    jumprelu,
    soft_threshold,
    sparsemax,
    support_selection_threshold,
    topk,
)
from .layers import (
    Entmax15,
    HardThreshold,
    JumpReLU,
    NonNegSoftThreshold,
    SoftThreshold,
    Sparsemax,
    SupportSelectionSoftThreshold,
    TopK,
    make_threshold,
)
from .sae import BatchTopKSAE, JumpReLUSAE, KLSAE, ReLUSAE, SparseAutoencoder, TopKSAE
from .sparsity import (
    ConstantSparsity,
    GradualGrowth,
    HardConcreteGate,
    MagnitudePruner,
    PolynomialDecay,
    RigL,
    sparsity_penalty,
    sparsity_report,
)

__all__ = [
    "functional",
    "layers",
    "soft_threshold",
    "hard_threshold",
    "topk",
    "support_selection_threshold",
    "jumprelu",
    "sparsemax",
    "entmax15",
    "SoftThreshold",
    "NonNegSoftThreshold",
    "HardThreshold",
    "TopK",
    "SupportSelectionSoftThreshold",
    "JumpReLU",
    "Sparsemax",
    "Entmax15",
    "make_threshold",
    "sae",
    "sparsity",
    "SparseAutoencoder",
    "ReLUSAE",
    "TopKSAE",
    "BatchTopKSAE",
    "JumpReLUSAE",
    "KLSAE",
    "sparsity_penalty",
    "HardConcreteGate",
    "ConstantSparsity",
    "PolynomialDecay",
    "MagnitudePruner",
    "GradualGrowth",
    "RigL",
    "sparsity_report",
]
