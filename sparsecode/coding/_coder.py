"""SparseCoder: sparse codes of signals over a fixed dictionary."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..base import BaseSparseEstimator
from ..utils._validation import check_dictionary, check_n_nonzero_coefs
from ._omp import _omp_dense, _resolve_stopping

#: Algorithms SparseCoder knows, name -> short description (the error message lists them).
ALGORITHMS = {
    "omp": "Batch Orthogonal Matching Pursuit (n_nonzero_coefs and/or tol)",
}


class SparseCoder(BaseSparseEstimator):
    r"""Sparse coding of signals over a fixed dictionary.

    Finds for every sample :math:`x` (a row of ``X``) a sparse code :math:`z` with
    :math:`x \approx z D`. With ``algorithm="omp"``:

    .. math::

        \min_z \|x - zD\|_2^2 \quad\text{s.t.}\quad \|z\|_0 \le
        \texttt{n\_nonzero\_coefs} \ \text{ or } \ \|x - zD\|_2^2 \le \texttt{tol}.

    Parameters
    ----------
    dictionary : array-like of shape (n_components, n_features)
        The atoms, one per row. Copied (as float) in :meth:`fit` to ``components_``.
    algorithm : {"omp"}, default="omp"
        Coding algorithm.
    n_nonzero_coefs : int, default=None
        Maximal number of nonzero coefficients per sample. When both this and ``tol``
        are None, ``max(1, int(0.1 * n_features))``.
    tol : float, default=None
        Target squared residual norm per sample (OMP); combined with
        ``n_nonzero_coefs`` coding stops at whichever is reached first.
    n_jobs : int, default=None
        Threads used by the kernels (None: all Numba threads).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The dictionary.
    n_components_ : int
        Number of atoms.
    n_features_in_ : int
        Number of features seen in :meth:`fit`.

    See Also
    --------
    sparsecode.orthogonal_mp : the function behind ``algorithm="omp"``.
    sparsecode.compat.SparseCoder : scikit-learn's exact interface.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode import SparseCoder
    >>> rng = np.random.default_rng(0)
    >>> D = rng.standard_normal((30, 10))
    >>> D /= np.linalg.norm(D, axis=1, keepdims=True)
    >>> X = rng.standard_normal((5, 10))
    >>> coder = SparseCoder(D, n_nonzero_coefs=3).fit(X)
    >>> codes = coder.transform(X)
    >>> codes.shape, int((codes != 0).sum(axis=1).max())
    ((5, 30), 3)
    """

    _parameter_constraints: dict = {
        "dictionary": ["array-like"],
        "algorithm": [StrOptions(set(ALGORITHMS))],
        "n_nonzero_coefs": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "tol": [Interval(numbers.Real, 0, None, closed="left"), None],
        "n_jobs": [numbers.Integral, None],
    }

    def __init__(self, dictionary, *, algorithm="omp", n_nonzero_coefs=None, tol=None,
                 n_jobs=None):
        self.dictionary = dictionary
        self.algorithm = algorithm
        self.n_nonzero_coefs = n_nonzero_coefs
        self.tol = tol
        self.n_jobs = n_jobs

    def fit(self, X, y=None):
        """Validate the dictionary and ``X``; the dictionary is not learned.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self : SparseCoder
        """
        self._validate_params()
        D = check_dictionary(self.dictionary)
        X = self._validate_X(X, reset=True)
        if X.shape[1] != D.shape[1]:
            raise ValueError(
                f"X has {X.shape[1]} features but dictionary has {D.shape[1]}; "
                f"X must have shape (n_samples, {D.shape[1]})."
            )
        check_n_nonzero_coefs(self.n_nonzero_coefs, D.shape[0])
        self.components_ = D.copy()
        self.n_components_ = D.shape[0]
        self._gram = D @ D.T
        return self

    def transform(self, X):
        """Sparse codes of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        codes : ndarray of shape (n_samples, n_components)
            float32 for float32 input, float64 otherwise.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        D = self.components_.astype(X.dtype, copy=False)
        G = self._gram.astype(X.dtype, copy=False)
        max_k, tol = _resolve_stopping(self.n_nonzero_coefs, self.tol, *D.shape[::-1])
        return _omp_dense(X, np.ascontiguousarray(D), G, max_k, tol, True, self.n_jobs, False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
