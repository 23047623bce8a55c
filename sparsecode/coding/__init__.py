"""Sparse coding over a fixed dictionary: public functions and the SparseCoder estimator."""

from ._coder import SparseCoder
from ._omp import orthogonal_mp, orthogonal_mp_gram

__all__ = ["SparseCoder", "orthogonal_mp", "orthogonal_mp_gram"]
