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


def test_kernels_leave_the_openmp_thread_count_alone():
    """A torch.set_num_threads made before the first kernel call survives it.

    Numba's omp threading layer sets the shared OpenMP runtime to NUMBA_NUM_THREADS when
    its pool starts; that used to undo torch.set_num_threads(1) (two training processes
    on two cores then ran ten times slower). Run in a fresh interpreter, where the pool
    has not been started yet.
    """
    pytest.importorskip("torch")
    code = textwrap.dedent("""
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
    """)
    env = {"NUMBA_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, **env}, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "1"], out.stdout
