"""Drop-in replacements for scikit-learn's sparse-coding API, backed by our kernels.

Replace ``from sklearn.decomposition import SparseCoder, sparse_encode`` or
``from sklearn.linear_model import orthogonal_mp, orthogonal_mp_gram,
OrthogonalMatchingPursuit`` by the same names from ``sparsecode.compat``: the names,
signatures, defaults, shapes and output conventions are scikit-learn's (columns are
samples where scikit-learn says so), the work is done by sparsecode's Numba kernels.
Options the kernels do not cover yet (``return_path=True``, coding algorithms other than
those implemented here) are delegated to scikit-learn, so nothing fails that works there.

Differences that remain are documented per function.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn import decomposition as _skd
from sklearn import linear_model as _sklm
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from joblib import effective_n_jobs

from .coding._omp import _omp_dense, _omp_gram

__all__ = [
    "sparse_encode",
    "SparseCoder",
    "orthogonal_mp",
    "orthogonal_mp_gram",
    "OrthogonalMatchingPursuit",
]


def _common_dtype(*arrays):
    return np.result_type(*[a.dtype for a in arrays], np.float32)


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
    for compatibility). Differences: no ``RuntimeWarning`` on premature stops.
    """
    if return_path:
        return _sklm.orthogonal_mp_gram(
            Gram, Xy, n_nonzero_coefs=n_nonzero_coefs, tol=tol,
            norms_squared=norms_squared, copy_Gram=copy_Gram, copy_Xy=copy_Xy,
            return_path=True, return_n_iter=return_n_iter,
        )
    Gram = check_array(Gram)
    Xy = np.asarray(Xy)
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
        max_k = len(Gram)
    else:
        norms2 = np.zeros(cov.shape[0], dtype=dtype)
        max_k = int(n_nonzero_coefs)
    codes, n_iter = _omp_gram(G, cov, norms2, max_k, -1.0 if tol is None else float(tol),
                              False, None, True)
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
    G = D @ D.T
    if tol is not None:
        max_k = X.shape[1]
        tol_ = float(tol)
    else:
        max_k = int(n_nonzero_coefs)
        tol_ = -1.0
    codes, n_iter = _omp_dense(signals, D, G, min(max_k, D.shape[0]), tol_, False, None, True)
    coef = np.squeeze(codes.T)
    if precompute:
        # scikit-learn's precompute path returns the coefficients only, even with
        # return_n_iter=True; a drop-in does the same.
        return coef
    n_iters = int(n_iter[0]) if n_iter.shape[0] == 1 else n_iter.tolist()
    return (coef, n_iters) if return_n_iter else coef


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
    """Sparse coding, scikit-learn's :func:`~sklearn.decomposition.sparse_encode`.

    ``algorithm="omp"`` runs on sparsecode's Batch-OMP kernel (as in scikit-learn, the
    stopping rule is ``n_nonzero_coefs``, defaulting to ``n_features / 10``); the other
    algorithms are delegated to scikit-learn.
    """
    if algorithm != "omp" or positive:
        return _skd.sparse_encode(
            X, dictionary, gram=gram, cov=cov, algorithm=algorithm,
            n_nonzero_coefs=n_nonzero_coefs, alpha=alpha, copy_cov=copy_cov, init=init,
            max_iter=max_iter, n_jobs=n_jobs, check_input=check_input, verbose=verbose,
            positive=positive,
        )
    if check_input:
        dictionary = check_array(dictionary, dtype=[np.float64, np.float32])
        X = check_array(X, dtype=[np.float64, np.float32])
    if dictionary.shape[1] != X.shape[1]:
        raise ValueError(
            "Dictionary and X have different numbers of features:"
            "dictionary.shape: {} X.shape{}".format(dictionary.shape, X.shape)
        )
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
        G = D @ D.T
    else:
        G = np.ascontiguousarray(gram, dtype=dtype)
    if cov is None:
        codes = _omp_dense(np.ascontiguousarray(X), D, G, max_k, -1.0, False, n_jobs, False)
    else:
        cov_rows = np.ascontiguousarray(np.asarray(cov).T, dtype=dtype)
        codes = _omp_gram(G, cov_rows, np.zeros(n_samples, dtype), max_k, -1.0, False,
                          n_jobs, False)
    if effective_n_jobs(n_jobs) != 1:
        codes = codes.astype(np.float64, copy=False)  # scikit-learn's parallel path
    return codes


class SparseCoder(_skd.SparseCoder):
    """scikit-learn's :class:`~sklearn.decomposition.SparseCoder`, OMP on our kernel.

    Identical parameters and behaviour; ``transform_algorithm="omp"`` runs on
    sparsecode's Batch-OMP, other algorithms on scikit-learn's code.
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
