"""Dask support shared by the estimators and applications: detect, check, map over rows.

Samples are rows, and every sample is coded on its own, so a Dask array chunked along
its rows is coded block by block with :meth:`dask.array.Array.map_blocks`: one task per
block, the row chunks kept, nothing computed until the user asks. Nothing here imports
dask unless the caller already holds a Dask array (``import sparsecode`` never imports
dask: :func:`is_dask_array` looks in ``sys.modules`` only).
"""

from __future__ import annotations

import copy
import math
import sys

import numpy as np

__all__ = ["is_dask_array", "check_dask_rows", "float_dtype", "map_rows", "map_method_rows",
           "iter_row_blocks"]


def is_dask_array(x):
    """True if ``x`` is a ``dask.array.Array`` (never imports dask itself)."""
    module = sys.modules.get("dask.array")
    return module is not None and isinstance(x, module.Array)


def float_dtype(dtype):
    """The working dtype of the NumPy path: float32 stays float32, the rest is float64."""
    return np.dtype(np.float32) if np.dtype(dtype) == np.float32 else np.dtype(np.float64)


def check_dask_rows(X, *, name="X", n_columns=None, owner=None, what="features"):
    """Check that the Dask array ``X`` is 2-D, real and whole along its rows.

    Parameters
    ----------
    X : dask.array.Array
    name : str
        The argument's name, for the messages.
    n_columns : int, default=None
        Expected number of columns (checked when given).
    owner : str, default=None
        Who expects ``n_columns`` (an estimator's class name), for the message.
    what : str
        What a column is ("features", "components"), for the messages.

    Returns
    -------
    dtype : numpy.dtype
        The dtype the blocks are computed in (see :func:`float_dtype`).

    Raises
    ------
    ValueError
        If ``X`` is not 2-D, has an unknown number of columns, is chunked along its
        columns (each block must hold whole samples: ``X.rechunk({1: -1})``) or has
        the wrong number of columns.
    TypeError
        If its dtype is not real and numeric.
    """
    if X.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array (n_samples, n_{what}), got a Dask array of shape "
            f"{X.shape}."
        )
    kind = X.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} must be real; complex dtype {X.dtype} is not supported.")
    if kind not in "biuf":
        raise TypeError(f"{name} must be a numeric array, got dtype {X.dtype}.")
    n_cols = X.shape[1]
    if isinstance(n_cols, float) and math.isnan(n_cols):
        raise ValueError(
            f"{name} is a Dask array with an unknown number of columns; call "
            f"{name}.compute_chunk_sizes() first."
        )
    if X.numblocks[1] != 1:
        raise ValueError(
            f"{name} is a Dask array chunked along its {what} (axis 1 has "
            f"{X.numblocks[1]} chunks: {X.chunks[1]}); every block must hold whole "
            f"samples. Rechunk it along the rows only: {name}.rechunk({{1: -1}})."
        )
    if n_columns is not None and n_cols != n_columns:
        who = f"{owner} is expecting" if owner else "expected"
        raise ValueError(f"{name} has {n_cols} {what}, but {who} {n_columns} {what} as input.")
    return float_dtype(X.dtype)


def _apply_rows(block, func, n_out, dtype, *args, block_info=None):
    if block.shape[0] == 0:  # empty blocks (after slicing): NumPy validation rejects them
        return np.empty((0, n_out), dtype=dtype)
    try:
        return np.asarray(func(block, *args), dtype=dtype)
    except ValueError as exc:  # say which rows: the NumPy message alone names no block
        where = "a block"
        if block_info and None in block_info:
            start, stop = block_info[None]["array-location"][0]
            where = f"rows {start}:{stop}"
        raise ValueError(f"In {where} of the Dask array: {exc}") from exc


def map_rows(func, X, *args, n_out, dtype, token):
    """Lazy ``func(block, *args)`` over the row blocks of ``X``.

    Parameters
    ----------
    func : callable
        ``func(block, *args) -> ndarray (len(block), n_out)``, on NumPy blocks. Picklable
        (it runs in the workers of a distributed cluster).
    X : dask.array.Array of shape (n_samples, n_columns)
        Chunked along rows only (see :func:`check_dask_rows`).
    *args
        Passed to ``func``; a ``dask.delayed`` object is sent to each worker once.
    n_out : int
        Columns of the output.
    dtype : numpy.dtype
        Dtype of the output (its ``meta`` is an empty NumPy array of that dtype).
    token : str
        Prefix of the output's task names.

    Returns
    -------
    out : dask.array.Array of shape (n_samples, n_out)
        With ``X``'s row chunks and one chunk along the columns.
    """
    dtype = np.dtype(dtype)
    return X.map_blocks(
        _apply_rows, func, n_out, dtype, *args, dtype=dtype,
        chunks=(X.chunks[0], (n_out,)), meta=np.empty((0, 0), dtype=dtype), token=token,
    )


def _call_method(block, estimator, method):
    return getattr(estimator, method)(block)


def map_method_rows(estimator, method, X, *, n_out, dtype):
    """Lazy ``estimator.<method>`` over the row blocks of the Dask array ``X``.

    A shallow copy of the fitted estimator is taken now (refitting it before
    ``compute`` does not change the result) and sent to the workers once, as one
    ``dask.delayed`` object; each block then goes through the NumPy ``method``, so
    every block is validated (NaN, infinities) and coded exactly as by the NumPy call
    on that block.
    """
    import dask

    snapshot = dask.delayed(copy.copy(estimator), pure=True)
    token = f"{type(estimator).__name__.lower()}-{method.replace('_', '-')}"
    return map_rows(_call_method, X, snapshot, method, n_out=n_out, dtype=dtype, token=token)


def iter_row_blocks(X, order=None):
    """Compute the row blocks of ``X`` one at a time (in ``order``), as NumPy arrays.

    Only one block is in memory at a time (plus what the caller keeps); the scheduler is
    dask's current one (a ``distributed.Client`` if one is active).
    """
    n_blocks = X.numblocks[0]
    for i in range(n_blocks) if order is None else order:
        yield np.asarray(X.blocks[int(i)].compute())
