"""Growing sparse networks (sparsecode.nn.prune.grow)."""

import itertools
import pickle
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.datasets import load_iris  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from sparsecode.nn._training import Trainer  # noqa: E402
from sparsecode.nn.prune import (  # noqa: E402
    ConstantSparsity,
    GrowingNetworkClassifier,
    GrowingNetworkRegressor,
    RigL,
    SparseLinear,
    build_growable_network,
    export_sparse,
)


def _sine(n=200):
    X = np.linspace(-1, 1, n)[:, None]
    return X, np.sin(3 * X[:, 0])


def test_growth_stops_when_the_target_error_is_met():
    X, y = _sine()
    est = GrowingNetworkRegressor(target_error=0.05, max_units=32, random_state=0).fit(X, y)
    errs = [h["val_error"] for h in est.history_]
    assert est.converged_ and errs[-1] <= 0.05
    assert all(e > 0.05 for e in errs[:-1])     # it grew only while short of the target
    assert est.n_units_ == est.history_[-1]["n_units"] < 32
    assert [h["n_units"] for h in est.history_] == list(range(2, est.n_units_ + 1, 2))
    # the validation RMSE it reports is the RMSE of predict on those samples, in units of y
    rmse = float(np.sqrt(np.mean((est.predict(X) - y) ** 2)))
    assert rmse < 0.08
    assert est.transform(X).shape == (200, est.n_units_)


def test_growth_target_not_met_warns_and_keeps_best():
    X, y = _sine()
    with pytest.warns(ConvergenceWarning, match="not met within max_units=4"):
        est = GrowingNetworkRegressor(target_error=1e-6, max_units=4, epochs_per_step=5,
                                      random_state=0).fit(X, y)
    assert not est.converged_ and est.n_units_ <= 4
    assert est.validation_error_ == pytest.approx(min(h["val_error"] for h in est.history_),
                                                  rel=1e-5)


def test_grow_and_prune_keeps_the_target_with_fewer_connections():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (300, 6))
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2    # four irrelevant inputs
    kw = dict(target_error=0.12, max_units=32, initial_density=1.0, random_state=0)
    grown = GrowingNetworkRegressor(**kw).fit(X, y)
    pruned = GrowingNetworkRegressor(**kw, prune_fraction=0.3).fit(X, y)
    assert grown.converged_ and pruned.converged_
    assert pruned.n_connections_ < grown.n_connections_
    assert pruned.validation_error_ <= 0.12
    assert any(h.get("pruned") for h in pruned.history_)


def test_grown_classifier_exports_to_its_active_units():
    X, y = load_iris(return_X_y=True)
    est = GrowingNetworkClassifier(target_accuracy=0.9, max_units=16,
                                   random_state=0).fit(X, y)
    assert est.converged_ and est.score(X, y) >= 0.85
    small = export_sparse(est.module_, unstructured="never")
    assert small.hidden.out_features == est.n_units_ == small.out.in_features
    assert sum(int((p != 0).sum()) for p in small.parameters()) <= est.n_params_
    Xt = torch.as_tensor((X - est._x_mean_t.numpy()) / est._x_scale_t.numpy())
    with torch.no_grad():
        ref = est.module_(Xt)
        got = small(Xt)
    assert float((ref - got).abs().max()) < 1e-6
    assert np.array_equal(est.classes_[ref.argmax(1).numpy()], est.predict(X))
    proba = est.predict_proba(X)
    assert np.allclose(proba.sum(1), 1) and proba.shape == (150, 3)


def test_grown_module_with_conv_stem_and_csr_export():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 64)).astype(np.float32)
    y = (X[:, :32].sum(1) > 0).astype(int)
    est = GrowingNetworkClassifier(target_accuracy=1.0, max_units=4, conv_channels=(4,),
                                   input_shape=(1, 8, 8), initial_density=0.2,
                                   epochs_per_step=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert est.predict(X).dtype == y.dtype and est.transform(X).dtype == np.float32
    small = export_sparse(est.module_, unstructured="always")
    assert isinstance(small.hidden, SparseLinear)
    Xt = (torch.as_tensor(X) - est._x_mean_t) / est._x_scale_t
    with torch.no_grad():
        assert float((small(Xt) - est.module_(Xt)).abs().max()) < 1e-5


def test_rigl_trains_the_same_growable_model():
    rng = np.random.default_rng(0)
    net = build_growable_network(8, 1, 16)
    X = torch.as_tensor(rng.standard_normal((128, 8)), dtype=torch.float32)
    y = X[:, :1] * X[:, 1:2]
    rigl = RigL(net, ConstantSparsity(0.7, frequency=4), parameters="hidden.weight",
                random_state=0)
    Trainer(lambda m, xb, yb: ((m(xb) - yb) ** 2).mean(), batch_size=16, max_iter=2,
            callbacks=[rigl], generator=torch.Generator().manual_seed(0)).fit(net, X, y)
    assert float((net.hidden.weight == 0).float().mean()) == pytest.approx(0.7, abs=1 / 64)


def test_growing_pickle_roundtrip():
    X, y = _sine(100)
    est = GrowingNetworkRegressor(target_error=0.5, max_units=8, random_state=0).fit(X, y)
    assert est.converged_
    est2 = pickle.loads(pickle.dumps(est))
    assert np.array_equal(est.predict(X), est2.predict(X))


def test_growing_bad_parameters_raise():
    X, y = _sine(50)
    with pytest.raises(ValueError, match="initial_units=8 must be <= max_units=4"):
        GrowingNetworkRegressor(initial_units=8, max_units=4).fit(X, y)
    with pytest.raises(ValueError, match="conv_channels needs input_shape"):
        GrowingNetworkRegressor(conv_channels=(4,)).fit(X, y)
    with pytest.raises(ValueError, match="input_shape=.*has 64 values but X has 1"):
        GrowingNetworkRegressor(conv_channels=(4,), input_shape=(1, 8, 8)).fit(X, y)
    with pytest.raises(ValueError, match="target_error"):
        GrowingNetworkRegressor(target_error=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="target_accuracy"):
        GrowingNetworkClassifier(target_accuracy=1.5).fit(X, (y > 0).astype(int))
    est = GrowingNetworkRegressor(target_error=10.0, max_units=2, epochs_per_step=1).fit(X, y)
    with pytest.raises(NotImplementedError, match="no inverse_transform"):
        est.inverse_transform(X)


_FAST = dict(max_units=3, epochs_per_step=2, batch_size=32, random_state=0)


@parametrize_with_checks([GrowingNetworkRegressor(target_error=0.0, **_FAST),
                          GrowingNetworkClassifier(target_accuracy=1.0, **_FAST)])
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def test_growable_network_batch_norm_stem():
    net = build_growable_network(64, 3, 8, conv_channels=(4, 6), input_shape=(1, 8, 8),
                                 batch_norm=True)
    kinds = [type(m).__name__ for m in net.stem]
    assert kinds == ["Unflatten", "Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d",
                     "ReLU", "MaxPool2d", "Flatten"]
    assert net.hidden.in_features == 6 * 16


def _fit_quiet(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def test_refit_trains_the_selected_network_on_all_samples():
    # random labels: only memorising a sample predicts it, so the held-out validation
    # samples are predicted (near) right only if the refit trained on them too
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 10))
    y = rng.integers(0, 4, 100)
    kw = dict(target_accuracy=1.0, initial_units=24, units_per_step=8, max_units=32,
              initial_density=1.0, epochs_per_step=30, random_state=0)
    plain = _fit_quiet(GrowingNetworkClassifier(**kw), X, y)
    refit = _fit_quiet(GrowingNetworkClassifier(**kw, refit=True, refit_epochs=150), X, y)
    # the growth (the architecture selection) is the same ...
    assert refit.history_ == plain.history_ and refit.n_units_ == plain.n_units_
    assert len(plain.history_) == 2                  # it grew once (24 -> 32 units)
    assert refit.validation_error_ == plain.validation_error_
    for name in ("weight_mask", "bias_mask"):
        assert torch.equal(getattr(refit.module_.hidden, name),
                           getattr(plain.module_.hidden, name))
    # ... its connectivity is kept, the weights are retrained, on every sample
    mask = refit.module_.hidden.weight_mask
    assert not torch.equal(refit.module_.hidden.weight, plain.module_.hidden.weight)
    assert float(refit.module_.hidden.weight[mask == 0].abs().max()) == 0.0
    assert refit.n_connections_ == plain.n_connections_
    assert (plain.n_train_samples_, refit.n_train_samples_) == (80, 100)
    assert refit.n_epochs_ == plain.n_epochs_ + 150
    assert plain.n_epochs_ == plain.n_growth_epochs_ == 30 * len(plain.history_)
    assert plain.score(X, y) <= 0.8 + 0.2 * 0.5    # it cannot know its 20 held-out labels
    assert refit.score(X, y) >= 0.95


def test_refit_is_not_worse_on_held_out_data():
    from sklearn.model_selection import train_test_split

    X, y = load_iris(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.4, stratify=y, random_state=0)
    kw = dict(target_accuracy=0.95, max_units=16, epochs_per_step=20, random_state=0)
    plain = _fit_quiet(GrowingNetworkClassifier(**kw), Xtr, ytr)
    refit = _fit_quiet(GrowingNetworkClassifier(**kw, refit=True), Xtr, ytr)
    assert refit.n_epochs_ == plain.n_epochs_ + 20    # refit_epochs=None: epochs_per_step
    assert refit.score(Xte, yte) >= plain.score(Xte, yte)
    assert refit.score(Xte, yte) >= 0.9
    # the regressor shares the option
    Xs, ys = _sine()
    reg = GrowingNetworkRegressor(target_error=0.1, max_units=16, refit=True,
                                  refit_epochs=5, random_state=0).fit(Xs, ys)
    assert reg.n_train_samples_ == 200 and reg.n_epochs_ == reg.n_growth_epochs_ + 5


def test_refit_bad_parameters_raise():
    X, y = _sine(50)
    with pytest.raises(ValueError, match="refit_epochs"):
        GrowingNetworkRegressor(refit=True, refit_epochs=0).fit(X, y)
    with pytest.raises(ValueError, match="'refit' parameter"):
        GrowingNetworkRegressor(refit="yes").fit(X, y)


# --------------------------------------------------------------------------- selection,
# learning-rate schedule, dropout
def test_selection_by_loss_keeps_the_lowest_validation_loss_past_the_target():
    X, y = load_iris(return_X_y=True)
    kw = {"target_accuracy": 0.9, "max_units": 12, "units_per_step": 2,
          "epochs_per_step": 10, "random_state": 0}
    first = GrowingNetworkClassifier(**kw).fit(X, y)
    by_loss = _fit_quiet(GrowingNetworkClassifier(**kw, selection="loss"), X, y)
    # "first" stops at the first network meeting the target; "loss" grows to capacity
    assert first.converged_ and first.history_[-1]["n_units"] < 12
    assert [h["n_units"] for h in by_loss.history_] == list(range(2, 13, 2))
    assert by_loss.history_[:len(first.history_)] == first.history_  # same path so far
    losses = [h["val_loss"] for h in by_loss.history_]
    k = int(np.argmin(losses))
    kept = by_loss.history_[k]
    assert by_loss.n_units_ == kept["n_units"]
    assert by_loss.n_connections_ == kept["n_connections"]
    assert by_loss.validation_error_ == pytest.approx(kept["val_error"], abs=1e-12)
    assert by_loss.converged_ == (1 - kept["val_error"] >= 0.9 - 1e-12)
    # val_loss is the cross-entropy of the held-out samples: recompute it for the kept
    # network from a grower stopped there (same seed, same path)
    again = _fit_quiet(GrowingNetworkClassifier(**{**kw, "max_units": kept["n_units"]},
                                                selection="loss"), X, y)
    assert again.history_[-1]["val_loss"] == pytest.approx(kept["val_loss"], rel=1e-6)


def test_selection_by_loss_patience_stops_the_growth():
    X, y = load_iris(return_X_y=True)
    kw = {"target_accuracy": 0.9, "max_units": 40, "units_per_step": 2,
          "epochs_per_step": 5, "selection": "loss", "random_state": 0}
    full = _fit_quiet(GrowingNetworkClassifier(**kw), X, y)
    est = _fit_quiet(GrowingNetworkClassifier(**kw, n_iter_no_change=2), X, y)
    losses = [h["val_loss"] for h in est.history_]
    assert est.history_ == full.history_[:len(est.history_)]
    best = int(np.argmin(losses))
    # stopped by patience, before the capacity: 2 steps without a new minimum
    assert est.history_[-1]["n_units"] < 40 and len(full.history_) > len(est.history_)
    assert len(losses) - 1 - best == 2
    assert est.n_units_ == est.history_[best]["n_units"]
    assert all(losses[i] >= min(losses[:i]) for i in range(best + 1, len(losses)))


def test_selection_by_loss_not_met_warns_and_prunes_only_when_met():
    X, y = _sine()
    with pytest.warns(ConvergenceWarning, match="network of lowest validation loss"):
        est = GrowingNetworkRegressor(target_error=1e-6, max_units=6, epochs_per_step=5,
                                      selection="loss", prune_fraction=0.3,
                                      random_state=0).fit(X, y)
    assert not est.converged_
    assert not any(h.get("pruned") for h in est.history_)
    losses = [h["val_loss"] for h in est.history_]
    assert est.n_units_ == est.history_[int(np.argmin(losses))]["n_units"]


def test_cosine_schedule_decays_the_learning_rate_to_zero():
    from sparsecode.nn.prune.grow import _CosineLR

    net = torch.nn.Linear(3, 1)
    seen = []

    class Spy:
        def after_step(self, trainer):
            seen.append(trainer.optimizer.param_groups[0]["lr"])

    X = torch.randn(40, 3)
    Trainer(lambda m, xb: m(xb).pow(2).mean(), learning_rate=0.1, batch_size=10,
            max_iter=3, callbacks=[_CosineLR(0.1, 12), Spy()]).fit(net, X)
    assert len(seen) == 12
    assert seen[0] == pytest.approx(0.1)
    assert all(a > b for a, b in itertools.pairwise(seen))    # strictly decreasing
    assert seen[6] == pytest.approx(0.05)                      # half-way: half the rate
    assert seen[-1] == pytest.approx(0.05 * (1 + np.cos(np.pi * 11 / 12)))
    # the estimators use it in every training run; the constant schedule is unchanged
    Xs, ys = _sine()
    kw = {"target_error": 0.1, "max_units": 16, "random_state": 0}
    const = GrowingNetworkRegressor(**kw).fit(Xs, ys)
    const2 = GrowingNetworkRegressor(**kw, lr_schedule="constant").fit(Xs, ys)
    cos = GrowingNetworkRegressor(**kw, lr_schedule="cosine").fit(Xs, ys)
    assert const.history_ == const2.history_
    assert cos.history_ != const.history_
    assert cos.converged_ and cos.validation_error_ <= 0.1


def test_dropout_layer_is_trained_with_and_exported_as_the_identity():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X[:400] / 16.0
    y = y[:400]
    est = _fit_quiet(GrowingNetworkClassifier(
        target_accuracy=0.9, max_units=8, units_per_step=4, epochs_per_step=3,
        conv_channels=(4,), input_shape=(1, 8, 8), dropout=0.3, random_state=0), X, y)
    names = [n for n, _ in est.module_.named_children()]
    assert names == ["stem", "hidden", "act", "drop", "out"]
    assert isinstance(est.module_.drop, torch.nn.Dropout) and est.module_.drop.p == 0.3
    assert np.array_equal(est.predict(X), est.predict(X))    # identity at inference
    small = export_sparse(est.module_, unstructured="never")
    assert small.hidden.out_features == est.n_units_
    Xt = torch.as_tensor((X - est._x_mean_t.numpy()) / est._x_scale_t.numpy())
    with torch.no_grad():
        assert torch.allclose(small(Xt), est.module_.eval()(Xt), atol=1e-5)
    assert np.array_equal(np.argmax(est.predict_proba(X), 1),
                          np.searchsorted(est.classes_, est.predict(X)))
    # no dropout: no layer
    assert "drop" not in dict(build_growable_network(4, 2, 3).named_children())
    assert isinstance(build_growable_network(4, 2, 3, dropout=0.5).drop, torch.nn.Dropout)


def test_selection_schedule_dropout_bad_parameters_raise():
    X, y = _sine(50)
    with pytest.raises(ValueError, match="selection"):
        GrowingNetworkRegressor(selection="best").fit(X, y)
    with pytest.raises(ValueError, match="lr_schedule"):
        GrowingNetworkRegressor(lr_schedule="step").fit(X, y)
    with pytest.raises(ValueError, match="dropout"):
        GrowingNetworkRegressor(dropout=1.0).fit(X, y)
    with pytest.raises(ValueError, match="n_iter_no_change"):
        GrowingNetworkRegressor(n_iter_no_change=0).fit(X, y)
    with pytest.raises(ValueError, match="dropout must be in"):
        build_growable_network(4, 2, 3, dropout=-0.1)


@pytest.mark.parametrize("est", [
    GrowingNetworkRegressor(max_units=4, units_per_step=2, epochs_per_step=2,
                            selection="loss", lr_schedule="cosine", dropout=0.2,
                            n_iter_no_change=1, random_state=0),
    GrowingNetworkClassifier(max_units=4, units_per_step=2, epochs_per_step=2,
                             selection="loss", lr_schedule="cosine", dropout=0.2,
                             random_state=0),
])
def test_new_options_leave_inputs_unmodified_and_reject_bad_data(est):
    X, y = _sine(60)
    if isinstance(est, GrowingNetworkClassifier):
        y = (y > 0).astype(int)
    X0, y0 = X.copy(), y.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    assert np.all(np.isfinite(est.predict(X).astype(float)))
    bad = X.copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(bad, y)
    with pytest.raises(ValueError):
        est.fit(X[:0], y[:0])
    with pytest.raises(ValueError, match="features"):
        est.predict(np.ones((2, 3)))
