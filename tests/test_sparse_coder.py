"""SparseCoder dispatches to every coding function with the same meaning of parameters."""

import numpy as np
import pytest

import sparsecode
from sparsecode import SparseCoder
from sparsecode.coding import ALGORITHMS


@pytest.fixture
def problem(rng):
    D = rng.standard_normal((40, 16))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    Z = np.zeros((12, 40))
    for i in range(12):
        Z[i, rng.choice(40, 3, replace=False)] = rng.standard_normal(3) + 2
    return Z @ D + 0.01 * rng.standard_normal((12, 16)), D


CASES = {
    "omp": (dict(n_nonzero_coefs=3), lambda X, D: sparsecode.orthogonal_mp(X, D, n_nonzero_coefs=3)),
    "lasso_lars": (dict(alpha=0.2), lambda X, D: sparsecode.lasso_lars(X, D, alpha=0.2)),
    "lars": (dict(n_nonzero_coefs=3), lambda X, D: sparsecode.lars(X, D, n_nonzero_coefs=3)),
    "fista": (dict(alpha=0.2, positive=True),
              lambda X, D: sparsecode.fista(X, D, alpha=0.2, penalty="l1_positive")),
    "ista": (dict(alpha=0.2, max_iter=5000),
             lambda X, D: sparsecode.ista(X, D, alpha=0.2, max_iter=5000)),
    "iht": (dict(n_nonzero_coefs=3), lambda X, D: sparsecode.iht(X, D, n_nonzero_coefs=3)),
    "cosamp": (dict(n_nonzero_coefs=3), lambda X, D: sparsecode.cosamp(X, D, n_nonzero_coefs=3)),
}


def test_every_algorithm_has_a_case():
    assert set(CASES) == set(ALGORITHMS)


@pytest.mark.parametrize("algorithm", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sparse_coder_matches_function(problem, algorithm, dtype):
    X, D = (a.astype(dtype) for a in problem)
    params, fn = CASES[algorithm]
    coder = SparseCoder(D, algorithm=algorithm, **params).fit(X)
    codes = coder.transform(X)
    assert codes.dtype == dtype and codes.shape == (12, 40)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=0, atol=1e-9)
    np.testing.assert_allclose(codes, fn(X, D), **tol)


def test_lasso_methods_agree_on_alpha(problem):
    X, D = problem
    exact = SparseCoder(D, algorithm="lasso_lars", alpha=0.1).fit(X).transform(X)
    iterative = SparseCoder(D, algorithm="fista", alpha=0.1, solver_tol=1e-10,
                            max_iter=20000).fit(X).transform(X)
    np.testing.assert_allclose(iterative, exact, atol=1e-6)


@pytest.mark.parametrize("algorithm, params, match", [
    ("fista", dict(tol=0.1), "tol=0.1 is not used by algorithm='fista'; it applies to 'omp'"),
    ("omp", dict(alpha=0.5), "alpha=0.5 is not used by algorithm='omp'"),
    ("omp", dict(positive=True), "positive=True is not used by algorithm='omp'"),
    ("iht", dict(positive=True), "positive=True is not used by algorithm='iht'"),
    ("lasso_lars", dict(solver_tol=1e-3), "solver_tol=0.001 is not used by algorithm='lasso_lars'"),
    ("omp", dict(max_iter=10), "max_iter=10 is not used by algorithm='omp'"),
    ("magic", {}, "algorithm"),
    ("fista", dict(alpha=-1.0), "alpha"),
])
def test_sparse_coder_rejects_parameters_the_algorithm_ignores(problem, algorithm, params, match):
    X, D = problem
    with pytest.raises(ValueError, match=match):
        SparseCoder(D, algorithm=algorithm, **params).fit(X)


def test_package_import_does_not_import_torch():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c",
                          "import sys, sparsecode; print('torch' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------- stateless, as scikit-learn's SparseCoder


@pytest.mark.parametrize("algorithm", sorted(CASES))
def test_sparse_coder_transforms_without_fit(problem, algorithm):
    X, D = problem
    params, function = CASES[algorithm]
    coder = SparseCoder(D, algorithm=algorithm, **params)
    codes = coder.transform(X)                      # no fit, as scikit-learn's SparseCoder
    np.testing.assert_allclose(codes, function(X, D), atol=1e-12)
    np.testing.assert_allclose(codes, SparseCoder(D, algorithm=algorithm, **params)
                               .fit(X).transform(X), atol=1e-12)
    np.testing.assert_allclose(coder.inverse_transform(codes), codes @ D, atol=1e-12)
    assert not hasattr(coder, "components_")        # transform stored nothing


def test_sparse_coder_unfitted_like_sklearn(problem):
    from sklearn.decomposition import SparseCoder as SkSparseCoder
    from sklearn.pipeline import make_pipeline
    from sklearn.utils.validation import check_is_fitted

    X, D = problem
    ours, theirs = SparseCoder(D, n_nonzero_coefs=3), SkSparseCoder(
        D, transform_algorithm="omp", transform_n_nonzero_coefs=3)
    check_is_fitted(theirs)                         # scikit-learn's: ready unfitted
    check_is_fitted(ours)
    assert ours.__sklearn_tags__().requires_fit is theirs.__sklearn_tags__().requires_fit
    np.testing.assert_allclose(ours.transform(X), theirs.transform(X), atol=1e-10)
    pipe = make_pipeline(SparseCoder(D, n_nonzero_coefs=3)).fit(X)   # fit still works
    np.testing.assert_allclose(pipe.transform(X), theirs.transform(X), atol=1e-10)


@pytest.mark.parametrize("kwargs, X_width, match", [
    (dict(dictionary=np.zeros((4, 16))), 16, "dictionary has 4 zero-norm atom"),
    (dict(n_nonzero_coefs=50), 16, r"n_nonzero_coefs must be in \[1, n_components=40\]"),
    (dict(), 7, r"X must have shape \(n_samples, 16\)"),
])
def test_sparse_coder_unfitted_validates(problem, rng, kwargs, X_width, match):
    _, D = problem
    kwargs = {"dictionary": D, **kwargs}
    with pytest.raises(ValueError, match=match):
        SparseCoder(**kwargs).transform(rng.standard_normal((3, X_width)))
