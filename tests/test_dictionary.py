"""Tests of sparsecode.dictionary and sparsecode.kernels.dictionary."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sparsecode.dictionary import (
    DictionaryLearning,
    IterationRecord,
    LearningInfo,
    MiniBatchDictionaryLearning,
    dict_learning_online,
    ksvd,
    mod,
    plot_dictionary,
)
from sparsecode.dictionary._common import replace_atoms
from sparsecode.kernels import dictionary as kd


# ---------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------
def synthetic(seed, n_samples=1500, n_features=20, n_components=50, k=3, noise=0.0):
    """Signals from a known unit-norm dictionary, k-sparse codes (Aharon et al. 2006)."""
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((n_components, n_features))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    Z = np.zeros((n_samples, n_components))
    for i in range(n_samples):
        Z[i, rng.choice(n_components, k, replace=False)] = rng.standard_normal(k)
    X = Z @ D + noise * rng.standard_normal((n_samples, n_features))
    return D, Z, X


def recovered(D_true, D_hat, threshold=0.99):
    return float((np.abs(D_true @ D_hat.T).max(axis=1) > threshold).mean())


@pytest.fixture
def small():
    return synthetic(0, n_samples=300, n_features=8, n_components=20, noise=0.1)


# ---------------------------------------------------------------------------------------
# kernels against their NumPy twins
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_codes_to_csc_matches_reference(small, dtype):
    _, Z, _ = small
    Z = Z.astype(dtype)
    got = kd.codes_to_csc(Z)
    ref = kd.codes_to_csc_reference(Z)
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)
    back = np.zeros_like(Z)
    kd.csc_to_codes(*got, back)
    np.testing.assert_array_equal(back, Z)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_residual_matches_reference(small, dtype):
    D, Z, X = (a.astype(dtype) for a in small)
    R1, R2 = np.empty_like(X), np.empty_like(X)
    s1 = kd.sparse_residual(X, Z, D, R1)
    s2 = kd.sparse_residual_reference(X, Z, D, R2)
    np.testing.assert_allclose(R1, R2, atol=1e-5 if dtype == np.float32 else 1e-12)
    assert s1 == pytest.approx(s2, rel=1e-4)


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ksvd_update_matches_reference(small, exact, dtype):
    D, Z, X = (a.astype(dtype) for a in small)
    Z[:, 3] = 0  # one unused atom
    indptr, rows, vals = kd.codes_to_csc(Z)
    R = (X - Z @ D).astype(dtype)
    R2, D1, D2, v2 = R.copy(), D.copy(), D.copy(), vals.copy()
    used1 = kd.ksvd_update(R, D1, indptr, rows, vals, exact)
    used2 = kd.ksvd_update_reference(R2, D2, indptr, rows, v2, exact)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_array_equal(used1, used2)
    assert not used1[3]
    np.testing.assert_allclose(D1, D2, atol=tol)
    np.testing.assert_allclose(vals, v2, atol=tol)
    np.testing.assert_allclose(R, R2, atol=tol)
    np.testing.assert_allclose(np.linalg.norm(D1, axis=1), 1.0, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_stats_matches_reference(small, dtype):
    _, Z, X = (a.astype(dtype) for a in small)
    A1 = np.ones((Z.shape[1],) * 2, dtype)
    B1 = np.ones((Z.shape[1], X.shape[1]), dtype)
    A2, B2 = A1.copy(), B1.copy()
    kd.sparse_stats(Z, X, A1, B1, dtype(0.5))
    kd.sparse_stats_reference(Z, X, A2, B2, 0.5)
    np.testing.assert_allclose(A1, A2, rtol=1e-5)
    np.testing.assert_allclose(B1, B2, rtol=1e-4, atol=1e-5)


def test_online_update_matches_reference(small):
    D, Z, X = small
    A, B = Z.T @ Z / len(Z), Z.T @ X / len(Z)
    A[5, :] = A[:, 5] = 0
    D1, D2 = D.copy(), D.copy()
    used1 = kd.online_update(D1, A, B, 1e-12)
    used2 = kd.online_update_reference(D2, A, B, 1e-12)
    np.testing.assert_array_equal(used1, used2)
    assert not used1[5]
    np.testing.assert_allclose(D1, D2, atol=1e-10)


def test_mod_update_matches_reference_and_least_squares(small):
    _, Z, X = small
    A, B = Z.T @ Z, Z.T @ X
    D1 = kd.mod_update(A, B, 0.0)
    np.testing.assert_allclose(D1, kd.mod_update_reference(A, B, 0.0), atol=1e-10)
    np.testing.assert_allclose(D1, np.linalg.lstsq(Z, X, rcond=None)[0], atol=1e-8)


# ---------------------------------------------------------------------------------------
# Monotonicity of the dictionary updates.
# With the codes' support fixed, each K-SVD atom update is a block-coordinate
# minimisation of ||X - ZD||_F over (d_k, g_k): exactly (best rank-1, exact) or by one
# alternating least-squares step (approximate: d = E^T g/||E^T g|| is optimal for fixed
# g on the unit sphere, then g = E d optimal for fixed d). MOD's D is the least-squares
# optimum for fixed Z and normalisation rescales Z so ZD is unchanged. Hence the error
# cannot increase in the dictionary step. The OMP coding step is greedy and may
# increase it, so the whole-iteration error is not tested for monotonicity.
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ksvd_update_error_non_increasing(exact, seed):
    D, Z, X = synthetic(seed, n_samples=200, n_features=10, n_components=15, noise=0.3)
    rng = np.random.default_rng(seed + 10)
    D0 = D + 0.3 * rng.standard_normal(D.shape)
    D0 /= np.linalg.norm(D0, axis=1, keepdims=True)
    indptr, rows, vals = kd.codes_to_csc(Z)
    R = X - Z @ D0
    before = np.linalg.norm(R)
    Dn = D0.copy()
    kd.ksvd_update(R, Dn, indptr, rows, vals, exact)
    Zn = np.zeros_like(Z)
    kd.csc_to_codes(indptr, rows, vals, Zn)
    after = np.linalg.norm(X - Zn @ Dn)
    np.testing.assert_allclose(after, np.linalg.norm(R), rtol=1e-10)
    assert after < before
    np.testing.assert_array_equal(Zn != 0, Z != 0)


@pytest.mark.parametrize("seed", [0, 1])
def test_mod_update_error_non_increasing(seed):
    D, Z, X = synthetic(seed, n_samples=200, n_features=10, n_components=15, noise=0.3)
    D0 = D + 0.3 * np.random.default_rng(seed).standard_normal(D.shape)
    A, B = Z.T @ Z, Z.T @ X
    Dn = kd.mod_update(A, B, 0.0)
    norms = np.linalg.norm(Dn, axis=1)
    assert np.linalg.norm(X - (Z * norms) @ (Dn / norms[:, None])) <= np.linalg.norm(
        X - Z @ D0)


# ---------------------------------------------------------------------------------------
# Recovery of a known dictionary (Aharon et al. 2006, sec. V-A, noiseless)
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["approx", "exact"])
def test_ksvd_recovers_generating_dictionary(method):
    # Aharon et al. report the recovery rate averaged over trials (96 % noiseless);
    # single runs can end in a local minimum with 2-4 atoms missing, so the property
    # tested is the mean over 4 trials. min_usage=0.5 re-seeds rarely used atoms.
    rates = []
    for seed in range(4):
        D, _, X = synthetic(seed)
        D_hat, _, info = ksvd(X, 50, 3, max_iter=50, method=method, random_state=seed,
                              min_usage=0.5)
        rates.append(recovered(D, D_hat))
        assert info.error[-1] < 0.3 * info.error[0]
    assert np.mean(rates) >= 0.95 and min(rates) >= 0.9


def test_mod_recovers_generating_dictionary():
    D, _, X = synthetic(0)
    D_hat, _, _ = mod(X, 50, 3, max_iter=50, random_state=0, min_usage=0.5)
    assert recovered(D, D_hat) >= 0.9


def test_online_learns_generating_dictionary():
    D, _, X = synthetic(0)
    D_hat, info = dict_learning_online(X, 50, n_nonzero_coefs=3, batch_size=150,
                                       max_iter=30, random_state=0)
    assert recovered(D, D_hat, 0.95) >= 0.8
    assert info.error[-10:].mean() < 0.5 * info.error[:10].mean()


# ---------------------------------------------------------------------------------------
# Function contracts
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("algo", ["approx", "exact", "mod", "online"])
def test_functions_preserve_dtype_and_unit_norm(small, dtype, algo):
    X = small[2].astype(dtype)
    if algo == "online":
        D, info = dict_learning_online(X, 12, n_nonzero_coefs=2, batch_size=50,
                                       random_state=0)
        Z = None
    elif algo == "mod":
        D, Z, info = mod(X, 12, 2, max_iter=3, random_state=0)
    else:
        D, Z, info = ksvd(X, 12, 2, max_iter=3, method=algo, random_state=0)
    assert D.dtype == dtype and D.shape == (12, 8)
    np.testing.assert_allclose(np.linalg.norm(D, axis=1), 1.0, rtol=1e-5)
    assert isinstance(info, LearningInfo)
    if Z is not None:
        assert Z.dtype == dtype and Z.shape == (300, 12)
        # the returned codes are consistent with the returned dictionary
        rmse = np.sqrt(np.mean((X - Z @ D) ** 2))
        assert rmse == pytest.approx(info.error[-1], rel=1e-3)


def test_ksvd_does_not_modify_inputs(small):
    X = small[2]
    init = 2.0 * small[0][:20]
    X0, init0 = X.copy(), init.copy()
    ksvd(X, 20, 2, max_iter=2, init=init)
    dict_learning_online(X, 20, n_nonzero_coefs=2, batch_size=100, init=init)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(init, init0)


@pytest.mark.parametrize("init", ["data", "random", "dct"])
def test_initialisations(init):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 16))
    D, _, info = ksvd(X, 20, 2, max_iter=0, init=init, random_state=0)
    assert info.n_iter == 0
    np.testing.assert_allclose(np.linalg.norm(D, axis=1), 1.0)
    if init == "data":  # atoms are normalised training samples
        Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
        assert np.isclose(np.abs(Xn @ D.T).max(axis=0), 1.0).all()


def test_user_init_is_normalised_and_used(small):
    X = small[2]
    init = 3.0 * small[0][:20]
    D, _, _ = ksvd(X, 20, 2, max_iter=0, init=init)
    np.testing.assert_allclose(D, init / 3.0)


def test_same_seed_same_dictionary(small):
    X = small[2]
    a = ksvd(X, 20, 2, max_iter=3, random_state=3)[0]
    b = ksvd(X, 20, 2, max_iter=3, random_state=3)[0]
    np.testing.assert_array_equal(a, b)


def test_callback_record_and_early_stop(small):
    records = []

    def cb(rec):
        records.append(rec)
        return rec.iteration == 1

    _, _, info = ksvd(small[2], 20, 2, max_iter=10, callback=cb, random_state=0)
    assert info.n_iter == 2 and len(records) == 2
    assert isinstance(records[0], IterationRecord)
    assert records[0].error == info.error[0] and records[1].time >= records[0].time
    with pytest.raises(dataclasses.FrozenInstanceError):
        records[0].error = 0.0


def test_convergence_tol_stops_early(small):
    _, _, info = ksvd(small[2], 20, 2, max_iter=200, convergence_tol=1e-2,
                      replace_atoms=False, random_state=0)
    assert 1 < info.n_iter < 200


def test_verbose_progress_bar(small, capsys):
    ksvd(small[2], 20, 2, max_iter=2, verbose=True, random_state=0)
    assert "approx_ksvd" in capsys.readouterr().err


def test_callable_coder_is_used(small):
    from sparsecode import orthogonal_mp

    calls = []

    def coder(X, D, gram):
        calls.append(gram.shape)
        return orthogonal_mp(X, D, n_nonzero_coefs=1, gram=gram)

    _, Z, _ = ksvd(small[2], 20, max_iter=2, coder=coder)
    assert calls == [(20, 20), (20, 20)]
    assert (np.count_nonzero(Z, axis=1) <= 1).all()


def test_lasso_lars_coder():
    pytest.importorskip("sparsecode.coding._lars")
    D, _, X = synthetic(0, n_samples=300, n_features=8, n_components=20, noise=0.1)
    D_hat, Z, info = ksvd(X, 20, coder="lasso_lars", alpha=0.05, max_iter=3, random_state=0)
    assert D_hat.shape == (20, 8) and np.isfinite(info.error).all()


# ---------------------------------------------------------------------------------------
# Dead and duplicate atoms
# ---------------------------------------------------------------------------------------
def test_replace_atoms_replaces_duplicates_and_dead_by_worst_signals():
    rng = np.random.default_rng(0)
    D = rng.standard_normal((6, 5))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    D[4] = -D[1]  # duplicate (up to sign) of atom 1
    X = rng.standard_normal((30, 5))
    err = rng.random(30)
    used = np.ones(6, bool)
    used[2] = False
    n = replace_atoms(D, X, err, used, 0.99)
    worst = np.argsort(-err)[:2]
    assert n == 2
    np.testing.assert_allclose(D[[2, 4]], X[worst] / np.linalg.norm(X[worst], axis=1,
                                                                    keepdims=True))


def test_ksvd_replaces_unused_atoms():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 8))
    init = rng.standard_normal((10, 8))
    init[5:] = init[0]  # exact copies: OMP picks the first on ties, copies stay unused
    D, _, info = ksvd(X, 10, 1, max_iter=3, init=init)
    assert info.n_replaced[0] >= 4 and info.n_replaced[-1] == 0
    assert (np.abs(D @ D.T) - np.eye(10)).max() < 0.99
    np.testing.assert_allclose(np.linalg.norm(D, axis=1), 1.0)


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [ksvd, mod])
def test_batch_errors(fn, small):
    X = small[2]
    with pytest.raises(ValueError, match="n_components must be an integer >= 1"):
        fn(X, 0)
    with pytest.raises(ValueError, match="larger than the number of samples"):
        fn(X[:10], 20)
    Xn = X.copy()
    Xn[3, 2] = np.nan
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        fn(Xn, 10)
    with pytest.raises(ValueError, match="init must be one of"):
        fn(X, 10, init="svd")
    with pytest.raises(ValueError, match=r"init must have shape \(n_components"):
        fn(X, 10, init=np.ones((3, 8)))
    with pytest.raises(ValueError, match="coder must be one of"):
        fn(X, 10, coder="cd")
    with pytest.raises(ValueError, match="n_nonzero_coefs must be in"):
        fn(X, 10, n_nonzero_coefs=11)


def test_ksvd_method_error(small):
    with pytest.raises(ValueError, match="method must be 'approx' or 'exact'"):
        ksvd(small[2], 10, method="svd")


def test_dct_init_needs_square_patches(small):
    with pytest.raises(ValueError, match="perfect square"):
        ksvd(small[2][:, :7], 10, init="dct")


def test_online_errors_and_more_atoms_than_samples(small):
    X = small[2]
    with pytest.raises(ValueError, match="n_components must be an integer >= 1"):
        dict_learning_online(X, 0)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        dict_learning_online(X, 5, batch_size=0)
    D, _ = dict_learning_online(X[:10], 30, n_nonzero_coefs=2, random_state=0)
    assert D.shape == (30, 8)  # online learning may see fewer samples than atoms


# ---------------------------------------------------------------------------------------
# Estimators
# ---------------------------------------------------------------------------------------
@parametrize_with_checks([
    DictionaryLearning(n_components=3, n_nonzero_coefs=1, max_iter=3, random_state=0),
    DictionaryLearning(n_components=3, algorithm="mod", max_iter=2, random_state=0),
    MiniBatchDictionaryLearning(n_components=3, n_nonzero_coefs=1, batch_size=10,
                                max_iter=2, random_state=0),
])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("est", [
    DictionaryLearning(12, n_nonzero_coefs=2, max_iter=3, random_state=0),
    DictionaryLearning(12, algorithm="ksvd", n_nonzero_coefs=2, max_iter=3, random_state=0),
    MiniBatchDictionaryLearning(12, n_nonzero_coefs=2, batch_size=64, random_state=0),
])
def test_estimators_dtype_transform_inverse(small, dtype, est):
    X = small[2].astype(dtype)
    est.fit(X)
    Z = est.transform(X)
    assert est.components_.dtype == dtype and Z.dtype == dtype
    assert est.inverse_transform(Z).dtype == dtype
    assert (np.count_nonzero(Z, axis=1) <= 2).all()
    assert est.error_.ndim == 1 and len(est.error_) >= 1


def test_partial_fit_equals_fit_on_concatenation(small):
    X = small[2]
    kw = dict(n_nonzero_coefs=2, batch_size=50, random_state=7)
    full = MiniBatchDictionaryLearning(20, shuffle=False, max_iter=1, **kw).fit(X)
    part = MiniBatchDictionaryLearning(20, **kw)
    for chunk in (X[:100], X[100:150], X[150:]):
        part.partial_fit(chunk)
    np.testing.assert_array_equal(part.components_, full.components_)
    assert part.n_steps_ == full.n_steps_ == 6
    np.testing.assert_array_equal(part.error_, full.error_)


def test_partial_fit_checks_n_features(small):
    est = MiniBatchDictionaryLearning(5, n_nonzero_coefs=2).partial_fit(small[2])
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(small[2][:, :5])


def test_estimator_callback_and_n_iter(small):
    recs = []
    est = DictionaryLearning(10, n_nonzero_coefs=2, max_iter=4, callback=recs.append,
                             random_state=0).fit(small[2])
    assert est.n_iter_ == 4 == len(recs) == len(est.error_)


def test_plot_dictionary_draws_grid():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    D = np.random.default_rng(0).standard_normal((10, 16))
    fig = plot_dictionary(D, n_cols=5, title="atoms")
    img = fig.axes[0].images[0].get_array()
    assert img.shape == (2 * 5 + 1, 5 * 5 + 1)
    with pytest.raises(ValueError, match="perfect square"):
        plot_dictionary(np.ones((3, 10)))
    import matplotlib.pyplot as plt

    plt.close(fig)


# ---------------------------------------------------------------------------------------
# forgetting of the online statistics (Mairal et al. 2010, sec. 3.4.3)
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("rho", [0.0, 1.0, 10.0])
def test_forgetting_factor_closed_form(rho):
    from sparsecode.dictionary._online import forgetting_factor

    assert forgetting_factor(0, rho) == 0.0
    got = [forgetting_factor(s, rho) for s in range(1, 6)]
    np.testing.assert_allclose(got, [(1.0 - 1.0 / (s + 1)) ** rho for s in range(1, 6)])


@pytest.mark.parametrize("rho", [0.0, 3.0, 10.0])
def test_online_step_statistics_weight_batch_i_by_i_over_t_to_rho(small, rho):
    # after t mini-batches, batch i (1-based) weighs prod_{s=i+1..t} (1 - 1/s)^rho = (i/t)^rho
    from sparsecode.dictionary._online import OnlineState, online_step

    _, _, X = small
    rng = np.random.default_rng(1)
    D = rng.standard_normal((20, 8))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    state = OnlineState(D.copy())
    batches = [X[i * 50:(i + 1) * 50].copy() for i in range(5)]
    codes = [np.where(rng.random((50, 20)) < 0.2, rng.standard_normal((50, 20)), 0.0)
             for _ in batches]
    it = iter(codes)
    for Xb in batches:
        online_step(state, Xb, lambda X_, D_, G_: next(it), batch_size=50, replace=False,
                    duplicate_threshold=0.99, n_jobs=1, forget_rate=rho)
    t = len(batches)
    A = sum(((i + 1) / t) ** rho * Z.T @ Z / 50 for i, Z in enumerate(codes))
    B = sum(((i + 1) / t) ** rho * Z.T @ Xb / 50 for i, (Z, Xb) in enumerate(zip(codes, batches)))
    np.testing.assert_allclose(state.A, A, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(state.B, B, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("bad, exc, match", [
    (-1.0, ValueError, "forget_rate must be a finite number >= 0"),
    (np.inf, ValueError, "forget_rate must be a finite number >= 0"),
    ("fast", TypeError, "forget_rate must be a real number >= 0"),
])
def test_dict_learning_online_rejects_bad_forget_rate(small, bad, exc, match):
    with pytest.raises(exc, match=match):
        dict_learning_online(small[2], 5, n_nonzero_coefs=2, forget_rate=bad)


def test_dict_learning_online_forgetting_beats_no_forgetting_on_drifting_data():
    # the signals switch generating dictionary half-way: with forgetting the learner
    # follows the second dictionary, without it the first half's statistics hold it back
    D1, _, X1 = synthetic(0, n_samples=1500, n_components=30)
    D2, _, X2 = synthetic(1, n_samples=1500, n_components=30)
    X = np.vstack([X1, X2])
    kw = dict(n_nonzero_coefs=3, batch_size=100, shuffle=False, random_state=0)
    D_f, _ = dict_learning_online(X, 30, forget_rate=10.0, **kw)
    D_0, _ = dict_learning_online(X, 30, forget_rate=0.0, **kw)
    assert recovered(D2, D_f, 0.95) > recovered(D2, D_0, 0.95) + 0.2


def test_minibatch_estimator_forget_rate_is_used(rng):
    from sparsecode.dictionary import MiniBatchDictionaryLearning

    X = rng.standard_normal((600, 12))
    kw = dict(n_nonzero_coefs=2, batch_size=100, random_state=0, shuffle=False)
    est0 = MiniBatchDictionaryLearning(16, forget_rate=0.0, max_iter=2, **kw).fit(X)
    est10 = MiniBatchDictionaryLearning(16, forget_rate=10.0, max_iter=2, **kw).fit(X)
    assert not np.allclose(est0.components_, est10.components_)
    with pytest.raises(ValueError, match="forget_rate"):
        MiniBatchDictionaryLearning(16, forget_rate=-1.0, **kw).fit(X)
