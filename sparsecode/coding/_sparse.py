"""Sparse (CSR) code output: chunked drivers shared by the coders and estimators.

``output="sparse"`` returns the codes as a :class:`scipy.sparse.csr_array` of shape
``(n_samples, n_components)``. We return ``csr_array`` rather than ``csr_matrix``
deliberately: it is SciPy's recommended sparse type, it behaves like a NumPy array
(``*`` is element-wise, ``@`` the matrix product, reductions give 1-D arrays), and
scikit-learn accepts it wherever it accepts sparse input.
``scipy.sparse.csr_matrix(codes)`` wraps the same three arrays without copying when a
user needs the legacy matrix type.

OMP and LARS build the CSR arrays directly: their kernels write each signal's support
and coefficients into preallocated per-signal slots (at most ``max_k`` per row) of one
chunk of signals, and :mod:`sparsecode.kernels.csr` compacts the slots into CSR
pieces; no ``(n_samples, n_components)`` array ever exists. The other algorithms code
one chunk densely at a time and convert it. Either way the peak memory is that of the
CSR result plus one chunk.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..kernels.csr import compact_slots, count_nonzero_slots
from . import _fista

OUTPUTS = ("dense", "sparse")

#: Bytes of the per-chunk slot buffers of the direct kernels (and of the dense chunk of
#: the converting path). Bounds the memory used besides the result.
_CHUNK_BYTES = 32 * 2**20

_INT32_MAX = np.iinfo(np.int32).max


def check_output(output):
    """Validate ``output``: ``"dense"`` or ``"sparse"``."""
    if not isinstance(output, str) or output not in OUTPUTS:
        raise ValueError(f"output must be 'dense' or 'sparse', got {output!r}.")
    return output


def slot_chunk_rows(width, itemsize):
    """Signals per chunk of the direct (slot) kernels."""
    per_row = max(width, 1) * (4 + itemsize) + 16
    return max(1024, _CHUNK_BYTES // per_row)


def dense_chunk_rows(n_components, itemsize):
    """Signals per chunk of the converting path.

    A multiple of the block of signals the iterative solvers (FISTA, ISTA, IHT) process
    at a time, so that their blocks, hence their BLAS products and codes, are the same
    as those of one dense call.
    """
    quantum = _fista._CHUNK
    rows = _CHUNK_BYTES // max(1, n_components * itemsize)
    return max(quantum, (rows // quantum) * quantum)


class CSRBuilder:
    """Collects CSR pieces of consecutive chunks of rows and assembles the matrix.

    Parameters
    ----------
    n_samples, n_components : int
        Shape of the result.
    dtype : dtype
        dtype of the values.
    """

    def __init__(self, n_samples, n_components, dtype):
        self.shape = (int(n_samples), int(n_components))
        self.dtype = np.dtype(dtype)
        self.indptr = np.zeros(n_samples + 1, dtype=np.int64)
        self._pieces = []
        self._row = 0

    def add_slots(self, slot_idx, slot_val, counts):
        """Append rows given as slots (see :mod:`sparsecode.kernels.csr`)."""
        m = slot_idx.shape[0]
        if slot_val.dtype != self.dtype:
            slot_val = slot_val.astype(self.dtype)  # one chunk; zeros after the cast drop
        row_nnz = np.empty(m, dtype=np.int64)
        if m:
            count_nonzero_slots(slot_val, counts, row_nnz)
        local = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(row_nnz, out=local[1:])
        nnz = int(local[-1])
        indices = np.empty(nnz, dtype=np.int32)
        data = np.empty(nnz, dtype=self.dtype)
        if m:
            compact_slots(slot_idx, slot_val, counts, local, indices, data)
        self._append(local, indices, data)

    def add_dense(self, codes):
        """Append rows given as a dense chunk (converted by SciPy)."""
        piece = sp.csr_array(np.asarray(codes, dtype=self.dtype))
        piece.sort_indices()
        self._append(piece.indptr.astype(np.int64, copy=False),
                     piece.indices.astype(np.int32, copy=False), piece.data)

    def _append(self, local_indptr, indices, data):
        m = local_indptr.shape[0] - 1
        r = self._row
        self.indptr[r + 1: r + m + 1] = self.indptr[r] + local_indptr[1:]
        self._row = r + m
        if indices.size:
            self._pieces.append((indices, data))

    def finish(self):
        """The assembled :class:`scipy.sparse.csr_array` (the pieces are released)."""
        if self._row != self.shape[0]:  # pragma: no cover - internal contract
            raise RuntimeError("CSRBuilder: not every row was added.")
        nnz = int(self.indptr[-1])
        index_dtype = np.int32 if max(nnz, self.shape[1]) <= _INT32_MAX else np.int64
        pieces = self._pieces
        self._pieces = []
        if len(pieces) == 1 and index_dtype == np.int32:
            indices, data = pieces.pop()
        else:
            indices = np.empty(nnz, dtype=index_dtype)
            data = np.empty(nnz, dtype=self.dtype)
            pos = 0
            while pieces:  # copy and release piece by piece
                ind, val = pieces.pop(0)
                indices[pos: pos + ind.size] = ind
                data[pos: pos + ind.size] = val
                pos += ind.size
                del ind, val
        if nnz == 0:
            indices = np.zeros(0, dtype=index_dtype)
            data = np.zeros(0, dtype=self.dtype)
        indptr = self.indptr.astype(index_dtype, copy=False)
        self.indptr = None
        codes = sp.csr_array((data, indices, indptr), shape=self.shape, copy=False)
        codes.has_sorted_indices = True  # compact_slots / sort_indices sorted each row
        return codes


def dense_to_csr_chunked(code_chunk, n_samples, n_components, dtype, chunk_rows=None):
    """CSR codes from a dense coder applied to consecutive chunks of rows.

    Parameters
    ----------
    code_chunk : callable
        ``code_chunk(start, stop) -> (stop - start, n_components)`` dense codes.
    n_samples, n_components : int
    dtype : dtype of the values.
    chunk_rows : int, default=None
        Rows per chunk (None: :func:`dense_chunk_rows`).
    """
    dtype = np.dtype(dtype)
    if chunk_rows is None:
        chunk_rows = dense_chunk_rows(n_components, dtype.itemsize)
    builder = CSRBuilder(n_samples, n_components, dtype)
    for s in range(0, n_samples, chunk_rows):
        e = min(s + chunk_rows, n_samples)
        builder.add_dense(code_chunk(s, e))
    return builder.finish()
