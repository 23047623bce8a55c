"""Tests for the L0 solvers: normalised IHT and CoSaMP."""

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sparsecode.coding._iht import cosamp, iht
from sparsecode.kernels.iht import cosamp_reference, niht_reference

N_FEATURES, N_COMPONENTS, K = 64, 128, 5


class MatrixOperator:
    """Operator of the protocol without ``to_matrix``."""

    def __init__(self, D):
        self.D = D
        self.shape = (D.shape[1], D.shape[0])

    def forward(self, z):
        return z @ self.D

    def adjoint(self, r):
        return r @ self.D.T


@pytest.fixture(scope="module")
def sparse_problem():
    """Noiseless K-sparse signals on an incoherent unit-norm Gaussian dictionary."""
    rng = np.random.default_rng(0)
    D = rng.standard_normal((N_COMPONENTS, N_FEATURES))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    n = 40
    Z = np.zeros((n, N_COMPONENTS))
    for i in range(n):
        support = rng.choice(N_COMPONENTS, K, replace=False)
        Z[i, support] = rng.choice([-1, 1], K) * rng.uniform(1, 2, K)
    X = Z @ D
    for a in (D, Z, X):
        a.flags.writeable = False
    return X, D, Z


SOLVERS = [iht, cosamp]


@pytest.mark.parametrize("solver", SOLVERS)
def test_l0_solver_recovers_sparse_codes_exactly(sparse_problem, solver):
    X, D, Z = sparse_problem
    codes, info = solver(X, D, n_nonzero_coefs=K, tol=1e-12, return_info=True)
    assert info.converged.all()
    np.testing.assert_array_equal(codes != 0, Z != 0)
    np.testing.assert_allclose(codes, Z, atol=1e-9)
    np.testing.assert_allclose(info.objective, 0, atol=1e-16)


@pytest.mark.parametrize("solver", SOLVERS)
def test_l0_solver_operator_equals_dense(sparse_problem, solver):
    X, D, Z = sparse_problem
    rng = np.random.default_rng(1)
    Xn = X + 0.05 * rng.standard_normal(X.shape)
    dense = solver(Xn, D, n_nonzero_coefs=K, tol=1e-10)
    op = solver(Xn, MatrixOperator(D), n_nonzero_coefs=K, tol=1e-10)
    np.testing.assert_allclose(op, dense, atol=1e-9)


@pytest.mark.parametrize("solver", SOLVERS)
def test_l0_solver_at_most_k_nonzeros_on_noise(solver):
    rng = np.random.default_rng(2)
    D = rng.standard_normal((50, 20))
    X = rng.standard_normal((8, 20))
    codes = solver(X, D, n_nonzero_coefs=3, max_iter=300)
    assert ((codes != 0).sum(axis=1) <= 3).all()


def test_iht_matches_reference_on_noisy_signals(sparse_problem):
    X, D, _ = sparse_problem
    rng = np.random.default_rng(3)
    Xn = X[:6] + 0.02 * rng.standard_normal((6, N_FEATURES))
    codes = iht(Xn, D, n_nonzero_coefs=K, tol=1e-12, max_iter=2000)
    for x, c in zip(Xn, codes):
        np.testing.assert_allclose(c, niht_reference(x, D.T, K, n_iter=2000), atol=1e-8)


def test_cosamp_matches_reference_on_noisy_signals(sparse_problem):
    X, D, _ = sparse_problem
    rng = np.random.default_rng(4)
    Xn = X[:6] + 0.02 * rng.standard_normal((6, N_FEATURES))
    codes, info = cosamp(Xn, D, n_nonzero_coefs=K, tol=1e-12, return_info=True)
    for x, c, it in zip(Xn, codes, info.n_iter):
        np.testing.assert_allclose(c, cosamp_reference(x, D.T, K, n_iter=it), atol=1e-9)


def test_iht_warm_start_at_solution(sparse_problem):
    X, D, Z = sparse_problem
    codes, info = iht(X, D, n_nonzero_coefs=K, init=Z, return_info=True)
    np.testing.assert_array_equal(info.n_iter, 1)
    np.testing.assert_allclose(codes, Z, atol=1e-12)


@pytest.mark.parametrize("solver", SOLVERS)
def test_l0_solver_float32(sparse_problem, solver):
    X, D, Z = sparse_problem
    codes = solver(X.astype(np.float32), D.astype(np.float32), n_nonzero_coefs=K, tol=1e-6)
    assert codes.dtype == np.float32
    np.testing.assert_array_equal(codes != 0, Z != 0)
    np.testing.assert_allclose(codes, Z, atol=1e-4)


@pytest.mark.parametrize("solver", SOLVERS)
def test_l0_solver_does_not_modify_inputs(solver):
    rng = np.random.default_rng(5)
    D = rng.standard_normal((30, 10))
    X = rng.standard_normal((4, 10))
    copies = D.copy(), X.copy()
    solver(X, D, n_nonzero_coefs=2)
    np.testing.assert_array_equal(D, copies[0])
    np.testing.assert_array_equal(X, copies[1])


@pytest.mark.parametrize("solver", SOLVERS)
def test_l0_solver_convergence_warning(sparse_problem, solver):
    X, D, _ = sparse_problem
    rng = np.random.default_rng(6)
    Xn = X + 0.3 * rng.standard_normal(X.shape)
    with pytest.warns(ConvergenceWarning, match=f"{solver.__name__} did not converge"):
        solver(Xn, D, n_nonzero_coefs=K, max_iter=1, tol=0.0)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(n_nonzero_coefs=0), ValueError, r"n_nonzero_coefs must be in \[1, n_components=30\]"),
    (dict(n_nonzero_coefs=31), ValueError, r"n_nonzero_coefs must be in \[1, n_components=30\]"),
    (dict(n_nonzero_coefs=2.5), TypeError, "n_nonzero_coefs must be an integer"),
    (dict(max_iter=0), ValueError, "max_iter must be an integer >= 1"),
    (dict(tol=np.inf), ValueError, "tol must be a non-negative finite float"),
])
def test_l0_solver_bad_arguments(solver, kwargs, exc, match):
    D = np.random.default_rng(7).standard_normal((30, 10))
    with pytest.raises(exc, match=match):
        solver(np.ones((2, 10)), D, **kwargs)


@pytest.mark.parametrize("solver", SOLVERS)
def test_l0_solver_non_finite_and_shape(solver):
    D = np.random.default_rng(8).standard_normal((30, 10))
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        solver(np.full((2, 10), np.nan), D)
    with pytest.raises(ValueError, match=r"X must have shape \(n_samples, 10\)"):
        solver(np.ones((2, 9)), D)


def test_iht_init_wrong_shape():
    D = np.random.default_rng(9).standard_normal((30, 10))
    with pytest.raises(ValueError, match=r"init must have shape \(n_samples, n_components\)"):
        iht(np.ones((2, 10)), D, init=np.zeros((2, 29)))


@pytest.mark.parametrize("solver", SOLVERS)
def test_l0_solver_accepts_library_linear_operator(sparse_problem, solver):
    operators = pytest.importorskip("sparsecode.operators")
    X, D, Z = sparse_problem
    codes = solver(X, operators.from_matrix(np.array(D.T)), n_nonzero_coefs=K, tol=1e-12)
    np.testing.assert_allclose(codes, Z, atol=1e-9)


@pytest.mark.parametrize("solver", [iht, cosamp])
@pytest.mark.parametrize("scale", [1e200, 1e-200, 1e150])
def test_codes_are_scale_equivariant_at_extreme_scales(solver, scale):
    # Regression: 1e200 * X gave NaN (IHT) or zeros (CoSaMP); 1e-200 * X zeros.
    rng = np.random.default_rng(1)
    D = rng.standard_normal((64, 32))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    Z = np.zeros((6, 64))
    for i in range(6):
        Z[i, rng.choice(64, 3, replace=False)] = rng.standard_normal(3)
    X = Z @ D + 0.01 * rng.standard_normal((6, 32))
    X[2] *= 1e-3                                    # rows of different magnitudes
    ref = solver(X, D, n_nonzero_coefs=3, tol=1e-12, max_iter=300)
    assert np.count_nonzero(ref) == 6 * 3
    with np.errstate(all="raise"):
        codes = solver(scale * X, D, n_nonzero_coefs=3, tol=1e-12, max_iter=300)
    np.testing.assert_allclose(codes, scale * ref, rtol=1e-10, atol=0)
