r"""Unrolled recovery networks: the LISTA family and unrolled ISTA/FISTA.

Each network unrolls a classic solver of :math:`y = x A^\top + e`, :math:`x` sparse, into
``n_layers`` layers with trainable matrices, steps and thresholds, and is initialised
from that solver, so that untrained it computes what ISTA/FISTA computes.

Modules
-------
networks
    :class:`UnrolledNetwork` and LISTA, LISTA-CP, LISTA-CPSS, ALISTA, unrolled ISTA/FISTA
    (``MODELS``, :func:`make_model`).
alista
    ALISTA's analytic weight and the (generalised) mutual coherence.
training
    the stage-wise recipe of Chen et al. / Liu et al. on synthetic problems, and
    end-to-end training on a user's data.
estimator
    :class:`UnrolledSparseCoder`, the scikit-learn estimator.
"""

from ._checks import check_operator_matrix, lipschitz_constant
from .alista import analytic_weight, generalized_coherence, mutual_coherence
from .estimator import UnrolledSparseCoder
from .networks import (
    ALISTA,
    LISTA,
    LISTACP,
    LISTACPSS,
    MODELS,
    UnrolledFISTA,
    UnrolledISTA,
    UnrolledNetwork,
    make_model,
)
from .training import (
    SyntheticProblem,
    fista_targets,
    nmse_db,
    stagewise_stages,
    train_end_to_end,
    train_stagewise,
)

__all__ = [
    "ALISTA",
    "LISTA",
    "LISTACP",
    "LISTACPSS",
    "MODELS",
    "UnrolledFISTA",
    "UnrolledISTA",
    "UnrolledNetwork",
    "UnrolledSparseCoder",
    "SyntheticProblem",
    "analytic_weight",
    "check_operator_matrix",
    "fista_targets",
    "generalized_coherence",
    "lipschitz_constant",
    "make_model",
    "mutual_coherence",
    "nmse_db",
    "stagewise_stages",
    "train_end_to_end",
    "train_stagewise",
]
