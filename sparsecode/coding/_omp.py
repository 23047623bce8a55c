"""Orthogonal Matching Pursuit: validated public functions over the Batch-OMP kernel."""

from __future__ import annotations

import numba
import numpy as np

from .._jit import blas_single_thread, num_threads
from .._jit import gram_reused
from ..backends import any_torch
from ..kernels.csr import chunk_partition
from ..kernels.omp import batch_omp, batch_omp_fused, batch_omp_fused_slots
from ..utils._validation import (
    _as_float_array,
    check_dictionary,
    check_n_nonzero_coefs,
    check_signals,
    check_tol,
)
from ._sparse import CSRBuilder, check_output, slot_chunk_rows

#: Signals per BLAS product inside one Numba thread (the correlations of one block
#: stay in cache while they are coded). 256 rather than 128: on 64 x 256, k = 8 the
#: kernel took 0.937x the time (small products run closer to BLAS's speed when larger),
#: on 256 x 1024, k = 16 0.99-1.00x; 32 and 64 were 13 % and 6 % slower there
#: (2 threads, medians of paired shuffled rounds, 2026-12-03, session prototypes).
_SUB_BLOCK = 256



def _default_n_nonzero(n_features, n_components):
    # scikit-learn's default: 10 % of the features, at least one atom.
    return max(1, min(int(0.1 * n_features), n_components))


def _resolve_stopping(n_nonzero_coefs, tol, n_features, n_components):
    n_nonzero_coefs = check_n_nonzero_coefs(n_nonzero_coefs, n_components)
    tol = check_tol(tol)
    if n_nonzero_coefs is None and tol is None:
        n_nonzero_coefs = _default_n_nonzero(n_features, n_components)
    # Beyond rank(D) <= n_features atoms are necessarily dependent: no need for buffers.
    limit = min(n_components, n_features)
    max_k = limit if n_nonzero_coefs is None else min(n_nonzero_coefs, limit)
    return max_k, (-1.0 if tol is None else tol)


def orthogonal_mp(
    X,
    dictionary,
    *,
    n_nonzero_coefs=None,
    tol=None,
    gram=None,
    n_jobs=None,
    return_n_iter=False,
    output="dense",
    out=None,
):
    r"""Sparse codes of many signals by Orthogonal Matching Pursuit (Batch-OMP).

    For each signal :math:`x` (a row of ``X``) greedily builds a support :math:`I`
    and the least-squares code on it,

    .. math::

        \min_{z} \|x - z D\|_2^2 \quad \text{s.t.} \quad \|z\|_0 \le k
        \quad\text{or}\quad \|x - z D\|_2^2 \le \mathrm{tol},

    using the Gram matrix :math:`G = D D^\top`, one BLAS product for the correlations
    and progressive Cholesky updates (Rubinstein, Zibulevsky & Elad, 2008), in parallel
    over signals.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Signals, one per row.
    dictionary : array-like of shape (n_components, n_features)
        Atoms, one per row. Atoms need not have unit norm (the selection rule is then
        the correlation with the unnormalised atom, as in scikit-learn), but must be
        nonzero.
    n_nonzero_coefs : int, default=None
        Maximal number of atoms per signal. If both this and ``tol`` are None,
        ``max(1, int(0.1 * n_features))`` as in scikit-learn.
    tol : float, default=None
        Target squared residual norm :math:`\|x - zD\|_2^2` per signal. May be combined
        with ``n_nonzero_coefs``: coding stops at whichever comes first. A signal whose
        squared norm is already within ``tol`` gets the zero code.
    gram : array-like of shape (n_components, n_components), default=None
        Precomputed ``dictionary @ dictionary.T``. Without it the Gram matrix is
        formed, except when the dictionary holds exactly the same bits as the previous
        call's: the last Gram matrix (up to 64 MiB) is kept and reused, so a loop
        coding batch after batch with one dictionary forms it once
        (``sparsecode._jit.gram_reused``).
    n_jobs : int, default=None
        Number of threads (None or -1: all Numba threads).
    return_n_iter : bool, default=False
        Also return the number of atoms selected for each signal.
    output : {"dense", "sparse"}, default="dense"
        Format of the codes: a NumPy array, or a :class:`scipy.sparse.csr_array` built
        directly by the kernel (each signal's support written into its own slots of at
        most ``n_nonzero_coefs`` entries, then compacted, in chunks of signals), so
        memory holds the nonzeros only, never an ``(n_samples, n_components)`` array.
        The sparse codes have exactly the nonzeros (indices and values) of the dense
        ones, with sorted column indices.
    out : ndarray of shape (n_samples, n_components), default=None
        A C-contiguous array of the codes' dtype to write the dense codes into (every
        entry is overwritten) and return, as NumPy's ``out=``. A pipeline coding batch
        after batch can reuse one buffer: a fresh ``(n_samples, n_components)`` array
        costs the first touch of all its pages, which on a virtual machine whose memory
        was handed back to the host took up to half a second for 164 MB, longer than
        the coding (see ``benchmarks/results/omp.md``).

    Returns
    -------
    codes : ndarray or scipy.sparse.csr_array of shape (n_samples, n_components)
        Sparse codes, ``X ≈ codes @ dictionary``; float32 if both ``X`` and
        ``dictionary`` are float32, float64 otherwise. A torch tensor (on the inputs'
        device) when ``X`` or ``dictionary`` is one.
    n_iter : ndarray of shape (n_samples,), int
        Only with ``return_n_iter=True``.

    Notes
    -----
    Coding stops early, cleanly, when the residual becomes orthogonal to every atom
    or the best atom is linearly dependent on the selected ones.

    References
    ----------
    R. Rubinstein, M. Zibulevsky, M. Elad, "Efficient implementation of the K-SVD
    algorithm using batch orthogonal matching pursuit", Technion CS-2008-08 (2008).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode import orthogonal_mp
    >>> rng = np.random.default_rng(0)
    >>> D = rng.standard_normal((50, 20))
    >>> D /= np.linalg.norm(D, axis=1, keepdims=True)
    >>> z = np.zeros((1, 50)); z[0, [3, 17]] = [1.0, -2.0]
    >>> codes = orthogonal_mp(z @ D, D, n_nonzero_coefs=2)
    >>> np.flatnonzero(codes[0]).tolist()
    [3, 17]

    Torch tensors are coded in torch on their device (CPU or CUDA), with the same
    algorithm, and give tensors (see :ref:`torch-backend`):

    >>> import torch  # doctest: +SKIP
    >>> codes_t = orthogonal_mp(torch.from_numpy(z @ D), torch.from_numpy(D),
    ...                         n_nonzero_coefs=2)  # doctest: +SKIP
    """
    if any_torch(X, dictionary):
        from ..backends._torch_omp import orthogonal_mp_torch

        return orthogonal_mp_torch(X, dictionary, n_nonzero_coefs=n_nonzero_coefs, tol=tol,
                                   gram=gram, n_jobs=n_jobs, return_n_iter=return_n_iter)
    output = check_output(output)
    D = check_dictionary(dictionary)
    dtype = np.float32 if (D.dtype == np.float32 and np.asarray(X).dtype == np.float32) else np.float64
    D = D.astype(dtype, copy=False)
    X = check_signals(X, n_features=D.shape[1], dtype=dtype, dictionary_shape=D.shape)
    n_components, n_features = D.shape
    max_k, tol_ = _resolve_stopping(n_nonzero_coefs, tol, n_features, n_components)
    if gram is None:
        G = gram_reused(D)
    else:
        G = _as_float_array(gram, "gram", dtype=dtype)
        if G.shape != (n_components, n_components):
            raise ValueError(
                f"gram must have shape (n_components, n_components) = "
                f"({n_components}, {n_components}), got {G.shape}."
            )
    if output == "sparse":
        if out is not None:
            raise ValueError("out is for dense codes; it cannot be given with "
                             "output='sparse'.")
        return _omp_sparse(X, D, G, max_k, tol_, True, n_jobs, return_n_iter)
    out = _check_out(out, (X.shape[0], n_components), X.dtype)
    return _omp_dense(X, D, G, max_k, tol_, True, n_jobs, return_n_iter, out=out)


def _check_out(out, shape, dtype):
    """Validate a user's ``out=`` buffer (None passes through)."""
    if out is None:
        return None
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a NumPy array, got {type(out).__name__}.")
    if out.shape != shape or out.dtype != dtype:
        raise ValueError(f"out must have shape {shape} and dtype {np.dtype(dtype).name} "
                         f"(the codes'), got shape {out.shape} and dtype {out.dtype.name}.")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("out must be C-contiguous and writeable.")
    return out


def _omp_dense(X, D, G, max_k, tol, tol_first, n_jobs, return_n_iter, out=None):
    """Kernel call on validated, same-dtype, C-contiguous arrays."""
    n_samples = X.shape[0]
    # a fresh output is np.zeros: its pages are zeroed by the operating system as the
    # kernel first touches them, which writes only the nonzeros (zeroed=True); into a
    # user's out= buffer the kernel writes every entry, each row while the thread coding
    # it has it in cache: no separate zeroing pass either way
    zeroed = out is None
    codes = np.zeros((n_samples, D.shape[0]), dtype=X.dtype) if zeroed else out
    n_iter = np.zeros(n_samples, dtype=np.int64)
    if n_samples:
        norms2 = np.einsum("ij,ij->i", X, X) if tol >= 0 else np.zeros(n_samples, X.dtype)
        Dt = np.ascontiguousarray(D.T)
        with blas_single_thread(), num_threads(n_jobs):
            n_blocks = 4 * numba.get_num_threads()
            batch_omp_fused(X, Dt, G, norms2, max_k, X.dtype.type(tol), tol_first,
                            _SUB_BLOCK, n_blocks, codes, n_iter, zeroed)
    return (codes, n_iter) if return_n_iter else codes


def _omp_sparse(X, D, G, max_k, tol, tol_first, n_jobs, return_n_iter, chunk_rows=None):
    """:func:`_omp_dense` returning a ``csr_array`` built from the slot kernel.

    Signals are coded in chunks of about ``chunk_rows`` (default: slot buffers of about
    ``_sparse._CHUNK_BYTES``), cut where the dense call's BLAS products are cut (so the
    codes are bit-identical); each chunk's slots are compacted into CSR pieces at once.
    """
    n_samples = X.shape[0]
    width = max(max_k, 1)
    if chunk_rows is None:
        chunk_rows = slot_chunk_rows(width, X.dtype.itemsize)
    n_iter = np.zeros(n_samples, dtype=np.int64)
    builder = CSRBuilder(n_samples, D.shape[0], X.dtype)
    if n_samples:
        Dt = np.ascontiguousarray(D.T)
        with blas_single_thread(), num_threads(n_jobs):
            n_blocks = 4 * numba.get_num_threads()  # as in _omp_dense
            chunks = chunk_partition(n_samples, n_blocks, _SUB_BLOCK, chunk_rows, n_blocks)
            rows = max(e - s for s, e, _ in chunks)
            slot_idx = np.empty((rows, width), dtype=np.int32)
            slot_val = np.empty((rows, width), dtype=X.dtype)
            for s, e, bounds in chunks:
                Xc = X[s:e]
                norms2 = (np.einsum("ij,ij->i", Xc, Xc) if tol >= 0
                          else np.zeros(e - s, X.dtype))
                batch_omp_fused_slots(Xc, Dt, G, norms2, max_k, X.dtype.type(tol),
                                      tol_first, _SUB_BLOCK, bounds, slot_idx[: e - s],
                                      slot_val[: e - s], n_iter[s:e])
                builder.add_slots(slot_idx[: e - s], slot_val[: e - s], n_iter[s:e])
            del slot_idx, slot_val
    codes = builder.finish()
    return (codes, n_iter) if return_n_iter else codes


def orthogonal_mp_gram(
    gram,
    cov,
    *,
    n_nonzero_coefs=None,
    tol=None,
    norms_squared=None,
    n_jobs=None,
    return_n_iter=False,
):
    r"""OMP from the Gram matrix and the correlations only (samples in rows).

    Parameters
    ----------
    gram : array-like of shape (n_components, n_components)
        ``D @ D.T``.
    cov : array-like of shape (n_samples, n_components)
        Correlations ``X @ D.T``, one signal per row.
    n_nonzero_coefs, tol, n_jobs, return_n_iter
        As in :func:`orthogonal_mp`.
    norms_squared : array-like of shape (n_samples,), default=None
        Squared norms of the signals; required when ``tol`` is given.

    Returns
    -------
    codes : ndarray of shape (n_samples, n_components)
    n_iter : ndarray of shape (n_samples,), only with ``return_n_iter=True``.
    """
    G = _as_float_array(gram, "gram")
    if G.shape[0] != G.shape[1]:
        raise ValueError(f"gram must be square, got shape {G.shape}.")
    diag = np.diag(G)
    if (diag <= 0).any():
        raise ValueError("gram has a non-positive diagonal entry: every atom must be nonzero.")
    cov = _as_float_array(cov, "cov", dtype=G.dtype if np.asarray(cov).dtype == G.dtype else np.float64)
    G = G.astype(cov.dtype, copy=False)
    if cov.shape[1] != G.shape[0]:
        raise ValueError(
            f"cov must have shape (n_samples, {G.shape[0]}) to match gram, got {cov.shape}."
        )
    n_components = G.shape[0]
    # n_features is unknown here; the rank bound falls back to n_components.
    max_k, tol_ = _resolve_stopping(n_nonzero_coefs, tol, n_components, n_components)
    if n_nonzero_coefs is None and tol is None:
        max_k = _default_n_nonzero(n_components, n_components)
    if tol is not None:
        if norms_squared is None:
            raise ValueError("norms_squared is required when tol is given.")
        norms2 = _as_float_array(norms_squared, "norms_squared", ndim=1, dtype=cov.dtype)
        if norms2.shape[0] != cov.shape[0]:
            raise ValueError(
                f"norms_squared must have shape ({cov.shape[0]},), got {norms2.shape}."
            )
    else:
        norms2 = np.zeros(cov.shape[0], dtype=cov.dtype)
    return _omp_gram(G, cov, norms2, max_k, tol_, True, n_jobs, return_n_iter)


def _omp_gram(G, cov, norms2, max_k, tol, tol_first, n_jobs, return_n_iter):
    codes = np.zeros(cov.shape, dtype=cov.dtype)  # the kernel writes only the nonzeros
    n_iter = np.zeros(cov.shape[0], dtype=np.int64)
    if cov.shape[0]:
        with num_threads(n_jobs):
            batch_omp(cov, G, norms2, max_k, cov.dtype.type(tol), tol_first, codes, n_iter,
                      True)
    return (codes, n_iter) if return_n_iter else codes
