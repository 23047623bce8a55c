"""Sparse networks in PyTorch: thresholds, sparse activations, unrolled recovery networks,
sparse autoencoders, sparsity penalties and pruning for any ``nn.Module``.

Needs the ``torch`` extra (``pip install sparsecode[torch]``). ``import sparsecode`` does
not import this package (nor torch); import it explicitly::

    import sparsecode.nn as snn

One subpackage per domain, each owning its models, estimator and training recipe, on
shared pieces. Every public name is importable from ``sparsecode.nn`` itself.

Subpackages (domains)
---------------------
unrolled
    LISTA, LISTA-CP, LISTA-CPSS, ALISTA, unrolled ISTA/FISTA, their training recipes and
    :class:`UnrolledSparseCoder`.
cs
    CNN compressed-sensing networks on the block-CS measurement model (ReconNet,
    ISTA-Net, ISTA-Net+, OPINE-Net+), their data pipeline, training and
    :class:`CSNetwork`.
denoise
    learned sparse denoisers (CSCnet, Deep K-SVD), their training on image folders and
    :class:`LearnedDenoiser`.
sae
    sparse autoencoders as scikit-learn estimators (ReLU+L1, TopK, BatchTopK, JumpReLU,
    KL-sparsity).
prune
    L1 / group-lasso penalties, hard-concrete L0 gates, magnitude pruning with schedules,
    gradual growth (RigL), sparsity reports.

Shared modules
--------------
functional
    soft / hard / top-k / support-selection thresholds, JumpReLU, sparsemax, entmax-1.5.
layers
    the same as ``nn.Module`` s with (learnable) thresholds.
_training
    :class:`Trainer`, the training loop of every torch model of the library (progress,
    checkpoints, early stopping, DistributedDataParallel).
_estimator
    :class:`TorchEstimatorMixin`, the scikit-learn face of the torch models.

The import graph is a tree: the domain subpackages import the shared modules, never each
other and never this package's ``__init__``.
"""

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "sparsecode.nn needs PyTorch; install it with `pip install sparsecode[torch]`."
    ) from exc

from . import cs, denoise, functional, layers, prune, sae, unrolled
from ._estimator import TorchEstimatorMixin
from ._training import Trainer
from .cs import (
    CS_MODELS,
    BlockSampling,
    CSNetwork,
    CSNetworkModule,
    ISTANet,
    ISTANetPlus,
    OPINENetPlus,
    ReconNet,
    make_cs_model,
)
from .denoise import (
    CSCNet,
    DeepKSVD,
    LearnedDenoiser,
    denoise_learned,
    train_denoiser,
)
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
from .prune import (  # export, per-layer targets, growth
    CSR_BACKENDS,
    CSR_RULE,
    PRUNABLE_LAYERS,
    SET,
    ConstantSparsity,
    GradualGrowth,
    GrowingNetworkClassifier,
    GrowingNetworkRegressor,
    HardConcreteGate,
    LayerwisePruner,
    LinearSparsity,
    MagnitudePruner,
    PolynomialDecay,
    RigL,
    SparseLinear,
    SparsityReport,
    SparsitySchedule,
    build_growable_network,
    export_sparse,
    fold_masks,
    prunable_parameters,
    resolve_targets,
    saved_size,
    sparsity_penalty,
    sparsity_report,
)
from .sae import (
    ACTIVATIONS,
    KLSAE,
    BaseSAE,
    BatchTopKSAE,
    JumpReLUSAE,
    ReLUSAE,
    SparseAutoencoder,
    TopKSAE,
    sae_metrics,
)
from .unrolled import (
    ALISTA,
    LISTA,
    LISTACP,
    LISTACPSS,
    MODELS,
    SyntheticProblem,
    UnrolledFISTA,
    UnrolledISTA,
    UnrolledNetwork,
    UnrolledSparseCoder,
    analytic_weight,
    make_model,
    nmse_db,
    train_end_to_end,
    train_stagewise,
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
    "cs",
    "denoise",
    "prune",
    "sae",
    "unrolled",
    "Trainer",
    "TorchEstimatorMixin",
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
    "SparsityReport",
    "SparsitySchedule",
    "LinearSparsity",
    "prunable_parameters",
    "LayerwisePruner",
    "resolve_targets",
    "PRUNABLE_LAYERS",
    "export_sparse",
    "SparseLinear",
    "saved_size",
    "fold_masks",
    "CSR_BACKENDS",
    "CSR_RULE",
    "GrowingNetworkRegressor",
    "GrowingNetworkClassifier",
    "build_growable_network",
    "SET",
    "CSNetwork",
    "CS_MODELS",
    "ReconNet",
    "ISTANet",
    "ISTANetPlus",
    "OPINENetPlus",
    "CSNetworkModule",
    "BlockSampling",
    "make_cs_model",
    "CSCNet",
    "DeepKSVD",
    "LearnedDenoiser",
    "denoise_learned",
    "train_denoiser",
    "ACTIVATIONS",
    "BaseSAE",
    "sae_metrics",
    "ALISTA",
    "LISTA",
    "LISTACP",
    "LISTACPSS",
    "MODELS",
    "SyntheticProblem",
    "UnrolledFISTA",
    "UnrolledISTA",
    "UnrolledNetwork",
    "UnrolledSparseCoder",
    "analytic_weight",
    "make_model",
    "nmse_db",
    "train_end_to_end",
    "train_stagewise",
]
