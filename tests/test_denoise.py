"""Tests of sparsecode.denoise.denoise_image (K-SVD / overcomplete-DCT patch denoising)."""

import functools
import os
from pathlib import Path

import numpy as np
import pytest
from skimage.data import camera

from sparsecode import SparseCoder, orthogonal_mp
from sparsecode.denoise import denoise_image
from sparsecode.image import overcomplete_dct_dictionary, psnr

try:  # the adaptive path needs the dictionary-learning module
    import sparsecode.dictionary  # noqa: F401

    HAVE_KSVD = True
except ImportError:  # pragma: no cover - depends on the build
    HAVE_KSVD = False

needs_ksvd = pytest.mark.skipif(not HAVE_KSVD, reason="sparsecode.dictionary is missing")

# few iterations / patches keep the adaptive tests fast; defaults are tested in the CLI
# and the slow reproduction test
FAST_KSVD = dict(n_iter=3, max_patches=4000)


@pytest.fixture(scope="module")
def crop():
    """A 64x64 crop of the cameraman with texture and edges, float64 in [0, 255]."""
    return camera()[64:128, 160:224].astype(np.float64)


def _noisy(clean, sigma, seed):
    rng = np.random.default_rng(seed)
    return clean + sigma * rng.standard_normal(clean.shape)


@pytest.mark.parametrize("sigma", [10.0, 25.0, 50.0])
@pytest.mark.parametrize(
    "method", ["dct", pytest.param("ksvd", marks=needs_ksvd)]
)
def test_denoise_image_improves_psnr(crop, method, sigma):
    noisy = _noisy(crop, sigma, seed=1)
    kw = FAST_KSVD if method == "ksvd" else {}
    out = denoise_image(noisy, sigma, method=method, random_state=0, data_range=255, **kw)
    before = psnr(crop, noisy, data_range=255)
    after = psnr(crop, out, data_range=255)
    assert after > before + 2.0


@pytest.mark.parametrize("offset", [(0, 0), (300, 40), (200, 300)])
def test_denoise_image_never_lowers_psnr_on_crops(offset):
    r, c = offset
    clean = camera()[r:r + 48, c:c + 48].astype(np.float64)
    for sigma in (5.0, 25.0):
        noisy = _noisy(clean, sigma, seed=r + c)
        out = denoise_image(noisy, sigma, method="dct", data_range=255)
        assert psnr(clean, out, data_range=255) >= psnr(clean, noisy, data_range=255)


def _reference_denoise(noisy, sigma, D, C, lam, p):
    """Plain loops + scikit-learn OMP: the model of denoise_image written out."""
    from sklearn.linear_model import orthogonal_mp as sk_omp

    H, W = noisy.shape
    acc = lam * noisy.copy()
    weight = np.full((H, W), lam)
    tol = (C * sigma) ** 2 * p * p
    for i in range(H - p + 1):
        for j in range(W - p + 1):
            patch = noisy[i:i + p, j:j + p].ravel()
            mean = patch.mean()
            x = patch - mean
            if x @ x <= tol:
                rec = np.zeros_like(x)
            else:
                z = sk_omp(D.T, x, tol=tol)
                rec = D.T @ z
            acc[i:i + p, j:j + p] += (rec + mean).reshape(p, p)
            weight[i:i + p, j:j + p] += 1
    return acc / weight


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-9), (np.float32, 1e-4)])
def test_denoise_image_dct_matches_reference_model(dtype, rtol):
    rng = np.random.default_rng(3)
    clean = camera()[100:124, 100:122].astype(np.float64)
    noisy = clean + 20 * rng.standard_normal(clean.shape)
    p = 4
    D = overcomplete_dct_dictionary(p, 36)
    ours = denoise_image(noisy, 20.0, method="global", patch_size=p, dictionary=D,
                         lam=0.7, clip=False, n_nonzero_coefs=16, dtype=dtype)
    ref = _reference_denoise(noisy, 20.0, D, 1.15, 0.7, p)
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=rtol)


def test_denoise_image_lam_limits(crop):
    noisy = _noisy(crop, 20.0, seed=2)
    out = denoise_image(noisy, 20.0, method="dct", lam=1e12, clip=False, data_range=255)
    np.testing.assert_allclose(out, noisy, atol=1e-6)


def test_denoise_image_default_lam_is_30_over_sigma(crop):
    noisy = _noisy(crop, 20.0, seed=2)
    a = denoise_image(noisy, 20.0, method="dct", data_range=255, dtype=np.float64)
    b = denoise_image(noisy, 20.0, method="dct", data_range=255, lam=30.0 / 20.0,
                      dtype=np.float64)
    np.testing.assert_array_equal(a, b)
    # on the [0, 1] scale the same image gives the same result, scaled
    c = denoise_image(noisy / 255.0, 20.0 / 255.0, method="dct", dtype=np.float64)
    np.testing.assert_allclose(c * 255.0, np.clip(a, 0, 255), atol=1e-8)


def test_denoise_image_uint8_keeps_dtype_and_range(crop):
    noisy = np.clip(np.rint(_noisy(crop, 25.0, seed=4)), 0, 255).astype(np.uint8)
    out = denoise_image(noisy, 25, method="dct")
    assert out.dtype == np.uint8 and out.shape == noisy.shape
    assert psnr(crop.astype(np.uint8), out) > psnr(crop.astype(np.uint8), noisy)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_denoise_image_float_keeps_dtype_and_unit_range(crop, dtype):
    noisy = (_noisy(crop, 25.0, seed=5) / 255.0).astype(dtype)
    out = denoise_image(noisy, 25 / 255, method="dct")
    assert out.dtype == dtype
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert psnr(crop / 255, out, data_range=1.0) > psnr(crop / 255, noisy, data_range=1.0)


def test_denoise_image_does_not_modify_input(crop):
    noisy = _noisy(crop, 25.0, seed=6)
    before = noisy.copy()
    denoise_image(noisy, 25.0, method="dct")
    np.testing.assert_array_equal(noisy, before)


@needs_ksvd
def test_denoise_image_ksvd_deterministic_for_seed(crop):
    noisy = _noisy(crop, 25.0, seed=7)
    a, Da = denoise_image(noisy, 25.0, random_state=11, return_dictionary=True, **FAST_KSVD)
    b, Db = denoise_image(noisy, 25.0, random_state=11, return_dictionary=True, **FAST_KSVD)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(Da, Db)
    _, Dc = denoise_image(noisy, 25.0, random_state=12, return_dictionary=True,
                          n_iter=3, max_patches=2000)
    assert not np.array_equal(Da, Dc)


@needs_ksvd
def test_denoise_image_ksvd_learns_from_dct():
    crop = camera()[100:228, 100:228].astype(np.float64)  # 16,641 patches
    noisy = _noisy(crop, 25.0, seed=8)
    out, D = denoise_image(noisy, 25.0, random_state=0, return_dictionary=True, n_iter=5,
                           max_patches=10000)
    D0 = overcomplete_dct_dictionary(8, 256)
    assert D.shape == (256, 64)
    np.testing.assert_allclose(np.linalg.norm(D, axis=1), 1.0, rtol=1e-6)
    assert not np.allclose(D, D0)
    dct = denoise_image(noisy, 25.0, method="dct")
    # adaptive beats the fixed DCT on this textured crop (by 0.47 dB when written)
    assert psnr(crop, out, data_range=255) > psnr(crop, dct, data_range=255) + 0.2


def test_denoise_image_custom_dictionary_and_coders_agree(crop):
    noisy = _noisy(crop, 25.0, seed=9)
    D = overcomplete_dct_dictionary(8, 256)
    default = denoise_image(noisy, 25.0, method="dct")
    given = denoise_image(noisy, 25.0, method="global", dictionary=D)
    np.testing.assert_array_equal(default, given)
    # a fixed-sparsity coder as a callable and as an estimator give the same image
    call = denoise_image(noisy, 25.0, method="dct",
                         coder=functools.partial(orthogonal_mp, n_nonzero_coefs=3))
    est = denoise_image(noisy, 25.0, method="dct",
                        coder=SparseCoder(D, n_nonzero_coefs=3))
    np.testing.assert_allclose(call, est, rtol=1e-12)
    assert not np.allclose(call, default)
    assert psnr(crop, call, data_range=255) > psnr(crop, noisy, data_range=255)


def test_denoise_image_default_coder_equals_explicit_omp(crop):
    # the default path reconstructs from the nonzeros only; a callable coder goes
    # through a dense product: same model, same image
    noisy = _noisy(crop, 25.0, seed=13)
    tol = (1.15 * 25.0) ** 2 * 64
    default = denoise_image(noisy, 25.0, method="dct", dtype=np.float64)
    explicit = denoise_image(
        noisy, 25.0, method="dct", dtype=np.float64,
        coder=functools.partial(orthogonal_mp, tol=tol, n_nonzero_coefs=32),
    )
    np.testing.assert_allclose(default, explicit, rtol=1e-12, atol=1e-10)


def test_denoise_image_dictionary_learner_as_method(crop):
    from sklearn.decomposition import PCA

    # any estimator with fit() and components_ can learn the dictionary: here PCA
    noisy = _noisy(crop, 25.0, seed=10)
    out, D = denoise_image(noisy, 25.0, method=PCA(n_components=40), max_patches=2000,
                           random_state=0, return_dictionary=True, data_range=255)
    assert D.shape == (40, 64)
    assert psnr(crop, out, data_range=255) > psnr(crop, noisy, data_range=255) + 2
    with pytest.raises(ValueError, match="expected 64"):
        from sklearn.decomposition import TruncatedSVD

        class Wrong(TruncatedSVD):
            def fit(self, X, y=None):
                super().fit(X[:, :16])
                return self

        denoise_image(noisy, 25.0, method=Wrong(n_components=4), max_patches=500)


@pytest.mark.parametrize(
    "image, sigma, kwargs, exc, match",
    [
        (np.zeros((16, 16)), 0.0, {}, ValueError, "sigma must be a positive"),
        (np.zeros((16, 16)), -5.0, {}, ValueError, "sigma must be a positive"),
        (np.zeros((16, 16)), float("nan"), {}, ValueError, "sigma must be a positive"),
        (np.zeros((16, 16)), "25", {}, TypeError, "sigma must be a positive float"),
        # (H, W, 3) colour images are denoised per channel (tests/nn/test_denoise_networks.py);
        # other channel counts are rejected
        (np.zeros((16, 16, 4)), 25.0, {}, ValueError, "image must be a 2-D"),
        (np.zeros((16, 16, 2)), 25.0, {}, ValueError, r"or an \(H, W, 3\) colour one"),
        (np.zeros(16), 25.0, {}, ValueError, "image must be a 2-D"),
        (np.zeros((6, 16)), 25.0, {}, ValueError, "patch_size=8 is larger than the image"),
        (np.full((16, 16), np.nan), 25.0, {}, ValueError, "image contains NaN"),
        (np.zeros((16, 16)), 25.0, {"method": "bm3d"}, ValueError, "method must be one of"),
        (np.zeros((16, 16)), 25.0, {"dictionary": np.ones((10, 16))}, ValueError,
         "dictionary must have patch_size"),
        (np.zeros((16, 16)), 25.0, {"stride": 9}, ValueError, "stride must be <= patch_size"),
        (np.zeros((16, 16)), 25.0, {"lam": -1.0}, ValueError, "lam must be a non-negative"),
        (np.zeros((16, 16)), 25.0, {"coder": 3}, TypeError, "coder must be None"),
        (np.zeros((16, 16)), 25.0, {"ksvd_method": "svd"}, ValueError, "ksvd_method must be"),
        (np.zeros((20, 20)), 25.0, {"method": "ksvd"}, ValueError, "fewer than the 256 atoms"),
        (np.zeros((16, 16)), 25.0, {"dtype": np.int32}, ValueError, "dtype must be numpy.float32"),
    ],
)
def test_denoise_image_bad_input(image, sigma, kwargs, exc, match):
    kwargs.setdefault("method", "dct")
    with pytest.raises(exc, match=match):
        denoise_image(image, sigma, **kwargs)


def test_denoise_image_stride_trades_quality_for_speed(crop):
    noisy = _noisy(crop, 25.0, seed=12)
    full = denoise_image(noisy, 25.0, method="dct")
    fast = denoise_image(noisy, 25.0, method="dct", stride=4)
    assert psnr(crop, fast, data_range=255) > psnr(crop, noisy, data_range=255) + 2
    assert psnr(crop, full, data_range=255) >= psnr(crop, fast, data_range=255)


def _set12():
    # The rule of conftest.data_dir_or_none (importing it by name would clash with
    # tests/nn/conftest.py): $SPARSECODE_DATA, else the repository's datasets/ folder.
    root = os.environ.get("SPARSECODE_DATA") or Path(__file__).resolve().parent.parent / "datasets"
    path = Path(root) / "Set12" / "02.png"
    return path if path.exists() else None


@pytest.mark.slow
@needs_ksvd
@pytest.mark.skipif(_set12() is None, reason="Set12 not found (set SPARSECODE_DATA)")
def test_denoise_image_reproduces_paper_house_sigma25():
    # Elad & Aharon (2006), Table I: House, sigma = 25 -> 32.08 dB (K-SVD, adaptive).
    from sparsecode.image import read_image

    clean = read_image(_set12())
    noisy = _noisy(clean, 25.0, seed=0)
    out = denoise_image(noisy, 25.0, random_state=0, data_range=255)
    assert psnr(clean, out, data_range=255) > 31.8


@pytest.mark.parametrize("scale", [1e300, 1e-300, 1e20])
def test_denoise_image_extreme_scales_equivariant(scale):
    # Regression: an image x 1e300 raised a raw OverflowError from the tolerance.
    rng = np.random.default_rng(0)
    clean = camera()[100:140, 100:140] / 255.0
    noisy = clean + 0.1 * rng.standard_normal(clean.shape)
    ref = denoise_image(noisy, 0.1, method="dct", data_range=1.0)
    out = denoise_image(noisy * scale, 0.1 * scale, method="dct", data_range=scale)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out / scale, ref, atol=1e-6)  # float32 coding by default


def test_denoise_image_extreme_scale_without_data_range_is_clear():
    noisy = np.random.default_rng(0).random((24, 24)) * 1e300
    with pytest.raises(ValueError, match="image values reach 1e\\+300.*pass data_range"):
        denoise_image(noisy, 1e299, method="dct")
