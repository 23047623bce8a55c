"""The one place where the Numba jit configuration of the kernels is decided.

Every kernel module imports :func:`jit` / :func:`pjit` from here, so that caching,
fast-math and error-model choices are made once for the whole library.
"""

from __future__ import annotations

import contextlib
import functools
import numbers
import os
import threading
from contextlib import contextmanager

import numba
import numpy as np

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


_THREADS_STARTED = False
_KERNEL_LOCK = None
_INIT_LOCK = threading.Lock()


def start_threads():
    """Start Numba's thread pool (once), fork-safe, leaving OpenMP settings alone.

    Threading layer: unless the user chose one (``NUMBA_THREADING_LAYER``) or Numba's
    pool is already running, the layer is ``"forksafe"``: TBB when it is installed, else
    Numba's ``workqueue``. The default ``omp`` layer uses GNU OpenMP, which cannot
    survive ``fork()``. A child process forked after a kernel had run (multiprocessing
    on Linux, PyTorch DataLoader workers) was killed with "fork() called from a
    process already using GNU OpenMP" the moment it called a kernel, and the pool
    hung. ``workqueue`` is not safe for concurrent launches from several threads, so
    with it the parallel kernels run one at a time: each already uses every Numba
    thread. The serial kernels stay concurrent (``nogil``).

    With Numba's ``omp`` threading layer (when the user selects it), starting the pool
    calls ``omp_set_num_threads(NUMBA_NUM_THREADS)`` on the process's GNU OpenMP runtime,
    which PyTorch shares: a ``torch.set_num_threads(1)`` made before the first kernel
    call was silently undone. Two such processes on two cores then ran four spinning
    OpenMP threads, and training became ten times slower. The pool is therefore started
    here, once, inside a threadpoolctl context that restores the OpenMP setting. Numba
    still uses its own thread count (``numba.set_num_threads``).
    """
    global _THREADS_STARTED, _KERNEL_LOCK
    if _THREADS_STARTED:
        return
    from threadpoolctl import threadpool_limits

    with _INIT_LOCK:
        if _THREADS_STARTED:
            return
        try:  # private Numba API (as of 0.68); if it moves, Numba picks the layer
            from numba.np.ufunc import parallel

            launch, running = parallel._launch_threads, parallel._is_initialized
        except (ImportError, AttributeError):  # pragma: no cover
            _THREADS_STARTED = True
            return
        if (not running and "NUMBA_THREADING_LAYER" not in os.environ
                and str(numba.config.THREADING_LAYER).lower() == "default"):
            numba.config.THREADING_LAYER = "forksafe"
        with threadpool_limits(limits=None, user_api="openmp"):
            launch()
        if numba.threading_layer() == "workqueue":
            _KERNEL_LOCK = threading.Lock()
        _THREADS_STARTED = True


def pjit(*args, **kwargs):
    """Parallel kernel decorator: like :func:`jit` with ``parallel=True`` (``prange``).

    Returns a Python wrapper that starts the thread pool with :func:`start_threads` on
    the first call; the Numba dispatcher is its ``dispatcher`` attribute. Parallel
    kernels are therefore called from Python, not from other kernels.
    """
    opts = {**_OPTIONS, "parallel": True, **kwargs}

    def wrap(func):
        dispatcher = numba.njit(**opts)(func)

        @functools.wraps(func)
        def kernel(*a, **k):
            if not _THREADS_STARTED:
                start_threads()
            if _KERNEL_LOCK is None:
                return dispatcher(*a, **k)
            with _KERNEL_LOCK:
                return dispatcher(*a, **k)

        kernel.dispatcher = dispatcher
        kernel.py_func = func
        return kernel

    if len(args) == 1 and callable(args[0]) and not kwargs:
        return wrap(args[0])
    if args:
        raise TypeError("pjit takes keyword options only (no signatures).")
    return wrap


prange = numba.prange


def resolve_n_jobs(n_jobs):
    """Number of Numba threads for ``n_jobs`` (scikit-learn's convention).

    ``None`` means all the threads Numba was started with, ``-1`` likewise, ``-2`` all
    but one, and a positive integer that many (capped at the available threads).
    """
    if n_jobs is not None and (isinstance(n_jobs, (bool, np.bool_))
                               or not isinstance(n_jobs, numbers.Integral)):
        raise TypeError(f"n_jobs must be None or an integer (-1: all threads), got "
                        f"{type(n_jobs).__name__} {n_jobs!r}.")
    available = numba.config.NUMBA_NUM_THREADS
    if n_jobs is None or n_jobs == -1:
        return available
    if n_jobs < 0:
        return max(1, available + 1 + n_jobs)
    return max(1, min(int(n_jobs), available))


_BLAS_CONTROLLER = None

#: Below this many multiply-adds a BLAS product runs single-threaded inside the
#: mini-batch loops (see :func:`blas_single_thread`).
SMALL_BLAS_WORK = 1 << 26


def blas_single_thread(work=0):
    """Context manager running BLAS single-threaded (when ``work`` is small, or always
    with the default ``work=0``).

    Waking BLAS's own thread pool costs more than a small product saves: on this
    2-core machine a 256x64 Gram product right after a parallel Numba kernel took 33 ms
    with OpenBLAS's two threads (median of 50, a loaded machine) and 0.24 ms on one,
    because each call handed the cores back and forth between the two thread pools.
    The mini-batch loops (online dictionary learning, chunked coding) therefore run
    their small products on one BLAS thread; large products (``work`` above
    :data:`SMALL_BLAS_WORK` multiply-adds) keep every thread. The controller is built
    once (building one scans the loaded libraries).
    """
    global _BLAS_CONTROLLER
    if work > SMALL_BLAS_WORK:
        return contextlib.nullcontext()
    if _BLAS_CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _BLAS_CONTROLLER = ThreadpoolController()
    return _BLAS_CONTROLLER.limit(limits=1, user_api="blas")


@contextmanager
def num_threads(n_jobs):
    """Context manager running the enclosed kernels on ``n_jobs`` Numba threads."""
    start_threads()
    previous = numba.get_num_threads()
    numba.set_num_threads(resolve_n_jobs(n_jobs))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def gram(D):
    """``D @ D.T`` for a float ``D`` (n_components, n_features), C-contiguous, in
    ``D``'s dtype, computed without waking BLAS's thread pool when it is small.

    NumPy hands ``D @ D.T`` to BLAS (``syrk``, exactly symmetric), whose threads then keep
    spinning for a while after it returns; a parallel Numba kernel started in that window
    shares the cores with them. On the 2-core benchmark machine Batch-OMP on 100,000
    signals (64x256) took 173 ms right after forming its Gram matrix that way and 128 ms
    with it formed on one BLAS thread. Products up to :data:`GRAM_SINGLE_THREAD_WORK`
    multiply-adds (a 4096-atom Gram of 64-dimensional signals, a few tens of ms on one
    core) therefore run on one BLAS thread; larger ones on all of them.
    """
    D = np.ascontiguousarray(D)
    n, m = D.shape
    with blas_single_thread(0 if n * n * m // 2 <= GRAM_SINGLE_THREAD_WORK
                            else SMALL_BLAS_WORK + 1):
        G = D @ D.T
    return np.ascontiguousarray(G)


#: Multiply-adds up to which :func:`gram` runs on one BLAS thread.
GRAM_SINGLE_THREAD_WORK = 1 << 30

#: Dictionaries whose Gram matrix costs fewer multiply-adds than this (about 0.3 ms on
#: one core) are not kept by :func:`gram_reused`: comparing and copying would cost a
#: noticeable part of forming it.
GRAM_REUSE_MIN_WORK = 1 << 23
#: Largest Gram matrix :func:`gram_reused` keeps (bytes): 64 MiB, a float64 Gram of
#: 2,896 atoms.
GRAM_REUSE_MAX_BYTES = 64 << 20
_GRAM_LAST = None  # (copy of the dictionary, its Gram matrix), replaced as one tuple


def gram_reused(D):
    """:func:`gram` of ``D``, reusing the Gram matrix of the previous call when ``D``
    holds exactly the same bits (same shape, dtype and values).

    The functional coders (:func:`sparsecode.orthogonal_mp` and the ones built on it)
    formed ``D @ D.T`` on every call; a pipeline coding batch after batch with one
    dictionary paid it each time, 8 ms of a 300 ms OMP call on 256x1024 (reusing it:
    0.957x the call time in paired runs, ``docs/benchmarks.rst``). The last
    dictionary's Gram matrix, and a copy of the dictionary to compare against (a
    dictionary changed in place is recognised), are kept when forming it costs at least
    :data:`GRAM_REUSE_MIN_WORK` multiply-adds and it takes at most
    :data:`GRAM_REUSE_MAX_BYTES`; the comparison reads both copies once (about 0.6 ms
    for 1024x256). The returned array is shared between calls: callers only read it
    and never hand it to the user. One entry, replaced whole (a tuple assignment, safe
    between threads).
    """
    global _GRAM_LAST
    D = np.ascontiguousarray(D)
    n, m = D.shape
    if n * n * m // 2 < GRAM_REUSE_MIN_WORK or n * n * D.itemsize > GRAM_REUSE_MAX_BYTES:
        return gram(D)
    last = _GRAM_LAST
    if last is not None:
        D0, G0 = last
        if D0.shape == D.shape and D0.dtype == D.dtype and _same_bits(D0, D):
            return G0
    G = gram(D)
    _GRAM_LAST = (D.copy(), G)
    return G


def _same_bits(a, b):
    """Whether two C-contiguous arrays of one shape and dtype hold the same bits (a
    float comparison would equate 0.0 with -0.0, whose Gram entries can differ in sign)."""
    ity = np.dtype(f"u{a.itemsize}")
    return bool(np.array_equal(a.view(ity), b.view(ity)))
