"""scikit-learn drop-ins for dictionary learning, with K-SVD, approximate K-SVD and MOD.

:class:`DictionaryLearning`, :class:`MiniBatchDictionaryLearning`, :func:`dict_learning`
and :func:`dict_learning_online` have scikit-learn's exact names, signatures and
defaults (they subclass / wrap ``sklearn.decomposition``). What they add:

* ``fit_algorithm`` (``method`` for the functions) also accepts ``"ksvd"``,
  ``"approx_ksvd"`` and ``"mod"`` (sparsecode's batch learners, OMP coding step);
  the online ones also accept ``"omp"`` (Mairal et al.'s online learner with
  sparsecode's OMP coder). ``"lars"`` and ``"cd"`` run scikit-learn's code unchanged.
* With the new algorithms the parameters read as follows:
  ``transform_n_nonzero_coefs`` is also the sparsity of the coding step in ``fit``
  (``max(1, int(0.1 * n_features))`` if None; the functions, which have no such
  parameter, use that default); ``alpha`` is not used (it is a lasso penalty);
  ``tol`` is the relative decrease of the RMS error below which the batch learners stop
  (the online ones ignore ``tol``/``max_no_improvement`` and run ``max_iter`` epochs);
  ``dict_init`` is the initial dictionary (random training samples if None, not
  scikit-learn's SVD initialisation); ``callback`` receives a
  :class:`sparsecode.dictionary.IterationRecord` instead of ``locals()``;
  ``error_`` is the RMS training error per iteration (not the lasso objective).
  ``positive_code``/``positive_dict``/``code_init`` are not supported by them and
  raise a ValueError.

The lead re-exports these from :mod:`sparsecode.compat`.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn import decomposition as _skd
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_random_state, validate_data

from .dictionary._batch import learn_batch
from .dictionary._common import IterationRecord
from .dictionary._online import online_step, start_online

#: Batch algorithms added to scikit-learn's ``fit_algorithm`` / ``method``.
BATCH = {"ksvd": "ksvd", "approx_ksvd": "approx_ksvd", "mod": "mod"}
#: Online algorithm added to the online learners.
ONLINE = ("omp",)


def _n_nonzero(k, n_features, n_components):
    if k is None:
        k = max(1, int(0.1 * n_features))
    return min(int(k), n_components)


def _unsupported(algorithm, positive_code=False, positive_dict=False, code_init=None):
    for name, value in (("positive_code", positive_code), ("positive_dict", positive_dict)):
        if value:
            raise ValueError(f"{name}=True is not supported with fit_algorithm={algorithm!r}; "
                             "use 'lars' or 'cd'.")
    if code_init is not None:
        raise ValueError(f"code_init is not supported with fit_algorithm={algorithm!r}; "
                         "pass dict_init instead.")


def _run_batch(X, n_components, algorithm, *, n_nonzero_coefs, max_iter, tol, dict_init,
               random_state, n_jobs, verbose, callback):
    X = np.ascontiguousarray(X)
    init = "data" if dict_init is None else np.asarray(dict_init, dtype=X.dtype)
    k = _n_nonzero(n_nonzero_coefs, X.shape[1], n_components)
    return learn_batch(X, n_components, BATCH[algorithm], n_nonzero_coefs=k,
                       max_iter=max_iter, init=init, random_state=random_state,
                       n_jobs=n_jobs, verbose=bool(verbose), callback=callback,
                       convergence_tol=tol)


class DictionaryLearning(_skd.DictionaryLearning):
    """scikit-learn's ``DictionaryLearning`` (same parameters, defaults and attributes).

    ``fit_algorithm`` also accepts ``"ksvd"``, ``"approx_ksvd"`` and ``"mod"``; see
    :mod:`sparsecode.compat_dictionary` for how the parameters read with them and
    :class:`sklearn.decomposition.DictionaryLearning` for everything else.
    """

    _parameter_constraints: dict = {
        **_skd.DictionaryLearning._parameter_constraints,
        "fit_algorithm": [StrOptions({"lars", "cd", *BATCH})],
    }

    def fit_transform(self, X, y=None):
        if self.fit_algorithm not in BATCH:
            return super().fit_transform(X, y)
        self._validate_params()
        _unsupported(self.fit_algorithm, self.positive_code, self.positive_dict,
                     self.code_init)
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        n_components = X.shape[1] if self.n_components is None else self.n_components
        D, codes, info = _run_batch(
            X, n_components, self.fit_algorithm, n_nonzero_coefs=self.transform_n_nonzero_coefs,
            max_iter=self.max_iter, tol=self.tol, dict_init=self.dict_init,
            random_state=self.random_state, n_jobs=self.n_jobs, verbose=self.verbose,
            callback=self.callback)
        self.components_ = D
        self.error_ = info.error
        self.n_iter_ = info.n_iter
        # scikit-learn's contract: fit_transform(X) == fit(X).transform(X), so the
        # codes are recomputed with the final dictionary (not the last sweep's codes).
        return self.transform(X)

    def fit(self, X, y=None):
        self.fit_transform(X)
        return self


class MiniBatchDictionaryLearning(_skd.MiniBatchDictionaryLearning):
    """scikit-learn's ``MiniBatchDictionaryLearning`` (same parameters and defaults).

    ``fit_algorithm`` also accepts ``"omp"`` (online learning with sparsecode's OMP
    coder; ``partial_fit`` treats its input as one mini-batch, as scikit-learn does) and
    ``"ksvd"``, ``"approx_ksvd"``, ``"mod"`` (batch learners run by ``fit``; no
    ``partial_fit``). See :mod:`sparsecode.compat_dictionary` and
    :class:`sklearn.decomposition.MiniBatchDictionaryLearning`.
    """

    _parameter_constraints: dict = {
        **_skd.MiniBatchDictionaryLearning._parameter_constraints,
        "fit_algorithm": [StrOptions({"lars", "cd", *ONLINE, *BATCH})],
    }

    def _ours_setup(self, X):
        _unsupported(self.fit_algorithm, self.positive_code, self.positive_dict)
        self._n_components = X.shape[1] if self.n_components is None else self.n_components
        self._k = _n_nonzero(self.transform_n_nonzero_coefs, X.shape[1], self._n_components)

    def _ours_step(self, Xb):
        if not hasattr(self, "_state"):
            init = ("data" if self.dict_init is None
                    else np.asarray(self.dict_init, dtype=Xb.dtype))
            self._state = start_online(Xb, self._n_components, init, self._random_state)
        from .dictionary._common import resolve_coder

        code_fn = resolve_coder("omp", n_nonzero_coefs=self._k, tol=None, alpha=None,
                                n_jobs=self.n_jobs, n_components=self._n_components)
        error, n_rep = online_step(self._state, np.ascontiguousarray(Xb), code_fn,
                                   batch_size=self.batch_size, replace=True,
                                   duplicate_threshold=0.99, n_jobs=self.n_jobs)
        self.n_steps_ = self._state.n_steps
        self.components_ = self._state.D.copy()
        if self.callback is not None:
            self.callback(IterationRecord(self.n_steps_ - 1, error,
                                          time.perf_counter() - self._t0, n_rep))

    def fit(self, X, y=None):
        if self.fit_algorithm not in ONLINE and self.fit_algorithm not in BATCH:
            return super().fit(X, y)
        self._validate_params()
        X = validate_data(self, X, dtype=[np.float64, np.float32], copy=False)
        for name in ("_state",):
            if hasattr(self, name):
                delattr(self, name)
        if self.fit_algorithm in BATCH:
            _unsupported(self.fit_algorithm, self.positive_code, self.positive_dict)
            n_components = X.shape[1] if self.n_components is None else self.n_components
            D, _, info = _run_batch(
                X, n_components, self.fit_algorithm,
                n_nonzero_coefs=self.transform_n_nonzero_coefs, max_iter=self.max_iter,
                tol=self.tol, dict_init=self.dict_init, random_state=self.random_state,
                n_jobs=self.n_jobs, verbose=self.verbose, callback=self.callback)
            self.components_ = D
            self.n_iter_ = info.n_iter
            self.n_steps_ = info.n_iter
            self._n_components = n_components
            return self
        self._ours_setup(X)
        self._random_state = check_random_state(self.random_state)
        self._t0 = time.perf_counter()
        n = X.shape[0]
        bs = self.batch_size
        for _ in range(self.max_iter):
            order = self._random_state.permutation(n) if self.shuffle else np.arange(n)
            for b in range(-(-n // bs)):
                self._ours_step(X[order[b * bs:(b + 1) * bs]])
        if not hasattr(self, "_state"):
            self._state = start_online(X, self._n_components, "data", self._random_state)
            self.components_ = self._state.D.copy()
            self.n_steps_ = 0
        self.n_iter_ = self.max_iter
        return self

    def partial_fit(self, X, y=None):
        if self.fit_algorithm in BATCH:
            raise ValueError(
                f"partial_fit is not available with the batch fit_algorithm="
                f"{self.fit_algorithm!r}; use 'omp', 'lars' or 'cd'.")
        if self.fit_algorithm not in ONLINE:
            return super().partial_fit(X, y)
        first = not hasattr(self, "_state")
        if first:
            self._validate_params()
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=first, copy=False)
        if first:
            self._ours_setup(X)
            self._random_state = check_random_state(self.random_state)
            self._t0 = time.perf_counter()
        self._ours_step(X)  # scikit-learn's contract: X is one mini-batch
        return self


def dict_learning(X, n_components, *, alpha, max_iter=100, tol=1e-8, method="lars",
                  n_jobs=None, dict_init=None, code_init=None, callback=None, verbose=False,
                  random_state=None, return_n_iter=False, positive_dict=False,
                  positive_code=False, method_max_iter=1000):
    """scikit-learn's ``dict_learning``; ``method`` also accepts 'ksvd', 'approx_ksvd',
    'mod' (sparsity ``max(1, int(0.1 * n_features))``, ``tol`` relative error decrease).

    Returns ``code, dictionary, errors`` (and ``n_iter`` with ``return_n_iter``), as
    scikit-learn; ``errors`` are RMS errors per iteration with the new methods.
    """
    if method not in BATCH:
        return _skd.dict_learning(
            X, n_components, alpha=alpha, max_iter=max_iter, tol=tol, method=method,
            n_jobs=n_jobs, dict_init=dict_init, code_init=code_init, callback=callback,
            verbose=verbose, random_state=random_state, return_n_iter=return_n_iter,
            positive_dict=positive_dict, positive_code=positive_code,
            method_max_iter=method_max_iter)
    _unsupported(method, positive_code, positive_dict, code_init)
    X = np.asarray(X)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    D, codes, info = _run_batch(X, n_components, method, n_nonzero_coefs=None,
                                max_iter=max_iter, tol=tol, dict_init=dict_init,
                                random_state=random_state, n_jobs=n_jobs, verbose=verbose,
                                callback=callback)
    out = (codes, D, list(info.error))
    return out + (info.n_iter,) if return_n_iter else out


def dict_learning_online(X, n_components=2, *, alpha=1, max_iter=100, return_code=True,
                         dict_init=None, callback=None, batch_size=256, verbose=False,
                         shuffle=True, n_jobs=None, method="lars", random_state=None,
                         positive_dict=False, positive_code=False, method_max_iter=1000,
                         tol=1e-3, max_no_improvement=10):
    """scikit-learn's ``dict_learning_online``; ``method`` also accepts 'omp' (online,
    OMP coder) and 'ksvd', 'approx_ksvd', 'mod' (batch learners, ``max_iter``
    iterations). Returns ``(code, dictionary)`` if ``return_code`` else ``dictionary``.
    """
    if method not in BATCH and method not in ONLINE:
        return _skd.dict_learning_online(
            X, n_components, alpha=alpha, max_iter=max_iter, return_code=return_code,
            dict_init=dict_init, callback=callback, batch_size=batch_size, verbose=verbose,
            shuffle=shuffle, n_jobs=n_jobs, method=method, random_state=random_state,
            positive_dict=positive_dict, positive_code=positive_code,
            method_max_iter=method_max_iter, tol=tol, max_no_improvement=max_no_improvement)
    est = MiniBatchDictionaryLearning(
        n_components, alpha=alpha, max_iter=max_iter, fit_algorithm=method, n_jobs=n_jobs,
        batch_size=batch_size, shuffle=shuffle, dict_init=dict_init, verbose=verbose,
        random_state=random_state, positive_code=positive_code, positive_dict=positive_dict,
        callback=callback, tol=tol, max_no_improvement=max_no_improvement)
    est.fit(X)
    D = est.components_
    if not return_code:
        return D
    from .coding import orthogonal_mp

    k = _n_nonzero(None, D.shape[1], D.shape[0])
    Xa = np.asarray(X, dtype=D.dtype)
    return orthogonal_mp(Xa, D, n_nonzero_coefs=k, n_jobs=n_jobs).astype(D.dtype), D


__all__ = ["DictionaryLearning", "MiniBatchDictionaryLearning", "dict_learning",
           "dict_learning_online"]
