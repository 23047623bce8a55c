r"""Structured random sensing operators applied by fast transforms.

``A = S T diag(s)``: random signs ``s``, an orthonormal fast transform ``T`` (DCT-II,
Walsh--Hadamard or the real Fourier transform), and the selection ``S`` of
``n_measurements`` of its rows at random. ``A`` has orthonormal rows (for Hadamard
when ``n_features`` is a power of two) and costs :math:`O(n \log n)` per signal
instead of :math:`O(mn)`.

References
----------
E. J. Candès, J. Romberg, T. Tao, "Robust uncertainty principles: exact signal
reconstruction from highly incomplete frequency information", IEEE Trans. Inf. Theory
52(2), 2006. doi:10.1109/TIT.2005.862083
T. T. Do, L. Gan, N. H. Nguyen, T. D. Tran, "Fast and efficient compressive sensing
using structurally random matrices", IEEE Trans. Signal Process. 60(1), 2012.
doi:10.1109/TSP.2011.2170977
"""

from __future__ import annotations

import numpy as np

from ..utils._validation import check_positive_int
from ._base import LinearOperator
from ._dense import _resolve_seed

_SQRT2 = float(np.sqrt(2.0))


class _SubsampledTransform(LinearOperator):
    #: Length of the transform for an input of ``n_features`` entries.
    def _transform_size(self, n_features):
        return n_features

    def __init__(self, n_measurements, n_features, *, random_state=None, dtype=np.float64):
        n_measurements = check_positive_int(n_measurements, "n_measurements")
        n_features = check_positive_int(n_features, "n_features")
        size = self._transform_size(n_features)
        if n_measurements > size:
            raise ValueError(
                f"n_measurements must be <= {size} (rows of the transform), got {n_measurements}."
            )
        super().__init__((n_measurements, n_features), dtype)
        self.n_measurements, self.n_features = n_measurements, n_features
        self.random_state = random_state
        self.seed = _resolve_seed(random_state)
        self._size = size
        rng = np.random.default_rng(self.seed)
        #: Random signs, shape (n_features,).
        self.signs = rng.choice(np.array([-1.0, 1.0]), size=n_features)
        #: Selected rows of the transform, sorted, shape (n_measurements,).
        self.rows = np.sort(rng.choice(size, size=n_measurements, replace=False))

    def _signs(self, like, xp):
        return xp.asarray_like(self.signs, like)

    def _forward(self, x, xp):
        return xp.take(self._transform(x * self._signs(x, xp), xp), self.rows)

    def _adjoint(self, y, xp):
        full = xp.scatter(y, self.rows, self._size)
        return self._inverse(full, xp) * self._signs(y, xp)

    def _exact_lipschitz(self):
        return 1.0 if self._size == self.n_features else None

    def __repr__(self):
        return (f"{type(self).__name__}(n_measurements={self.n_measurements}, "
                f"n_features={self.n_features}, seed={self.seed})")


class SubsampledDCTOperator(_SubsampledTransform):
    r"""Randomly subsampled orthonormal DCT-II with random signs (``scipy.fft.dct``).

    Parameters
    ----------
    n_measurements : int
        Number of DCT coefficients kept (``<= n_features``).
    n_features : int
        Signal length.
    random_state : int, Generator, RandomState or None, default=None
        Seed of the signs and of the row selection (kept in :attr:`seed`).
    dtype : numpy dtype, default=np.float64

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.operators import SubsampledDCTOperator
    >>> A = SubsampledDCTOperator(16, 64, random_state=0)
    >>> np.allclose(A.to_matrix() @ A.to_matrix().T, np.eye(16))
    True
    """

    def _transform(self, x, xp):
        return xp.dct(x)

    def _inverse(self, X, xp):
        return xp.idct(X)


def _fwht(x, xp):
    """Orthonormal fast Walsh--Hadamard transform (natural order) along the last axis."""
    n = x.shape[-1]
    lead = tuple(x.shape[:-1])
    h = 1
    while h < n:
        y = x.reshape(lead + (n // (2 * h), 2, h))
        a, b = y[..., 0, :], y[..., 1, :]
        x = xp.stack([a + b, a - b], axis=-2).reshape(lead + (n,))
        h *= 2
    return x * float(1.0 / np.sqrt(n))


class SubsampledHadamardOperator(_SubsampledTransform):
    r"""Randomly subsampled Walsh--Hadamard transform with random signs.

    The signal is zero-padded to the next power of two :math:`N`, transformed by the
    orthonormal fast Walsh--Hadamard transform (natural/Hadamard order, the order of
    ``scipy.linalg.hadamard``) in :math:`O(N\log N)`, and ``n_measurements`` of the
    :math:`N` coefficients are kept. Rows are orthonormal when ``n_features`` is a
    power of two.

    Parameters are those of :class:`SubsampledDCTOperator` (``n_measurements <= N``).
    """

    def _transform_size(self, n_features):
        return 1 << (int(n_features) - 1).bit_length()

    def _transform(self, x, xp):
        pad = self._size - self.n_features
        if pad:
            x = xp.concatenate([x, xp.zeros(tuple(x.shape[:-1]) + (pad,), like=x)], axis=-1)
        return _fwht(x, xp)

    def _inverse(self, X, xp):
        return _fwht(X, xp)[..., : self.n_features]


class SubsampledFourierOperator(_SubsampledTransform):
    r"""Randomly subsampled real Fourier transform with random signs (``scipy.fft.rfft``).

    The orthonormal real Fourier basis of :math:`\mathbb R^n` is used: the DC term,
    :math:`\sqrt2\,\mathrm{Re}` and :math:`\sqrt2\,\mathrm{Im}` of the frequencies
    :math:`1..\lceil n/2\rceil-1`, and the Nyquist term for even :math:`n`, i.e. the
    partial Fourier measurements of MRI-style CS written as real numbers; coefficient
    ``k`` of the transform is row ``k`` of that orthonormal matrix, and
    ``n_measurements`` rows are kept at random.

    Parameters are those of :class:`SubsampledDCTOperator`.
    """

    def _transform(self, x, xp):
        n = self.n_features
        K = (n - 1) // 2
        X = xp.rfft(x)
        re, im = xp.real(X), xp.imag(X)
        parts = [re[..., :1], _SQRT2 * re[..., 1 : K + 1]]
        if n % 2 == 0:
            parts.append(re[..., n // 2 : n // 2 + 1])
        parts.append(_SQRT2 * im[..., 1 : K + 1])
        return xp.concatenate(parts, axis=-1)

    def _inverse(self, v, xp):
        n = self.n_features
        K = (n - 1) // 2
        even = n % 2 == 0
        zero = v[..., :1] * 0.0
        re_parts = [v[..., :1], v[..., 1 : K + 1] / _SQRT2]
        im_parts = [zero, v[..., K + 1 + even :] / _SQRT2]
        if even:
            re_parts.append(v[..., K + 1 : K + 2])
            im_parts.append(zero)
        X = xp.complex(xp.concatenate(re_parts, axis=-1), xp.concatenate(im_parts, axis=-1))
        return xp.irfft(X, n)
