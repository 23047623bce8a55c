"""Estimators: DictionaryLearning (K-SVD, approximate K-SVD, MOD) and the online learner."""

from __future__ import annotations

import numbers
import time

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._jit import gram as _gram
from ..base import BaseSparseEstimator
from ..utils._dask import check_dask_rows, is_dask_array, iter_row_blocks
from ..utils._validation import check_random_state
from ._batch import BATCH_UPDATES, learn_batch
from ._common import (
    CODERS,
    INITS,
    IterationRecord,
    resolve_coder,
    run_coder,
    run_coder_sparse,
)
from ._online import online_step, start_online

_COMMON_CONSTRAINTS = {
    "n_components": [Interval(numbers.Integral, 1, None, closed="left"), None],
    "coder": [StrOptions(set(CODERS)), callable],
    "n_nonzero_coefs": [Interval(numbers.Integral, 1, None, closed="left"), None],
    "tol": [Interval(numbers.Real, 0, None, closed="left"), None],
    "alpha": [Interval(numbers.Real, 0, None, closed="left"), None],
    "init": [StrOptions(set(INITS)), "array-like"],
    "replace_atoms": ["boolean"],
    "duplicate_threshold": [Interval(numbers.Real, 0, 1, closed="right")],
    "random_state": ["random_state"],
    "n_jobs": [numbers.Integral, None],
    "verbose": ["verbose"],
    "callback": [callable, None],
    "output": [StrOptions({"dense", "sparse"})],
}


class _DictionaryMixin:
    """``transform`` by the estimator's coder, shared by both learners."""

    def _coder(self, n_components):
        return resolve_coder(self.coder, n_nonzero_coefs=self.n_nonzero_coefs, tol=self.tol,
                             alpha=self.alpha, n_jobs=self.n_jobs, n_components=n_components)

    def transform(self, X):
        """Sparse codes of ``X`` over ``components_`` with the estimator's coder.

        Parameters
        ----------
        X : array-like or dask.array.Array of shape (n_samples, n_features)
            A Dask array must be chunked along its rows only (``X.rechunk({1: -1})``).

        Returns
        -------
        codes : ndarray or scipy.sparse.csr_array of shape (n_samples, n_components)
            In ``X``'s dtype (float32 or float64); a ``csr_array`` with
            ``output="sparse"``. For a Dask ``X``, a lazy Dask array with the row chunks
            of ``X``, each block coded by the NumPy path when computed (a NaN raises the
            NumPy path's ValueError at compute time).
        """
        check_is_fitted(self)
        if is_dask_array(X):
            return self._dask_transform(X, self.components_.shape[0])
        X = self._validate_X(X, reset=False)
        D = self.components_.astype(X.dtype, copy=False)
        if self.output == "sparse":
            return run_coder_sparse(self.coder, X, D, _gram(D),
                                    n_nonzero_coefs=self.n_nonzero_coefs, tol=self.tol,
                                    alpha=self.alpha, n_jobs=self.n_jobs)
        return run_coder(self._coder(D.shape[0]), X, D, _gram(D))

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def _n_components(self, n_features):
        return n_features if self.n_components is None else self.n_components


class DictionaryLearning(_DictionaryMixin, BaseSparseEstimator):
    r"""Batch dictionary learning: approximate K-SVD, exact K-SVD or MOD.

    Solves, alternating sparse coding (OMP by default) and a dictionary update,

    .. math::

        \min_{D, Z} \|X - Z D\|_F^2 \quad\text{s.t.}\quad \|z_i\|_0 \le k
        \ (\text{or } \|x_i - z_i D\|_2^2 \le \mathrm{tol}),\quad \|d_j\|_2 = 1.

    One class for the three batch algorithms because they share every parameter and
    differ only in the dictionary update (``algorithm``); online learning has its own
    parameters (mini-batches, shuffling, ``partial_fit``) and its own class,
    :class:`MiniBatchDictionaryLearning`.

    Parameters
    ----------
    n_components : int, default=None
        Number of atoms (``n_features`` if None); at most ``n_samples``.
    algorithm : {"approx_ksvd", "ksvd", "mod"}, default="approx_ksvd"
        Dictionary update (see :func:`sparsecode.dictionary.ksvd`,
        :func:`sparsecode.dictionary.mod`).
    coder : {"omp", "lasso_lars"} or callable, default="omp"
        Sparse coder used in ``fit`` and ``transform``; a callable gets
        ``(X, dictionary, gram)`` and returns codes.
    n_nonzero_coefs : int, default=None
        OMP sparsity (``max(1, int(0.1 * n_features))`` if this and ``tol`` are None).
    tol : float, default=None
        OMP target squared residual norm per sample.
    alpha : float, default=None
        Penalty of ``coder="lasso_lars"``.
    max_iter : int, default=10
        Iterations.
    init : {"data", "random", "dct"} or array-like, default="data"
        Initial dictionary.
    replace_atoms : bool, default=True
        Replace dead and duplicate atoms by the worst-represented samples.
    duplicate_threshold : float, default=0.99
        Coherence above which two atoms are duplicates.
    convergence_tol : float, default=None
        Stop when the relative decrease of the error is at most this.
    min_usage : float, default=0.0
        Atoms used by fewer than this fraction of the mean usage are replaced too.
    random_state : int, RandomState instance or None, default=None
    n_jobs : int, default=None
        Threads (None: all Numba threads).
    verbose : bool, default=False
        tqdm progress bar.
    callback : callable, default=None
        Called with an :class:`~sparsecode.dictionary.IterationRecord` after each
        iteration; returning True stops.
    output : {"dense", "sparse"}, default="dense"
        Format of the codes returned by :meth:`transform`: a NumPy array or a
        :class:`scipy.sparse.csr_array` (built directly by the OMP / LARS kernels,
        chunk by chunk, without a dense ``(n_samples, n_components)`` array; a callable
        ``coder`` is applied to chunks of samples whose codes are converted). Learning
        (:meth:`fit`) is not affected. :meth:`inverse_transform` accepts either format.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Unit-norm atoms.
    n_iter_ : int
        Iterations run.
    error_ : ndarray of shape ``(n_iter_,)``
        RMS training error after each iteration.
    n_replaced_ : ndarray of shape ``(n_iter_,)``
        Atoms replaced at each iteration.
    n_features_in_ : int

    References
    ----------
    M. Aharon, M. Elad, A. Bruckstein (2006), doi:10.1109/TSP.2006.881199.
    K. Engan, S. O. Aase, J. H. Husøy (1999), doi:10.1109/ICASSP.1999.760624.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.dictionary import DictionaryLearning
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 16))
    >>> est = DictionaryLearning(24, n_nonzero_coefs=3, max_iter=5, random_state=0)
    >>> est.fit(X).transform(X).shape
    (200, 24)
    """

    _parameter_constraints: dict = {
        **_COMMON_CONSTRAINTS,
        "algorithm": [StrOptions(set(BATCH_UPDATES))],
        "max_iter": [Interval(numbers.Integral, 0, None, closed="left")],
        "convergence_tol": [Interval(numbers.Real, 0, None, closed="left"), None],
        "min_usage": [Interval(numbers.Real, 0, None, closed="left")],
    }

    def __init__(self, n_components=None, *, algorithm="approx_ksvd", coder="omp",
                 n_nonzero_coefs=None, tol=None, alpha=None, max_iter=10, init="data",
                 replace_atoms=True, duplicate_threshold=0.99, convergence_tol=None,
                 min_usage=0.0, random_state=None, n_jobs=None, verbose=False, callback=None,
                 output="dense"):
        self.n_components = n_components
        self.algorithm = algorithm
        self.coder = coder
        self.n_nonzero_coefs = n_nonzero_coefs
        self.tol = tol
        self.alpha = alpha
        self.max_iter = max_iter
        self.init = init
        self.replace_atoms = replace_atoms
        self.duplicate_threshold = duplicate_threshold
        self.convergence_tol = convergence_tol
        self.min_usage = min_usage
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.callback = callback
        self.output = output

    def fit(self, X, y=None):
        """Learn the dictionary from ``X (n_samples, n_features)``; returns ``self``."""
        self._validate_params()
        X = self._validate_X(X, reset=True)
        D, _, info = learn_batch(
            X, self._n_components(X.shape[1]), self.algorithm, coder=self.coder,
            n_nonzero_coefs=self.n_nonzero_coefs, tol=self.tol, alpha=self.alpha,
            max_iter=self.max_iter, init=self.init, random_state=self.random_state,
            n_jobs=self.n_jobs, verbose=self.verbose, callback=self.callback,
            replace_atoms_=self.replace_atoms, duplicate_threshold=self.duplicate_threshold,
            convergence_tol=self.convergence_tol, min_usage=self.min_usage,
        )
        self.components_ = D
        self.n_iter_ = info.n_iter
        self.error_ = info.error
        self.n_replaced_ = info.n_replaced
        return self


class MiniBatchDictionaryLearning(_DictionaryMixin, BaseSparseEstimator):
    r"""Online dictionary learning with mini-batches and ``partial_fit``.

    Mairal et al. (2010): each mini-batch is coded with the current dictionary (OMP by
    default, or the lasso), running statistics :math:`A = \sum \beta_t Z^\top Z`,
    :math:`B = \sum \beta_t Z^\top X` are updated with forgetting, and one
    block-coordinate sweep updates the unit-norm atoms,

    .. math::

        d_j \leftarrow \frac{u_j}{\|u_j\|_2},\qquad u_j = d_j + \frac{b_j - a_j^\top D}{A_{jj}}.

    ``partial_fit`` initialises itself on its first call and processes its input in
    mini-batches of ``batch_size`` in order, so ``partial_fit`` over consecutive chunks
    (multiples of ``batch_size``) gives the same dictionary as ``fit`` with
    ``shuffle=False, max_iter=1`` on their concatenation.

    Parameters
    ----------
    n_components : int, default=None
        Number of atoms (``n_features`` if None).
    coder, n_nonzero_coefs, tol, alpha, init, replace_atoms, duplicate_threshold
        As in :class:`DictionaryLearning`; ``init="data"`` draws atoms from the first
        mini-batch.
    batch_size : int, default=256
        Samples per mini-batch.
    max_iter : int, default=5
        Epochs of :meth:`fit` over the data.
    shuffle : bool, default=True
        Shuffle the samples at each epoch of :meth:`fit`.
    forget_rate : float, default=10.0
        :math:`\rho` of the forgetting factor :math:`\beta_t = (1 - 1/t)^\rho` applied
        to the running statistics at mini-batch :math:`t` (Mairal et al. 2010, sec.
        3.4.3): after :math:`t` mini-batches, mini-batch :math:`i` weighs
        :math:`(i/t)^\rho`, so statistics gathered with early, poor dictionaries fade.
        0 gives the plain running average.
    random_state, n_jobs, verbose, callback
        As in :class:`DictionaryLearning` (the callback is called per mini-batch).
    output : {"dense", "sparse"}, default="dense"
        Format of the codes of :meth:`transform`, as in :class:`DictionaryLearning`.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
    n_iter_ : int
        Epochs run by :meth:`fit` (0 after only :meth:`partial_fit`).
    n_steps_ : int
        Mini-batches processed.
    error_ : ndarray of shape ``(n_steps_,)``
        RMS error of each mini-batch coded with the dictionary before its update.
    n_features_in_ : int

    References
    ----------
    J. Mairal, F. Bach, J. Ponce, G. Sapiro (2010), doi:10.1145/1756006.1756008.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.dictionary import MiniBatchDictionaryLearning
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((500, 16))
    >>> est = MiniBatchDictionaryLearning(24, n_nonzero_coefs=3, batch_size=100,
    ...                                   random_state=0)
    >>> est.partial_fit(X[:200]).partial_fit(X[200:]).n_steps_
    5
    """

    _parameter_constraints: dict = {
        **_COMMON_CONSTRAINTS,
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 0, None, closed="left")],
        "shuffle": ["boolean"],
        "forget_rate": [Interval(numbers.Real, 0, None, closed="left")],
    }

    def __init__(self, n_components=None, *, coder="omp", n_nonzero_coefs=None, tol=None,
                 alpha=None, batch_size=256, max_iter=5, init="data", shuffle=True,
                 forget_rate=10.0, replace_atoms=True, duplicate_threshold=0.99, random_state=None,
                 n_jobs=None, verbose=False, callback=None, output="dense"):
        self.n_components = n_components
        self.coder = coder
        self.n_nonzero_coefs = n_nonzero_coefs
        self.tol = tol
        self.alpha = alpha
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.init = init
        self.shuffle = shuffle
        self.forget_rate = forget_rate
        self.replace_atoms = replace_atoms
        self.duplicate_threshold = duplicate_threshold
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.callback = callback
        self.output = output

    def _reset(self):
        for name in ("_state", "_rng", "_records", "_start"):
            if hasattr(self, name):
                delattr(self, name)

    def _run_batches(self, X, order):
        """Process ``X[order]`` in mini-batches; returns False if the callback stopped."""
        bs = self.batch_size
        n = X.shape[0]
        k = self._n_components(X.shape[1])
        code_fn = self._coder(k)
        for b in range(-(-n // bs)):
            sl = slice(b * bs, (b + 1) * bs)
            Xb = np.ascontiguousarray(X[sl] if order is None else X[order[sl]])
            if not hasattr(self, "_state"):
                self._state = start_online(Xb, k, self.init, self._rng)
            error, n_rep = online_step(
                self._state, Xb, code_fn, batch_size=bs, forget_rate=self.forget_rate,
                replace=self.replace_atoms,
                duplicate_threshold=self.duplicate_threshold, n_jobs=self.n_jobs)
            rec = IterationRecord(len(self._records), error,
                                  time.perf_counter() - self._start, n_rep)
            self._records.append(rec)
            if self.callback is not None and self.callback(rec):
                return False
        return True

    def _publish(self):
        self.components_ = self._state.D.copy()
        self.n_steps_ = self._state.n_steps
        self.error_ = np.array([r.error for r in self._records], dtype=np.float64)

    def _run_blocks(self, X, shuffle):
        """Mini-batches over the row blocks of the Dask array ``X``, one block at a time.

        Rows left at the end of a block (fewer than ``batch_size``) are carried into the
        next one, so the mini-batches are those of the concatenated array and the last
        one may be short, as on NumPy input. With ``shuffle`` the blocks are visited in
        a random order and the rows of each block are permuted. Returns False if the
        callback stopped.
        """
        bs = self.batch_size
        order = self._rng.permutation(X.numblocks[0]) if shuffle else None
        carry = None
        for block in iter_row_blocks(X, order):
            if block.shape[0] == 0:
                continue
            block = self._validate_X(block, reset=False)
            if shuffle:
                block = block[self._rng.permutation(block.shape[0])]
            if carry is not None:
                block = np.concatenate([carry, block])
                carry = None
            n_full = block.shape[0] - block.shape[0] % bs
            if n_full and not self._run_batches(block[:n_full], None):
                return False
            if n_full < block.shape[0]:
                carry = block[n_full:].copy()
            del block
        return True if carry is None else self._run_batches(carry, None)

    def _first_block(self, X):
        for block in iter_row_blocks(X):
            if block.shape[0]:
                return self._validate_X(block, reset=False)
        raise ValueError(f"X has no samples (shape {X.shape}).")

    def fit(self, X, y=None):
        """Learn the dictionary from ``X``, ``max_iter`` epochs; returns ``self``.

        Parameters
        ----------
        X : array-like or dask.array.Array of shape (n_samples, n_features)
            A Dask array (chunked along its rows only) is streamed: its blocks are
            computed one at a time, in order, and go through the mini-batches as
            :meth:`partial_fit` would take them, so memory stays bounded by a block.
            With ``shuffle=False`` the result equals ``fit`` on the computed array;
            with ``shuffle=True`` each epoch visits the blocks in a random order and
            permutes the rows within each block (not across blocks). With
            ``max_iter=0`` and ``init="data"`` the atoms come from the first block.
        y : ignored
        """
        self._validate_params()
        lazy = is_dask_array(X)
        if lazy:
            self._dask_fit_check(X)
        else:
            X = self._validate_X(X, reset=True)
        self._reset()
        self._rng = check_random_state(self.random_state)
        self._records = []
        self._start = time.perf_counter()
        from ._common import progress

        n_epochs = 0
        with progress(self.max_iter, self.verbose, "online") as bar:
            for _ in range(self.max_iter):
                if lazy:
                    go = self._run_blocks(X, self.shuffle)
                else:
                    order = self._rng.permutation(X.shape[0]) if self.shuffle else None
                    go = self._run_batches(X, order)
                n_epochs += 1
                bar.update(1)
                if not go:
                    break
        if not hasattr(self, "_state"):  # max_iter == 0
            X0 = self._first_block(X) if lazy else X
            self._state = start_online(X0, self._n_components(X0.shape[1]), self.init,
                                       self._rng)
        self.n_iter_ = n_epochs
        self._publish()
        return self

    def partial_fit(self, X, y=None):
        """Update the dictionary with the mini-batches of ``X`` (in order); returns self.

        A Dask ``X`` (chunked along its rows only) is streamed block by block, in order,
        with the same mini-batches as its computed array.
        """
        first = not hasattr(self, "_state")
        if first:
            self._validate_params()
            self._rng = check_random_state(self.random_state)
            self._records = []
            self._start = time.perf_counter()
            self.n_iter_ = 0
        if is_dask_array(X):
            if first:
                self._dask_fit_check(X)
            else:
                check_dask_rows(X, n_columns=self.n_features_in_, owner=type(self).__name__)
            self._run_blocks(X, False)
        else:
            X = self._validate_X(X, reset=first)
            self._run_batches(X, None)
        self._publish()
        return self
