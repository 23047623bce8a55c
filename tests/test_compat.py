"""sparsecode.compat is a drop-in for scikit-learn: same outputs, same errors."""

import numpy as np
import pytest
from sklearn import decomposition as skd
from sklearn import linear_model as sklm

from sparsecode import compat


@pytest.fixture
def problem(rng):
    n_features, n_components, n_samples = 20, 40, 30
    D = rng.standard_normal((n_components, n_features))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.standard_normal((n_samples, n_features))
    return X, D


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_nonzero_coefs", [None, 1, 5])
@pytest.mark.parametrize("n_jobs", [None, 2])
def test_sparse_encode_omp_matches_sklearn(problem, dtype, n_nonzero_coefs, n_jobs):
    X, D = (a.astype(dtype) for a in problem)
    ours = compat.sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=n_nonzero_coefs,
                                n_jobs=n_jobs)
    ref = skd.sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=n_nonzero_coefs,
                            n_jobs=n_jobs)
    assert ours.dtype == ref.dtype and ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-8 if dtype == np.float64 else 1e-4)


def test_sparse_encode_omp_with_precomputed_gram_cov(problem):
    X, D = problem
    gram, cov = D @ D.T, D @ X.T
    ours = compat.sparse_encode(X, D, gram=gram, cov=cov, algorithm="omp", n_nonzero_coefs=3)
    ref = skd.sparse_encode(X, D, gram=gram, cov=cov, algorithm="omp", n_nonzero_coefs=3)
    np.testing.assert_allclose(ours, ref, atol=1e-10)


@pytest.mark.parametrize("algorithm", ["lasso_lars", "lasso_cd", "lars", "threshold"])
def test_sparse_encode_other_algorithms_delegate(problem, algorithm):
    X, D = problem
    ours = compat.sparse_encode(X, D, algorithm=algorithm, alpha=0.1, n_nonzero_coefs=3)
    ref = skd.sparse_encode(X, D, algorithm=algorithm, alpha=0.1, n_nonzero_coefs=3)
    np.testing.assert_allclose(ours, ref, atol=1e-8)


def test_sparse_encode_same_errors(problem):
    X, D = problem
    for fn in (compat.sparse_encode, skd.sparse_encode):
        with pytest.raises(ValueError, match="different numbers of features"):
            fn(X[:, :5], D, algorithm="omp")
        with pytest.raises(ValueError, match="Positive constraint not supported"):
            fn(X, D, algorithm="omp", positive=True)


@pytest.mark.parametrize("split_sign", [False, True])
def test_sparse_coder_matches_sklearn(problem, split_sign):
    X, D = problem
    kw = dict(transform_algorithm="omp", transform_n_nonzero_coefs=4, split_sign=split_sign)
    ours = compat.SparseCoder(D, **kw).fit(X)
    ref = skd.SparseCoder(D, **kw).fit(X)
    np.testing.assert_allclose(ours.transform(X), ref.transform(X), atol=1e-10)
    np.testing.assert_allclose(ours.inverse_transform(ours.transform(X)),
                               ref.inverse_transform(ref.transform(X)), atol=1e-10)
    assert set(ours.get_params()) == set(ref.get_params())


@pytest.mark.parametrize("n_targets", [1, 3])
@pytest.mark.parametrize("stopping", [dict(n_nonzero_coefs=4), dict(tol=0.5), dict()])
@pytest.mark.parametrize("precompute", [False, True])
def test_orthogonal_mp_matches_sklearn(rng, n_targets, stopping, precompute):
    X = rng.standard_normal((30, 50))
    X /= np.linalg.norm(X, axis=0)
    y = rng.standard_normal((30, n_targets))
    y = y[:, 0] if n_targets == 1 else y
    ours = compat.orthogonal_mp(X, y, precompute=precompute, return_n_iter=True, **stopping)
    ref = sklm.orthogonal_mp(X, y, precompute=precompute, return_n_iter=True, **stopping)
    if precompute:  # scikit-learn returns the coefficients only on this path
        ours, ref = (ours, 0), (ref, 0)
    assert ours[0].shape == ref[0].shape
    np.testing.assert_allclose(ours[0], ref[0], atol=1e-8)
    assert ours[1] == ref[1]


@pytest.mark.parametrize("stopping", [dict(n_nonzero_coefs=4), dict(tol=0.5), dict()])
def test_orthogonal_mp_gram_matches_sklearn(rng, stopping):
    X = rng.standard_normal((30, 50))
    X /= np.linalg.norm(X, axis=0)
    y = rng.standard_normal((30, 3))
    G, Xy = X.T @ X, X.T @ y
    norms = (y ** 2).sum(0)
    ours = compat.orthogonal_mp_gram(G, Xy, norms_squared=norms, **stopping)
    ref = sklm.orthogonal_mp_gram(G, Xy, norms_squared=norms, **stopping)
    np.testing.assert_allclose(ours, ref, atol=1e-8)


def test_orthogonal_mp_gram_return_path_delegates(rng):
    X = rng.standard_normal((30, 50))
    y = rng.standard_normal(30)
    ours = compat.orthogonal_mp_gram(X.T @ X, X.T @ y, n_nonzero_coefs=3, return_path=True)
    ref = sklm.orthogonal_mp_gram(X.T @ X, X.T @ y, n_nonzero_coefs=3, return_path=True)
    np.testing.assert_allclose(ours, ref)


def test_orthogonal_mp_same_errors(rng):
    X = rng.standard_normal((10, 5))
    y = rng.standard_normal(10)
    for fn in (compat.orthogonal_mp, sklm.orthogonal_mp):
        with pytest.raises(ValueError, match="cannot be more than the number of features"):
            fn(X, y, n_nonzero_coefs=6)
    for fn in (compat.orthogonal_mp_gram, sklm.orthogonal_mp_gram):
        with pytest.raises(ValueError, match="needs the precomputed norms"):
            fn(X.T @ X, X.T @ np.c_[y, y], tol=0.1)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("precompute", [False, True])
@pytest.mark.parametrize("stopping", [dict(n_nonzero_coefs=3), dict(tol=1.0)])
def test_orthogonal_matching_pursuit_matches_sklearn(rng, fit_intercept, precompute, stopping):
    X = rng.standard_normal((40, 15))
    coef = np.zeros(15)
    coef[[1, 4, 9]] = [2.0, -1.0, 0.5]
    y = X @ coef + 1.5 + 0.05 * rng.standard_normal(40)
    kw = dict(fit_intercept=fit_intercept, precompute=precompute, **stopping)
    ours = compat.OrthogonalMatchingPursuit(**kw).fit(X, y)
    ref = sklm.OrthogonalMatchingPursuit(**kw).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-8)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-8)
    assert ours.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), atol=1e-8)


def test_compat_drop_in_import_names():
    for name in ["sparse_encode", "SparseCoder", "orthogonal_mp", "orthogonal_mp_gram",
                 "OrthogonalMatchingPursuit"]:
        assert hasattr(compat, name)
