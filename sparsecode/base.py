"""The estimator base shared by every model of the library.

All estimators follow scikit-learn's contract: the constructor stores its parameters
and nothing else; ``fit`` validates, learns and returns ``self``; learned state ends in
``_``; ``transform`` starts with ``check_is_fitted``. Samples are rows:
``X (n_samples, n_features)``, ``components_ (n_components, n_features)``, codes
``(n_samples, n_components)`` with ``X ≈ codes @ components_``. float32 inputs give
float32 outputs, anything else float64.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

FLOAT_DTYPES = [np.float64, np.float32]


class BaseSparseEstimator(TransformerMixin, BaseEstimator):
    """Base class of sparsecode's estimators (scikit-learn compatible).

    Subclasses implement ``fit`` and ``transform``; this base adds the dtype tags,
    validated input helpers and ``inverse_transform`` (``codes @ components_``).
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.allow_nan = False
        return tags

    # -- validation helpers -------------------------------------------------------
    def _validate_X(self, X, *, reset):
        """Validate ``X``; sets ``n_features_in_`` when ``reset``."""
        return validate_data(
            self, X, dtype=FLOAT_DTYPES, ensure_all_finite=True, reset=reset,
            order="C",
        )

    def inverse_transform(self, X):
        """Reconstruct signals from codes: ``X @ components_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_components)
            Codes, as returned by :meth:`transform`: dense, or a SciPy sparse array or
            matrix (CSR, CSC or COO, e.g. from ``output="sparse"``), which gives the
            same reconstruction (to rounding: the sum runs over the nonzeros only).

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features)
            Reconstructed signals, in the dtype of the codes (float32 or float64).
        """
        check_is_fitted(self)
        from sklearn.utils import check_array

        codes = check_array(X, dtype=FLOAT_DTYPES, ensure_all_finite=True,
                            accept_sparse=("csr", "csc", "coo"))
        components = self.components_
        if codes.shape[1] != components.shape[0]:
            raise ValueError(
                f"X has {codes.shape[1]} columns but this model has "
                f"{components.shape[0]} components; codes must have shape "
                f"(n_samples, {components.shape[0]})."
            )
        return np.asarray(codes @ components.astype(codes.dtype, copy=False))
