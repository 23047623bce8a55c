"""Contract tests of sparsecode.operators, driven by the OPERATORS registry."""

import subprocess
import sys

import numpy as np
import pytest
import scipy.fft
import scipy.linalg

from sparsecode.operators import (
    OPERATORS,
    BernoulliOperator,
    BlockCSOperator,
    DCT2Operator,
    DictionaryOperator,
    GaussianOperator,
    HaarWaveletOperator,
    LinearOperator,
    MatrixOperator,
    OrthogonalGaussianOperator,
    SubsampledDCTOperator,
    SubsampledFourierOperator,
    SubsampledHadamardOperator,
    block_cs_operator,
    dot_test,
    from_matrix,
    hstack,
    n_measurements_for,
    vstack,
)

NAMES = sorted(OPERATORS)


@pytest.fixture(params=NAMES)
def op(request):
    return OPERATORS[request.param](np.random.default_rng(42))


# ----------------------------------------------------------------- registry contract


def test_operator_passes_dot_test(op):
    assert isinstance(op, LinearOperator)
    assert op.dot_test(np.random.default_rng(1), rtol=1e-10)
    assert op.dot_test(np.random.default_rng(1), return_error=True) < 1e-10


def test_operator_forward_and_adjoint_equal_explicit_matrix(op, rng):
    M = op.to_matrix()
    assert M.shape == op.shape
    x = rng.standard_normal((3, op.shape[1]))
    y = rng.standard_normal((3, op.shape[0]))
    np.testing.assert_allclose(op.forward(x), x @ M.T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(op.adjoint(y), y @ M, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(op.T.to_matrix(), M.T, atol=1e-12)


def test_operator_batches_over_leading_axes(op, rng):
    x = rng.standard_normal((2, 3, op.shape[1]))
    out = op.forward(x)
    assert out.shape == (2, 3, op.shape[0])
    np.testing.assert_allclose(out[1, 2], op.forward(x[1, 2]), atol=1e-12)
    y = rng.standard_normal((4, 1, op.shape[0]))
    assert op.adjoint(y).shape == (4, 1, op.shape[1])


def test_operator_numpy_torch_parity(op, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((3, op.shape[1]))
    y = rng.standard_normal((3, op.shape[0]))
    tx = op.forward(torch.from_numpy(x))
    ty = op.adjoint(torch.from_numpy(y))
    assert isinstance(tx, torch.Tensor) and tx.dtype == torch.float64
    assert isinstance(ty, torch.Tensor) and tuple(ty.shape) == (3, op.shape[1])
    np.testing.assert_allclose(tx.numpy(), op.forward(x), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ty.numpy(), op.adjoint(y), rtol=1e-10, atol=1e-12)


def test_operator_torch_float32_and_autograd(op, rng):
    torch = pytest.importorskip("torch")
    x = torch.tensor(rng.standard_normal((2, op.shape[1])), dtype=torch.float32,
                     requires_grad=True)
    out = op.forward(x)
    assert out.dtype == torch.float32
    out.pow(2).sum().backward()  # gradient of ||Ax||^2 is 2 A^T A x
    expected = 2 * op.adjoint(op.forward(x.detach().double().numpy()))
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-3, atol=1e-3)


def test_operator_numpy_float32_in_float32_out(op, rng):
    x = rng.standard_normal((2, op.shape[1])).astype(np.float32)
    out = op.forward(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, op.forward(x.astype(np.float64)), rtol=1e-4, atol=1e-4)


def test_operator_lipschitz_matches_spectral_norm(op):
    expected = np.linalg.norm(op.to_matrix(), 2) ** 2
    assert op.lipschitz() == pytest.approx(expected, rel=1e-6)


def test_operator_does_not_modify_input(op, rng):
    x = rng.standard_normal((2, op.shape[1]))
    y = rng.standard_normal((2, op.shape[0]))
    x0, y0 = x.copy(), y.copy()
    op.forward(x)
    op.adjoint(y)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)


# ------------------------------------------------------------------- fast operators


def test_subsampled_dct_equals_scipy_dct_rows():
    op = SubsampledDCTOperator(20, 64, random_state=3)
    full = scipy.fft.dct(np.eye(64), norm="ortho", axis=0)
    np.testing.assert_allclose(op.to_matrix(), full[op.rows] * op.signs, atol=1e-12)
    np.testing.assert_allclose(op.to_matrix() @ op.to_matrix().T, np.eye(20), atol=1e-12)


def test_subsampled_hadamard_equals_scipy_hadamard_rows():
    op = SubsampledHadamardOperator(10, 32, random_state=3)
    H = scipy.linalg.hadamard(32) / np.sqrt(32)
    np.testing.assert_allclose(op.to_matrix(), H[op.rows] * op.signs, atol=1e-12)


def test_subsampled_hadamard_pads_to_power_of_two():
    op = SubsampledHadamardOperator(5, 20, random_state=0)
    H = scipy.linalg.hadamard(32) / np.sqrt(32)
    np.testing.assert_allclose(op.to_matrix(), H[op.rows][:, :20] * op.signs, atol=1e-12)


@pytest.mark.parametrize("n", [16, 17])
def test_subsampled_fourier_full_is_orthogonal_and_matches_fft(n, rng):
    op = SubsampledFourierOperator(n, n, random_state=0)
    M = op.to_matrix()
    np.testing.assert_allclose(M @ M.T, np.eye(n), atol=1e-12)
    # |coefficients| of the selected frequencies agree with numpy's FFT of the signed signal
    x = rng.standard_normal(n)
    power = np.sum(op.forward(x) ** 2)
    assert power == pytest.approx(np.sum(np.abs(np.fft.fft(x * op.signs)) ** 2) / n)


def test_dct2_equals_scipy_dctn(rng):
    img = rng.standard_normal((6, 9))
    op = DCT2Operator(img.shape)
    np.testing.assert_allclose(op.forward(img.ravel()),
                               scipy.fft.dctn(img, norm="ortho").ravel(), atol=1e-12)


def test_haar_one_level_closed_form():
    img = np.array([[1.0, 3.0], [5.0, 7.0]])
    c = HaarWaveletOperator((2, 2)).forward(img.ravel())
    # LL = sum / 2, LH = row differences, HL = column differences, HH = diagonal
    np.testing.assert_allclose(c, [8.0, -2.0, -4.0, 0.0])


def test_haar_levels_and_perfect_reconstruction(rng):
    op = HaarWaveletOperator((16, 24))
    assert op.levels == 3
    x = rng.standard_normal((2, 16 * 24))
    np.testing.assert_allclose(op.adjoint(op.forward(x)), x, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(op.forward(x), axis=1), np.linalg.norm(x, axis=1))


def test_haar_constant_image_has_one_coefficient():
    c = HaarWaveletOperator((8, 8)).forward(np.ones(64))
    assert c[0] == pytest.approx(8.0)
    np.testing.assert_allclose(c[1:], 0.0, atol=1e-12)


# ------------------------------------------------------------------- random ensembles


@pytest.mark.parametrize("cls", [GaussianOperator, BernoulliOperator, OrthogonalGaussianOperator,
                                 SubsampledDCTOperator, SubsampledHadamardOperator,
                                 SubsampledFourierOperator])
def test_random_operator_is_reproducible_from_its_seed(cls):
    a = cls(8, 32, random_state=None)
    b = cls(8, 32, random_state=a.seed)
    np.testing.assert_array_equal(a.to_matrix(), b.to_matrix())
    c = cls(8, 32, random_state=a.seed + 1)
    assert not np.array_equal(a.to_matrix(), c.to_matrix())


def test_random_operator_accepts_generator():
    a = GaussianOperator(5, 9, random_state=np.random.default_rng(0))
    b = GaussianOperator(5, 9, random_state=np.random.default_rng(0))
    np.testing.assert_array_equal(a.matrix, b.matrix)
    np.testing.assert_array_equal(a.draw(), a.matrix)


def test_gaussian_operator_scaling():
    A = GaussianOperator(400, 300, random_state=0).matrix
    assert A.std() == pytest.approx(1 / np.sqrt(400), rel=0.02)
    np.testing.assert_allclose(np.abs(BernoulliOperator(16, 20, random_state=0).matrix), 0.25)


def test_orthogonal_gaussian_rows_are_orthonormal():
    A = OrthogonalGaussianOperator(30, 70, random_state=0)
    np.testing.assert_allclose(A.matrix @ A.matrix.T, np.eye(30), atol=1e-12)
    assert A.lipschitz() == 1.0


def test_random_operator_float32():
    A = GaussianOperator(4, 6, random_state=0, dtype=np.float32)
    assert A.dtype == np.float32 and A.matrix.dtype == np.float32


# ------------------------------------------------------------------ dense, dictionary


def test_from_matrix_copies_and_matches(rng):
    M = rng.standard_normal((4, 6))
    op = from_matrix(M)
    M[0, 0] = 100.0
    assert op.matrix[0, 0] != 100.0
    assert from_matrix(op) is op


def test_dictionary_operator_codes_to_signals(rng):
    D = rng.standard_normal((12, 5))  # (n_components, n_features)
    op = DictionaryOperator(D)
    z = rng.standard_normal((3, 12))
    assert op.shape == (5, 12)
    np.testing.assert_allclose(op.forward(z), z @ D)
    np.testing.assert_allclose(op.adjoint(z @ D), z @ D @ D.T)
    np.testing.assert_array_equal(op.dictionary, D)


def test_dictionary_operator_feeds_shared_fista(rng):
    from sparsecode.coding._fista import fista

    D = rng.standard_normal((30, 20))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.standard_normal((4, 20))
    kw = dict(alpha=0.1, tol=1e-9, max_iter=3000, lipschitz=np.linalg.norm(D, 2) ** 2)
    np.testing.assert_allclose(fista(X, DictionaryOperator(D), **kw), fista(X, D, **kw),
                               atol=1e-6)


# ------------------------------------------------------------------------- algebra


def test_composition_scaling_sum_stacking(rng):
    A = MatrixOperator(rng.standard_normal((4, 5)))
    B = MatrixOperator(rng.standard_normal((5, 3)))
    C = MatrixOperator(rng.standard_normal((4, 5)))
    Am, Bm, Cm = A.matrix, B.matrix, C.matrix
    np.testing.assert_allclose((A @ B).to_matrix(), Am @ Bm)
    np.testing.assert_allclose(A.compose(B).to_matrix(), Am @ Bm)
    np.testing.assert_allclose((3.0 * A).to_matrix(), 3 * Am)
    np.testing.assert_allclose((A * 3.0).to_matrix(), 3 * Am)
    np.testing.assert_allclose((A / 2).to_matrix(), Am / 2)
    np.testing.assert_allclose((-A).to_matrix(), -Am)
    np.testing.assert_allclose((A + C).to_matrix(), Am + Cm)
    np.testing.assert_allclose((A - C).to_matrix(), Am - Cm)
    np.testing.assert_allclose(vstack([A, C]).to_matrix(), np.vstack([Am, Cm]))
    np.testing.assert_allclose(hstack([A, C]).to_matrix(), np.hstack([Am, Cm]))
    assert A.T.T is A
    v = rng.standard_normal(5)
    np.testing.assert_allclose(A @ v, Am @ v)


def test_scaled_lipschitz_exact():
    op = 3.0 * SubsampledDCTOperator(5, 10, random_state=0)
    assert op.lipschitz() == pytest.approx(9.0)


def test_module_dot_test():
    assert dot_test(GaussianOperator(3, 4, random_state=0), 0)


def test_dot_test_detects_wrong_adjoint(rng):
    class Broken(MatrixOperator):
        def _adjoint(self, y, xp):
            return 1.01 * super()._adjoint(y, xp)

    assert not Broken(rng.standard_normal((4, 5))).dot_test(0)


# ----------------------------------------------------------------------- block CS


def test_block_cs_equals_explicit_block_diagonal_matrix(rng):
    phi = rng.standard_normal((3, 4))
    op = BlockCSOperator((4, 4), phi, block_size=2)
    img = rng.standard_normal((4, 4))
    blocks = [img[r:r + 2, c:c + 2].ravel() for r in (0, 2) for c in (0, 2)]
    expected = np.concatenate([phi @ b for b in blocks])
    np.testing.assert_allclose(op.forward(img.ravel()), expected)


def test_block_cs_pads_partial_blocks(rng):
    phi = rng.standard_normal((2, 9))
    op = BlockCSOperator((4, 5), phi, block_size=3)
    assert op.n_blocks == 4 and op.padded_shape == (6, 6)
    img = rng.standard_normal((4, 5))
    padded = np.zeros((6, 6))
    padded[:4, :5] = img
    np.testing.assert_allclose(op.forward(img.ravel())[-2:], phi @ padded[3:, 3:].ravel())


@pytest.mark.parametrize("ratio, expected", [(0.01, 11), (0.04, 44), (0.10, 109), (0.25, 272),
                                             (0.40, 436), (0.50, 545), (1.0, 1089)])
def test_n_measurements_for_block_33(ratio, expected):
    assert n_measurements_for(ratio, 33 * 33) == expected


def test_block_cs_operator_default_is_orthogonal_gaussian():
    op = block_cs_operator((66, 40), 0.25, random_state=0)
    assert isinstance(op.block_operator, OrthogonalGaussianOperator)
    assert op.block_size == 33 and op.shape == (4 * 272, 66 * 40)
    assert op.lipschitz() == 1.0


# ------------------------------------------------------------------------ errors


@pytest.mark.parametrize("ratio", [0.0, -0.1, 1.5, float("nan")])
def test_block_cs_operator_rejects_bad_ratio(ratio):
    with pytest.raises(ValueError, match=r"ratio must be in \(0, 1\]"):
        block_cs_operator((33, 33), ratio)


def test_block_cs_operator_rejects_bad_kind():
    with pytest.raises(ValueError, match="kind must be one of"):
        block_cs_operator((33, 33), 0.5, kind="poisson")


def test_block_cs_rejects_mismatched_block_matrix(rng):
    with pytest.raises(ValueError, match=r"block_operator must have shape \(n_measurements, "
                                         r"block_size\*\*2\)"):
        BlockCSOperator((8, 8), rng.standard_normal((3, 10)), block_size=4)


def test_compose_rejects_mismatched_shapes(rng):
    A = MatrixOperator(rng.standard_normal((4, 5)))
    with pytest.raises(ValueError, match="compose: mismatched operator shapes"):
        A @ A


def test_stack_and_sum_reject_mismatched_shapes(rng):
    A = MatrixOperator(rng.standard_normal((4, 5)))
    B = MatrixOperator(rng.standard_normal((3, 6)))
    with pytest.raises(ValueError, match="vstack: mismatched operator shapes"):
        vstack([A, B])
    with pytest.raises(ValueError, match="hstack: mismatched operator shapes"):
        hstack([A, B])
    with pytest.raises(ValueError, match="add: mismatched operator shapes"):
        A + B


def test_forward_rejects_wrong_last_axis(rng):
    A = GaussianOperator(4, 5, random_state=0)
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 5\)"):
        A.forward(np.ones(4))
    with pytest.raises(ValueError, match=r"y must have shape \(\.\.\., 4\)"):
        A.adjoint(np.ones((2, 5)))
    with pytest.raises(TypeError, match="x must be real"):
        A.forward(np.ones(5, dtype=complex))


def test_matmul_rejects_2d_array(rng):
    with pytest.raises(ValueError, match="only defined for 1-D arrays"):
        GaussianOperator(4, 5, random_state=0) @ np.ones((5, 2))


def test_operator_constructors_reject_bad_arguments():
    with pytest.raises(ValueError, match="n_measurements must be <= n_features=4"):
        OrthogonalGaussianOperator(5, 4)
    with pytest.raises(ValueError, match=r"n_measurements must be <= 8 \(rows of the transform\)"):
        SubsampledDCTOperator(9, 8)
    with pytest.raises(ValueError, match="n_measurements must be an integer >= 1"):
        GaussianOperator(0, 4)
    with pytest.raises(TypeError, match="random_state must be"):
        GaussianOperator(2, 4, random_state="seed")
    with pytest.raises(ValueError, match="matrix contains NaN"):
        MatrixOperator(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match=r"levels=3 needs both sides of image_shape=\(8, 12\)"):
        HaarWaveletOperator((8, 12), levels=3)
    with pytest.raises(ValueError, match="image_shape must be a pair"):
        DCT2Operator((4, 4, 4))


def test_to_matrix_refuses_huge_operators():
    with pytest.raises(ValueError, match="max_size"):
        DCT2Operator((512, 512)).to_matrix()


def test_import_does_not_import_torch():
    code = "import sparsecode.operators, sparsecode.cs, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_crop_operator_rejects_larger_image():
    from sparsecode.operators import CropOperator

    with pytest.raises(ValueError, match=r"image_shape=\(5, 9\) must fit inside"):
        CropOperator((7, 8), (5, 9))
