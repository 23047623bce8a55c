"""Pieces shared by the dictionary-learning algorithms: records, coders, init, atom care."""

from __future__ import annotations

import inspect
import math
import numbers
from dataclasses import dataclass

import numpy as np

from ..utils._validation import (
    _as_float_array,
    check_n_nonzero_coefs,
    check_positive_int,
    check_random_state,
    check_tol,
)

#: Initialisations understood by every algorithm (an array is accepted as well).
INITS = ("data", "random", "dct")
#: Coders resolved by name (a callable ``(X, D, gram) -> codes`` is accepted as well).
CODERS = ("omp", "lasso_lars")


@dataclass(frozen=True, slots=True)
class IterationRecord:
    """What a ``callback`` receives after each iteration (read-only).

    Attributes
    ----------
    iteration : int
        0-based index of the iteration (of the mini-batch for online learning).
    error : float
        Root-mean-square representation error ``sqrt(mean((X - Z D)**2))`` of the
        signals of this iteration after the dictionary update.
    time : float
        Seconds elapsed since the start of learning.
    n_replaced : int
        Atoms replaced (dead or duplicate) at the end of this iteration.
    """

    iteration: int
    error: float
    time: float
    n_replaced: int


@dataclass(frozen=True, slots=True)
class LearningInfo:
    """Summary returned by :func:`ksvd`, :func:`mod` and :func:`dict_learning_online`.

    Attributes
    ----------
    n_iter : int
        Iterations run (mini-batches for online learning).
    error : ndarray of shape (n_iter,)
        RMS representation error after each iteration (see :class:`IterationRecord`).
    n_replaced : ndarray of shape (n_iter,)
        Atoms replaced at each iteration.
    time : ndarray of shape (n_iter,)
        Cumulative seconds at the end of each iteration.
    """

    n_iter: int
    error: np.ndarray
    n_replaced: np.ndarray
    time: np.ndarray


def _info(records):
    return LearningInfo(
        n_iter=len(records),
        error=np.array([r.error for r in records], dtype=np.float64),
        n_replaced=np.array([r.n_replaced for r in records], dtype=np.int64),
        time=np.array([r.time for r in records], dtype=np.float64),
    )


# ---------------------------------------------------------------------------------------
# Validation of the shared options
# ---------------------------------------------------------------------------------------
def check_n_components(n_components):
    if isinstance(n_components, bool) or not isinstance(n_components, numbers.Integral):
        raise TypeError(f"n_components must be an integer >= 1, got {n_components!r}.")
    if n_components < 1:
        raise ValueError(f"n_components must be an integer >= 1, got {n_components}.")
    return int(n_components)


def check_callback(callback):
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a callable or None, got {type(callback).__name__}.")
    return callback


def check_threshold(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value <= 1:
        raise ValueError(f"{name} must be a float in (0, 1], got {value!r}.")
    return float(value)


# ---------------------------------------------------------------------------------------
# Coders
# ---------------------------------------------------------------------------------------
def resolve_coder(coder, *, n_nonzero_coefs, tol, alpha, n_jobs, n_components,
                  output="dense"):
    """Return a function ``(X, D, gram) -> codes (n_samples, n_components)``.

    With ``output="sparse"`` the named coders return ``csr_array`` codes built by their
    kernels (a callable coder is returned as it is).
    """
    if callable(coder):
        return coder
    if coder == "omp":
        from ..coding import orthogonal_mp

        k = check_n_nonzero_coefs(n_nonzero_coefs, n_components)
        t = check_tol(tol)

        def _omp(X, D, gram):
            return orthogonal_mp(X, D, n_nonzero_coefs=k, tol=t, gram=gram, n_jobs=n_jobs,
                                 output=output)

        return _omp
    if coder == "lasso_lars":
        try:
            from ..coding._lars import lasso_lars
        except ImportError as exc:  # pragma: no cover - depends on the other module
            raise ImportError(
                "coder='lasso_lars' needs sparsecode.coding._lars, which is not available."
            ) from exc
        if alpha is None:
            raise ValueError("alpha must be a positive float when coder='lasso_lars'.")
        a = check_tol(alpha, name="alpha")
        params = inspect.signature(lasso_lars).parameters
        extra = {}
        if "n_jobs" in params:
            extra["n_jobs"] = n_jobs

        def _lars(X, D, gram):
            if "gram" in params:
                extra["gram"] = gram
            if output == "sparse":
                return lasso_lars(X, D, alpha=a, output="sparse", **extra)
            codes = lasso_lars(X, D, alpha=a, **extra)
            return np.asarray(codes, dtype=X.dtype)

        return _lars
    raise ValueError(
        f"coder must be one of {CODERS} or a callable (X, dictionary, gram) -> codes, "
        f"got {coder!r}."
    )


def run_coder(coder, X, D, G):
    codes = coder(X, D, G)
    codes = np.ascontiguousarray(codes, dtype=X.dtype)
    if codes.shape != (X.shape[0], D.shape[0]):
        raise ValueError(
            f"the coder returned codes of shape {codes.shape}; expected "
            f"(n_samples, n_components) = ({X.shape[0]}, {D.shape[0]})."
        )
    if not np.isfinite(codes).all():
        raise ValueError("the coder returned NaN or infinite codes.")
    return codes


def run_coder_sparse(coder, X, D, G, *, n_nonzero_coefs, tol, alpha, n_jobs):
    """``csr_array`` codes of ``X`` over ``D`` by ``coder`` (a name or a callable).

    The named coders build the CSR arrays in their kernels; a callable coder is applied
    to consecutive chunks of samples (validated like :func:`run_coder`) and each chunk
    converted, so no dense ``(n_samples, n_components)`` array is formed.
    """
    from ..coding._sparse import dense_to_csr_chunked

    if callable(coder):
        return dense_to_csr_chunked(lambda s, e: run_coder(coder, X[s:e], D, G),
                                    X.shape[0], D.shape[0], X.dtype)
    code_fn = resolve_coder(coder, n_nonzero_coefs=n_nonzero_coefs, tol=tol, alpha=alpha,
                            n_jobs=n_jobs, n_components=D.shape[0], output="sparse")
    codes = code_fn(X, D, G)
    if codes.dtype != X.dtype:  # pragma: no cover - the coders keep X's dtype
        codes = codes.astype(X.dtype)
    if not np.isfinite(codes.data).all():
        raise ValueError("the coder returned NaN or infinite codes.")
    return codes


# ---------------------------------------------------------------------------------------
# Initialisation
# ---------------------------------------------------------------------------------------
def _overcomplete_dct(n_features, n_components, dtype):
    """2-D separable overcomplete DCT atoms for square patches (private fallback)."""
    p = math.isqrt(n_features)
    if p * p != n_features:
        raise ValueError(
            f"init='dct' needs square patches: n_features={n_features} is not a perfect "
            "square."
        )
    try:  # the image module's version, when it exists
        from ..image._dct import overcomplete_dct_dictionary

        D = np.asarray(overcomplete_dct_dictionary(patch_size=p, n_atoms=n_components))
        if D.shape == (n_components, n_features):
            D = D.astype(dtype, copy=True)
            return D / np.linalg.norm(D, axis=1, keepdims=True)
    except ImportError:
        pass
    m = math.ceil(math.sqrt(n_components))
    t = np.arange(p)[:, None]
    f = np.arange(m)[None, :]
    C = np.cos(t * f * np.pi / m)  # (p, m)
    C[:, 1:] -= C[:, 1:].mean(axis=0)
    C /= np.linalg.norm(C, axis=0)
    D = np.kron(C, C).T  # (m*m, p*p)
    D = D[:n_components]
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    return np.ascontiguousarray(D, dtype=dtype)


def initial_dictionary(X, n_components, init, rng):
    """Unit-norm initial dictionary ``(n_components, n_features)`` in ``X``'s dtype."""
    n_samples, n_features = X.shape
    dtype = X.dtype
    if isinstance(init, str):
        if init == "data":
            norms = np.sqrt(np.einsum("ij,ij->i", X, X))
            ok = np.flatnonzero(norms > np.finfo(dtype).eps * max(norms.max(), 1.0))
            if ok.size < n_components:
                raise ValueError(
                    f"init='data' needs at least n_components={n_components} nonzero "
                    f"samples, got {ok.size}."
                )
            pick = rng.choice(ok, size=n_components, replace=False)
            D = X[pick] / norms[pick, None]
        elif init == "random":
            D = rng.standard_normal((n_components, n_features))
            D /= np.linalg.norm(D, axis=1, keepdims=True)
        elif init == "dct":
            D = _overcomplete_dct(n_features, n_components, dtype)
        else:
            raise ValueError(
                f"init must be one of {INITS} or an array of shape (n_components, "
                f"n_features), got {init!r}."
            )
        return np.ascontiguousarray(D, dtype=dtype)
    D = _as_float_array(init, "init", dtype=dtype)
    if D.shape != (n_components, n_features):
        raise ValueError(
            f"init must have shape (n_components, n_features) = ({n_components}, "
            f"{n_features}), got {D.shape}."
        )
    norms = np.linalg.norm(D, axis=1)
    if (norms <= np.finfo(dtype).tiny ** 0.5).any():
        raise ValueError("init has zero-norm atoms; every atom must be nonzero.")
    return np.ascontiguousarray(D / norms[:, None], dtype=dtype)


# ---------------------------------------------------------------------------------------
# Dead and duplicate atoms
# ---------------------------------------------------------------------------------------
def replace_atoms(D, X, sq_err, used, duplicate_threshold, exclude=None, source=None):
    """Replace unused and duplicate atoms of ``D`` (in place) by worst-represented signals.

    An atom is *dead* if ``used`` is False, a *duplicate* if
    ``|<d_i, d_j>| > duplicate_threshold`` for some earlier kept atom ``i < j``. Each is
    replaced by the normalised signal with the largest squared error ``sq_err``
    (distinct signals, zero-norm ones skipped). Returns the number replaced.
    """
    bad = ~np.asarray(used, dtype=bool)
    if duplicate_threshold < 1.0:
        G = np.abs(D @ D.T)
        G[bad, :] = 0.0  # a dead atom makes no duplicate
        np.fill_diagonal(G, 0.0)
        dup = (np.triu(G, 1) > duplicate_threshold).any(axis=0)
        bad |= dup
    targets = np.flatnonzero(bad)
    if targets.size == 0:
        return 0
    order = np.argsort(-sq_err, kind="stable")
    if exclude is not None:
        order = order[~np.isin(order, exclude)]
    norms = np.sqrt(np.einsum("ij,ij->i", X[order], X[order]))
    order = order[norms > np.finfo(X.dtype).eps * max(float(norms.max(initial=0.0)), 1.0)]
    n = min(targets.size, order.size)
    if n == 0:
        return 0
    pick = order[:n]
    S = X if source is None else source
    D[targets[:n]] = S[pick] / np.linalg.norm(S[pick], axis=1, keepdims=True)
    return int(n)


def progress(total, verbose, desc):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not verbose, desc=desc, leave=False)


__all__ = [
    "IterationRecord",
    "LearningInfo",
    "check_positive_int",
    "check_random_state",
]
