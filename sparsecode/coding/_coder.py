"""SparseCoder: sparse codes of signals over a fixed dictionary, by any of our solvers."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..backends import any_torch
from ..base import BaseSparseEstimator
from ..utils._validation import check_dictionary, check_n_nonzero_coefs
from ._fista import fista, ista
from ._iht import cosamp, iht
from ._lars import _lars_codes
from ._omp import _omp_dense, _resolve_stopping

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
            "alpha": 1.0}


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
        "backend": [StrOptions({"numpy", "torch"})],
        "device": "no_validation",  # checked in fit (needs torch)
    }

    def __init__(self, dictionary, *, algorithm="omp", n_nonzero_coefs=None, tol=None,
                 alpha=1.0, positive=False, max_iter=None, solver_tol=1e-6, n_jobs=None,
                 backend="numpy", device=None):
        self.dictionary = dictionary
        self.algorithm = algorithm
        self.n_nonzero_coefs = n_nonzero_coefs
        self.tol = tol
        self.alpha = alpha
        self.positive = positive
        self.max_iter = max_iter
        self.solver_tol = solver_tol
        self.n_jobs = n_jobs
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

    def _check_backend(self):
        if self.backend == "numpy":
            if self.device is not None:
                raise ValueError(f"device={self.device!r} is only used with "
                                 "backend='torch'.")
            return
        from ..backends._torch_coder import TORCH_ALGORITHMS, resolve_device

        if self.algorithm not in TORCH_ALGORITHMS:
            raise ValueError(f"backend='torch' supports algorithm in "
                             f"{', '.join(map(repr, TORCH_ALGORITHMS))}; got "
                             f"algorithm={self.algorithm!r}.")
        resolve_device(self.device)

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
        self._check_algorithm_params()
        self._check_backend()
        dictionary = self.dictionary
        if any_torch(X, dictionary):  # validated on the host (the NumPy path's checks)
            from ..backends._torch_coder import to_numpy

            X, dictionary = to_numpy(X), to_numpy(dictionary)
        D = check_dictionary(dictionary)
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
            float32 for float32 input, float64 otherwise; a tensor on ``X``'s device
            for a tensor ``X`` with ``backend="torch"``.
        """
        check_is_fitted(self)
        if self.backend == "torch":
            from ..backends._torch_coder import transform_torch

            return transform_torch(self, X)
        X = self._validate_X(X, reset=False)
        D = np.ascontiguousarray(self.components_, dtype=X.dtype)
        G = self._gram.astype(X.dtype, copy=False)
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
