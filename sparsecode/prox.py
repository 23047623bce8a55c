r"""Proximal operators and projections: small public functions, one dispatcher.

Every function acts on the last axis of ``x`` (a coefficient vector per row) and
returns a new array of the same shape; float32 stays float32, everything else becomes
float64. The input is never modified. Thresholds may be a scalar, one value per
coefficient (shape ``(n,)``), one per row (shape ``x.shape[:-1] + (1,)``) or anything
broadcastable to ``x``; row-wise operators (group, top-k, balls) take per-row values
only.

=============== ============================================================================ ======
mode            operator                                                                     convex
=============== ============================================================================ ======
``soft``        :math:`\mathrm{prox}_{t\|\cdot\|_1}`: :math:`\mathrm{sign}(z)\max(|z|-t, 0)` yes
``hard``        :math:`z\,[|z| > t]` (prox of :math:`\frac{t^2}{2}\|\cdot\|_0`)              no
``nonneg_soft`` :math:`\max(z - t, 0)` (l1 plus :math:`z \ge 0`)                             yes
``elastic_net`` prox of :math:`t(\rho|z| + \frac{1-\rho}{2} z^2)`                            yes
``group_soft``  prox of :math:`t\sum_g \|z_g\|_2` (block soft thresholding)                  yes
``top_k``       keep the :math:`k` largest :math:`|z_j|` of each row                         no
``l1_ball``     projection on :math:`\{\|z\|_1 \le r\}`                                      yes
``l2_ball``     projection on :math:`\{\|z\|_2 \le r\}`                                      yes
=============== ============================================================================ ======

Examples
--------
>>> import numpy as np
>>> from sparsecode.prox import threshold
>>> threshold(np.array([-2.0, 0.5, 3.0]), 1.0, mode="soft")
array([-1.,  0.,  2.])
>>> threshold(np.array([[3.0, 0.0, 4.0]]), 1.0, mode="l2_ball")
array([[0.6, 0. , 0.8]])
"""

from __future__ import annotations

import numbers

import numpy as np

from .kernels import prox as _k
from .utils._validation import _as_float_array

__all__ = [
    "MODES",
    "threshold",
    "soft_threshold",
    "hard_threshold",
    "nonneg_soft_threshold",
    "elastic_net_threshold",
    "group_soft_threshold",
    "top_k",
    "project_l1_ball",
    "project_l2_ball",
]

#: Valid ``mode`` names of :func:`threshold`.
MODES = ("soft", "hard", "nonneg_soft", "elastic_net", "group_soft", "top_k", "l1_ball",
         "l2_ball")


# ----------------------------------------------------------------------- validation


def _check_x(x, name="x"):
    arr = np.asarray(x) if not hasattr(x, "toarray") else x
    ndim = np.ndim(arr)
    out = _as_float_array(arr, name, ndim=ndim, allow_empty=True)
    if not out.flags.writeable:  # one compiled kernel version (Numba types read-only apart)
        out = out.copy()
    return out.reshape(np.shape(arr))  # ascontiguousarray makes 0-d arrays 1-d


def _as_2d(x, rowwise):
    """View of ``x`` as ``(n_rows, n_cols)`` (a 0-d array is one coefficient)."""
    if x.ndim == 0:
        if rowwise:
            raise ValueError("x must have at least one dimension for a row-wise operator.")
        return x.reshape(1, 1)
    return x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x


def _check_value(value, shape, name, *, per_column=True, n_cols=None):
    """Non-negative finite values broadcast to a ``(1 | n_rows, 1 | n_cols)`` array."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a non-negative float or array, got {value!r}.")
    try:
        v = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a non-negative float or array of floats, "
                        f"got {value!r}.") from exc
    if not np.isfinite(v).all():
        raise ValueError(f"{name} contains NaN or infinity; it must be finite.")
    if (v < 0).any():
        raise ValueError(f"{name} must be non-negative, got a minimum of {v.min()}.")
    shape = tuple(shape) if len(shape) else (1,)
    if n_cols is not None:
        shape = shape[:-1] + (n_cols,)
    try:
        ok = np.broadcast_shapes(v.shape, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"{name} must be a scalar or broadcastable to shape {shape}, got shape {v.shape}."
        )
    vp = v.reshape((1,) * (len(shape) - v.ndim) + v.shape)
    if vp.shape[-1] != 1 and not per_column:
        raise ValueError(
            f"{name} must be a scalar or one value per row (shape {shape[:-1] + (1,)}), "
            f"got shape {v.shape}."
        )
    m = int(np.prod(shape[:-1], dtype=np.int64))
    if any(s != 1 for s in vp.shape[:-1]):
        return np.ascontiguousarray(
            np.broadcast_to(vp, shape[:-1] + (vp.shape[-1],)).reshape(m, vp.shape[-1]))
    return np.ascontiguousarray(vp.reshape(1, vp.shape[-1]))


def _check_l1_ratio(l1_ratio):
    if isinstance(l1_ratio, bool) or not isinstance(l1_ratio, numbers.Real):
        raise TypeError(f"l1_ratio must be a float in [0, 1], got {l1_ratio!r}.")
    if not 0.0 <= float(l1_ratio) <= 1.0:
        raise ValueError(f"l1_ratio must be in [0, 1], got {l1_ratio}.")
    return float(l1_ratio)


def _check_groups(groups, n_coefs, name="groups"):
    """Integer group labels, one per coefficient -> ``(order, ptr, labels)``."""
    if groups is None:
        raise ValueError(f"{name} is required: one integer group label per coefficient.")
    g = np.asarray(groups)
    if g.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of integer labels, got shape {g.shape}.")
    if g.size and g.dtype.kind not in "iu":
        if g.dtype.kind == "f" and np.isfinite(g).all() and (g == np.round(g)).all():
            g = g.astype(np.int64)
        else:
            raise TypeError(f"{name} must contain integer labels, got dtype {g.dtype}.")
    if g.shape[0] != n_coefs:
        raise ValueError(
            f"{name} must have one label per coefficient: length {n_coefs}, got {g.shape[0]}."
        )
    return _k.group_pointers(g)


def _check_k(k, name="k"):
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"{name} must be a non-negative integer, got {k!r}.")
    if k < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {k}.")
    return int(k)


# ----------------------------------------------------------------------- public API


def _elementwise(kernel, x, value, name, *extra):
    x = _check_x(x)
    x2 = _as_2d(x, rowwise=False)
    t = _check_value(value, x.shape, name)
    out = np.empty_like(x2)
    if x2.size:
        kernel(x2, t, *extra, out)
    return out.reshape(x.shape)


def soft_threshold(x, value):
    r"""Soft thresholding, the prox of :math:`t\|z\|_1`.

    .. math:: \mathrm{soft}(x, t) = \mathrm{sign}(x)\max(|x| - t, 0)

    Parameters
    ----------
    x : array-like of shape (..., n)
    value : float or array-like broadcastable to ``x``
        Non-negative threshold(s) :math:`t` (per coefficient for weighted l1).

    Returns
    -------
    ndarray of the shape of ``x``
    """
    return _elementwise(_k.soft_threshold, x, value, "value")


def hard_threshold(x, value):
    r"""Hard thresholding: keep entries with :math:`|x| > t`, zero the others.

    The prox of :math:`\frac{t^2}{2}\|z\|_0` (not convex).
    """
    return _elementwise(_k.hard_threshold, x, value, "value")


def nonneg_soft_threshold(x, value):
    r"""Non-negative soft thresholding :math:`\max(x - t, 0)`.

    The prox of :math:`t\|z\|_1 + \iota_{z \ge 0}(z)`.
    """
    return _elementwise(_k.nonneg_soft_threshold, x, value, "value")


def elastic_net_threshold(x, value, *, l1_ratio=0.5):
    r"""Prox of the elastic net :math:`t\,(\rho\|z\|_1 + \frac{1-\rho}{2}\|z\|_2^2)`.

    .. math:: \mathrm{soft}(x, t\rho) / (1 + t(1 - \rho))

    with :math:`\rho` = ``l1_ratio`` in [0, 1] (scikit-learn's ``ElasticNet``
    convention).
    """
    l1_ratio = _check_l1_ratio(l1_ratio)
    return _elementwise(_k.elastic_net_threshold, x, value, "value", l1_ratio)


def group_soft_threshold(x, value, *, groups):
    r"""Block soft thresholding, the prox of :math:`t\sum_g \|z_g\|_2`.

    .. math:: z_g = \max\!\left(1 - \frac{t_g}{\|x_g\|_2}, 0\right) x_g

    Parameters
    ----------
    x : array-like of shape (..., n)
    value : float or array-like
        Non-negative threshold: a scalar, one per row, or one per group (last axis of
        length ``n_groups``, groups ordered by sorted label).
    groups : array-like of int, shape (n,)
        Group label of every coefficient (any integers, need not be contiguous).
    """
    x = _check_x(x)
    x2 = _as_2d(x, rowwise=True)
    order, ptr, labels = _check_groups(groups, x2.shape[1])
    t = _check_value(value, x.shape, "value", n_cols=labels.size)
    out = np.empty_like(x2)
    if x2.size:
        _k.group_soft_threshold(x2, t, order, ptr, out)
    return out.reshape(x.shape)


def top_k(x, k):
    """Keep the ``k`` entries of largest magnitude in each row (ties: lowest index)."""
    k = _check_k(k)
    x = _check_x(x)
    x2 = _as_2d(x, rowwise=True)
    out = np.empty_like(x2)
    if x2.size:
        _k.top_k(x2, k, out)
    return out.reshape(x.shape)


def _ball(kernel, x, radius):
    x = _check_x(x)
    x2 = _as_2d(x, rowwise=True)
    r = _check_value(radius, x.shape, "radius", per_column=False)
    out = np.empty_like(x2)
    if x2.size:
        kernel(x2, r, out)
    return out.reshape(x.shape)


def project_l1_ball(x, radius=1.0):
    r"""Euclidean projection of each row on the l1 ball :math:`\{\|z\|_1 \le r\}`.

    Sorting algorithm of Duchi, Shalev-Shwartz, Singer & Chandra (2008),
    doi:10.1145/1390156.1390191.
    """
    return _ball(_k.project_l1_ball, x, radius)


def project_l2_ball(x, radius=1.0):
    r"""Euclidean projection of each row on the l2 ball :math:`\{\|z\|_2 \le r\}`."""
    return _ball(_k.project_l2_ball, x, radius)


def threshold(x, value, mode="soft", *, l1_ratio=0.5, groups=None):
    r"""Apply a proximal operator or projection named by ``mode`` (last axis of ``x``).

    In the style of ``pywt.threshold``: one dispatcher over small functions.

    Parameters
    ----------
    x : array-like of shape (..., n)
        Input; never modified.
    value : float or array-like
        The threshold :math:`t` (``soft``, ``hard``, ``nonneg_soft``, ``elastic_net``,
        ``group_soft``), the number of entries kept :math:`k` (``top_k``) or the
        radius :math:`r` (``l1_ball``, ``l2_ball``).
    mode : {"soft", "hard", "nonneg_soft", "elastic_net", "group_soft", "top_k", \
            "l1_ball", "l2_ball"}, default="soft"
    l1_ratio : float in [0, 1], default=0.5
        Only for ``elastic_net``.
    groups : array-like of int, shape (n,)
        Only (and required) for ``group_soft``.

    Returns
    -------
    ndarray of the shape of ``x``; float32 for float32 input, float64 otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.prox import threshold
    >>> threshold(np.array([[3.0, -4.0, 0.1]]), 1, mode="top_k")
    array([[ 0., -4.,  0.]])
    """
    if mode == "soft":
        return soft_threshold(x, value)
    if mode == "hard":
        return hard_threshold(x, value)
    if mode == "nonneg_soft":
        return nonneg_soft_threshold(x, value)
    if mode == "elastic_net":
        return elastic_net_threshold(x, value, l1_ratio=l1_ratio)
    if mode == "group_soft":
        return group_soft_threshold(x, value, groups=groups)
    if mode == "top_k":
        return top_k(x, value)
    if mode == "l1_ball":
        return project_l1_ball(x, value)
    if mode == "l2_ball":
        return project_l2_ball(x, value)
    raise ValueError(
        f"mode must be one of {', '.join(repr(m) for m in MODES)}; got {mode!r}."
    )
