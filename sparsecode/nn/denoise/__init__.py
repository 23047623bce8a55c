"""Learned sparse denoisers: CSCnet (Simon & Elad, 2019) and Deep K-SVD (Scetbon, Elad &
Milanfar, 2021), their training recipe on clean images, shipped weights and an
estimator.

Modules
-------
models
    :class:`CSCNet`, :class:`DeepKSVD` (``nn.Module`` s initialised as ISTA).
training
    :func:`train_denoiser` (random crops, the shared ``Trainer``, CPU and GPU schedules).
estimator
    :class:`LearnedDenoiser`, the scikit-learn face, and :func:`denoise_learned`, the
    function behind ``denoise_image(..., method="cscnet" | "deep-ksvd")``.

Weights trained by ``sparsecode train-denoiser`` ship in ``weights/`` (see its README).
"""

from ._io import (
    MODELS,
    WEIGHTS_DIR,
    build_model,
    load_pretrained,
    load_weights,
    pretrained_sigmas,
    save_weights,
)
from .estimator import LearnedDenoiser, denoise_learned
from .models import CSCNet, DeepKSVD, conv_operator_norm
from .training import SCHEDULES, train_denoiser

__all__ = [
    "CSCNet",
    "DeepKSVD",
    "LearnedDenoiser",
    "MODELS",
    "SCHEDULES",
    "WEIGHTS_DIR",
    "build_model",
    "conv_operator_norm",
    "denoise_learned",
    "load_pretrained",
    "load_weights",
    "pretrained_sigmas",
    "save_weights",
    "train_denoiser",
]
