"""Operators held as explicit matrices: any matrix, a dictionary, random sensing matrices."""

from __future__ import annotations

import numbers

import numpy as np

from ..utils._validation import _as_float_array, check_positive_int
from ._base import LinearOperator


class MatrixOperator(LinearOperator):
    r"""An explicit matrix :math:`A` of shape ``(n_out, n_in)``: ``forward(x) = x @ A.T``.

    Parameters
    ----------
    matrix : array-like of shape (n_out, n_in)
        Copied as float32 or float64 (integers become float64).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.operators import MatrixOperator
    >>> A = MatrixOperator(np.eye(3)[:2])
    >>> A.forward(np.array([1.0, 2.0, 3.0])).tolist()
    [1.0, 2.0]
    """

    def __init__(self, matrix, *, name="matrix"):
        M = _as_float_array(matrix, name, ndim=2)
        if np.shares_memory(M, np.asarray(matrix)):
            M = M.copy()  # never keep (and never modify) the caller's array
        super().__init__(M.shape, M.dtype)
        self._matrix = M
        self._casts = {}

    @property
    def matrix(self):
        """The matrix of shape ``(n_out, n_in)`` (do not modify)."""
        return self._matrix

    def _cast(self, like, xp):
        M = self.matrix
        if xp.name == "numpy":
            if like.dtype == M.dtype:
                return M
            key = ("numpy", like.dtype)
        else:
            key = ("torch", like.dtype, like.device)
        if key not in self._casts:
            self._casts[key] = (M.astype(like.dtype) if xp.name == "numpy"
                                else xp.asarray_like(M, like))
        return self._casts[key]

    def _forward(self, x, xp):
        return x @ self._cast(x, xp).T

    def _adjoint(self, y, xp):
        return y @ self._cast(y, xp)

    def to_matrix(self, *, max_size=None):
        """A copy of the matrix (no size limit: it exists already)."""
        return self.matrix.copy()

    def _exact_lipschitz(self):
        # Small enough to afford the exact spectral norm.
        if self.shape[0] * self.shape[1] <= 512 * 512:
            return float(np.linalg.norm(self.matrix.astype(np.float64), 2) ** 2)
        return None


def from_matrix(matrix):
    """Wrap an explicit matrix of shape ``(n_out, n_in)`` as a :class:`MatrixOperator`."""
    if isinstance(matrix, LinearOperator):
        return matrix
    return MatrixOperator(matrix)


class DictionaryOperator(MatrixOperator):
    r"""A dictionary as a synthesis operator: ``forward(z) = z @ D``.

    For a dictionary ``D`` of shape ``(n_components, n_features)`` (one atom per row,
    the sparsecode convention) this is the operator of shape
    ``(n_features, n_components)`` mapping codes to signals, so that FISTA, IHT and
    the learned networks can treat "find z with x ≈ z D" and "find z with y ≈ A z"
    the same way.

    Parameters
    ----------
    dictionary : array-like of shape (n_components, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.operators import DictionaryOperator
    >>> D = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    >>> op = DictionaryOperator(D)
    >>> op.shape
    (3, 2)
    >>> op.forward(np.array([2.0, 3.0])).tolist()
    [2.0, 3.0, 3.0]
    """

    def __init__(self, dictionary):
        super().__init__(np.asarray(dictionary).T if _is_2d(dictionary) else dictionary,
                         name="dictionary")
        self.dictionary = self._matrix.T  # view, (n_components, n_features)

    def __repr__(self):
        return f"DictionaryOperator(n_components={self.shape[1]}, n_features={self.shape[0]})"


def _is_2d(a):
    try:
        return np.ndim(a) == 2
    except Exception:  # pragma: no cover - let validation report it
        return False


def _resolve_seed(random_state):
    """An integer seed from ``random_state`` (int, Generator, RandomState or None)."""
    if random_state is None:
        return int(np.random.SeedSequence().entropy % (2**63))
    if isinstance(random_state, bool):
        raise TypeError(f"random_state must be an int, a Generator or None, got {random_state!r}.")
    if isinstance(random_state, numbers.Integral):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative integer, got {random_state}.")
        return int(random_state)
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**63))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31))
    raise TypeError(
        f"random_state must be an int, a numpy Generator/RandomState or None, got "
        f"{type(random_state).__name__}."
    )


class _RandomMatrixOperator(MatrixOperator):
    """Base of the seeded random sensing matrices (drawn lazily, reproducible)."""

    def __init__(self, n_measurements, n_features, *, random_state=None, dtype=np.float64):
        n_measurements = check_positive_int(n_measurements, "n_measurements")
        n_features = check_positive_int(n_features, "n_features")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}.")
        LinearOperator.__init__(self, (n_measurements, n_features), dtype)
        self.n_measurements, self.n_features = n_measurements, n_features
        self.random_state = random_state
        #: The integer seed the matrix is drawn from: ``type(op)(m, n,
        #: random_state=op.seed)`` reproduces it exactly.
        self.seed = _resolve_seed(random_state)
        self._matrix = None
        self._casts = {}

    @property
    def matrix(self):
        if self._matrix is None:
            self._matrix = self.draw()
        return self._matrix

    def draw(self):
        """Draw the matrix again from :attr:`seed` (the same matrix every time)."""
        rng = np.random.default_rng(self.seed)
        return np.ascontiguousarray(self._draw(rng), dtype=self.dtype)

    def __repr__(self):
        return (f"{type(self).__name__}(n_measurements={self.n_measurements}, "
                f"n_features={self.n_features}, seed={self.seed})")


class GaussianOperator(_RandomMatrixOperator):
    r"""Gaussian sensing matrix, i.i.d. entries :math:`\mathcal N(0, 1/m)`.

    With this scaling :math:`\mathbb E\|Ax\|^2 = \|x\|^2` and the columns have unit
    norm on average (the classic compressed-sensing ensemble).

    Parameters
    ----------
    n_measurements : int
        Number of rows ``m``.
    n_features : int
        Number of columns ``n``.
    random_state : int, Generator, RandomState or None, default=None
        Seed; the resolved integer is kept in :attr:`seed`.
    dtype : {np.float64, np.float32}, default=np.float64

    Examples
    --------
    >>> from sparsecode.operators import GaussianOperator
    >>> A = GaussianOperator(20, 50, random_state=0)
    >>> bool((A.to_matrix() == GaussianOperator(20, 50, random_state=A.seed).to_matrix()).all())
    True
    """

    def _draw(self, rng):
        return rng.standard_normal(self.shape) / np.sqrt(self.shape[0])


class BernoulliOperator(_RandomMatrixOperator):
    r"""Bernoulli (Rademacher) sensing matrix, i.i.d. entries :math:`\pm 1/\sqrt m`.

    Parameters are those of :class:`GaussianOperator`.
    """

    def _draw(self, rng):
        return rng.choice(np.array([-1.0, 1.0]), size=self.shape) / np.sqrt(self.shape[0])


class OrthogonalGaussianOperator(_RandomMatrixOperator):
    r"""Gaussian matrix with orthonormalised rows (:math:`AA^\top = I_m`).

    The block-CS sensing matrix of ReconNet / ISTA-Net: a Gaussian draw whose rows are
    orthonormalised by a QR factorisation. Its Lipschitz constant is exactly 1 and
    :math:`A^\top y` is the least-squares (minimum-norm) back-projection.

    Parameters are those of :class:`GaussianOperator`; requires
    ``n_measurements <= n_features``.

    References
    ----------
    J. Zhang, B. Ghanem, "ISTA-Net: Interpretable optimization-inspired deep network
    for image compressive sensing", CVPR 2018. doi:10.1109/CVPR.2018.00196
    """

    def __init__(self, n_measurements, n_features, *, random_state=None, dtype=np.float64):
        super().__init__(n_measurements, n_features, random_state=random_state, dtype=dtype)
        if self.n_measurements > self.n_features:
            raise ValueError(
                f"n_measurements must be <= n_features={self.n_features} for orthonormal "
                f"rows, got {self.n_measurements}."
            )

    def _draw(self, rng):
        G = rng.standard_normal(self.shape[::-1])  # (n, m)
        Q, R = np.linalg.qr(G)
        Q *= np.sign(np.diag(R))  # the Haar-distributed orthonormal frame
        return Q.T

    def _exact_lipschitz(self):
        return 1.0
