"""Gram matrix ``D @ D.T`` on Numba's threads, BLAS single-threaded in each.

Why not ``D @ D.T``: NumPy hands a product of this size to OpenBLAS's own thread pool,
whose threads then keep spinning for a while after it returns. A parallel Numba kernel
started in that window shares the cores with them: on the 2-core machine of the
benchmarks, Batch-OMP on 100,000 signals (64x256) took 173 ms right after computing its
own Gram matrix that way, and 128 ms with the same Gram matrix computed beforehand.
Computing the Gram matrix in row blocks on Numba's threads (each block one
single-threaded BLAS product) wakes no other thread pool.
"""

from __future__ import annotations

import numpy as np

from .._jit import pjit, prange


@pjit
def gram_blocks(D, Dt, G, n_blocks):
    """``G = D @ Dt`` in ``n_blocks`` row blocks, one BLAS product each, in parallel,
    then made exactly symmetric (the upper triangle copied to the lower one).

    Two blocks may round the same dot product differently, and NumPy's ``D @ D.T``
    (BLAS ``syrk``) is exactly symmetric; so is this one. Callers limit BLAS to one
    thread around this call. ``D`` (n, m), ``Dt`` (m, n) and ``G`` (n, n) are
    C-contiguous, of one dtype.
    """
    n = D.shape[0]
    for b in prange(n_blocks):
        s = (b * n) // n_blocks
        e = ((b + 1) * n) // n_blocks
        if e > s:
            np.dot(D[s:e], Dt, G[s:e])
    for i in prange(n):
        for j in range(i):
            G[i, j] = G[j, i]


def gram_reference(D):
    """Plain-NumPy twin of :func:`gram_blocks`."""
    return D @ D.T
