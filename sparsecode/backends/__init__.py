"""Array backends of the classic solvers other than NumPy (today: PyTorch).

The public coding functions (:func:`sparsecode.orthogonal_mp`, :func:`sparsecode.fista`,
:func:`sparsecode.ista`, :func:`sparsecode.iht`) and :class:`sparsecode.SparseCoder`
hand torch tensors to the batched torch solvers of this package, which run on the
tensors' device (CPU or CUDA) and return tensors. The torch modules
(``_torch_omp``, ``_torch_prox_grad``, ``_torch_iht``) are imported only when a tensor
is passed: importing this package (and ``sparsecode``) never imports torch.

Namespace detection uses ``array-api-compat`` (what scikit-learn uses for its array-API
support), whose ``is_torch_array`` looks at the type only and does not import torch.
"""

from __future__ import annotations

try:  # the standalone package when installed, else scikit-learn's vendored copy
    from array_api_compat import is_torch_array
except ImportError:  # pragma: no cover - scikit-learn always vendors it
    from sklearn.externals.array_api_compat import is_torch_array

__all__ = ["any_torch", "is_torch_array"]


def any_torch(*arrays):
    """True if any of ``arrays`` is a torch tensor (without importing torch)."""
    return any(is_torch_array(a) for a in arrays)
