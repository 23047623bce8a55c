"""CSCnet and Deep K-SVD: parameter counts, ISTA initialisation against plain solvers,
weights on disk, the denoising entry points (gray and colour) and bad input."""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from sparsecode.denoise import denoise_image  # noqa: E402
from sparsecode.image import overcomplete_dct_dictionary, psnr  # noqa: E402
from sparsecode.image.patches import extract_patches, reconstruct_from_patches  # noqa: E402
from sparsecode.nn.denoise import (  # noqa: E402
    CSCNet,
    DeepKSVD,
    LearnedDenoiser,
    denoise_learned,
    load_pretrained,
    load_weights,
    pretrained_sigmas,
    save_weights,
    train_denoiser,
)
from sparsecode.nn.denoise._io import WEIGHTS_DIR, pretrained_path  # noqa: E402
from sparsecode.nn.denoise.models import shift_pads  # noqa: E402


def _smooth_image(rng, n=40):
    """A piecewise-smooth test image in [0, 1] (gradients and a square)."""
    yy, xx = np.mgrid[0:n, 0:n] / n
    img = 0.3 + 0.4 * xx * yy
    img[n // 4:3 * n // 4, n // 4:3 * n // 4] += 0.3
    return img


# ----------------------------------------------------------------------- parameter counts
def test_cscnet_parameter_count():
    # 3 filter banks of 175 x 11 x 11 and one threshold per filter (the paper's ~64 k)
    m = CSCNet()
    assert sum(p.numel() for p in m.parameters()) == 3 * 175 * 121 + 175 == 63700


def test_deep_ksvd_parameter_count():
    # 64 x 256 dictionary, MLP 64-128-64-32-1, 64 patch weights, one step (~35 k)
    m = DeepKSVD()
    mlp = (64 * 128 + 128) + (128 * 64 + 64) + (64 * 32 + 32) + (32 + 1)
    assert sum(p.numel() for p in m.parameters()) == 64 * 256 + mlp + 64 + 1 == 35138


# ----------------------------------------------------------------------- ISTA at init
def _plain_conv_ista(y, D, lam, L, n_iter, stride):
    """ISTA for min_z 1/2 ||y - sum_m d_m *_s z_m||^2 + lam ||z||_1, from z = 0."""
    n = (y.shape[-1] - D.shape[-1]) // stride + 1
    m = (y.shape[-2] - D.shape[-1]) // stride + 1
    z = torch.zeros(y.shape[0], D.shape[0], m, n, dtype=y.dtype)
    for _ in range(n_iter):
        r = F.conv_transpose2d(z, D, stride=stride) - y
        g = F.conv2d(r, D, stride=stride)
        v = z - g / L
        z = torch.sign(v) * torch.clamp(v.abs() - lam / L, min=0)
    return z


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_cscnet_untrained_is_ista(rng, stride):
    k, n_filters, n_layers, lam = 5, 7, 4, 0.05
    D = rng.standard_normal((n_filters, k, k))
    D /= np.linalg.norm(D.reshape(n_filters, -1), axis=1)[:, None, None]
    net = CSCNet(n_filters, k, stride, n_layers, filters=D, lam=lam, remove_mean=False).double()
    x = torch.as_tensor(rng.random((2, 1, 13, 11)))
    L = net.lipschitz
    # the decoder filters are D / sqrt(L) (stored in float32): ISTA runs on them
    Dt = net.decoder.detach() * np.sqrt(L)
    np.testing.assert_allclose(Dt[:, 0].numpy(), D, rtol=1e-6, atol=1e-7)
    # and the thresholds lam / sqrt(L) (float32 too)
    np.testing.assert_allclose(net.threshold.detach().numpy(), lam / np.sqrt(L), rtol=1e-6)
    lam = float(net.threshold[0].detach()) * np.sqrt(L)
    # the step is convergent: L bounds ||A||^2 of the explicit operator at this size
    Hp, Wp = F.pad(x, shift_pads((13, 11), k, stride)[0], mode="reflect").shape[-2:]
    n_codes = n_filters * ((Hp - k) // stride + 1) * ((Wp - k) // stride + 1)
    A = F.conv_transpose2d(torch.eye(n_codes, dtype=torch.float64).reshape(
        n_codes, n_filters, (Hp - k) // stride + 1, (Wp - k) // stride + 1), Dt, stride=stride)
    assert A.shape[-2:] == (Hp, Wp)
    assert torch.linalg.matrix_norm(A.reshape(n_codes, -1), 2) ** 2 <= L
    with torch.no_grad():
        out = net(x)
    expected = 0.0
    pads = shift_pads((13, 11), k, stride)
    assert len(pads) == stride ** 2
    for left, right, top, bottom in pads:
        y = F.pad(x, (left, right, top, bottom), mode="reflect")
        z = _plain_conv_ista(y, Dt, lam, L, n_layers, stride)
        rec = F.conv_transpose2d(z, Dt, stride=stride)
        assert rec.shape == y.shape  # the strided grid covers the padded image exactly
        expected = expected + rec[..., top:top + 13, left:left + 11]
    expected = expected / len(pads)
    torch.testing.assert_close(out, expected, rtol=1e-9, atol=1e-10)
    # and the codes themselves, for one shift
    y = F.pad(x, pads[-1], mode="reflect")
    with torch.no_grad():
        # the network's codes are sqrt(L) times ISTA's (its filters are D / sqrt(L))
        torch.testing.assert_close(net.code(y), np.sqrt(L) * _plain_conv_ista(
            y, Dt, lam, L, n_layers, stride), rtol=1e-9, atol=1e-10)


def test_cscnet_mean_removal_and_default_dct_filters(rng):
    net = CSCNet(12, 5, 2, 3).double()
    D = overcomplete_dct_dictionary(5, 12).reshape(12, 1, 5, 5)
    np.testing.assert_allclose(net.decoder.detach().numpy() * np.sqrt(net.lipschitz), D,
                               atol=1e-6)
    x = torch.as_tensor(rng.random((1, 1, 12, 12)))
    with torch.no_grad():
        a = net(x)
        b = net(x + 0.25)
    torch.testing.assert_close(b, a + 0.25)  # the image mean is removed and restored


def test_cscnet_shift_subset_is_partial_average(rng):
    net = CSCNet(6, 5, 2, 3).double()
    x = torch.as_tensor(rng.random((1, 1, 12, 12)))
    with torch.no_grad():
        parts = [net(x, shifts=[i]) for i in range(4)]
        full = net(x)
        chunked = net(x, chunk=3)
    torch.testing.assert_close(full, sum(parts) / 4)
    torch.testing.assert_close(chunked, full)


def test_deep_ksvd_untrained_is_patch_ista_with_overlap_averaging(rng):
    p, K, T, lam = 4, 20, 5, 0.03
    net = DeepKSVD(p, K, T, hidden=(8,), lam=lam).double()
    img = rng.random((11, 9))
    with torch.no_grad():
        out = net(torch.as_tensor(img)[None, None])[0, 0].numpy()
    # NumPy oracle: K-SVD-denoiser pieces (DCT, patches with DC removed, overlap average)
    D = overcomplete_dct_dictionary(p, K)
    c = np.linalg.norm(D, 2) ** 2
    P = extract_patches(img, p)
    mean = P.mean(axis=1, keepdims=True)
    P = P - mean
    z = np.zeros((P.shape[0], K))
    for _ in range(T):
        v = z - (z @ D - P) @ D.T / c
        z = np.sign(v) * np.maximum(np.abs(v) - lam / c, 0)
    expected = reconstruct_from_patches(z @ D + mean, img.shape, p)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)  # float32 dictionary
    with torch.no_grad():
        chunked = net(torch.as_tensor(img)[None, None], chunk=7)[0, 0].numpy()
    np.testing.assert_allclose(chunked, out, rtol=1e-12, atol=1e-12)


def test_deep_ksvd_lam_is_positive_per_patch(rng):
    net = DeepKSVD(4, 16, 2, hidden=(8,))
    torch.nn.init.normal_(net.mlp[-1].weight, std=10.0)
    P = torch.randn(50, 16)
    _, _, lam = net.code_patches(P)
    assert lam.shape == (50, 1) and (lam > 0).all() and lam.std() > 0


def test_models_reject_bad_shapes():
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        CSCNet(4, 5, 2, 2)(torch.zeros(1, 3, 12, 12))
    with pytest.raises(ValueError, match="smaller than"):
        CSCNet(4, 5, 2, 2)(torch.zeros(1, 1, 4, 12))
    with pytest.raises(ValueError, match="smaller than"):
        DeepKSVD(8, 16, 2, hidden=(4,))(torch.zeros(1, 1, 6, 12))
    with pytest.raises(ValueError, match="stride"):
        CSCNet(4, 5, 6, 2)
    with pytest.raises(ValueError, match="filters must have shape"):
        CSCNet(4, 5, 2, 2, filters=np.zeros((3, 5, 5)))


# ----------------------------------------------------------------------- weights on disk
def test_weights_round_trip_and_checks(tmp_path, rng):
    net = DeepKSVD(4, 16, 2, hidden=(8,))
    with torch.no_grad():
        net.dictionary.add_(0.1)
    path = tmp_path / "w.safetensors"
    save_weights(net, path, sigma=25, extra={"n_steps": 3})
    back, info = load_weights(path)
    assert info["model"] == "deep-ksvd" and info["sigma"] == 25 and info["extra"] == {
        "n_steps": 3}
    x = torch.as_tensor(rng.random((1, 1, 9, 9)), dtype=torch.float32)
    with torch.no_grad():
        torch.testing.assert_close(back(x), net(x))

    from safetensors.torch import save_file

    sd = {k: v.clone() for k, v in net.state_dict().items()}
    meta = {"format": "sparsecode-denoiser", "version": "1", "model": "deep-ksvd",
            "sigma": "25.0", "config": '{"patch_size": 4, "n_components": 16, '
            '"n_layers": 2, "hidden": [8]}', "extra": "{}"}
    bad = dict(sd, dictionary=sd["dictionary"][:8])
    save_file(bad, tmp_path / "shape.safetensors", metadata=meta)
    with pytest.raises(ValueError, match="wrong shape"):
        load_weights(tmp_path / "shape.safetensors")
    nan = dict(sd)
    nan["step"] = torch.tensor(float("nan"))
    save_file(nan, tmp_path / "nan.safetensors", metadata=meta)
    with pytest.raises(ValueError, match="non-finite"):
        load_weights(tmp_path / "nan.safetensors")
    save_file(sd, tmp_path / "other.safetensors", metadata={"format": "x"})
    with pytest.raises(ValueError, match="not a sparsecode denoiser"):
        load_weights(tmp_path / "other.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable"):
        load_weights(tmp_path / "junk.safetensors")
    with pytest.raises(FileNotFoundError):
        load_weights(tmp_path / "missing.safetensors")


@pytest.mark.parametrize("model", ["cscnet", "deep-ksvd"])
def test_shipped_weights_load_and_are_small(model):
    assert pretrained_sigmas(model) == [15, 25, 50]
    for sigma in (15, 25, 50):
        path = pretrained_path(model, sigma)
        assert path.parent == WEIGHTS_DIR and path.stat().st_size < 1_000_000
        module, info = load_weights(path)
        assert info["sigma"] == sigma and info["extra"]["schedule"] == "cpu"


def test_nearest_sigma_warns():
    with pytest.warns(UserWarning, match="nearest trained model"):
        _, info = load_pretrained("deep-ksvd", 30)
    assert info["sigma"] == 25
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_pretrained("deep-ksvd", 25)


# ----------------------------------------------------------------------- entry points
@pytest.mark.parametrize("method", ["cscnet", "deep-ksvd"])
def test_denoise_image_learned_methods_denoise(method):
    rng = np.random.default_rng(0)
    clean = 255 * _smooth_image(rng, 40)
    noisy = clean + 25 * rng.standard_normal(clean.shape)
    out = denoise_image(noisy, 25, method=method)
    assert out.shape == clean.shape and out.dtype == np.float64
    assert psnr(clean, out, data_range=255) > psnr(clean, noisy, data_range=255) + 4
    # a [0, 1] image with sigma on its scale gives the same result
    out01 = denoise_image(noisy / 255, 25 / 255, method=method, data_range=1.0)
    np.testing.assert_allclose(out01 * 255, out, atol=1e-3)


@pytest.mark.parametrize("method", ["cscnet", "deep-ksvd", "dct"])
def test_denoise_image_colour_is_per_channel(method, rng):
    clean = 255 * np.stack([_smooth_image(rng, 24), _smooth_image(rng, 24).T,
                            np.full((24, 24), 0.5)], axis=-1)
    noisy = clean + 15 * rng.standard_normal(clean.shape)
    before = noisy.copy()
    kw = {"patch_size": 4, "n_components": 16} if method == "dct" else {}
    out = denoise_image(noisy, 15, method=method, data_range=255, **kw)
    np.testing.assert_array_equal(noisy, before)  # the input is not mutated
    assert out.shape == (24, 24, 3)
    for c in range(3):
        np.testing.assert_allclose(
            out[..., c], denoise_image(noisy[..., c], 15, method=method, data_range=255, **kw))


def test_denoise_learned_integer_image_and_estimator(rng):
    clean = 255 * _smooth_image(rng, 32)
    noisy = np.clip(np.rint(clean + 15 * rng.standard_normal(clean.shape)), 0, 255)
    out = denoise_learned(noisy.astype(np.uint8), 15, model="deep-ksvd")
    assert out.dtype == np.uint8
    est = LearnedDenoiser("deep-ksvd", sigma=15).fit()
    np.testing.assert_allclose(est.predict(noisy), denoise_learned(noisy, 15, model="deep-ksvd",
                                                                  data_range=255))


@pytest.mark.parametrize("method", ["cscnet", "deep-ksvd", "ksvd"])
def test_denoise_image_bad_input(method):
    img = np.full((24, 24), 100.0)
    with pytest.raises(ValueError, match="sigma must be a positive"):
        denoise_image(img, 0, method=method)
    with pytest.raises(ValueError, match="sigma must be a positive"):
        denoise_image(img, -5, method=method)
    bad = img.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        denoise_image(bad, 25, method=method)
    with pytest.raises(ValueError, match="NaN"):
        denoise_image(np.stack([bad] * 3, axis=-1), 25, method=method)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        denoise_image(np.zeros((24, 24, 4)), 25, method=method)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        denoise_image(np.zeros((24, 24, 2)), 25, method=method)


def test_denoise_learned_bad_weights_and_model(tmp_path):
    img = np.full((24, 24), 100.0)
    with pytest.raises(ValueError, match="model must be one of"):
        denoise_learned(img, 25, model="dncnn")
    (tmp_path / "w.safetensors").write_bytes(b"0")
    with pytest.raises(ValueError, match="not a readable"):
        denoise_image(img, 25, method="cscnet", weights=tmp_path / "w.safetensors")


# ----------------------------------------------------------------------- training recipe
def test_train_denoiser_keeps_the_best_validation_state(rng):
    images = [np.clip(_smooth_image(rng, 40) + 0.05 * rng.standard_normal((40, 40)), 0, 1)
              for _ in range(6)]
    module, info = train_denoiser("deep-ksvd", 25, data=images, n_val_images=2, n_steps=3,
                                  batch_size=2, crop_size=16, n_crops=4)
    assert info["val_psnr"] >= info["val_psnr_init"]
    assert info["history"][-1]["step"] == 3
    assert info["lam_over_sigma"] in (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
    # seeded: the same call gives the same weights
    module2, _ = train_denoiser("deep-ksvd", 25, data=images, n_val_images=2, n_steps=3,
                                batch_size=2, crop_size=16, n_crops=4)
    for a, b in zip(module.state_dict().values(), module2.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_train_denoiser_bad_arguments():
    with pytest.raises(ValueError, match="model must be"):
        train_denoiser("dncnn", 25, data=[np.zeros((20, 20))] * 3)
    with pytest.raises(ValueError, match="sigma must be"):
        train_denoiser("cscnet", 0, data=[np.zeros((20, 20))] * 3)
    with pytest.raises(TypeError, match="unknown schedule keys"):
        train_denoiser("cscnet", 25, data=[np.zeros((20, 20))] * 20, n_epochs=3)


# ----------------------------------------------------------------------- colour I/O, CLI
def test_read_image_modes_keep_colour(tmp_path):
    from sparsecode.image import read_image, write_image

    rgb = np.zeros((4, 5, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 10, 200, 70
    write_image(tmp_path / "c.png", rgb)
    np.testing.assert_array_equal(read_image(tmp_path / "c.png", mode="auto"), rgb)
    np.testing.assert_array_equal(read_image(tmp_path / "c.png", mode="rgb"), rgb)
    np.testing.assert_allclose(read_image(tmp_path / "c.png"),
                               rgb @ np.array([0.2125, 0.7154, 0.0721]))
    write_image(tmp_path / "g.png", rgb[..., 1])
    assert read_image(tmp_path / "g.png", mode="auto").shape == (4, 5)
    np.testing.assert_array_equal(read_image(tmp_path / "g.png", mode="rgb")[..., 2], 200)
    with pytest.raises(ValueError, match="mode must be"):
        read_image(tmp_path / "g.png", mode="cmyk")
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        write_image(tmp_path / "o.png", np.zeros((4, 5, 4)))


def _colour_png(path, rng):
    from sparsecode.image import write_image

    img = 255 * np.stack([_smooth_image(rng, 32), _smooth_image(rng, 32).T,
                          np.full((32, 32), 0.4)], axis=-1)
    write_image(path, img)
    return path


@pytest.mark.parametrize("method", ["deep-ksvd", "dct"])
def test_denoise_cli_colour_image(tmp_path, capsys, rng, method):
    from sparsecode.cli import main
    from sparsecode.image import read_image

    src = _colour_png(tmp_path / "c.png", rng)
    out = tmp_path / "den.png"
    rc = main(["denoise", str(src), "--sigma", "25", "--add-noise", "--method", method,
               "--out", str(out), "--quiet", "--patch-size", "4", "--n-components", "16"])
    assert rc == 0
    text = capsys.readouterr().out
    lines = {line.split(":")[0]: line for line in text.splitlines() if "PSNR" in line}
    noisy = float(lines["noisy"].split("PSNR")[1].split("dB")[0])
    den = float(lines["denoised"].split("PSNR")[1].split("dB")[0])
    assert den > noisy + 2
    assert read_image(out, mode="auto").shape == (32, 32, 3)


def test_train_denoiser_cli_writes_weights_that_denoise_uses(tmp_path, capsys, rng):
    from sparsecode.cli import main
    from sparsecode.image import write_image

    data = tmp_path / "train"
    data.mkdir()
    for i in range(18):
        write_image(data / f"{i:02d}.png", 255 * np.clip(
            _smooth_image(rng, 40) + 0.05 * rng.standard_normal((40, 40)), 0, 1))
    rc = main(["train-denoiser", "--model", "deep-ksvd", "--sigma", "20", "--data",
               str(data), "--out", str(tmp_path), "--n-steps", "2", "--quiet"])
    assert rc == 0
    path = tmp_path / "deep-ksvd_sigma20.safetensors"
    _, info = load_weights(path)
    assert info["sigma"] == 20 and info["extra"]["n_steps"] == 2
    src = _colour_png(tmp_path / "c.png", rng)
    rc = main(["denoise", str(src), "--sigma", "20", "--add-noise", "--method", "deep-ksvd",
               "--weights", str(path), "--out", str(tmp_path / "d.png"), "--quiet"])
    assert rc == 0
    assert main(["train-denoiser", "--sigma", "25", "--data", str(tmp_path / "nope"),
                 "--out", str(tmp_path)]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["denoise", str(src), "--sigma", "20", "--method", "cscnet", "--weights",
                 str(tmp_path / "missing.safetensors"), "--out", str(tmp_path / "e.png")]) == 2
    assert "--weights: no such file" in capsys.readouterr().err


def test_no_installed_weights_says_how_to_train(tmp_path, monkeypatch):
    import sparsecode.nn.denoise._io as io

    monkeypatch.setattr(io, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(ValueError, match="sparsecode train-denoiser --model cscnet --sigma 30"):
        denoise_image(np.full((24, 24), 100.0), 30, method="cscnet")


def test_learned_denoiser_clone_and_pickle(rng):
    import pickle

    from sklearn.base import clone

    est = LearnedDenoiser("deep-ksvd", sigma=25)
    assert clone(est).get_params() == est.get_params()
    est.fit()
    back = pickle.loads(pickle.dumps(est))
    img = 255 * _smooth_image(rng, 24)
    np.testing.assert_allclose(back.predict(img), est.predict(img))
    with pytest.raises(ValueError, match="model must be one of"):
        LearnedDenoiser("dncnn").fit()
