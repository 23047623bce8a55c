"""Tests of sparsecode.nn.prune (penalties, L0 gates, pruning, reports) and of the
generic training loop it plugs into."""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scipy import sparse  # noqa: E402

from sparsecode.nn._training import Trainer  # noqa: E402
from sparsecode.nn.sae import TopKSAE  # noqa: E402
from sparsecode.nn.prune import (  # noqa: E402
    ConstantSparsity,
    GradualGrowth,
    HardConcreteGate,
    LinearSparsity,
    MagnitudePruner,
    PolynomialDecay,
    RigL,
    prunable_parameters,
    sparsity_penalty,
    sparsity_report,
)


def _mlp(seed=0, n_in=8, hidden=32, n_out=1):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(n_in, hidden), torch.nn.ReLU(),
                               torch.nn.Linear(hidden, n_out))


def _regression(rng, n=256, n_in=8):
    X = rng.standard_normal((n, n_in))
    y = np.tanh(X @ rng.standard_normal((n_in, 1)))
    return torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)


def _mse(module, xb, yb):
    return ((module(xb) - yb) ** 2).mean()


def _zero_fraction(t):
    return float((t == 0).float().mean())


# ----------------------------------------------------------------- schedules
def test_polynomial_decay_matches_tfmot_formula():
    s = PolynomialDecay(0.1, 0.9, begin_step=10, end_step=110, power=3, frequency=10)
    assert s.sparsity(0) == 0.1 and s.sparsity(10) == 0.1
    assert s.sparsity(60) == pytest.approx(0.9 + (0.1 - 0.9) * 0.5 ** 3)
    assert s.sparsity(110) == 0.9 and s.sparsity(1000) == 0.9
    updates = [t for t in range(200) if s.should_update(t)]
    assert updates == list(range(10, 111, 10))


def test_schedule_always_updates_at_end_step():
    s = LinearSparsity(0.0, 0.5, begin_step=0, end_step=25, frequency=10)
    assert [t for t in range(40) if s.should_update(t)] == [0, 10, 20, 25]
    assert s(25) == (True, 0.5)


@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5])
def test_schedule_sparsity_out_of_range_raises(value):
    with pytest.raises(ValueError, match=r"final_sparsity must be in \[0, 1\)"):
        PolynomialDecay(0.0, value, begin_step=0, end_step=10)
    with pytest.raises(ValueError, match=r"target_sparsity must be in \[0, 1\)"):
        ConstantSparsity(value)


def test_schedule_bad_steps_raise():
    with pytest.raises(ValueError, match="end_step must be >= begin_step=5"):
        ConstantSparsity(0.5, begin_step=5, end_step=2)
    with pytest.raises(ValueError, match="end_step must be > begin_step=5"):
        PolynomialDecay(0.0, 0.5, begin_step=5, end_step=5)


def test_pruner_needs_schedule():
    with pytest.raises(TypeError, match="schedule must be a SparsitySchedule"):
        MagnitudePruner(torch.nn.Linear(2, 2), 0.5)


# ----------------------------------------------------------------- magnitude pruning
def test_magnitude_pruner_hits_sparsity_at_end_step_and_pruned_stay_zero(rng):
    net = _mlp()
    X, y = _regression(rng)
    schedule = PolynomialDecay(0.0, 0.8, begin_step=2, end_step=20, frequency=3)
    pruner = MagnitudePruner(schedule=schedule)
    seen = {}

    class Probe:
        def after_step(self, trainer):  # runs after the pruner (listed after it)
            seen[pruner.step_count - 1] = [
                _zero_fraction(m.weight) for m in (net[0], net[2])]
            if pruner.step_count - 1 == 20:
                seen["mask"] = [(m.weight == 0).clone() for m in (net[0], net[2])]

    trainer = Trainer(_mse, learning_rate=1e-2, batch_size=32, max_iter=8,
                      callbacks=[pruner, Probe()], generator=torch.Generator().manual_seed(0))
    trainer.fit(net, X, y)
    assert trainer.step == 64
    assert seen[19][0] < 0.8  # not yet
    assert seen[20] == [pytest.approx(0.8, abs=1 / 256), pytest.approx(0.8, abs=1 / 32)]
    # 44 more optimizer steps: every pruned weight is still exactly zero
    for m, mask in zip((net[0], net[2]), seen["mask"]):
        assert (m.weight[mask] == 0).all()
        assert (m.weight_orig[mask] == 0).all()
    assert seen[63] == seen[20]


def test_magnitude_pruner_removes_smallest(rng):
    lin = torch.nn.Linear(4, 3, bias=False)
    w = torch.as_tensor(rng.permutation(12).reshape(3, 4) + 1.0, dtype=torch.float32)
    with torch.no_grad():
        lin.weight.copy_(w)
    MagnitudePruner(lin, ConstantSparsity(0.25, frequency=1)).step()
    np.testing.assert_array_equal((lin.weight != 0).numpy(), (w > 3).numpy())


def test_structured_pruning_removes_whole_neurons(rng):
    net = _mlp(hidden=20)
    pruner = MagnitudePruner(net, ConstantSparsity(0.5, frequency=1), parameters="0.weight",
                             structured_dim=0)
    norms = net[0].weight.detach().norm(dim=1)
    pruner.step()
    zero_rows = (net[0].weight == 0).all(dim=1)
    assert int(zero_rows.sum()) == 10
    assert norms[zero_rows].max() <= norms[~zero_rows].min()
    assert sparsity_report(net).layers[0]["zero_rows"] == 10


def test_global_pruning_hits_total_sparsity():
    net = _mlp(hidden=16)
    pruner = MagnitudePruner(net, ConstantSparsity(0.6, frequency=1), scope="global")
    pruner.step()
    assert pruner.sparsity() == pytest.approx(0.6, abs=1e-2)
    layers = [_zero_fraction(net[0].weight), _zero_fraction(net[2].weight)]
    assert layers[0] != layers[1]  # allocation differs between layers


def test_pruner_unknown_parameter_raises():
    with pytest.raises(ValueError, match="'decoder.weight' matches no parameter"):
        MagnitudePruner(_mlp(), ConstantSparsity(0.5), parameters="decoder.weight")


def test_pruner_bad_scope_raises():
    with pytest.raises(ValueError, match="scope must be one of"):
        MagnitudePruner(_mlp(), ConstantSparsity(0.5), scope="net")


def test_prune_sae_encoder_through_fit_callbacks(rng):
    X = rng.standard_normal((256, 8))
    pruner = MagnitudePruner(schedule=ConstantSparsity(0.5, frequency=1),
                             parameters="W_enc")
    sae = TopKSAE(16, n_nonzero_coefs=3, max_iter=3, batch_size=64, learning_rate=1e-2,
                  random_state=0).fit(X, callbacks=[pruner])
    assert _zero_fraction(sae.module_.W_enc) == pytest.approx(0.5)
    again = pickle.loads(pickle.dumps(sae))
    np.testing.assert_allclose(again.transform(X), sae.transform(X))
    assert _zero_fraction(again.module_.W_enc) == pytest.approx(0.5)


# ----------------------------------------------------------------- gradual growth / RigL
def test_rigl_keeps_sparsity_and_moves_connections(rng):
    net = _mlp()
    X, y = _regression(rng)
    rigl = RigL(schedule=ConstantSparsity(0.8, end_step=40, frequency=5), drop_fraction=0.3,
                parameters="0.weight", random_state=0)
    snapshots = []

    class Probe:
        def after_step(self, trainer):
            snapshots.append(net[0].weight_mask.clone())

    Trainer(_mse, learning_rate=1e-2, batch_size=32, max_iter=6,
            callbacks=[rigl, Probe()], generator=torch.Generator().manual_seed(0)).fit(
        net, X, y)
    first, last = snapshots[0], snapshots[-1]
    assert _zero_fraction(first) == pytest.approx(0.8, abs=1e-2)
    assert _zero_fraction(last) == pytest.approx(0.8, abs=1e-2)
    assert (first != last).any()  # connectivity moved
    assert (net[0].weight[last == 0] == 0).all()


def test_gradual_growth_grows_where_gradient_is_large():
    lin = torch.nn.Linear(6, 1, bias=False)
    grow = GradualGrowth(lin, LinearSparsity(0.5, 1 / 3, begin_step=0, end_step=1, frequency=1),
                         drop_fraction=0.0, random_state=0)
    mask0 = lin.weight_mask.clone()
    assert int(mask0.sum()) == 3
    # the target depends only on inactive input j: the dense gradient is largest there
    j = int(torch.nonzero(mask0[0] == 0)[0])
    x = torch.randn(64, 6, generator=torch.Generator().manual_seed(0))
    loss = ((lin(x) - 5.0 * x[:, j:j + 1]) ** 2).mean()
    loss.backward()
    grow.step()  # step 0: initial mask
    grow.step()  # step 1 = end_step: grow to sparsity 1/3
    mask1 = lin.weight_mask
    assert int(mask1.sum()) == 4 and mask1[0, j] == 1
    assert (mask1 >= mask0).all()
    assert lin.weight_orig[0, j] == 0  # grown connection starts at zero


def test_structured_growth_adds_whole_units():
    torch.manual_seed(0)
    net = _mlp(n_in=6, hidden=10)
    grow = GradualGrowth(net, LinearSparsity(0.6, 0.3, begin_step=0, end_step=4, frequency=2),
                         parameters="0.weight", structured_dim=0, drop_fraction=0.0,
                         random_state=0)
    x = torch.randn(32, 6, generator=torch.Generator().manual_seed(1))
    active = []
    for _ in range(5):
        net.zero_grad()
        net(x).pow(2).mean().backward()
        grow.step()
        rows = net[0].weight_mask.sum(dim=1)
        assert set(rows.tolist()) <= {0.0, 6.0}  # whole neurons only
        active.append(int((rows > 0).sum()))
    assert active[0] == 4 and active[-1] == 7


# ----------------------------------------------------------------- penalties
def test_l1_and_group_lasso_penalties_oracle():
    lin = torch.nn.Linear(3, 2)
    w = torch.tensor([[3.0, 4.0, 0.0], [0.0, 0.0, 1.0]])
    with torch.no_grad():
        lin.weight.copy_(w)
    assert sparsity_penalty(lin, "l1", alpha=2.0).item() == pytest.approx(2 * 8.0)
    # groups = rows: sqrt(3) * (5 + 1)
    expected = np.sqrt(3) * 6.0
    assert sparsity_penalty(lin, "group_lasso").item() == pytest.approx(expected)
    # groups = columns: sqrt(2) * (3 + 4 + 1)
    assert sparsity_penalty(lin, "group_lasso", group_dim=1).item() == pytest.approx(
        np.sqrt(2) * 8.0)


def test_penalty_selects_parameters_by_pattern():
    net = _mlp()
    total = sparsity_penalty(net, "l1")
    first = sparsity_penalty(net, "l1", parameters="0.*")  # weight and bias of layer 0
    assert first.item() == pytest.approx(
        (net[0].weight.abs().sum() + net[0].bias.abs().sum()).item())
    assert total.item() == pytest.approx(
        (net[0].weight.abs().sum() + net[2].weight.abs().sum()).item())
    assert [q for _, _, q in prunable_parameters(net)] == ["0.weight", "2.weight"]


def test_unknown_penalty_raises():
    with pytest.raises(ValueError, match=r"penalty must be one of \['group_lasso', 'l1'\]"):
        sparsity_penalty(_mlp(), "l2")


def test_l1_penalty_training_zeroes_irrelevant_inputs(rng):
    X = rng.standard_normal((200, 10))
    y = X[:, :3] @ np.array([2.0, -3.0, 1.5])
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y[:, None])
    lin = torch.nn.Linear(10, 1).double()

    def loss(module, xb, yb):
        return _mse(module, xb, yb) + sparsity_penalty(module, "l1", alpha=0.05)

    Trainer(loss, learning_rate=0.05, batch_size=200, max_iter=300).fit(lin, Xt, yt)
    w = lin.weight.detach().numpy().ravel()
    assert np.abs(w[3:]).max() < 0.05 < np.abs(w[:3]).min()


# ----------------------------------------------------------------- L0 gates
def test_hard_concrete_gate_selects_informative_features(rng):
    X = rng.standard_normal((300, 10))
    w = np.zeros(10)
    informative = [1, 4, 7]
    w[informative] = [2.0, -3.0, 1.5]
    y = X @ w + 0.1 * rng.standard_normal(300)
    torch.manual_seed(0)
    gate = HardConcreteGate(10)
    net = torch.nn.Sequential(gate, torch.nn.Linear(10, 1))
    Xt = torch.as_tensor(X, dtype=torch.float32)
    yt = torch.as_tensor(y[:, None], dtype=torch.float32)

    def loss(module, xb, yb):
        return _mse(module, xb, yb) + 0.05 * gate.l0_norm()

    Trainer(loss, learning_rate=0.05, batch_size=300, max_iter=400).fit(net, Xt, yt)
    assert np.flatnonzero(gate.mask().numpy()).tolist() == informative
    gate.eval()
    assert gate(torch.ones(1, 10)).detach().numpy()[0, [0, 2, 3]].max() == 0.0


def test_hard_concrete_gate_expected_l0_at_init():
    gate = HardConcreteGate(20, init_keep=0.3)
    assert gate.l0_norm().item() == pytest.approx(6.0)


def test_hard_concrete_gate_bad_args():
    with pytest.raises(ValueError, match=r"init_keep must be in \(0, 1\)"):
        HardConcreteGate(5, init_keep=1.0)
    with pytest.raises(ValueError, match="n_features must be a positive integer"):
        HardConcreteGate(0)


# ----------------------------------------------------------------- report
def test_sparsity_report_sizes_match_scipy_csr():
    lin = torch.nn.Linear(50, 40)
    MagnitudePruner(lin, ConstantSparsity(0.9, frequency=1)).step()
    rep = sparsity_report(lin)
    w = lin.weight.detach().numpy()
    csr = sparse.csr_matrix(w)
    csr.indices = csr.indices.astype(np.int32)
    csr.indptr = csr.indptr.astype(np.int32)
    layer = rep.layers[0]
    assert layer["name"] == "weight" and layer["shape"] == (40, 50)
    assert layer["sparsity"] == pytest.approx(0.9)
    assert layer["csr_bytes"] == csr.data.nbytes + csr.indices.nbytes + csr.indptr.nbytes
    assert rep.dense_bytes == (50 * 40 + 40) * 4
    assert rep.sparse_bytes == layer["csr_bytes"] + 40 * 4
    assert rep.serialized_sparse_bytes < rep.serialized_dense_bytes
    assert "| weight | 40x50 |" in rep.to_markdown()


def test_trainer_unknown_optimizer_raises():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        Trainer(_mse, optimizer="lbfgs")


def test_trainer_early_stopping_needs_validation(rng):
    X, y = _regression(rng)
    with pytest.raises(ValueError, match="early_stopping=True needs validation data"):
        Trainer(_mse, early_stopping=True).fit(_mlp(), X, y)
