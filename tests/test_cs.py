"""Tests of sparsecode.cs: sparse recovery through the operators, image block-CS."""

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sparsecode import orthogonal_mp
from sparsecode.coding._fista import fista
from sparsecode.coding._lars import lasso_lars
from sparsecode.cs import (
    METHODS,
    backprojection,
    image_quality,
    measure_image,
    reconstruct_image,
    search_alpha,
)
from sparsecode.operators import (
    DCT2Operator,
    GaussianOperator,
    MatrixOperator,
    SubsampledDCTOperator,
    block_cs_operator,
)


@pytest.fixture(autouse=True)
def _single_thread_blas():
    # Small products: multi-threaded BLAS only adds contention on a shared machine.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def camera():
    from skimage import data

    return data.camera()[200:264, 250:314] / 255.0  # 64x64: four 33x33 blocks, padded


def _sparse_problem(seed, n=200, delta=0.5, rho=0.1, n_signals=20):
    rng = np.random.default_rng(seed)
    m = int(delta * n)
    k = int(rho * m)
    A = GaussianOperator(m, n, random_state=seed)
    Z = np.zeros((n_signals, n))
    for i in range(n_signals):
        Z[i, rng.choice(n, k, replace=False)] = rng.standard_normal(k)
    return A, Z, A.forward(Z), k


def _recovered(Z_hat, Z, rtol=1e-2):
    err = np.linalg.norm(Z_hat - Z, axis=1) / np.linalg.norm(Z, axis=1)
    return err < rtol


# ------------------------------------------------------- sparse vectors, delta=.5 rho=.1


def test_omp_recovers_sparse_vectors_through_explicit_matrix():
    A, Z, Y, k = _sparse_problem(0)
    # y = A z  <=>  y = z @ A.T: the dictionary (atoms in rows) is A.T
    Z_hat = orthogonal_mp(Y, A.to_matrix().T, n_nonzero_coefs=k)
    assert _recovered(Z_hat, Z, rtol=1e-8).mean() >= 0.95


def test_l1_lars_recovers_sparse_vectors():
    A, Z, Y, _ = _sparse_problem(1)
    Z_hat = lasso_lars(Y, A.to_matrix().T, alpha=1e-8)
    assert _recovered(Z_hat, Z, rtol=1e-5).mean() >= 0.95


def test_l1_fista_recovers_sparse_vectors_with_operator():
    A, Z, Y, _ = _sparse_problem(2)
    Z_hat = fista(Y, A, alpha=1e-3, tol=1e-9, max_iter=5000, lipschitz=A.lipschitz())
    assert _recovered(Z_hat, Z).mean() >= 0.95


def test_l1_fista_recovers_sparse_vectors_with_fast_operator():
    rng = np.random.default_rng(3)
    A = SubsampledDCTOperator(128, 256, random_state=3)
    Z = np.zeros((10, 256))
    for i in range(10):
        Z[i, rng.choice(256, 12, replace=False)] = rng.standard_normal(12)
    Z_hat = fista(A.forward(Z), A, alpha=1e-3, tol=1e-9, max_iter=5000, lipschitz=1.0)
    assert _recovered(Z_hat, Z).mean() >= 0.9


# ----------------------------------------------------------------- image block CS


def test_fista_dct_beats_backprojection_at_half_ratio(camera):
    y, A = measure_image(camera, 0.5, random_state=0)
    bp = reconstruct_image(y, A, method="backprojection")
    with pytest.warns(ConvergenceWarning):  # 100 iterations are enough for the margin
        rec = reconstruct_image(y, A, method="fista-dct", max_iter=100)
    psnr_bp, _ = image_quality(camera, bp)
    psnr_dct, ssim_dct = image_quality(camera, rec)
    assert psnr_dct > psnr_bp + 10.0
    assert psnr_dct > 25.0 and ssim_dct > 0.7


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("method", ["fista-wavelet", "tv"])
def test_other_methods_beat_backprojection(camera, method):
    y, A = measure_image(camera, 0.25, random_state=0)
    bp = image_quality(camera, reconstruct_image(y, A, method="backprojection"))[0]
    rec = reconstruct_image(y, A, method=method, max_iter=60)
    assert image_quality(camera, rec)[0] > bp + 5.0


def test_backprojection_is_minimum_norm_least_squares(rng):
    img = rng.random((10, 12))
    y, A = measure_image(img, 0.3, block_size=4, kind="gaussian", random_state=0)
    x = backprojection(y, A)
    np.testing.assert_allclose(A.forward(x), y, atol=1e-10)  # consistent
    M = A.to_matrix()
    np.testing.assert_allclose(x, np.linalg.pinv(M) @ y, atol=1e-10)  # minimum norm


def test_backprojection_generic_operator_uses_lsqr(rng):
    M = rng.standard_normal((15, 30))
    y = rng.standard_normal(15)
    np.testing.assert_allclose(backprojection(y, MatrixOperator(M)), np.linalg.pinv(M) @ y,
                               atol=1e-6)


def test_reconstruct_image_with_generic_operator_and_image_shape(rng):
    img = np.outer(np.hanning(16), np.hanning(16))
    A = GaussianOperator(128, 256, random_state=0)
    x = reconstruct_image(A.forward(img.ravel()), A, method="fista-dct", image_shape=(16, 16),
                          alpha=1e-4, max_iter=500)
    assert image_quality(img, x)[0] > 30


def test_measure_image_shapes_seed_and_noise(rng):
    img = rng.random((40, 50))
    y, A = measure_image(img, 0.1, block_size=10, random_state=5)
    assert y.shape == (20 * 10,) and A.shape == (200, 2000)
    y2, _ = measure_image(img, 0.1, block_size=10, random_state=5)
    np.testing.assert_array_equal(y, y2)
    y3, _ = measure_image(img, 0.1, block_size=10, random_state=5, noise_std=0.1)
    assert 0.05 < np.std(y3 - y) < 0.2


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_reconstruction_does_not_modify_inputs(camera):
    img = camera.copy()
    y, A = measure_image(img, 0.25)
    y0 = y.copy()
    reconstruct_image(y, A, method="fista-dct", max_iter=5)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(img, camera)


def test_reconstruct_warns_when_not_converged(camera):
    y, A = measure_image(camera, 0.25)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        reconstruct_image(y, A, method="fista-dct", max_iter=2, tol=1e-12)
    with pytest.warns(ConvergenceWarning, match="TV-FISTA did not converge"):
        reconstruct_image(y, A, method="tv", max_iter=2, tol=1e-12)


def test_fista_prox_hook_solves_l1_like_exact_lars(rng):
    # The public prox hook (used for the TV proximal step) solves the l1 problem exactly.
    M = MatrixOperator(rng.standard_normal((40, 20)) / np.sqrt(40))  # strongly convex
    y = rng.standard_normal(40)
    alpha = 0.05

    def soft(v, step):
        return np.sign(v) * np.maximum(np.abs(v) - step * alpha, 0.0)

    x, info = fista(y[None], M, prox=soft, lipschitz=M.lipschitz(), restart=False,
                    max_iter=4000, tol=1e-11, return_info=True)
    expected = lasso_lars(y[None], M.matrix.T, alpha=alpha)[0]
    assert info.converged[0]
    np.testing.assert_allclose(x[0], expected, atol=1e-8)
    assert np.count_nonzero(expected) < 20  # the penalty is active


def _tv_fista_reference(y, operator, shape, alpha, x0, max_iter, n_stages=6):
    """The TV-FISTA loop that ``sparsecode.cs`` had before it used the shared FISTA:
    textbook FISTA (no restart), fixed step, Chambolle's prox, the same continuation."""
    from skimage.restoration import denoise_tv_chambolle

    lipschitz = 1.001 * operator.lipschitz()
    per = max_iter // (2 * (n_stages - 1))
    stages = [(a, per) for a in np.geomspace(20.0 * alpha, alpha, n_stages)[:-1]]
    stages.append((alpha, max_iter - per * (n_stages - 1)))
    x = x0.copy()
    for a, n in stages:
        z, t = x.copy(), 1.0
        for _ in range(n):
            grad = operator.adjoint(operator.forward(z) - y)
            x_new = denoise_tv_chambolle((z - grad / lipschitz).reshape(shape),
                                         weight=a / lipschitz, max_num_iter=50).ravel()
            t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
            z = x_new + ((t - 1.0) / t_new) * (x_new - x)
            x, t = x_new, t_new
    return x


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_tv_reconstruction_equals_textbook_tv_fista():
    # TV goes through the shared FISTA's prox hook: same result as the private loop it
    # replaced (which converged on none of these, so both run every iteration).
    yy, xx = np.mgrid[:40, :40] / 40.0
    img = 0.5 + 0.25 * np.sin(5 * xx) * np.cos(3 * yy) + 0.2 * (xx > 0.5)
    y, A = measure_image(img, 0.3, block_size=8, random_state=0)
    x0 = backprojection(y, A)
    ref = np.clip(_tv_fista_reference(y, A, img.shape, 3e-3, x0, 40), 0, 1).reshape(img.shape)
    rec = reconstruct_image(y, A, method="tv", max_iter=40, tol=1e-12)
    np.testing.assert_allclose(rec, ref, atol=1e-10)
    assert image_quality(img, rec)[0] > image_quality(img, x0.reshape(img.shape))[0] + 3


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_search_alpha_returns_best_of_grid(camera):
    img = camera[:40, :40]
    y, A = measure_image(img, 0.5, block_size=20)
    best, results = search_alpha(img, A, method="fista-dct", alphas=[1e-3, 5e-3, 0.5],
                                 max_iter=20)
    assert [r["alpha"] for r in results] == [1e-3, 5e-3, 0.5]
    assert best == max(results, key=lambda r: r["psnr"])["alpha"]
    assert best != 0.5  # a huge penalty wipes the image out


def test_image_quality_matches_skimage(rng):
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    a, b = rng.random((20, 20)), rng.random((20, 20))
    p, s = image_quality(a, b)
    assert p == pytest.approx(peak_signal_noise_ratio(a, b, data_range=1.0))
    assert s == pytest.approx(structural_similarity(a, b, data_range=1.0))


# -------------------------------------------------------------------------- errors


@pytest.mark.parametrize("ratio", [0.0, -0.5, 1.01, float("nan")])
def test_measure_image_rejects_bad_ratio(camera, ratio):
    with pytest.raises(ValueError, match=r"ratio must be in \(0, 1\]"):
        measure_image(camera, ratio)


def test_measure_image_rejects_non_2d_image(rng):
    with pytest.raises(ValueError, match=r"image must be a 2-D grayscale image"):
        measure_image(rng.random((8, 8, 3)), 0.5)


def test_measure_image_rejects_nan(rng):
    img = rng.random((8, 8))
    img[2, 3] = np.nan
    with pytest.raises(ValueError, match="image contains NaN"):
        measure_image(img, 0.5)


def test_reconstruct_rejects_nan_measurements(camera):
    y, A = measure_image(camera, 0.5)
    y[0] = np.nan
    with pytest.raises(ValueError, match="y contains NaN"):
        reconstruct_image(y, A)


def test_reconstruct_rejects_mismatched_shapes(camera):
    y, A = measure_image(camera, 0.5)
    with pytest.raises(ValueError, match="mismatched operator shapes: y has"):
        reconstruct_image(y[:-1], A)
    G = GaussianOperator(10, 64, random_state=0)
    with pytest.raises(ValueError, match=r"mismatched operator shapes: image_shape=\(9, 9\)"):
        reconstruct_image(np.zeros(10), G, image_shape=(9, 9))
    with pytest.raises(ValueError, match="image_shape is required"):
        reconstruct_image(np.zeros(10), G)
    with pytest.raises(ValueError, match="mismatched operator shapes: the operator takes"):
        search_alpha(camera[:10, :10], A)


def test_reconstruct_rejects_bad_arguments(camera):
    y, A = measure_image(camera, 0.5)
    with pytest.raises(ValueError, match="method must be one of"):
        reconstruct_image(y, A, method="omp")
    with pytest.raises(ValueError, match="alpha must be a non-negative finite float"):
        reconstruct_image(y, A, alpha=-1.0)
    with pytest.raises(TypeError, match="operator must be a LinearOperator"):
        reconstruct_image(y, np.zeros((y.size, camera.size)))
    with pytest.raises(ValueError, match="max_iter must be an integer >= 1"):
        reconstruct_image(y, A, max_iter=0)
    with pytest.raises(ValueError, match="method must be a penalised method"):
        search_alpha(camera, A, method="backprojection")


def test_methods_registry_lists_all_methods():
    assert set(METHODS) == {"backprojection", "fista-dct", "fista-wavelet", "tv"}
    A = block_cs_operator((33, 33), 0.5) @ DCT2Operator((33, 33)).T
    assert A.lipschitz() == pytest.approx(1.0, rel=1e-6)  # orthonormal rows kept


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fista_wavelet_works_on_odd_sized_images(camera):
    img = camera[:45, :51]  # no dyadic level fits: solved on a padded 64x64 canvas
    y, A = measure_image(img, 0.5, block_size=16)
    bp = image_quality(img, reconstruct_image(y, A, method="backprojection"))[0]
    rec = reconstruct_image(y, A, method="fista-wavelet", max_iter=60)
    assert rec.shape == (45, 51)
    assert image_quality(img, rec)[0] > bp + 5.0
