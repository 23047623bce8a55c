"""Tests of the sparse autoencoders (sparsecode.nn.sae) and the torch estimator base."""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from sparsecode.nn._estimator import resolve_device  # noqa: E402
from sparsecode.nn.sae import (  # noqa: E402
    KLSAE,
    BatchTopKSAE,
    JumpReLUSAE,
    ReLUSAE,
    SparseAutoencoder,
    TopKSAE,
    sae_metrics,
)

FAST = dict(batch_size=128, learning_rate=1e-2, random_state=0)
ALL = [
    (ReLUSAE, dict(alpha=1.0)),
    (TopKSAE, dict(n_nonzero_coefs=3)),
    (BatchTopKSAE, dict(n_nonzero_coefs=3)),
    (JumpReLUSAE, dict()),
    (KLSAE, dict()),
]
IDS = [c.__name__ for c, _ in ALL]


def _sparse_data(rng, n_samples=1500, n_features=16, n_atoms=24, k=3, noise=0.01):
    D = rng.standard_normal((n_atoms, n_features))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    C = np.zeros((n_samples, n_atoms))
    for i in range(n_samples):
        C[i, rng.choice(n_atoms, k, replace=False)] = rng.uniform(1, 2, k)
    X = C @ D + noise * rng.standard_normal((n_samples, n_features))
    return X, D


def _recovered(D_true, D_learned, threshold=0.9):
    """Fraction of true atoms with a learned atom at |cosine| > threshold."""
    E = D_learned / np.linalg.norm(D_learned, axis=1, keepdims=True)
    return float((np.abs(D_true @ E.T).max(axis=1) > threshold).mean())


@pytest.fixture(scope="module")
def sparse_data():
    return _sparse_data(np.random.default_rng(1))


@pytest.fixture(scope="module")
def trained_topk(sparse_data):
    X, _ = sparse_data
    return TopKSAE(48, n_nonzero_coefs=3, max_iter=25, **FAST).fit(X)


@pytest.fixture(scope="module")
def small_X():
    return np.random.default_rng(2).standard_normal((300, 8))


# ----------------------------------------------------------------- behaviour
def test_topk_sae_recovers_known_dictionary(sparse_data, trained_topk, rng):
    X, D = sparse_data
    sae = trained_topk
    recovered = _recovered(D, sae.components_)
    # baselines: random atoms, and the SAE at its (tied, random) initialisation
    baseline_random = _recovered(D, rng.standard_normal((48, 16)))
    untrained = SparseAutoencoder(16, 48, "topk", k=3)
    baseline_init = _recovered(D, untrained.W_dec.detach().numpy())
    assert recovered >= 0.9
    assert max(baseline_random, baseline_init) <= 0.2
    assert sae.score_metrics(X)["fvu"] < 0.2


def test_topk_sae_recovers_as_many_atoms_as_ksvd(sparse_data, trained_topk):
    dictionary = pytest.importorskip("sparsecode.dictionary")
    X, D = sparse_data
    ksvd = dictionary.DictionaryLearning(24, algorithm="approx_ksvd", n_nonzero_coefs=3,
                                         max_iter=20, random_state=0).fit(X)
    assert _recovered(D, trained_topk.components_) >= _recovered(D, ksvd.components_) >= 0.5


def test_topk_sae_signed_exactly_k_nonzeros(small_X):
    sae = TopKSAE(16, n_nonzero_coefs=4, nonnegative=False, max_iter=3, **FAST).fit(small_X)
    codes = sae.transform(small_X)
    np.testing.assert_array_equal((codes != 0).sum(axis=1), 4)


def test_topk_sae_nonnegative_at_most_k(small_X):
    sae = TopKSAE(16, n_nonzero_coefs=4, max_iter=3, **FAST).fit(small_X)
    codes = sae.transform(small_X)
    assert (codes >= 0).all()
    nnz = (codes != 0).sum(axis=1)
    assert nnz.max() == 4 and nnz.mean() > 3.5


def test_topk_sae_decoder_rows_unit_norm(small_X):
    sae = TopKSAE(16, n_nonzero_coefs=3, max_iter=3, **FAST).fit(small_X)
    np.testing.assert_allclose(np.linalg.norm(sae.components_, axis=1), 1.0, rtol=1e-6)


def test_batchtopk_sae_average_k_and_inference_threshold(sparse_data):
    X, _ = sparse_data
    sae = BatchTopKSAE(48, n_nonzero_coefs=3, max_iter=10, **FAST).fit(X)
    assert sae.history_[-1]["l0"] == pytest.approx(3.0)  # k per sample on average
    codes = sae.transform(X)
    assert sae.threshold_ > 0
    assert codes[codes != 0].min() > sae.threshold_
    nnz = (codes != 0).sum(axis=1)
    assert 1.5 < nnz.mean() < 4.5 and nnz.std() > 0  # budget varies per sample


def test_jumprelu_threshold_learns(sparse_data):
    X, _ = sparse_data
    sae = JumpReLUSAE(48, threshold_init=0.1, max_iter=10, **FAST).fit(X)
    theta = sae.threshold_ / sae.scale_
    assert np.abs(theta - 0.1).max() > 0.05
    codes = sae.transform(X)
    assert (codes[codes != 0] > sae.threshold_[np.nonzero(codes)[1]]).all()


def test_relu_sae_alpha_controls_sparsity(sparse_data):
    X, _ = sparse_data
    l0 = [ReLUSAE(32, alpha=a, max_iter=8, **FAST).fit(X).score_metrics(X)["l0"]
          for a in (0.1, 3.0)]
    assert l0[1] < 0.7 * l0[0]


def test_kl_sae_reaches_target_mean_activation(small_X):
    sae = KLSAE(16, alpha=5.0, sparsity_target=0.1, max_iter=30, **FAST).fit(small_X)
    mean_act = sae.transform(small_X).mean(axis=0) / sae.scale_
    assert abs(np.median(mean_act) - 0.1) < 0.05


@pytest.mark.parametrize("cls, kw", ALL, ids=IDS)
def test_sae_history_metrics(cls, kw, small_X):
    sae = cls(16, max_iter=3, **FAST, **kw).fit(small_X)
    assert sae.n_iter_ == len(sae.history_) == 3
    for key in ("loss", "mse", "nmse", "fvu", "l0", "dead_fraction"):
        assert np.isfinite(sae.history_[-1][key])
    assert 0.0 <= sae.history_[-1]["dead_fraction"] <= 1.0
    m = sae.score_metrics(small_X)
    codes = sae.transform(small_X)
    rec = sae.inverse_transform(codes)
    err = ((small_X - rec) ** 2).sum()
    assert m["nmse"] == pytest.approx(err / (small_X ** 2).sum())
    assert m["fvu"] == pytest.approx(err / ((small_X - small_X.mean(0)) ** 2).sum())
    assert m["l0"] == pytest.approx((codes != 0).sum(1).mean())


@pytest.mark.parametrize("cls, kw", ALL, ids=IDS)
def test_sae_reconstruction_matches_module(cls, kw, small_X):
    sae = cls(16, max_iter=2, **FAST, **kw).fit(small_X)
    with torch.no_grad():
        sae.module_.eval()
        x_hat = sae.module_(torch.as_tensor(small_X) / sae.scale_)[0].numpy() * sae.scale_
    np.testing.assert_allclose(sae.inverse_transform(sae.transform(small_X)), x_hat,
                               rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("cls, kw", ALL, ids=IDS)
def test_sae_reproducible_with_seed(cls, kw, small_X):
    a = cls(16, max_iter=2, **FAST, **kw).fit(small_X)
    b = clone(a).fit(small_X)
    np.testing.assert_array_equal(a.components_, b.components_)
    c = clone(a).set_params(random_state=1).fit(small_X)
    assert not np.array_equal(a.components_, c.components_)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sae_preserves_dtype(dtype, small_X):
    X = small_X.astype(dtype)
    sae = TopKSAE(16, n_nonzero_coefs=3, max_iter=2, **FAST).fit(X)
    assert sae.components_.dtype == dtype
    assert sae.transform(X).dtype == dtype
    assert sae.inverse_transform(sae.transform(X)).dtype == dtype


def test_sae_verbose_shows_progress(small_X, capsys):
    TopKSAE(8, n_nonzero_coefs=2, max_iter=2, verbose=1, **FAST).fit(small_X)
    assert "TopKSAE" in capsys.readouterr().err


def test_sae_does_not_modify_input(small_X):
    X = small_X.copy()
    sae = ReLUSAE(16, max_iter=2, **FAST).fit(X)
    sae.transform(X)
    np.testing.assert_array_equal(X, small_X)


def test_sae_in_pipeline(rng):
    X = rng.standard_normal((200, 8))
    y = (X[:, 0] > 0).astype(int)
    pipe = make_pipeline(TopKSAE(16, n_nonzero_coefs=4, max_iter=5, **FAST),
                         LogisticRegression()).fit(X, y)
    assert pipe.score(X, y) > 0.7


def test_sae_pickle_roundtrip(small_X):
    sae = BatchTopKSAE(16, n_nonzero_coefs=3, max_iter=2, **FAST).fit(small_X)
    state = sae.__getstate__()
    assert "module_" not in state and "_module_state_dict_" in state
    again = pickle.loads(pickle.dumps(sae))
    np.testing.assert_array_equal(again.transform(small_X), sae.transform(small_X))


def test_sae_checkpoint_resume_is_exact(small_X, tmp_path):
    path = str(tmp_path / "ckpt.pt")
    full = TopKSAE(16, n_nonzero_coefs=3, max_iter=4, **FAST).fit(small_X)
    TopKSAE(16, n_nonzero_coefs=3, max_iter=2, checkpoint_path=path, **FAST).fit(small_X)
    resumed = TopKSAE(16, n_nonzero_coefs=3, max_iter=4, checkpoint_path=path,
                      **FAST).fit(small_X)
    assert len(resumed.history_) == 4
    np.testing.assert_allclose(resumed.components_, full.components_, rtol=1e-12)


def test_sae_early_stopping_records_validation(small_X):
    sae = TopKSAE(16, n_nonzero_coefs=3, max_iter=40, early_stopping=True,
                  n_iter_no_change=2, tol=0.05, **FAST).fit(small_X)
    assert "val_loss" in sae.history_[-1]
    assert sae.n_iter_ < 40


@pytest.mark.parametrize("auxk_coef", [0.0, 1.0])
def test_topk_auxk_loss_trains_only_dead_latents(auxk_coef, rng):
    from sparsecode.nn.sae.module import _SAEObjective

    torch.manual_seed(0)
    module = SparseAutoencoder(6, 12, "topk", k=2).double()
    obj = _SAEObjective(activation="topk", auxk_coef=auxk_coef, k_aux=3, dead_after=50,
                        n_components=12)
    obj.since_fired[:] = 100  # everything dead so far; this batch's firers revive
    x = torch.as_tensor(rng.standard_normal((8, 6)))
    loss, metrics = obj(module, x)
    loss.backward()
    dead = obj.since_fired >= 50
    assert 0 < int(dead.sum()) < 12
    g_dead = module.W_dec.grad[dead].abs().sum().item()
    if auxk_coef == 0:
        assert g_dead == 0.0 and "auxk" not in metrics
    else:
        assert g_dead > 0.0 and metrics["auxk"].item() > 0


@parametrize_with_checks([
    ReLUSAE(4, max_iter=2, random_state=0),
    TopKSAE(4, n_nonzero_coefs=1, max_iter=2, random_state=0),
    BatchTopKSAE(4, n_nonzero_coefs=1, max_iter=2, random_state=0),
    JumpReLUSAE(4, max_iter=2, random_state=0),
    KLSAE(4, max_iter=2, random_state=0),
])
def test_sae_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ----------------------------------------------------------------- errors
def test_topk_sae_k_larger_than_width_raises(small_X):
    with pytest.raises(ValueError, match=r"n_nonzero_coefs must be <= n_components=8"):
        TopKSAE(8, n_nonzero_coefs=9).fit(small_X)


def test_sae_module_k_larger_than_width_raises():
    with pytest.raises(ValueError, match=r"k \(n_nonzero_coefs\) must be in \[1, 4\]"):
        SparseAutoencoder(8, 4, "topk", k=5)


def test_sae_module_unknown_activation_raises():
    with pytest.raises(ValueError, match="activation must be one of"):
        SparseAutoencoder(8, 4, "gelu")


def test_sae_bad_parameter_raises(small_X):
    with pytest.raises(ValueError, match="'alpha' parameter"):
        ReLUSAE(8, alpha=-1.0).fit(small_X)


def test_sae_transform_wrong_width_raises(small_X):
    sae = TopKSAE(8, n_nonzero_coefs=2, max_iter=1, **FAST).fit(small_X)
    with pytest.raises(ValueError, match="features"):
        sae.transform(small_X[:, :5])


def test_sae_inverse_transform_wrong_width_raises(small_X):
    sae = TopKSAE(8, n_nonzero_coefs=2, max_iter=1, **FAST).fit(small_X)
    with pytest.raises(ValueError, match="codes must have shape"):
        sae.inverse_transform(np.zeros((3, 5)))


def test_sae_nan_input_raises(small_X):
    X = small_X.copy()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        TopKSAE(8, n_nonzero_coefs=2).fit(X)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_device_cuda_unavailable_raises(small_X):
    with pytest.raises(ValueError, match="CUDA is not available"):
        TopKSAE(8, n_nonzero_coefs=2, device="cuda").fit(small_X)


def test_resolve_device_bad_name():
    with pytest.raises(ValueError, match="device must be"):
        resolve_device("tpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_sae_on_cuda(small_X):
    sae = TopKSAE(16, n_nonzero_coefs=3, max_iter=3, device="cuda", **FAST).fit(small_X)
    assert sae.module_.W_dec.is_cuda
    codes = sae.transform(small_X)
    assert isinstance(codes, np.ndarray) and (codes != 0).sum(1).max() == 3
    cpu = pickle.loads(pickle.dumps(sae))
    np.testing.assert_allclose(cpu.transform(small_X), codes, rtol=1e-5, atol=1e-6)


def test_sae_metrics_function_oracle():
    X = np.array([[1.0, 0.0], [0.0, 2.0]])
    X_hat = np.array([[1.0, 0.0], [0.0, 1.0]])
    codes = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    m = sae_metrics(X, X_hat, codes)
    assert m == pytest.approx({"l0": 1.0, "nmse": 1 / 5, "fvu": 1.0 / 2.5, "mse": 0.25,
                               "dead_fraction": 1 / 3})


@pytest.mark.parametrize("factor", [1e200, 1e-200])
def test_sae_codes_scale_with_extreme_data(factor, small_X):
    # the internal normalisation must neither overflow nor underflow
    X = small_X.astype(np.float64)
    ref = ReLUSAE(12, alpha=0.1, max_iter=3, random_state=0).fit(X)
    sae = ReLUSAE(12, alpha=0.1, max_iter=3, random_state=0).fit(X * factor)
    codes = sae.transform(X * factor)
    assert np.isfinite(codes).all()
    np.testing.assert_allclose(codes / factor, ref.transform(X), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(sae.inverse_transform(codes) / factor,
                               ref.inverse_transform(ref.transform(X)), rtol=1e-6,
                               atol=1e-12)


def test_sae_partial_fit_streams_and_continues(small_X):
    X = small_X.astype(np.float64)
    sae = TopKSAE(12, n_nonzero_coefs=3, random_state=0, batch_size=32)
    for chunk in np.array_split(X, 3):
        sae.partial_fit(chunk)
    assert sae.n_iter_ == 3 and len(sae.history_) == 3
    assert sae.components_.shape == (12, 8)
    first_scale = sae.scale_
    loss0 = sae.history_[0]["loss"]
    for _ in range(10):
        for chunk in np.array_split(X, 3):
            sae.partial_fit(chunk)
    assert sae.scale_ == first_scale  # fixed by the first call
    assert sae.history_[-1]["loss"] < loss0  # it keeps learning
    # pickling drops the optimizer; partial_fit then continues from the model
    import pickle

    clone = pickle.loads(pickle.dumps(sae))
    np.testing.assert_array_equal(clone.transform(X), sae.transform(X))
    clone.partial_fit(X[:50])
    assert clone.n_iter_ == sae.n_iter_ + 1


def test_sae_partial_fit_checks_features(small_X):
    sae = ReLUSAE(4, random_state=0).partial_fit(small_X[:40])
    with pytest.raises(ValueError, match="features"):
        sae.partial_fit(small_X[:40, :5])


@pytest.mark.parametrize("Est", [ReLUSAE, JumpReLUSAE])
def test_sae_fit_dask_streams_chunks_with_bounded_memory(Est):
    da = pytest.importorskip("dask.array")
    import tracemalloc

    n, d = 96_000, 32
    X = da.random.RandomState(0).standard_normal((n, d), chunks=(1_000, d))
    whole = n * d * 8
    Est(16, max_iter=1, random_state=0).fit(X[:2_000])  # imports outside the trace
    tracemalloc.start()
    try:
        sae = Est(16, max_iter=1, batch_size=256, random_state=0).fit(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < whole / 4, (peak, whole)  # never the whole array in memory
    assert sae.n_iter_ == 1 and len(sae.history_) == 96
    Xn = X[:500].compute()
    assert np.isfinite(sae.transform(Xn)).all()
    assert sae.score(Xn) > 0  # learned something (FVU < 1)
    with pytest.raises(ValueError, match="chunked along its features"):
        Est(4).fit(X.rechunk((1_000, 8)))
    with pytest.raises(ValueError, match="early_stopping"):
        Est(4, early_stopping=True).fit(X)


def test_sae_partial_fit_bad_input_and_no_mutation(small_X):
    X = small_X[:60].copy()
    before = X.copy()
    sae = ReLUSAE(4, random_state=0).partial_fit(X)
    np.testing.assert_array_equal(X, before)  # the user's array is untouched
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ReLUSAE(4, random_state=0).partial_fit(bad)
    with pytest.raises(ValueError, match="NaN"):
        sae.partial_fit(bad)
    with pytest.raises(ValueError):
        sae.partial_fit(np.empty((0, X.shape[1])))
