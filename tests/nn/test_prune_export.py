"""Per-layer targets, layer-wise pruning and sparse export (sparsecode.nn.prune)."""

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from sparsecode.nn._training import Trainer  # noqa: E402
from sparsecode.nn.prune import (  # noqa: E402
    SET,
    ConstantSparsity,
    GradualGrowth,
    LayerwisePruner,
    MagnitudePruner,
    PolynomialDecay,
    SparseLinear,
    export_sparse,
    resolve_targets,
    saved_size,
)


def _cnn(seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 4 * 4, 32), nn.ReLU(), nn.Dropout(0.1),
        nn.Linear(32, 10))
    net.train()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for _ in range(3):
            net(torch.randn(32, 1, 8, 8) * 2 + 0.5)
    for bn in (net[1], net[4]):
        with torch.no_grad():
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
    return net.eval()


def _close(a, b, tol=1e-6):
    return float((a - b).abs().max()) <= tol * max(1.0, float(b.abs().max()))


# ----------------------------------------------------------------- targets
def test_resolve_targets_by_type_and_name():
    net = _cnn()
    got = resolve_targets(net, {nn.Conv2d: 0.5, nn.Linear: 0.7, "11": 0.0, "3": 0.25})
    assert got == {"0": 0.5, "3": 0.25, "8": 0.7}
    assert resolve_targets(net, 0.3) == {"0": 0.3, "3": 0.3, "8": 0.3, "11": 0.3}
    assert resolve_targets(net, {"*": 0.1, "8.weight": 0.9})["8"] == 0.9


@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5])
def test_resolve_targets_out_of_range_raises(value):
    with pytest.raises(ValueError, match=r"targets\['8'\] must be in \[0, 1\)"):
        resolve_targets(_cnn(), {"8": value})
    with pytest.raises(ValueError, match=r"targets must be in \[0, 1\)"):
        resolve_targets(_cnn(), value)
    with pytest.raises(ValueError, match=r"must be in \[0, 1\)"):
        LayerwisePruner(_cnn(), {nn.Linear: value}, end_step=10)


def test_resolve_targets_unknown_layer_raises():
    with pytest.raises(ValueError, match=r"unknown layer name 'fc9'.*\['0', '3', '8', '11'\]"):
        resolve_targets(_cnn(), {"fc9": 0.5})
    with pytest.raises(ValueError, match="layer type .*Conv1d.* matches no layer"):
        resolve_targets(_cnn(), {nn.Conv1d: 0.5})
    with pytest.raises(TypeError, match="keys must be layer names"):
        resolve_targets(_cnn(), {3: 0.5})
    with pytest.raises(TypeError, match="targets must be a float"):
        resolve_targets(_cnn(), [0.5])
    with pytest.raises(ValueError, match="no prunable layer"):
        resolve_targets(nn.ReLU(), 0.5)


# ----------------------------------------------------------------- layer-wise pruning
def test_layerwise_pruner_follows_polynomial_schedule_per_layer(rng):
    net = _cnn()
    targets = {nn.Conv2d: 0.5, nn.Linear: 0.7}
    pruner = LayerwisePruner(None, targets, begin_step=0, end_step=20, frequency=5)
    X = torch.as_tensor(rng.standard_normal((64, 1, 8, 8)), dtype=torch.float32)
    y = torch.as_tensor(rng.integers(0, 10, 64))
    seen = []

    class Probe:
        def after_step(self, trainer):
            seen.append((trainer.step, pruner.sparsity()["8"]))

    def loss(m, xb, yb):
        return nn.functional.cross_entropy(m(xb), yb)

    Trainer(loss, batch_size=16, max_iter=8, callbacks=[pruner, Probe()],
            generator=torch.Generator().manual_seed(0)).fit(net, X, y)
    ref = PolynomialDecay(0.0, 0.7, begin_step=0, end_step=20, frequency=5)
    for step, s in seen:  # the pruner stepped `step` times: last update at (step-1)//5*5
        last = min(((step - 1) // 5) * 5, 20)
        assert s == pytest.approx(ref.sparsity(last), abs=1 / 512)
    got = pruner.sparsity()
    assert got == pytest.approx({"0": 0.5, "3": 0.5, "8": 0.7, "11": 0.7}, abs=1e-2)
    for name in got:  # the masked weights are exactly zero after training
        layer = net.get_submodule(name)
        assert torch.equal(layer.weight_orig[layer.weight_mask == 0],
                           torch.zeros(int((layer.weight_mask == 0).sum())))


def test_structured_layerwise_pruner_masks_bias_and_batchnorm():
    net = _cnn()
    p = LayerwisePruner(net, {nn.Conv2d: 0.5, "8": 0.75}, end_step=0, structured=True)
    p.step()
    assert p.sparsity() == {"0": 0.5, "3": 0.5, "8": 0.75}
    dead = ~net[0].weight.reshape(8, -1).any(dim=1)
    assert int(dead.sum()) == 4
    assert torch.all(net[0].bias[dead] == 0)
    assert torch.all(net[1].weight[dead] == 0) and torch.all(net[1].bias[dead] == 0)
    assert hasattr(net[4], "weight_mask") and not hasattr(net[9], "weight_mask")


# ----------------------------------------------------------------- export: structured
def test_export_structured_removes_channels_and_units_same_outputs(rng):
    net = _cnn()
    LayerwisePruner(net, {nn.Conv2d: 0.5, "8": 0.75}, end_step=0, structured=True).step()
    x = torch.as_tensor(rng.standard_normal((16, 1, 8, 8)), dtype=torch.float32)
    with torch.no_grad():
        ref = net(x)
    small = export_sparse(net, unstructured="never")
    assert (small[0].out_channels, small[1].num_features, small[3].in_channels) == (4, 4, 4)
    assert (small[3].out_channels, small[4].num_features) == (8, 8)
    assert (small[8].in_features, small[8].out_features, small[11].in_features) == (
        8 * 16, 8, 8)
    assert small[11].out_features == 10  # the output layer keeps its units
    with torch.no_grad():
        assert _close(small(x), ref)
    assert small.sparse_export_["0"] == {"units": 8, "kept": 4}
    assert saved_size(small) < 0.35 * saved_size(net)
    # the pruned model itself is untouched
    assert net[0].weight_orig.shape == (8, 1, 3, 3) and hasattr(net[0], "weight_mask")


def test_export_folds_nonzero_constant_units_into_next_linear(rng):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 3)).eval()
    with torch.no_grad():
        net[0].weight[[1, 4, 7]] = 0.0  # zero rows, biases left nonzero: constant tanh(b)
    x = torch.as_tensor(rng.standard_normal((9, 6)), dtype=torch.float32)
    small = export_sparse(net, unstructured="never")
    assert small[0].out_features == 9 and small[2].in_features == 9
    with torch.no_grad():
        assert _close(small(x), net(x))


def test_export_keeps_nonzero_constant_channels_before_padded_conv(rng):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(6, 4, 3, padding=1), nn.Flatten(),
                        nn.Linear(4 * 64, 2)).eval()
    with torch.no_grad():
        net[0].weight[[0, 1, 2]] = 0.0
        net[0].bias[[0, 1]] = 0.0       # channels 0, 1 output zero; channel 2 relu(b)
        net[0].bias[2] = 0.3
    x = torch.as_tensor(rng.standard_normal((5, 1, 8, 8)), dtype=torch.float32)
    small = export_sparse(net, unstructured="never")
    assert small[0].out_channels == 4   # channel 2 is a constant map: zero padding breaks it
    with torch.no_grad():
        assert _close(small(x), net(x))


def test_export_leaves_residual_branches_alone(rng):
    class Res(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(8, 8)
            self.b = nn.Linear(8, 8)
            self.head = nn.Linear(8, 2)

        def forward(self, x):
            return self.head(torch.relu(self.b(torch.relu(self.a(x)))) + x)

    torch.manual_seed(0)
    net = Res().eval()
    with torch.no_grad():
        net.a.weight[:3] = 0
        net.a.bias[:3] = 0
        net.b.weight[:2] = 0
        net.b.bias[:2] = 0
    small = export_sparse(net, unstructured="never")
    assert small.a.out_features == 5 and small.b.in_features == 5
    assert small.b.out_features == 8    # feeds the residual addition: kept
    x = torch.as_tensor(rng.standard_normal((4, 8)), dtype=torch.float32)
    with torch.no_grad():
        assert _close(small(x), net(x))


# ----------------------------------------------------------------- export: CSR
@pytest.mark.parametrize("backend", ["torch", "scipy"])
def test_sparse_linear_matches_dense(rng, backend):
    lin = nn.Linear(40, 24)
    with torch.no_grad():
        lin.weight[torch.rand(24, 40) < 0.8] = 0
    sp = SparseLinear(lin.weight, lin.bias, backend=backend)
    x = torch.as_tensor(rng.standard_normal((3, 5, 40)), dtype=torch.float32)
    with torch.no_grad():
        assert _close(sp(x), lin(x))
    assert sp.nnz == int((lin.weight != 0).sum())
    assert torch.equal(sp.to_dense().weight, lin.weight)


def test_export_unstructured_always_csr_same_outputs_and_smaller(rng):
    net = _cnn()
    LayerwisePruner(net, {nn.Conv2d: 0.5, nn.Linear: 0.9}, end_step=0).step()
    x = torch.as_tensor(rng.standard_normal((8, 1, 8, 8)), dtype=torch.float32)
    with torch.no_grad():
        ref = net(x)
    small = export_sparse(net, unstructured="always")
    assert isinstance(small[8], SparseLinear) and isinstance(small[11], SparseLinear)
    with torch.no_grad():
        assert _close(small(x), ref)
    # the CSR layer stores nnz values + nnz int32 columns + rows+1 int32 pointers
    nnz = small[8].nnz
    assert small[8].values.numel() == nnz == int(round(0.1 * 256 * 32))
    sd = small[8].state_dict()
    assert sum(t.numel() * t.element_size() for t in sd.values()) == (
        nnz * 8 + (32 + 1) * 4 + 32 * 4)
    assert saved_size(small) < saved_size(net)
    assert saved_size(small, "safetensors") < saved_size(net, "safetensors")


def test_export_auto_only_where_probe_is_faster(rng):
    net = _cnn()
    LayerwisePruner(net, {nn.Linear: 0.95}, end_step=0).step()
    small = export_sparse(net, batch_size=64, repeat=3)
    info = small.sparse_export_["8"]
    assert set(info["probe_s"]) == {"dense", "torch", "scipy"}
    best = min(info["probe_s"], key=info["probe_s"].get)
    if info["format"] == "dense":
        assert not isinstance(small[8], SparseLinear)
    else:
        assert info["format"] == f"csr-{best}" and isinstance(small[8], SparseLinear)
        assert info["probe_s"][best] * 1.05 < info["probe_s"]["dense"]
    x = torch.as_tensor(rng.standard_normal((8, 1, 8, 8)), dtype=torch.float32)
    with torch.no_grad():
        assert _close(small(x), net(x))


def test_export_rule_converts_only_large_very_sparse_layers(rng):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                        nn.Linear(1024, 8)).eval()
    LayerwisePruner(net, {"0": 0.95, "2": 0.6, "4": 0.95}, end_step=0).step()
    small = export_sparse(net, unstructured="rule")
    assert [type(small[i]).__name__ for i in (0, 2, 4)] == [
        "SparseLinear", "Linear", "Linear"]   # 4: too small; 2: not sparse enough
    x = torch.as_tensor(rng.standard_normal((3, 1024)), dtype=torch.float32)
    with torch.no_grad():
        assert _close(small(x), net(x))


def test_export_bad_arguments_raise():
    net = _cnn()
    with pytest.raises(ValueError, match="unstructured must be 'auto', 'rule', 'always' or 'never'"):
        export_sparse(net, unstructured="yes")
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        export_sparse(net, batch_size=0)
    with pytest.raises(ValueError, match="backends must be a non-empty subset"):
        export_sparse(net, backends=("mkl",))
    with pytest.raises(ValueError, match="format must be 'torch' or 'safetensors'"):
        saved_size(net, "onnx")
    with pytest.raises(ValueError, match="backend must be one of"):
        SparseLinear(torch.zeros(2, 2), backend="cusparse")


# ----------------------------------------------------------------- SET
def test_set_regrows_at_random_and_keeps_sparsity(rng):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 1))
    X = torch.as_tensor(rng.standard_normal((128, 8)), dtype=torch.float32)
    y = X[:, :1] ** 2
    pruner = SET(net, ConstantSparsity(0.8, frequency=4), parameters="0.weight",
                 drop_fraction=0.3, random_state=0)
    before = net[0].weight_mask.clone()
    Trainer(lambda m, xb, yb: ((m(xb) - yb) ** 2).mean(), batch_size=16, max_iter=2,
            callbacks=[pruner], generator=torch.Generator().manual_seed(0)).fit(net, X, y)
    after = net[0].weight_mask
    assert float((after == 0).float().mean()) == pytest.approx(0.8, abs=1 / 512)
    assert not torch.equal(before, after)
    with pytest.raises(ValueError, match="grow must be 'gradient' or 'random'"):
        GradualGrowth(net, ConstantSparsity(0.5), grow="sideways")
    assert isinstance(MagnitudePruner, type)
