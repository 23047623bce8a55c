"""Tests of sparsecode.image: patches, the overcomplete DCT, metrics and image I/O."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsecode.image import (
    extract_patches,
    nmse,
    overcomplete_dct_dictionary,
    overlap_counts,
    patch_grid,
    psnr,
    read_image,
    reconstruct_from_patches,
    sample_patches,
    ssim,
    write_image,
)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# -- patch grid -----------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    H=st.integers(1, 40),
    W=st.integers(1, 40),
    p=st.integers(1, 9),
    s=st.integers(1, 9),
)
def test_patch_grid_includes_last_row_and_column(H, W, p, s):
    if p > min(H, W):
        return
    rows, cols = patch_grid((H, W), p, s)
    assert rows[0] == 0 and cols[0] == 0
    assert rows[-1] == H - p and cols[-1] == W - p
    assert np.all(np.diff(rows) >= 1) and np.all(np.diff(rows) <= s)
    assert np.all(np.diff(cols) >= 1) and np.all(np.diff(cols) <= s)
    # the regular positions are all there
    assert set(range(0, H - p + 1, s)) <= set(rows.tolist())


def test_patch_grid_not_multiple_of_stride():
    rows, cols = patch_grid((10, 7), patch_size=4, stride=3)
    assert rows.tolist() == [0, 3, 6]
    assert cols.tolist() == [0, 3]
    rows, cols = patch_grid((11, 9), patch_size=4, stride=3)
    assert rows.tolist() == [0, 3, 6, 7]
    assert cols.tolist() == [0, 3, 5]


# -- identity -------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    H=st.integers(1, 33),
    W=st.integers(1, 33),
    ph=st.integers(1, 8),
    pw=st.integers(1, 8),
    data=st.data(),
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_extract_reconstruct_identity_exact(H, W, ph, pw, data, seed, dtype):
    if ph > H or pw > W:
        return
    sh = data.draw(st.integers(1, ph))
    sw = data.draw(st.integers(1, pw))
    rng = np.random.default_rng(seed)
    img = (rng.standard_normal((H, W)) * 10.0 ** rng.uniform(-3, 3)).astype(dtype)
    P = extract_patches(img, (ph, pw), (sh, sw))
    rows, cols = patch_grid((H, W), (ph, pw), (sh, sw))
    assert P.shape == (len(rows) * len(cols), ph * pw)
    assert P.dtype == dtype
    out = reconstruct_from_patches(P, (H, W), (ph, pw), (sh, sw))
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, img)


def test_extract_patches_layout_row_major(rng):
    img = rng.standard_normal((6, 7))
    P = extract_patches(img, patch_size=3, stride=2)
    rows, cols = patch_grid(img.shape, 3, 2)
    k = 0
    for r in rows:
        for c in cols:
            np.testing.assert_array_equal(P[k], img[r:r + 3, c:c + 3].ravel())
            k += 1


def test_extract_patches_matches_sklearn(rng):
    from sklearn.feature_extraction.image import extract_patches_2d

    img = rng.standard_normal((12, 9))
    ours = extract_patches(img, patch_size=(4, 3))
    ref = extract_patches_2d(img, (4, 3)).reshape(-1, 12)
    np.testing.assert_array_equal(ours, ref)


def test_reconstruct_from_patches_averages_overlaps():
    # patches of constant value k (their index) -> each pixel is the mean of the
    # indices of the patches covering it
    H, W, p = 5, 4, 2
    rows, cols = patch_grid((H, W), p, 1)
    n = len(rows) * len(cols)
    P = np.repeat(np.arange(n, dtype=float)[:, None], p * p, axis=1)
    out = reconstruct_from_patches(P, (H, W), p)
    expected = np.zeros((H, W))
    counts = np.zeros((H, W))
    k = 0
    for r in rows:
        for c in cols:
            expected[r:r + p, c:c + p] += k
            counts[r:r + p, c:c + p] += 1
            k += 1
    np.testing.assert_allclose(out, expected / counts, rtol=1e-15)
    np.testing.assert_array_equal(overlap_counts((H, W), p), counts)


def test_extract_patches_does_not_modify_input_and_copies(rng):
    img = rng.standard_normal((9, 9))
    before = img.copy()
    P = extract_patches(img, 3)
    P[:] = 0.0
    np.testing.assert_array_equal(img, before)


def test_extract_patches_rows_band(rng):
    img = rng.standard_normal((20, 15))
    full = extract_patches(img, 4, 2)
    rows, cols = patch_grid(img.shape, 4, 2)
    band = extract_patches(img, 4, 2, rows=slice(2, 5))
    np.testing.assert_array_equal(band, full[2 * len(cols):5 * len(cols)])


def test_sample_patches_subset_and_seeded(rng):
    img = rng.standard_normal((16, 16))
    full = extract_patches(img, 4)
    a = sample_patches(img, 4, 30, random_state=3)
    b = sample_patches(img, 4, 30, random_state=3)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (30, 16)
    assert len({row.tobytes() for row in a}) == 30  # without replacement
    full_set = {row.tobytes() for row in full}
    assert all(row.tobytes() in full_set for row in a)
    np.testing.assert_array_equal(sample_patches(img, 4, 10**6), full)


def test_extract_reconstruct_512_identity(rng):
    img = rng.integers(0, 256, size=(512, 512)).astype(np.float64)
    P = extract_patches(img, 8)
    assert P.shape == (505 * 505, 64)
    np.testing.assert_array_equal(reconstruct_from_patches(P, img.shape, 8), img)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(image=np.zeros((4, 4, 3)), patch_size=2), ValueError, "2-D"),
        (dict(image=np.zeros((4, 4)), patch_size=5), ValueError, "larger than the image"),
        (dict(image=np.zeros((4, 4)), patch_size=0), ValueError, "patch_size must be >= 1"),
        (dict(image=np.zeros((4, 4)), patch_size=2, stride=0), ValueError, "stride must be >= 1"),
        (dict(image=np.zeros((4, 4)), patch_size=2.5), TypeError, "patch_size must be an integer"),
        (dict(image=np.full((4, 4), np.nan), patch_size=2), ValueError, "NaN"),
    ],
)
def test_extract_patches_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        extract_patches(**kwargs)


def test_reconstruct_from_patches_bad_input(rng):
    P = extract_patches(rng.standard_normal((8, 8)), 3)
    with pytest.raises(ValueError, match="patches must have shape"):
        reconstruct_from_patches(P[:-1], (8, 8), 3)
    with pytest.raises(ValueError, match="leave pixels uncovered"):
        reconstruct_from_patches(extract_patches(np.zeros((8, 8)), 2, 3), (8, 8), 2, 3)


# -- overcomplete DCT -----------------------------------------------------------------


def test_overcomplete_dct_dictionary_shape_norm_dc():
    D = overcomplete_dct_dictionary(8, 256)
    assert D.shape == (256, 64)
    np.testing.assert_allclose(np.linalg.norm(D, axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(D[0], 1.0 / 8.0)
    # every other atom is DC-free except those built from the 1-D DC atom times a
    # DC-free atom, which are DC-free too: all atoms but the first have zero mean
    np.testing.assert_allclose(D[1:].sum(axis=1), 0.0, atol=1e-12)


def test_overcomplete_dct_dictionary_matches_ksvdbox_formula():
    # odctdict(8, 16) of the KSVD-Box, written out, and the separable product
    n, L = 8, 16
    D1 = np.zeros((n, L))
    D1[:, 0] = 1 / np.sqrt(n)
    for k in range(1, L):
        v = np.cos(np.arange(n) * np.pi * k / L)
        v -= v.mean()
        D1[:, k] = v / np.linalg.norm(v)
    D = overcomplete_dct_dictionary(8, 256)
    for a, b in [(0, 0), (0, 5), (3, 0), (7, 11), (15, 15)]:
        np.testing.assert_allclose(D[a * L + b], np.outer(D1[:, a], D1[:, b]).ravel(), atol=1e-14)


def test_overcomplete_dct_dictionary_spans_patch_space():
    # Aharon & Elad's construction (cos(pi k t / L), mean removed) is a basis when
    # L = p and a frame when L > p.
    for p, n_atoms in [(4, 16), (8, 256), (5, 49)]:
        D = overcomplete_dct_dictionary(p, n_atoms)
        assert np.linalg.matrix_rank(D) == p * p


@pytest.mark.parametrize("n_atoms", [1, 10, 100])
def test_overcomplete_dct_dictionary_non_square_count(n_atoms):
    D = overcomplete_dct_dictionary(6, n_atoms)
    assert D.shape == (n_atoms, 36)
    np.testing.assert_allclose(np.linalg.norm(D, axis=1), 1.0)


def test_overcomplete_dct_dictionary_bad_input():
    with pytest.raises(ValueError, match="n_atoms must be an integer >= 1"):
        overcomplete_dct_dictionary(8, 0)
    with pytest.raises(ValueError, match="patch_size must be >= 2"):
        overcomplete_dct_dictionary(1, 4)


# -- metrics --------------------------------------------------------------------------


def test_psnr_matches_skimage(rng):
    from skimage.metrics import peak_signal_noise_ratio

    a = rng.uniform(0, 255, (20, 20))
    b = a + rng.standard_normal((20, 20)) * 5
    assert psnr(a, b, data_range=255) == pytest.approx(
        peak_signal_noise_ratio(a, b, data_range=255), rel=1e-12
    )
    assert psnr(a, a, data_range=255) == float("inf")
    u8 = np.clip(a, 0, 255).astype(np.uint8)
    assert psnr(u8, u8.astype(float) + 2.55) == pytest.approx(40.0)


def test_ssim_and_nmse(rng):
    a = rng.uniform(0, 1, (32, 32))
    assert ssim(a, a, data_range=1.0) == pytest.approx(1.0)
    assert ssim(a, a + 0.2 * rng.standard_normal(a.shape), data_range=1.0) < 0.9
    assert nmse(a, 1.1 * a) == pytest.approx(0.01)


def test_metrics_bad_input():
    with pytest.raises(ValueError, match="data_range is required"):
        psnr(np.zeros((3, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="same shape"):
        psnr(np.zeros((3, 3)), np.zeros((3, 4)), data_range=1.0)
    with pytest.raises(ValueError, match="identically zero"):
        nmse(np.zeros(3), np.ones(3))


# -- io -------------------------------------------------------------------------------


def test_write_read_roundtrip(tmp_path, rng):
    img = rng.integers(0, 256, (17, 23)).astype(np.float64)
    path = tmp_path / "x.png"
    write_image(path, img)
    back = read_image(path)
    assert back.dtype == np.float64 and back.shape == (17, 23)
    np.testing.assert_array_equal(back, img)


def test_read_image_rgb_to_gray(tmp_path):
    import imageio.v3 as iio

    rgb = np.zeros((4, 5, 3), dtype=np.uint8)
    rgb[..., 1] = 200
    iio.imwrite(tmp_path / "c.png", rgb)
    gray = read_image(tmp_path / "c.png")
    assert gray.shape == (4, 5)
    np.testing.assert_allclose(gray, 0.7154 * 200)


def test_read_image_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        read_image(tmp_path / "missing.png")
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    with pytest.raises(ValueError, match="cannot read"):
        read_image(bad)
    with pytest.raises(ValueError, match="2-D"):
        write_image(tmp_path / "o.png", np.zeros((2, 2, 2, 2)))


@pytest.mark.parametrize("ext", [".png", ".tif", ".bmp", ".jpg", ".webp"])
def test_write_image_supported_extensions_roundtrip_shape(tmp_path, ext):
    write_image(tmp_path / f"x{ext}", np.full((8, 9), 128.0))
    assert read_image(tmp_path / f"x{ext}").shape == (8, 9)


@pytest.mark.parametrize("name", ["out.xyz", "out", "out.npy"])
def test_write_image_unknown_extension_raises_and_writes_nothing(tmp_path, name):
    # Regression: -o out.xyz silently wrote a TIFF.
    with pytest.raises(ValueError, match="supported image extensions: .png, .tif, .tiff"):
        write_image(tmp_path / name, np.zeros((4, 4)))
    assert not any(tmp_path.iterdir())
