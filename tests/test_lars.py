import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lars, Lasso, lars_path_gram

from sparsecode.coding._lars import lars, lars_path, lasso_lars
from sparsecode.kernels.lars import (
    STATUS_ALPHA,
    STATUS_DEPENDENT,
    STATUS_LIMIT,
    STATUS_ZERO,
    batch_lars,
    lars_reference,
)


def make_problem(rng, n_features=24, n_components=48, n_samples=30, k=4, noise=0.05):
    D = rng.standard_normal((n_components, n_features))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    Z = np.zeros((n_samples, n_components))
    for i in range(n_samples):
        Z[i, rng.choice(n_components, k, replace=False)] = rng.standard_normal(k)
    X = Z @ D + noise * rng.standard_normal((n_samples, n_features))
    return X, D


def objective(X, D, Z, alpha):
    R = X - Z @ D
    return 0.5 * np.einsum("ij,ij->i", R, R) + alpha * np.abs(Z).sum(axis=1)


def sklearn_lasso_path_end(X, D, alpha, positive=False, method="lasso"):
    """Oracle: scikit-learn's LARS on the Gram matrix, n_samples=1 (unscaled alpha).

    With ``positive=True`` scikit-learn's LARS can end off the optimum (its codes
    violate the KKT conditions by ~1e-2 on some signals, while ours satisfy them to
    1e-15), so the oracle is then coordinate descent (``Lasso``, alpha / n_features)
    run to a 1e-15 duality gap.
    """
    if positive:
        return np.array([
            Lasso(alpha=alpha / D.shape[1], fit_intercept=False, positive=True, tol=1e-15,
                  max_iter=1_000_000).fit(D.T, x).coef_ for x in X
        ])
    G = D @ D.T
    C = X @ D.T
    out = np.zeros((X.shape[0], D.shape[0]))
    for i in range(X.shape[0]):
        _, _, coefs = lars_path_gram(C[i], G, n_samples=1, alpha_min=alpha,
                                     method=method, positive=positive, max_iter=1000)
        out[i] = coefs[:, -1]
    return out


def assert_kkt(X, D, Z, alpha, positive=False, rtol=1e-8):
    """|D(x - zD)^T|_j <= alpha everywhere, = alpha sign(z_j) on the support."""
    R = (X - Z @ D) @ D.T
    scale = max(alpha, 1e-300)
    if positive:
        assert (R <= alpha + rtol * scale).all()
        on = Z > 0
        np.testing.assert_allclose(R[on], alpha, rtol=0, atol=rtol * scale)
    else:
        assert (np.abs(R) <= alpha + rtol * scale).all()
        on = Z != 0
        np.testing.assert_allclose(R[on], alpha * np.sign(Z[on]), rtol=0, atol=rtol * scale)


@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("fraction", [0.02, 0.1, 0.5])
@pytest.mark.parametrize("shape", [(24, 48), (24, 16)])
def test_lasso_lars_matches_sklearn_lars_objective(rng, positive, fraction, shape):
    X, D = make_problem(rng, n_features=shape[0], n_components=shape[1])
    alpha = fraction * np.abs(X @ D.T).max()
    ours = lasso_lars(X, D, alpha=alpha, positive=positive)
    ref = sklearn_lasso_path_end(X, D, alpha, positive=positive)
    f_ours, f_ref = objective(X, D, ours, alpha), objective(X, D, ref, alpha)
    np.testing.assert_allclose(f_ours, f_ref, rtol=1e-9)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-8 if not positive else 1e-6)
    assert_kkt(X, D, ours, alpha, positive=positive)


def test_lasso_lars_matches_sklearn_lasso_cd_objective(rng):
    # scikit-learn's Lasso minimises (1 / (2 n)) ||x - D^T z||^2 + alpha' ||z||_1 with
    # n = n_features rows: alpha' = alpha / n_features gives the same minimiser.
    X, D = make_problem(rng, n_samples=4)
    alpha = 0.1 * np.abs(X @ D.T).max()
    ours = lasso_lars(X, D, alpha=alpha)
    cd = np.array([
        Lasso(alpha=alpha / D.shape[1], fit_intercept=False, tol=1e-14, max_iter=100_000)
        .fit(D.T, x).coef_ for x in X
    ])
    f_ours, f_cd = objective(X, D, ours, alpha), objective(X, D, cd, alpha)
    assert (f_ours <= f_cd * (1 + 1e-12)).all()  # ours is the exact minimiser
    np.testing.assert_allclose(f_ours, f_cd, rtol=1e-9)


@pytest.mark.parametrize("positive", [False, True])
def test_lasso_lars_kkt_overcomplete_many_atoms(rng, positive):
    X, D = make_problem(rng, n_features=16, n_components=64, n_samples=40, k=8, noise=0.3)
    alpha = 0.01 * np.abs(X @ D.T).max()  # deep path: many joins and drops
    Z, n_iter = lasso_lars(X, D, alpha=alpha, positive=positive, return_n_iter=True)
    assert_kkt(X, D, Z, alpha, positive=positive)
    assert (n_iter > (Z != 0).sum(axis=1)).any()  # some paths dropped atoms
    if positive:
        assert (Z >= 0).all()


def test_lasso_lars_positive_never_negative(rng):
    X, D = make_problem(rng, n_samples=60, noise=0.5)
    for fraction in (0.0, 0.001, 0.05):
        Z = lasso_lars(X, D, alpha=fraction * np.abs(X @ D.T).max(), positive=True)
        assert (Z >= 0).all()
        assert (Z > 0).any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lasso_lars_preserves_dtype(rng, dtype):
    X, D = make_problem(rng)
    alpha = 0.1 * np.abs(X @ D.T).max()
    Z = lasso_lars(X.astype(dtype), D.astype(dtype), alpha=alpha)
    assert Z.dtype == dtype
    assert lars(X.astype(dtype), D.astype(dtype), n_nonzero_coefs=3).dtype == dtype
    ref = lasso_lars(X.astype(dtype).astype(np.float64), D.astype(dtype).astype(np.float64),
                     alpha=alpha)
    np.testing.assert_allclose(Z, ref.astype(dtype), rtol=0, atol=1e-6)


def test_lasso_lars_mixed_dtypes_give_float64(rng):
    X, D = make_problem(rng)
    assert lasso_lars(X.astype(np.float32), D, alpha=0.1).dtype == np.float64


@pytest.mark.parametrize(
    "lasso, positive, max_k",
    [(True, False, 24), (True, True, 24), (False, False, 5), (False, True, 5), (True, False, 3)],
)
def test_lars_kernel_matches_numpy_reference(rng, lasso, positive, max_k):
    X, D = make_problem(rng, n_samples=25, noise=0.2)
    G, C = D @ D.T, X @ D.T
    alpha = 0.0 if not lasso else 0.03 * np.abs(C).max()
    n, m = C.shape
    codes = np.zeros((n, m))
    n_iter = np.zeros(n, dtype=np.int64)
    status = np.zeros(n, dtype=np.int64)
    lambdas = np.zeros(n)
    batch_lars(C, G, alpha, max_k, lasso, positive, 500, codes, n_iter, status, lambdas)
    r_codes, r_iter, r_status, r_lambdas = lars_reference(C, G, alpha, max_k, lasso,
                                                          positive, 500)
    np.testing.assert_allclose(codes, r_codes, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(n_iter, r_iter)
    np.testing.assert_array_equal(status, r_status)
    np.testing.assert_allclose(lambdas, r_lambdas, rtol=1e-10)
    if max_k == 3:
        assert (status == STATUS_LIMIT).any()


def test_lasso_lars_fused_kernel_matches_reference(rng):
    X, D = make_problem(rng, n_samples=300)  # several BLAS blocks per thread
    alpha = 0.05 * np.abs(X @ D.T).max()
    Z, n_iter = lasso_lars(X, D, alpha=alpha, return_n_iter=True)
    ref, r_iter, _, _ = lars_reference(X @ D.T, D @ D.T, alpha, 24, True, False, 500)
    np.testing.assert_allclose(Z, ref, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(n_iter, r_iter)


def test_lasso_lars_n_jobs_deterministic(rng):
    X, D = make_problem(rng, n_samples=200)
    a = lasso_lars(X, D, alpha=0.1, n_jobs=1)
    b = lasso_lars(X, D, alpha=0.1, n_jobs=2)
    np.testing.assert_array_equal(a, b)


def test_lasso_lars_alpha_above_max_correlation_gives_zero(rng):
    X, D = make_problem(rng)
    alpha = np.abs(X @ D.T).max(axis=1)
    Z = lasso_lars(X, D, alpha=alpha.max())
    assert not Z.any()
    # Each row is zero exactly when its own max correlation is <= alpha.
    Z = lasso_lars(X, D, alpha=np.median(alpha))
    np.testing.assert_array_equal(np.abs(Z).sum(axis=1) == 0, alpha <= np.median(alpha))


def test_lasso_lars_zero_signal_gives_zero_code(rng):
    X, D = make_problem(rng, n_samples=3)
    X[1] = 0.0
    for alpha in (0.0, 0.1):
        Z = lasso_lars(X, D, alpha=alpha)
        assert not Z[1].any()
        assert Z[0].any()


def test_lasso_lars_alpha_zero_is_least_squares_undercomplete(rng):
    X, D = make_problem(rng, n_features=24, n_components=10, noise=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Z = lasso_lars(X, D, alpha=0.0)
    ref = np.linalg.lstsq(D.T, X.T, rcond=None)[0].T
    np.testing.assert_allclose(Z, ref, rtol=0, atol=1e-9)


def test_lasso_lars_alpha_zero_overcomplete_interpolates(rng):
    X, D = make_problem(rng, n_features=12, n_components=40, noise=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Z, n_iter = lasso_lars(X, D, alpha=0.0, return_n_iter=True)
    assert ((Z != 0).sum(axis=1) <= 12).all()
    np.testing.assert_allclose(Z @ D, X, rtol=0, atol=1e-9)


def test_lasso_lars_rank_deficient_dictionary_stops_cleanly(rng):
    # 6 atoms spanning a 3-D subspace of R^8: the path ends at the projection.
    B = np.linalg.qr(rng.standard_normal((8, 3)))[0].T
    D = rng.standard_normal((6, 3)) @ B
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.standard_normal((10, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Z = lasso_lars(X, D, alpha=0.0)
    assert np.isfinite(Z).all()
    np.testing.assert_allclose(Z @ D, X @ B.T @ B, rtol=0, atol=1e-9)


def test_lasso_lars_orthonormal_ties_is_soft_threshold():
    # D = I: the lasso is soft thresholding; equal |x_j| make exact ties.
    D = np.eye(6)
    X = np.array([[1.0, -1.0, 1.0, 0.5, -0.5, 0.25], [2.0, 2.0, -2.0, -2.0, 2.0, 2.0]])
    for alpha in (0.0, 0.3, 0.5, 0.9, 2.0):
        Z = lasso_lars(X, D, alpha=alpha)
        np.testing.assert_allclose(Z, np.sign(X) * np.maximum(np.abs(X) - alpha, 0),
                                   rtol=0, atol=1e-12)


def test_lasso_lars_duplicate_atoms(rng):
    X, D = make_problem(rng, n_features=16, n_components=20)
    D = np.vstack([D, D[:3], -D[3:5]])  # exact and negated duplicates
    alpha = 0.05 * np.abs(X @ D.T).max()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Z = lasso_lars(X, D, alpha=alpha)
    assert_kkt(X, D, Z, alpha)
    ref = sklearn_lasso_path_end(X, D[:20], alpha)
    np.testing.assert_allclose(objective(X, D, Z, alpha), objective(X, D[:20], ref, alpha),
                               rtol=1e-9)


def test_lasso_lars_dependent_atom_stops_cleanly_with_warning():
    # Correlations (1, -1, 0.9) against the Gram of [e1, e2, (e1 + e2)/sqrt 2]: after
    # e1 and e2 the third atom reaches the boundary at lambda = 0.9 but lies in their
    # span. (A Gram inconsistent with the dictionary is the simplest way there.)
    s = 1 / np.sqrt(2)
    G = np.array([[1.0, 0.0, s], [0.0, 1.0, s], [s, s, 1.0]])
    C = np.array([[1.0, -1.0, 0.9]])
    codes, n_iter, status, lambdas = (np.zeros((1, 3)), np.zeros(1, np.int64),
                                      np.zeros(1, np.int64), np.zeros(1))
    batch_lars(C, G, 0.0, 3, True, False, 100, codes, n_iter, status, lambdas)
    assert status[0] == STATUS_DEPENDENT
    np.testing.assert_allclose(lambdas[0], 0.9)
    np.testing.assert_allclose(codes[0], [0.1, -0.1, 0.0], atol=1e-12)
    assert lars_reference(C, G, 0.0, 3, True, False, 100)[2][0] == STATUS_DEPENDENT
    D = np.array([[1.0, 0.0], [0.0, 1.0], [0.9, 0.0]])
    with pytest.warns(ConvergenceWarning, match="linearly dependent"):
        Z = lasso_lars(np.array([[1.0, -1.0]]), D, alpha=0.0, gram=G)
    np.testing.assert_allclose(Z, codes, atol=1e-12)


def test_lasso_lars_max_iter_warns(rng):
    X, D = make_problem(rng, n_samples=5, noise=0.3)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        lasso_lars(X, D, alpha=0.001, max_iter=2)


def test_lasso_lars_n_nonzero_coefs_caps_support(rng):
    X, D = make_problem(rng, n_samples=20, k=8, noise=0.2)
    Z = lasso_lars(X, D, alpha=0.0, n_nonzero_coefs=4)
    assert ((Z != 0).sum(axis=1) <= 4).all()
    # Each code is the exact lasso solution for its own (larger) penalty.
    R = (X - Z @ D) @ D.T
    for i in range(X.shape[0]):
        lam = np.abs(R[i]).max()
        assert lam > 0
        np.testing.assert_allclose(lasso_lars(X[i:i + 1], D, alpha=lam)[0], Z[i],
                                   rtol=0, atol=1e-9)


@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("k", [1, 4, 9])
def test_lars_matches_sklearn_lars(rng, positive, k):
    X, D = make_problem(rng, n_samples=8, noise=0.2)
    ours = lars(X, D, n_nonzero_coefs=k, positive=positive)
    if positive:
        # Positive LARS drops atoms whose coefficient reaches 0: each code is the
        # positive-lasso solution (KKT) at its own penalty, stopped where atom k + 1
        # would join, and ends the single-signal path computed with the same cap.
        assert (ours >= 0).all() and ((ours != 0).sum(axis=1) <= k).all()
        R = (X - ours @ D) @ D.T
        for i in range(X.shape[0]):
            lam = R[i].max()
            assert_kkt(X[i:i + 1], D, ours[i:i + 1], lam, positive=True)
            coefs = lars_path(X[i], D, method="lar", positive=True, n_nonzero_coefs=k)[2]
            np.testing.assert_allclose(coefs[-1], ours[i], rtol=0, atol=1e-12)
        return
    ref = np.array([
        Lars(fit_intercept=False, n_nonzero_coefs=k, precompute=D @ D.T).fit(D.T, x).coef_
        for x in X
    ])
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9)
    assert ((ours != 0).sum(axis=1) == k).all()


def test_lars_default_n_nonzero_coefs(rng):
    X, D = make_problem(rng, n_features=30, n_components=50)
    Z = lars(X, D)
    assert ((Z != 0).sum(axis=1) == 3).all()  # int(0.1 * 30)


@pytest.mark.parametrize("positive", [False, True])
def test_lars_path_lasso_matches_sklearn_lars_path_gram(rng, positive):
    X, D = make_problem(rng, n_samples=3, noise=0.3)
    for x in X:
        alpha = 0.05 * np.abs(D @ x).max()  # far from 24 active atoms in R^24
        alphas, active, coefs = lars_path(x, D, alpha=alpha, positive=positive)
        r_alphas, _, r_coefs = lars_path_gram(
            D @ x, D @ D.T, n_samples=1, alpha_min=alpha, method="lasso", positive=positive)
        if positive:
            # scikit-learn's positive path can leave the optimum (see
            # sklearn_lasso_path_end); compare up to the first drop only.
            drops = np.flatnonzero(np.diff((r_coefs != 0).sum(axis=0)) < 0)
            n = drops[0] + 1 if drops.size else alphas.size
            assert n >= 5
            alphas, coefs, r_alphas, r_coefs = alphas[:n], coefs[:n], r_alphas[:n], r_coefs[:, :n]
        np.testing.assert_allclose(alphas, r_alphas, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(coefs, r_coefs.T, rtol=0, atol=1e-9)
        assert coefs.shape == (alphas.size, D.shape[0])
        assert set(active.tolist()) >= set(np.flatnonzero(coefs[-1]).tolist())


def test_lars_path_lar_matches_sklearn_lars_path_gram(rng):
    X, D = make_problem(rng, n_samples=3, noise=0.3)
    for x in X:
        alphas, active, coefs = lars_path(x, D, method="lar", n_nonzero_coefs=10)
        r_alphas, r_active, r_coefs = lars_path_gram(
            D @ x, D @ D.T, n_samples=1, method="lar", max_iter=10)
        np.testing.assert_allclose(alphas, r_alphas, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(coefs, r_coefs.T, rtol=0, atol=1e-9)
        np.testing.assert_array_equal(active, r_active)


def test_lars_path_interpolation_is_the_lasso_solution(rng):
    X, D = make_problem(rng, n_samples=1, noise=0.3)
    alphas, _, coefs = lars_path(X[0], D, alpha=0.0, return_n_iter=False)
    lam = 0.5 * (alphas[3] + alphas[4])
    t = (alphas[3] - lam) / (alphas[3] - alphas[4])
    z = (1 - t) * coefs[3] + t * coefs[4]
    np.testing.assert_allclose(lasso_lars(X, D, alpha=lam)[0], z, rtol=0, atol=1e-10)


def test_lars_path_return_n_iter(rng):
    X, D = make_problem(rng, n_samples=1)
    alphas, active, coefs, n_iter = lars_path(X[0], D, alpha=0.1, return_n_iter=True)
    assert n_iter == alphas.size - 1


def test_lasso_lars_does_not_modify_inputs(rng):
    X, D = make_problem(rng)
    G = D @ D.T
    X0, D0, G0 = X.copy(), D.copy(), G.copy()
    lasso_lars(X, D, alpha=0.1, gram=G)
    lars(X, D, n_nonzero_coefs=3, gram=G)
    lars_path(X[0], D, alpha=0.1, gram=G)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(D, D0)
    np.testing.assert_array_equal(G, G0)


def test_lasso_lars_precomputed_gram_same_result(rng):
    X, D = make_problem(rng)
    np.testing.assert_array_equal(lasso_lars(X, D, alpha=0.1, gram=D @ D.T),
                                  lasso_lars(X, D, alpha=0.1))


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(alpha=-0.1), ValueError, "alpha must be a non-negative finite float"),
        (dict(alpha=np.nan), ValueError, "alpha must be a non-negative finite float"),
        (dict(alpha=np.inf), ValueError, "alpha must be a non-negative finite float"),
        (dict(alpha=None), TypeError, "alpha must be a non-negative float"),
        (dict(alpha="1"), TypeError, "alpha must be a non-negative float"),
        (dict(alpha=0.1, positive="yes"), TypeError, "positive must be True or False"),
        (dict(alpha=0.1, max_iter=0), ValueError, "max_iter must be an integer >= 1"),
        (dict(alpha=0.1, max_iter=2.5), TypeError, "max_iter must be an integer"),
        (dict(alpha=0.1, n_nonzero_coefs=0), ValueError, "n_nonzero_coefs must be in"),
        (dict(alpha=0.1, gram=np.eye(3)), ValueError, "gram must have shape"),
        (dict(alpha=0.1, gram=np.full((48, 48), np.nan)), ValueError, "gram contains NaN"),
    ],
)
def test_lasso_lars_bad_parameters_raise(rng, kwargs, exc, match):
    X, D = make_problem(rng, n_samples=2)
    with pytest.raises(exc, match=match):
        lasso_lars(X, D, **kwargs)


def test_lasso_lars_bad_arrays_raise(rng):
    X, D = make_problem(rng, n_samples=2)
    Xnan = X.copy()
    Xnan[0, 0] = np.nan
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        lasso_lars(Xnan, D, alpha=0.1)
    Dinf = D.copy()
    Dinf[0, 0] = np.inf
    with pytest.raises(ValueError, match="dictionary contains NaN or infinity"):
        lasso_lars(X, Dinf, alpha=0.1)
    with pytest.raises(ValueError, match=r"X must have shape \(n_samples, 24\)"):
        lasso_lars(X[:, :5], D, alpha=0.1)
    Dz = D.copy()
    Dz[3] = 0
    with pytest.raises(ValueError, match="dictionary has 1 zero-norm atom"):
        lasso_lars(X, Dz, alpha=0.1)
    with pytest.raises(ValueError, match="X must be a 2-D array"):
        lasso_lars(X[0], D, alpha=0.1)


def test_lars_path_bad_inputs_raise(rng):
    X, D = make_problem(rng, n_samples=1)
    with pytest.raises(ValueError, match="method must be one of"):
        lars_path(X[0], D, method="lars")
    with pytest.raises(ValueError, match=r"x must have shape \(24,\)"):
        lars_path(X[0, :5], D)
    with pytest.raises(ValueError, match="x must be a 1-D array"):
        lars_path(X, D)
    with pytest.raises(ValueError, match="alpha must be a non-negative finite float"):
        lars_path(X[0], D, alpha=-1.0)


def test_lars_bad_n_nonzero_coefs_raise(rng):
    X, D = make_problem(rng, n_samples=2)
    with pytest.raises(ValueError, match="n_nonzero_coefs must be in"):
        lars(X, D, n_nonzero_coefs=49)
    with pytest.raises(TypeError, match="n_nonzero_coefs must be an integer"):
        lars(X, D, n_nonzero_coefs=2.0)


def test_status_codes_reported_by_kernel(rng):
    X, D = make_problem(rng, n_features=10, n_components=30, n_samples=6)
    G, C = D @ D.T, X @ D.T
    out = [np.zeros((6, 30)), np.zeros(6, np.int64), np.zeros(6, np.int64), np.zeros(6)]
    batch_lars(C, G, 0.1, 10, True, False, 500, *out)
    assert (out[2] == STATUS_ALPHA).all()
    np.testing.assert_allclose(out[3], 0.1)
    out = [np.zeros((6, 30)), np.zeros(6, np.int64), np.zeros(6, np.int64), np.zeros(6)]
    batch_lars(C, G, 0.0, 10, True, False, 500, *out)
    assert (out[2] == STATUS_ZERO).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lars_codes_validated_path_matches_public(rng, dtype):
    from sparsecode.coding._lars import _lars_codes

    X, D = make_problem(rng)
    X, D = X.astype(dtype), D.astype(dtype)
    G = D.astype(np.float64) @ D.T.astype(np.float64)  # what the public functions use
    Z = _lars_codes(X, D, G, method="lasso", alpha=0.1, positive=True)
    assert Z.dtype == dtype
    np.testing.assert_array_equal(Z, lasso_lars(X, D, alpha=0.1, positive=True))
    Z = _lars_codes(X, D, G, method="lar", n_nonzero_coefs=3)
    np.testing.assert_array_equal(Z, lars(X, D, n_nonzero_coefs=3))
