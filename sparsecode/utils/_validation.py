"""Input validation with error messages that name the argument and what was expected.

Every public function of the library validates through these helpers so that the same
mistake gets the same message everywhere. None of them modifies its input: when a
conversion is needed a copy is made, otherwise the array is returned as is (read-only
use only downstream).
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import check_random_state  # re-exported: one seeding convention

FLOAT_DTYPES = (np.float64, np.float32)


def _as_float_array(a, name, *, dtype=None, ndim=2, allow_empty=False):
    """Convert ``a`` to a C-contiguous float32/float64 array, with clear errors."""
    if a is None:
        raise TypeError(f"{name} must be an array-like of floats, got None.")
    if hasattr(a, "toarray") or hasattr(a, "tocsr"):
        raise TypeError(
            f"{name} must be a dense array; sparse matrices are not supported "
            "(call .toarray() first)."
        )
    arr = np.asarray(a)
    if arr.dtype == object:
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must contain numbers, got dtype object.") from exc
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real; complex dtype {arr.dtype} is not supported.")
    if arr.dtype.kind == "b":
        raise TypeError(f"{name} must be a float array, got boolean dtype.")
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}.")
    if arr.ndim != ndim:
        raise ValueError(
            f"{name} must be a {ndim}-D array, got an array of shape {arr.shape}."
        )
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); at least one value is needed.")
    if dtype is None:
        dtype = arr.dtype if arr.dtype in FLOAT_DTYPES else np.float64
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity; all values must be finite.")
    return arr


def check_dictionary(dictionary, *, dtype=None, name="dictionary", unit_norm=False):
    """Validate a dictionary of shape ``(n_components, n_features)``, one atom per row.

    Raises if an atom has zero norm (it could never be selected or would divide by
    zero). With ``unit_norm=True`` atoms whose norms differ from 1 raise as well.
    A linear operator (``sparsecode.operators``) mapping codes to signals, of shape
    ``(n_features, n_components)``, is accepted through its explicit matrix.
    """
    if _is_linear_operator(dictionary):
        # An operator z -> z @ D of shape (n_features, n_components): its explicit
        # matrix is D.T (solvers that need D itself, like OMP and LARS, take it this way).
        n_out, n_in = dictionary.shape
        if n_out * n_in > 2**26:
            raise ValueError(
                f"{name} is an operator of shape {dictionary.shape}, too large to form "
                "explicitly; use a solver that applies operators (fista, ista, iht)."
            )
        dictionary = np.asarray(dictionary.to_matrix()).T
    D = _as_float_array(dictionary, name, dtype=dtype, ndim=2)
    norms = np.sqrt(np.einsum("ij,ij->i", D, D, dtype=np.float64))
    tiny = np.finfo(D.dtype).tiny ** 0.5
    zero = np.flatnonzero(norms <= tiny)
    if zero.size:
        raise ValueError(
            f"{name} has {zero.size} zero-norm atom(s) (rows {zero[:5].tolist()}"
            f"{'...' if zero.size > 5 else ''}); every atom must have a nonzero norm."
        )
    if unit_norm and not np.allclose(norms, 1.0, rtol=1e-4, atol=0):
        raise ValueError(f"{name} atoms must have unit l2 norm.")
    return D


def _is_linear_operator(obj):
    return all(hasattr(obj, a) for a in ("shape", "forward", "adjoint", "to_matrix")) and \
        not isinstance(obj, np.ndarray)


def check_signals(X, *, n_features=None, dtype=None, name="X", dictionary_shape=None):
    """Validate signals of shape ``(n_samples, n_features)``.

    With ``dictionary_shape`` (the shape of a dense dictionary, atoms in rows), a
    dictionary that looks transposed -- its number of *rows* matches the width of
    ``X`` -- is blamed by name and shape instead of ``X``.
    """
    X = _as_float_array(X, name, dtype=dtype, ndim=2)
    if n_features is not None and X.shape[1] != n_features:
        check_not_transposed(dictionary_shape, X.shape[1], name=name)
        raise ValueError(
            f"{name} has {X.shape[1]} features per sample but the dictionary has "
            f"{n_features}; X must have shape (n_samples, {n_features})."
        )
    return X


def check_not_transposed(dictionary_shape, n_features, *, name="X"):
    """Raise if a dictionary of ``dictionary_shape`` looks transposed for signals of
    ``n_features`` (its rows, not its columns, match)."""
    if dictionary_shape is None:
        return
    n_rows, n_cols = dictionary_shape
    if n_rows == n_features and n_cols != n_features:
        raise ValueError(
            f"dictionary has shape {tuple(dictionary_shape)} but {name} has {n_features} "
            f"features per sample: the dictionary looks transposed. Atoms go in rows, "
            f"shape (n_components, n_features); pass dictionary.T (shape "
            f"({n_cols}, {n_rows}))."
        )


def check_n_nonzero_coefs(n_nonzero_coefs, n_components, *, name="n_nonzero_coefs"):
    """Validate a sparsity level: an integer in ``[1, n_components]`` (or None)."""
    if n_nonzero_coefs is None:
        return None
    if isinstance(n_nonzero_coefs, bool) or not isinstance(n_nonzero_coefs, numbers.Integral):
        raise TypeError(
            f"{name} must be an integer in [1, {n_components}], got "
            f"{type(n_nonzero_coefs).__name__} {n_nonzero_coefs!r}."
        )
    if not 1 <= n_nonzero_coefs <= n_components:
        raise ValueError(
            f"{name} must be in [1, n_components={n_components}], got {n_nonzero_coefs}."
        )
    return int(n_nonzero_coefs)


def check_tol(tol, *, name="tol"):
    """Validate a non-negative finite tolerance (or None)."""
    if tol is None:
        return None
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real):
        raise TypeError(f"{name} must be a non-negative float or None, got {tol!r}.")
    tol = float(tol)
    if not np.isfinite(tol) or tol < 0:
        raise ValueError(f"{name} must be a non-negative finite float, got {tol}.")
    return tol


def check_positive_int(value, name, *, minimum=1):
    """Validate an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}.")
    return int(value)


def result_dtype(*arrays):
    """float32 if every array is float32, float64 otherwise (scikit-learn's rule)."""
    for a in arrays:
        if np.asarray(a).dtype != np.float32:
            return np.float64
    return np.float32


def check_alpha(alpha, name="alpha"):
    """Validate a non-negative finite penalty weight."""
    if alpha is None or isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"{name} must be a non-negative float, got {alpha!r}.")
    alpha = float(alpha)
    if not np.isfinite(alpha) or alpha < 0:
        raise ValueError(f"{name} must be a non-negative finite float, got {alpha}.")
    return alpha


def check_bool(value, name):
    """Validate a boolean flag (Python or NumPy bool)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}.")
    return bool(value)
