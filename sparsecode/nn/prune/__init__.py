r"""Making any torch model sparse: penalties, L0 gates, pruning schedules, reports.

Penalties
    :func:`sparsity_penalty` -- L1 or group-lasso over chosen parameters, added to a loss.
L0 gates
    :class:`HardConcreteGate` -- the hard-concrete stochastic gate of Louizos, Welling &
    Kingma (2018) with its differentiable expected-L0 penalty; put it in front of a layer
    to select input features or neurons.
Pruning
    Schedules (:class:`ConstantSparsity`, :class:`PolynomialDecay` -- the TF-MOT schedule
    -- and :class:`LinearSparsity`) tell *how sparse at which step*;
    :class:`MagnitudePruner` prunes by magnitude (unstructured, or structured: whole
    neurons/channels) on that schedule; :class:`GradualGrowth` starts sparse and moves /
    adds connections where the dense gradient is largest (RigL, Evci et al. 2020, when the
    schedule is constant). Both store their masks with :mod:`torch.nn.utils.prune`
    (``weight_orig`` * ``weight_mask``), so pruned weights stay exactly zero through
    further training, and both are training callbacks
    (:class:`sparsecode.nn.Trainer`), e.g. ``sae.fit(X, callbacks=[pruner])``.
Per-layer targets
    :func:`resolve_targets` turns ``{layer name | glob | layer type: sparsity}`` into
    per-layer targets; :class:`LayerwisePruner` prunes every layer to its own target on
    Zhu & Gupta's polynomial schedule, unstructured or structured (whole units /
    channels, with their bias and BatchNorm).
Export
    :func:`export_sparse` -- a copy that is really smaller and faster: pruned channels
    and units removed physically (consistent across consecutive layers, BatchNorm and
    flatten), sparse linear layers as CSR (:class:`SparseLinear`) where a timing probe
    says it is faster; :func:`saved_size` measures bytes on disk.
Growth
    :class:`GrowingNetworkRegressor`, :class:`GrowingNetworkClassifier` -- start small
    and sparse, grow units and connections until the validation target is met, then
    prune (grow-and-prune); :class:`SET` is random-regrowth dynamic sparse training.
Reports
    :func:`sparsity_report` -- per-layer sparsity and the real size of the model stored in
    a compressed sparse (CSR) format.

References
----------
.. [1] C. Louizos, M. Welling and D. Kingma, "Learning sparse neural networks through L0
   regularization", ICLR 2018. arXiv:1712.01312.
.. [2] M. Zhu and S. Gupta, "To prune, or not to prune: exploring the efficacy of pruning
   for model compression", 2017. arXiv:1710.01878.
.. [3] U. Evci, T. Gale, J. Menick, P. Castro and E. Elsen, "Rigging the lottery: making
   all tickets winners", ICML 2020. arXiv:1911.11134.
.. [4] M. Yuan and Y. Lin, "Model selection and estimation in regression with grouped
   variables", JRSS-B 68(1), 2006. doi:10.1111/j.1467-9868.2005.00532.x.
"""

from ._common import prunable_parameters
from .gates import HardConcreteGate
from .penalties import PENALTIES, sparsity_penalty
from .export import CSR_BACKENDS, CSR_RULE, SparseLinear, export_sparse, fold_masks, saved_size
from .grow import GrowingNetworkClassifier, GrowingNetworkRegressor, build_growable_network
from .pruners import SET, GradualGrowth, MagnitudePruner, RigL
from .report import SparsityReport, sparsity_report
from .schedules import (
    ConstantSparsity,
    LinearSparsity,
    PolynomialDecay,
    SparsitySchedule,
)
from .targets import PRUNABLE_LAYERS, LayerwisePruner, resolve_targets

__all__ = [
    "PENALTIES",
    "sparsity_penalty",
    "HardConcreteGate",
    "SparsitySchedule",
    "ConstantSparsity",
    "PolynomialDecay",
    "LinearSparsity",
    "MagnitudePruner",
    "GradualGrowth",
    "RigL",
    "sparsity_report",
    "SparsityReport",
    "prunable_parameters",
    "SET",
    "PRUNABLE_LAYERS",
    "resolve_targets",
    "LayerwisePruner",
    "CSR_BACKENDS",
    "CSR_RULE",
    "SparseLinear",
    "export_sparse",
    "fold_masks",
    "saved_size",
    "GrowingNetworkRegressor",
    "GrowingNetworkClassifier",
    "build_growable_network",
]
