"""sparsecode: sparse coding and signal recovery.

Numba-accelerated classic solvers on NumPy arrays, learned recovery networks in
PyTorch (``sparsecode.nn``, optional), one scikit-learn estimator API for all of it.

Importing ``sparsecode`` never imports torch.
"""

from .coding import SparseCoder, orthogonal_mp, orthogonal_mp_gram

__version__ = "0.1.0.dev0"

__all__ = ["SparseCoder", "orthogonal_mp", "orthogonal_mp_gram", "__version__"]
