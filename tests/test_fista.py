"""Tests for batched ISTA/FISTA (sparsecode.coding._fista, sparsecode.kernels.fista)."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet, Lasso

from sparsecode.coding._fista import fista, ista
from sparsecode.kernels.fista import fista_reference


class MatrixOperator:
    """Minimal operator of the protocol: ``forward(z) = z @ D``, ``adjoint(r) = r @ D.T``."""

    def __init__(self, D):
        self.D = D
        self.shape = (D.shape[1], D.shape[0])

    def forward(self, z):
        return z @ self.D

    def adjoint(self, r):
        return r @ self.D.T


def _dictionary(rng, n_components, n_features=20):
    D = rng.standard_normal((n_components, n_features))
    return D / np.linalg.norm(D, axis=1, keepdims=True)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# Two dictionary shapes (1.5x and 3x overcomplete).
@pytest.fixture(scope="module", params=[30, 60], ids=["k30", "k60"])
def problem(request):
    rng = np.random.default_rng(request.param)
    D = _dictionary(rng, request.param)
    X = rng.standard_normal((5, 20))
    X.flags.writeable = False  # shared by the tests of the module
    D.flags.writeable = False
    return X, D


def _objective(X, D, Z, alpha):
    return 0.5 * ((X - Z @ D) ** 2).sum(axis=1) + alpha * np.abs(Z).sum(axis=1)


_LASSO_CACHE = {}


def _sklearn_lasso(X, D, alpha, positive=False):
    key = (X.tobytes(), D.tobytes(), alpha, positive)
    if key not in _LASSO_CACHE:
        _LASSO_CACHE[key] = _sklearn_lasso_fit(X, D, alpha, positive)
    return _LASSO_CACHE[key]


def _sklearn_lasso_fit(X, D, alpha, positive):
    n_features = D.shape[1]
    return np.array([
        Lasso(alpha=alpha / n_features, fit_intercept=False, tol=1e-14, max_iter=100_000,
              positive=positive).fit(D.T, x).coef_ for x in X])


# --------------------------------------------------------------- optimum (oracles)


@pytest.mark.parametrize("gram_path", ["sparse", "blas"])
@pytest.mark.parametrize("solver", [fista, ista])
def test_fista_reaches_sklearn_lasso_optimum(problem, solver, gram_path, monkeypatch):
    # Dense dictionaries run in the Gram form: sparse accumulation of z G (fused kernel)
    # or one BLAS product while iterates are dense; force each path.
    import sparsecode.kernels.fista as kf

    monkeypatch.setattr(kf, "GRAM_DENSE_FRACTION", 1.0 if gram_path == "sparse" else -1.0)
    X, D = problem
    alpha = 0.2
    ref = _objective(X, D, _sklearn_lasso(X, D, alpha), alpha)
    codes, info = solver(X, D, alpha=alpha, tol=1e-10, max_iter=50_000, return_info=True)
    assert info.converged.all()
    np.testing.assert_allclose(info.objective, ref, rtol=1e-8)
    np.testing.assert_allclose(info.objective, _objective(X, D, codes, alpha), rtol=1e-12)


@pytest.mark.parametrize("lipschitz", [None, "backtracking", 5.0])
def test_fista_operator_object_reaches_optimum(problem, lipschitz):
    X, D = problem
    alpha = 0.2
    if lipschitz == 5.0:
        lipschitz = 1.01 * np.linalg.norm(D, 2) ** 2
    ref = _objective(X, D, _sklearn_lasso(X, D, alpha), alpha)
    _, info = fista(X, MatrixOperator(D), alpha=alpha, tol=1e-10, lipschitz=lipschitz,
                    return_info=True)
    np.testing.assert_allclose(info.objective, ref, rtol=1e-8)


def test_fista_matches_textbook_reference(problem):
    X, D = problem
    got = fista(X, D, alpha=0.3, tol=1e-12, max_iter=20_000)
    want = fista_reference(X, D, 0.3, n_iter=20_000)
    np.testing.assert_allclose(got, want, atol=1e-8)


@pytest.mark.parametrize("restart", [True, False])
def test_fista_restart_same_optimum(problem, restart):
    X, D = problem
    ref = _objective(X, D, _sklearn_lasso(X, D, 0.1), 0.1)
    _, info = fista(X, D, alpha=0.1, tol=1e-10, max_iter=50_000, restart=restart,
                    return_info=True)
    np.testing.assert_allclose(info.objective, ref, rtol=1e-8)


def test_fista_positive_never_negative_and_matches_sklearn(problem):
    X, D = problem
    codes, info = fista(X, D, alpha=0.1, penalty="l1_positive", tol=1e-10, return_info=True)
    assert codes.min() >= 0
    ref = _objective(X, D, _sklearn_lasso(X, D, 0.1, positive=True), 0.1)
    np.testing.assert_allclose(info.objective, ref, rtol=1e-8)


def test_fista_weighted_l1_equals_lasso_on_rescaled_atoms(problem, rng):
    # sum_j w_j |z_j| with u_j = w_j z_j is plain l1 over the atoms D_j / w_j.
    X, D = problem
    w = rng.uniform(0.5, 2.0, D.shape[0])
    codes, info = fista(X, D, alpha=0.2, weights=w, tol=1e-10, return_info=True)
    u = _sklearn_lasso(X, D / w[:, None], 0.2)
    ref = _objective(X, D / w[:, None], u, 0.2)
    np.testing.assert_allclose(info.objective, ref, rtol=1e-8)
    np.testing.assert_allclose(codes, u / w, atol=1e-6)


@pytest.mark.parametrize("l1_ratio", [0.0, 0.3, 1.0])
def test_fista_elastic_net_matches_sklearn(problem, l1_ratio):
    # ElasticNet: 1/(2 n) ||x - D^T z||^2 + a rho |z|_1 + a (1 - rho)/2 |z|^2, a = alpha / n.
    X, D = problem
    alpha, n_features = 0.3, D.shape[1]
    codes = fista(X, D, alpha=alpha, penalty="elastic_net", l1_ratio=l1_ratio, tol=1e-11,
                  max_iter=50_000)
    ref = np.array([ElasticNet(alpha=alpha / n_features, l1_ratio=l1_ratio,
                               fit_intercept=False, tol=1e-14, max_iter=100_000)
                    .fit(D.T, x).coef_ for x in X])
    np.testing.assert_allclose(codes, ref, atol=1e-7)


def test_fista_group_lasso_zeros_whole_groups_and_satisfies_kkt(rng):
    D = _dictionary(rng, 40)
    X = rng.standard_normal((6, 20))
    groups = np.repeat(np.arange(10), 4)[rng.permutation(40)]
    alpha = 0.8
    codes = fista(X, D, alpha=alpha, penalty="group", groups=groups, tol=1e-12,
                  max_iter=50_000)
    corr = (X - codes @ D) @ D.T  # minus the gradient of the smooth part
    n_zero_groups = 0
    for g in range(10):
        cols = groups == g
        zg = codes[:, cols]
        cg = corr[:, cols]
        zero = np.all(zg == 0, axis=1)
        # whole groups vanish or are fully active
        assert np.all(zero | np.all(zg != 0, axis=1))
        n_zero_groups += zero.sum()
        # KKT: ||c_g|| <= alpha on zero groups, c_g = alpha z_g / ||z_g|| otherwise
        assert np.all(np.linalg.norm(cg[zero], axis=1) <= alpha * (1 + 1e-6))
        nz = ~zero
        direction = zg[nz] / np.linalg.norm(zg[nz], axis=1, keepdims=True)
        np.testing.assert_allclose(cg[nz], alpha * direction, atol=1e-6)
    assert 0 < n_zero_groups < 60


def test_fista_group_lasso_with_group_weights_matches_reference(rng):
    D = _dictionary(rng, 24)
    X = rng.standard_normal((3, 20))
    groups = np.repeat([2, 0, 1], 8)
    w = np.array([1.0, 2.0, 0.5])  # for sorted labels 0, 1, 2
    got = fista(X, D, alpha=0.5, penalty="group", groups=groups, weights=w, tol=1e-12,
                max_iter=50_000)
    want = fista_reference(X, D, 0.5, penalty="group", groups=groups, weights=w,
                           n_iter=3000)
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_fista_large_alpha_gives_zero_codes_at_once(problem):
    X, D = problem
    alpha = 1.01 * np.abs(X @ D.T).max()
    codes, info = fista(X, D, alpha=alpha, return_info=True)
    assert not codes.any()
    np.testing.assert_array_equal(info.n_iter, 1)


def test_fista_warm_start_from_solution_stops_quickly(problem):
    X, D = problem
    sol = fista(X, D, alpha=0.2, tol=1e-12, max_iter=50_000)
    codes, info = fista(X, D, alpha=0.2, tol=1e-8, init=sol, return_info=True)
    assert info.n_iter.max() <= 2
    np.testing.assert_allclose(codes, sol, atol=1e-9)


def test_fista_convergence_warning(problem):
    X, D = problem
    with pytest.warns(ConvergenceWarning, match=r"fista did not converge for \d+ of 5"):
        _, info = fista(X, D, alpha=0.01, max_iter=2, return_info=True)
    assert not info.converged.any()
    np.testing.assert_array_equal(info.n_iter, 2)


def test_fista_float32_in_float32_out(problem):
    X, D = problem
    codes, info = fista(X.astype(np.float32), D.astype(np.float32), alpha=0.2, tol=1e-5,
                        return_info=True)
    assert codes.dtype == np.float32
    ref = _objective(X, D, _sklearn_lasso(X, D, 0.2), 0.2)
    np.testing.assert_allclose(_objective(X, D, codes.astype(np.float64), 0.2), ref,
                               rtol=1e-5)
    assert fista(X.astype(np.float32), D, alpha=0.2).dtype == np.float64


def test_fista_does_not_modify_inputs(problem, rng):
    X, D = problem
    init = rng.standard_normal((X.shape[0], D.shape[0]))
    w = np.ones(D.shape[0])
    copies = [a.copy() for a in (X, D, init, w)]
    fista(X, D, alpha=0.2, init=init, weights=w)
    for a, c in zip((X, D, init, w), copies):
        np.testing.assert_array_equal(a, c)


def test_fista_many_signals_chunked_equal_single(rng, monkeypatch):
    import sparsecode.coding._fista as mod

    D = _dictionary(rng, 30)
    X = rng.standard_normal((11, 20))
    full = fista(X, D, alpha=0.2, tol=1e-10)
    monkeypatch.setattr(mod, "_CHUNK", 4)
    np.testing.assert_allclose(fista(X, D, alpha=0.2, tol=1e-10), full, atol=1e-9)


# --------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(alpha=-1.0), ValueError, "alpha must be a non-negative finite float, got -1.0"),
    (dict(alpha=np.nan), ValueError, "alpha must be a non-negative finite float"),
    (dict(alpha="big"), TypeError, "alpha must be a non-negative float"),
    (dict(alpha=0.1, penalty="l2"), ValueError,
     "penalty must be one of 'l1', 'l1_positive', 'elastic_net', 'group'; got 'l2'"),
    (dict(alpha=0.1, penalty="elastic_net", l1_ratio=1.5), ValueError,
     r"l1_ratio must be in \[0, 1\], got 1.5"),
    (dict(alpha=0.1, penalty="elastic_net", l1_ratio=-0.5), ValueError,
     r"l1_ratio must be in \[0, 1\]"),
    (dict(alpha=0.1, penalty="group", groups=[0, 1, 2]), ValueError,
     "groups must have one label per coefficient: length 30, got 3"),
    (dict(alpha=0.1, penalty="group"), ValueError, "groups is required"),
    (dict(alpha=0.1, groups=np.zeros(30, int)), ValueError,
     "groups is only used with penalty='group'"),
    (dict(alpha=0.1, weights=np.ones(3)), ValueError,
     "weights must have one value per coefficient: length 30, got 3"),
    (dict(alpha=0.1, weights=-np.ones(30)), ValueError, "weights must be non-negative"),
    (dict(alpha=0.1, weights=np.full(30, np.nan)), ValueError, "weights contains NaN"),
    (dict(alpha=0.1, max_iter=0), ValueError, "max_iter must be an integer >= 1"),
    (dict(alpha=0.1, tol=-1.0), ValueError, "tol must be a non-negative finite float"),
    (dict(alpha=0.1, lipschitz=-2.0), ValueError, "lipschitz must be a positive finite float"),
    (dict(alpha=0.1, lipschitz="exact"), TypeError,
     "lipschitz must be None, 'backtracking' or a positive float"),
    (dict(alpha=0.1, init=np.zeros((2, 30))), ValueError,
     r"init must have shape \(n_samples, n_components\) = \(5, 30\)"),
    (dict(alpha=0.1, restart="yes"), TypeError, "restart must be True or False"),
])
def test_fista_bad_arguments(rng, kwargs, exc, match):
    D = _dictionary(rng, 30)
    X = rng.standard_normal((5, 20))
    with pytest.raises(exc, match=match):
        fista(X, D, **kwargs)


def test_fista_non_finite_inputs(rng):
    D = _dictionary(rng, 30)
    X = rng.standard_normal((5, 20))
    X[1, 2] = np.nan
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        fista(X, D, alpha=0.1)
    D[0, 0] = np.inf
    with pytest.raises(ValueError, match="dictionary contains NaN or infinity"):
        fista(np.ones((2, 20)), D, alpha=0.1)


def test_fista_shape_mismatch(rng):
    with pytest.raises(ValueError, match=r"X must have shape \(n_samples, 20\)"):
        fista(np.ones((2, 7)), _dictionary(rng, 30), alpha=0.1)
    with pytest.raises(ValueError, match=r"X must have shape \(n_samples, 20\)"):
        fista(np.ones((2, 7)), MatrixOperator(_dictionary(rng, 30)), alpha=0.1)


def test_ista_warning_names_ista(problem):
    X, D = problem
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ConvergenceWarning, match="ista did not converge"):
            ista(X, D, alpha=0.01, max_iter=3)


@pytest.mark.parametrize("as_operator", [False, True], ids=["gram", "operator"])
def test_fista_parallel_kernels_match_serial(rng, monkeypatch, as_operator):
    import sparsecode.kernels.fista as kf

    D = _dictionary(rng, 30)
    X = rng.standard_normal((9, 20))
    dictionary = MatrixOperator(D) if as_operator else D
    serial = fista(X, dictionary, alpha=0.2, tol=1e-9)
    monkeypatch.setattr(kf, "PARALLEL_MIN_SIZE", 0)
    np.testing.assert_array_equal(fista(X, dictionary, alpha=0.2, tol=1e-9), serial)


def test_fista_accepts_library_linear_operator(problem):
    operators = pytest.importorskip("sparsecode.operators")
    X, D = problem
    op = operators.from_matrix(np.array(D.T))  # forward(z) = z @ D
    np.testing.assert_allclose(fista(X, op, alpha=0.2, tol=1e-11),
                               fista(X, D, alpha=0.2, tol=1e-11), atol=1e-8)


def test_fista_backtracking_near_exact_fit_does_not_overflow():
    # Regression: with a nearly exact fit f(y) -> 0 and the sufficient-decrease slack,
    # relative to f(y), was below rounding; every step "failed" and L overflowed.
    import warnings

    from sparsecode.operators import from_matrix

    rng = np.random.default_rng(0)
    n, m, k = 200, 100, 10
    A = rng.standard_normal((m, n)) / np.sqrt(m)
    X = np.zeros((5, n))
    for i in range(5):
        X[i, rng.choice(n, k, replace=False)] = rng.standard_normal(k)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        Z = fista(X @ A.T, from_matrix(A), alpha=1e-4, tol=1e-10, max_iter=3000)
    assert np.isfinite(Z).all()
    np.testing.assert_allclose(Z, X, atol=1e-3)


# --------------------------------------------------------------- prox hook, callback, divergence


@pytest.mark.parametrize("lipschitz", [None, "backtracking"])
@pytest.mark.parametrize("as_operator", [False, True], ids=["dense", "operator"])
def test_fista_prox_hook_equals_builtin_penalty(problem, lipschitz, as_operator):
    # A user's soft-thresholding prox gives the built-in l1 optimum (scikit-learn's).
    X, D = problem
    alpha = 0.1
    calls = []

    def soft(V, step):
        calls.append((V.shape, type(step)))
        return np.sign(V) * np.maximum(np.abs(V) - step * alpha, 0.0)

    dictionary = MatrixOperator(D) if as_operator else D
    Z = fista(X, dictionary, prox=soft, tol=1e-12, max_iter=20000, lipschitz=lipschitz)
    np.testing.assert_allclose(Z, _sklearn_lasso(X, D, alpha), atol=1e-7)
    assert calls and all(s[1] == D.shape[0] and t is float for s, t in calls)


def test_fista_prox_hook_box_constraint_matches_scipy_lsq(problem):
    # prox of the indicator of [0, 1]: bounded least squares (SciPy's lsq_linear oracle).
    from scipy.optimize import lsq_linear

    X, D = problem
    Z, info = fista(X, D, prox=lambda V, s: np.clip(V, 0.0, 1.0), tol=1e-13, max_iter=50000,
                    return_info=True)
    for x, z, obj in zip(X, Z, info.objective):
        ref = lsq_linear(D.T, x, bounds=(0, 1), tol=1e-14, method="bvls").x
        np.testing.assert_allclose(z, ref, atol=1e-6)
        assert obj == pytest.approx(0.5 * np.sum((x - z @ D) ** 2))  # data term only


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(prox="soft"), TypeError, "prox must be a callable prox"),
    (dict(prox=lambda v, s: v, alpha=0.1), ValueError, "alpha must be left unset when prox"),
    (dict(prox=lambda v, s: v, penalty="group", weights=np.ones(30)), ValueError,
     "penalty, weights must be left unset"),
    (dict(prox=lambda v, s: v[:, :2]), ValueError, "prox must return an array of the shape"),
    (dict(alpha=0.1, callback=3), TypeError, "callback must be a callable"),
    (dict(alpha=0.1, verbose="yes"), TypeError, "verbose must be True or False"),
    (dict(), TypeError, "alpha must be a non-negative float, got None"),
])
def test_fista_prox_callback_bad_arguments(rng, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fista(rng.standard_normal((5, 20)), _dictionary(rng, 30), **kwargs)


def test_fista_callback_sees_every_iteration_and_can_stop(problem):
    X, D = problem
    seen = []

    def record(it, codes):
        seen.append((it, codes.copy()))

    Z, info = fista(X, D, alpha=0.1, tol=1e-10, return_info=True, callback=record)
    assert [it for it, _ in seen] == list(range(1, info.n_iter.max() + 1))
    np.testing.assert_array_equal(seen[-1][1], Z)
    assert all(c.shape == Z.shape for _, c in seen)
    # Stopping at iteration 7 equals running max_iter=7 (and does not warn).
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        Z7, info7 = fista(X, D, alpha=0.1, tol=1e-10, return_info=True,
                          callback=lambda it, codes: it == 7)
    with pytest.warns(ConvergenceWarning):
        ref = fista(X, D, alpha=0.1, tol=1e-10, max_iter=7)
    np.testing.assert_array_equal(Z7, ref)
    assert (info7.n_iter == 7).all() and not info7.converged.any()


def test_fista_verbose_progress_bar(problem, capsys):
    X, D = problem
    Z = fista(X, D, alpha=0.1, verbose=True)
    np.testing.assert_array_equal(Z, fista(X, D, alpha=0.1))
    assert "fista" in capsys.readouterr().err


@pytest.mark.parametrize("solver", [fista, ista])
@pytest.mark.parametrize("as_operator", [False, True], ids=["dense", "operator"])
def test_fista_too_small_lipschitz_raises(problem, solver, as_operator):
    # Regression: lipschitz far below ||D||^2 diverged to 1e154 and reported convergence.
    X, D = problem
    L = np.linalg.norm(D, 2) ** 2
    dictionary = MatrixOperator(D) if as_operator else D
    with pytest.raises(ValueError, match="diverged.*lipschitz=0.01"):
        solver(X, dictionary, alpha=0.01, lipschitz=0.01, max_iter=5000)
    with pytest.raises(ValueError, match="lipschitz"):
        solver(X, dictionary, alpha=0.01, lipschitz=L / 3, max_iter=5000)
    # A valid (or generous) constant is accepted and reaches the optimum.
    np.testing.assert_allclose(
        solver(X, dictionary, alpha=0.1, lipschitz=2 * L, tol=1e-12, max_iter=50000),
        _sklearn_lasso(X, D, 0.1), atol=1e-6)
