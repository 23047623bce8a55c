"""Compaction of per-signal code slots into CSR arrays.

The sparse-output kernels (:func:`sparsecode.kernels.omp.batch_omp_fused_slots`,
:func:`sparsecode.kernels.lars.batch_lars_fused_slots`) write the code of signal ``i``
into row ``i`` of two preallocated fixed-width arrays: ``slot_idx[i, :counts[i]]`` (the
atoms, in the order the solver found them) and ``slot_val[i, :counts[i]]`` (their
coefficients). The functions here turn such slots into the three arrays of a CSR matrix
(``indptr``, ``indices``, ``data``) in two parallel passes over the signals:

1. :func:`count_nonzero_slots` counts the nonzero values of each row (a coefficient
   that is exactly zero, e.g. a clipped non-negative lasso coefficient, is dropped, as
   ``scipy.sparse.csr_array(dense)`` would);
2. the caller takes the cumulative sum (the row pointer) and allocates the outputs;
3. :func:`compact_slots` writes each row's nonzeros at its offset, sorted by atom
   (insertion sort: rows hold at most a few dozen entries), so that the matrix is in
   canonical form (sorted indices, no duplicates).

Outputs are allocated by the caller (NumPy) so that their memory is visible to the
caller's accounting and the kernels allocate nothing.

:func:`chunk_partition` cuts the signals into chunks (bounded slot buffers) and the
chunks into tasks of the thread pool such that every BLAS product of the slot kernels
is one of the dense kernels' products: the codes are then bit-identical to the dense
ones (a product of one row goes to ``gemv`` and may round differently from the same row
inside a larger ``gemm``).
"""

from __future__ import annotations

import numpy as np

from .._jit import pjit, prange


@pjit
def count_nonzero_slots(slot_val, counts, row_nnz):
    """row_nnz[i] = number of nonzeros among ``slot_val[i, :counts[i]]``.

    Parameters
    ----------
    slot_val : (n_rows, width) coefficients.
    counts : (n_rows,) int64, number of filled slots of each row (``<= width``).
    row_nnz : (n_rows,) int64 output.
    """
    for i in prange(slot_val.shape[0]):
        nnz = 0
        row = slot_val[i]
        for m in range(counts[i]):
            if row[m] != 0:
                nnz += 1
        row_nnz[i] = nnz


@pjit
def compact_slots(slot_idx, slot_val, counts, indptr, indices, data):
    """Write the nonzeros of every row at ``indptr[i]``, sorted by column.

    Parameters
    ----------
    slot_idx : (n_rows, width) int32 columns (distinct within a row).
    slot_val : (n_rows, width) coefficients, in the dtype of ``data``.
    counts : (n_rows,) int64, number of filled slots of each row.
    indptr : (n_rows + 1,) int64, offsets of the rows in ``indices`` / ``data``, as
        given by the cumulative sum of :func:`count_nonzero_slots` (starting at 0).
    indices : (indptr[-1],) int32 output.
    data : (indptr[-1],) output.
    """
    for i in prange(slot_idx.shape[0]):
        off = indptr[i]
        n = 0
        for m in range(counts[i]):
            v = slot_val[i, m]
            if v == 0:
                continue
            j = slot_idx[i, m]
            p = off + n
            while p > off and indices[p - 1] > j:
                indices[p] = indices[p - 1]
                data[p] = data[p - 1]
                p -= 1
            indices[p] = j
            data[p] = v
            n += 1


def compact_slots_reference(slot_idx, slot_val, counts):
    """Plain-NumPy twin of :func:`count_nonzero_slots` + :func:`compact_slots`.

    Returns
    -------
    indptr : (n_rows + 1,) int64
    indices : (nnz,) int32
    data : (nnz,) in the dtype of ``slot_val``
    """
    slot_idx = np.asarray(slot_idx)
    slot_val = np.asarray(slot_val)
    n_rows = slot_idx.shape[0]
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    indices, data = [], []
    for i in range(n_rows):
        cols = slot_idx[i, : counts[i]]
        vals = slot_val[i, : counts[i]]
        keep = vals != 0
        order = np.argsort(cols[keep], kind="stable")
        indices.append(cols[keep][order].astype(np.int32))
        data.append(vals[keep][order])
        indptr[i + 1] = indptr[i] + int(keep.sum())
    cat = (lambda parts, dt: np.concatenate(parts).astype(dt) if parts
           else np.zeros(0, dtype=dt))
    return indptr, cat(indices, np.int32), cat(data, slot_val.dtype)


def chunk_partition(n, n_blocks, sub_block, chunk_rows, n_groups):
    """Chunks of signals, and tasks within each, that keep a dense kernel's products.

    The dense kernels split ``n`` signals into the blocks ``block_bounds(n, n_blocks)``
    (``(b * n) // n_blocks``) and each block, from its start, into products of
    ``sub_block`` signals. Chunks and tasks are cut only at these products' boundaries,
    and a task never crosses a block boundary, so a task cut into products of
    ``sub_block`` signals from its own start makes exactly the dense products.

    Parameters
    ----------
    n : int, number of signals.
    n_blocks, sub_block : int, the dense kernel's partition.
    chunk_rows : int, target signals per chunk (a chunk ends at the first product
        boundary at or past it).
    n_groups : int, target number of tasks per chunk (more where blocks end inside).

    Returns
    -------
    chunks : list of ``(start, stop, bounds)``, consecutive, covering ``0:n``;
        ``bounds`` (int64, chunk-local, from 0 to ``stop - start``) are the task
        boundaries (see :func:`sparsecode.kernels.omp.batch_omp_fused_slots`).
    """
    if n <= 0:
        return []
    n_blocks = max(1, min(n, n_blocks))
    edges = (np.arange(n_blocks + 1, dtype=np.int64) * n) // n_blocks
    cuts = np.unique(np.concatenate(
        [np.arange(a, c, sub_block, dtype=np.int64) for a, c in zip(edges[:-1], edges[1:])]
        + [np.array([n], dtype=np.int64)]))
    forced = np.isin(cuts, edges)
    chunks = []
    i0 = 0
    last = cuts.shape[0] - 1
    while i0 < last:
        i1 = int(np.searchsorted(cuts, cuts[i0] + max(1, chunk_rows), side="left"))
        i1 = min(max(i1, i0 + 1), last)
        span = np.arange(i0, i1 + 1)
        even = np.unique(np.rint(np.linspace(i0, i1, min(max(1, n_groups), i1 - i0) + 1))
                         .astype(np.int64))
        chosen = np.union1d(even, span[forced[i0:i1 + 1]])
        chunks.append((int(cuts[i0]), int(cuts[i1]), cuts[chosen] - cuts[i0]))
        i0 = i1
    return chunks
