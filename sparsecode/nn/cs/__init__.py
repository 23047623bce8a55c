r"""CNN compressed-sensing recovery networks: ReconNet, ISTA-Net, ISTA-Net+, OPINE-Net+.

Block compressed sensing of images (:class:`sparsecode.operators.BlockCSOperator`)
inverted by learned networks that share the library's measurement model, a data
pipeline that cuts training blocks from any folder of images, the training recipe on
the shared :class:`~sparsecode.nn.Trainer`, the scikit-learn estimator
:class:`CSNetwork`, and weights in ``safetensors`` files (shipped: ISTA-Net+ and
OPINE-Net+ at 10, 25 and 50 %).

Modules
-------
models
    the ``nn.Module`` s and the block sampling (:data:`CS_MODELS`, :func:`make_cs_model`).
data
    training blocks from images, the sensing matrix of a ratio, :math:`Q_\text{init}`.
training
    the loss (MSE + symmetry + orthogonality) and the schedules (:data:`SCHEDULES`).
estimator
    :class:`CSNetwork`.
weights
    :func:`save_weights`, :func:`load_weights`, :func:`pretrained`.
"""

from .data import (
    N_BLOCKS_T91,
    extract_blocks,
    find_dataset,
    least_squares_init,
    load_images,
    sensing_matrix,
    training_blocks,
)
from .estimator import CSNetwork
from .models import (
    CS_MODELS,
    BlockSampling,
    CSNetworkModule,
    ISTANet,
    ISTANetPlus,
    OPINENetPlus,
    ReconNet,
    make_cs_model,
    n_parameters,
)
from .training import SCHEDULES, cs_loss
from .weights import (
    SHIPPED_DIR,
    load_weights,
    pretrained,
    save_weights,
    shipped_weights,
    weights_filename,
)

__all__ = [
    "CS_MODELS",
    "N_BLOCKS_T91",
    "SCHEDULES",
    "SHIPPED_DIR",
    "BlockSampling",
    "CSNetwork",
    "CSNetworkModule",
    "ISTANet",
    "ISTANetPlus",
    "OPINENetPlus",
    "ReconNet",
    "cs_loss",
    "extract_blocks",
    "find_dataset",
    "least_squares_init",
    "load_images",
    "load_weights",
    "make_cs_model",
    "n_parameters",
    "pretrained",
    "save_weights",
    "sensing_matrix",
    "shipped_weights",
    "training_blocks",
    "weights_filename",
]
