"""Convolutional sparse coding and dictionary learning (sparsecode.convolutional).

Oracles: the circular-convolution definition (np.roll), the explicit convolution matrix
with scikit-learn's Lasso, the NumPy reference twins of the kernels, the NumPy path for
the torch twin, finite differences for autograd.
"""

import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import Lasso

from sparsecode.convolutional import (
    ConvolutionalDictionaryLearning,
    cbpdn,
    cbpdn_objective,
    conv_dict_learning,
    convolve,
    convolve_adjoint,
)
from sparsecode.kernels import convolutional as K


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _conv_reference(Z, D):
    """Direct circular convolution: sum_m sum_ab d[a, b] z[(i - a), (j - b)]."""
    out = np.zeros(Z.shape[-2:])
    for m in range(D.shape[0]):
        for a in range(D.shape[1]):
            for b in range(D.shape[2]):
                out += D[m, a, b] * np.roll(np.roll(Z[m], a, 0), b, 1)
    return out


def _matrix(D, shape):
    M = D.shape[0]
    H, W = shape
    cols = []
    for m in range(M):
        for i in range(H):
            for j in range(W):
                z = np.zeros((M, H, W))
                z[m, i, j] = 1.0
                cols.append(convolve(z, D).ravel())
    return np.array(cols).T


def _lasso_maps(A, x, alpha, shape, *, positive=False, rows=None):
    if rows is not None:
        A, x = A[rows], x[rows]
    n = A.shape[0]
    est = Lasso(alpha=alpha / n, fit_intercept=False, tol=1e-13, max_iter=200_000,
                positive=positive).fit(A, x)
    return est.coef_.reshape(shape)


# --------------------------------------------------------------------------- operators


@pytest.mark.parametrize("shape", [(6, 7), (8, 8)])
def test_convolve_matches_circular_definition(rng, shape):
    D = rng.standard_normal((3, 3, 4))
    Z = rng.standard_normal((3,) + shape)
    np.testing.assert_allclose(convolve(Z, D), _conv_reference(Z, D), atol=1e-12)


def test_convolve_adjoint_is_adjoint(rng):
    D = rng.standard_normal((4, 5, 3))
    Z = rng.standard_normal((2, 4, 12, 10))
    X = rng.standard_normal((2, 12, 10))
    lhs = np.sum(convolve(Z, D) * X)
    rhs = np.sum(Z * convolve_adjoint(X, D))
    assert abs(lhs - rhs) <= 1e-12 * abs(lhs)


def test_operators_keep_float32(rng):
    D = rng.standard_normal((2, 3, 3)).astype(np.float32)
    Z = rng.standard_normal((2, 8, 8)).astype(np.float32)
    assert convolve(Z, D).dtype == np.float32
    assert convolve_adjoint(convolve(Z, D), D).dtype == np.float32


# ----------------------------------------------------------------------------- kernels


def test_freq_solve_matches_reference(rng):
    n, M, H, F = 2, 3, 5, 4
    c = lambda *s: rng.standard_normal(s) + 1j * rng.standard_normal(s)
    W, S, Dh = c(n, M, H, F), c(n, H, F), c(M, H, F)
    inv = rng.random((H, F)) + 0.1
    expected = K.freq_solve_reference(W, S, Dh, inv)
    K.freq_solve(W, S, Dh, inv)
    np.testing.assert_allclose(W, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("impulse", [False, True])
def test_admm_ystep_matches_reference(rng, positive, impulse):
    shape = (2, 3, 4, 5)
    X, Y, U = (rng.standard_normal(shape) for _ in range(3))
    missing = (rng.random((2, 4, 5)) > 0.5).astype(float)
    Yr, Ur, Wr, sums_r = K.admm_ystep_reference(X, Y, U, 1.7, 0.4, positive, impulse,
                                                missing)
    sums = np.empty((2 * 3 * 4, 5))
    K.admm_ystep(X, Y, U, 1.7, 0.4, positive, impulse, missing, sums)
    np.testing.assert_allclose(Y, Yr, atol=1e-14)
    np.testing.assert_allclose(U, Ur, atol=1e-14)
    np.testing.assert_allclose(X, Wr, atol=1e-14)
    np.testing.assert_allclose(sums.sum(axis=0), sums_r, rtol=1e-12)


def test_consensus_dstep_matches_reference(rng):
    Kk, M, H, F = 3, 2, 4, 3
    c = lambda *s: rng.standard_normal(s) + 1j * rng.standard_normal(s)
    Xh, Sh, Gh, Hh = c(Kk, M, H, F), c(Kk, H, F), c(M, H, F), c(Kk, M, H, F)
    T, avg_r = K.consensus_dstep_reference(Xh, Sh, Gh, Hh, 2.5, 1.8)
    avg = np.empty_like(Gh)
    K.consensus_dstep(Xh, Sh, Gh, Hh, 2.5, 1.8, avg)
    np.testing.assert_allclose(Hh, T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(avg, avg_r, rtol=1e-12, atol=1e-12)


def test_consensus_dstep_solves_the_regularised_least_squares(rng):
    # one image: the updated copy d solves (sigma I + a a^H) d = a s + sigma (g - h)
    M, H, F = 3, 2, 2
    c = lambda *s: rng.standard_normal(s) + 1j * rng.standard_normal(s)
    Xh, Sh, Gh, Hh = c(1, M, H, F), c(1, H, F), c(M, H, F), c(1, M, H, F)
    sigma = 1.3
    H0 = Hh.copy()
    avg = np.empty_like(Gh)
    K.consensus_dstep(Xh, Sh, Gh, Hh, sigma, 1.0, avg)  # relax=1: Hh = h + d
    d = Hh - H0
    for r in range(H):
        for f in range(F):
            a = np.conj(Xh[0, :, r, f])
            A = sigma * np.eye(M) + np.outer(a, a.conj())
            rhs = a * Sh[0, r, f] + sigma * (Gh[:, r, f] - H0[0, :, r, f])
            np.testing.assert_allclose(A @ d[0, :, r, f], rhs, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------- solvers vs oracles


@pytest.mark.parametrize("method", ["admm", "fista"])
@pytest.mark.parametrize("shape", [(6, 7), (6, 6)])
def test_cbpdn_matches_explicit_lasso(rng, method, shape):
    D = rng.standard_normal((3, 3, 3))
    x = rng.standard_normal(shape)
    A = _matrix(D, shape)
    z_ref = _lasso_maps(A, x.ravel(), 0.3, (3,) + shape)
    Z, info = cbpdn(x, D, 0.3, method=method, tol=1e-9, max_iter=20_000, return_info=True)
    assert info.converged
    np.testing.assert_allclose(Z, z_ref, atol=1e-5)
    np.testing.assert_allclose(info.objective, cbpdn_objective(x, z_ref, D, 0.3), rtol=1e-9)


@pytest.mark.parametrize("method", ["admm", "fista"])
def test_cbpdn_positive_matches_positive_lasso(rng, method):
    D = rng.standard_normal((3, 3, 3))
    x = rng.standard_normal((6, 7))
    z_ref = _lasso_maps(_matrix(D, x.shape), x.ravel(), 0.3, (3, 6, 7), positive=True)
    Z, info = cbpdn(x, D, 0.3, method=method, positive=True, tol=1e-9, max_iter=20_000,
                    return_info=True)
    assert info.converged
    assert Z.min() >= 0
    np.testing.assert_allclose(Z, z_ref, atol=1e-5)


@pytest.mark.parametrize("method", ["admm", "fista"])
def test_cbpdn_mask_matches_lasso_on_observed_pixels(rng, method):
    D = rng.standard_normal((3, 3, 3))
    x = rng.standard_normal((6, 7))
    mask = rng.random((6, 7)) > 0.3
    z_ref = _lasso_maps(_matrix(D, x.shape), x.ravel(), 0.3, (3, 6, 7), rows=mask.ravel())
    Z, info = cbpdn(x, D, 0.3, method=method, mask=mask, tol=1e-10, max_iter=50_000,
                    return_info=True)
    ref = cbpdn_objective(x, z_ref, D, 0.3, mask=mask)
    assert info.objective == pytest.approx(ref, rel=1e-8)
    # the unobserved pixels do not matter
    x2 = np.where(mask, x, 100.0)
    Z2 = cbpdn(x2, D, 0.3, method=method, mask=mask, tol=1e-10, max_iter=50_000)
    np.testing.assert_allclose(Z2, Z, atol=1e-5)


def test_admm_and_fista_reach_the_same_objective(rng):
    D = rng.standard_normal((4, 6, 6))
    D /= np.linalg.norm(D.reshape(4, -1), axis=1)[:, None, None]
    X = rng.standard_normal((2, 32, 32))
    _, ia = cbpdn(X, D, 0.2, method="admm", tol=1e-7, max_iter=20_000, return_info=True)
    _, iff = cbpdn(X, D, 0.2, method="fista", tol=1e-9, max_iter=20_000, return_info=True)
    np.testing.assert_allclose(ia.objective, iff.objective, rtol=1e-6)


def test_cbpdn_batch_equals_single_images(rng):
    D = rng.standard_normal((3, 4, 4))
    X = rng.standard_normal((2, 16, 16))
    # ADMM couples the batch only through its (shared) penalty; FISTA's step size is the
    # same for every image but its stopping test is joint: compare converged solutions.
    Zb = cbpdn(X, D, 0.3, method="fista", tol=1e-10, max_iter=20_000)
    for i in range(2):
        Zi = cbpdn(X[i], D, 0.3, method="fista", tol=1e-10, max_iter=20_000)
        np.testing.assert_allclose(Zb[i], Zi, atol=1e-6)


def test_cbpdn_warm_start_from_solution_stops_early(rng):
    D = rng.standard_normal((3, 4, 4))
    X = rng.standard_normal((1, 16, 16))
    Z, info = cbpdn(X, D, 0.3, method="fista", tol=1e-6, max_iter=10_000, return_info=True)
    _, info2 = cbpdn(X, D, 0.3, method="fista", tol=1e-6, init=Z, return_info=True)
    assert info2.n_iter < info.n_iter / 10


def test_cbpdn_float32_and_no_mutation(rng):
    D = rng.standard_normal((3, 4, 4)).astype(np.float32)
    X = rng.standard_normal((2, 16, 16)).astype(np.float32)
    X0, D0 = X.copy(), D.copy()
    for method in ("admm", "fista"):
        Z = cbpdn(X, D, 0.3, method=method, mask=np.ones((16, 16), bool))
        assert Z.dtype == np.float32 and Z.shape == (2, 3, 16, 16)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(D, D0)


def test_cbpdn_admm_first_iteration_matches_explicit_solve(rng):
    # one ADMM iteration from zero with rho fixed: y = soft(relax * x1, alpha / rho) with
    # x1 = (D^T D + rho I)^{-1} D^T s, computed here by the explicit matrix
    D = rng.standard_normal((2, 3, 3))
    x = rng.standard_normal((5, 6))
    A = _matrix(D, x.shape)
    rho, alpha = 2.0, 0.3
    x1 = np.linalg.solve(A.T @ A + rho * np.eye(A.shape[1]), A.T @ x.ravel())
    v = 1.8 * x1
    y = np.sign(v) * np.maximum(np.abs(v) - alpha / rho, 0)
    Z = cbpdn(x, D, alpha, max_iter=1, rho=rho, auto_rho=False)
    np.testing.assert_allclose(Z.ravel(), y, atol=1e-12)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(alpha=0.0), ValueError, "alpha must be a positive"),
        (dict(alpha=-1.0), ValueError, "alpha must be a positive"),
        (dict(alpha=None), TypeError, "alpha must be a positive"),
        (dict(method="lasso"), ValueError, "method must be one of"),
        (dict(max_iter=0), ValueError, "max_iter"),
        (dict(relaxation=2.0), ValueError, "relaxation"),
        (dict(rho=-1.0), ValueError, "rho"),
        (dict(mask=np.ones((5, 5))), ValueError, "mask must have"),
        (dict(mask=np.full((8, 8), 0.5)), ValueError, "only 0"),
        (dict(init=np.zeros((1, 2, 8, 8))), ValueError, "init must have shape"),
    ],
)
def test_cbpdn_rejects_bad_arguments(rng, kwargs, error, match):
    args = dict(alpha=0.1)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        cbpdn(rng.standard_normal((8, 8)), rng.standard_normal((3, 3, 3)), **args)


def test_cbpdn_rejects_bad_images_and_filters(rng):
    D = rng.standard_normal((3, 3, 3))
    X = rng.standard_normal((8, 8))
    with pytest.raises(ValueError, match="larger than the images"):
        cbpdn(X, rng.standard_normal((2, 9, 3)), 0.1)
    bad = X.copy()
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cbpdn(bad, D, 0.1)
    with pytest.raises(ValueError, match="one image"):
        cbpdn(np.ones(8), D, 0.1)
    with pytest.raises(ValueError, match="one image"):
        cbpdn(np.ones((1, 1, 8, 8)), D, 0.1)
    with pytest.raises(ValueError, match="filters must have shape"):
        cbpdn(X, np.ones((1, 3, 3, 3)), 0.1)
    with pytest.raises(ValueError, match="all-zero filter"):
        cbpdn(X, np.zeros((2, 3, 3)), 0.1)
    with pytest.raises(TypeError, match="complex"):
        cbpdn(X + 1j, D, 0.1)
    with pytest.raises(ValueError, match="filters"):
        convolve(np.ones((2, 8, 8)), D)


# -------------------------------------------------------------------------------- torch


torch = pytest.importorskip("torch")


def test_torch_operators_match_numpy(rng):
    D = rng.standard_normal((3, 4, 5))
    Z = rng.standard_normal((2, 3, 16, 18))
    X = rng.standard_normal((2, 16, 18))
    Dt, Zt, Xt = map(torch.from_numpy, (D, Z, X))
    np.testing.assert_allclose(convolve(Zt, Dt).numpy(), convolve(Z, D), atol=1e-12)
    np.testing.assert_allclose(convolve_adjoint(Xt, Dt).numpy(), convolve_adjoint(X, D),
                               atol=1e-12)
    np.testing.assert_allclose(cbpdn_objective(Xt, Zt, Dt, 0.3).numpy(),
                               cbpdn_objective(X, Z, D, 0.3), rtol=1e-12)


def test_torch_operator_adjoint(rng):
    D = torch.from_numpy(rng.standard_normal((3, 4, 4)))
    Z = torch.from_numpy(rng.standard_normal((1, 3, 10, 12)))
    X = torch.from_numpy(rng.standard_normal((1, 10, 12)))
    lhs = (convolve(Z, D) * X).sum()
    rhs = (Z * convolve_adjoint(X, D)).sum()
    assert abs(float(lhs - rhs)) <= 1e-12 * abs(float(lhs))


def test_torch_objective_gradients_match_finite_differences(rng):
    D = torch.tensor(rng.standard_normal((2, 3, 3)), requires_grad=True)
    # maps away from 0 so that |z| is differentiable at the evaluation point
    Zn = rng.standard_normal((1, 2, 6, 7))
    Zn += 0.5 * np.sign(Zn)
    Z = torch.tensor(Zn, requires_grad=True)
    X = torch.tensor(rng.standard_normal((1, 6, 7)), requires_grad=True)
    mask = torch.from_numpy((rng.random((6, 7)) > 0.3).astype(float))
    f = lambda X, Z, D: cbpdn_objective(X, Z, D, 0.3, mask=mask)
    assert torch.autograd.gradcheck(f, (X, Z, D), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("method", ["admm", "fista"])
@pytest.mark.parametrize("kwargs", [{}, {"positive": True}, {"mask": "random"}])
def test_torch_cbpdn_matches_numpy(rng, method, kwargs):
    D = rng.standard_normal((3, 4, 5))
    X = rng.standard_normal((2, 12, 14))
    if kwargs.get("mask") == "random":
        kwargs = {"mask": rng.random((12, 14)) > 0.3}
    Z, info = cbpdn(X, D, 0.3, method=method, tol=1e-4, max_iter=100, return_info=True,
                    **kwargs)
    Zt, info_t = cbpdn(torch.from_numpy(X), torch.from_numpy(D), 0.3, method=method,
                       tol=1e-4, max_iter=100, return_info=True, **kwargs)
    assert info_t.n_iter == info.n_iter
    np.testing.assert_allclose(Zt.numpy(), Z, atol=1e-9)
    np.testing.assert_allclose(info_t.objective, info.objective, rtol=1e-10)


def test_torch_cbpdn_is_differentiable(rng):
    D = torch.tensor(rng.standard_normal((2, 2, 3)), requires_grad=True)
    X = torch.tensor(rng.standard_normal((1, 5, 6)), requires_grad=True)
    for method in ("admm", "fista"):
        Z = cbpdn(X, D, 0.2, method=method, max_iter=15)
        (gx, gd) = torch.autograd.grad((Z ** 2).sum(), (X, D))
        assert torch.isfinite(gx).all() and gd.abs().sum() > 0
    # the gradient through a few iterations matches finite differences
    weights = torch.from_numpy(rng.standard_normal((1, 2, 5, 6)))
    f = lambda X, D: (weights * cbpdn(X, D, 0.2, method="fista", max_iter=4,
                                      tol=0.0)).sum()
    assert torch.autograd.gradcheck(f, (X, D), eps=1e-6, atol=1e-5)


def test_torch_rejects_bad_input(rng):
    D = torch.from_numpy(rng.standard_normal((2, 3, 3)))
    X = torch.from_numpy(rng.standard_normal((8, 8)))
    bad = X.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        cbpdn(bad, D, 0.1)
    with pytest.raises(ValueError, match="larger than the images"):
        cbpdn(X, torch.ones(2, 9, 9, dtype=torch.float64), 0.1)
    with pytest.raises(ValueError, match="alpha must be a positive"):
        cbpdn(X, D, 0.0)
    with pytest.raises(ValueError, match="dimensions"):
        cbpdn(X[None, None], D, 0.1)


def test_import_does_not_import_torch():
    code = ("import sys, numpy as np, sparsecode, sparsecode.convolutional as c; "
            "c.cbpdn(np.ones((8, 8)), np.ones((1, 2, 2)), 0.1, max_iter=2); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------ dictionary learning


def _planted(rng, n_images=6, shape=(48, 48), density=0.01):
    D = np.zeros((2, 5, 5))
    D[0, 2, :] = 1.0  # horizontal bar
    D[1, :, 2] = 1.0  # vertical bar
    D /= np.linalg.norm(D.reshape(2, -1), axis=1)[:, None, None]
    Z = (rng.random((n_images, 2) + shape) < density) * rng.uniform(1, 2, (n_images, 2) + shape)
    return convolve(Z, D), D


def _best_match(learned, true):
    """For every true filter, the best normalised correlation with a learned filter over
    all relative shifts (filters are identified up to a shift of their maps)."""
    from scipy.signal import correlate2d

    best = np.zeros(true.shape[0])
    for i, t in enumerate(true):
        for g in learned:
            c = correlate2d(g, t, mode="full").max() / (np.linalg.norm(g) * np.linalg.norm(t))
            best[i] = max(best[i], c)
    return best


def test_conv_dict_learning_recovers_planted_filters(rng):
    X, D = _planted(rng)
    G, Z, info = conv_dict_learning(X, 4, 5, 0.05, max_iter=150, init="data",
                                    random_state=0, return_info=True)
    assert G.shape == (4, 5, 5) and Z.shape == (6, 4, 48, 48)
    assert np.all(np.linalg.norm(G.reshape(4, -1), axis=1) <= 1 + 1e-9)
    assert _best_match(G, D).min() > 0.99
    assert info.objective == pytest.approx(cbpdn_objective(X, Z, G, 0.05).sum(), rel=1e-9)


def test_conv_dict_learning_decreases_objective(rng):
    X, _ = _planted(rng, n_images=3, shape=(32, 32))
    objs = [conv_dict_learning(X, 3, 5, 0.05, max_iter=it, random_state=1,
                               return_info=True)[2].objective for it in (5, 40, 120)]
    assert objs[0] > objs[1] > objs[2]


def test_conv_dict_learning_zero_mean_and_init(rng):
    X, _ = _planted(rng, n_images=2, shape=(24, 24))
    G, _ = conv_dict_learning(X, 3, (4, 5), 0.05, max_iter=5, zero_mean=True,
                              init="data", random_state=0)
    assert G.shape == (3, 4, 5)
    np.testing.assert_allclose(G.mean(axis=(1, 2)), 0, atol=1e-12)
    with pytest.raises(ValueError, match="kernel_size"):
        conv_dict_learning(X, 3, (30, 3), 0.05)
    with pytest.raises(ValueError, match="init must have shape"):
        conv_dict_learning(X, 3, 4, 0.05, init=np.ones((2, 4, 4)))
    with pytest.raises(ValueError, match="init must be"):
        conv_dict_learning(X, 3, 4, 0.05, init="dct")


def test_estimator_fit_transform_inverse_transform(rng):
    X, _ = _planted(rng, n_images=4, shape=(32, 32))
    est = ConvolutionalDictionaryLearning(3, kernel_size=5, alpha=0.05, max_iter=60,
                                          random_state=0)
    assert est.fit(X) is est
    assert est.components_.shape == (3, 5, 5) and est.image_shape_ == (32, 32)
    codes = est.transform(X)
    assert codes.shape == (4, 3, 32, 32)
    rec = est.inverse_transform(codes)
    assert rec.shape == X.shape
    assert np.linalg.norm(rec - X) < 0.3 * np.linalg.norm(X)
    # images of another size, float32 preserved
    other = est.transform(X[:1, :20, :24].astype(np.float32))
    assert other.shape == (1, 3, 20, 24) and other.dtype == np.float32
    # same as the public function
    np.testing.assert_allclose(codes, cbpdn(X, est.components_, 0.05))
    assert clone(est).get_params() == est.get_params()


def test_estimator_rejects_bad_input(rng):
    X = rng.standard_normal((2, 16, 16))
    with pytest.raises(ValueError, match="alpha"):
        ConvolutionalDictionaryLearning(alpha=0.0).fit(X)
    with pytest.raises(ValueError, match="larger than the images"):
        ConvolutionalDictionaryLearning(2, kernel_size=20, max_iter=1).fit(X)
    est = ConvolutionalDictionaryLearning(2, kernel_size=3, max_iter=2).fit(X)
    with pytest.raises(ValueError, match="codes must have shape"):
        est.inverse_transform(np.ones((1, 3, 16, 16)))
    with pytest.raises(ValueError, match="NaN"):
        est.transform(np.full((1, 16, 16), np.nan))


def test_plot_dictionary_draws_filters(rng):
    import matplotlib

    matplotlib.use("Agg")
    from sparsecode.dictionary import plot_dictionary

    est = ConvolutionalDictionaryLearning(6, kernel_size=(3, 4), max_iter=2).fit(
        rng.standard_normal((2, 16, 16)))
    fig = plot_dictionary(est, n_cols=3)
    img = fig.axes[0].images[0].get_array()
    assert img.shape == (2 * 4 + 1, 3 * 5 + 1)
    with pytest.raises(ValueError, match="does not match"):
        plot_dictionary(est.components_, patch_shape=(4, 3))
