"""Tests of the LISTA training recipe and the UnrolledSparseCoder estimator."""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from sparsecode.nn.unrolled.estimator import UnrolledSparseCoder  # noqa: E402
from sparsecode.nn.unrolled.training import (  # noqa: E402
    SyntheticProblem,
    fista_targets,
    nmse_db,
    stagewise_stages,
    train_end_to_end,
    train_stagewise,
)
from sparsecode.nn.unrolled import ALISTA, LISTA, LISTACP, UnrolledISTA  # noqa: E402

torch.set_num_threads(1)

# tiny max_iter on purpose: the end-to-end loop warns that it did not converge
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

M, N = 20, 40


@pytest.fixture
def A(rng):
    A = rng.standard_normal((M, N)) / np.sqrt(M)
    return A / np.linalg.norm(A, axis=0)


def ista_nmse(A, y, x, alpha, n_iter):
    L = np.linalg.norm(A, 2) ** 2
    z = np.zeros_like(x)
    for _ in range(n_iter):
        g = z - (z @ A.T - y) @ A / L
        z = np.sign(g) * np.maximum(np.abs(g) - alpha / L, 0)
    return nmse_db(z, x)


# -- problem generator -----------------------------------------------------------------
def test_synthetic_problem_statistics(A):
    prob = SyntheticProblem(A, sparsity=0.1, snr=20.0)
    y, x = prob.sample(4000, torch.Generator().manual_seed(0), dtype=torch.float64)
    assert y.shape == (4000, M) and x.shape == (4000, N)
    assert abs((x != 0).double().mean().item() - 0.1) < 0.01
    noise = y - x @ torch.as_tensor(A).T
    snr = 10 * np.log10(((x @ torch.as_tensor(A).T) ** 2).mean().item()
                        / (noise ** 2).mean().item())
    assert abs(snr - 20.0) < 0.5


def test_synthetic_problem_noiseless_and_seeded(A):
    prob = SyntheticProblem(A, sparsity=0.2)
    y1, x1 = prob.sample_numpy(50, random_state=3)
    y2, x2 = prob.sample_numpy(50, random_state=3)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_allclose(y1, x1 @ A.T, atol=1e-12)
    assert not np.array_equal(prob.sample_numpy(50, random_state=4)[1], x1)


@pytest.mark.parametrize("sparsity", [0.0, 1.5])
def test_synthetic_problem_rejects_bad_sparsity(A, sparsity):
    with pytest.raises(ValueError, match=r"sparsity must be a float in \(0, 1\]"):
        SyntheticProblem(A, sparsity=sparsity)


# -- stage-wise schedule ---------------------------------------------------------------
def test_stagewise_stages_schedule(A):
    net = LISTACP(A, 3, 0.1)
    stages = stagewise_stages(net, refine=(0.2, 0.02), decay_rate=0.3)
    assert len(stages) == 9
    layer, name, groups = stages[0]
    assert layer == 0 and groups == [(net.layer_parameters(0), 1.0)]
    _, _, groups = stages[-1]  # layer 3, refine 0.02: multipliers 0.02 * 0.3^(2, 1, 0)
    np.testing.assert_allclose([m for _, m in groups], [0.02 * 0.09, 0.02 * 0.3, 0.02])


def test_stagewise_stages_tied_weights_trained_once(A):
    net = LISTA(A, 3, 0.1, tied=True)
    stages = stagewise_stages(net)
    new_params = [ps for _, name, g in stages if name.endswith("new") for ps, _ in g]
    assert any(p is net.W[0] for p in new_params[0])
    assert not any(p is net.W[0] for ps in new_params[1:] for p in ps)


# -- training works ----------------------------------------------------------------------
def test_trained_model_beats_ista(A):
    """4 layers, a few hundred steps: better than 4 ISTA iterations (best alpha)."""
    prob = SyntheticProblem(A, sparsity=0.1)
    net = LISTACP(A, 4, 0.1)
    hist = train_stagewise(net, prob, lr=5e-3, max_steps_per_stage=40, n_validation=256,
                           eval_every=10, random_state=0, device="cpu")
    assert len(hist["stages"]) == 12
    y, x = prob.sample_numpy(500, random_state=123)
    with torch.no_grad():
        out = net(torch.as_tensor(y, dtype=torch.float32)).numpy()
    learned = nmse_db(out, x)
    best_ista = min(ista_nmse(A, y, x, a, 4) for a in [0.01, 0.03, 0.1, 0.3])
    assert learned < best_ista - 2.0, (learned, best_ista)
    assert hist["val_nmse_db"][-1] < hist["val_nmse_db"][0]


def test_train_stagewise_reproducible_and_resumes(A, tmp_path):
    prob = SyntheticProblem(A, sparsity=0.1, snr=30.0)

    def run(**kw):
        net = ALISTA(A, 2, 0.1)
        train_stagewise(net, prob, max_steps_per_stage=6, n_validation=64, eval_every=2,
                        random_state=7, device="cpu", **kw)
        return [p.detach().clone() for p in net.parameters()]

    full = run()
    again = run()
    ckpt = tmp_path / "ckpt.pt"
    net = ALISTA(A, 2, 0.1)
    h = train_stagewise(net, prob, max_steps_per_stage=6, n_validation=64, eval_every=2,
                        random_state=7, device="cpu", checkpoint=str(ckpt), max_stages=2)
    assert len(h["stages"]) == 2 and ckpt.exists()
    resumed = run(checkpoint=str(ckpt))
    for a, b, c in zip(full, again, resumed):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        torch.testing.assert_close(a, c, rtol=0, atol=0)
    assert not torch.equal(full[0], ALISTA(A, 2, 0.1).gamma[0].detach())  # it trained


def test_train_end_to_end_on_pairs(A):
    prob = SyntheticProblem(A, sparsity=0.1)
    y, x = prob.sample_numpy(512, random_state=1)
    net = UnrolledISTA(A, 3, 0.05)
    before = nmse_db(net(torch.as_tensor(y, dtype=torch.float32)).detach().numpy(), x)
    hist = train_end_to_end(net, y, x, lr=1e-2, max_epochs=15, random_state=0, device="cpu")
    after = nmse_db(net(torch.as_tensor(y, dtype=torch.float32)).detach().numpy(), x)
    assert len(hist) >= 1 and after < before - 1.0


def test_fista_targets_solve_lasso(A, rng):
    y = rng.standard_normal((5, M))
    alpha = 0.1
    z = fista_targets(y, A, alpha=alpha, max_iter=3000, tol=1e-12)
    grad = (z @ A.T - y) @ A  # optimality: |grad| <= alpha, = -alpha sign(z) on support
    assert np.all(np.abs(grad) <= alpha + 1e-6)
    on = z != 0
    np.testing.assert_allclose(grad[on], -alpha * np.sign(z[on]), atol=1e-6)


def test_train_end_to_end_fista_targets(A, rng):
    y = rng.standard_normal((200, M))
    net = LISTACP(A, 2, 0.1)
    hist = train_end_to_end(net, y, None, lr=1e-3, max_epochs=2, validation_fraction=0.0,
                            random_state=0, device="cpu")
    assert np.isfinite(hist[-1]["loss"])


# -- training errors ----------------------------------------------------------------------
def test_train_stagewise_rejects_mismatched_problem(A):
    prob = SyntheticProblem(np.ones((M + 1, N)))
    with pytest.raises(ValueError, match=r"problem.A has shape"):
        train_stagewise(LISTACP(A, 2), prob, max_steps_per_stage=1)


def test_train_end_to_end_rejects_bad_inputs(A):
    net = LISTACP(A, 2)
    with pytest.raises(ValueError, match=rf"Y must have shape \(n_samples, {M}\)"):
        train_end_to_end(net, np.zeros((4, M + 1)), np.zeros((4, N)))
    Y = np.zeros((4, M))
    Y[0, 0] = np.nan
    with pytest.raises(ValueError, match="Y contains NaN or infinity"):
        train_end_to_end(net, Y, np.zeros((4, N)))
    with pytest.raises(ValueError, match=rf"X must have shape \(4, {N}\)"):
        train_end_to_end(net, np.zeros((4, M)), np.zeros((4, N - 1)))


# -- estimator ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_estimator_fit_predict_pickle(A, dtype):
    prob = SyntheticProblem(A, sparsity=0.1)
    y, x = prob.sample_numpy(256, random_state=0)
    est = UnrolledSparseCoder(A, model="lista-cp", n_layers=3, max_iter=3, random_state=0)
    y_in = y.astype(dtype)
    y_copy = y_in.copy()
    est.fit(y_in, x)
    out = est.predict(y_in)
    np.testing.assert_array_equal(y_in, y_copy)
    assert out.shape == (256, N) and out.dtype == dtype
    assert est.components_.shape == (N, M)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.transform(y_in), out)
    assert isinstance(again.module_, LISTACP)


def test_estimator_stagewise_without_data(A):
    est = UnrolledSparseCoder(A, model="alista", n_layers=2, max_iter=3, random_state=0)
    est.fit()
    assert est.n_features_in_ == M
    assert len(est.history_["stages"]) == 6
    assert est.predict(np.zeros((2, M))).shape == (2, N)


def test_estimator_errors(A):
    with pytest.raises(ValueError, match=rf"X must have shape \(n_samples, {M}\)"):
        UnrolledSparseCoder(A, n_layers=2, max_iter=1).fit(np.zeros((10, M + 2)))
    with pytest.raises(ValueError, match="operator is None"):
        UnrolledSparseCoder(n_layers=2, max_iter=1).fit(np.zeros((10, M)))
    with pytest.raises(ValueError, match="n_layers"):
        UnrolledSparseCoder(A, n_layers=0).fit(np.zeros((10, M)))
    X = np.ones((10, M))
    X[3, 3] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        UnrolledSparseCoder(A, n_layers=2, max_iter=1).fit(X)


# scikit-learn's checks, with the operator estimated from the pairs (operator=None: the
# estimator then declares ``target_tags.required`` and raises sklearn's "requires y"
# message without y). All checks pass; this dict is where a legitimate failure would go.
EXPECTED_FAILED = {}


@parametrize_with_checks(
    [UnrolledSparseCoder(model="lista-cp", n_layers=2, max_iter=2, random_state=0)],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# -- new layers start from the trained previous layer ----------------------------------
@pytest.mark.parametrize("make", [
    lambda A: ALISTA(A, 3, 0.1),
    lambda A: LISTACP(A, 3, 0.1),
    lambda A: LISTA(A, 3, 0.1, tied=True),
    lambda A: LISTA(A, 3, 0.1),
])
def test_init_layer_from_copies_own_parameters(A, make):
    net = make(A)
    with torch.no_grad():
        for p in net.own_parameters(0):
            p.add_(torch.rand_like(p) + 0.5)
    shared = [p.detach().clone() for p in net.parameters()
              if not any(p is q for k in range(3) for q in net.own_parameters(k))]
    net.init_layer_from(2, 0)
    for a, b in zip(net.own_parameters(2), net.own_parameters(0)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        assert a is not b
    assert not torch.equal(net.own_parameters(1)[-1], net.own_parameters(0)[-1])
    still = [p for p in net.parameters()
             if not any(p is q for k in range(3) for q in net.own_parameters(k))]
    for a, b in zip(still, shared):  # tied weights untouched
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("mode", ["previous", "model"])
def test_train_stagewise_new_layer_init(A, mode):
    """With a vanishing learning rate nothing trains, so layer 2 shows where it started."""
    prob = SyntheticProblem(A, sparsity=0.1)
    net = ALISTA(A, 2, 0.1)
    with torch.no_grad():
        net.theta[0].fill_(0.123)
        net.gamma[0].fill_(0.456)
    theta1, gamma1 = net.theta[1].item(), net.gamma[1].item()
    train_stagewise(net, prob, lr=1e-30, max_steps_per_stage=2, n_validation=16,
                    eval_every=1, device="cpu", new_layer_init=mode)
    if mode == "previous":
        assert net.theta[1].item() == pytest.approx(0.123, abs=1e-6)
        assert net.gamma[1].item() == pytest.approx(0.456, abs=1e-6)
    else:
        assert net.theta[1].item() == pytest.approx(theta1, abs=1e-6)
        assert net.gamma[1].item() == pytest.approx(gamma1, abs=1e-6)


def test_train_stagewise_rejects_bad_new_layer_init(A):
    with pytest.raises(ValueError, match="new_layer_init must be 'previous' or 'model'"):
        train_stagewise(ALISTA(A, 2), SyntheticProblem(A), new_layer_init="zeros")


@pytest.mark.parametrize("k, j", [(3, 0), (0, -1), (1.0, 0), (True, 0)])
def test_init_layer_from_rejects_bad_layer_index(A, k, j):
    net = ALISTA(A, 3, 0.1)
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(ValueError, match=r"must be a layer index in \[0, 2\]"):
        net.init_layer_from(k, j)
    for a, b in zip(net.parameters(), before):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
