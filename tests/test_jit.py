"""Tests of the library's Numba configuration (sparsecode._jit)."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from sparsecode import _jit


def test_pjit_kernel_runs_and_exposes_dispatcher():
    @_jit.pjit
    def total(x):
        s = 0.0
        for i in _jit.prange(x.shape[0]):
            s += x[i]
        return s

    x = np.arange(1000, dtype=np.float64)
    assert total(x) == pytest.approx(x.sum())
    assert total.dispatcher.py_func is total.py_func
    assert total.__name__ == "total"


def test_pjit_rejects_signatures():
    with pytest.raises(TypeError, match="keyword options only"):
        _jit.pjit("float64(float64[:])")


def _run_fresh(code, **env):
    """Run ``code`` in a fresh interpreter (Numba's pool not started yet)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env={**os.environ, "NUMBA_NUM_THREADS": "2", **env},
                          timeout=600)


@pytest.mark.parametrize("layer", [None, "omp"])
def test_kernels_leave_the_openmp_thread_count_alone(layer):
    """A torch.set_num_threads made before the first kernel call survives it.

    Numba's omp threading layer sets the shared OpenMP runtime to NUMBA_NUM_THREADS when
    its pool starts; that used to undo torch.set_num_threads(1) (two training processes
    on two cores then ran ten times slower). Run in a fresh interpreter, where the pool
    has not been started yet.
    """
    pytest.importorskip("torch")
    code = """
        import numpy as np, torch
        torch.set_num_threads(1)
        assert torch.get_num_threads() == 1  # torch's OpenMP runtime is now in use
        from sparsecode.compat import sparse_encode
        from sparsecode.coding._fista import fista
        rng = np.random.default_rng(0)
        D = rng.standard_normal((30, 12)); X = rng.standard_normal((200, 12))
        fista(X, D, alpha=0.1, max_iter=5)
        print(torch.get_num_threads())
        sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=3)
        sparse_encode(X, D, algorithm="lasso_lars", alpha=0.1)
        print(torch.get_num_threads())
    """
    env = {"OMP_NUM_THREADS": "2"}
    if layer is not None:
        env["NUMBA_THREADING_LAYER"] = layer
    out = _run_fresh(code, **env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "1"], out.stdout


_SETUP = """
import numpy as np
from sparsecode.compat import sparse_encode
from sparsecode.coding._fista import fista
rng = np.random.default_rng(0)
D = rng.standard_normal((30, 12)); X = rng.standard_normal((3000, 12))

def work(i=0):
    a = sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=3)
    b = sparse_encode(X, D, algorithm="lasso_lars", alpha=0.1)
    c = fista(X[:300], D, alpha=0.5, max_iter=50)
    return float(a.sum() + b.sum() + c.sum())
"""


def test_kernels_work_in_a_forked_child():
    """A child forked after the parent ran kernels can run them too (multiprocessing
    on Linux, DataLoader workers). With Numba's GNU-OpenMP layer the child was killed."""
    if sys.platform == "win32":
        pytest.skip("no fork on Windows")
    out = _run_fresh(_SETUP + """
import multiprocessing as mp
ref = work()
with mp.get_context("fork").Pool(2) as pool:
    got = pool.map_async(work, range(2)).get(timeout=120)
assert got == [ref, ref], (got, ref)
print("ok")
""")
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_kernels_from_concurrent_threads_agree_with_serial():
    """Kernels called from several threads at once (dask's or joblib's threads) neither
    abort nor change the results."""
    out = _run_fresh(_SETUP + """
from concurrent.futures import ThreadPoolExecutor
ref = work()
with ThreadPoolExecutor(4) as ex:
    got = list(ex.map(work, range(8)))
assert got == [ref] * 8, (got, ref)
print("ok")
""")
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_blas_single_thread_limits_small_work_only():
    from threadpoolctl import threadpool_info

    from sparsecode._jit import SMALL_BLAS_WORK, blas_single_thread

    def blas_threads():
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    before = blas_threads()
    with blas_single_thread(10):
        assert blas_threads() == {1}
    assert blas_threads() == before  # restored
    with blas_single_thread(SMALL_BLAS_WORK + 1):
        assert blas_threads() == before  # large products keep every thread


@pytest.fixture
def fresh_gram_entry(monkeypatch):
    """Start each test with no kept Gram matrix (the module keeps the last one)."""
    monkeypatch.setattr(_jit, "_GRAM_LAST", None)


def _large_dictionary(seed=0):
    # above GRAM_REUSE_MIN_WORK: 200 * 200 * 512 / 2 = 1.0e7 multiply-adds
    D = np.random.default_rng(seed).standard_normal((200, 512))
    assert 200 * 200 * 512 // 2 >= _jit.GRAM_REUSE_MIN_WORK
    return D


def test_gram_reused_returns_the_kept_gram_for_the_same_bits(fresh_gram_entry):
    D = _large_dictionary()
    G1 = _jit.gram_reused(D)
    np.testing.assert_array_equal(G1, _jit.gram(D))
    assert _jit.gram_reused(D.copy()) is G1  # equal bits, another array: reused
    D2 = D.copy()
    D2[3, 7] += 1e-12  # one entry changed by one part in 1e12: recomputed
    G2 = _jit.gram_reused(D2)
    assert G2 is not G1
    np.testing.assert_array_equal(G2, _jit.gram(D2))


def test_gram_reused_sees_a_dictionary_changed_in_place(fresh_gram_entry):
    from sparsecode import orthogonal_mp

    rng = np.random.default_rng(1)
    D = _large_dictionary()
    X = rng.standard_normal((30, 512))
    orthogonal_mp(X, D, n_nonzero_coefs=5)
    D[:10] *= -2.0  # the caller edits its dictionary between calls
    got = orthogonal_mp(X, D, n_nonzero_coefs=5)
    _jit._GRAM_LAST = None
    want = orthogonal_mp(X, D.copy(), n_nonzero_coefs=5)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(_jit.gram_reused(D), D @ D.T)


def test_gram_reused_tells_negative_zero_from_zero(fresh_gram_entry):
    D = _large_dictionary()
    D[0, :] = 0.0
    G1 = _jit.gram_reused(D)
    D2 = D.copy()
    D2[0, 0] = -0.0  # equal as floats, different bits
    assert _jit.gram_reused(D2) is not G1


def test_gram_reused_keeps_neither_small_nor_huge_grams(fresh_gram_entry, monkeypatch):
    small = np.random.default_rng(0).standard_normal((16, 8))
    np.testing.assert_allclose(_jit.gram_reused(small), small @ small.T, rtol=1e-12)
    assert _jit._GRAM_LAST is None
    monkeypatch.setattr(_jit, "GRAM_REUSE_MAX_BYTES", 1000)
    D = _large_dictionary()
    np.testing.assert_array_equal(_jit.gram_reused(D), _jit.gram(D))
    assert _jit._GRAM_LAST is None


def test_a_rejected_dictionary_leaves_the_kept_gram_alone(fresh_gram_entry):
    from sparsecode import orthogonal_mp

    D = _large_dictionary()
    X = np.random.default_rng(2).standard_normal((10, 512))
    orthogonal_mp(X, D, n_nonzero_coefs=3)
    kept = _jit._GRAM_LAST
    bad = D.copy()
    bad[4, 4] = np.nan
    before = bad.copy()
    with pytest.raises(ValueError, match="dictionary contains NaN"):
        orthogonal_mp(X, bad, n_nonzero_coefs=3)
    np.testing.assert_array_equal(bad, before)  # the user's array is untouched
    assert _jit._GRAM_LAST is kept  # checked before any Gram matrix is formed or kept
