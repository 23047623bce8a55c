"""CNN compressed-sensing networks (sparsecode.nn.cs): models, data, estimator, weights."""

import pickle
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sparsecode.cs import measure_image, reconstruct_image
from sparsecode.nn.cs import (
    CSNetwork,
    ISTANet,
    ISTANetPlus,
    OPINENetPlus,
    extract_blocks,
    least_squares_init,
    load_weights,
    make_cs_model,
    n_parameters,
    pretrained,
    sensing_matrix,
    shipped_weights,
)
from sparsecode.nn.cs.models import blocks_to_image, image_to_blocks
from sparsecode.operators import BlockCSOperator


@pytest.fixture(scope="module")
def images():
    """Small smooth images with edges (generated, no data needed)."""
    rng = np.random.default_rng(1)
    out = []
    for k in range(4):
        yy, xx = np.mgrid[:40, :48] / 40.0
        img = 0.5 + 0.3 * np.sin((3 + k) * xx + k) * np.cos((2 + k) * yy)
        img[10 + k:25, 5:20 + k] += 0.2
        out.append(np.clip(img + 0.01 * rng.standard_normal(img.shape), 0, 1))
    return out


@pytest.fixture(scope="module")
def small_net(images):
    return CSNetwork("ista-net+", 0.25, block_size=8, n_phases=2, n_channels=4, n_blocks=512,
                     max_iter=1, random_state=0).fit(images)


# ----------------------------------------------------------------------------- models
def test_ista_net_plus_has_the_published_parameter_count():
    phi = torch.as_tensor(sensing_matrix(0.25), dtype=torch.float32)
    assert n_parameters(ISTANetPlus(phi)) == 336_978  # "0.337 M"
    assert n_parameters(ISTANet(phi)) == 171_090      # "0.171 M"


@pytest.mark.parametrize("shape", [(8, 8), (16, 24)])
def test_block_sampling_is_the_block_cs_operator(rng, shape):
    phi = sensing_matrix(0.3, 8, random_state=2)
    module = make_cs_model("ista-net+", torch.as_tensor(phi), 8, n_phases=1, n_channels=2)
    module = module.double()
    A = BlockCSOperator(shape, phi, block_size=8)
    x = rng.random(shape)
    y = module.measure(torch.as_tensor(x)[None, None])
    np.testing.assert_allclose(y.numpy().ravel(), A.forward(x.ravel()), atol=1e-12)
    back = module.sampling.adjoint(y, shape)
    np.testing.assert_allclose(back.numpy().ravel(), A.adjoint(A.forward(x.ravel())),
                               atol=1e-12)
    xt = torch.as_tensor(x)[None, None]
    assert torch.equal(blocks_to_image(image_to_blocks(xt, 8), 8, shape), xt)


def _projected_gradient(A, Q, y, steps, block_size):
    """The classic iteration x <- x - rho A^T(Ax - y) from the block-wise start Q y."""
    m = Q.shape[1]
    blocks = y.reshape(-1, m) @ Q.T
    x = A._from_blocks(blocks, __import__("sparsecode.operators._backend",
                                          fromlist=["x"]).backend_of(blocks))
    for rho in steps:
        x = x - rho * A.adjoint(A.forward(x) - y)
    return x


def _set_identity_transform(phase):
    """ISTA-Net phase whose transform pair is the identity (x -> [x+, x-] -> x)."""
    with torch.no_grad():
        for w in (phase.conv1_forward, phase.conv2_forward, phase.conv1_backward,
                  phase.conv2_backward):
            w.zero_()
        phase.conv1_forward[0, 0, 1, 1] = 1.0
        phase.conv1_forward[1, 0, 1, 1] = -1.0
        phase.conv2_forward[0, 0, 1, 1] = 1.0
        phase.conv2_forward[1, 1, 1, 1] = 1.0
        phase.conv1_backward[0, 0, 1, 1] = 1.0
        phase.conv1_backward[1, 1, 1, 1] = 1.0
        phase.conv2_backward[0, 0, 1, 1] = 1.0
        phase.conv2_backward[0, 1, 1, 1] = -1.0
        phase.threshold.zero_()


@pytest.mark.parametrize("model", ["ista-net", "ista-net+"])
def test_untrained_ista_net_computes_projected_gradient_steps(rng, model):
    """Zero learned residual (ISTA-Net+) / identity transform and zero threshold
    (ISTA-Net): every phase is the gradient step of the classic solver; with step 1 and
    orthonormal rows, the projection onto {Ax = y}."""
    B, shape = 8, (16, 24)
    phi = sensing_matrix(0.25, B, random_state=0)
    Q = rng.standard_normal((B * B, phi.shape[0])) * 0.1
    module = make_cs_model(model, torch.as_tensor(phi), B, n_phases=3, n_channels=2,
                           init_matrix=torch.as_tensor(Q), zero_residual=model == "ista-net+")
    module = module.double()
    steps = [1.0, 0.7, 0.3]
    for phase, rho in zip(module.phases, steps):
        with torch.no_grad():
            phase.step_size.fill_(rho)
        if model == "ista-net":
            _set_identity_transform(phase)
    A = BlockCSOperator(shape, phi, block_size=B)
    x_true = rng.random(shape).ravel()
    y = A.forward(x_true)
    expected = _projected_gradient(A, Q, y, steps, B)
    out = module(torch.as_tensor(y).reshape(1, -1, phi.shape[0]), shape)
    np.testing.assert_allclose(out.detach().numpy().ravel(), expected, atol=1e-10)
    # one step of size 1 is the projection: the data are fitted exactly
    one = _projected_gradient(A, Q, y, [1.0], B)
    np.testing.assert_allclose(A.forward(one), y, atol=1e-10)


def test_opine_net_starts_from_the_adjoint_and_learns_phi(rng):
    B, shape = 8, (16, 16)
    phi = sensing_matrix(0.25, B, random_state=0)
    module = OPINENetPlus(torch.as_tensor(phi), B, n_phases=2, n_channels=2,
                          zero_residual=True).double()
    A = BlockCSOperator(shape, phi, block_size=B)
    y = A.forward(rng.random(shape).ravel())
    out = module(torch.as_tensor(y).reshape(1, -1, phi.shape[0]), shape)
    # x0 = Phi^T y already fits the data, so the gradient steps leave it in place
    np.testing.assert_allclose(out.detach().numpy().ravel(), A.adjoint(y), atol=1e-10)
    assert module.sampling.phi.requires_grad
    assert float(module.orthogonality_loss().detach()) < 1e-20  # orthonormal rows at the start


def test_binary_opine_net_uses_signs_with_straight_through_gradient(rng):
    phi = torch.as_tensor(sensing_matrix(0.25, 8, random_state=0), dtype=torch.float32)
    module = OPINENetPlus(phi, 8, n_phases=1, n_channels=2, binary=True)
    M = module.sampling.matrix()
    np.testing.assert_allclose(np.abs(M.detach().numpy()), 1.0 / 8, rtol=1e-6)
    x = torch.rand(4, 1, 8, 8)
    loss = ((module(module.measure(x)) - x) ** 2).mean()
    loss.backward()
    assert float(module.sampling.phi.grad.abs().sum()) > 0  # sign passes the gradient
    with pytest.raises(ValueError, match="binary=True needs learn=True"):
        from sparsecode.nn.cs import BlockSampling
        BlockSampling(phi, 8, binary=True)


def test_make_cs_model_rejects_unknown_names():
    with pytest.raises(ValueError, match="model must be one of"):
        make_cs_model("lista", torch.zeros(3, 64), 8)


# ----------------------------------------------------------------------------- data
def test_sensing_matrix_is_the_one_of_measure_image():
    phi = sensing_matrix(0.1, 33, random_state=0)
    _, A = measure_image(np.zeros((33, 33)), 0.1)
    np.testing.assert_array_equal(phi, A.block_operator.to_matrix())
    assert phi.shape == (109, 1089)
    np.testing.assert_allclose(phi @ phi.T, np.eye(109), atol=1e-12)
    assert sensing_matrix(0.5).shape == (545, 1089)  # ISTA-Net's ratio table


@pytest.mark.parametrize("ratio", [0.0, -0.1, 1.5, float("nan")])
def test_sensing_matrix_rejects_bad_ratios(ratio):
    with pytest.raises(ValueError, match=r"ratio must be in \(0, 1\]"):
        sensing_matrix(ratio)


def test_least_squares_init_matches_lstsq(rng):
    X = rng.random((300, 16))
    Y = X @ rng.standard_normal((16, 5))
    Q = least_squares_init(X, Y, ridge=0.0)
    ref = np.linalg.lstsq(Y, X, rcond=None)[0].T  # min ||Y Q^T - X||
    np.testing.assert_allclose(Q, ref, atol=1e-9)


def test_extract_blocks_grid_and_random_crops(images):
    grid = extract_blocks(images[:1], 8, dtype=np.float64)
    assert grid.shape == (5 * 6, 64)
    np.testing.assert_array_equal(grid[7], images[0][8:16, 8:16].ravel())
    crops = extract_blocks(images, 8, n_blocks=50, random_state=3, dtype=np.float64)
    assert crops.shape == (50, 64) and crops.dtype == np.float64
    aug = extract_blocks(images, 8, n_blocks=50, random_state=3, augment=True,
                         dtype=np.float64)
    for a, c in zip(aug, crops):  # each augmented block is a symmetry of the square
        c = c.reshape(8, 8)
        sym = [np.rot90(c, k) for k in range(4)]
        sym += [s.T for s in sym]
        assert any(np.array_equal(a.reshape(8, 8), s) for s in sym)


def test_extract_blocks_errors(images):
    with pytest.raises(ValueError, match="smaller than a block"):
        extract_blocks([np.zeros((5, 40))], 8)
    with pytest.raises(ValueError, match="NaN"):
        extract_blocks([np.full((9, 9), np.nan)], 8)
    with pytest.raises(ValueError, match="at least one image"):
        extract_blocks([], 8)


# ----------------------------------------------------------------------------- estimator
def test_fit_reduces_the_reconstruction_error():
    from skimage import data as skdata

    blocks = extract_blocks([skdata.camera() / 255.0], 8, n_blocks=512, random_state=0)
    kw = {"block_size": 8, "n_phases": 2, "n_channels": 8, "random_state": 0}
    net = CSNetwork("ista-net+", 0.25, learning_rate=1e-3, max_iter=6, **kw).fit(blocks)
    untrained = CSNetwork("ista-net+", 0.25, max_steps=1, learning_rate=1e-12,
                          **kw).fit(blocks)
    Y = blocks @ net.phi_.T.astype(np.float32)
    err = np.mean((net.predict(Y) - blocks) ** 2)
    err0 = np.mean((untrained.predict(Y) - blocks) ** 2)
    assert err < 0.5 * err0
    assert net.history_[-1]["mse"] < net.history_[0]["mse"]
    assert net.n_steps_ == 6 * 8


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predict_and_reconstruct_shapes_and_dtypes(small_net, images, dtype):
    net = small_net
    Y = (np.random.default_rng(0).random((5, net.n_measurements_))).astype(dtype)
    X = net.predict(Y)
    assert X.shape == (5, 64) and X.dtype == dtype
    img = images[0].astype(dtype)
    rec = net.reconstruct(img)
    assert rec.shape == img.shape and rec.dtype == dtype
    y = net.measure(img)
    rec2 = net.reconstruct(y, img.shape)
    np.testing.assert_allclose(rec2, rec, atol=1e-5)
    assert net.sensing_operator(img.shape).shape == (y.size, img.size)


def test_estimator_bad_input(small_net, images):
    net = small_net
    m = net.n_measurements_
    with pytest.raises(ValueError, match=rf"Y must have shape \(n_blocks, {m}\)"):
        net.predict(np.zeros((3, m + 1)))
    with pytest.raises(ValueError, match="NaN"):
        net.predict(np.full((3, m), np.nan))
    y = net.measure(images[0])
    with pytest.raises(ValueError, match="measurements must have"):
        net.reconstruct(y[:-1], images[0].shape)
    bad = y.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        net.reconstruct(bad, images[0].shape)
    with pytest.raises(ValueError, match="image_shape is required"):
        net.reconstruct(y)
    with pytest.raises(ValueError, match="smaller than a block"):
        net.reconstruct(np.zeros((5, 30)))
    with pytest.raises(ValueError, match="smaller than a block"):
        net.reconstruct(np.zeros(m), (5, 8))
    with pytest.raises(ValueError, match="block_size\\*\\*2 = 64"):
        CSNetwork(block_size=8).fit(np.zeros((10, 50)))
    with pytest.raises(ValueError, match="smaller than a block"):
        CSNetwork(block_size=8).fit([np.zeros((4, 4))])


@pytest.mark.parametrize("ratio", [0.0, 1.5, -1.0])
def test_estimator_rejects_ratio_outside_unit_interval(ratio, images):
    with pytest.raises(ValueError, match="ratio"):
        CSNetwork(ratio=ratio, block_size=8).fit(images)


def test_pickle_round_trip(small_net, images):
    clone = pickle.loads(pickle.dumps(small_net))
    np.testing.assert_array_equal(clone.reconstruct(images[1]),
                                  small_net.reconstruct(images[1]))


@pytest.mark.parametrize("model", ["reconnet", "ista-net", "opine-net+"])
def test_weights_round_trip(model, images, tmp_path):
    net = CSNetwork(model, 0.25, block_size=8, n_phases=2, n_channels=4, n_blocks=256,
                    max_iter=1, random_state=0).fit(images)
    path = net.save_weights(tmp_path / "w.safetensors")
    loaded = load_weights(path)
    assert loaded.model == model and loaded.ratio == 0.25
    # matrices are stored in float16: agreement to that precision
    np.testing.assert_allclose(loaded.reconstruct(images[2]), net.reconstruct(images[2]),
                               atol=5e-3)
    np.testing.assert_allclose(loaded.phi_, net.phi_, atol=1e-3 * np.abs(net.phi_).max())


def test_loading_weights_checks_ratio_and_shapes(small_net, tmp_path):
    path = small_net.save_weights(tmp_path / "w.safetensors")
    with pytest.raises(ValueError, match="for ratio 0.25, the model has ratio 0.1"):
        CSNetwork("ista-net+", 0.1, block_size=8, n_phases=2, n_channels=4).load_weights(path)
    with pytest.raises(ValueError, match="n_channels=4, the model has n_channels=8"):
        CSNetwork("ista-net+", 0.25, block_size=8, n_phases=2, n_channels=8).load_weights(path)
    # a tampered file whose tensor shapes no longer fit
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    state = load_file(path)
    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
    state["phases.0.conv_D"] = torch.zeros(5, 1, 3, 3)
    save_file(state, str(tmp_path / "bad.safetensors"), metadata=meta)
    with pytest.raises(ValueError, match=r"phases.0.conv_D has shape \(5, 1, 3, 3\)"):
        load_weights(tmp_path / "bad.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a file")
    with pytest.raises(ValueError, match="cannot read"):
        load_weights(tmp_path / "junk.safetensors")


def test_checkpoint_resumes(images, tmp_path):
    ckpt = str(tmp_path / "cs.ckpt")
    kw = {"block_size": 8, "n_phases": 1, "n_channels": 2, "n_blocks": 256, "batch_size": 64,
              "random_state": 0, "checkpoint": ckpt}
    CSNetwork("ista-net+", 0.25, max_iter=1, **kw).fit(images)
    resumed = CSNetwork("ista-net+", 0.25, max_iter=2, **kw).fit(images)
    fresh = CSNetwork("ista-net+", 0.25, max_iter=2,
                      **{**kw, "checkpoint": None}).fit(images)
    assert resumed.n_steps_ == 8 and len(resumed.history_) == 2
    np.testing.assert_allclose(resumed.history_[-1]["loss"], fresh.history_[-1]["loss"],
                               rtol=1e-5)


# ----------------------------------------------------------------------------- shipped
def test_missing_ratio_error_names_available_ratios_and_command(tmp_path):
    with pytest.raises(ValueError, match=r"available ratios: .*sparsecode train-cs"):
        pretrained("ista-net+", 0.3)
    with pytest.raises(ValueError, match="available ratios: none"):
        pretrained("ista-net+", 0.25, folder=tmp_path)


SHIPPED = shipped_weights()
needs_shipped = pytest.mark.skipif(not SHIPPED, reason="no shipped weights")


@needs_shipped
@pytest.mark.parametrize("model,ratio", sorted(SHIPPED))
def test_shipped_weights_load_and_beat_backprojection(model, ratio):
    from skimage import data as skdata

    from sparsecode.cs import image_quality, learned_sensing_operator

    image = skdata.camera()[100:199, 150:249] / 255.0
    A = learned_sensing_operator(model, image.shape, ratio)
    y = A.forward(image.ravel())
    x = reconstruct_image(y, A, method=model)
    x_bp = reconstruct_image(y, A, method="backprojection")
    assert image_quality(image, x)[0] > image_quality(image, x_bp)[0] + 2.0


@needs_shipped
def test_reconstruct_image_learned_methods_check_the_operator():
    image = np.random.default_rng(0).random((40, 40))
    y, A = measure_image(image, 0.25, random_state=1)  # not the shipped matrix
    with pytest.raises(ValueError, match="not the one the shipped ista-net\\+ network"):
        reconstruct_image(y, A, method="ista-net+")
    y, A = measure_image(image, 0.3)
    with pytest.raises(ValueError, match=r"ratio 0.3 .*available ratios"):
        reconstruct_image(y, A, method="ista-net+")
    y, A = measure_image(image, 0.25)
    if ("opine-net+", 0.25) in SHIPPED:
        with pytest.raises(ValueError, match="OPINE-Net\\+ learns its own"):
            reconstruct_image(y, A, method="opine-net+")
    x = reconstruct_image(y, A, method="ista-net+")
    assert x.shape == image.shape and x.min() >= 0 and x.max() <= 1


def test_reconstruct_image_rejects_unknown_method_listing_learned_ones():
    y, A = measure_image(np.zeros((16, 16)), 0.5, block_size=8)
    with pytest.raises(ValueError, match="ista-net\\+"):
        reconstruct_image(y, A, method="dncnn")


def test_classic_reconstruction_does_not_import_torch():
    code = ("import sys, numpy as np; from sparsecode.cs import measure_image, "
            "reconstruct_image; y, A = measure_image(np.zeros((16, 16)), 0.5, block_size=8);"
            " reconstruct_image(y, A, method='backprojection'); "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------- CLI
def test_train_cs_cli_writes_loadable_weights(images, tmp_path, capsys):
    from sparsecode.cli import main
    from sparsecode.image.io import write_image

    folder = tmp_path / "imgs"
    folder.mkdir()
    for k, img in enumerate(images):
        write_image(folder / f"im{k}.png", img * 255)
    out = tmp_path / "net.safetensors"
    code = main(["train-cs", str(folder), "--model", "opine-net+", "--ratio", "0.25",
                 "--block-size", "8", "--n-blocks", "128", "--n-phases", "1",
                 "--n-channels", "2", "--max-steps", "2", "--device", "cpu", "--quiet",
                 "--out", str(out)])
    assert code == 0
    assert "wrote" in capsys.readouterr().out
    net = load_weights(out)
    assert net.model == "opine-net+" and net.n_steps_ == 2
    assert net.training_info_["command"].startswith("sparsecode train-cs imgs --model")
    assert str(tmp_path) not in net.training_info_["command"]
    assert main(["train-cs", str(folder), "--ratio", "2", "--out", str(out)]) == 2
    assert main(["train-cs", str(tmp_path / "none"), "--out", str(out)]) == 2
    assert "FOLDER" in capsys.readouterr().err


@needs_shipped
def test_cs_cli_learned_method(tmp_path, capsys):
    from skimage import data as skdata

    from sparsecode.cli import main
    from sparsecode.image.io import write_image

    path = tmp_path / "camera.png"
    write_image(path, skdata.camera()[200:266, 250:316].astype(float))
    assert main(["cs", str(path), "--ratio", "0.25", "--method", "ista-net+", "-q"]) == 0
    assert "PSNR" in capsys.readouterr().out
    assert main(["cs", str(path), "--ratio", "0.3", "--method", "ista-net+", "-q"]) == 2
    err = capsys.readouterr().err
    assert "available ratios" in err and "train-cs" in err
