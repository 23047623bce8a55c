"""Sparse coding over a fixed dictionary: public functions and the SparseCoder estimator."""

from ._coder import ALGORITHMS, SparseCoder
from ._fista import SolverInfo, fista, ista
from ._iht import cosamp, iht
from ._lars import lars, lars_path, lasso_lars
from ._omp import orthogonal_mp, orthogonal_mp_gram

__all__ = [
    "ALGORITHMS",
    "SparseCoder",
    "SolverInfo",
    "cosamp",
    "fista",
    "iht",
    "ista",
    "lars",
    "lars_path",
    "lasso_lars",
    "orthogonal_mp",
    "orthogonal_mp_gram",
]
