"""Validation and conversion shared by the torch solvers (imports torch).

Mirrors :mod:`sparsecode.utils._validation` for tensors: the same mistakes give the
same errors (same types, same messages) as on the NumPy path. Tensors are never
modified; a tensor that requires grad is detached (the solvers are not differentiable:
their supports are chosen by argmax and thresholds).
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from . import is_torch_array

_FLOAT_DTYPES = (torch.float32, torch.float64)


def _dtype_name(dtype):
    return str(dtype).removeprefix("torch.")  # the NumPy spelling (float64, complex128)


def as_float_tensor(a, name, *, dtype=None, device=None, ndim=2, allow_empty=False):
    """Validate and convert ``a`` (tensor or array-like) to a contiguous float tensor.

    Errors as :func:`sparsecode.utils._validation._as_float_array`: complex and boolean
    dtypes raise TypeError, integers are cast to float64 as on the NumPy path, wrong
    dimensions, empty input and NaN/infinity raise ValueError.
    """
    if a is None:
        raise TypeError(f"{name} must be an array-like of floats, got None.")
    if is_torch_array(a):
        t = a.detach()
        if t.is_sparse or t.layout != torch.strided:
            raise TypeError(f"{name} must be a dense array; sparse tensors are not "
                            "supported (call .to_dense() first).")
    else:
        from ..utils._validation import _as_float_array

        # The NumPy path's checks (and messages) first, then the move.
        arr = _as_float_array(a, name, ndim=ndim, allow_empty=allow_empty)
        t = torch.from_numpy(arr)
    if t.is_complex():
        raise TypeError(f"{name} must be real; complex dtype {_dtype_name(t.dtype)} is not "
                        "supported.")
    if t.dtype == torch.bool:
        raise TypeError(f"{name} must be a float array, got boolean dtype.")
    if not (t.is_floating_point() or t.dtype in (torch.int8, torch.int16, torch.int32,
                                                 torch.int64, torch.uint8)):
        raise TypeError(f"{name} must be a numeric array, got dtype {_dtype_name(t.dtype)}.")
    if t.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got an array of shape "
                         f"{tuple(t.shape)}.")
    if not allow_empty and t.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(t.shape)}); at least one value "
                         "is needed.")
    if dtype is None:
        dtype = t.dtype if t.dtype in _FLOAT_DTYPES else torch.float64
    t = t.to(device=device if device is not None else t.device, dtype=dtype).contiguous()
    if t.is_floating_point() and t.numel() and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or infinity; all values must be finite.")
    return t


def result_dtype(*arrays):
    """float32 if every array is float32 (tensor or NumPy), float64 otherwise."""
    for a in arrays:
        dt = a.dtype if is_torch_array(a) else np.asarray(a).dtype
        if dt not in (torch.float32, np.float32):
            return torch.float64
    return torch.float32


def common_device(X, dictionary, *, x_name="X", d_name="dictionary"):
    """The device of the tensor inputs; ValueError naming both if they differ."""
    dx = X.device if is_torch_array(X) else None
    dd = dictionary.device if is_torch_array(dictionary) else None
    if dx is not None and dd is not None and dx != dd:
        raise ValueError(f"{x_name} is on device {dx} but {d_name} is on device {dd}; "
                         "move both to the same device (tensor.to(device)).")
    return dx if dx is not None else (dd if dd is not None else torch.device("cpu"))


def check_dictionary_tensor(dictionary, *, dtype, device, name="dictionary"):
    """Tensor twin of :func:`sparsecode.utils._validation.check_dictionary`."""
    D = as_float_tensor(dictionary, name, dtype=dtype, device=device)
    norms = torch.linalg.vector_norm(D.to(torch.float64), dim=1)
    tiny = np.finfo(np.float32 if dtype == torch.float32 else np.float64).tiny ** 0.5
    zero = torch.nonzero(norms <= tiny).flatten().tolist()
    if zero:
        raise ValueError(
            f"{name} has {len(zero)} zero-norm atom(s) (rows {zero[:5]}"
            f"{'...' if len(zero) > 5 else ''}); every atom must have a nonzero norm."
        )
    return D


def check_signals_tensor(X, *, n_features, dtype, device, name="X"):
    """Tensor twin of :func:`sparsecode.utils._validation.check_signals`."""
    X = as_float_tensor(X, name, dtype=dtype, device=device)
    if X.shape[1] != n_features:
        raise ValueError(
            f"{name} has {X.shape[1]} features per sample but the dictionary has "
            f"{n_features}; X must have shape (n_samples, {n_features})."
        )
    return X


def prepare(X, dictionary):
    """Validated ``(X, D)`` tensors of the result dtype on the common device."""
    device = common_device(X, dictionary)
    dtype = result_dtype(X, dictionary)
    D = check_dictionary_tensor(dictionary, dtype=dtype, device=device)
    X = check_signals_tensor(X, n_features=D.shape[1], dtype=dtype, device=device)
    return X, D


def eps(dtype):
    return float(torch.finfo(dtype).eps)


@contextlib.contextmanager
def torch_threads(n_jobs, device):
    """Limit torch's CPU threads to ``n_jobs`` (None: unchanged) for the block."""
    if n_jobs is None or device.type != "cpu":
        yield
        return
    from .._jit import resolve_n_jobs

    old = torch.get_num_threads()
    torch.set_num_threads(resolve_n_jobs(n_jobs))
    try:
        yield
    finally:
        torch.set_num_threads(old)
