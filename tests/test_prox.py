"""Tests for sparsecode.prox and the kernels in sparsecode.kernels.prox."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sparsecode import prox
from sparsecode.kernels import prox as kp

FLOATS = st.floats(-10, 10, allow_nan=False, allow_infinity=False, width=64)
SETTINGS = settings(max_examples=60, deadline=None)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _reference(mode, x, value, l1_ratio=0.5, groups=None):
    """NumPy twin of every mode (2-D x, value broadcastable)."""
    if mode == "soft":
        return kp.soft_threshold_reference(x, value)
    if mode == "hard":
        return kp.hard_threshold_reference(x, value)
    if mode == "nonneg_soft":
        return kp.nonneg_soft_threshold_reference(x, value)
    if mode == "elastic_net":
        return kp.elastic_net_threshold_reference(x, value, l1_ratio)
    if mode == "group_soft":
        return kp.group_soft_threshold_reference(x, value, groups)
    if mode == "top_k":
        return kp.top_k_reference(x, value)
    if mode == "l1_ball":
        return kp.project_l1_ball_reference(x, value)
    return kp.project_l2_ball_reference(x, value)


# --------------------------------------------------------------- Numba vs NumPy


@pytest.mark.parametrize("mode", prox.MODES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_threshold_numba_matches_reference(rng, mode, dtype):
    x = (rng.standard_normal((7, 12)) * 2).astype(dtype)
    groups = np.repeat([3, 0, 7, 1], 3)
    value = {"top_k": 4, "l1_ball": 2.5, "l2_ball": 1.5}.get(mode, 0.8)
    got = prox.threshold(x, value, mode=mode, l1_ratio=0.3, groups=groups)
    want = _reference(mode, x.astype(np.float64), value, 0.3, groups)
    assert got.dtype == dtype and got.shape == x.shape
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("mode", ["soft", "hard", "nonneg_soft", "elastic_net"])
@pytest.mark.parametrize("shape", ["column", "row", "full"])
def test_threshold_broadcast_values_match_reference(rng, mode, shape):
    x = rng.standard_normal((5, 6))
    value = {"column": rng.random(6), "row": rng.random((5, 1)),
             "full": rng.random((5, 6))}[shape]
    got = prox.threshold(x, value, mode=mode, l1_ratio=0.6)
    np.testing.assert_allclose(got, _reference(mode, x, value, 0.6), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("mode", ["group_soft", "l1_ball", "l2_ball"])
def test_threshold_rowwise_per_row_values_match_reference(rng, mode):
    x = rng.standard_normal((5, 6)) * 3
    value = rng.random((5, 1)) * 2
    groups = [0, 0, 1, 1, 2, 2]
    got = prox.threshold(x, value, mode=mode, groups=groups)
    np.testing.assert_allclose(got, _reference(mode, x, value, groups=groups), rtol=1e-12)


def test_group_soft_per_group_values(rng):
    x = rng.standard_normal((4, 6))
    groups = np.array([5, 5, 2, 2, 9, 9])  # sorted labels: 2, 5, 9
    t = np.array([0.1, 0.2, 0.3])
    got = prox.group_soft_threshold(x, t, groups=groups)
    for label, tv in zip([2, 5, 9], t):
        cols = groups == label
        want = kp.group_soft_threshold_reference(x[:, cols], tv, np.zeros(2))
        np.testing.assert_allclose(got[:, cols], want, rtol=1e-12)


def test_threshold_nd_and_scalar_shapes(rng):
    x = rng.standard_normal((2, 3, 4))
    got = prox.threshold(x, 0.5, mode="l2_ball")
    want = kp.project_l2_ball_reference(x.reshape(6, 4), 0.5).reshape(2, 3, 4)
    np.testing.assert_allclose(got, want)
    assert prox.soft_threshold(3.0, 1.0).shape == ()
    assert float(prox.soft_threshold(-3.0, 1.0)) == -2.0
    assert prox.soft_threshold(np.zeros((0, 3)), 1.0).shape == (0, 3)


# --------------------------------------------------------------- closed forms


def test_soft_threshold_known_values():
    np.testing.assert_array_equal(prox.threshold([-2.0, -0.5, 0.0, 0.5, 3.0], 1.0),
                                  [-1.0, 0.0, 0.0, 0.0, 2.0])


def test_hard_threshold_keeps_strictly_larger():
    np.testing.assert_array_equal(prox.hard_threshold([-2.0, 1.0, 0.5, 3.0], 1.0),
                                  [-2.0, 0.0, 0.0, 3.0])


def test_nonneg_soft_threshold_known_values():
    np.testing.assert_array_equal(prox.nonneg_soft_threshold([-2.0, 0.5, 3.0], 1.0),
                                  [0.0, 0.0, 2.0])


@pytest.mark.parametrize("l1_ratio", [0.0, 1.0])
def test_elastic_net_threshold_limits(rng, l1_ratio):
    x = rng.standard_normal(10)
    got = prox.elastic_net_threshold(x, 0.7, l1_ratio=l1_ratio)
    want = prox.soft_threshold(x, 0.7) if l1_ratio == 1.0 else x / 1.7
    np.testing.assert_allclose(got, want, rtol=1e-14)


def test_top_k_keeps_largest_and_breaks_ties_by_index():
    x = np.array([[1.0, -3.0, 2.0, 3.0, 0.5], [2.0, 2.0, 2.0, -2.0, 1.0]])
    np.testing.assert_array_equal(prox.top_k(x, 2), [[0, -3.0, 0, 3.0, 0], [2.0, 2.0, 0, 0, 0]])
    np.testing.assert_array_equal(prox.top_k(x, 0), np.zeros_like(x))
    np.testing.assert_array_equal(prox.top_k(x, 9), x)


def test_project_l1_ball_is_the_projection(rng):
    x = rng.standard_normal((20, 8)) * 2
    r = 1.3
    p = prox.project_l1_ball(x, r)
    np.testing.assert_array_less(np.abs(p).sum(axis=1), r + 1e-12)
    outside = np.abs(x).sum(axis=1) > r
    np.testing.assert_allclose(np.abs(p[outside]).sum(axis=1), r, rtol=1e-12)
    # The ball is the convex hull of the vertices +-r e_j: the projection p satisfies
    # <x - p, v - p> <= 0 for every vertex v.
    vertices = np.concatenate([r * np.eye(8), -r * np.eye(8)])
    for xi, pi in zip(x, p):
        assert np.all((vertices - pi) @ (xi - pi) <= 1e-10)


def test_project_l2_ball_closed_form(rng):
    x = rng.standard_normal((10, 5))
    p = prox.project_l2_ball(x, 0.5)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.testing.assert_allclose(p, np.where(norms > 0.5, 0.5 * x / norms, x), rtol=1e-14)


# --------------------------------------------------------------- properties

CONVEX = ["soft", "nonneg_soft", "elastic_net", "group_soft", "l1_ball", "l2_ball"]


@pytest.mark.parametrize("mode", CONVEX)
@SETTINGS
@given(x=arrays(np.float64, (2, 6), elements=FLOATS),
       y=arrays(np.float64, (2, 6), elements=FLOATS),
       value=st.floats(0, 5))
def test_prox_convex_firmly_nonexpansive(mode, x, y, value):
    # ||P x - P y||^2 <= <P x - P y, x - y> for the prox of a convex function.
    groups = [0, 0, 1, 1, 1, 2]
    px = prox.threshold(x, value, mode=mode, l1_ratio=0.4, groups=groups)
    py = prox.threshold(y, value, mode=mode, l1_ratio=0.4, groups=groups)
    d = (px - py).ravel()
    assert d @ d <= d @ (x - y).ravel() + 1e-9 * (1 + np.abs(x - y).sum())


@SETTINGS
@given(x=arrays(np.float64, (3, 5), elements=FLOATS))
def test_soft_threshold_at_zero_is_identity(x):
    np.testing.assert_array_equal(prox.soft_threshold(x, 0.0), x)


@SETTINGS
@given(x=arrays(np.float64, (3, 5), elements=FLOATS), value=st.floats(0, 5))
def test_group_soft_singleton_groups_is_soft(x, value):
    got = prox.group_soft_threshold(x, value, groups=[4, 1, 0, 3, 2])
    np.testing.assert_allclose(got, prox.soft_threshold(x, value), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------- contract


@pytest.mark.parametrize("mode", prox.MODES)
def test_threshold_does_not_modify_input(rng, mode):
    x = rng.standard_normal((4, 6))
    x_copy = x.copy()
    prox.threshold(x, 2 if mode == "top_k" else 0.5, mode=mode, groups=[0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(x, x_copy)


def test_threshold_int_input_gives_float64():
    out = prox.threshold(np.array([3, -1, 0]), 1)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [2.0, 0.0, 0.0])


def test_threshold_unknown_mode_lists_valid_modes():
    with pytest.raises(ValueError, match="mode must be one of 'soft', 'hard', .*'l2_ball'; "
                                         "got 'garrote'"):
        prox.threshold([1.0], 1.0, mode="garrote")


@pytest.mark.parametrize("value, exc, match", [
    (-0.1, ValueError, "value must be non-negative"),
    (np.nan, ValueError, "value contains NaN or infinity"),
    (np.ones(4), ValueError, r"value must be a scalar or broadcastable to shape \(2, 3\)"),
    ("a", TypeError, "value must be a non-negative float"),
])
def test_threshold_bad_value(value, exc, match):
    with pytest.raises(exc, match=match):
        prox.threshold(np.ones((2, 3)), value)


def test_threshold_non_finite_x():
    with pytest.raises(ValueError, match="x contains NaN or infinity"):
        prox.threshold([1.0, np.inf], 1.0)


def test_group_soft_groups_wrong_length():
    with pytest.raises(ValueError, match="groups must have one label per coefficient: "
                                         "length 3, got 2"):
        prox.threshold(np.ones((2, 3)), 1.0, mode="group_soft", groups=[0, 1])


def test_group_soft_groups_required():
    with pytest.raises(ValueError, match="groups is required"):
        prox.threshold(np.ones((2, 3)), 1.0, mode="group_soft")


def test_group_soft_groups_must_be_integers():
    with pytest.raises(TypeError, match="groups must contain integer labels"):
        prox.group_soft_threshold(np.ones(3), 1.0, groups=[0.5, 1, 1])


@pytest.mark.parametrize("l1_ratio", [-0.1, 1.5])
def test_elastic_net_l1_ratio_outside_unit_interval(l1_ratio):
    with pytest.raises(ValueError, match=r"l1_ratio must be in \[0, 1\]"):
        prox.threshold(np.ones(3), 1.0, mode="elastic_net", l1_ratio=l1_ratio)


def test_top_k_bad_k():
    with pytest.raises(ValueError, match="k must be a non-negative integer, got -1"):
        prox.top_k(np.ones(3), -1)
    with pytest.raises(TypeError, match="k must be a non-negative integer"):
        prox.top_k(np.ones(3), 1.5)


def test_ball_radius_per_coefficient_rejected():
    with pytest.raises(ValueError, match="radius must be a scalar or one value per row"):
        prox.project_l1_ball(np.ones((2, 3)), np.ones(3))


@pytest.mark.parametrize("x", [np.ones((1, 6)), np.full((2, 4), -3.5), np.eye(3)])
def test_project_l1_ball_radius_zero_is_zero(x):
    # Regression: with tied magnitudes and radius 0 the sort-based rule found no
    # threshold and returned x itself.
    np.testing.assert_array_equal(prox.project_l1_ball(x, 0.0), np.zeros_like(x))
    from sparsecode.kernels.prox import project_l1_ball_reference

    np.testing.assert_array_equal(project_l1_ball_reference(x, 0.0), np.zeros_like(x))
