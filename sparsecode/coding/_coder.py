"""SparseCoder: sparse codes of signals over a fixed dictionary, by any of our solvers."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._jit import gram as _gram
from .._jit import gram_reused
from ..backends import any_torch
from ..base import BaseSparseEstimator
from ..utils._dask import is_dask_array
from ..utils._validation import (
    check_dictionary,
    check_n_nonzero_coefs,
    check_not_transposed,
)
from ._fista import fista, ista
from ._iht import cosamp, iht
from ._lars import _lars_codes
from ._omp import _omp_dense, _omp_sparse, _resolve_stopping
from ._sparse import dense_to_csr_chunked

#: Algorithms SparseCoder knows: name -> (what it solves, parameters it uses).
ALGORITHMS = {
    "omp": ("Batch Orthogonal Matching Pursuit", {"n_nonzero_coefs", "tol"}),
    "lasso_lars": ("exact lasso by LARS homotopy", {"alpha", "positive", "n_nonzero_coefs",
                                                    "max_iter"}),
    "lars": ("least-angle regression stopped at n_nonzero_coefs",
             {"n_nonzero_coefs", "positive", "max_iter"}),
    "fista": ("lasso by FISTA (accelerated proximal gradient)",
              {"alpha", "positive", "max_iter", "solver_tol"}),
    "ista": ("lasso by ISTA (proximal gradient)", {"alpha", "positive", "max_iter",
                                                   "solver_tol"}),
    "iht": ("normalised iterative hard thresholding", {"n_nonzero_coefs", "max_iter",
                                                       "solver_tol"}),
    "cosamp": ("CoSaMP", {"n_nonzero_coefs", "max_iter", "solver_tol"}),
}

#: Defaults of the parameters that only some algorithms use (so that a user setting one
#: an algorithm ignores gets an error instead of silence).
_NEUTRAL = {"tol": None, "positive": False, "max_iter": None, "solver_tol": 1e-6,
            "alpha": 1.0, "n_nonzero_coefs": None}


class SparseCoder(BaseSparseEstimator):
    r"""Sparse coding of signals over a fixed dictionary.

    Finds for every sample :math:`x` (a row of ``X``) a sparse code :math:`z` with
    :math:`x \approx z D`, by one of:

    ``"omp"`` (default) — Batch-OMP,
    :math:`\min_z \|x - zD\|_2^2` s.t. :math:`\|z\|_0 \le` ``n_nonzero_coefs`` or
    :math:`\|x - zD\|_2^2 \le` ``tol``;

    ``"lasso_lars"``, ``"fista"``, ``"ista"`` — the lasso, exact by LARS or iterative,

    .. math::

        \min_z \tfrac12 \|x - zD\|_2^2 + \alpha \|z\|_1 \quad (z \ge 0 \text{ if positive}),

    with ``alpha`` the same per-sample weight for every method;

    ``"lars"`` — least-angle regression stopped at ``n_nonzero_coefs`` atoms;

    ``"iht"``, ``"cosamp"`` — :math:`\min_z \|x - zD\|_2^2` s.t.
    :math:`\|z\|_0 \le` ``n_nonzero_coefs`` by normalised iterative hard thresholding
    or CoSaMP.

    Like scikit-learn's :class:`~sklearn.decomposition.SparseCoder`, the coder is
    stateless: given a dictionary it transforms without :meth:`fit`
    (``SparseCoder(D).transform(X)``); :meth:`fit` only validates, stores the
    dictionary in ``components_`` with its Gram matrix (saving that product on every
    later call) and sets ``n_features_in_``, as pipelines expect.

    Parameters
    ----------
    dictionary : array-like of shape (n_components, n_features)
        The atoms, one per row. Copied (as float) in :meth:`fit` to ``components_``.
    algorithm : {"omp", "lasso_lars", "lars", "fista", "ista", "iht", "cosamp"}, \
            default="omp"
    n_nonzero_coefs : int, default=None
        Number of nonzeros per sample (omp, lars, iht, cosamp; an optional cap for
        lasso_lars). When None: ``max(1, int(0.1 * n_features))`` (omp without ``tol``,
        lars, iht, cosamp) or no cap (lasso_lars).
    tol : float, default=None
        OMP only: target squared residual norm per sample; with ``n_nonzero_coefs``
        coding stops at whichever is reached first.
    alpha : float, default=1.0
        l1 weight of the lasso algorithms (lasso_lars, fista, ista).
    positive : bool, default=False
        Non-negative codes (lasso_lars, lars, fista, ista).
    max_iter : int, default=None
        Iteration limit of lars/lasso_lars (default ``max(500, 4 min(n_components,
        n_features))``), fista/ista (default 1000), iht (500) and cosamp (100).
    solver_tol : float, default=1e-6
        Relative step tolerance of the iterative solvers (fista, ista, iht, cosamp).
    n_jobs : int, default=None
        Threads used by the kernels (None: all Numba threads).
    output : {"dense", "sparse"}, default="dense"
        Format of the codes returned by :meth:`transform`: a NumPy array or a
        :class:`scipy.sparse.csr_array`. For ``"omp"``, ``"lasso_lars"`` and ``"lars"``
        the kernels build the CSR arrays directly, chunk by chunk, without a dense
        ``(n_samples, n_components)`` array; the other algorithms code one chunk of
        samples densely at a time and convert it. The nonzeros are exactly those of the
        dense codes. :meth:`inverse_transform` accepts either format.
    backend : {"numpy", "torch"}, default="numpy"
        ``"torch"`` codes with the torch solvers (algorithms ``"omp"``, ``"fista"``,
        ``"ista"``, ``"iht"``): a NumPy ``X`` is coded on ``device`` and its codes come
        back as NumPy; a torch tensor ``X`` is coded on its own device and gives a
        tensor. See :ref:`torch-backend`.
    device : str or torch.device, default=None
        Device of the torch backend for NumPy input (None: ``"cuda"`` when available,
        else ``"cpu"``). Only with ``backend="torch"``.

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
    sparsecode.orthogonal_mp, sparsecode.lasso_lars, sparsecode.fista, sparsecode.iht :
        the functions behind the algorithms.
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
    >>> lasso = SparseCoder(D, algorithm="lasso_lars", alpha=0.5).fit(X)
    >>> lasso.transform(X).shape
    (5, 30)
    """

    _parameter_constraints: dict = {
        "dictionary": ["array-like"],
        "algorithm": [StrOptions(set(ALGORITHMS))],
        "n_nonzero_coefs": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "tol": [Interval(numbers.Real, 0, None, closed="left"), None],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "positive": ["boolean"],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "solver_tol": [Interval(numbers.Real, 0, None, closed="neither")],
        "n_jobs": [numbers.Integral, None],
        "output": [StrOptions({"dense", "sparse"})],
        "backend": [StrOptions({"numpy", "torch"})],
        "device": "no_validation",  # checked in fit (needs torch)
    }

    def __init__(self, dictionary, *, algorithm="omp", n_nonzero_coefs=None, tol=None,
                 alpha=1.0, positive=False, max_iter=None, solver_tol=1e-6, n_jobs=None,
                 output="dense", backend="numpy", device=None):
        self.dictionary = dictionary
        self.algorithm = algorithm
        self.n_nonzero_coefs = n_nonzero_coefs
        self.tol = tol
        self.alpha = alpha
        self.positive = positive
        self.max_iter = max_iter
        self.solver_tol = solver_tol
        self.n_jobs = n_jobs
        self.output = output
        self.backend = backend
        self.device = device

    def _check_algorithm_params(self):
        used = ALGORITHMS[self.algorithm][1]
        for name, neutral in _NEUTRAL.items():
            value = getattr(self, name)
            if name not in used and value is not neutral and value != neutral:
                users = sorted(a for a, (_, p) in ALGORITHMS.items() if name in p)
                raise ValueError(
                    f"{name}={value!r} is not used by algorithm={self.algorithm!r}; it "
                    f"applies to {', '.join(map(repr, users))}."
                )

    def __sklearn_is_fitted__(self):
        # Stateless, as scikit-learn's SparseCoder: the dictionary is a parameter, so
        # the coder is ready to transform as soon as it is constructed.
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags

    def _state(self, dtype, dictionary=None):
        """``(D, G)`` in ``dtype``: from :meth:`fit`, or validated from ``dictionary``
        (an unfitted coder; nothing is stored on the estimator)."""
        if hasattr(self, "components_"):
            D, G = self.components_, self._gram
        else:
            self._validate_params()
            self._check_algorithm_params()
            D = check_dictionary(self.dictionary if dictionary is None else dictionary)
            check_n_nonzero_coefs(self.n_nonzero_coefs, D.shape[0])
            G = None
        D = np.ascontiguousarray(D, dtype=dtype)
        G = gram_reused(D) if G is None else G.astype(dtype, copy=False)
        return D, G

    def _check_backend(self):
        if self.backend == "numpy":
            if self.device is not None:
                raise ValueError(f"device={self.device!r} is only used with "
                                 "backend='torch'.")
            return
        if self.output == "sparse":
            raise ValueError("output='sparse' is not available with backend='torch' "
                             "(the torch solvers return dense tensors).")
        from ..backends._torch_coder import TORCH_ALGORITHMS, resolve_device

        if self.algorithm not in TORCH_ALGORITHMS:
            raise ValueError(f"backend='torch' supports algorithm in "
                             f"{', '.join(map(repr, TORCH_ALGORITHMS))}; got "
                             f"algorithm={self.algorithm!r}.")
        resolve_device(self.device)

    def fit(self, X, y=None):
        """Validate the dictionary and ``X``; the dictionary is not learned.

        Optional (:meth:`transform` works on an unfitted coder); kept for pipelines.

        Parameters
        ----------
        X : array-like or dask.array.Array of shape (n_samples, n_features)
            Only its shape is checked for a Dask array (nothing is computed).
        y : ignored

        Returns
        -------
        self : SparseCoder
        """
        self._validate_params()
        self._check_algorithm_params()
        self._check_backend()
        dictionary = self.dictionary
        if any_torch(X, dictionary):  # validated on the host (the NumPy path's checks)
            from ..backends._torch_coder import to_numpy

            X, dictionary = to_numpy(X), to_numpy(dictionary)
        D = check_dictionary(dictionary)
        if is_dask_array(X):
            self._dask_fit_check(X)
        else:
            X = self._validate_X(X, reset=True)
        if X.shape[1] != D.shape[1]:
            check_not_transposed(D.shape, X.shape[1])
            raise ValueError(
                f"X has {X.shape[1]} features but dictionary has {D.shape[1]}; "
                f"X must have shape (n_samples, {D.shape[1]})."
            )
        check_n_nonzero_coefs(self.n_nonzero_coefs, D.shape[0])
        self.components_ = D.copy()
        self.n_components_ = D.shape[0]
        self._gram = _gram(D)
        return self

    def transform(self, X):
        """Sparse codes of ``X``.

        Parameters
        ----------
        X : array-like or dask.array.Array of shape (n_samples, n_features)
            A Dask array must be chunked along its rows only (``X.rechunk({1: -1})``).

        Returns
        -------
        codes : ndarray or scipy.sparse.csr_array of shape (n_samples, n_components)
            float32 for float32 input, float64 otherwise; a ``csr_array`` with
            ``output="sparse"``. For a Dask ``X``, a lazy Dask array with the row chunks
            of ``X``: each block is coded by the NumPy path when computed, so
            ``transform(X).compute()`` equals the NumPy call on each block (and a NaN
            raises its ValueError then, at compute time).
        """
        check_is_fitted(self)
        if is_dask_array(X):
            n_components = (self.components_.shape[0] if hasattr(self, "components_")
                            else check_dictionary(self.dictionary).shape[0])
            return self._dask_transform(X, n_components)
        if self.backend == "torch":
            from ..backends._torch_coder import transform_torch

            return transform_torch(self, X)
        X = self._validate_X(X, reset=False)
        D, G = self._state(X.dtype)
        if X.shape[1] != D.shape[1]:
            check_not_transposed(D.shape, X.shape[1])
            raise ValueError(
                f"X has {X.shape[1]} features but dictionary has {D.shape[1]}; "
                f"X must have shape (n_samples, {D.shape[1]})."
            )
        if self.output == "sparse":
            return self._sparse_codes(X, D, G)
        return self._codes(X, D, G)

    def _sparse_codes(self, X, D, G):
        """CSR codes: direct for omp and lars, chunk-wise conversion otherwise."""
        if self.algorithm == "omp":
            max_k, tol = _resolve_stopping(self.n_nonzero_coefs, self.tol, *D.shape[::-1])
            return _omp_sparse(X, D, G, max_k, tol, True, self.n_jobs, False)
        if self.algorithm in ("lasso_lars", "lars"):
            return self._codes(X, D, G, output="sparse")
        return dense_to_csr_chunked(lambda s, e: self._codes(X[s:e], D, G),
                                    X.shape[0], D.shape[0], X.dtype)

    def _codes(self, X, D, G, output="dense"):
        """Codes by the algorithm; dense (lars, lasso_lars: also ``output="sparse"``)."""
        algorithm = self.algorithm
        if algorithm == "omp":
            max_k, tol = _resolve_stopping(self.n_nonzero_coefs, self.tol, *D.shape[::-1])
            return _omp_dense(X, D, G, max_k, tol, True, self.n_jobs, False)
        if algorithm in ("lasso_lars", "lars"):
            return _lars_codes(
                X, D, G, method="lasso" if algorithm == "lasso_lars" else "lar",
                alpha=self.alpha if algorithm == "lasso_lars" else 0.0,
                n_nonzero_coefs=self.n_nonzero_coefs,
                positive=self.positive, max_iter=self.max_iter, n_jobs=self.n_jobs,
                output=output,
            )
        if algorithm in ("fista", "ista"):
            solver = fista if algorithm == "fista" else ista
            return solver(X, D, alpha=self.alpha,
                          penalty="l1_positive" if self.positive else "l1",
                          max_iter=self.max_iter or 1000, tol=self.solver_tol,
                          n_jobs=self.n_jobs)
        solver = iht if algorithm == "iht" else cosamp
        return solver(X, D, n_nonzero_coefs=self.n_nonzero_coefs,
                      max_iter=self.max_iter or (500 if algorithm == "iht" else 100),
                      tol=self.solver_tol, n_jobs=self.n_jobs)

    def inverse_transform(self, X):
        """Reconstruct signals from codes: ``X @ dictionary``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Codes, as returned by :meth:`transform`.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features)
            In the dtype of the codes (float32 or float64).
        """
        if hasattr(self, "components_"):
            return super().inverse_transform(X)
        from sklearn.utils import check_array

        codes = check_array(X, dtype=[np.float64, np.float32], ensure_all_finite=True)
        D, _ = self._state(codes.dtype)
        if codes.shape[1] != D.shape[0]:
            raise ValueError(
                f"X has {codes.shape[1]} columns but the dictionary has {D.shape[0]} "
                f"atoms; codes must have shape (n_samples, {D.shape[0]})."
            )
        return codes @ D
