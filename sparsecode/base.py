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

from .utils._dask import check_dask_rows, is_dask_array, map_method_rows

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

    def _dask_transform(self, X, n_out, method="transform"):
        """Lazy ``method`` over the row blocks of the Dask array ``X`` (fitted ``self``).

        Checked now: the shape, dtype and chunking of ``X`` and its number of features.
        Each block is then validated by the NumPy ``method`` when it is computed (a NaN
        raises the NumPy path's ValueError at compute time).
        """
        if method == "transform" and getattr(self, "output", "dense") == "sparse":
            raise ValueError(
                "output='sparse' is for in-memory X; for a Dask X use output='dense' "
                "(each block's codes can be made sparse by the caller with map_blocks)."
            )
        dtype = check_dask_rows(X, n_columns=getattr(self, "n_features_in_", None),
                                owner=type(self).__name__)
        return map_method_rows(self, method, X, n_out=n_out, dtype=dtype)

    def _dask_fit_check(self, X):
        """``fit``-time check of a Dask ``X``: sets ``n_features_in_`` without computing."""
        dtype = check_dask_rows(X)
        self.n_features_in_ = int(X.shape[1])
        if hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return dtype

    def inverse_transform(self, X):
        """Reconstruct signals from codes: ``X @ components_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} or dask.array.Array of shape \
                (n_samples, n_components)
            Codes, as returned by :meth:`transform`: dense, or a SciPy sparse array or
            matrix (CSR, CSC or COO, e.g. from ``output="sparse"``), which gives the
            same reconstruction (to rounding: the sum runs over the nonzeros only). A Dask
            array must be chunked along its rows only.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features)
            Reconstructed signals, in the dtype of the codes (float32 or float64). A
            lazy Dask array with the row chunks of ``X`` for a Dask ``X``.
        """
        check_is_fitted(self)
        from sklearn.utils import check_array

        if is_dask_array(X):
            n_comp, n_feat = self.components_.shape
            dtype = check_dask_rows(X, n_columns=n_comp, owner=type(self).__name__,
                                    what="components")
            return map_method_rows(self, "inverse_transform", X, n_out=n_feat, dtype=dtype)

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
