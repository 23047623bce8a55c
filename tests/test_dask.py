"""Dask support of the classic estimators and of denoise_image.

Oracle: the NumPy path on the same data. Every test that computes runs under dask's
threaded scheduler and on a real ``distributed.LocalCluster`` (two worker processes, one
thread each), so the estimators, their kernels and Numba's on-disk cache are exercised
inside other processes.
"""

import logging
import pickle
import subprocess
import sys
import tracemalloc

import numba
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

from sparsecode import SparseCoder, orthogonal_mp  # noqa: E402
from sparsecode.coding._omp import _SUB_BLOCK  # noqa: E402
from sparsecode.denoise import denoise_image  # noqa: E402
from sparsecode.dictionary import DictionaryLearning, MiniBatchDictionaryLearning  # noqa: E402
from sparsecode.utils._dask import is_dask_array  # noqa: E402

#: Rows per chunk for which a chunk is cut into the same Batch-OMP sub-blocks as the whole
#: array (the kernel splits its input into 4 blocks per Numba thread of sub-blocks of
#: _SUB_BLOCK signals, so a BLAS product sees the same rows either way).
ALIGN = 4 * numba.config.NUMBA_NUM_THREADS * _SUB_BLOCK


def assert_block_equal(actual, expected, scheduler):
    """Exactly equal in this process (threaded scheduler); across the worker processes
    of a LocalCluster to the last bits only: distributed starts its workers with
    OPENBLAS_NUM_THREADS=1, and OpenBLAS set up that way may round a product's last bit
    differently (seen on the CI machine, not on every machine)."""
    if scheduler is None:
        assert_array_equal(actual, expected)
    else:
        eps = np.finfo(np.asarray(expected).dtype).eps
        assert_allclose(actual, expected, rtol=64 * eps, atol=64 * eps)


# ---------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster_client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
        silence_logs=logging.ERROR,
    ) as cluster, distributed.Client(cluster, set_as_default=False) as client:
        yield client


@pytest.fixture(params=["threads", "distributed"])
def scheduler(request):
    """Run the test under the threaded scheduler, then on the LocalCluster."""
    if request.param == "threads":
        with dask.config.set(scheduler="threads"):
            yield None
    else:
        client = request.getfixturevalue("cluster_client")
        with client.as_current(), dask.config.set(scheduler="dask.distributed"):
            yield client


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    D = rng.standard_normal((40, 16))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.standard_normal((700, 16))
    return X, D


def _blocks(X, chunk):
    return [X[s:s + chunk] for s in range(0, X.shape[0], chunk)]


# The fitted estimators whose transform / inverse_transform must accept Dask arrays.
ESTIMATORS = {
    "coder-omp": lambda D: SparseCoder(D, n_nonzero_coefs=4),
    "coder-omp-tol": lambda D: SparseCoder(D, n_nonzero_coefs=8, tol=0.5),
    "coder-lasso_lars": lambda D: SparseCoder(D, algorithm="lasso_lars", alpha=0.2),
    "coder-fista": lambda D: SparseCoder(D, algorithm="fista", alpha=0.2, max_iter=3000),
    "coder-iht": lambda D: SparseCoder(D, algorithm="iht", n_nonzero_coefs=3),
    "dictionary-learning": lambda D: DictionaryLearning(24, n_nonzero_coefs=3, max_iter=2,
                                                        random_state=0),
    "minibatch": lambda D: MiniBatchDictionaryLearning(24, n_nonzero_coefs=3, batch_size=64,
                                                       max_iter=1, random_state=0),
}


@pytest.fixture(scope="module")
def fitted(data):
    X, D = data
    return {name: make(D).fit(X) for name, make in ESTIMATORS.items()}


# ---------------------------------------------------------------------------------------
# Detection without importing dask
# ---------------------------------------------------------------------------------------
def test_import_sparsecode_does_not_import_dask():
    code = ("import sys, numpy as np, sparsecode, sparsecode.dictionary, sparsecode.denoise;"
            "from sparsecode.utils._dask import is_dask_array;"
            "assert not is_dask_array(np.ones(2));"
            "print('dask' in sys.modules, 'distributed' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "False"]


def test_is_dask_array():
    X = np.ones((4, 2))
    assert is_dask_array(da.from_array(X))
    assert not is_dask_array(X)
    assert not is_dask_array([[1.0, 2.0]])


# ---------------------------------------------------------------------------------------
# transform / inverse_transform
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_transform_is_lazy_and_equals_numpy(fitted, data, scheduler, name, dtype):
    est = fitted[name]
    X = data[0].astype(dtype)
    Xd = da.from_array(X, chunks=(250, -1))
    Z = est.transform(Xd)
    assert is_dask_array(Z)
    assert Z.chunks == ((250, 250, 200), (est.components_.shape[0],))
    assert Z.dtype == dtype and Z._meta.dtype == dtype and isinstance(Z._meta, np.ndarray)
    codes = Z.compute()
    assert codes.dtype == dtype
    # exactly the NumPy call on each block ...
    assert_block_equal(codes, np.vstack([est.transform(b) for b in _blocks(X, 250)]),
                       scheduler)
    # ... which is the NumPy call on the whole array up to BLAS rounding (the kernels
    # cut their input into sub-blocks by its number of rows); the iterative solvers stop
    # each signal at solver_tol, so in float32 a rounding can move the stop
    if dtype == np.float64:
        tol = dict(rtol=1e-9, atol=1e-12)
    elif name in ("coder-fista", "coder-iht"):
        tol = dict(rtol=1e-2, atol=5e-3)
    else:
        tol = dict(rtol=1e-4, atol=1e-5)
    assert_allclose(codes, est.transform(X), **tol)

    R = est.inverse_transform(Z)
    assert is_dask_array(R) and R.dtype == dtype
    assert R.chunks == ((250, 250, 200), (X.shape[1],))
    rec = R.compute()
    assert_block_equal(rec, np.vstack([est.inverse_transform(z)
                                       for z in _blocks(codes, 250)]), scheduler)
    assert_allclose(rec, est.inverse_transform(est.transform(X)), **tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_omp_transform_equals_whole_numpy_call_exactly(scheduler, dtype):
    rng = np.random.default_rng(1)
    D = rng.standard_normal((64, 16))
    X = rng.standard_normal((3 * ALIGN, 16)).astype(dtype)
    coder = SparseCoder(D, n_nonzero_coefs=5).fit(X)
    Z = coder.transform(da.from_array(X, chunks=(ALIGN, -1)))
    assert_block_equal(Z.compute(), coder.transform(X), scheduler)


def test_transform_runs_in_the_workers_with_numba_cache(cluster_client, data):
    X, D = data
    coder = SparseCoder(D, n_nonzero_coefs=4).fit(X)
    expected = coder.transform(X[:350])  # compiles (and caches) here first
    Z = coder.transform(da.from_array(X[:350], chunks=(175, -1)))
    assert_block_equal(cluster_client.compute(Z).result(), expected, cluster_client)

    def worker_state():
        from sparsecode._jit import _CACHE
        from sparsecode.kernels.omp import batch_omp_fused

        stats = batch_omp_fused.dispatcher.stats
        return ("sparsecode.coding._coder" in sys.modules, _CACHE,
                len(batch_omp_fused.dispatcher.signatures), stats.cache_hits,
                stats.cache_misses)

    states = cluster_client.run(worker_state)
    assert len(states) == 2
    ran = [s for s in states.values() if s[2] > 0]
    assert ran, f"no worker ran the OMP kernel: {states}"
    for imported, cache, n_sigs, hits, misses in ran:
        assert imported
        if cache:  # the kernel compiled in this process was loaded from disk there
            assert sum(hits.values()) >= 1, (hits, misses)


def test_estimators_and_kernels_pickle_and_run_in_workers(cluster_client, fitted, data):
    X, D = data
    for est in fitted.values():
        clone = pickle.loads(pickle.dumps(est))
        assert_array_equal(clone.transform(X[:50]), est.transform(X[:50]))
        future = cluster_client.submit(lambda e, x: e.transform(x), est, X[:50], pure=False)
        assert_block_equal(future.result(), est.transform(X[:50]), cluster_client)
    from sparsecode.kernels.omp import batch_omp_fused

    assert pickle.loads(pickle.dumps(batch_omp_fused)) is batch_omp_fused
    future = cluster_client.submit(orthogonal_mp, X[:64], D, n_nonzero_coefs=3)
    assert_block_equal(future.result(), orthogonal_mp(X[:64], D, n_nonzero_coefs=3),
                       cluster_client)


def test_transform_snapshot_ignores_refit(data):
    X, D = data
    coder = SparseCoder(D, n_nonzero_coefs=3).fit(X)
    Z = coder.transform(da.from_array(X, chunks=(300, -1)))
    expected = coder.transform(X)
    coder.set_params(dictionary=D[:20]).fit(X)  # refit before compute
    assert_allclose(Z.compute(scheduler="sync"), expected, rtol=1e-12, atol=1e-14)


def test_transform_empty_and_unknown_chunks(fitted, data):
    X = data[0]
    est = fitted["coder-omp"]
    Xd = da.from_array(X, chunks=(200, -1))
    with_empty = da.concatenate([Xd[:0], Xd, Xd[:0]])
    codes = est.transform(with_empty).compute(scheduler="sync")
    assert_array_equal(codes, np.vstack([est.transform(b) for b in _blocks(X, 200)]))
    mask = X[:, 0] > 0
    filtered = Xd[da.from_array(mask, chunks=200)]  # unknown row chunk sizes
    assert np.isnan(filtered.shape[0])
    got = est.transform(filtered).compute(scheduler="sync")
    assert_allclose(got, est.transform(X[mask]), rtol=1e-9, atol=1e-12)


def test_sparse_coder_fit_on_dask_computes_nothing(data):
    X, D = data

    def boom(block):
        raise AssertionError("fit computed the Dask array")

    lazy = da.from_array(X, chunks=(100, -1)).map_blocks(boom, dtype=X.dtype)
    coder = SparseCoder(D, n_nonzero_coefs=3).fit(lazy)
    assert coder.n_features_in_ == X.shape[1]
    Z = SparseCoder(D, n_nonzero_coefs=3).fit_transform(da.from_array(X, chunks=(100, -1)))
    assert is_dask_array(Z)
    assert_array_equal(Z.compute(scheduler="sync"),
                       np.vstack([coder.transform(b) for b in _blocks(X, 100)]))


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["coder-omp", "dictionary-learning", "minibatch"])
def test_features_chunked_dask_array_is_rejected(fitted, data, name):
    X = data[0]
    est = fitted[name]
    Xd = da.from_array(X, chunks=(100, 8))
    with pytest.raises(ValueError, match=r"X is a Dask array chunked along its features.*"
                                         r"X\.rechunk\(\{1: -1\}\)"):
        est.transform(Xd)
    codes = da.from_array(est.transform(X), chunks=(100, 5))
    with pytest.raises(ValueError, match=r"chunked along its components.*rechunk"):
        est.inverse_transform(codes)


def test_fit_rejects_features_chunked_dask_array(data):
    X, D = data
    Xd = da.from_array(X, chunks=(100, 8))
    for est in (SparseCoder(D), MiniBatchDictionaryLearning(8, batch_size=50)):
        with pytest.raises(ValueError, match=r"X\.rechunk\(\{1: -1\}\)"):
            est.fit(Xd)
    with pytest.raises(ValueError, match=r"X\.rechunk\(\{1: -1\}\)"):
        MiniBatchDictionaryLearning(8, batch_size=50).partial_fit(Xd)


def test_dask_wrong_width_and_shape(fitted, data):
    X = data[0]
    est = fitted["coder-omp"]
    with pytest.raises(ValueError, match="X has 15 features, but SparseCoder is expecting 16"):
        est.transform(da.from_array(X[:, :15], chunks=(100, -1)))
    with pytest.raises(ValueError, match="X has 16 components, but SparseCoder is expecting "
                                         "40 components"):
        est.inverse_transform(da.from_array(X, chunks=(100, -1)))
    with pytest.raises(ValueError, match="2-D array"):
        est.transform(da.ones((10,), chunks=5))
    with pytest.raises(TypeError, match="X must be real"):
        est.transform(da.ones((10, 16), chunks=5, dtype=complex))


@pytest.mark.parametrize("name", ["coder-omp", "dictionary-learning", "minibatch"])
def test_nan_in_dask_array_raises_the_numpy_error(fitted, data, scheduler, name):
    X = data[0].copy()
    X[420, 3] = np.nan
    est = fitted[name]
    with pytest.raises(ValueError, match="Input X contains NaN") as numpy_error:
        est.transform(X)
    Z = est.transform(da.from_array(X, chunks=(200, -1)))  # lazy: nothing checked yet
    with pytest.raises(ValueError, match="rows 400:600 of the Dask array") as dask_error:
        Z.compute()
    assert str(numpy_error.value) in str(dask_error.value)
    codes = est.transform(data[0])
    codes[5, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        est.inverse_transform(da.from_array(codes, chunks=(200, -1))).compute()


def test_minibatch_fit_nan_in_dask_array(data):
    X = data[0].copy()
    X[650, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        MiniBatchDictionaryLearning(8, batch_size=50).fit(X)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        MiniBatchDictionaryLearning(8, batch_size=50).fit(da.from_array(X, chunks=(100, -1)))


# ---------------------------------------------------------------------------------------
# Online learning streams the blocks
# ---------------------------------------------------------------------------------------
def _online(**kw):
    return MiniBatchDictionaryLearning(24, n_nonzero_coefs=3, batch_size=64, random_state=0,
                                       **kw)


@pytest.mark.parametrize("chunk", [64, 150, 700])
def test_minibatch_fit_on_dask_equals_numpy_fit(data, scheduler, chunk):
    X = data[0]
    ref = _online(shuffle=False, max_iter=2).fit(X)
    est = _online(shuffle=False, max_iter=2).fit(da.from_array(X, chunks=(chunk, -1)))
    assert est.n_steps_ == ref.n_steps_ == 2 * -(-X.shape[0] // 64)
    assert_array_equal(est.components_, ref.components_)
    assert_array_equal(est.error_, ref.error_)
    assert est.n_features_in_ == 16 and est.n_iter_ == 2


def test_batch_dictionary_learning_fit_computes_dask_array(data):
    X = data[0]
    ref = DictionaryLearning(20, n_nonzero_coefs=3, max_iter=2, random_state=0).fit(X)
    est = DictionaryLearning(20, n_nonzero_coefs=3, max_iter=2, random_state=0).fit(
        da.from_array(X, chunks=(100, -1)))
    assert_array_equal(est.components_, ref.components_)


def test_minibatch_fit_on_dask_shuffled(data):
    X = data[0]
    Xd = da.from_array(X, chunks=(150, -1))
    a = _online(max_iter=3).fit(Xd)
    b = _online(max_iter=3).fit(Xd)
    assert_array_equal(a.components_, b.components_)  # seeded
    assert a.n_steps_ == 3 * -(-X.shape[0] // 64)
    assert not np.array_equal(a.components_, _online(max_iter=3, shuffle=False).fit(Xd)
                              .components_)
    assert_allclose(np.linalg.norm(a.components_, axis=1), 1.0, rtol=1e-10)


def test_minibatch_fit_on_dask_max_iter_zero_uses_first_block(data):
    X = data[0]
    est = _online(max_iter=0).fit(da.from_array(X, chunks=(100, -1)))
    ref = _online(max_iter=0).fit(X[:100])
    assert_array_equal(est.components_, ref.components_)


def test_minibatch_partial_fit_on_dask_chunks(data, scheduler):
    X = data[0]
    Xd = da.from_array(X, chunks=(90, -1))
    ref = _online().partial_fit(X[:300]).partial_fit(X[300:])
    est = _online().partial_fit(Xd[:300]).partial_fit(Xd[300:])
    assert_array_equal(est.components_, ref.components_)
    assert est.n_steps_ == ref.n_steps_
    mixed = _online().partial_fit(Xd.blocks[0]).partial_fit(X[90:300])
    assert_array_equal(mixed.components_,
                       _online().partial_fit(X[:90]).partial_fit(X[90:300]).components_)
    with pytest.raises(ValueError, match="X has 8 features, but MiniBatchDictionaryLearning"):
        est.partial_fit(Xd[:, :8])


def test_minibatch_fit_streams_with_bounded_memory():
    n, d, chunk = 256_000, 64, 8_000
    X = da.random.default_rng(0).standard_normal((n, d), chunks=(chunk, d))
    whole = n * d * 8  # 131 MB if the array were computed
    est = MiniBatchDictionaryLearning(32, n_nonzero_coefs=2, batch_size=1000, max_iter=1,
                                      shuffle=False, random_state=0)
    with dask.config.set(scheduler="threads"):
        tracemalloc.start()
        try:
            est.fit(X)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert est.n_steps_ == n // 1000
    # measured: about 24 MB in a fresh process (a few 4 MB blocks, Numba's cache loads),
    # 262 MB when the whole array is computed first
    assert peak < whole / 4, f"peak {peak / 1e6:.1f} MB for a {whole / 1e6:.0f} MB array"


# ---------------------------------------------------------------------------------------
# denoise_image by overlapping tiles
# ---------------------------------------------------------------------------------------
#: Tolerances "to float rounding" of denoise_image's working dtype (images in [0, 1]).
ROUNDING = {np.float64: dict(rtol=1e-12, atol=1e-13), np.float32: dict(rtol=1e-6, atol=1e-6)}


@pytest.fixture(scope="module")
def noisy():
    from skimage.data import camera

    clean = camera()[100:230, 150:300].astype(np.float64) / 255
    rng = np.random.default_rng(3)
    return clean + 20 / 255 * rng.standard_normal(clean.shape)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("method", ["ksvd", "dct"])
def test_denoise_dask_image_equals_whole_image(noisy, scheduler, method, dtype):
    kw = dict(method=method, dtype=dtype, n_components=64, n_iter=2, max_patches=2500,
              random_state=0, return_dictionary=True)
    ref, D_ref = denoise_image(noisy, 20 / 255, **kw)
    out, D = denoise_image(da.from_array(noisy, chunks=(45, 60)), 20 / 255, **kw)
    assert is_dask_array(out) and out.dtype == noisy.dtype
    assert out.chunks == ((45, 45, 40), (60, 60, 30))
    assert_array_equal(D, D_ref)  # trained once, on the same patches of the whole image
    got = out.compute()
    # to the rounding of the working dtype: the tiles' OMP calls cut their patches into
    # other BLAS sub-blocks than the whole image's, and sum the overlaps in another order
    assert_allclose(got, ref, **ROUNDING[dtype])
    assert np.abs(got - noisy).max() > 0.1  # it did denoise


def test_denoise_numpy_image_with_chunks(noisy):
    ref = denoise_image(noisy, 20 / 255, method="dct", n_components=64, stride=3)
    out = denoise_image(noisy, 20 / 255, method="dct", n_components=64, stride=3,
                        chunks=(32, 50))
    assert isinstance(out, np.ndarray) and out.dtype == ref.dtype
    assert_allclose(out, ref, **ROUNDING[np.float32])  # the default working dtype


def test_denoise_dask_uint8_small_chunks_and_coder(noisy):
    img = np.clip(noisy * 255, 0, 255).astype(np.uint8)
    # chunks smaller than the patch are merged so that the tiles overlap by patch_size - 1
    ref = denoise_image(img, 20, method="dct", n_components=64, patch_size=6)
    out = denoise_image(da.from_array(img, chunks=(4, 37)), 20, method="dct",
                        n_components=64, patch_size=6)
    assert out.dtype == np.uint8
    assert_array_equal(out.compute(scheduler="sync"), ref)
    coder = SparseCoder(np.eye(36), algorithm="lasso_lars", alpha=2.0)
    kw = dict(method="dct", n_components=64, patch_size=6, coder=coder, data_range=255,
              dtype=np.float64)
    ref = denoise_image(img.astype(float), 20, **kw)
    out = denoise_image(img.astype(float), 20, chunks=40, **kw)
    assert_allclose(out, ref, rtol=1e-9, atol=1e-9)


def test_denoise_dask_bad_input(noisy):
    bad = noisy.copy()
    bad[7, 9] = np.nan
    with pytest.raises(ValueError, match="image contains NaN or infinity"):
        denoise_image(bad, 0.1, method="dct")
    with pytest.raises(ValueError, match="image contains NaN or infinity"):
        denoise_image(da.from_array(bad, chunks=50), 0.1, method="dct")
    with pytest.raises(ValueError, match="2-D"):
        denoise_image(da.ones((4, 20, 20), chunks=10), 0.1, method="dct")
    with pytest.raises(TypeError, match="real numeric"):
        denoise_image(da.ones((20, 20), dtype=bool, chunks=10), 0.1, method="dct")


@pytest.mark.parametrize("patch_size, chunks", [(1, 7), (2, (1, 9)), (3, (13, 9)), (8, (39, 50))])
def test_denoise_dask_tiny_and_uneven_chunks(patch_size, chunks):
    img = np.random.default_rng(5).random((40, 50))
    kw = dict(method="dct", patch_size=patch_size, n_components=max(1, patch_size) ** 2,
              dtype=np.float64)
    ref = denoise_image(img, 0.1, **kw)
    out = denoise_image(da.from_array(img, chunks=chunks), 0.1, **kw)
    assert_allclose(out.compute(scheduler="sync"), ref, **ROUNDING[np.float64])


def test_unfitted_sparse_coder_transforms_a_dask_array(rng):
    # SparseCoder is stateless (works without fit), for Dask input too
    D = rng.standard_normal((20, 8))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.standard_normal((100, 8))
    coder = SparseCoder(D, n_nonzero_coefs=3)
    lazy = coder.transform(da.from_array(X, chunks=(30, 8)))
    np.testing.assert_array_equal(lazy.compute(), np.concatenate(
        [coder.transform(X[i:i + 30]) for i in range(0, 100, 30)]))


def test_sparse_output_with_a_dask_array_is_refused(rng):
    D = rng.standard_normal((20, 8))
    X = da.from_array(rng.standard_normal((40, 8)), chunks=(20, 8))
    with pytest.raises(ValueError, match="output='sparse' is for in-memory X"):
        SparseCoder(D, n_nonzero_coefs=3, output="sparse").transform(X)
