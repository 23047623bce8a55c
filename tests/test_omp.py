import numpy as np
import pytest
from sklearn.linear_model import orthogonal_mp_gram as sk_omp_gram

import sparsecode
from sparsecode import SparseCoder, orthogonal_mp, orthogonal_mp_gram
from sparsecode.kernels.omp import batch_omp, batch_omp_reference


def make_problem(rng, n_features=32, n_components=64, n_samples=50, k=4, noise=0.0,
                 dtype=np.float64):
    D = rng.standard_normal((n_components, n_features))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    Z = np.zeros((n_samples, n_components))
    for i in range(n_samples):
        Z[i, rng.choice(n_components, k, replace=False)] = rng.choice([-1, 1], k) * (
            1 + rng.random(k))
    X = Z @ D + noise * rng.standard_normal((n_samples, n_features))
    return X.astype(dtype), D.astype(dtype), Z


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("k", [1, 3, 8])
def test_orthogonal_mp_matches_sklearn_sparsity(rng, dtype, k):
    X, D, _ = make_problem(rng, noise=0.1, dtype=dtype)
    ours = orthogonal_mp(X, D, n_nonzero_coefs=k)
    ref = sk_omp_gram(D @ D.T, (X @ D.T).T, n_nonzero_coefs=k).T
    assert ours.dtype == dtype
    assert np.array_equal(ours != 0, ref != 0)
    atol = 1e-8 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(ours, ref, rtol=0, atol=atol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_orthogonal_mp_matches_sklearn_tol(rng, dtype):
    X, D, _ = make_problem(rng, noise=0.05, dtype=dtype)
    norms = (X.astype(np.float64) ** 2).sum(1)
    tol = 0.2 * norms.min()
    ours = orthogonal_mp(X, D, tol=tol)
    ref = sk_omp_gram(D @ D.T, (X @ D.T).T, tol=tol, norms_squared=norms.astype(dtype)).T
    assert np.array_equal(ours != 0, ref != 0)
    atol = 1e-8 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(ours, ref, rtol=0, atol=atol)
    resid = ((X - ours @ D).astype(np.float64) ** 2).sum(1)
    assert (resid <= tol * (1 + 1e-4)).all()


def test_orthogonal_mp_both_stopping_rules(rng):
    X, D, _ = make_problem(rng, noise=0.3)
    norms = (X ** 2).sum(1)
    tol = 0.5 * np.median(norms)
    codes, n_iter = orthogonal_mp(X, D, n_nonzero_coefs=3, tol=tol, return_n_iter=True)
    only_k = orthogonal_mp(X, D, n_nonzero_coefs=3)
    resid = ((X - codes @ D) ** 2).sum(1)
    assert (n_iter <= 3).all()
    # each signal stopped by the first rule reached
    stopped_by_tol = n_iter < 3
    assert (resid[stopped_by_tol] <= tol * (1 + 1e-10)).all()
    assert stopped_by_tol.any() and (~stopped_by_tol).any()
    # those stopped at 3 atoms agree with pure sparsity stopping
    np.testing.assert_allclose(codes[~stopped_by_tol], only_k[~stopped_by_tol], atol=1e-12)
    # signals already within tol get the zero code
    small = orthogonal_mp(1e-3 * X, D, tol=tol)
    assert not small.any()


def test_orthogonal_mp_exact_recovery_incoherent(rng):
    # Tropp (2004): OMP recovers every k-sparse signal when k < (1 + 1/mu) / 2.
    from scipy.fft import dct

    n = 64
    # Dirac + orthonormal DCT-II basis: mutual coherence sqrt(2/n).
    D = np.vstack([np.eye(n), dct(np.eye(n), norm="ortho", axis=0)])
    G = D @ D.T
    mu = np.abs(G - np.eye(2 * n)).max()
    k = int(np.floor((1 + 1 / mu) / 2 - 1e-9))
    assert k >= 3
    Z = np.zeros((200, 2 * n))
    for i in range(200):
        Z[i, rng.choice(2 * n, k, replace=False)] = rng.standard_normal(k)
    codes = orthogonal_mp(Z @ D, D, n_nonzero_coefs=k)
    np.testing.assert_array_equal(codes != 0, Z != 0)
    np.testing.assert_allclose(codes, Z, atol=1e-10)


def test_orthogonal_mp_stops_on_zero_residual(rng):
    X, D, Z = make_problem(rng, k=3)
    codes, n_iter = orthogonal_mp(X, D, n_nonzero_coefs=10, return_n_iter=True)
    assert (n_iter == 3).all()
    np.testing.assert_allclose(codes, Z, atol=1e-10)
    zero = orthogonal_mp(np.zeros((2, X.shape[1])), D, n_nonzero_coefs=5)
    assert not zero.any()


def test_orthogonal_mp_stops_on_dependent_atoms(rng):
    D = rng.standard_normal((4, 6))
    D = np.vstack([D, D[0] + D[1], 2 * D[2]])  # dependent atoms
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.standard_normal((20, 6))
    codes, n_iter = orthogonal_mp(X, D, n_nonzero_coefs=6, return_n_iter=True)
    assert np.isfinite(codes).all()
    assert (n_iter <= 4).all()
    for i in range(20):
        support = np.flatnonzero(codes[i])
        assert np.linalg.matrix_rank(D[support]) == support.size


def test_kernel_matches_reference(rng):
    X, D, _ = make_problem(rng, noise=0.1, n_samples=30)
    G = D @ D.T
    a0 = X @ D.T
    norms = (X ** 2).sum(1)
    for max_k, tol in [(5, -1.0), (32, 0.3 * norms.min()), (4, 0.3 * norms.min())]:
        codes = np.zeros_like(a0)
        n_iter = np.zeros(len(X), np.int64)
        batch_omp(a0, G, norms, max_k, tol, True, codes, n_iter)
        ref, ref_iter = batch_omp_reference(a0, G, norms, max_k, tol)
        np.testing.assert_allclose(codes, ref, atol=1e-10)
        np.testing.assert_array_equal(n_iter, ref_iter)


def test_orthogonal_mp_gram_rows_convention(rng):
    X, D, _ = make_problem(rng, noise=0.1)
    a = orthogonal_mp_gram(D @ D.T, X @ D.T, n_nonzero_coefs=4)
    b = orthogonal_mp(X, D, n_nonzero_coefs=4)
    np.testing.assert_allclose(a, b, atol=1e-12)
    norms = (X ** 2).sum(1)
    c = orthogonal_mp_gram(D @ D.T, X @ D.T, tol=0.3 * norms.min(), norms_squared=norms)
    d = orthogonal_mp(X, D, tol=0.3 * norms.min())
    np.testing.assert_allclose(c, d, atol=1e-12)


def test_orthogonal_mp_default_sparsity(rng):
    X, D, _ = make_problem(rng, n_features=40, noise=0.2)
    codes = orthogonal_mp(X, D)
    assert ((codes != 0).sum(1) == 4).all()  # int(0.1 * 40)


def test_orthogonal_mp_many_signals_chunks(rng):
    # More signals than blocks, non-multiple of the sub-block: all rows are coded.
    X, D, _ = make_problem(rng, n_samples=1000, noise=0.05)
    codes = orthogonal_mp(X, D, n_nonzero_coefs=2, n_jobs=1)
    assert ((codes != 0).sum(1) == 2).all()
    np.testing.assert_allclose(codes, orthogonal_mp(X, D, n_nonzero_coefs=2, n_jobs=2))


def test_orthogonal_mp_empty_signals_rejected(rng):
    _, D, _ = make_problem(rng)
    with pytest.raises(ValueError, match="X is empty"):
        orthogonal_mp(np.zeros((0, D.shape[1])), D)


BAD_INPUTS = [
    (dict(X=np.full((2, 32), np.nan)), ValueError, "X contains NaN or infinity"),
    (dict(X=np.full((2, 32), np.inf)), ValueError, "X contains NaN or infinity"),
    (dict(dictionary="nan"), ValueError, "dictionary contains NaN or infinity"),
    (dict(X=np.ones((2, 31))), ValueError, "X has 31 features per sample but the dictionary has 32"),
    (dict(X=np.ones(32)), ValueError, "X must be a 2-D array"),
    (dict(dictionary="zero_atom"), ValueError, "dictionary has 1 zero-norm atom"),
    (dict(n_nonzero_coefs=0), ValueError, r"n_nonzero_coefs must be in \[1, n_components=64\]"),
    (dict(n_nonzero_coefs=65), ValueError, r"n_nonzero_coefs must be in \[1, n_components=64\]"),
    (dict(n_nonzero_coefs=2.5), TypeError, "n_nonzero_coefs must be an integer"),
    (dict(tol=-1.0), ValueError, "tol must be a non-negative finite float"),
    (dict(X="int"), None, None),  # integers are accepted and converted to float64
    (dict(X="complex"), TypeError, "X must be real"),
    (dict(dictionary="complex"), TypeError, "dictionary must be real"),
    (dict(X=np.array([["a"] * 32])), TypeError, "X must be a numeric array"),
    (dict(gram=np.eye(3)), ValueError, r"gram must have shape \(n_components, n_components\)"),
]


@pytest.mark.parametrize("bad, exc, match", BAD_INPUTS)
def test_orthogonal_mp_bad_input(rng, bad, exc, match):
    X, D, _ = make_problem(rng, n_samples=2)
    kwargs = dict(X=X, dictionary=D, n_nonzero_coefs=3)
    kwargs.update(bad)
    if isinstance(kwargs["dictionary"], str):
        kind = kwargs["dictionary"]
        D2 = D.copy()
        if kind == "nan":
            D2[1, 1] = np.nan
        elif kind == "zero_atom":
            D2[5] = 0
        elif kind == "complex":
            D2 = D2 + 1j
        kwargs["dictionary"] = D2
    if isinstance(kwargs["X"], str):
        kwargs["X"] = (np.round(X * 10).astype(np.int64) if kwargs["X"] == "int" else X + 1j)
    X_before = np.array(kwargs["X"], copy=True)
    if exc is None:
        codes = orthogonal_mp(**kwargs)
        assert codes.dtype == np.float64
    else:
        with pytest.raises(exc, match=match):
            orthogonal_mp(**kwargs)
    np.testing.assert_array_equal(kwargs["X"], X_before)


def test_orthogonal_mp_does_not_modify_inputs(rng):
    X, D, _ = make_problem(rng, noise=0.1)
    X.setflags(write=False)
    D.setflags(write=False)
    X0, D0 = X.copy(), D.copy()
    orthogonal_mp(X, D, n_nonzero_coefs=3, tol=0.1)
    SparseCoder(D, n_nonzero_coefs=3).fit(X).transform(X)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(D, D0)


def test_sparse_coder_roundtrip_and_dtypes(rng):
    X, D, Z = make_problem(rng, k=3)
    for dtype in (np.float64, np.float32):
        coder = SparseCoder(D, n_nonzero_coefs=3).fit(X.astype(dtype))
        codes = coder.transform(X.astype(dtype))
        assert codes.dtype == dtype
        assert coder.inverse_transform(codes).dtype == dtype
        np.testing.assert_allclose(coder.inverse_transform(codes), X,
                                   atol=1e-9 if dtype == np.float64 else 1e-4)


def test_sparse_coder_errors(rng):
    X, D, _ = make_problem(rng)
    with pytest.raises(ValueError, match="X has 31 features but dictionary has 32"):
        SparseCoder(D).fit(X[:, :31])
    with pytest.raises(ValueError, match="algorithm"):
        SparseCoder(D, algorithm="magic").fit(X)
    with pytest.raises(ValueError, match="n_nonzero_coefs must be in"):
        SparseCoder(D, n_nonzero_coefs=100).fit(X)
    coder = SparseCoder(D).fit(X)
    with pytest.raises(ValueError, match="codes must have shape"):
        coder.inverse_transform(np.ones((2, 3)))


def test_sparse_coder_in_pipeline_and_grid_search(rng):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    X, D, Z = make_problem(rng, n_samples=120, noise=0.05)
    y = (np.abs(Z[:, :32]).sum(1) > np.median(np.abs(Z[:, :32]).sum(1))).astype(int)
    pipe = make_pipeline(SparseCoder(D), LogisticRegression(max_iter=500))
    search = GridSearchCV(pipe, {"sparsecoder__n_nonzero_coefs": [2, 4]}, cv=3)
    search.fit(X, y)
    assert search.best_params_["sparsecoder__n_nonzero_coefs"] in (2, 4)


def test_orthogonal_mp_accepts_an_operator(rng):
    # Compressed sensing: recover x from y = x A^T with A given as an operator.
    from sparsecode.operators import GaussianOperator

    A = GaussianOperator(100, 200, random_state=0)
    X = np.zeros((4, 200))
    for i in range(4):
        X[i, rng.choice(200, 10, replace=False)] = rng.standard_normal(10) + 3
    Y = A.forward(X)
    codes = orthogonal_mp(Y, A, n_nonzero_coefs=10)
    np.testing.assert_allclose(codes, X, atol=1e-8)
    lasso = sparsecode.lasso_lars(Y, A, alpha=1e-6)
    np.testing.assert_allclose(lasso, X, atol=1e-4)


def test_orthogonal_mp_rejects_an_operator_too_large_to_form(rng):
    from sparsecode.operators import GaussianOperator

    A = GaussianOperator(10_000, 10_000, random_state=0)  # drawn lazily: nothing allocated
    with pytest.raises(ValueError, match="dictionary is an operator of shape .* too large"):
        orthogonal_mp(np.zeros((1, 10_000)), A, n_nonzero_coefs=2)


def _argmax_cases(n, dtype):
    rng = np.random.default_rng(n)
    tiny = np.finfo(dtype).tiny
    specials = np.array([0.0, -0.0, tiny / 4, -tiny / 2, 1e30, -1e30, np.inf, -np.inf],
                        dtype=dtype)
    for trial in range(40):
        alpha = rng.integers(-3, 4, n).astype(dtype)  # many ties
        if trial % 2:
            alpha *= dtype(rng.choice([1e-30, 1.0, 1e20]))
        if trial % 5 == 0:
            alpha[rng.integers(n, size=max(1, n // 3))] = rng.choice(specials, max(1, n // 3))
        yield alpha


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 33, 256])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_argmax_abs_matches_numpy_first_max(n, dtype):
    # the integer-key argmax keeps numpy's choice: the first index of the largest
    # |alpha|, signed zeros, subnormals, huge values and infinities included
    from sparsecode.kernels.omp import _argmax_abs, _find_key, _max_key

    for alpha in _argmax_cases(n, dtype):
        before = alpha.copy()
        j = _argmax_abs(alpha)
        np.testing.assert_array_equal(alpha, before)  # read only
        assert j == int(np.argmax(np.abs(alpha)))
        key = np.abs(alpha).view(np.int64 if dtype == np.float64 else np.int32).max()
        assert _max_key(alpha) == key
        assert _find_key(alpha, key + 1) == n  # a key nobody holds: not found


@pytest.mark.parametrize("k", [0, 1, 3, 4, 5, 8, 9])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_orthogonalize_axpy_returns_the_max_key_of_the_updated_correlations(k, dtype):
    # the fused reduction of the alpha update equals a separate pass over the result,
    # and the row and the update are those of the formula
    from sparsecode.kernels.omp import _max_key, _orthogonalize_axpy, _pack_params

    rng = np.random.default_rng(k)
    n = 37
    G = rng.standard_normal((n, n)).astype(dtype)
    U = rng.standard_normal((k + 1, n)).astype(dtype)
    alpha = rng.standard_normal(n).astype(dtype)
    j, inv_d, ck = 5, dtype(0.7), dtype(-1.3)
    row = (G[j].astype(np.float64) - U[:k, j].astype(np.float64) @ U[:k]) * inv_d
    expected_alpha = alpha - ck * row
    a = alpha.copy()
    hi, nmax = _pack_params(n, np.dtype(dtype).itemsize)
    key, packed = _orthogonalize_axpy(G, U, j, k, inv_d, a, ck, hi, nmax)
    rtol = 1e-12 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(U[k], row, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(a, expected_alpha, rtol=rtol, atol=rtol)
    assert key == _max_key(a)
    # the packed max names the first atom of the largest key truncated by its index bits
    keys = np.abs(a).view(np.int64 if dtype == np.float64 else np.int32).astype(np.int64)
    trunc = keys & hi
    assert nmax - (packed & nmax) == int(np.flatnonzero(trunc == trunc.max())[0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pack_params(dtype):
    from sparsecode.kernels.omp import _pack_params

    size = np.dtype(dtype).itemsize
    assert _pack_params(1, size) == (-1, 0)  # no index bits needed
    assert _pack_params(2, size) == (~1, 1)
    assert _pack_params(1024, size) == (~1023, 1023)
    assert _pack_params(1025, size) == (~2047, 2047)
    limit = 20 if dtype == np.float32 else 40
    assert _pack_params(2**limit, size) == (~(2**limit - 1), 2**limit - 1)
    assert _pack_params(2**limit + 1, size) == (-1, 0)  # no room: exact search only


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_atoms", [5, 16, 100])
def test_selection_exact_when_truncated_keys_tie(dtype, n_atoms):
    # Correlations equal but for their last bits, the larger one at a later index: the
    # packed keys' candidate is the earlier atom, which must be rejected; the selection
    # order stays that of np.argmax(|alpha|) (first index of the largest magnitude).
    from sparsecode.kernels.omp import _pack_params, batch_omp, batch_omp_reference

    rng = np.random.default_rng(n_atoms)
    G = np.eye(n_atoms, dtype=dtype)
    v = dtype(0.7)  # low bits of its pattern nonzero: v and the values 1-2 ulps below
    hi, _ = _pack_params(n_atoms, np.dtype(dtype).itemsize)  # share a truncated key
    ity = np.int64 if dtype == np.float64 else np.int32
    below = np.array([v, np.nextafter(v, dtype(0)), np.nextafter(np.nextafter(v, dtype(0)),
                                                                 dtype(0))], dtype)
    assert len(set((below.view(ity).astype(np.int64) & hi).tolist())) == 1
    rows = []
    for lo, late in [(1, n_atoms - 1), (0, 3), (2, 4)]:
        a0 = (rng.uniform(-0.5, 0.5, n_atoms)).astype(dtype)
        a0[lo] = np.nextafter(v, dtype(0))   # earlier, smaller by one ulp
        a0[late] = -v                          # later, the largest magnitude
        a0[(late + 1) % n_atoms] = np.nextafter(np.nextafter(v, dtype(0)), dtype(0))
        rows.append(a0)
    tie = np.zeros(n_atoms, dtype)
    tie[[1, 3]] = v                            # exact tie: the first index wins
    rows.append(tie)
    alpha0 = np.ascontiguousarray(rows, dtype=dtype)
    norms = np.zeros(len(rows), dtype)
    for max_k in range(1, min(4, n_atoms) + 1):  # the first, then later selections
        codes = np.full(alpha0.shape, np.nan, dtype)
        n_iter = np.zeros(len(rows), np.int64)
        batch_omp(alpha0, G, norms, max_k, dtype(-1.0), True, codes, n_iter)
        ref, ref_iter = batch_omp_reference(alpha0, G, norms, max_k, -1.0)
        np.testing.assert_array_equal(n_iter, ref_iter)
        np.testing.assert_array_equal(codes, ref.astype(dtype))
        # codes of G = I are the selected correlations: the largest magnitudes exactly
        for a0, c, k in zip(alpha0, codes, n_iter):
            order = np.argsort(-np.abs(a0), kind="stable")[:k]
            np.testing.assert_array_equal(np.flatnonzero(c), np.sort(order))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_atoms", [1, 2, 3])
def test_tiny_dictionaries_match_reference(rng, dtype, n_atoms):
    # one atom: no index bits (nmax = 0), the packed key is the key; two and three: one
    # and two index bits
    from sparsecode.kernels.omp import batch_omp, batch_omp_reference

    D = rng.standard_normal((n_atoms, 6)).astype(dtype)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.standard_normal((50, 6)).astype(dtype)
    G = np.ascontiguousarray(D @ D.T)
    a0 = np.ascontiguousarray(X @ D.T)
    norms = np.zeros(50, dtype)
    for max_k in range(1, n_atoms + 1):
        codes = np.zeros((50, n_atoms), dtype)
        n_iter = np.zeros(50, np.int64)
        batch_omp(a0, G, norms, max_k, dtype(-1.0), True, codes, n_iter, True)
        ref, ref_iter = batch_omp_reference(a0, G, norms, max_k, -1.0)
        np.testing.assert_array_equal(n_iter, ref_iter)
        np.testing.assert_array_equal(codes != 0, ref != 0)
        rtol = 1e-10 if dtype == np.float64 else 1e-4
        np.testing.assert_allclose(codes, ref, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_zeroed_output_writes_only_nonzeros(rng, dtype):
    # into a fresh np.zeros (zeroed=True) the kernels write only the nonzeros; into a
    # dirty buffer (zeroed=False) every entry: the codes are the same
    from sparsecode.kernels.omp import batch_omp, batch_omp_fused

    D = rng.standard_normal((40, 12)).astype(dtype)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.standard_normal((300, 12)).astype(dtype)
    G = (D @ D.T).astype(dtype)
    a0 = np.ascontiguousarray(X @ D.T)
    norms = np.zeros(300, dtype)
    dirty = np.full((300, 40), 7.0, dtype)
    clean = np.zeros((300, 40), dtype)
    n1, n2 = np.zeros(300, np.int64), np.zeros(300, np.int64)
    batch_omp(a0, G, norms, 5, dtype(-1.0), True, dirty, n1, False)
    batch_omp(a0, G, norms, 5, dtype(-1.0), True, clean, n2, True)
    np.testing.assert_array_equal(dirty, clean)
    assert (np.count_nonzero(clean, axis=1) == 5).all()
    Dt = np.ascontiguousarray(D.T)
    dirty[:] = 7.0
    clean2 = np.zeros_like(clean)
    batch_omp_fused(X, Dt, G, norms, 5, dtype(-1.0), True, 16, 4, dirty, n1, False)
    batch_omp_fused(X, Dt, G, norms, 5, dtype(-1.0), True, 16, 4, clean2, n2, True)
    np.testing.assert_array_equal(dirty, clean2)
    # a user's out= buffer full of garbage is overwritten entirely
    out = np.full((300, 40), np.nan, dtype)
    from sparsecode import orthogonal_mp

    got = orthogonal_mp(X, D, n_nonzero_coefs=5, out=out)
    assert got is out and np.isfinite(out).all()
    np.testing.assert_array_equal(out, orthogonal_mp(X, D, n_nonzero_coefs=5))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(1, 3), (7, 5), (300, 17)])
def test_gram_matches_numpy(rng, dtype, shape):
    from sparsecode._jit import gram

    D = rng.standard_normal(shape).astype(dtype)
    G = gram(D)
    assert G.dtype == dtype and G.flags.c_contiguous and G.shape == (shape[0], shape[0])
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(G, D @ D.T, rtol=rtol, atol=rtol * shape[1])
    np.testing.assert_array_equal(G, G.T)  # each entry is one dot product either way
    assert gram(np.zeros((0, 4), dtype)).shape == (0, 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_orthogonal_mp_out_buffer_is_overwritten_and_returned(rng, dtype):
    X, D, _ = make_problem(rng, k=3)
    X, D = X.astype(dtype), D.astype(dtype)
    ref = orthogonal_mp(X, D, n_nonzero_coefs=4)
    buf = np.full(ref.shape, np.nan, dtype=dtype)  # a dirty buffer: every entry rewritten
    X0, D0 = X.copy(), D.copy()
    got = orthogonal_mp(X, D, n_nonzero_coefs=4, out=buf)
    np.testing.assert_array_equal(X, X0)  # the inputs are not touched
    np.testing.assert_array_equal(D, D0)
    assert got is buf
    np.testing.assert_array_equal(got, ref)
    got, n_iter = orthogonal_mp(X, D, n_nonzero_coefs=4, out=buf, return_n_iter=True)
    assert got is buf and n_iter.shape == (X.shape[0],)
    np.testing.assert_array_equal(got, ref)


def test_orthogonal_mp_out_bad_buffers(rng):
    X, D, _ = make_problem(rng, k=3)
    shape = (X.shape[0], D.shape[0])
    with pytest.raises(TypeError, match="out must be a NumPy array"):
        orthogonal_mp(X, D, n_nonzero_coefs=2, out=[[0.0]])
    with pytest.raises(ValueError, match=r"out must have shape .* and dtype float64"):
        orthogonal_mp(X, D, n_nonzero_coefs=2, out=np.zeros((shape[0] + 1, shape[1])))
    with pytest.raises(ValueError, match=r"dtype float64 \(the codes'\), got .* float32"):
        orthogonal_mp(X, D, n_nonzero_coefs=2, out=np.zeros(shape, np.float32))
    with pytest.raises(ValueError, match="C-contiguous and writeable"):
        orthogonal_mp(X, D, n_nonzero_coefs=2, out=np.zeros(shape[::-1]).T)
    ro = np.zeros(shape)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="C-contiguous and writeable"):
        orthogonal_mp(X, D, n_nonzero_coefs=2, out=ro)
    with pytest.raises(ValueError, match="output='sparse'"):
        orthogonal_mp(X, D, n_nonzero_coefs=2, out=np.zeros(shape), output="sparse")
    # a rejected buffer is left as it was
    keep = np.full((shape[0] + 1, shape[1]), 7.0)
    with pytest.raises(ValueError, match="out must have shape"):
        orthogonal_mp(X, D, n_nonzero_coefs=2, out=keep)
    assert (keep == 7.0).all()
    # a good buffer with bad signals: the error names X, and neither X nor out is touched
    Xn = X.copy()
    Xn[1, 2] = np.nan
    Xn0 = Xn.copy()
    good = np.full(shape, 7.0)
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        orthogonal_mp(Xn, D, n_nonzero_coefs=2, out=good)
    assert (good == 7.0).all()
    np.testing.assert_array_equal(Xn, Xn0)
