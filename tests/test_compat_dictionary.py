"""Tests of the scikit-learn drop-ins for dictionary learning."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from sklearn import decomposition as skd
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from sparsecode import compat_dictionary as cd
from sparsecode.dictionary import IterationRecord


@pytest.fixture
def X():
    rng = np.random.default_rng(0)
    D = rng.standard_normal((12, 8))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    Z = rng.standard_normal((200, 12)) * (rng.random((200, 12)) < 0.2)
    return Z @ D + 0.01 * rng.standard_normal((200, 8))


@pytest.mark.parametrize("name", ["DictionaryLearning", "MiniBatchDictionaryLearning",
                                  "dict_learning", "dict_learning_online"])
def test_signatures_match_sklearn(name):
    ours, theirs = getattr(cd, name), getattr(skd, name)
    if inspect.isclass(ours):
        ours, theirs = ours.__init__, theirs.__init__
    assert inspect.signature(ours) == inspect.signature(theirs)


def test_lars_delegates_to_sklearn(X):
    kw = dict(n_components=6, alpha=0.1, max_iter=2, random_state=0)
    ours = cd.DictionaryLearning(**kw).fit(X)
    ref = skd.DictionaryLearning(**kw).fit(X)
    np.testing.assert_array_equal(ours.components_, ref.components_)
    a = cd.dict_learning(X, 6, alpha=0.1, max_iter=2, random_state=0)
    b = skd.dict_learning(X, 6, alpha=0.1, max_iter=2, random_state=0)
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("algo", ["ksvd", "approx_ksvd", "mod"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dictionary_learning_new_algorithms(X, algo, dtype):
    records = []
    est = cd.DictionaryLearning(12, fit_algorithm=algo, transform_n_nonzero_coefs=2,
                                max_iter=5, random_state=0, callback=records.append)
    codes = est.fit_transform(X.astype(dtype))
    assert est.components_.shape == (12, 8) and est.components_.dtype == dtype
    assert codes.shape == (200, 12) and (np.count_nonzero(codes, axis=1) <= 2).all()
    assert est.transform(X.astype(dtype)).dtype == dtype
    assert len(records) == est.n_iter_ == len(est.error_)
    assert isinstance(records[0], IterationRecord)


def test_tol_stops_batch_algorithms(X):
    est = cd.DictionaryLearning(12, fit_algorithm="approx_ksvd", random_state=0,
                                tol=1e-3).fit(X)
    assert est.n_iter_ < 1000


def test_unsupported_options_raise(X):
    with pytest.raises(ValueError, match="positive_code=True is not supported"):
        cd.DictionaryLearning(4, fit_algorithm="ksvd", positive_code=True).fit(X)
    with pytest.raises(ValueError, match="code_init is not supported"):
        cd.dict_learning(X, 4, alpha=1, method="mod", code_init=np.zeros((200, 4)))
    with pytest.raises(InvalidParameterError, match="fit_algorithm"):
        cd.DictionaryLearning(4, fit_algorithm="svd").fit(X)
    with pytest.raises(ValueError, match="partial_fit is not available"):
        cd.MiniBatchDictionaryLearning(4, fit_algorithm="ksvd").partial_fit(X)


@pytest.mark.parametrize("algo", ["omp", "approx_ksvd"])
def test_minibatch_new_algorithms(X, algo):
    est = cd.MiniBatchDictionaryLearning(12, fit_algorithm=algo, batch_size=50, max_iter=3,
                                         transform_n_nonzero_coefs=2, random_state=0).fit(X)
    assert est.components_.shape == (12, 8)
    np.testing.assert_allclose(np.linalg.norm(est.components_, axis=1), 1.0)
    assert est.transform(X).shape == (200, 12)


def test_minibatch_omp_partial_fit_is_one_minibatch_per_call(X):
    est = cd.MiniBatchDictionaryLearning(12, fit_algorithm="omp", random_state=0)
    est.partial_fit(X[:100]).partial_fit(X[100:])
    assert est.n_steps_ == 2 and est.components_.shape == (12, 8)


def test_functions_new_methods(X):
    code, D, errors, n_iter = cd.dict_learning(X, 10, alpha=1, method="approx_ksvd",
                                               max_iter=4, random_state=0,
                                               return_n_iter=True)
    assert code.shape == (200, 10) and D.shape == (10, 8) and len(errors) == n_iter == 4
    code, D = cd.dict_learning_online(X, 10, method="omp", max_iter=2, batch_size=50,
                                      random_state=0)
    assert code.shape == (200, 10) and D.shape == (10, 8)
    D = cd.dict_learning_online(X, 10, method="mod", max_iter=2, return_code=False,
                                random_state=0)
    assert D.shape == (10, 8)


@parametrize_with_checks([
    cd.DictionaryLearning(3, fit_algorithm="approx_ksvd", max_iter=3, random_state=0),
    cd.MiniBatchDictionaryLearning(3, fit_algorithm="omp", max_iter=2, batch_size=10,
                                   random_state=0),
])
def test_compat_estimator_checks(estimator, check):
    check(estimator)
