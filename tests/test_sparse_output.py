"""Sparse (CSR) code output: the kernels' slots, the functions, the estimators.

The oracle is the dense path: ``output="sparse"`` must give exactly the nonzeros
(indices, values, row pointer) of ``scipy.sparse.csr_array(dense_codes)``.
"""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

from sparsecode import SparseCoder, lars, lasso_lars, orthogonal_mp
from sparsecode.coding import _fista, _iht, _sparse
from sparsecode.dictionary import DictionaryLearning, MiniBatchDictionaryLearning
from sparsecode.kernels.csr import (
    chunk_partition,
    compact_slots,
    compact_slots_reference,
    count_nonzero_slots,
)
from sparsecode.kernels.lars import batch_lars_fused_slots, lars_slots_reference
from sparsecode.kernels.omp import batch_omp_fused_slots, batch_omp_slots_reference


def make_problem(rng, n_samples=300, n_features=24, n_components=80, k=5, noise=0.05,
                 dtype=np.float64, n_zero=3):
    D = rng.standard_normal((n_components, n_features))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    Z = np.zeros((n_samples, n_components))
    for i in range(n_samples):
        Z[i, rng.choice(n_components, k, replace=False)] = rng.standard_normal(k) + np.sign(
            rng.standard_normal(k))
    X = Z @ D + noise * rng.standard_normal((n_samples, n_features))
    X[rng.choice(n_samples, n_zero, replace=False)] = 0.0  # empty support rows
    return X.astype(dtype), D.astype(dtype)


def assert_same_codes(sparse, dense):
    """``sparse`` is the canonical CSR form of ``dense``, bit for bit."""
    assert isinstance(sparse, sp.csr_array)
    assert sparse.shape == dense.shape
    assert sparse.dtype == dense.dtype
    ref = sp.csr_array(dense)
    np.testing.assert_array_equal(sparse.indptr, ref.indptr)
    np.testing.assert_array_equal(sparse.indices, ref.indices)
    np.testing.assert_array_equal(sparse.data, ref.data)  # exact, not allclose
    assert sparse.has_canonical_format
    check = sparse.copy()
    check.has_sorted_indices = False
    check.sort_indices()
    np.testing.assert_array_equal(check.indices, sparse.indices)


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 1024 signals, so that 3000 signals take three chunks.

    The iterative solvers' own blocks shrink to match (the converting path aligns its
    chunks to them).
    """
    monkeypatch.setattr(_sparse, "_CHUNK_BYTES", 1)
    assert _sparse.slot_chunk_rows(8, 8) == 1024
    monkeypatch.setattr(_fista, "_CHUNK", 1024)
    monkeypatch.setattr(_iht, "_CHUNK", 1024)
    assert _sparse.dense_chunk_rows(80, 8) == 1024


# -- kernels vs their NumPy twins ---------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("max_k, tol", [(6, -1.0), (24, 0.05), (4, 0.5)])
def test_batch_omp_fused_slots_matches_reference(rng, dtype, max_k, tol):
    X, D = make_problem(rng, n_samples=60, dtype=dtype)
    G = D @ D.T
    norms2 = np.einsum("ij,ij->i", X, X)
    width = max_k + 2  # wider than needed: entries past n_iter stay untouched
    slot_idx = np.full((60, width), -7, dtype=np.int32)
    slot_val = np.full((60, width), 9.0, dtype=dtype)
    n_iter = np.zeros(60, dtype=np.int64)
    batch_omp_fused_slots(X, np.ascontiguousarray(D.T), G, norms2, max_k, dtype(tol), True,
                          16, np.array([0, 7, 30, 31, 31, 60]), slot_idx, slot_val, n_iter)
    r_idx, r_val, r_iter = batch_omp_slots_reference(X @ D.T, G, norms2, max_k, tol)
    np.testing.assert_array_equal(n_iter, r_iter)
    assert (n_iter == 0).sum() >= 3
    for i in range(60):
        k = n_iter[i]
        np.testing.assert_array_equal(slot_idx[i, :k], r_idx[i, :k])  # selection order
        atol = 1e-9 if dtype == np.float64 else 2e-4
        np.testing.assert_allclose(slot_val[i, :k], r_val[i, :k], rtol=0, atol=atol)
        assert (slot_idx[i, k:] == -7).all() and (slot_val[i, k:] == 9.0).all()


@pytest.mark.parametrize("lasso, positive, alpha, max_k", [
    (True, False, 0.05, 24), (True, True, 0.02, 24), (False, False, 0.0, 5),
    (True, False, 0.01, 3),
])
def test_batch_lars_fused_slots_matches_reference(rng, lasso, positive, alpha, max_k):
    X, D = make_problem(rng, n_samples=50)
    G = D @ D.T
    slot_idx = np.full((50, max_k), -7, dtype=np.int32)
    slot_val = np.zeros((50, max_k))
    n_active, n_iter, status = (np.zeros(50, dtype=np.int64) for _ in range(3))
    lambdas = np.zeros(50)
    batch_lars_fused_slots(X, np.ascontiguousarray(D.T), G, alpha, max_k, lasso, positive,
                           500, 16, np.array([0, 1, 20, 50]), slot_idx, slot_val, n_active,
                           n_iter, status, lambdas)
    r_idx, r_val, r_active, r_iter, r_status, r_lambdas = lars_slots_reference(
        X @ D.T, G, alpha, max_k, lasso, positive, 500)
    np.testing.assert_array_equal(n_active, r_active)
    np.testing.assert_array_equal(n_iter, r_iter)
    np.testing.assert_array_equal(status, r_status)
    np.testing.assert_allclose(lambdas, r_lambdas, rtol=1e-9, atol=1e-12)
    for i in range(50):
        k = n_active[i]
        np.testing.assert_array_equal(np.sort(slot_idx[i, :k]), np.sort(r_idx[i, :k]))
        got = dict(zip(slot_idx[i, :k], slot_val[i, :k]))
        want = dict(zip(r_idx[i, :k], r_val[i, :k]))
        np.testing.assert_allclose([got[j] for j in want], list(want.values()), rtol=0,
                                   atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compact_slots_matches_reference(rng, dtype):
    n, width, n_cols = 200, 7, 50
    slot_idx = np.stack([rng.permutation(n_cols)[:width] for _ in range(n)]).astype(np.int32)
    slot_val = rng.standard_normal((n, width)).astype(dtype)
    slot_val[rng.random((n, width)) < 0.2] = 0.0  # explicit zeros are dropped
    counts = rng.integers(0, width + 1, n).astype(np.int64)
    row_nnz = np.empty(n, dtype=np.int64)
    count_nonzero_slots(slot_val, counts, row_nnz)
    indptr = np.concatenate([[0], np.cumsum(row_nnz)])
    indices = np.empty(indptr[-1], dtype=np.int32)
    data = np.empty(indptr[-1], dtype=dtype)
    compact_slots(slot_idx, slot_val, counts, indptr, indices, data)
    r_indptr, r_indices, r_data = compact_slots_reference(slot_idx, slot_val, counts)
    np.testing.assert_array_equal(indptr, r_indptr)
    np.testing.assert_array_equal(indices, r_indices)
    np.testing.assert_array_equal(data, r_data)
    dense = np.zeros((n, n_cols), dtype=dtype)
    for i in range(n):
        dense[i, slot_idx[i, :counts[i]]] = slot_val[i, :counts[i]]
    assert_same_codes(sp.csr_array((data, indices, indptr), shape=(n, n_cols)), dense)


def _dense_products(n, n_blocks, sub_block):
    edges = [(b * n) // max(1, min(n, n_blocks)) for b in range(max(1, min(n, n_blocks)) + 1)]
    return {(s, min(s + sub_block, c)) for a, c in zip(edges[:-1], edges[1:])
            for s in range(a, c, sub_block)}


@pytest.mark.parametrize("n", [1, 5, 127, 129, 1000, 3001, 70_000])
@pytest.mark.parametrize("n_blocks, sub_block", [(8, 128), (256, 128), (3, 16)])
@pytest.mark.parametrize("chunk_rows, n_groups", [(1, 1), (100, 8), (1024, 5), (10**9, 8)])
def test_chunk_partition_keeps_dense_products(n, n_blocks, sub_block, chunk_rows, n_groups):
    chunks = chunk_partition(n, n_blocks, sub_block, chunk_rows, n_groups)
    assert chunks[0][0] == 0 and chunks[-1][1] == n
    products = set()
    for (s, e, bounds), nxt in zip(chunks, chunks[1:] + [(n, None, None)]):
        assert nxt[0] == e and e > s  # consecutive, non-empty
        assert e - s <= max(chunk_rows, 1) + sub_block
        assert bounds[0] == 0 and bounds[-1] == e - s and (np.diff(bounds) > 0).all()
        for a, c in zip(bounds[:-1], bounds[1:]):  # a task, cut from its own start
            products |= {(s + t, s + min(t + sub_block, c)) for t in range(a, c, sub_block)}
    assert products == _dense_products(n, n_blocks, sub_block)


# -- public functions ---------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("stopping", [dict(n_nonzero_coefs=6), dict(tol=0.05),
                                      dict(n_nonzero_coefs=4, tol=0.5), {}])
def test_orthogonal_mp_sparse_equals_dense(rng, dtype, stopping):
    X, D = make_problem(rng, dtype=dtype)
    dense, it_d = orthogonal_mp(X, D, return_n_iter=True, **stopping)
    codes, it_s = orthogonal_mp(X, D, return_n_iter=True, output="sparse", **stopping)
    assert_same_codes(codes, dense)
    np.testing.assert_array_equal(it_s, it_d)
    assert codes.indices.dtype == np.int32 and codes.indptr.dtype == np.int32
    assert (np.diff(codes.indptr)[~X.any(axis=1)] == 0).all()  # zero signals: empty rows


def test_orthogonal_mp_sparse_several_chunks(rng, small_chunks):
    X, D = make_problem(rng, n_samples=3000, n_zero=30)
    for stopping in (dict(n_nonzero_coefs=8), dict(tol=0.05)):
        assert_same_codes(orthogonal_mp(X, D, output="sparse", **stopping),
                          orthogonal_mp(X, D, **stopping))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("func, kw", [
    (lasso_lars, dict(alpha=0.05)),
    (lasso_lars, dict(alpha=0.02, positive=True)),
    (lasso_lars, dict(alpha=0.01, n_nonzero_coefs=4)),
    (lars, dict(n_nonzero_coefs=5)),
    (lars, dict(n_nonzero_coefs=5, positive=True)),
])
def test_lars_sparse_equals_dense(rng, dtype, func, kw):
    X, D = make_problem(rng, dtype=dtype)
    dense, it_d = func(X, D, return_n_iter=True, **kw)
    codes, it_s = func(X, D, return_n_iter=True, output="sparse", **kw)
    assert_same_codes(codes, dense)
    np.testing.assert_array_equal(it_s, it_d)
    if kw.get("positive"):
        assert (codes.data > 0).all()


def test_lasso_lars_sparse_several_chunks(rng, small_chunks):
    X, D = make_problem(rng, n_samples=3000, n_zero=30, dtype=np.float32)
    assert_same_codes(lasso_lars(X, D, alpha=0.05, output="sparse"),
                      lasso_lars(X, D, alpha=0.05))


@pytest.mark.parametrize("func, kw", [(orthogonal_mp, {}), (lasso_lars, dict(alpha=0.1)),
                                      (lars, {})])
@pytest.mark.parametrize("bad", ["csr", "Sparse", None, 1])
def test_sparse_output_rejects_bad_output(rng, func, kw, bad):
    X, D = make_problem(rng, n_samples=5)
    with pytest.raises(ValueError, match="output must be 'dense' or 'sparse'"):
        func(X, D, output=bad, **kw)


# -- estimators ---------------------------------------------------------------------------
_CODER_PARAMS = {
    "omp": dict(n_nonzero_coefs=5),
    "omp_tol": dict(tol=0.05),
    "lasso_lars": dict(alpha=0.05),
    "lasso_lars_positive": dict(alpha=0.02, positive=True),
    "lars": dict(n_nonzero_coefs=4),
    "fista": dict(alpha=0.05),
    "ista": dict(alpha=0.2, max_iter=200),  # not converged: the same codes all the same
    "iht": dict(n_nonzero_coefs=4),
    "cosamp": dict(n_nonzero_coefs=4),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(_CODER_PARAMS))
def test_sparse_coder_sparse_equals_dense(rng, dtype, name, small_chunks):
    X, D = make_problem(rng, n_samples=2100, dtype=dtype)  # three chunks of the converters
    algorithm = name.split("_tol")[0].replace("_positive", "")
    kw = _CODER_PARAMS[name]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # iterative solvers may not converge: same codes
        dense = SparseCoder(D, algorithm=algorithm, **kw).fit(X).transform(X)
        est = SparseCoder(D, algorithm=algorithm, output="sparse", **kw).fit(X)
        codes = est.transform(X)
    assert_same_codes(codes, dense)
    X_sparse = est.inverse_transform(codes)
    X_dense = est.inverse_transform(dense)
    assert isinstance(X_sparse, np.ndarray) and X_sparse.dtype == dtype
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(X_sparse, X_dense, rtol=rtol, atol=rtol * np.abs(X_dense).max())


@pytest.mark.parametrize("fmt", ["csr_matrix", "csc_array", "coo_array"])
def test_inverse_transform_accepts_sparse_formats(rng, fmt):
    X, D = make_problem(rng, n_samples=40)
    est = SparseCoder(D, n_nonzero_coefs=5).fit(X)
    dense = est.transform(X)
    codes = getattr(sp, fmt)(dense)
    np.testing.assert_allclose(est.inverse_transform(codes), est.inverse_transform(dense),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(est.inverse_transform(codes), dense @ D, rtol=1e-12,
                               atol=1e-12)


def test_inverse_transform_sparse_checks_shape(rng):
    X, D = make_problem(rng, n_samples=10)
    est = SparseCoder(D, output="sparse").fit(X)
    with pytest.raises(ValueError, match="components; codes must have shape"):
        est.inverse_transform(sp.csr_array((10, D.shape[0] + 1)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("make", [
    lambda **kw: DictionaryLearning(30, n_nonzero_coefs=4, max_iter=2, random_state=0, **kw),
    lambda **kw: DictionaryLearning(30, coder="lasso_lars", alpha=0.1, max_iter=2,
                                    random_state=0, **kw),
    lambda **kw: MiniBatchDictionaryLearning(30, tol=0.05, batch_size=64, max_iter=1,
                                             random_state=0, **kw),
    lambda **kw: MiniBatchDictionaryLearning(
        30, coder=lambda X, D, G: orthogonal_mp(X, D, n_nonzero_coefs=3, gram=G),
        batch_size=64, max_iter=1, random_state=0, **kw),
], ids=["ksvd-omp", "ksvd-lasso_lars", "online-omp-tol", "online-callable"])
def test_learners_transform_sparse_equals_dense(rng, dtype, make):
    X, _ = make_problem(rng, n_samples=400, dtype=dtype)
    dense_est = make().fit(X)
    sparse_est = make(output="sparse").fit(X)
    np.testing.assert_array_equal(sparse_est.components_, dense_est.components_)
    dense = dense_est.transform(X)
    codes = sparse_est.transform(X)
    assert_same_codes(codes, dense)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(sparse_est.inverse_transform(codes),
                               dense_est.inverse_transform(dense), rtol=rtol,
                               atol=rtol * np.abs(X).max())


@pytest.mark.parametrize("est", [SparseCoder(np.eye(3), output="csr"),
                                 DictionaryLearning(3, output="csr"),
                                 MiniBatchDictionaryLearning(3, output=None)])
def test_estimators_reject_bad_output(est):
    with pytest.raises(ValueError, match="'output' parameter"):
        est.fit(np.ones((4, 3)))


# -- memory -------------------------------------------------------------------------------
def test_orthogonal_mp_sparse_peak_memory_far_below_dense(rng):
    n_samples, n_features, n_components, k = 200_000, 64, 1024, 8
    D = rng.standard_normal((n_components, n_features)).astype(np.float32)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.standard_normal((n_samples, n_features), dtype=np.float32)
    dense_bytes = n_samples * n_components * 4  # 819 MB
    orthogonal_mp(X[:10], D, n_nonzero_coefs=k, output="sparse")  # compile outside
    tracemalloc.start()
    try:
        codes = orthogonal_mp(X, D, n_nonzero_coefs=k, output="sparse")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert codes.shape == (n_samples, n_components) and codes.nnz == n_samples * k
    csr_bytes = codes.data.nbytes + codes.indices.nbytes + codes.indptr.nbytes  # 13.6 MB
    # tracemalloc sees NumPy's buffers (the result is among them) ...
    assert peak >= csr_bytes
    # ... and the peak is the result plus one chunk of slots, far from a dense array.
    assert peak < dense_bytes / 10
    assert peak < 4 * csr_bytes + 8 * 2**20
    # spot check of the values against the dense path on a slice. Not bit for bit: the
    # call on 2,000 signals cuts its BLAS products at other rows than the call on
    # 200,000, and OpenBLAS (on AMD Zen 5 at least) rounds a row differently inside
    # products of other heights; same supports, values to float32 rounding.
    head = codes[:2000]
    ref = sp.csr_array(orthogonal_mp(X[:2000], D, n_nonzero_coefs=k))
    np.testing.assert_array_equal(head.indptr, ref.indptr)
    np.testing.assert_array_equal(head.indices, ref.indices)
    np.testing.assert_allclose(head.data, ref.data, rtol=2e-5, atol=2e-5 * np.abs(ref.data).max())
    assert head.has_canonical_format


def test_learner_sparse_output_rejects_nan_from_callable_coder(rng):
    X, _ = make_problem(rng, n_samples=100)

    def bad_coder(X, D, G):
        codes = orthogonal_mp(X, D, n_nonzero_coefs=2, gram=G)
        codes[0, 0] = np.nan
        return codes

    est = MiniBatchDictionaryLearning(10, coder=bad_coder, batch_size=200, max_iter=0,
                                      random_state=0, output="sparse").fit(X)
    with pytest.raises(ValueError, match="NaN or infinite"):
        est.transform(X)


def test_csr_matrix_view_shares_the_arrays(rng):
    X, D = make_problem(rng, n_samples=20)
    codes = orthogonal_mp(X, D, n_nonzero_coefs=3, output="sparse")
    legacy = sp.csr_matrix(codes)
    assert np.shares_memory(legacy.data, codes.data)
    assert np.shares_memory(legacy.indices, codes.indices)
    np.testing.assert_array_equal(legacy.toarray(), codes.toarray())
