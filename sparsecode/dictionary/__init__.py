"""Dictionary learning: K-SVD, approximate K-SVD, MOD and online learning.

Public functions (:func:`ksvd`, :func:`mod`, :func:`dict_learning_online`) return the
learned dictionary ``(n_components, n_features)`` with unit-norm rows; the estimators
:class:`DictionaryLearning` (batch: ``algorithm="approx_ksvd" | "ksvd" | "mod"``) and
:class:`MiniBatchDictionaryLearning` (online, ``partial_fit``) wrap them.
:func:`plot_dictionary` draws atoms as an image grid (matplotlib, imported lazily).
"""

from ._batch import ksvd, mod
from ._common import IterationRecord, LearningInfo
from ._estimators import DictionaryLearning, MiniBatchDictionaryLearning
from ._online import dict_learning_online
from ._plot import plot_dictionary

__all__ = [
    "DictionaryLearning",
    "IterationRecord",
    "LearningInfo",
    "MiniBatchDictionaryLearning",
    "dict_learning_online",
    "ksvd",
    "mod",
    "plot_dictionary",
]
