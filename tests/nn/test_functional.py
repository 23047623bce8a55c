"""Tests of sparsecode.nn.functional and sparsecode.nn.layers (thresholds, sparsemax)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sparsecode.nn import functional as F  # noqa: E402
from sparsecode.nn import layers as L  # noqa: E402


def _t(a):
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


# ----------------------------------------------------------------- thresholds
def test_soft_threshold_matches_proximal_operator(rng):
    x = rng.standard_normal((20, 7)) * 2
    theta = 0.7
    expected = np.sign(x) * np.maximum(np.abs(x) - theta, 0)
    np.testing.assert_allclose(F.soft_threshold(_t(x), theta).numpy(), expected)


def test_soft_threshold_is_prox_of_l1(rng):
    # prox property: eta(x) minimises 0.5||z - x||^2 + theta ||z||_1, checked on a grid
    x = rng.standard_normal(5)
    theta = 0.4
    z = F.soft_threshold(_t(x), theta).numpy()
    grid = np.linspace(-4, 4, 8001)
    for xi, zi in zip(x, z):
        obj = 0.5 * (grid - xi) ** 2 + theta * np.abs(grid)
        assert abs(grid[np.argmin(obj)] - zi) < 2e-3


def test_soft_threshold_per_feature_theta_and_gradient():
    x = torch.tensor([[3.0, -3.0, 0.2]])
    theta = torch.tensor([1.0, 2.0, 0.5], requires_grad=True)
    out = F.soft_threshold(x, theta)
    assert out.tolist() == [[2.0, -1.0, 0.0]]
    out.sum().backward()
    # d/dtheta sign(x)(|x| - theta) = -sign(x) on the support, 0 elsewhere
    assert theta.grad.tolist() == [-1.0, 1.0, 0.0]


def test_hard_threshold_keeps_large_entries(rng):
    x = rng.standard_normal((6, 9))
    out = F.hard_threshold(_t(x), 0.5).numpy()
    np.testing.assert_array_equal(out, np.where(np.abs(x) > 0.5, x, 0.0))


@pytest.mark.parametrize("k", [1, 3, 9])
def test_topk_exactly_k_nonzeros_largest_magnitudes(rng, k):
    x = rng.standard_normal((12, 9))
    out = F.topk(_t(x), k).numpy()
    assert ((out != 0).sum(axis=1) == k).all()
    kth = -np.sort(-np.abs(x), axis=1)[:, k - 1:k]
    np.testing.assert_array_equal(out, np.where(np.abs(x) >= kth, x, 0.0))


def test_topk_by_value_along_dim0(rng):
    x = rng.standard_normal((8, 4))
    out = F.topk(_t(x), 2, dim=0, absolute=False).numpy()
    assert ((out != 0).sum(axis=0) == 2).all()
    kth = -np.sort(-x, axis=0)[1]
    np.testing.assert_array_equal(out, np.where(x >= kth, x, 0.0))


@pytest.mark.parametrize("k", [0, 10])
def test_topk_bad_k_raises(k):
    with pytest.raises(ValueError, match=r"k must be in \[1, 9\]"):
        F.topk(torch.zeros(2, 9), k)


def test_topk_non_integer_k_raises():
    with pytest.raises(TypeError, match="k must be an integer"):
        F.topk(torch.zeros(2, 9), 2.5)


def test_support_selection_threshold_passes_top_fraction():
    x = torch.tensor([[4.0, -2.0, 1.5, 0.2, -3.0, 0.1, 0.0, 0.5, 2.5, -0.3]])
    out = F.support_selection_threshold(x, 1.0, 0.3)  # 3 largest |x|: 4, -3, 2.5 pass
    expected = [4.0, -1.0, 0.5, 0.0, -3.0, 0.0, 0.0, 0.0, 2.5, 0.0]
    np.testing.assert_allclose(out.numpy(), [expected])


@pytest.mark.parametrize("fraction, reference", [(0.0, "soft"), (1.0, "hard")])
def test_support_selection_threshold_limits(rng, fraction, reference):
    x = _t(rng.standard_normal((5, 10)))
    out = F.support_selection_threshold(x, 0.5, fraction)
    ref = F.soft_threshold(x, 0.5) if reference == "soft" else F.hard_threshold(x, 0.5)
    torch.testing.assert_close(out, ref)


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_support_selection_threshold_bad_fraction(fraction):
    with pytest.raises(ValueError, match=r"fraction must be in \[0, 1\]"):
        F.support_selection_threshold(torch.zeros(3), 0.1, fraction)


def test_threshold_dispatch_unknown_mode():
    with pytest.raises(ValueError, match="mode must be one of"):
        F.threshold(torch.zeros(3), 0.1, mode="firm")


def test_jumprelu_forward_and_threshold_gradient():
    x = torch.tensor([0.5, 1.0, 1.2, 3.0], dtype=torch.float64)
    theta = torch.tensor(1.1, dtype=torch.float64, requires_grad=True)
    out = F.jumprelu(x, theta, bandwidth=0.5)
    assert out.tolist() == [0.0, 0.0, 1.2, 3.0]
    out.sum().backward()
    # kernel window |x - theta| < 0.25 holds x = 1.0 and 1.2: -theta/eps each
    assert theta.grad.item() == pytest.approx(-2 * 1.1 / 0.5)


def test_heaviside_ste_counts_and_pushes_threshold_up():
    x = torch.tensor([[0.5, 1.05, 2.0]])
    theta = torch.tensor([1.0, 1.0, 1.0], requires_grad=True)
    l0 = F.heaviside_ste(x, theta, bandwidth=0.2).sum()
    assert l0.item() == 2.0
    l0.backward()
    assert theta.grad.tolist() == pytest.approx([0.0, -5.0, 0.0])


# ----------------------------------------------------------------- sparsemax
def test_sparsemax_on_simplex(rng):
    x = _t(rng.standard_normal((50, 8)) * 3)
    p = F.sparsemax(x).numpy()
    assert (p >= 0).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize(
    "z, expected",
    [
        ([0.5, 0.2, -1.0], [0.65, 0.35, 0.0]),  # tau = -0.15, support of 2
        ([1.0, 1.0, 1.0, 1.0], [0.25, 0.25, 0.25, 0.25]),  # ties: uniform
        ([0.0, 0.1, 0.2], [1 / 3 - 0.1, 1 / 3, 1 / 3 + 0.1]),  # dense case
        ([3.0, 0.0, -1.0], [1.0, 0.0, 0.0]),  # one-hot
    ],
)
def test_sparsemax_closed_form(z, expected):
    np.testing.assert_allclose(F.sparsemax(_t(z)).numpy(), expected, atol=1e-12)


def test_sparsemax_is_euclidean_projection(rng):
    # Oracle: the projection onto the simplex by bisection on tau.
    x = rng.standard_normal(12)
    lo, hi = x.min() - 1, x.max()
    for _ in range(200):
        tau = (lo + hi) / 2
        lo, hi = (tau, hi) if np.maximum(x - tau, 0).sum() > 1 else (lo, tau)
    np.testing.assert_allclose(F.sparsemax(_t(x)).numpy(), np.maximum(x - lo, 0), atol=1e-10)


def test_sparsemax_one_hot_for_well_separated_inputs(rng):
    x = rng.standard_normal((10, 6))
    winner = rng.integers(0, 6, 10)
    x[np.arange(10), winner] += 10
    p = F.sparsemax(_t(x)).numpy()
    np.testing.assert_array_equal(p, np.eye(6)[winner])


@pytest.mark.parametrize("dim", [0, -1])
def test_sparsemax_gradcheck(rng, dim):
    x = _t(rng.standard_normal((4, 6)) * 2).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: F.sparsemax(a, dim=dim), (x,))


def test_sparsemax_backward_matches_jacobian(rng):
    # J = diag(s) - s s^T / |S|, s the support indicator
    x = _t(rng.standard_normal(7))
    p = F.sparsemax(x)
    s = (p > 0).double()
    J = torch.diag(s) - torch.outer(s, s) / s.sum()
    J_auto = torch.autograd.functional.jacobian(F.sparsemax, x)
    torch.testing.assert_close(J_auto, J)


def test_entmax15_on_simplex_sparse_and_between(rng):
    x = _t(rng.standard_normal((30, 8)) * 3)
    p = F.entmax15(x)
    np.testing.assert_allclose(p.sum(-1).numpy(), 1.0, atol=1e-12)
    assert (p >= 0).all()
    # at least as many nonzeros as sparsemax, fewer than softmax
    nnz_e = (p > 0).sum().item()
    assert (F.sparsemax(x) > 0).sum().item() <= nnz_e < p.numel()


def test_entmax15_closed_form_two_entries():
    # p_i = (x_i/2 - tau)^2 on the support, so sqrt(p1) - sqrt(p2) = (x1 - x2)/2;
    # with sqrt(p1) = a + d, sqrt(p2) = a: (a + d)^2 + a^2 = 1, d = 0.2.
    x = _t([0.3, -0.1])
    p = F.entmax15(x).numpy()
    a = (-0.2 + np.sqrt(2 - 0.04)) / 2
    np.testing.assert_allclose(p, [(a + 0.2) ** 2, a**2], atol=1e-12)
    assert np.sqrt(p[0]) - np.sqrt(p[1]) == pytest.approx(0.2)
    assert p.sum() == pytest.approx(1.0)


def test_entmax15_gradcheck(rng):
    x = _t(rng.standard_normal((3, 5)) * 2).requires_grad_(True)
    assert torch.autograd.gradcheck(F.entmax15, (x,))


# ----------------------------------------------------------------- layers
def test_soft_threshold_layer_learnable_per_feature():
    layer = L.SoftThreshold(0.5, n_features=3)
    assert isinstance(layer.theta, torch.nn.Parameter)
    assert layer.theta.shape == (3,)
    out = layer(torch.tensor([[1.0, -1.0, 0.2]]))
    torch.testing.assert_close(out.detach(), torch.tensor([[0.5, -0.5, 0.0]]))


def test_hard_threshold_layer_theta_is_buffer():
    layer = L.HardThreshold(0.5)
    assert "theta" in dict(layer.named_buffers())
    assert not list(layer.parameters())


def test_support_selection_layer_matches_functional(rng):
    layer = L.SupportSelectionSoftThreshold(0.3, fraction=0.2, n_features=10)
    x = torch.as_tensor(rng.standard_normal((4, 10)), dtype=torch.float32)
    torch.testing.assert_close(layer(x), F.support_selection_threshold(x, layer.theta, 0.2))


def test_make_threshold_unknown_name():
    with pytest.raises(ValueError, match="threshold name must be one of"):
        L.make_threshold("firm")


def test_threshold_layer_negative_theta_raises():
    with pytest.raises(ValueError, match="theta must be a non-negative float"):
        L.SoftThreshold(-1.0)


@pytest.mark.parametrize("cls", [L.Sparsemax, L.Entmax15])
def test_sparse_probability_layers(cls, rng):
    x = torch.as_tensor(rng.standard_normal((3, 5)))
    np.testing.assert_allclose(cls()(x).sum(-1).numpy(), 1.0, atol=1e-12)


def test_import_sparsecode_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, sparsecode; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("fn", [F.sparsemax, F.entmax15])
def test_simplex_maps_infinite_entries(fn):
    inf = float("inf")
    x = torch.tensor([[inf, 1.0, inf], [-inf, 1.0, 2.0], [-inf, -inf, 0.0]],
                     dtype=torch.float64)
    out = fn(x)
    torch.testing.assert_close(out[0], torch.tensor([0.5, 0.0, 0.5], dtype=torch.float64))
    # -inf entries get 0 and the rest is the projection of the finite entries
    torch.testing.assert_close(out[1, 1:], fn(x[1:2, 1:])[0])
    assert out[1, 0] == 0
    torch.testing.assert_close(out[2], torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("fn", [F.sparsemax, F.entmax15])
@pytest.mark.parametrize("row, match", [
    ([float("nan"), 1.0, 0.0], "contains NaN"),
    ([-float("inf")] * 3, "all -inf"),
])
def test_simplex_rejects_rows_without_projection(fn, row, match):
    x = torch.tensor([[0.1, 0.2, 0.3], row])
    with pytest.raises(ValueError, match=match):
        fn(x)


@pytest.mark.parametrize("fn", [F.sparsemax, F.entmax15])
def test_simplex_gradient_with_inf_rows_is_finite(fn):
    x = torch.tensor([[float("inf"), 0.0, 1.0], [0.3, -0.2, 0.1]], dtype=torch.float64,
                     requires_grad=True)
    fn(x)[:, 0].sum().backward()
    assert torch.isfinite(x.grad).all()
    assert (x.grad[0] == 0).all()
