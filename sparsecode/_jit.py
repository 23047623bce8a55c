"""The one place where the Numba jit configuration of the kernels is decided.

Every kernel module imports :func:`jit` / :func:`pjit` from here, so that caching,
fast-math and error-model choices are made once for the whole library.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import numba

#: Kernels are cached on disk next to their module (``__pycache__``) unless the user
#: asks otherwise, so that the JIT cost is paid once per installation.
_CACHE = os.environ.get("SPARSECODE_NUMBA_CACHE", "1") != "0"

#: Options shared by every kernel. ``error_model="numpy"`` keeps division by zero from
#: raising inside hot loops (kernels check their denominators themselves); ``nogil``
#: lets thread pools of the caller run kernels concurrently.
_OPTIONS = dict(cache=_CACHE, nogil=True, error_model="numpy")


def jit(*args, **kwargs):
    """Serial kernel decorator (``numba.njit`` with the library's options)."""
    opts = {**_OPTIONS, **kwargs}
    return numba.njit(*args, **opts)


def pjit(*args, **kwargs):
    """Parallel kernel decorator: like :func:`jit` with ``parallel=True`` (``prange``)."""
    opts = {**_OPTIONS, "parallel": True, **kwargs}
    return numba.njit(*args, **opts)


prange = numba.prange


def resolve_n_jobs(n_jobs):
    """Number of Numba threads for ``n_jobs`` (scikit-learn's convention).

    ``None`` means all the threads Numba was started with, ``-1`` likewise, ``-2`` all
    but one, and a positive integer that many (capped at the available threads).
    """
    available = numba.config.NUMBA_NUM_THREADS
    if n_jobs is None or n_jobs == -1:
        return available
    if n_jobs < 0:
        return max(1, available + 1 + n_jobs)
    return max(1, min(int(n_jobs), available))


@contextmanager
def num_threads(n_jobs):
    """Context manager running the enclosed kernels on ``n_jobs`` Numba threads."""
    previous = numba.get_num_threads()
    numba.set_num_threads(resolve_n_jobs(n_jobs))
    try:
        yield
    finally:
        numba.set_num_threads(previous)
