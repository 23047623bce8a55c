"""sparsecode: sparse coding and signal recovery.

Numba-accelerated classic solvers on NumPy arrays, learned recovery networks in
PyTorch (``sparsecode.nn``, optional), one scikit-learn estimator API for all of it.

Importing ``sparsecode`` never imports torch.
"""

from . import prox
from .coding import (
    SparseCoder,
    cosamp,
    fista,
    iht,
    ista,
    lars,
    lars_path,
    lasso_lars,
    orthogonal_mp,
    orthogonal_mp_gram,
)

from .denoise import denoise_image

__version__ = "0.1.0.dev0"

__all__ = [
    "SparseCoder",
    "cosamp",
    "denoise_image",
    "fista",
    "iht",
    "ista",
    "lars",
    "lars_path",
    "lasso_lars",
    "orthogonal_mp",
    "orthogonal_mp_gram",
    "prox",
    "__version__",
]
