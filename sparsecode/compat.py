"""Drop-in replacements for scikit-learn's sparse-coding API, backed by our kernels.

Replace ``from sklearn.decomposition import SparseCoder, sparse_encode`` or
``from sklearn.linear_model import orthogonal_mp, orthogonal_mp_gram,
OrthogonalMatchingPursuit`` by the same names from ``sparsecode.compat``: the names,
signatures, defaults, shapes and output conventions are scikit-learn's (columns are
samples where scikit-learn says so), the work is done by sparsecode's Numba kernels.
``sparse_encode`` and ``SparseCoder`` run all five of scikit-learn's coding algorithms
(``"lasso_lars"``, ``"lasso_cd"``, ``"lars"``, ``"omp"``, ``"threshold"``) on our
kernels, with scikit-learn's alpha conventions. Options the kernels do not cover
(``return_path=True``; ``max_iter=0``; the ``"lasso_cd"`` dtype mixes scikit-learn itself
refuses; an ``init`` of the wrong shape) are delegated to scikit-learn, so nothing fails
that works there.

Differences that remain are documented per function.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from joblib import effective_n_jobs
from sklearn import decomposition as _skd
from sklearn import linear_model as _sklm
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ._jit import blas_single_thread, num_threads
from ._jit import gram_reused
from .coding._lars import _lars_codes, _resolve_max_iter, _warn_status
from .coding._omp import _omp_dense, _omp_gram
from .compat_dictionary import (  # noqa: E402  (scikit-learn's dictionary learning)
    DictionaryLearning,
    MiniBatchDictionaryLearning,
    dict_learning,
    dict_learning_online,
)
from .kernels.lars import batch_lars
from .kernels.prox import nonneg_soft_threshold, soft_threshold

__all__ = [
    "DictionaryLearning",
    "MiniBatchDictionaryLearning",
    "dict_learning",
    "dict_learning_online",
    "sparse_encode",
    "SparseCoder",
    "orthogonal_mp",
    "orthogonal_mp_gram",
    "OrthogonalMatchingPursuit",
]


def _common_dtype(*arrays):
    return np.result_type(*[a.dtype for a in arrays], np.float32)


try:  # scikit-learn's warning, word for word
    from sklearn.linear_model._omp import premature as PREMATURE
except ImportError:  # pragma: no cover - future scikit-learn layouts
    PREMATURE = (
        "Orthogonal matching pursuit ended prematurely due to linear"
        " dependence in the dictionary. The requested precision might"
        " not have been met."
    )


def _warn_premature(n_iter, n_nonzero_coefs, residual2=None, tol=None, max_atoms=None,
                    stacklevel=3):
    """scikit-learn's RuntimeWarning where scikit-learn emits it.

    scikit-learn warns whenever OMP stops before its stopping rule is met: with
    ``n_nonzero_coefs``, when fewer atoms were selected (the next atom is linearly
    dependent on the selected ones, or the residual is already orthogonal to every
    atom); with ``tol``, when the squared residual is still above ``tol`` (an
    unreachable tolerance) -- except that its ``orthogonal_mp`` stops silently once
    every atom is used (``max_atoms``; ``orthogonal_mp_gram`` warns then too). One
    warning per call (scikit-learn warns per target).
    """
    import warnings

    n_iter = np.asarray(n_iter)
    if tol is None:
        premature = np.any(n_iter < int(n_nonzero_coefs))
    else:
        short = np.asarray(residual2) > tol * (1 + 1e-12)
        if max_atoms is not None:
            short &= n_iter < max_atoms
        premature = np.any(short)
    if premature:
        warnings.warn(PREMATURE, RuntimeWarning, stacklevel=stacklevel)


@validate_params(
    {
        "Gram": ["array-like"],
        "Xy": ["array-like"],
        "n_nonzero_coefs": [Interval(Integral, 0, None, closed="neither"), None],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "norms_squared": ["array-like", None],
        "copy_Gram": ["boolean"],
        "copy_Xy": ["boolean"],
        "return_path": ["boolean"],
        "return_n_iter": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def orthogonal_mp_gram(
    Gram,
    Xy,
    *,
    n_nonzero_coefs=None,
    tol=None,
    norms_squared=None,
    copy_Gram=True,
    copy_Xy=True,
    return_path=False,
    return_n_iter=False,
):
    """Gram Orthogonal Matching Pursuit, scikit-learn's signature (columns are targets).

    Same as :func:`sklearn.linear_model.orthogonal_mp_gram`; ``return_path=True`` is
    delegated to scikit-learn. Inputs are never modified (``copy_*`` are accepted
    for compatibility). scikit-learn's ``RuntimeWarning`` ("Orthogonal matching
    pursuit ended prematurely due to linear dependence...") is emitted where
    scikit-learn emits it (once per call, not once per target). Difference: ``Xy``
    or ``norms_squared`` containing NaN or infinity raise a ``ValueError``
    (scikit-learn codes them silently).
    """
    if return_path:
        return _sklm.orthogonal_mp_gram(
            Gram, Xy, n_nonzero_coefs=n_nonzero_coefs, tol=tol,
            norms_squared=norms_squared, copy_Gram=copy_Gram, copy_Xy=copy_Xy,
            return_path=True, return_n_iter=return_n_iter,
        )
    Gram = check_array(Gram)
    Xy = check_array(Xy, ensure_2d=False, dtype=None, input_name="Xy")
    one_target = Xy.ndim == 1
    if one_target:
        Xy = Xy[:, np.newaxis]
        if tol is not None:
            norms_squared = [norms_squared]
    if n_nonzero_coefs is None and tol is None:
        n_nonzero_coefs = int(0.1 * len(Gram))
    if tol is not None and (norms_squared is None or any(
            v is None for v in np.asarray(norms_squared, dtype=object).reshape(-1))):
        raise ValueError(
            "Gram OMP needs the precomputed norms in order "
            "to evaluate the error sum of squares."
        )
    if tol is not None and tol < 0:
        raise ValueError("Epsilon cannot be negative")
    if tol is None and n_nonzero_coefs <= 0:
        raise ValueError("The number of atoms must be positive")
    if tol is None and n_nonzero_coefs > len(Gram):
        raise ValueError("The number of atoms cannot be more than the number of features")
    dtype = Gram.dtype
    G = np.ascontiguousarray(Gram, dtype=dtype)
    cov = np.ascontiguousarray(Xy.T, dtype=dtype)
    if tol is not None:
        norms2 = np.ascontiguousarray(np.asarray(norms_squared, dtype=dtype).reshape(-1))
        if not np.isfinite(norms2).all():
            raise ValueError("Input norms_squared contains NaN or infinity.")
        max_k = len(Gram)
    else:
        norms2 = np.zeros(cov.shape[0], dtype=dtype)
        max_k = int(n_nonzero_coefs)
    codes, n_iter = _omp_gram(G, cov, norms2, max_k, -1.0 if tol is None else float(tol),
                              False, None, True)
    residual2 = None
    if tol is not None:  # ||x - zD||^2 = ||x||^2 - 2 z.cov + z G z
        c64 = codes.astype(np.float64)
        residual2 = (norms2 - 2 * np.einsum("ij,ij->i", c64, cov)
                     + np.einsum("ij,ij->i", c64 @ G.astype(np.float64), c64))
    _warn_premature(n_iter, n_nonzero_coefs, residual2, tol)
    coef = np.squeeze(codes.T)
    n_iters = int(n_iter[0]) if one_target or n_iter.shape[0] == 1 else n_iter.tolist()
    return (coef, n_iters) if return_n_iter else coef


@validate_params(
    {
        "X": ["array-like"],
        "y": [np.ndarray],
        "n_nonzero_coefs": [Interval(Integral, 1, None, closed="left"), None],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "precompute": ["boolean", StrOptions({"auto"})],
        "copy_X": ["boolean"],
        "return_path": ["boolean"],
        "return_n_iter": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def orthogonal_mp(
    X,
    y,
    *,
    n_nonzero_coefs=None,
    tol=None,
    precompute=False,
    copy_X=True,
    return_path=False,
    return_n_iter=False,
):
    """Orthogonal Matching Pursuit, scikit-learn's signature (``X`` is the design matrix).

    Same as :func:`sklearn.linear_model.orthogonal_mp`: solves ``y ≈ X @ coef`` column
    by column. The Gram matrix is always used internally (``precompute`` is accepted
    for compatibility). ``return_path=True`` is delegated to scikit-learn.
    """
    if return_path:
        return _sklm.orthogonal_mp(
            X, y, n_nonzero_coefs=n_nonzero_coefs, tol=tol, precompute=precompute,
            copy_X=copy_X, return_path=True, return_n_iter=return_n_iter,
        )
    X = check_array(X)
    one_target = y.ndim == 1
    if one_target:
        y = y.reshape(-1, 1)
    y = check_array(y)
    if n_nonzero_coefs is None and tol is None:
        n_nonzero_coefs = max(int(0.1 * X.shape[1]), 1)
    if tol is None and n_nonzero_coefs > X.shape[1]:
        raise ValueError("The number of atoms cannot be more than the number of features")
    if precompute == "auto":
        precompute = X.shape[0] > X.shape[1]
    dtype = _common_dtype(X, y)
    D = np.ascontiguousarray(X.T, dtype=dtype)  # atoms are the columns of X
    signals = np.ascontiguousarray(y.T, dtype=dtype)
    G = gram_reused(D)
    if tol is not None:
        max_k = X.shape[1]
        tol_ = float(tol)
    else:
        max_k = int(n_nonzero_coefs)
        tol_ = -1.0
    codes, n_iter = _omp_dense(signals, D, G, min(max_k, D.shape[0]), tol_, False, None, True)
    residual2 = None
    if tol is not None:
        R = signals.astype(np.float64) - codes.astype(np.float64) @ D.astype(np.float64)
        residual2 = np.einsum("ij,ij->i", R, R)
    _warn_premature(n_iter, n_nonzero_coefs, residual2, tol, max_atoms=X.shape[1])
    coef = np.squeeze(codes.T)
    if precompute:
        # scikit-learn's precompute path returns the coefficients only, even with
        # return_n_iter=True; a drop-in does the same.
        return coef
    n_iters = int(n_iter[0]) if n_iter.shape[0] == 1 else n_iter.tolist()
    return (coef, n_iters) if return_n_iter else coef


_ALGORITHMS = ("lasso_lars", "lasso_cd", "lars", "omp", "threshold")


def _check_positive_coding(algorithm, positive):
    if positive and algorithm in ("omp", "lars"):
        raise ValueError(
            "Positive constraint not supported for '{}' coding method.".format(algorithm)
        )


def _finite_float64(a, name, shape):
    """A precomputed ``gram``/``cov`` as a C-contiguous float64 array, checked."""
    arr = check_array(a, dtype=np.float64, input_name=name)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}.")
    return np.ascontiguousarray(arr)


def _encode_lars(X, dictionary, gram, cov, *, lasso, alpha, n_nonzero_coefs, positive,
                 max_iter, n_jobs):
    """LARS / LARS-lasso codes (float64) on our kernel, scikit-learn's conventions.

    scikit-learn's ``LassoLars(alpha=alpha / n_features)`` minimises
    ``(0.5 / n_features) ||x - z D||^2 + (alpha / n_features) ||z||_1`` per sample,
    i.e. our unscaled objective ``0.5 ||x - z D||^2 + alpha ||z||_1``.
    """
    n_samples = X.shape[0]
    n_components, n_features = dictionary.shape
    D = np.asarray(dictionary, dtype=np.float64)
    G = gram_reused(D) if gram is None else _finite_float64(
        gram, "gram", (n_components, n_components))
    method = "lasso" if lasso else "lar"
    if cov is None:
        return _lars_codes(np.asarray(X, dtype=np.float64), D, G, method=method,
                           alpha=alpha, n_nonzero_coefs=n_nonzero_coefs,
                           positive=positive, max_iter=max_iter, n_jobs=n_jobs)
    # Precomputed correlations: the kernel works from them directly.
    C = np.ascontiguousarray(_finite_float64(cov, "cov", (n_components, n_samples)).T)
    limit = min(n_components, n_features)
    max_k = limit if n_nonzero_coefs is None else min(int(n_nonzero_coefs), limit)
    max_iter = _resolve_max_iter(max_iter, max_k)
    codes = np.zeros((n_samples, n_components))
    n_iter = np.zeros(n_samples, dtype=np.int64)
    status = np.zeros(n_samples, dtype=np.int64)
    lambdas = np.zeros(n_samples)
    with blas_single_thread(), num_threads(n_jobs):
        batch_lars(C, G, float(alpha), int(max_k), lasso, bool(positive), int(max_iter),
                   codes, n_iter, status, lambdas)
    _warn_status(status, lambdas, alpha, n_nonzero_coefs is not None, stacklevel=5)
    return codes


def _soft_threshold_cov(cov, alpha, positive, shape):
    """scikit-learn's ``threshold`` coding: ``sign(cov) * max(|cov| - alpha, 0)``.

    The codes have the dtype of ``cov`` (float64 for integers), as in scikit-learn.
    """
    C = check_array(cov, dtype=[np.float64, np.float32], input_name="cov")
    if C.shape != shape:
        raise ValueError(f"cov must have shape {shape}, got {C.shape}.")
    dtype = C.dtype
    C = np.ascontiguousarray(C.T)
    out = np.empty_like(C)
    t = np.full((1, 1), alpha, dtype=dtype)
    if positive:
        nonneg_soft_threshold(C, t, out)
    else:
        soft_threshold(C, t, out)
    return out


@validate_params(
    {
        "X": ["array-like"],
        "dictionary": ["array-like"],
        "gram": ["array-like", None],
        "cov": ["array-like", None],
        "algorithm": [StrOptions(set(_ALGORITHMS))],
        "n_nonzero_coefs": [Interval(Integral, 1, None, closed="left"), None],
        "alpha": [Interval(Real, 0, None, closed="left"), None],
        "copy_cov": ["boolean"],
        "init": ["array-like", None],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_jobs": [Integral, None],
        "check_input": ["boolean"],
        "verbose": ["verbose"],
        "positive": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def sparse_encode(
    X,
    dictionary,
    *,
    gram=None,
    cov=None,
    algorithm="lasso_lars",
    n_nonzero_coefs=None,
    alpha=None,
    copy_cov=True,
    init=None,
    max_iter=1000,
    n_jobs=None,
    check_input=True,
    verbose=0,
    positive=False,
):
    r"""Sparse coding, scikit-learn's :func:`~sklearn.decomposition.sparse_encode`.

    Same signature, defaults, errors and output dtypes (the dtype of ``dictionary``,
    float64 when ``n_jobs`` runs in parallel, the dtype of ``cov`` for
    ``"threshold"``). Every algorithm runs on sparsecode's kernels:

    * ``"lasso_lars"`` and ``"lasso_cd"``: the exact LARS-lasso homotopy
      (:func:`sparsecode.coding._lars.lasso_lars`). scikit-learn's ``alpha`` is
      divided by ``n_features`` inside an objective scaled by ``1 / n_features``, so
      both solve, per sample,

      .. math::

          \min_z \ \tfrac12 \|x - z D\|_2^2 + \alpha \|z\|_1
          \qquad (z \ge 0 \text{ if } \texttt{positive}).

      ``"lasso_cd"`` is iterative in scikit-learn (coordinate descent to
      ``tol=1e-8``): our exact codes agree with its answer to that tolerance and have
      an objective at most as large; ``init`` (a warm start) and ``max_iter`` (its
      epoch bound) therefore do not change the answer and are not used.
    * ``"lars"``: Least Angle Regression stopped at ``n_nonzero_coefs`` atoms
      (default ``n_features / 10``; ``max_iter`` is not used, as in scikit-learn).
    * ``"omp"``: Batch-OMP, stopping at ``n_nonzero_coefs`` atoms.
    * ``"threshold"``: soft thresholding of ``cov = dictionary @ X.T`` at ``alpha``
      (clipped at zero when ``positive``).

    Delegated to scikit-learn: ``max_iter=0`` (``"lasso_lars"``, ``"lasso_cd"``:
    the path or the descent does not start), and ``"lasso_cd"`` when
    scikit-learn's own dtype rules apply (``gram``, or ``X`` when there is no
    ``gram``, of another dtype than ``dictionary``: scikit-learn raises; a ``gram``
    given as a list; an ``init`` of the wrong shape).

    ``n_jobs`` is the number of Numba threads (None: all of them, as elsewhere in
    sparsecode); the output dtype follows scikit-learn's rule for it
    (``joblib.effective_n_jobs(n_jobs) != 1`` gives float64).

    Differences: ``ConvergenceWarning`` when a ``"lasso_lars"`` path needs more than
    ``max_iter`` breakpoints (the truncated codes are scikit-learn's); ``gram`` and
    ``cov`` are checked for shape and finiteness; ``verbose`` prints nothing; inputs
    are never modified (``copy_cov`` is accepted). Computations are in float64, so
    float32 codes agree with scikit-learn's float32 computations to about ``1e-4``.
    Where scikit-learn's own path is numerically off our codes still satisfy the
    optimality (lasso) or equicorrelation (LARS) conditions to ~1e-12, theirs not:
    e.g. scikit-learn's ``"lars"`` can return a point whose active correlations
    differ, and near-ties in ``"lasso_lars"`` leave its KKT residual at ~1e-6.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.compat import sparse_encode
    >>> rng = np.random.default_rng(0)
    >>> D = rng.standard_normal((30, 10))
    >>> D /= np.linalg.norm(D, axis=1, keepdims=True)
    >>> codes = sparse_encode(rng.standard_normal((4, 10)), D, alpha=0.5)
    >>> codes.shape
    (4, 30)
    """
    if check_input:
        order = "C" if algorithm == "lasso_cd" else None
        dictionary = check_array(dictionary, order=order, dtype=[np.float64, np.float32])
        X = check_array(X, order=order, dtype=[np.float64, np.float32])
    else:
        X, dictionary = np.asarray(X), np.asarray(dictionary)
    if dictionary.shape[1] != X.shape[1]:
        raise ValueError(
            "Dictionary and X have different numbers of features:"
            "dictionary.shape: {} X.shape{}".format(dictionary.shape, X.shape)
        )
    _check_positive_coding(algorithm, positive)
    n_samples, n_features = X.shape
    n_components = dictionary.shape[0]
    parallel = effective_n_jobs(n_jobs) != 1

    def delegate():
        return _skd.sparse_encode(
            X, dictionary, gram=gram, cov=cov, algorithm=algorithm,
            n_nonzero_coefs=n_nonzero_coefs, alpha=alpha, copy_cov=True,
            init=None if init is None else np.array(init),  # scikit-learn writes in it
            max_iter=max_iter, n_jobs=n_jobs, check_input=False, verbose=verbose,
            positive=positive,
        )

    if algorithm == "threshold":  # scikit-learn never parallelises it: dtype of cov
        reg = 1.0 if alpha is None else float(alpha)
        if cov is None:
            cov = np.dot(dictionary, X.T)
        return _soft_threshold_cov(cov, reg, positive, (n_components, n_samples))

    if algorithm == "omp":
        return _encode_omp(X, dictionary, gram, cov, n_nonzero_coefs, n_jobs, parallel)

    out_dtype = np.float64 if parallel or dictionary.dtype not in (
        np.float32, np.float64) else dictionary.dtype
    if algorithm == "lars":  # scikit-learn's Lars does not receive max_iter
        reg = n_nonzero_coefs
        if reg is None:
            reg = min(max(n_features / 10, 1), n_components)
        # scikit-learn accepts any n_nonzero_coefs; the path ends at rank anyway.
        codes = _encode_lars(X, dictionary, gram, cov, lasso=False, alpha=0.0,
                             n_nonzero_coefs=min(int(reg), n_components), positive=False,
                             max_iter=None, n_jobs=n_jobs)
        return codes.astype(out_dtype, copy=False)

    reg = 1.0 if alpha is None else float(alpha)
    if algorithm == "lasso_cd":
        gram_dtype = X.dtype if gram is None else getattr(gram, "dtype", None)
        if (gram_dtype != dictionary.dtype or max_iter == 0 or (
                init is not None and np.shape(init) != (n_samples, n_components))):
            return delegate()
        cov = None  # scikit-learn's Lasso does not use cov
        lars_max_iter = None
    else:
        if max_iter == 0:
            return delegate()
        lars_max_iter = max_iter
    codes = _encode_lars(X, dictionary, gram, cov, lasso=True, alpha=reg,
                         n_nonzero_coefs=None, positive=positive,
                         max_iter=lars_max_iter, n_jobs=n_jobs)
    return codes.astype(out_dtype, copy=False)


def _encode_omp(X, dictionary, gram, cov, n_nonzero_coefs, n_jobs, parallel):
    """``algorithm="omp"`` on Batch-OMP (stopping rule ``n_nonzero_coefs``)."""
    n_samples, n_features = X.shape
    n_components = dictionary.shape[0]
    regularization = n_nonzero_coefs
    if regularization is None:
        regularization = min(max(n_features / 10, 1), n_components)
    max_k = int(regularization)
    if max_k <= 0:
        raise ValueError("The number of atoms must be positive")
    if max_k > n_components:
        raise ValueError("The number of atoms cannot be more than the number of features")
    dtype = X.dtype
    D = np.ascontiguousarray(dictionary, dtype=dtype)
    if gram is None:
        G = gram_reused(D)
    else:
        G = np.ascontiguousarray(gram, dtype=dtype)
    if cov is None:
        codes, n_iter = _omp_dense(np.ascontiguousarray(X), D, G, max_k, -1.0, False, n_jobs,
                                   True)
    else:
        cov_rows = np.ascontiguousarray(np.asarray(cov).T, dtype=dtype)
        codes, n_iter = _omp_gram(G, cov_rows, np.zeros(n_samples, dtype), max_k, -1.0,
                                  False, n_jobs, True)
    _warn_premature(n_iter, max_k, stacklevel=4)
    if parallel:
        codes = codes.astype(np.float64, copy=False)  # scikit-learn's parallel path
    return codes


class SparseCoder(_skd.SparseCoder):
    """scikit-learn's :class:`~sklearn.decomposition.SparseCoder` on our kernels.

    Identical parameters and behaviour; every ``transform_algorithm`` goes through
    :func:`sparse_encode` above (``"omp"`` on Batch-OMP, ``"lasso_lars"``,
    ``"lasso_cd"`` and ``"lars"`` on the LARS homotopy, ``"threshold"`` on the soft
    thresholding kernel), with ``transform_alpha`` in scikit-learn's convention
    (the per-sample penalty of ``0.5 ||x - z D||^2 + alpha ||z||_1``).
    """

    def _transform(self, X, dictionary):
        from sklearn.utils.validation import validate_data

        X = validate_data(self, X, reset=False)
        if hasattr(self, "alpha") and self.transform_alpha is None:
            transform_alpha = self.alpha
        else:
            transform_alpha = self.transform_alpha
        code = sparse_encode(
            X, dictionary, algorithm=self.transform_algorithm,
            n_nonzero_coefs=self.transform_n_nonzero_coefs, alpha=transform_alpha,
            max_iter=self.transform_max_iter, n_jobs=self.n_jobs,
            positive=self.positive_code,
        )
        if self.split_sign:
            n_samples, n_features = code.shape
            split_code = np.empty((n_samples, 2 * n_features))
            split_code[:, :n_features] = np.maximum(code, 0)
            split_code[:, n_features:] = -np.minimum(code, 0)
            code = split_code
        return code


class OrthogonalMatchingPursuit(_sklm.OrthogonalMatchingPursuit):
    """scikit-learn's :class:`~sklearn.linear_model.OrthogonalMatchingPursuit` on our kernel.

    Identical parameters, attributes and behaviour.
    """

    def fit(self, X, y):
        try:
            from sklearn.linear_model._base import _pre_fit
            from sklearn.utils.validation import FLOAT_DTYPES, validate_data
        except ImportError:  # pragma: no cover - future scikit-learn layouts
            return super().fit(X, y)
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True,
                             dtype=FLOAT_DTYPES)
        n_features = X.shape[1]
        X, y, X_offset, y_offset, X_scale, Gram, Xy = _pre_fit(
            X, y, None, self.precompute, self.fit_intercept, copy=True, check_gram=False
        )
        if y.ndim == 1:
            y = y[:, np.newaxis]
        if self.n_nonzero_coefs is None and self.tol is None:
            self.n_nonzero_coefs_ = max(int(0.1 * n_features), 1)
        elif self.tol is not None:
            self.n_nonzero_coefs_ = None
        else:
            self.n_nonzero_coefs_ = self.n_nonzero_coefs
        if Gram is False:
            coef_, self.n_iter_ = orthogonal_mp(
                X, y, n_nonzero_coefs=self.n_nonzero_coefs_, tol=self.tol,
                precompute=False, copy_X=True, return_n_iter=True,
            )
        else:
            norms_sq = np.sum(y**2, axis=0) if self.tol is not None else None
            coef_, self.n_iter_ = orthogonal_mp_gram(
                Gram, Xy=Xy, n_nonzero_coefs=self.n_nonzero_coefs_, tol=self.tol,
                norms_squared=norms_sq, copy_Gram=True, copy_Xy=True, return_n_iter=True,
            )
        self.coef_ = coef_.T
        self._set_intercept(X_offset, y_offset, X_scale)
        return self

    # scikit-learn's own docstring links to a label of its docs (``r2_score``) that
    # these docs do not have; the same method, with a docstring that builds here.
    def score(self, X, y, sample_weight=None):
        """Coefficient of determination :math:`R^2` of the prediction on ``X``.

        Exactly scikit-learn's :meth:`sklearn.base.RegressorMixin.score`
        (:func:`sklearn.metrics.r2_score` of ``y`` and ``self.predict(X)``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        return super().score(X, y, sample_weight=sample_weight)
