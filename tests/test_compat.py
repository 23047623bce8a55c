"""sparsecode.compat is a drop-in for scikit-learn: same outputs, same errors."""

import joblib
import numpy as np
import pytest
from sklearn import decomposition as skd
from sklearn import linear_model as sklm
from sklearn.exceptions import ConvergenceWarning

from sparsecode import compat


@pytest.fixture(autouse=True)
def _threading_backend():
    """scikit-learn's n_jobs > 1 paths on threads: same code and dtypes, no process spawn."""
    with joblib.parallel_config(backend="threading"):
        yield


@pytest.fixture
def problem(rng):
    n_features, n_components, n_samples = 20, 40, 16
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


# ------------------------------------------------------- lasso_lars, lasso_cd, lars, threshold

ALGORITHMS = ["lasso_lars", "lasso_cd", "lars", "threshold"]
sklearn_cd_warnings = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")


def _objective(codes, X, D, alpha):
    """Per-sample 0.5 ||x - zD||^2 + alpha ||z||_1, in float64."""
    codes, X, D = (np.asarray(a, dtype=np.float64) for a in (codes, X, D))
    return 0.5 * ((X - codes @ D) ** 2).sum(1) + alpha * np.abs(codes).sum(1)


def _check_parity(ours, ref, X, D, algorithm, alpha, dtype):
    assert ours.dtype == ref.dtype and ours.shape == ref.shape
    f64 = dtype == np.float64
    if algorithm == "lasso_cd":
        # Coordinate descent stops at tol=1e-8 (float32: far from it); ours is exact.
        assert np.all(_objective(ours, X, D, alpha)
                      <= _objective(ref, X, D, alpha) + (1e-9 if f64 else 1e-5))
        np.testing.assert_allclose(ours, ref, atol=1e-5 if f64 else 5e-3)
    else:
        np.testing.assert_allclose(ours, ref, atol=1e-9 if f64 else 1e-4)


# scikit-learn refuses positive lars (tested in the error tests)
ALGORITHM_POSITIVE = [(a, p) for a in ALGORITHMS for p in (False, True)
                      if not (p and a == "lars")]


@sklearn_cd_warnings
@pytest.mark.parametrize("n_jobs", [None, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("algorithm, positive", ALGORITHM_POSITIVE)
def test_sparse_encode_matches_sklearn(problem, algorithm, positive, dtype, n_jobs):
    X, D = (a.astype(dtype) for a in problem)
    kw = dict(algorithm=algorithm, alpha=0.3, n_nonzero_coefs=3, positive=positive,
              n_jobs=n_jobs)
    ours = compat.sparse_encode(X, D, **kw)
    ref = skd.sparse_encode(X, D, **kw)
    _check_parity(ours, ref, X, D, algorithm, 0.3, dtype)
    if positive:
        assert ours.min() >= 0


@sklearn_cd_warnings
@pytest.mark.parametrize("algorithm", ["lasso_lars", "lasso_cd", "threshold"])
def test_sparse_encode_default_alpha_is_one(problem, algorithm):
    X, D = problem
    ours = compat.sparse_encode(X, D, algorithm=algorithm)
    ref = skd.sparse_encode(X, D, algorithm=algorithm)
    assert np.count_nonzero(ours) > 0
    _check_parity(ours, ref, X, D, algorithm, 1.0, np.float64)


@pytest.mark.parametrize("alpha", [0.05, 0.5, 2.0])
@pytest.mark.parametrize("positive", [False, True])
def test_sparse_encode_lasso_solves_unscaled_objective(problem, alpha, positive):
    # scikit-learn's alpha / n_features in an objective scaled by 1 / n_features is
    # the per-sample 0.5 ||x - zD||^2 + alpha ||z||_1: check its optimality (KKT).
    X, D = problem
    codes = compat.sparse_encode(X, D, algorithm="lasso_lars", alpha=alpha,
                                 positive=positive)
    corr = (X - codes @ D) @ D.T
    active = codes != 0
    if positive:
        assert codes.min() >= 0
        assert corr.max() <= alpha + 1e-9
    else:
        assert np.abs(corr).max() <= alpha + 1e-9
    np.testing.assert_allclose(corr[active], alpha * np.sign(codes[active]), atol=1e-9)
    # and scikit-learn's Lasso with alpha / n_features reaches the same objective
    n_features = X.shape[1]
    lasso = sklm.Lasso(alpha=alpha / n_features, fit_intercept=False, tol=1e-12,
                       max_iter=100_000, positive=positive).fit(D.T, X.T)
    np.testing.assert_allclose(_objective(codes, X, D, alpha),
                               _objective(lasso.coef_, X, D, alpha), rtol=1e-9)


@pytest.mark.parametrize("n_nonzero_coefs", [None, 1, 3])
def test_sparse_encode_lars_matches_sklearn_and_is_equiangular(problem, n_nonzero_coefs):
    X, D = problem
    ours = compat.sparse_encode(X, D, algorithm="lars", n_nonzero_coefs=n_nonzero_coefs)
    ref = skd.sparse_encode(X, D, algorithm="lars", n_nonzero_coefs=n_nonzero_coefs)
    np.testing.assert_allclose(ours, ref, atol=1e-9)
    k = 2 if n_nonzero_coefs is None else n_nonzero_coefs  # int(20 / 10)
    assert np.all(np.count_nonzero(ours, axis=1) == k)
    corr = (X - ours @ D) @ D.T
    lam = np.abs(corr[ours != 0]).reshape(len(X), k)
    np.testing.assert_allclose(lam, lam[:, :1].repeat(k, 1), rtol=1e-9)
    assert np.all(np.abs(corr).max(1) <= lam[:, 0] + 1e-9)


@sklearn_cd_warnings
@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("gram_dtype", [np.float64, np.float32])
def test_sparse_encode_precomputed_gram_cov(problem, algorithm, gram_dtype):
    X, D = problem
    gram = (D @ D.T).astype(gram_dtype)
    cov = (D @ X.T).astype(gram_dtype)
    kw = dict(gram=gram, cov=cov, algorithm=algorithm, alpha=0.2, n_nonzero_coefs=3)
    if algorithm == "lasso_cd" and gram_dtype != np.float64:
        for fn in (compat.sparse_encode, skd.sparse_encode):  # both refuse the mix
            with pytest.raises(ValueError, match="Buffer dtype mismatch"):
                fn(X, D, **kw)
        return
    gram_copy, cov_copy = gram.copy(), cov.copy()
    ours = compat.sparse_encode(X, D, **kw)
    ref = skd.sparse_encode(X, D, **kw)
    assert ours.dtype == ref.dtype
    if gram_dtype == np.float32 and algorithm != "threshold":
        np.testing.assert_allclose(ours, ref, atol=1e-4)
    else:
        _check_parity(ours, ref, X, D, algorithm, 0.2, gram_dtype)
    np.testing.assert_array_equal(gram, gram_copy)
    np.testing.assert_array_equal(cov, cov_copy)


@pytest.mark.parametrize("algorithm", ["lasso_lars", "lars", "threshold"])
def test_sparse_encode_uses_given_cov(problem, algorithm):
    # cov is trusted as given (as in scikit-learn), so a scaled cov changes the codes.
    X, D = problem
    kw = dict(algorithm=algorithm, alpha=0.2, n_nonzero_coefs=3)
    ours = compat.sparse_encode(X, D, cov=2 * D @ X.T, **kw)
    ref = skd.sparse_encode(X, D, cov=2 * D @ X.T, **kw)
    np.testing.assert_allclose(ours, ref, atol=1e-9)
    assert not np.allclose(ours, compat.sparse_encode(X, D, **kw))


@pytest.mark.parametrize("x_dtype, d_dtype", [(np.float32, np.float64),
                                              (np.float64, np.float32)])
@pytest.mark.parametrize("algorithm", ["lasso_lars", "lars", "threshold", "lasso_cd"])
def test_sparse_encode_mixed_dtypes_as_sklearn(problem, algorithm, x_dtype, d_dtype):
    X, D = problem[0].astype(x_dtype), problem[1].astype(d_dtype)
    kw = dict(algorithm=algorithm, alpha=0.3, n_nonzero_coefs=3)
    if algorithm == "lasso_cd":  # scikit-learn's Gram-based CD needs one dtype
        for fn in (compat.sparse_encode, skd.sparse_encode):
            with pytest.raises(ValueError, match="Buffer dtype mismatch"):
                fn(X, D, **kw)
        return
    ours = compat.sparse_encode(X, D, **kw)
    ref = skd.sparse_encode(X, D, **kw)
    assert ours.dtype == ref.dtype
    np.testing.assert_allclose(ours, ref, atol=1e-4)


@sklearn_cd_warnings
def test_sparse_encode_lasso_cd_init_and_max_iter(problem):
    X, D = problem
    init = np.full((X.shape[0], D.shape[0]), 0.5)
    init_copy = init.copy()
    ours = compat.sparse_encode(X, D, algorithm="lasso_cd", alpha=0.2, init=init,
                                max_iter=5000)
    ref = skd.sparse_encode(X, D, algorithm="lasso_cd", alpha=0.2, init=init.copy(),
                            max_iter=5000)  # scikit-learn writes into init
    _check_parity(ours, ref, X, D, "lasso_cd", 0.2, np.float64)
    np.testing.assert_array_equal(init, init_copy)
    # max_iter=0: scikit-learn returns the warm start untouched; so do we (delegated)
    np.testing.assert_array_equal(
        compat.sparse_encode(X, D, algorithm="lasso_cd", alpha=0.2, init=init, max_iter=0),
        skd.sparse_encode(X, D, algorithm="lasso_cd", alpha=0.2, init=init_copy.copy(),
                          max_iter=0))
    np.testing.assert_array_equal(init, init_copy)


@pytest.mark.parametrize("max_iter", [0, 1, 3])
def test_sparse_encode_lasso_lars_max_iter_truncates_path_as_sklearn(problem, max_iter):
    X, D = problem
    kw = dict(algorithm="lasso_lars", alpha=0.01, max_iter=max_iter)
    if max_iter:
        with pytest.warns(ConvergenceWarning, match="reached max_iter"):
            ours = compat.sparse_encode(X, D, **kw)
    else:
        ours = compat.sparse_encode(X, D, **kw)
    np.testing.assert_allclose(ours, skd.sparse_encode(X, D, **kw), atol=1e-10)


@pytest.mark.parametrize("algorithm", ["lasso_lars", "lasso_cd", "lars", "threshold"])
def test_sparse_encode_runs_on_our_kernels(problem, monkeypatch, algorithm):
    def fail(*args, **kwargs):
        raise AssertionError("delegated to scikit-learn")

    monkeypatch.setattr(compat._skd, "sparse_encode", fail)
    X, D = problem
    for n_jobs in (None, 2):
        codes = compat.sparse_encode(X, D, algorithm=algorithm, alpha=0.2, n_jobs=n_jobs)
        assert codes.shape == (X.shape[0], D.shape[0])


@pytest.mark.parametrize("algorithm", ALGORITHMS + ["omp"])
def test_sparse_encode_never_modifies_inputs(problem, algorithm):
    X, D = problem
    X_copy, D_copy = X.copy(), D.copy()
    compat.sparse_encode(X, D, algorithm=algorithm, alpha=0.2, n_nonzero_coefs=3)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(D, D_copy)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(algorithm="lasso"), ValueError, "The 'algorithm' parameter of sparse_encode"),
    (dict(alpha=-1.0), ValueError, "The 'alpha' parameter of sparse_encode"),
    (dict(algorithm="lars", n_nonzero_coefs=0), ValueError,
     "The 'n_nonzero_coefs' parameter of sparse_encode"),
    (dict(max_iter=-1), ValueError, "The 'max_iter' parameter of sparse_encode"),
    (dict(positive="yes"), ValueError, "The 'positive' parameter of sparse_encode"),
    (dict(algorithm="lars", positive=True), ValueError,
     "Positive constraint not supported for 'lars' coding method"),
    (dict(algorithm="omp", positive=True), ValueError,
     "Positive constraint not supported for 'omp' coding method"),
])
def test_sparse_encode_same_parameter_errors(problem, kwargs, error, match):
    X, D = problem
    for fn in (compat.sparse_encode, skd.sparse_encode):
        with pytest.raises(error, match=match):
            fn(X, D, **kwargs)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_sparse_encode_same_input_errors(problem, algorithm):
    X, D = problem
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    for fn in (compat.sparse_encode, skd.sparse_encode):
        with pytest.raises(ValueError, match="different numbers of features"):
            fn(X[:, :5], D, algorithm=algorithm)
        with pytest.raises(ValueError, match="Input contains NaN"):
            fn(X_nan, D, algorithm=algorithm)
        with pytest.raises(ValueError, match="Expected 2D array"):
            fn(X[0], D, algorithm=algorithm)


@pytest.mark.parametrize("algorithm", ["lasso_lars", "lars", "threshold"])
def test_sparse_encode_bad_precomputed_shapes_name_the_argument(problem, algorithm):
    X, D = problem
    if algorithm != "threshold":  # threshold does not use gram
        with pytest.raises(ValueError, match=r"gram must have shape \(40, 40\)"):
            compat.sparse_encode(X, D, algorithm=algorithm, gram=np.eye(3))
    with pytest.raises(ValueError, match=r"cov must have shape \(40, 16\)"):
        compat.sparse_encode(X, D, algorithm=algorithm, cov=D @ X[:5].T)
    cov = D @ X.T
    cov[0, 0] = np.inf
    with pytest.raises(ValueError, match="cov contains infinity"):
        compat.sparse_encode(X, D, algorithm=algorithm, cov=cov)


@sklearn_cd_warnings
@pytest.mark.parametrize("split_sign", [False, True])
@pytest.mark.parametrize("algorithm, positive_code", ALGORITHM_POSITIVE)
def test_sparse_coder_each_algorithm_matches_sklearn(problem, algorithm, split_sign,
                                                     positive_code):
    X, D = problem
    kw = dict(transform_algorithm=algorithm, transform_alpha=0.2,
              transform_n_nonzero_coefs=3, split_sign=split_sign,
              positive_code=positive_code)
    ours = compat.SparseCoder(D, **kw).fit(X)
    ref = skd.SparseCoder(D, **kw).fit(X)
    codes, ref_codes = ours.transform(X), ref.transform(X)
    assert codes.dtype == ref_codes.dtype and codes.shape == ref_codes.shape
    atol = 1e-5 if algorithm == "lasso_cd" else 1e-9
    np.testing.assert_allclose(codes, ref_codes, atol=atol)
    np.testing.assert_allclose(ours.inverse_transform(codes),
                               ref.inverse_transform(ref_codes), atol=atol * 10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_coder_preserves_dtype_as_sklearn(problem, dtype):
    X, D = (a.astype(dtype) for a in problem)
    kw = dict(transform_algorithm="lasso_lars", transform_alpha=0.2)
    codes = compat.SparseCoder(D, **kw).fit_transform(X)
    ref = skd.SparseCoder(D, **kw).fit_transform(X)
    assert codes.dtype == ref.dtype == dtype
    np.testing.assert_allclose(codes, ref, atol=1e-4 if dtype == np.float32 else 1e-9)


def test_sparse_encode_lars_more_atoms_than_components_runs(problem):
    # scikit-learn accepts n_nonzero_coefs > n_components for lars; the path then ends
    # at the rank bound min(n_components, n_features): every code is the
    # least-squares fit of X (up to the path's zero level).
    X, D = problem
    codes = compat.sparse_encode(X, D, algorithm="lars", n_nonzero_coefs=D.shape[0] + 1)
    assert np.all(np.count_nonzero(codes, axis=1) <= X.shape[1])
    np.testing.assert_allclose(codes @ D, X, atol=1e-6)


def test_sparse_coder_lars_refuses_positive_code_as_sklearn(problem):
    X, D = problem
    for cls in (compat.SparseCoder, skd.SparseCoder):
        with pytest.raises(ValueError, match="Positive constraint not supported for 'lars'"):
            cls(D, transform_algorithm="lars", positive_code=True).fit(X).transform(X)


def test_sparse_encode_lars_ignores_max_iter_as_sklearn(problem):
    X, D = problem
    kw = dict(algorithm="lars", n_nonzero_coefs=3, max_iter=0)
    ours = compat.sparse_encode(X, D, **kw)
    np.testing.assert_allclose(ours, skd.sparse_encode(X, D, **kw), atol=1e-9)
    assert np.all(np.count_nonzero(ours, axis=1) == 3)


# ------------------------------------------------ scikit-learn's warnings, where it warns


def _omp_cases(rng):
    """(name, X design, y targets, stopping, premature?) for scikit-learn's column layout."""
    wide = rng.standard_normal((10, 20))            # 20 atoms in 10 dimensions: rank 10
    wide /= np.linalg.norm(wide, axis=0)
    tall = rng.standard_normal((30, 5))             # 5 atoms in 30 dimensions
    tall /= np.linalg.norm(tall, axis=0)
    dup = np.hstack([tall, tall[:, :1]])            # an atom twice
    y_wide = rng.standard_normal((10, 3))
    y_tall = rng.standard_normal((30, 3))
    y_dup = tall[:, :2] @ rng.standard_normal((2, 3)) + 0.1 * rng.standard_normal((30, 3))
    in_span = tall[:, :3] @ rng.standard_normal((3, 3))
    near_span = in_span + 0.01 * rng.standard_normal((30, 3))
    return [
        ("beyond rank", wide, y_wide, dict(n_nonzero_coefs=15), True),
        ("duplicated atom", dup, y_dup, dict(n_nonzero_coefs=6), True),
        ("exact with fewer atoms", tall, in_span, dict(n_nonzero_coefs=5), True),
        ("unreachable tol", dup, y_tall, dict(tol=1e-3), True),
        # scikit-learn's orthogonal_mp stops silently once every atom is used; its
        # orthogonal_mp_gram (and OrthogonalMatchingPursuit, whose precompute="auto"
        # takes the Gram path on tall data) warns.
        ("unreachable tol, all atoms", tall, y_tall, dict(tol=1e-3),
         {"orthogonal_mp": False, "orthogonal_mp_gram": True,
          "OrthogonalMatchingPursuit": True}),
        ("reachable k", wide, y_wide, dict(n_nonzero_coefs=4), False),
        ("reachable tol", tall, near_span, dict(tol=0.1 * float((near_span ** 2).sum(0).min())),
         False),
    ]


def _run_omp(module, kind, X, y, stopping):
    if kind == "orthogonal_mp":
        return module.orthogonal_mp(X, y, **stopping)
    if kind == "orthogonal_mp_gram":
        return module.orthogonal_mp_gram(X.T @ X, X.T @ y, norms_squared=(y ** 2).sum(0),
                                         **stopping)
    if kind == "OrthogonalMatchingPursuit":
        est = module.OrthogonalMatchingPursuit(fit_intercept=False, **stopping)
        return est.fit(X, y).coef_.T
    # sparse_encode(algorithm="omp"): atoms in rows, samples in rows
    if "tol" in stopping:
        pytest.skip("sparse_encode's omp takes n_nonzero_coefs only")
    dec = skd if module is sklm else module
    return dec.sparse_encode(y.T, X.T, algorithm="omp", **stopping).T


@pytest.mark.parametrize("kind", ["orthogonal_mp", "orthogonal_mp_gram",
                                  "OrthogonalMatchingPursuit", "sparse_encode"])
@pytest.mark.parametrize("case", range(7), ids=["beyond-rank", "duplicated-atom",
                                                "exact-fewer", "unreachable-tol",
                                                "unreachable-tol-all-atoms",
                                                "reachable-k", "reachable-tol"])
def test_omp_premature_warning_as_sklearn(kind, case):
    import warnings

    rng = np.random.default_rng(3)
    name, X, y, stopping, premature = _omp_cases(rng)[case]
    if isinstance(premature, dict):
        premature = premature.get(kind, False)
    results = []
    for module in (sklm, compat):
        if premature:
            with pytest.warns(RuntimeWarning, match="ended prematurely due to linear "
                              "dependence in the dictionary"):
                results.append(_run_omp(module, kind, X, y, stopping))
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)
                results.append(_run_omp(module, kind, X, y, stopping))
    if X.shape[1] != 6:  # with the duplicated atom, which copy gets the weight is a tie
        np.testing.assert_allclose(results[1], results[0], atol=1e-8)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_orthogonal_mp_gram_non_finite_xy_raises(rng, bad):
    # scikit-learn codes NaN in Xy silently; the drop-in refuses it.
    X = rng.standard_normal((30, 10))
    y = rng.standard_normal(30)
    Xy = X.T @ y
    Xy[3] = bad
    with pytest.raises(ValueError, match="Xy contains (NaN|infinity)"):
        compat.orthogonal_mp_gram(X.T @ X, Xy, n_nonzero_coefs=3)
    with pytest.raises(ValueError, match="norms_squared contains NaN or infinity"):
        compat.orthogonal_mp_gram(X.T @ X, X.T @ y, tol=0.1, norms_squared=[bad])


def test_orthogonal_matching_pursuit_score_is_sklearn_r2():
    # score is overridden only for its docstring: it must stay scikit-learn's R^2.
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 12))
    y = X[:, :3] @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(40)
    w = rng.random(40)
    ours = compat.OrthogonalMatchingPursuit(n_nonzero_coefs=3).fit(X, y)
    theirs = sklm.OrthogonalMatchingPursuit(n_nonzero_coefs=3).fit(X, y)
    assert ours.score(X, y) == pytest.approx(r2_score(y, ours.predict(X)), abs=1e-12)
    assert ours.score(X, y, sample_weight=w) == pytest.approx(
        theirs.score(X, y, sample_weight=w), abs=1e-10)
    assert ":ref:" not in compat.OrthogonalMatchingPursuit.score.__doc__   # builds offline
