"""Tests of the unrolled networks (sparsecode.nn.unrolled, sparsecode.nn.unrolled.alista)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sparsecode.nn.unrolled.alista import (  # noqa: E402
    analytic_weight,
    generalized_coherence,
    mutual_coherence,
)
from sparsecode.nn.unrolled import (  # noqa: E402
    ALISTA,
    LISTA,
    LISTACP,
    LISTACPSS,
    MODELS,
    UnrolledFISTA,
    UnrolledISTA,
    make_model,
)

N_MEAS, N_FEAT, N_LAYERS, ALPHA = 15, 30, 6, 0.05


@pytest.fixture
def problem(rng):
    A = rng.standard_normal((N_MEAS, N_FEAT)) / np.sqrt(N_MEAS)
    x = rng.standard_normal((7, N_FEAT)) * (rng.random((7, N_FEAT)) < 0.2)
    y = x @ A.T + 0.01 * rng.standard_normal((7, N_MEAS))
    return A, x, y


def ista_reference(A, y, alpha, n_iter, *, accelerated=False):
    """Plain-NumPy ISTA/FISTA from x_0 = 0 with step 1/L (the oracle)."""
    L = np.linalg.norm(A, 2) ** 2
    x = np.zeros((y.shape[0], A.shape[1]))
    z, t = x, 1.0
    for _ in range(n_iter):
        g = z - (z @ A.T - y) @ A / L
        x_new = np.sign(g) * np.maximum(np.abs(g) - alpha / L, 0.0)
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        z = x_new + ((t - 1) / t_new) * (x_new - x) if accelerated else x_new
        x, t = x_new, t_new
    return x


def _fista_oracle(A, y, alpha, n_iter, accelerated):
    """The library's classic kernel (T iterations from 0, no restart, step 1/L)."""
    import warnings

    from sparsecode.coding._fista import fista
    from sklearn.exceptions import ConvergenceWarning

    L = np.linalg.norm(A, 2) ** 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        codes = fista(y, A.T, alpha=alpha, max_iter=n_iter, tol=0.0, restart=False,
                      accelerated=accelerated, lipschitz=L)
    # the oracle itself agrees with the plain-NumPy loop
    np.testing.assert_allclose(
        codes, ista_reference(A, y, alpha, n_iter, accelerated=accelerated), atol=1e-10)
    return codes


EQUIVALENT = [
    ("ista", {}, False),
    ("fista", {}, True),
    ("lista", {}, False),
    ("lista", {"tied": True}, False),
    ("lista-cp", {}, False),
    ("lista-cp", {"tied": True}, False),
    ("lista-cpss", {"support_selection": (0.0, 0.0)}, False),
    ("lista-cpss", {"support_selection": None}, False),
    ("alista", {"weight": "A", "support_selection": None}, False),
]


@pytest.mark.parametrize("name,kwargs,accelerated", EQUIVALENT,
                         ids=[f"{n}-{sorted(k)}" for n, k, _ in EQUIVALENT])
@pytest.mark.parametrize("n_layers", [1, N_LAYERS])
def test_model_init_equals_ista(problem, name, kwargs, accelerated, n_layers):
    A, _, y = problem
    kwargs = {k: (A if v == "A" else v) for k, v in kwargs.items()}
    net = make_model(name, A, n_layers, ALPHA, dtype=torch.float64, **kwargs)
    with torch.no_grad():
        out = net(torch.as_tensor(y)).numpy()
    expected = _fista_oracle(A, y, ALPHA, n_layers, accelerated)
    np.testing.assert_allclose(out, expected, atol=1e-6, rtol=0)
    assert np.any(expected != 0)  # the oracle is not trivially zero


def test_model_return_all_matches_iterates(problem):
    A, _, y = problem
    net = LISTA(A, N_LAYERS, ALPHA, dtype=torch.float64)
    with torch.no_grad():
        outs = net(torch.as_tensor(y), return_all=True)
    assert len(outs) == N_LAYERS
    for k, out in enumerate(outs, start=1):
        np.testing.assert_allclose(out.numpy(), ista_reference(A, y, ALPHA, k), atol=1e-10)


def test_fista_differs_from_ista(problem):
    # guards the FISTA row of the equivalence test against a silently-ISTA model
    A, _, y = problem
    a = ista_reference(A, y, ALPHA, N_LAYERS, accelerated=True)
    b = ista_reference(A, y, ALPHA, N_LAYERS)
    assert np.abs(a - b).max() > 1e-3


def test_support_selection_changes_output(problem):
    A, _, y = problem
    yt = torch.as_tensor(y)
    plain = LISTACP(A, N_LAYERS, ALPHA, dtype=torch.float64)(yt)
    ss = LISTACPSS(A, N_LAYERS, ALPHA, support_selection=(10.0, 30.0), dtype=torch.float64)(yt)
    assert not torch.allclose(plain, ss)
    net = LISTACPSS(A, 20, ALPHA, support_selection=(1.2, 13.0))
    assert net.layer_percent(0) == pytest.approx(1.2)
    assert net.layer_percent(19) == pytest.approx(13.0)


def test_unrolled_operator_input_uses_to_matrix(problem):
    A, _, y = problem

    class Op:
        shape = A.shape

        def to_matrix(self):
            return A

    a = UnrolledISTA(Op(), 3, ALPHA, dtype=torch.float64)(torch.as_tensor(y))
    b = UnrolledISTA(A, 3, ALPHA, dtype=torch.float64)(torch.as_tensor(y))
    torch.testing.assert_close(a, b)


def test_unrolled_library_operator(problem):
    from sparsecode.operators import MatrixOperator

    A, _, y = problem
    a = LISTACP(MatrixOperator(A), 3, ALPHA, dtype=torch.float64)(torch.as_tensor(y))
    np.testing.assert_allclose(a.detach().numpy(), ista_reference(A, y, ALPHA, 3), atol=1e-8)


def test_model_layer_parameters_cover_all(problem):
    A, _, _ = problem
    for name in MODELS:
        net = make_model(name, A, 4, ALPHA)
        ids = {id(p) for k in range(4) for p in net.layer_parameters(k)}
        assert ids == {id(p) for p in net.parameters()}, name


def test_model_input_not_modified(problem):
    A, _, y = problem
    A0 = A.copy()
    yt = torch.as_tensor(y.copy())
    LISTACPSS(A, 3, ALPHA, dtype=torch.float64)(yt)
    np.testing.assert_array_equal(A, A0)
    np.testing.assert_array_equal(yt.numpy(), y)


def test_model_float32_default(problem):
    A, _, y = problem
    out = ALISTA(A, 3, ALPHA)(torch.as_tensor(y, dtype=torch.float32))
    assert out.dtype == torch.float32 and out.shape == (y.shape[0], N_FEAT)


def test_gradients_reach_thresholds(problem):
    A, x, y = problem
    net = UnrolledFISTA(A, 3, ALPHA, dtype=torch.float64)
    loss = ((net(torch.as_tensor(y)) - torch.as_tensor(x)) ** 2).sum()
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    assert any(p.grad.abs().sum() > 0 for p in net.theta)


# -- ALISTA analytic weight ------------------------------------------------------------
def test_analytic_weight_constraint_and_optimality(rng):
    A = rng.standard_normal((12, 25))
    A /= np.linalg.norm(A, axis=0)
    W = analytic_weight(A)
    np.testing.assert_allclose(np.diag(W.T @ A), 1.0, atol=1e-10)
    f = np.linalg.norm(W.T @ A) ** 2
    # KKT: every column w_i is G^{-1} a_i scaled; any feasible perturbation increases f
    for _ in range(5):
        D = rng.standard_normal(W.shape)
        D -= A * (np.einsum("ij,ij->j", D, A) / np.einsum("ij,ij->j", A, A))  # keep diag
        np.testing.assert_allclose(np.diag((W + 1e-3 * D).T @ A), 1.0, atol=1e-10)
        assert np.linalg.norm((W + 1e-3 * D).T @ A) ** 2 > f
    assert f < np.linalg.norm(A.T @ A) ** 2  # W = A is feasible (unit columns)


def test_analytic_weight_lowers_coherence_on_cs_matrix(rng):
    A = rng.standard_normal((100, 200))
    A /= np.linalg.norm(A, axis=0)
    assert generalized_coherence(analytic_weight(A), A) < mutual_coherence(A)


def test_alista_analytic_is_ista_like(problem):
    """ALISTA with the analytic W: x1 = soft(gamma y W, alpha*gamma), gamma = 1/||W^T A||."""
    A, _, y = problem
    W = analytic_weight(A)
    gamma = 1.0 / np.linalg.norm(W.T @ A, 2)
    net = ALISTA(A, 1, ALPHA, support_selection=None, dtype=torch.float64)
    g = gamma * (y @ W)
    expected = np.sign(g) * np.maximum(np.abs(g) - ALPHA * gamma, 0)
    np.testing.assert_allclose(net(torch.as_tensor(y)).detach().numpy(), expected, atol=1e-10)


# -- errors ---------------------------------------------------------------------------
@pytest.mark.parametrize("n_layers", [0, -3])
def test_model_rejects_bad_n_layers(problem, n_layers):
    A, _, _ = problem
    with pytest.raises(ValueError, match="n_layers must be an integer >= 1"):
        LISTA(A, n_layers, ALPHA)


def test_model_rejects_non_integer_n_layers(problem):
    A, _, _ = problem
    with pytest.raises(TypeError, match="n_layers must be an integer"):
        LISTACP(A, 2.5, ALPHA)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_model_rejects_non_finite_operator(problem, bad):
    A, _, _ = problem
    A = A.copy()
    A[0, 0] = bad
    with pytest.raises(ValueError, match="A contains NaN or infinity"):
        LISTACPSS(A, 2, ALPHA)


def test_model_rejects_1d_operator():
    with pytest.raises(ValueError, match="A must be a 2-D matrix"):
        UnrolledISTA(np.ones(5), 2, ALPHA)


def test_model_rejects_measurement_mismatch(problem):
    A, _, _ = problem
    net = LISTA(A, 2, ALPHA)
    with pytest.raises(ValueError, match=rf"y must have shape \(n_samples, {N_MEAS}\)"):
        net(torch.zeros(3, N_MEAS + 1))


def test_alista_rejects_weight_shape_mismatch(problem):
    A, _, _ = problem
    with pytest.raises(ValueError, match="weight must have the shape of A"):
        ALISTA(A, 2, ALPHA, weight=np.ones((N_MEAS, N_FEAT + 1)))


def test_model_rejects_negative_alpha(problem):
    A, _, _ = problem
    with pytest.raises(ValueError, match="alpha must be a non-negative"):
        UnrolledFISTA(A, 2, -1.0)


def test_make_model_unknown_name(problem):
    A, _, _ = problem
    with pytest.raises(ValueError, match="model must be one of"):
        make_model("gista", A, 2)


def test_support_selection_rejects_bad_percent(problem):
    A, _, _ = problem
    with pytest.raises(ValueError, match="support_selection percentages"):
        LISTACPSS(A, 2, support_selection=(150.0, 13.0))
