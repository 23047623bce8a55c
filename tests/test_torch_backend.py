"""The torch backend of the classic solvers against the NumPy/Numba path (the oracle).

Runs on the CPU build of torch; the CUDA cases skip when no GPU is present.
"""

import subprocess
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sparsecode import SparseCoder, fista, iht, ista, orthogonal_mp  # noqa: E402
from sparsecode.datasets import make_sparse_signals  # noqa: E402

pytestmark = pytest.mark.torch

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA)]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # Correctness tests: one intra-op thread avoids OpenMP spinning on a shared machine.
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _problem(n, f, k_atoms, k, noise=0.05, seed=0):
    X, D, _ = make_sparse_signals(n, f, k_atoms, k, random_state=seed)
    X = X + noise * np.random.default_rng(seed + 1).standard_normal(X.shape)
    return X, D


def _t(a, device, dtype=torch.float64):
    return torch.as_tensor(a, dtype=dtype, device=device)


def _np(t):
    return t.detach().cpu().numpy()


# ------------------------------------------------------------------------ import


def test_import_sparsecode_does_not_import_torch():
    code = ("import sys, numpy as np, sparsecode\n"
            "from sparsecode import SparseCoder, orthogonal_mp, fista, iht\n"
            "D = np.eye(4); X = np.ones((2, 4))\n"
            "orthogonal_mp(X, D, n_nonzero_coefs=2); fista(X, D, alpha=0.1); iht(X, D)\n"
            "SparseCoder(D).fit(X).transform(X)\n"
            "import sparsecode.backends\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- OMP


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n, f, n_atoms, k_true, n_nonzero, tol", [
    (300, 64, 256, 8, 8, None),          # k stopping
    (200, 256, 1024, 16, 16, None),      # k stopping, larger
    (300, 64, 256, 8, None, 0.5),        # tol stopping only
    (300, 64, 256, 8, 20, 1e-2),         # both: whichever first
    (100, 20, 50, 20, 20, None),         # k = n_features (rank limit)
    (50, 30, 30, 5, 30, None),           # square dictionary, k = n_components
])
def test_orthogonal_mp_torch_matches_numba(device, n, f, n_atoms, k_true, n_nonzero, tol):
    X, D = _problem(n, f, n_atoms, k_true)
    ref, ref_it = orthogonal_mp(X, D, n_nonzero_coefs=n_nonzero, tol=tol,
                                return_n_iter=True)
    codes, n_iter = orthogonal_mp(_t(X, device), _t(D, device), n_nonzero_coefs=n_nonzero,
                                  tol=tol, return_n_iter=True)
    assert isinstance(codes, torch.Tensor) and codes.dtype == torch.float64
    assert codes.device.type == device and n_iter.device.type == device
    np.testing.assert_array_equal(_np(codes) != 0, ref != 0)
    np.testing.assert_allclose(_np(codes), ref, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(_np(n_iter), ref_it)
    if tol is not None:  # error stopping honoured wherever the sparsity cap was not hit
        res = ((X - _np(codes) @ D) ** 2).sum(axis=1)
        capped = _np(n_iter) == (n_nonzero or min(n_atoms, f))
        assert (res[~capped] <= tol * (1 + 1e-9)).all()


@pytest.mark.parametrize("device", DEVICES)
def test_orthogonal_mp_torch_linearly_dependent_atoms(device, rng):
    # Duplicated atoms and an atom that is a combination of two others: OMP stops at
    # the dependent atom exactly as the Numba kernel does.
    base = rng.standard_normal((20, 12))
    D = np.vstack([base, base[:3], base[4] + base[5], 2 * base[7]])
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.standard_normal((40, 3)) @ D[[4, 5, 20]] + 0.01 * rng.standard_normal((40, 12))
    # Signals on duplicated atoms (0 == 20) and on the combination atom (23 = 4 + 5).
    X = np.vstack([X, rng.standard_normal((4, 2)) @ D[[0, 21]],
                   rng.standard_normal((4, 3)) @ D[[4, 5, 23]]])
    pairs = [(0, 20), (1, 21), (2, 22), (7, 24)]

    def merge(codes):
        out = codes.copy()
        for a, b in pairs:
            out[:, a] += out[:, b]
            out[:, b] = 0
        return out

    for k in (5, 12):
        ref, ref_it = orthogonal_mp(X, D, n_nonzero_coefs=k, return_n_iter=True)
        codes, n_iter = orthogonal_mp(_t(X, device), _t(D, device), n_nonzero_coefs=k,
                                      return_n_iter=True)
        # Copies of one atom (0/20, 1/21, 2/22, 7/24 after normalisation) tie exactly,
        # so rounding may pick either copy: compare with copies merged.
        got = _np(codes)
        for out in (got, ref):
            assert not any(((out[:, a] != 0) & (out[:, b] != 0)).any() for a, b in pairs)
        np.testing.assert_array_equal(merge(got) != 0, merge(ref) != 0)
        np.testing.assert_allclose(merge(got), merge(ref), rtol=0, atol=1e-6)
        np.testing.assert_array_equal(_np(n_iter), ref_it)
        assert np.isfinite(got).all()


@pytest.mark.parametrize("device", DEVICES)
def test_orthogonal_mp_torch_zero_and_exact_signals(device, rng):
    D = rng.standard_normal((30, 10))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = np.vstack([np.zeros(10), D[3] * 2.0, rng.standard_normal(10)])
    ref, ref_it = orthogonal_mp(X, D, tol=1e-12, return_n_iter=True)
    codes, n_iter = orthogonal_mp(_t(X, device), _t(D, device), tol=1e-12,
                                  return_n_iter=True)
    np.testing.assert_array_equal(_np(n_iter), ref_it)
    assert ref_it[0] == 0 and ref_it[1] == 1
    np.testing.assert_allclose(_np(codes), ref, atol=1e-10)


@pytest.mark.parametrize("device", DEVICES)
def test_orthogonal_mp_torch_float32_and_gram(device):
    X, D = _problem(200, 64, 256, 8, noise=0.0)
    ref = orthogonal_mp(X.astype(np.float32), D.astype(np.float32), n_nonzero_coefs=8)
    Xt, Dt = _t(X, device, torch.float32), _t(D, device, torch.float32)
    codes = orthogonal_mp(Xt, Dt, n_nonzero_coefs=8, gram=Dt @ Dt.T)
    assert codes.dtype == torch.float32
    # float32: the same supports on a noiseless, well-separated problem
    np.testing.assert_array_equal(_np(codes) != 0, ref != 0)
    np.testing.assert_allclose(_np(codes), ref, atol=1e-4)


def test_orthogonal_mp_torch_small_blocks_and_compaction():
    from sparsecode.backends._torch_omp import orthogonal_mp_torch

    X, D = _problem(257, 64, 256, 8)
    ref, ref_it = orthogonal_mp(X, D, n_nonzero_coefs=30, tol=0.3, return_n_iter=True)
    codes, n_iter = orthogonal_mp_torch(_t(X, "cpu"), _t(D, "cpu"), n_nonzero_coefs=30,
                                        tol=0.3, return_n_iter=True, block_size=50)
    np.testing.assert_array_equal(_np(n_iter), ref_it)
    np.testing.assert_allclose(_np(codes), ref, atol=1e-6)


def test_orthogonal_mp_torch_mixed_numpy_and_tensor():
    X, D = _problem(50, 64, 256, 8)
    ref = orthogonal_mp(X, D, n_nonzero_coefs=8)
    a = orthogonal_mp(torch.from_numpy(X), D, n_nonzero_coefs=8)
    b = orthogonal_mp(X, torch.from_numpy(D), n_nonzero_coefs=8)
    for out in (a, b):
        assert isinstance(out, torch.Tensor)
        np.testing.assert_allclose(_np(out), ref, atol=1e-10)


# ----------------------------------------------------------------- FISTA / ISTA


_PENALTIES = [
    dict(penalty="l1"),
    dict(penalty="l1_positive"),
    dict(penalty="elastic_net", l1_ratio=0.7),
    dict(penalty="group", groups=np.repeat(np.arange(32), 4)),
    dict(penalty="l1", weights=np.linspace(0.5, 2.0, 128)),
    dict(penalty="l1", lipschitz="backtracking"),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("solver", [fista, ista])
@pytest.mark.parametrize("kw", _PENALTIES, ids=lambda kw: "-".join(
    str(v) for k, v in kw.items() if k not in ("groups", "weights")) + (
    "-weighted" if "weights" in kw else ""))
def test_prox_grad_torch_matches_numba(device, solver, kw):
    X, D = _problem(60, 32, 128, 4, noise=0.01)
    tol = 1e-8 if solver is fista else 1e-6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref, ref_info = solver(X, D, alpha=0.1, tol=tol, max_iter=3000, return_info=True,
                               **kw)
        codes, info = solver(_t(X, device), _t(D, device), alpha=0.1, tol=tol,
                             max_iter=3000, return_info=True, **kw)
    assert codes.device.type == device and codes.dtype == torch.float64
    assert info.objective.device.type == device
    obj = _np(info.objective)
    np.testing.assert_allclose(obj, ref_info.objective, rtol=1e-9)
    scale = np.linalg.norm(ref, axis=1, keepdims=True) + 1e-12
    assert (np.abs(_np(codes) - ref) <= 10 * tol * scale + 1e-12).all()
    np.testing.assert_array_equal(_np(info.converged), ref_info.converged)


@pytest.mark.parametrize("device", DEVICES)
def test_fista_torch_reaches_the_reference_objective(device):
    # Oracle independent of the Numba kernels: textbook FISTA run to convergence.
    from sparsecode.kernels.fista import fista_reference

    X, D = _problem(20, 32, 64, 4, noise=0.01)
    Z = fista_reference(X, D, 0.05, n_iter=20000)
    codes, info = fista(_t(X, device), _t(D, device), alpha=0.05, tol=1e-10,
                        max_iter=20000, return_info=True)
    ref_obj = 0.5 * ((X - Z @ D) ** 2).sum(1) + 0.05 * np.abs(Z).sum(1)
    np.testing.assert_allclose(_np(info.objective), ref_obj, rtol=1e-8)
    np.testing.assert_allclose(_np(codes), Z, atol=1e-6)


def test_fista_torch_float32_operator_and_warning():
    from sparsecode.operators import SubsampledDCTOperator

    rng = np.random.default_rng(3)
    A = SubsampledDCTOperator(32, 64, random_state=0)
    Z = np.zeros((10, 64))
    Z[:, :3] = rng.standard_normal((10, 3))
    Y = A.forward(Z)
    ref = fista(Y, A, alpha=0.01, tol=1e-8, max_iter=5000)
    out = fista(torch.from_numpy(Y), A, alpha=0.01, tol=1e-8, max_iter=5000)
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(_np(out), ref, atol=1e-6)
    Y32 = torch.from_numpy(Y.astype(np.float32))
    with pytest.warns(Warning, match="did not converge"):
        out32 = fista(Y32, A.forward(torch.eye(64, dtype=torch.float32)), alpha=0.01,
                      tol=1e-12, max_iter=3)
    assert out32.dtype == torch.float32


# --------------------------------------------------------------------------- IHT


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("k, warm", [(8, False), (12, False), (8, True)])
def test_iht_torch_matches_numba(device, k, warm):
    X, D = _problem(80, 64, 256, 8, noise=0.01)
    init = orthogonal_mp(X, D, n_nonzero_coefs=k) * 0.9 if warm else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref, ref_info = iht(X, D, n_nonzero_coefs=k, tol=1e-8, init=init, return_info=True)
        codes, info = iht(_t(X, device), _t(D, device), n_nonzero_coefs=k, tol=1e-8,
                          init=None if init is None else _t(init, device),
                          return_info=True)
    assert codes.device.type == device
    assert ((_np(codes) != 0).sum(axis=1) <= k).all()
    np.testing.assert_array_equal(_np(codes) != 0, ref != 0)
    np.testing.assert_allclose(_np(info.objective), ref_info.objective, rtol=1e-8,
                               atol=1e-12)
    np.testing.assert_allclose(_np(codes), ref, atol=1e-6)


# -------------------------------------------------------------------- bad input


@pytest.mark.parametrize("solver", [
    lambda X, D: orthogonal_mp(X, D, n_nonzero_coefs=2),
    lambda X, D: fista(X, D, alpha=0.1),
    lambda X, D: iht(X, D, n_nonzero_coefs=2),
])
def test_torch_device_mismatch_names_both(solver):
    X = torch.zeros((3, 5), device="meta")
    D = torch.ones((7, 5))
    with pytest.raises(ValueError, match=r"X is on device meta.*dictionary is on device cpu"):
        solver(X, D)


@CUDA
def test_torch_device_mismatch_cuda_cpu():
    with pytest.raises(ValueError, match="cuda.*cpu"):
        orthogonal_mp(torch.ones((3, 5), device="cuda"), torch.ones((7, 5)))


_SOLVERS = {
    "omp": lambda X, D: orthogonal_mp(X, D, n_nonzero_coefs=2),
    "fista": lambda X, D: fista(X, D, alpha=0.1),
    "ista": lambda X, D: ista(X, D, alpha=0.1, max_iter=20000),
    "iht": lambda X, D: iht(X, D, n_nonzero_coefs=2),
}


@pytest.mark.parametrize("name", sorted(_SOLVERS))
def test_torch_errors_match_numpy_path(name, rng):
    solver = _SOLVERS[name]
    D = rng.standard_normal((8, 5))
    X = rng.standard_normal((4, 5))
    bad = {
        "nan": X.copy(), "bool": X > 0, "complex": X + 1j,
        "3d": X[None], "empty": X[:0], "features": X[:, :4],
    }
    bad["nan"][1, 2] = np.nan
    for key, Xb in bad.items():
        with pytest.raises((TypeError, ValueError)) as np_err:
            solver(Xb, D)
        with pytest.raises(np_err.type) as t_err:
            solver(torch.from_numpy(np.ascontiguousarray(Xb)), torch.from_numpy(D))
        assert str(t_err.value) == str(np_err.value), key
    Dz = D.copy()
    Dz[3] = 0
    with pytest.raises(ValueError, match="zero-norm atom") as np_err:
        solver(X, Dz)
    with pytest.raises(ValueError) as t_err:
        solver(torch.from_numpy(X), torch.from_numpy(Dz))
    assert str(t_err.value) == str(np_err.value)


@pytest.mark.parametrize("name", sorted(_SOLVERS))
def test_torch_integer_input_as_numpy_path(name, rng):
    # Integers are cast to float64, as on the NumPy path.
    D = rng.standard_normal((8, 5))
    Xi = rng.integers(-3, 4, size=(4, 5))
    ref = _SOLVERS[name](Xi, D)
    out = _SOLVERS[name](torch.from_numpy(Xi), torch.from_numpy(D))
    assert out.dtype == torch.float64
    np.testing.assert_allclose(_np(out), ref, atol=1e-8)


@pytest.mark.parametrize("name", sorted(_SOLVERS))
def test_torch_requires_grad_is_detached_and_inputs_untouched(name, rng):
    D = torch.from_numpy(rng.standard_normal((8, 5))).requires_grad_()
    X = torch.from_numpy(rng.standard_normal((4, 5))).requires_grad_()
    X0, D0 = X.detach().clone(), D.detach().clone()
    out = _SOLVERS[name](X, D)
    assert not out.requires_grad
    torch.testing.assert_close(out, _SOLVERS[name](X0, D0))
    torch.testing.assert_close(X.detach(), X0)
    torch.testing.assert_close(D.detach(), D0)


# ------------------------------------------------------------------ SparseCoder


@pytest.mark.parametrize("algorithm, params", [
    ("omp", dict(n_nonzero_coefs=4)), ("omp", dict(tol=0.5)),
    ("fista", dict(alpha=0.1)), ("ista", dict(alpha=0.1, max_iter=5000)),
    ("iht", dict(n_nonzero_coefs=4)), ("fista", dict(alpha=0.1, positive=True)),
])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sparse_coder_torch_backend_matches_numpy(algorithm, params, dtype):
    X, D = _problem(40, 32, 128, 4, noise=0.01)
    X = X.astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = SparseCoder(D, algorithm=algorithm, **params).fit(X).transform(X)
        coder = SparseCoder(D, algorithm=algorithm, backend="torch", device="cpu",
                            **params).fit(X)
        out = coder.transform(X)
        out_t = coder.transform(torch.from_numpy(X))
    assert isinstance(out, np.ndarray) and out.dtype == dtype
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.from_numpy(X).dtype
    atol = 1e-6 if dtype == np.float64 else 1e-3
    np.testing.assert_allclose(out, ref, atol=atol)
    np.testing.assert_allclose(_np(out_t), out, atol=atol)


def test_sparse_coder_torch_backend_default_device_and_errors():
    X, D = _problem(10, 16, 32, 2)
    coder = SparseCoder(D, backend="torch").fit(X)
    assert isinstance(coder.transform(X), np.ndarray)
    with pytest.raises(ValueError, match="backend='torch' supports algorithm"):
        SparseCoder(D, algorithm="lasso_lars", backend="torch").fit(X)
    with pytest.raises(ValueError, match="only used with backend='torch'"):
        SparseCoder(D, device="cpu").fit(X)
    with pytest.raises(ValueError, match="device must be"):
        SparseCoder(D, backend="torch", device="not-a-device").fit(X)
    with pytest.raises(ValueError, match="backend"):
        SparseCoder(D, backend="jax").fit(X)
    with pytest.raises(ValueError, match="X has 15 features"):
        coder.transform(torch.zeros((2, 15), dtype=torch.float64))
    with pytest.raises(ValueError, match="NaN or infinity"):
        coder.transform(torch.full((2, 16), float("nan")))


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_sparse_coder_cuda_requested_without_cuda():
    X, D = _problem(10, 16, 32, 2)
    with pytest.raises(ValueError, match="CUDA is not available"):
        SparseCoder(D, backend="torch", device="cuda").fit(X)


@CUDA
def test_sparse_coder_torch_backend_cuda():
    X, D = _problem(100, 64, 256, 8)
    ref = SparseCoder(D, n_nonzero_coefs=8).fit(X).transform(X)
    coder = SparseCoder(D, n_nonzero_coefs=8, backend="torch", device="cuda").fit(X)
    np.testing.assert_allclose(coder.transform(X), ref, atol=1e-6)
    out = coder.transform(torch.from_numpy(X).cuda())
    assert out.is_cuda
    np.testing.assert_allclose(_np(out), ref, atol=1e-6)


def test_unfitted_torch_coder_matches_numpy_and_refuses_sparse_output():
    rng = np.random.default_rng(0)
    D = rng.standard_normal((20, 8))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.standard_normal((50, 8))
    ref = SparseCoder(D, n_nonzero_coefs=3).transform(X)
    np.testing.assert_allclose(SparseCoder(D, n_nonzero_coefs=3, backend="torch")
                               .transform(X), ref, atol=1e-12)
    codes = SparseCoder(torch.from_numpy(D), n_nonzero_coefs=3, backend="torch").transform(
        torch.from_numpy(X))
    assert isinstance(codes, torch.Tensor)
    np.testing.assert_allclose(codes.numpy(), ref, atol=1e-12)
    with pytest.raises(ValueError, match="output='sparse' is not available"):
        SparseCoder(D, output="sparse", backend="torch").fit(X)
