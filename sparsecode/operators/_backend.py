"""NumPy / torch dispatch for the operators: one implementation, two array libraries.

Operators are written once against the tiny namespace returned by :func:`backend_of`:
NumPy arrays go through NumPy/SciPy (``scipy.fft``), torch tensors through torch
(``torch.fft``), so that forward and adjoint keep the device, the dtype and the autograd
graph of a tensor. torch is imported only when a tensor is actually passed in.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft


def is_torch(x):
    """True for a ``torch.Tensor``, without importing torch."""
    return type(x).__module__.split(".")[0] == "torch"


class _NumpyBackend:
    name = "numpy"

    @staticmethod
    def asarray_like(a, like):
        """A NumPy constant ``a`` in the dtype of ``like``."""
        return np.asarray(a, dtype=like.dtype)

    @staticmethod
    def concatenate(arrays, axis=-1):
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def zeros(shape, like):
        return np.zeros(shape, dtype=like.dtype)

    @staticmethod
    def pad_last2(x, pad_h, pad_w):
        if pad_h == 0 and pad_w == 0:
            return x
        widths = [(0, 0)] * (x.ndim - 2) + [(0, pad_h), (0, pad_w)]
        return np.pad(x, widths)

    @staticmethod
    def dct(x, axis=-1):
        return sfft.dct(x, type=2, norm="ortho", axis=axis)

    @staticmethod
    def idct(x, axis=-1):
        return sfft.idct(x, type=2, norm="ortho", axis=axis)

    @staticmethod
    def rfft(x):
        return sfft.rfft(x, norm="ortho", axis=-1)

    @staticmethod
    def irfft(X, n):
        return sfft.irfft(X, n=n, norm="ortho", axis=-1)

    @staticmethod
    def complex(re, im):
        return re + 1j * im

    @staticmethod
    def real(z):
        return np.ascontiguousarray(z.real)

    @staticmethod
    def imag(z):
        return np.ascontiguousarray(z.imag)

    @staticmethod
    def swapaxes(x, a, b):
        return np.swapaxes(x, a, b)

    @staticmethod
    def stack(arrays, axis=-1):
        return np.stack(arrays, axis=axis)

    @staticmethod
    def take(x, index):
        return x[..., index]

    @staticmethod
    def scatter(y, index, n):
        out = np.zeros(y.shape[:-1] + (n,), dtype=y.dtype)
        out[..., index] = y
        return out


class _TorchBackend:
    name = "torch"

    def __init__(self):
        import torch

        self.torch = torch

    def asarray_like(self, a, like):
        return self.torch.as_tensor(np.asarray(a), dtype=like.dtype, device=like.device)

    def concatenate(self, arrays, axis=-1):
        return self.torch.cat(list(arrays), dim=axis)

    def zeros(self, shape, like):
        return self.torch.zeros(shape, dtype=like.dtype, device=like.device)

    def pad_last2(self, x, pad_h, pad_w):
        if pad_h == 0 and pad_w == 0:
            return x
        return self.torch.nn.functional.pad(x, (0, pad_w, 0, pad_h))

    def _dct_last(self, x):
        # Orthonormal DCT-II through one FFT of length 2N (Makhoul's mirror trick).
        torch = self.torch
        n = x.shape[-1]
        v = torch.cat([x, torch.flip(x, dims=[-1])], dim=-1)
        V = torch.fft.fft(v, dim=-1)[..., :n]
        k = torch.arange(n, device=x.device, dtype=x.dtype)
        phase = torch.exp(torch.complex(torch.zeros_like(k), -np.pi * k / (2 * n)))
        X = 0.5 * torch.real(V * phase)
        scale = torch.full((n,), np.sqrt(2.0 / n), dtype=x.dtype, device=x.device)
        scale[0] = np.sqrt(1.0 / n)
        return X * scale

    def _idct_last(self, X):
        # Transpose (= inverse) of the orthonormal DCT-II, through one inverse FFT.
        torch = self.torch
        n = X.shape[-1]
        scale = torch.full((n,), np.sqrt(2.0 / n), dtype=X.dtype, device=X.device)
        scale[0] = np.sqrt(1.0 / n)
        c = X * scale
        k = torch.arange(n, device=X.device, dtype=X.dtype)
        phase = torch.exp(torch.complex(torch.zeros_like(k), np.pi * k / (2 * n)))
        V = c * phase
        x = torch.fft.ifft(V, n=2 * n, dim=-1)[..., :n]
        return torch.real(x) * (2 * n)

    def dct(self, x, axis=-1):
        if axis in (-1, x.ndim - 1):
            return self._dct_last(x)
        return self._dct_last(x.transpose(axis, -1)).transpose(axis, -1)

    def idct(self, x, axis=-1):
        if axis in (-1, x.ndim - 1):
            return self._idct_last(x)
        return self._idct_last(x.transpose(axis, -1)).transpose(axis, -1)

    def rfft(self, x):
        return self.torch.fft.rfft(x, norm="ortho", dim=-1)

    def irfft(self, X, n):
        return self.torch.fft.irfft(X, n=n, norm="ortho", dim=-1)

    def complex(self, re, im):
        return self.torch.complex(re, im)

    def real(self, z):
        return self.torch.real(z)

    def imag(self, z):
        return self.torch.imag(z)

    def swapaxes(self, x, a, b):
        return x.transpose(a, b)

    def stack(self, arrays, axis=-1):
        return self.torch.stack(list(arrays), dim=axis)

    def take(self, x, index):
        return x[..., self.torch.as_tensor(index, device=x.device)]

    def scatter(self, y, index, n):
        out = self.torch.zeros(y.shape[:-1] + (n,), dtype=y.dtype, device=y.device)
        out[..., self.torch.as_tensor(index, device=y.device)] = y
        return out


_NUMPY = _NumpyBackend()
_TORCH = None


def backend_of(x):
    """The backend namespace for an array (NumPy) or a tensor (torch)."""
    global _TORCH
    if is_torch(x):
        if _TORCH is None:
            _TORCH = _TorchBackend()
        return _TORCH
    return _NUMPY
