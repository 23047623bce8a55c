"""The linear-operator type shared by the classic solvers and the torch networks.

Conventions (samples in rows, as everywhere in sparsecode): an operator ``A`` of
``shape = (n_out, n_in)`` maps a batch ``x`` of shape ``(..., n_in)`` to
``A.forward(x)`` of shape ``(..., n_out)``, i.e. ``x @ A.T`` for an explicit matrix
``A``; ``A.adjoint(y)`` maps ``(..., n_out)`` to ``(..., n_in)`` (``y @ A``).
NumPy in gives NumPy out, a torch tensor in gives a torch tensor out on the same
device and in the same dtype.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..utils._validation import check_positive_int, check_random_state
from ._backend import backend_of, is_torch

#: Largest ``n_out * n_in`` that :meth:`LinearOperator.to_matrix` builds by default.
MAX_MATRIX_SIZE = 2**25


def _check_batch(x, n, name, op):
    """Validate the last axis of a batch (NumPy or torch) and fix its dtype."""
    if is_torch(x):
        if x.ndim < 1 or x.shape[-1] != n:
            raise ValueError(
                f"{name} must have shape (..., {n}) for {op!r}, got a tensor of shape "
                f"{tuple(x.shape)}."
            )
        if x.is_complex():
            raise TypeError(f"{name} must be real; complex tensors are not supported.")
        if not x.is_floating_point():
            import torch

            x = x.to(torch.float64)
        return x
    if hasattr(x, "toarray"):
        raise TypeError(f"{name} must be a dense array; sparse matrices are not supported.")
    x = np.asarray(x)
    if np.iscomplexobj(x):
        raise TypeError(f"{name} must be real; complex dtype {x.dtype} is not supported.")
    if x.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a numeric array, got dtype {x.dtype}.")
    if x.ndim < 1 or x.shape[-1] != n:
        raise ValueError(
            f"{name} must have shape (..., {n}) for {op!r}, got an array of shape {x.shape}."
        )
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    return x


def _check_scalar(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise TypeError(f"{name} must be a finite real number, got {value!r}.")
    return float(value)


class LinearOperator:
    r"""A linear map :math:`A : \mathbb{R}^{n_{in}} \to \mathbb{R}^{n_{out}}`.

    Subclasses implement ``_forward(x, xp)`` and ``_adjoint(y, xp)`` on a batch whose
    last axis has already been checked; ``xp`` is the backend namespace (NumPy/SciPy or
    torch). Everything else -- validation, composition, scaling, stacking, explicit
    matrix, Lipschitz constant, dot test -- is provided here.

    Parameters
    ----------
    shape : tuple of int (n_out, n_in)
        Output and input sizes.
    dtype : numpy dtype, default=np.float64
        The operator's native precision (of its stored matrix, if any). Inputs are
        computed in their own float dtype: float32 in, float32 out.

    Notes
    -----
    ``A @ B`` composes (``(A @ B).forward(x) == A.forward(B.forward(x))``), ``c * A``
    scales, ``A + B`` adds, ``A.T`` is the adjoint operator, and :func:`vstack` /
    :func:`hstack` stack operators. ``A @ v`` for a 1-D array ``v`` is ``A.forward(v)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.operators import from_matrix
    >>> A = from_matrix(np.arange(6.0).reshape(2, 3))
    >>> A.forward(np.ones(3)).tolist()
    [3.0, 12.0]
    >>> A.adjoint(np.array([1.0, 0.0])).tolist()
    [0.0, 1.0, 2.0]
    """

    def __init__(self, shape, dtype=np.float64):
        if len(shape) != 2:
            raise ValueError(f"shape must be a pair (n_out, n_in), got {shape!r}.")
        n_out = check_positive_int(shape[0], "shape[0] (n_out)")
        n_in = check_positive_int(shape[1], "shape[1] (n_in)")
        self.shape = (n_out, n_in)
        self.dtype = np.dtype(dtype)
        self._lipschitz_cache = {}

    # ------------------------------------------------------------------ apply
    def forward(self, x):
        """Apply the operator: ``(..., n_in) -> (..., n_out)``."""
        x = _check_batch(x, self.shape[1], "x", self)
        return self._forward(x, backend_of(x))

    def adjoint(self, y):
        """Apply the adjoint: ``(..., n_out) -> (..., n_in)``."""
        y = _check_batch(y, self.shape[0], "y", self)
        return self._adjoint(y, backend_of(y))

    __call__ = forward

    def _forward(self, x, xp):  # pragma: no cover - abstract
        raise NotImplementedError

    def _adjoint(self, y, xp):  # pragma: no cover - abstract
        raise NotImplementedError

    # ----------------------------------------------------------- properties
    @property
    def T(self):
        """The adjoint as an operator of shape ``(n_in, n_out)``."""
        return AdjointOperator(self)

    H = T

    def to_matrix(self, *, max_size=MAX_MATRIX_SIZE):
        """The explicit matrix of shape ``(n_out, n_in)`` (applies the operator to I).

        Raises ValueError if ``n_out * n_in`` exceeds ``max_size``.
        """
        n_out, n_in = self.shape
        if n_out * n_in > max_size:
            raise ValueError(
                f"to_matrix: the matrix of {self!r} has {n_out * n_in} entries, more than "
                f"max_size={max_size}; pass a larger max_size to build it anyway."
            )
        return np.ascontiguousarray(self.forward(np.eye(n_in, dtype=self.dtype)).T)

    def _exact_lipschitz(self):
        """Exact ||A||_2^2 where known in closed form, else None."""
        return None

    def lipschitz(self, *, max_iter=200, tol=1e-9, random_state=0):
        r"""Lipschitz constant :math:`L = \|A\|_2^2` of :math:`\nabla \tfrac12\|Ax-y\|^2`.

        Estimated by power iteration on :math:`A^\top A` from a seeded start (exact for
        operators with orthonormal rows). The estimate approaches :math:`L` from below;
        solvers add their own safety margin.

        Parameters
        ----------
        max_iter : int, default=200
            Maximal number of power iterations.
        tol : float, default=1e-9
            Relative change of the estimate at which iterations stop.
        random_state : int, default=0
            Seed of the start vector.

        Returns
        -------
        L : float
        """
        exact = self._exact_lipschitz()
        if exact is not None:
            return float(exact)
        key = (max_iter, tol, random_state)
        if key in self._lipschitz_cache:
            return self._lipschitz_cache[key]
        rng = check_random_state(random_state)
        v = rng.standard_normal(self.shape[1])
        v /= np.linalg.norm(v)
        lam = 0.0
        for _ in range(max_iter):
            w = self.adjoint(self.forward(v))
            lam_new = float(np.linalg.norm(w))
            if lam_new == 0.0:
                lam = 0.0
                break
            v = w / lam_new
            if abs(lam_new - lam) <= tol * lam_new:
                lam = lam_new
                break
            lam = lam_new
        self._lipschitz_cache[key] = lam
        return lam

    def dot_test(self, rng=None, *, n_samples=2, rtol=1e-10, return_error=False):
        r"""Check :math:`\langle Ax, y\rangle = \langle x, A^\top y\rangle` on random data.

        Parameters
        ----------
        rng : int, numpy.random.Generator or None
            Source of the random ``x`` and ``y`` (float64, ``n_samples`` rows each).
        n_samples : int, default=2
            Rows in the batch (checks batching at the same time).
        rtol : float, default=1e-10
            Tolerance on :math:`|\langle Ax,y\rangle - \langle x,A^\top y\rangle|`
            relative to :math:`\|Ax\|\|y\| + \|x\|\|A^\top y\|`.
        return_error : bool, default=False
            Return the relative error instead of the boolean verdict.

        Returns
        -------
        passed : bool, or error : float with ``return_error=True``.
        """
        rng = np.random.default_rng(rng)
        x = rng.standard_normal((n_samples, self.shape[1]))
        y = rng.standard_normal((n_samples, self.shape[0]))
        Ax = np.asarray(self.forward(x), dtype=np.float64)
        Aty = np.asarray(self.adjoint(y), dtype=np.float64)
        lhs = float(np.sum(Ax * y))
        rhs = float(np.sum(x * Aty))
        scale = np.linalg.norm(Ax) * np.linalg.norm(y) + np.linalg.norm(x) * np.linalg.norm(Aty)
        err = abs(lhs - rhs) / scale if scale > 0 else abs(lhs - rhs)
        return err if return_error else bool(err <= rtol)

    # --------------------------------------------------------------- algebra
    def compose(self, other):
        """``self ∘ other``: first ``other``, then ``self``."""
        return ComposedOperator(self, other)

    def __matmul__(self, other):
        if isinstance(other, LinearOperator):
            return ComposedOperator(self, other)
        if is_torch(other) or isinstance(other, np.ndarray):
            if other.ndim == 1:
                return self.forward(other)
            raise ValueError(
                "A @ array is only defined for 1-D arrays (A.forward(v)); for a batch in "
                "rows use A.forward(X), for a matrix M use A @ from_matrix(M)."
            )
        return NotImplemented

    def __mul__(self, scalar):
        if isinstance(scalar, numbers.Real) and not isinstance(scalar, bool):
            return ScaledOperator(self, scalar)
        return NotImplemented

    __rmul__ = __mul__

    def __truediv__(self, scalar):
        if isinstance(scalar, numbers.Real) and not isinstance(scalar, bool):
            if scalar == 0:
                raise ZeroDivisionError("cannot divide an operator by zero.")
            return ScaledOperator(self, 1.0 / scalar)
        return NotImplemented

    def __neg__(self):
        return ScaledOperator(self, -1.0)

    def __add__(self, other):
        if isinstance(other, LinearOperator):
            return SumOperator(self, other)
        return NotImplemented

    def __sub__(self, other):
        if isinstance(other, LinearOperator):
            return SumOperator(self, ScaledOperator(other, -1.0))
        return NotImplemented

    def __repr__(self):
        return f"{type(self).__name__}(shape={self.shape})"


class AdjointOperator(LinearOperator):
    """The adjoint ``A.T`` of an operator, as an operator."""

    def __init__(self, operator):
        super().__init__(operator.shape[::-1], operator.dtype)
        self.operator = operator

    def _forward(self, x, xp):
        return self.operator._adjoint(x, xp)

    def _adjoint(self, y, xp):
        return self.operator._forward(y, xp)

    @property
    def T(self):
        return self.operator

    def _exact_lipschitz(self):
        return self.operator._exact_lipschitz()

    def __repr__(self):
        return f"{self.operator!r}.T"


class ComposedOperator(LinearOperator):
    """``outer ∘ inner``: ``forward(x) = outer.forward(inner.forward(x))``."""

    def __init__(self, outer, inner):
        if not isinstance(outer, LinearOperator) or not isinstance(inner, LinearOperator):
            raise TypeError("compose: both factors must be LinearOperator instances.")
        if outer.shape[1] != inner.shape[0]:
            raise ValueError(
                f"compose: mismatched operator shapes, cannot apply {outer!r} (n_in="
                f"{outer.shape[1]}) after {inner!r} (n_out={inner.shape[0]})."
            )
        super().__init__((outer.shape[0], inner.shape[1]), np.result_type(outer.dtype, inner.dtype))
        self.outer, self.inner = outer, inner

    def _forward(self, x, xp):
        return self.outer._forward(self.inner._forward(x, xp), xp)

    def _adjoint(self, y, xp):
        return self.inner._adjoint(self.outer._adjoint(y, xp), xp)

    def _exact_lipschitz(self):
        # Products of operators with orthonormal rows/columns: ||AB|| <= ||A|| ||B||
        # is only an equality in special cases, so nothing exact here.
        return None

    def __repr__(self):
        return f"({self.outer!r} @ {self.inner!r})"


class ScaledOperator(LinearOperator):
    """``scale * A``."""

    def __init__(self, operator, scale):
        super().__init__(operator.shape, operator.dtype)
        self.operator = operator
        self.scale = _check_scalar(scale, "scale")

    def _forward(self, x, xp):
        return self.scale * self.operator._forward(x, xp)

    def _adjoint(self, y, xp):
        return self.scale * self.operator._adjoint(y, xp)

    def _exact_lipschitz(self):
        inner = self.operator._exact_lipschitz()
        return None if inner is None else self.scale**2 * inner

    def __repr__(self):
        return f"{self.scale!r} * {self.operator!r}"


class SumOperator(LinearOperator):
    """``A + B`` for operators of the same shape."""

    def __init__(self, first, second):
        if first.shape != second.shape:
            raise ValueError(
                f"add: mismatched operator shapes {first.shape} and {second.shape}."
            )
        super().__init__(first.shape, np.result_type(first.dtype, second.dtype))
        self.first, self.second = first, second

    def _forward(self, x, xp):
        return self.first._forward(x, xp) + self.second._forward(x, xp)

    def _adjoint(self, y, xp):
        return self.first._adjoint(y, xp) + self.second._adjoint(y, xp)

    def __repr__(self):
        return f"({self.first!r} + {self.second!r})"


def _check_operators(operators, name):
    operators = list(operators)
    if not operators:
        raise ValueError(f"{name}: at least one operator is needed.")
    for i, op in enumerate(operators):
        if not isinstance(op, LinearOperator):
            raise TypeError(f"{name}: operators[{i}] is {type(op).__name__}, not a LinearOperator.")
    return operators


class VStackOperator(LinearOperator):
    """Operators stacked vertically: same input, outputs concatenated."""

    def __init__(self, operators):
        operators = _check_operators(operators, "vstack")
        n_in = {op.shape[1] for op in operators}
        if len(n_in) != 1:
            raise ValueError(
                "vstack: mismatched operator shapes, every operator needs the same n_in; got "
                f"shapes {[op.shape for op in operators]}."
            )
        super().__init__(
            (sum(op.shape[0] for op in operators), n_in.pop()),
            np.result_type(*[op.dtype for op in operators]),
        )
        self.operators = operators
        self._splits = np.cumsum([0] + [op.shape[0] for op in operators])

    def _forward(self, x, xp):
        return xp.concatenate([op._forward(x, xp) for op in self.operators], axis=-1)

    def _adjoint(self, y, xp):
        s = self._splits
        out = None
        for i, op in enumerate(self.operators):
            part = op._adjoint(y[..., s[i] : s[i + 1]], xp)
            out = part if out is None else out + part
        return out

    def __repr__(self):
        return f"vstack({self.operators!r})"


class HStackOperator(LinearOperator):
    """Operators stacked horizontally: inputs concatenated, outputs summed."""

    def __init__(self, operators):
        operators = _check_operators(operators, "hstack")
        n_out = {op.shape[0] for op in operators}
        if len(n_out) != 1:
            raise ValueError(
                "hstack: mismatched operator shapes, every operator needs the same n_out; got "
                f"shapes {[op.shape for op in operators]}."
            )
        super().__init__(
            (n_out.pop(), sum(op.shape[1] for op in operators)),
            np.result_type(*[op.dtype for op in operators]),
        )
        self.operators = operators
        self._splits = np.cumsum([0] + [op.shape[1] for op in operators])

    def _forward(self, x, xp):
        s = self._splits
        out = None
        for i, op in enumerate(self.operators):
            part = op._forward(x[..., s[i] : s[i + 1]], xp)
            out = part if out is None else out + part
        return out

    def _adjoint(self, y, xp):
        return xp.concatenate([op._adjoint(y, xp) for op in self.operators], axis=-1)

    def __repr__(self):
        return f"hstack({self.operators!r})"


def vstack(operators):
    """Stack operators vertically: ``forward(x) = [A1 x, A2 x, ...]``.

    Parameters
    ----------
    operators : sequence of LinearOperator
        All with the same ``n_in``.

    Returns
    -------
    LinearOperator of shape ``(sum of n_out, n_in)``.
    """
    return VStackOperator(operators)


def hstack(operators):
    """Stack operators horizontally: ``forward([x1, x2, ...]) = A1 x1 + A2 x2 + ...``.

    Parameters
    ----------
    operators : sequence of LinearOperator
        All with the same ``n_out``.

    Returns
    -------
    LinearOperator of shape ``(n_out, sum of n_in)``.
    """
    return HStackOperator(operators)


def dot_test(operator, rng=None, **kwargs):
    """Module-level form of :meth:`LinearOperator.dot_test`."""
    if not isinstance(operator, LinearOperator):
        raise TypeError(f"operator must be a LinearOperator, got {type(operator).__name__}.")
    return operator.dot_test(rng, **kwargs)
