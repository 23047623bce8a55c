"""Proximal operators and projections, row-wise on 2-D arrays.

Every kernel works on a C-contiguous array ``x`` of shape ``(n_rows, n_cols)`` and
writes into ``out`` (same shape and dtype; ``out`` may be ``x`` itself except for
:func:`top_k`). Thresholds
``t`` are 2-D arrays that broadcast against ``x``: shape ``(1, 1)`` (one value),
``(1, n_cols)`` (per coefficient), ``(n_rows, 1)`` (per row) or ``(n_rows, n_cols)``.
Row-wise operators (group, top-k, balls) take per-row values only.

Groups are given in compressed form: ``order`` lists the coefficient indices sorted by
group and ``ptr`` (length ``n_groups + 1``) delimits each group in ``order``
(see :func:`group_pointers`).

Each kernel has a plain-NumPy ``*_reference`` twin used by the tests.
"""

from __future__ import annotations

import math

import numpy as np

from .._jit import jit


def group_pointers(groups):
    """Compressed group structure from one integer label per coefficient.

    Returns ``(order, ptr, labels)``: coefficient indices sorted by group (stable),
    the group boundaries in ``order`` and the sorted distinct labels.
    """
    labels, inverse = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(inverse, kind="stable").astype(np.int64)
    counts = np.bincount(inverse, minlength=labels.size)
    ptr = np.zeros(labels.size + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    return order, ptr, labels


# --------------------------------------------------------------------------- Numba


@jit
def soft_threshold(x, t, out):
    """``out = sign(x) * max(|x| - t, 0)``."""
    m, n = x.shape
    rs = 1 if t.shape[0] > 1 else 0
    cs = 1 if t.shape[1] > 1 else 0
    for i in range(m):
        ti = i * rs
        for j in range(n):
            v = x[i, j]
            a = abs(v) - t[ti, j * cs]
            out[i, j] = math.copysign(a, v) if a > 0 else 0.0
    return out


@jit
def nonneg_soft_threshold(x, t, out):
    """``out = max(x - t, 0)`` (prox of ``t*|z| + indicator(z >= 0)``)."""
    m, n = x.shape
    rs = 1 if t.shape[0] > 1 else 0
    cs = 1 if t.shape[1] > 1 else 0
    for i in range(m):
        ti = i * rs
        for j in range(n):
            a = x[i, j] - t[ti, j * cs]
            out[i, j] = a if a > 0 else 0.0
    return out


@jit
def hard_threshold(x, t, out):
    """``out = x * (|x| > t)``."""
    m, n = x.shape
    rs = 1 if t.shape[0] > 1 else 0
    cs = 1 if t.shape[1] > 1 else 0
    for i in range(m):
        ti = i * rs
        for j in range(n):
            v = x[i, j]
            out[i, j] = v if abs(v) > t[ti, j * cs] else 0.0
    return out


@jit
def elastic_net_threshold(x, t, l1_ratio, out):
    """Prox of ``t * (l1_ratio*|z| + (1 - l1_ratio)/2 * z**2)``."""
    m, n = x.shape
    rs = 1 if t.shape[0] > 1 else 0
    cs = 1 if t.shape[1] > 1 else 0
    for i in range(m):
        ti = i * rs
        for j in range(n):
            tv = t[ti, j * cs]
            v = x[i, j]
            a = abs(v) - tv * l1_ratio
            out[i, j] = math.copysign(a, v) / (1.0 + tv * (1.0 - l1_ratio)) if a > 0 else 0.0
    return out


@jit
def group_soft_threshold(x, t, order, ptr, out):
    """Block soft thresholding: each group ``g`` scaled by ``max(1 - t/||x_g||, 0)``.

    ``t`` has shape ``(1 or n_rows, 1 or n_groups)``.
    """
    m = x.shape[0]
    n_groups = ptr.shape[0] - 1
    rs = 1 if t.shape[0] > 1 else 0
    cs = 1 if t.shape[1] > 1 else 0
    for i in range(m):
        ti = i * rs
        for g in range(n_groups):
            s = 0.0
            for p in range(ptr[g], ptr[g + 1]):
                v = x[i, order[p]]
                s += v * v
            norm = math.sqrt(s)
            tv = t[ti, g * cs]
            scale = 1.0 - tv / norm if norm > tv else 0.0
            for p in range(ptr[g], ptr[g + 1]):
                out[i, order[p]] = scale * x[i, order[p]]
    return out


@jit
def top_k(x, k, out):
    """Keep the ``k`` entries of largest magnitude of each row (ties: lowest index).

    One pass per row keeping the ``k`` best in a sorted buffer (insertion only when
    strictly larger than the current ``k``-th, so earlier indices win ties).
    """
    m, n = x.shape
    kk = min(k, n)
    vals = np.empty(max(kk, 1), dtype=np.float64)
    idx = np.empty(max(kk, 1), dtype=np.int64)
    for i in range(m):
        for j in range(n):
            out[i, j] = 0.0
        if kk == 0:
            continue
        if kk == n:
            for j in range(n):
                out[i, j] = x[i, j]
            continue
        filled = 0
        for j in range(n):
            a = abs(x[i, j])
            if filled == kk and not a > vals[kk - 1]:
                continue
            p = filled if filled < kk else kk - 1
            while p > 0 and a > vals[p - 1]:
                vals[p] = vals[p - 1]
                idx[p] = idx[p - 1]
                p -= 1
            vals[p] = a
            idx[p] = j
            if filled < kk:
                filled += 1
        for p in range(kk):
            out[i, idx[p]] = x[i, idx[p]]
    return out


@jit
def project_l1_ball(x, r, out):
    """Euclidean projection of each row on ``{z : ||z||_1 <= r}`` (Duchi et al., 2008).

    ``r`` has shape ``(1 or n_rows, 1)``.
    """
    m, n = x.shape
    rs = 1 if r.shape[0] > 1 else 0
    for i in range(m):
        radius = r[i * rs, 0]
        s = 0.0
        for j in range(n):
            s += abs(x[i, j])
        if s <= radius:
            for j in range(n):
                out[i, j] = x[i, j]
            continue
        if radius <= 0.0:  # the ball is {0}
            for j in range(n):
                out[i, j] = 0.0
            continue
        u = np.empty(n, dtype=np.float64)
        for j in range(n):
            u[j] = abs(x[i, j])
        u = np.sort(u)[::-1]
        css = 0.0
        theta = 0.0
        for j in range(n):
            css += u[j]
            cand = (css - radius) / (j + 1)
            if u[j] - cand > 0:
                theta = cand
        for j in range(n):
            v = x[i, j]
            a = abs(v) - theta
            out[i, j] = math.copysign(a, v) if a > 0 else 0.0
    return out


@jit
def project_l2_ball(x, r, out):
    """Euclidean projection of each row on ``{z : ||z||_2 <= r}``."""
    m, n = x.shape
    rs = 1 if r.shape[0] > 1 else 0
    for i in range(m):
        radius = r[i * rs, 0]
        s = 0.0
        for j in range(n):
            s += x[i, j] * x[i, j]
        norm = math.sqrt(s)
        scale = radius / norm if norm > radius else 1.0
        for j in range(n):
            out[i, j] = scale * x[i, j]
    return out


# --------------------------------------------------------------------------- NumPy


def soft_threshold_reference(x, t):
    return np.sign(x) * np.maximum(np.abs(x) - t, 0)


def nonneg_soft_threshold_reference(x, t):
    return np.maximum(x - t, 0)


def hard_threshold_reference(x, t):
    return np.where(np.abs(x) > t, x, 0)


def elastic_net_threshold_reference(x, t, l1_ratio):
    return soft_threshold_reference(x, t * l1_ratio) / (1 + t * (1 - l1_ratio))


def group_soft_threshold_reference(x, t, groups):
    """``t`` broadcast per row (``(n_rows, 1)`` or scalar); ``groups`` labels."""
    out = np.zeros(x.shape, dtype=np.result_type(x, np.float64))
    t = np.broadcast_to(np.asarray(t, dtype=np.float64).reshape(-1, 1), (x.shape[0], 1))
    for g in np.unique(groups):
        cols = np.flatnonzero(np.asarray(groups) == g)
        norm = np.linalg.norm(x[:, cols], axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(norm > t, 1 - t / np.where(norm > 0, norm, 1), 0)
        out[:, cols] = scale * x[:, cols]
    return out


def top_k_reference(x, k):
    out = np.zeros_like(x)
    if k >= x.shape[1]:
        return x.copy()
    idx = np.argsort(-np.abs(x), axis=1, kind="stable")[:, :k]
    rows = np.arange(x.shape[0])[:, None]
    out[rows, idx] = x[rows, idx]
    return out


def project_l1_ball_reference(x, r):
    x = np.asarray(x, dtype=np.float64)
    r = np.broadcast_to(np.asarray(r, dtype=np.float64).reshape(-1), (x.shape[0],))
    out = x.copy()
    for i in range(x.shape[0]):
        if np.abs(x[i]).sum() <= r[i]:
            continue
        if r[i] <= 0:
            out[i] = 0.0
            continue
        u = np.sort(np.abs(x[i]))[::-1]
        css = np.cumsum(u)
        j = np.arange(1, u.size + 1)
        rho = np.flatnonzero(u - (css - r[i]) / j > 0)[-1]
        theta = (css[rho] - r[i]) / (rho + 1)
        out[i] = soft_threshold_reference(x[i], theta)
    return out


def project_l2_ball_reference(x, r):
    r = np.asarray(r, dtype=np.float64).reshape(-1, 1)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(norm > r, r / np.where(norm > 0, norm, 1), 1)
    return scale * x
