r"""Growing sparse networks: start small and sparse, add units and connections until the
validation fit meets a target, then prune (grow-and-prune, NeST-style).

The network is a plain ``nn.Sequential`` -- an optional small convolutional stem, one
hidden ``nn.Linear`` layer with room for ``max_units`` units, its activation and an
output ``nn.Linear`` -- whose inactive units and connections are masked with
``torch.nn.utils.prune``. So the same model can be trained by :class:`GradualGrowth`
(RigL / SET), reported by :func:`sparsity_report` and shrunk by :func:`export_sparse`
(inactive units are removed physically, a sparse hidden layer can run as CSR).

The growth rule (error-driven, incremental):

1. start with ``initial_units`` hidden units, each connected to a random
   ``initial_density`` fraction of the inputs; train ``epochs_per_step`` epochs;
2. while the validation error is short of the target and fewer than ``max_units``
   units are active: add ``units_per_step`` units and grow connections, train again;
3. target met: stop (then optionally prune); ``max_units`` reached first: stop with a
   ``ConvergenceWarning`` and keep the model with the best validation error;
4. optionally (``refit=True``) train the selected network, its units and connections
   fixed, on all the training data, validation samples included.

New units follow NeST's gradient-based growth (Dai, Yin & Jha 2019): the gradient of the
loss with respect to a (non-existent) direct connection from input feature :math:`i` to
output :math:`j` is :math:`G_{ij} = \sum_n h_{ni}\,\partial L/\partial y_{nj}`; a new
unit serves the output :math:`j` with the largest :math:`\|G_{:j}\|` (cycling over the
outputs), connects to inputs drawn with probability :math:`\propto |G_{ij}|`, takes
the input weights :math:`-G_{ij}` there (normalised) plus noise, a bias that puts its
kink at a random training sample, and the least-squares output weight on the current
residual. New connections of existing units are the masked entries of largest dense
gradient (as in RigL); grown weights start at zero. Pruning removes the
``prune_fraction`` smallest active connections per round and keeps the round only when
the target is still met.

References
----------
.. [1] X. Dai, H. Yin and N. K. Jha, "NeST: a neural network synthesis tool based on a
   grow-and-prune paradigm", IEEE Trans. Computers 68(10), 2019.
   doi:10.1109/TC.2019.2914438.
.. [2] G. Feng, G.-B. Huang, Q. Lin and R. Gay, "Error minimized extreme learning
   machine with growth of hidden nodes and incremental learning", IEEE Trans. Neural
   Networks 20(8), 2009. doi:10.1109/TNN.2009.2024147 (the grow-until-the-error-target
   rule, here with gradient training instead of least squares).
"""

from __future__ import annotations

import copy
import math
import numbers
import warnings
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn
from torch.nn.utils import prune

from ...base import FLOAT_DTYPES, BaseSparseEstimator
from .._estimator import TorchEstimatorMixin
from .._training import Trainer

__all__ = ["GrowingNetworkRegressor", "GrowingNetworkClassifier", "build_growable_network"]

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


def build_growable_network(n_features, n_outputs, max_units, *, conv_channels=(),
                           input_shape=None, activation="relu", batch_norm=False,
                           dropout=0.0):
    """The growable network: ``stem -> hidden (max_units) -> act [-> drop] -> out``.

    ``stem`` is ``nn.Identity`` or, with ``conv_channels``, ``Unflatten(input_shape)``,
    3x3 convolutions (each followed by a ``BatchNorm2d`` when ``batch_norm``) with ReLU,
    a 2x2 max-pooling and a flatten. ``dropout > 0`` adds ``drop``, an ``nn.Dropout``
    on the hidden activations (training only; the identity in evaluation mode).
    """
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
    layers = OrderedDict()
    if conv_channels:
        if input_shape is None or len(input_shape) != 3:
            raise ValueError(
                "conv_channels needs input_shape=(channels, height, width), got "
                f"{input_shape!r}.")
        c, h, w = (int(v) for v in input_shape)
        if c * h * w != n_features:
            raise ValueError(
                f"input_shape={tuple(input_shape)} has {c * h * w} values but X has "
                f"{n_features} features.")
        stem = [nn.Unflatten(1, (c, h, w))]
        for ch in conv_channels:
            stem.append(nn.Conv2d(c, int(ch), 3, padding=1))
            if batch_norm:
                stem.append(nn.BatchNorm2d(int(ch)))
            stem.append(nn.ReLU())
            c = int(ch)
        stem += [nn.MaxPool2d(2), nn.Flatten()]
        layers["stem"] = nn.Sequential(*stem)
        n_hidden_in = c * (h // 2) * (w // 2)
    else:
        layers["stem"] = nn.Identity()
        n_hidden_in = n_features
    layers["hidden"] = nn.Linear(n_hidden_in, max_units)
    layers["act"] = _ACTIVATIONS[activation]()
    if dropout > 0:
        layers["drop"] = nn.Dropout(float(dropout))
    layers["out"] = nn.Linear(max_units, n_outputs)
    return nn.Sequential(layers)


@torch.no_grad()
def _set_masks(net, unit, conn):
    u = unit.to(net.hidden.weight_orig.dtype)
    net.hidden.weight_mask.copy_(conn.to(u.dtype) * u[:, None])
    net.hidden.bias_mask.copy_(u)
    net.out.weight_mask.copy_(torch.ones_like(net.out.weight_mask) * u[None, :])
    for sub, name in ((net.hidden, "weight"), (net.hidden, "bias"), (net.out, "weight")):
        orig, m = getattr(sub, name + "_orig"), getattr(sub, name + "_mask")
        orig.mul_(m)
        setattr(sub, name, orig * m)


class _CosineLR:
    """Trainer callback: cosine decay of the learning rate from ``lr`` to 0 over
    ``n_steps`` optimizer steps (one half period, Loshchilov & Hutter's SGDR without
    restarts within a training run)."""

    def __init__(self, lr, n_steps):
        self.lr, self.n_steps = float(lr), max(1, int(n_steps))

    def before_step(self, trainer):
        t = min(trainer.step, self.n_steps)
        lr = 0.5 * self.lr * (1.0 + math.cos(math.pi * t / self.n_steps))
        for group in trainer.optimizer.param_groups:
            group["lr"] = lr


class _GrowingBase(TorchEstimatorMixin, BaseSparseEstimator):
    """Shared machinery of the growing estimators (not for direct use)."""

    _parameter_constraints: dict = {
        "initial_units": [Interval(numbers.Integral, 1, None, closed="left")],
        "units_per_step": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_units": [Interval(numbers.Integral, 1, None, closed="left")],
        "initial_density": [Interval(numbers.Real, 0, 1, closed="right")],
        "grow_connections": [Interval(numbers.Real, 0, None, closed="left")],
        "prune_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "max_prune_rounds": [Interval(numbers.Integral, 0, None, closed="left")],
        "conv_channels": [tuple, list],
        "input_shape": [tuple, list, None],
        "batch_norm": ["boolean"],
        "activation": [StrOptions(set(_ACTIVATIONS))],
        "epochs_per_step": [Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions({"constant", "cosine"})],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "selection": [StrOptions({"first", "loss"})],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "refit": ["boolean"],
        "refit_epochs": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "device": [str, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "distributed": [StrOptions({"auto"}), "boolean"],
    }

    def __init__(self, *, initial_units=2, units_per_step=2, max_units=64,
                 initial_density=0.5, grow_connections=0.1, prune_fraction=0.0,
                 max_prune_rounds=5, conv_channels=(), input_shape=None,
                 batch_norm=False, activation="relu", epochs_per_step=30,
                 learning_rate=1e-2, lr_schedule="constant", dropout=0.0, batch_size=64,
                 validation_fraction=0.2, selection="first", n_iter_no_change=None,
                 refit=False, refit_epochs=None, device="cpu", random_state=None,
                 verbose=0, distributed="auto"):
        self.initial_units = initial_units
        self.units_per_step = units_per_step
        self.max_units = max_units
        self.initial_density = initial_density
        self.grow_connections = grow_connections
        self.prune_fraction = prune_fraction
        self.max_prune_rounds = max_prune_rounds
        self.conv_channels = conv_channels
        self.input_shape = input_shape
        self.batch_norm = batch_norm
        self.activation = activation
        self.epochs_per_step = epochs_per_step
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.dropout = dropout
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.selection = selection
        self.n_iter_no_change = n_iter_no_change
        self.refit = refit
        self.refit_epochs = refit_epochs
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.distributed = distributed

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags

    # ------------------------------------------------------------------ hooks
    def _build_module(self, **kwargs):
        return build_growable_network(**kwargs)

    def _output_loss(self, out, yb):  # pragma: no cover - abstract
        raise NotImplementedError

    def _val_error(self, module, Xv, yv):  # pragma: no cover - abstract
        raise NotImplementedError

    def _target_met(self, err):  # pragma: no cover - abstract
        raise NotImplementedError

    @torch.no_grad()
    def _val_loss(self, module, Xv, Yv):
        """The training loss on the validation samples (evaluation mode)."""
        module.eval()
        loss = float(self._output_loss(module(Xv), Yv))
        module.train()
        return loss

    # ------------------------------------------------------------------ growth steps
    def _train(self, module, Xt, yt, epochs=None):
        epochs = int(self.epochs_per_step if epochs is None else epochs)
        self._n_epochs += epochs

        def loss_fn(m, xb, yb):
            return self._output_loss(m(xb), yb)

        callbacks = ()
        if self.lr_schedule == "cosine":
            n_steps = epochs * math.ceil(Xt.shape[0] / int(self.batch_size))
            callbacks = (_CosineLR(self.learning_rate, n_steps),)
        trainer = Trainer(loss_fn, learning_rate=self.learning_rate,
                          batch_size=self.batch_size, max_iter=epochs,
                          device=self._resolve_device(), generator=self._gen,
                          verbose=0, desc=type(self).__name__,
                          distributed=self.distributed, callbacks=callbacks)
        trainer.fit(module, Xt, yt)
        _set_masks(module, self._unit, self._conn)

    def _gradients(self, module, Xt, yt):
        """Features entering the hidden layer, output gradient and dense hidden gradient."""
        module.eval()
        with torch.no_grad():
            feats = module.stem(Xt)
        a = module.hidden(feats).detach().requires_grad_(True)
        out = module.out(module.act(a))
        out.retain_grad()
        loss = self._output_loss(out, yt) * Xt.shape[0]
        loss.backward()
        module.train()
        return feats, out.grad.detach(), a.grad.detach().t() @ feats

    @torch.no_grad()
    def _grow_units(self, module, Xt, yt, n_new):
        inactive = torch.nonzero(~self._unit).reshape(-1)[:n_new]
        if inactive.numel() == 0:
            return 0
        with torch.enable_grad():
            feats, g_out, _ = self._gradients(module, Xt, yt)
        G = feats.t() @ g_out  # (n_in, n_out): NeST's input -> output gradient
        n_in = G.shape[0]
        m = max(1, int(round(self.initial_density * n_in)))
        order = torch.argsort(G.norm(dim=0), descending=True)
        W, b, V = module.hidden.weight_orig, module.hidden.bias_orig, module.out.weight_orig
        gen = self._gen
        for k, u in enumerate(inactive.tolist()):
            j = int(order[k % order.numel()])
            g = G[:, j]
            p = g.abs().double() + 1e-12
            cols = torch.multinomial(p / p.sum(), m, replacement=False, generator=gen)
            w = torch.zeros(n_in, dtype=W.dtype)
            gc = -g[cols]
            gc = gc / gc.norm().clamp_min(1e-12)
            noise = torch.randn(m, generator=gen, dtype=torch.float64).to(W.dtype)
            w[cols] = gc + noise / math.sqrt(m)
            w = w / w.norm().clamp_min(1e-12)
            pre = feats @ w.to(feats.device)
            n0 = int(torch.randint(feats.shape[0], (1,), generator=gen))
            bias = -pre[n0]
            h = module.act(pre + bias)
            r = -g_out[:, j]
            hh = float((h * h).sum())
            v = 0.5 * float((r * h).sum()) / hh if hh > 0 else 0.0
            W[u] = w.to(W.device)
            b[u] = bias
            V[:, u] = 0.0
            V[j, u] = v
            self._conn[u] = False
            self._conn[u, cols.to(self._conn.device)] = True
            self._unit[u] = True
        _set_masks(module, self._unit, self._conn)
        return int(inactive.numel())

    @torch.no_grad()
    def _grow_connections(self, module, Xt, yt):
        if self.grow_connections <= 0:
            return 0
        with torch.enable_grad():
            _, _, dW = self._gradients(module, Xt, yt)
        cand = self._unit[:, None] & ~self._conn
        n_active = int((self._conn & self._unit[:, None]).sum())
        n_grow = min(int(math.ceil(self.grow_connections * n_active)), int(cand.sum()))
        if n_grow <= 0:
            return 0
        score = torch.where(cand, dW.abs(), torch.full_like(dW, -1.0)).reshape(-1)
        idx = torch.argsort(score, descending=True)[:n_grow]
        flat = self._conn.reshape(-1)
        flat[idx] = True
        module.hidden.weight_orig.reshape(-1)[idx] = 0.0
        _set_masks(module, self._unit, self._conn)
        return n_grow

    @torch.no_grad()
    def _prune_connections(self, module):
        w = module.hidden.weight_orig.abs()
        active = self._conn & self._unit[:, None]
        n_active = int(active.sum())
        n_prune = int(round(self.prune_fraction * n_active))
        if n_prune == 0 or n_prune >= n_active:
            return 0
        score = torch.where(active, w, torch.full_like(w, math.inf)).reshape(-1)
        idx = torch.argsort(score)[:n_prune]
        self._conn.reshape(-1)[idx] = False
        self._unit &= self._conn.any(dim=1)
        _set_masks(module, self._unit, self._conn)
        return n_prune

    # ------------------------------------------------------------------ fit
    def _fit(self, X, Y):
        n_samples, n_features = X.shape
        if self.initial_units > self.max_units:
            raise ValueError(
                f"initial_units={self.initial_units} must be <= max_units={self.max_units}.")
        device = self._resolve_device()
        with self._seeded():
            self._gen = self._generator()
            module = self._init_module(
                dtype=X.dtype, n_features=n_features, n_outputs=self._n_outputs,
                max_units=int(self.max_units), conv_channels=tuple(self.conv_channels),
                input_shape=None if self.input_shape is None else tuple(self.input_shape),
                activation=self.activation, batch_norm=bool(self.batch_norm),
                dropout=float(self.dropout))
            dtype = self._module_torch_dtype
            Xt = torch.as_tensor(np.array(X, copy=True), dtype=dtype).to(device)
            Xt = (Xt - self._x_mean_t) / self._x_scale_t
            Yt = Y.to(device)
            perm = torch.randperm(n_samples, generator=self._generator(offset=2)).to(device)
            n_val = max(1, int(round(self.validation_fraction * n_samples)))
            if n_val >= n_samples:
                raise ValueError(
                    f"validation_fraction leaves no training samples; n_samples={n_samples}.")
            Xv, Yv = Xt[perm[:n_val]], Yt[perm[:n_val]]
            Xtr, Ytr = Xt[perm[n_val:]], Yt[perm[n_val:]]
            for sub, name in ((module.hidden, "weight"), (module.hidden, "bias"),
                              (module.out, "weight")):
                prune.identity(sub, name)
            n_in = module.hidden.in_features
            self._unit = torch.zeros(int(self.max_units), dtype=torch.bool, device=device)
            self._unit[: int(self.initial_units)] = True
            m = max(1, int(round(self.initial_density * n_in)))
            self._conn = torch.zeros(int(self.max_units), n_in, dtype=torch.bool,
                                     device=device)
            for u in range(int(self.max_units)):
                cols = torch.randperm(n_in, generator=self._gen)[:m]
                self._conn[u, cols.to(device)] = True
            _set_masks(module, self._unit, self._conn)
            self._n_epochs = 0
            self._train(module, Xtr, Ytr)
            history, best = [], None
            converged = False
            by_loss = self.selection == "loss"
            patience = self.n_iter_no_change
            stale = 0
            while True:
                err = self._val_error(module, Xv, Yv)
                vloss = self._val_loss(module, Xv, Yv)
                rec = {"step": len(history), "n_units": int(self._unit.sum()),
                       "n_connections": int((self._conn & self._unit[:, None]).sum()),
                       "val_error": err, "val_loss": vloss}
                history.append(rec)
                if self.verbose:
                    print(f"[{type(self).__name__}] {rec}")
                key = vloss if by_loss else err
                if best is None or key < best[0]:
                    best = (key, copy.deepcopy(module.state_dict()), self._unit.clone(),
                            self._conn.clone(), err)
                    stale = 0
                else:
                    stale += 1
                if not by_loss and self._target_met(err):
                    converged = True
                    break
                if by_loss and patience is not None and stale >= patience:
                    break
                n_units = int(self._unit.sum())
                if n_units >= self.max_units:
                    break
                self._grow_units(module, Xtr, Ytr, min(int(self.units_per_step),
                                                      int(self.max_units) - n_units))
                self._grow_connections(module, Xtr, Ytr)
                self._train(module, Xtr, Ytr)
            if by_loss:  # the network of lowest validation loss decides convergence
                converged = self._target_met(best[4])
            if by_loss or not converged:  # keep the selected (best) network
                module.load_state_dict(best[1])
                self._unit, self._conn = best[2], best[3]
                _set_masks(module, self._unit, self._conn)
            if not converged:
                kept = ("the network of lowest validation loss" if by_loss
                        else "the best model")
                warnings.warn(
                    f"{type(self).__name__}: the validation error target was not met "
                    f"within max_units={self.max_units} (best validation error "
                    f"{min(h['val_error'] for h in history):.4g}); {kept} is kept. "
                    "Increase max_units or epochs_per_step, or relax the target.",
                    ConvergenceWarning, stacklevel=3)
            elif self.prune_fraction > 0:
                ref_loss = best[0] if by_loss else None
                for _ in range(int(self.max_prune_rounds)):
                    saved = (copy.deepcopy(module.state_dict()), self._unit.clone(),
                             self._conn.clone())
                    if self._prune_connections(module) == 0:
                        break
                    self._train(module, Xtr, Ytr)
                    err = self._val_error(module, Xv, Yv)
                    vloss = self._val_loss(module, Xv, Yv)
                    rec = {"step": len(history), "n_units": int(self._unit.sum()),
                           "n_connections": int((self._conn & self._unit[:, None]).sum()),
                           "val_error": err, "val_loss": vloss, "pruned": True}
                    history.append(rec)
                    # a round is kept while the target holds (and, selecting by loss,
                    # while the validation loss is no higher than the selected network's)
                    if not self._target_met(err) or (by_loss and vloss > ref_loss):
                        module.load_state_dict(saved[0])
                        self._unit, self._conn = saved[1], saved[2]
                        break
            _set_masks(module, self._unit, self._conn)
            # the growth decision is made: its validation error is the selection value
            val_error = self._val_error(module, Xv, Yv)
            growth_epochs = self._n_epochs
            if self.refit:
                # like scikit-learn's refit: the selected architecture (active units and
                # connections, fixed) trained further on all the data, validation included
                refit_epochs = (self.epochs_per_step if self.refit_epochs is None
                                else self.refit_epochs)
                self._train(module, Xt, Yt, epochs=refit_epochs)
                self.n_train_samples_ = int(n_samples)
            else:
                self.n_train_samples_ = int(n_samples - n_val)
            module.eval()
        self.validation_error_ = val_error
        self.n_growth_epochs_ = int(growth_epochs)
        self.n_epochs_ = int(self._n_epochs)
        self.history_ = history
        self.converged_ = converged
        self.n_units_ = int(self._unit.sum())
        self.n_connections_ = int((self._conn & self._unit[:, None]).sum())
        self.n_params_ = self._count_params(module)
        self.n_iter_ = len(history)
        del self._gen, self._n_epochs
        return self

    @torch.no_grad()
    def _count_params(self, module):
        """Nonzero effective parameters (what :func:`export_sparse` keeps)."""
        n = sum(int((p != 0).sum()) for p in module.stem.parameters())
        unit = self._unit
        n += int((self._conn & unit[:, None]).sum()) + int(unit.sum())
        n += int(unit.sum()) * module.out.out_features + module.out.out_features
        return n

    # ------------------------------------------------------------------ inference
    def _prepare_X(self, X, reset):
        X = self._validate_X(X, reset=reset)
        return X

    def _forward(self, X, hidden=False):
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)

        def fn(xb):
            xb = (xb - self._x_mean_t.to(xb)) / self._x_scale_t.to(xb)
            h = self.module_.act(self.module_.hidden(self.module_.stem(xb)))
            if hidden:
                return h[:, self._active_units()]
            return self.module_.out(h)

        return self._batched(fn, X)

    def _active_units(self):
        return torch.nonzero(self.module_.hidden.bias_mask > 0).reshape(-1).to(
            self._module_device)

    def transform(self, X):
        """Activations of the active hidden units.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        H : ndarray of shape (n_samples, n_units_)
        """
        return self._forward(X, hidden=True)

    def inverse_transform(self, X):
        """Not defined for a growing network (its hidden layer is not a dictionary)."""
        raise NotImplementedError(
            f"{type(self).__name__} has no inverse_transform; use predict.")

    def _standardise_fit(self, X):
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale[scale < 1e-12] = 1.0
        if self.conv_channels:  # images: one scalar scale keeps the pixels comparable
            mean = np.full_like(mean, X.mean())
            scale = np.full_like(scale, X.std() if X.std() > 1e-12 else 1.0)
        dtype = torch.float32 if X.dtype == np.float32 else torch.float64
        self._x_mean_t = torch.as_tensor(mean, dtype=dtype)
        self._x_scale_t = torch.as_tensor(scale, dtype=dtype)


class GrowingNetworkRegressor(RegressorMixin, _GrowingBase):
    """A sparse network that grows until its validation RMSE meets ``target_error``.

    See :mod:`sparsecode.nn.prune.grow` for the growth rule. The targets are
    standardised for training; ``target_error`` is in the units of ``y`` (root mean
    squared error on the held-out ``validation_fraction`` of the training data).

    Parameters
    ----------
    target_error : float, default=0.05
        Validation RMSE to reach.
    initial_units : int, default=2
    units_per_step : int, default=2
    max_units : int, default=64
        Capacity; reaching it before the target stops with a ``ConvergenceWarning``
        and keeps the best model.
    initial_density : float in (0, 1], default=0.5
        Fraction of the inputs a new unit connects to.
    grow_connections : float, default=0.1
        At every growth step, grow this fraction (of the active connections) of new
        connections of active units, by dense gradient magnitude.
    prune_fraction : float in [0, 1), default=0.0
        After the target is met, prune this fraction of the connections per round
        (magnitude), retrain, and keep the round while the target still holds
        (grow-and-prune).
    max_prune_rounds : int, default=5
    conv_channels : tuple of int, default=()
        Optional convolutional stem (needs ``input_shape``).
    input_shape : tuple (channels, height, width) or None
    batch_norm : bool, default=False
        ``BatchNorm2d`` after each convolution of the stem.
    activation : {"relu", "tanh"}, default="relu"
    epochs_per_step : int, default=30
    learning_rate : float, default=1e-2
    lr_schedule : {"constant", "cosine"}, default="constant"
        Learning rate within every training run (each growth and prune step, and the
        refit, has its own fresh Adam optimizer): constant, or decayed from
        ``learning_rate`` to 0 along a half cosine over the run's optimizer steps
        (warm restarts at every growth step, as in SGDR).
    dropout : float in [0, 1), default=0.0
        Dropout on the hidden activations during training (a ``drop`` layer between
        ``act`` and ``out``; the identity at inference, and kept by
        :func:`export_sparse`).
    batch_size : int, default=64
    validation_fraction : float, default=0.2
        Fraction of the training data held out for the growth (and prune) decisions.
    selection : {"first", "loss"}, default="first"
        Which grown network is kept. ``"first"``: growth stops at the first network
        whose validation error meets the target (the smallest one that does).
        ``"loss"``: growth goes on to ``max_units`` (or until ``n_iter_no_change``
        growth steps in a row have not lowered the validation loss) and the network
        of lowest validation *loss* (cross-entropy / standardised MSE) along the
        whole growth path is kept -- a smoother, less tie-prone criterion than the
        validation error of a small held-out set; the target then only decides
        ``converged_`` (a ``ConvergenceWarning`` when the kept network misses it) and
        pruning (a prune round is kept while the target holds and the validation loss
        is no higher than the selected network's).
    n_iter_no_change : int or None, default=None
        With ``selection="loss"``: stop growing after this many growth steps without a
        lower validation loss; ``None``: grow to ``max_units``.
    refit : bool, default=False
        After growth (and pruning) has stopped, train the selected network -- its
        active units and connections fixed, warm-started from the grown weights -- for
        ``refit_epochs`` more epochs on *all* the data given to ``fit``, the held-out
        validation samples included (like scikit-learn's ``refit`` in a search: the
        validation split chooses the architecture, the final model uses every sample).
        ``validation_error_`` stays the error of the selected network before the refit
        (after it, those samples are training data).
    refit_epochs : int or None, default=None
        Epochs of the refit; ``None``: ``epochs_per_step``.
    device : str, default="cpu"
    random_state : int, RandomState or None
    verbose : int, default=0
    distributed : {"auto", True, False}, default="auto"
        Data-parallel training of every growth step over the ranks of
        ``torch.distributed`` (see :class:`~sparsecode.nn.Trainer`); every rank must be
        given the same data, and makes the same growth decisions.

    Attributes
    ----------
    module_ : nn.Sequential
        ``stem``, ``hidden``, ``act``, ``out`` with ``torch.nn.utils.prune`` masks (acts on
        standardised inputs); :func:`export_sparse` removes the inactive units.
    n_units_, n_connections_, n_params_ : int
        Active hidden units, active hidden connections, nonzero parameters.
    converged_ : bool
        Whether the target was met.
    validation_error_ : float
        Validation error of the selected network (before the refit, if any).
    n_train_samples_ : int
        Samples the final weights were trained on: all of them with ``refit``, else the
        ``1 - validation_fraction`` share.
    n_growth_epochs_, n_epochs_ : int
        Training epochs of the growth and prune steps (over the training share), and of
        the whole fit (the refit's epochs over all the samples included).
    history_ : list of dict
        ``n_units``, ``n_connections``, ``val_error``, ``val_loss`` after every growth
        step (and ``pruned`` for a prune round).
    n_iter_ : int
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.nn.prune import GrowingNetworkRegressor
    >>> X = np.linspace(-1, 1, 200)[:, None]
    >>> y = np.sin(3 * X[:, 0])
    >>> est = GrowingNetworkRegressor(target_error=0.05, max_units=32,
    ...                               random_state=0).fit(X, y)
    >>> est.converged_, est.validation_error_ <= 0.05
    (True, True)
    """

    _parameter_constraints: dict = {
        **_GrowingBase._parameter_constraints,
        "target_error": [Interval(numbers.Real, 0, None, closed="left")],
    }

    def __init__(self, target_error=0.05, *, initial_units=2, units_per_step=2,
                 max_units=64, initial_density=0.5, grow_connections=0.1,
                 prune_fraction=0.0, max_prune_rounds=5, conv_channels=(),
                 input_shape=None, batch_norm=False, activation="relu", epochs_per_step=30,
                 learning_rate=1e-2, lr_schedule="constant", dropout=0.0, batch_size=64,
                 validation_fraction=0.2, selection="first", n_iter_no_change=None,
                 refit=False, refit_epochs=None, device="cpu", random_state=None,
                 verbose=0, distributed="auto"):
        super().__init__(
            initial_units=initial_units, units_per_step=units_per_step,
            max_units=max_units, initial_density=initial_density,
            grow_connections=grow_connections, prune_fraction=prune_fraction,
            max_prune_rounds=max_prune_rounds, conv_channels=conv_channels,
            input_shape=input_shape, batch_norm=batch_norm, activation=activation,
            epochs_per_step=epochs_per_step, learning_rate=learning_rate,
            lr_schedule=lr_schedule, dropout=dropout, batch_size=batch_size,
            validation_fraction=validation_fraction, selection=selection,
            n_iter_no_change=n_iter_no_change, refit=refit,
            refit_epochs=refit_epochs, device=device, random_state=random_state,
            verbose=verbose, distributed=distributed)
        self.target_error = target_error

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True
        tags.target_tags.single_output = False
        return tags

    def _output_loss(self, out, yb):
        return ((out - yb) ** 2).mean()

    @torch.no_grad()
    def _val_error(self, module, Xv, Yv):
        module.eval()
        out = module(Xv)
        module.train()
        rmse = ((out - Yv) * self._y_scale_t.to(out)).pow(2).mean().sqrt()
        return float(rmse)

    def _target_met(self, err):
        return err <= self.target_error

    def fit(self, X, y):
        """Grow the network on ``X``, ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        self
        """
        self._validate_params()
        X, y = validate_data(self, X, y, dtype=FLOAT_DTYPES, order="C",
                             multi_output=True, y_numeric=True, reset=True)
        self._y_1d = y.ndim == 1
        Y = y.reshape(len(y), -1).astype(X.dtype, copy=False)
        self._n_outputs = Y.shape[1]
        self._standardise_fit(X)
        y_mean, y_scale = Y.mean(axis=0), Y.std(axis=0)
        y_scale[y_scale < 1e-12] = 1.0
        dtype = self._x_mean_t.dtype
        self._y_mean_t = torch.as_tensor(y_mean, dtype=dtype)
        self._y_scale_t = torch.as_tensor(y_scale, dtype=dtype)
        Yt = (torch.as_tensor(np.array(Y, copy=True), dtype=dtype) - self._y_mean_t) / self._y_scale_t
        return self._fit(X, Yt)

    def predict(self, X):
        """Predicted targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        out = self._forward(X)
        out = out * self._y_scale_t.numpy().astype(out.dtype) + \
            self._y_mean_t.numpy().astype(out.dtype)
        return out[:, 0] if self._y_1d else out

    def score(self, X, y, sample_weight=None):
        """Coefficient of determination :math:`R^2` of the prediction on ``X``.

        Exactly scikit-learn's :meth:`sklearn.base.RegressorMixin.score`
        (:func:`sklearn.metrics.r2_score` of ``y`` and ``self.predict(X)``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        return super().score(X, y, sample_weight=sample_weight)

class GrowingNetworkClassifier(ClassifierMixin, _GrowingBase):
    """A sparse network that grows until its validation accuracy meets
    ``target_accuracy``.

    Same parameters as :class:`GrowingNetworkRegressor` except ``target_accuracy``
    (fraction of the held-out ``validation_fraction`` correctly classified) instead of
    ``target_error``; trained with the cross-entropy loss. ``classes_`` holds the
    labels.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sparsecode.nn.prune import GrowingNetworkClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> est = GrowingNetworkClassifier(target_accuracy=0.9, max_units=16,
    ...                                random_state=0).fit(X, y)
    >>> est.converged_, est.n_units_ <= 16
    (True, True)
    """

    _parameter_constraints: dict = {
        **_GrowingBase._parameter_constraints,
        "target_accuracy": [Interval(numbers.Real, 0, 1, closed="both")],
    }

    def __init__(self, target_accuracy=0.95, *, initial_units=2, units_per_step=2,
                 max_units=64, initial_density=0.5, grow_connections=0.1,
                 prune_fraction=0.0, max_prune_rounds=5, conv_channels=(),
                 input_shape=None, batch_norm=False, activation="relu", epochs_per_step=30,
                 learning_rate=1e-2, lr_schedule="constant", dropout=0.0, batch_size=64,
                 validation_fraction=0.2, selection="first", n_iter_no_change=None,
                 refit=False, refit_epochs=None, device="cpu", random_state=None,
                 verbose=0, distributed="auto"):
        super().__init__(
            initial_units=initial_units, units_per_step=units_per_step,
            max_units=max_units, initial_density=initial_density,
            grow_connections=grow_connections, prune_fraction=prune_fraction,
            max_prune_rounds=max_prune_rounds, conv_channels=conv_channels,
            input_shape=input_shape, batch_norm=batch_norm, activation=activation,
            epochs_per_step=epochs_per_step, learning_rate=learning_rate,
            lr_schedule=lr_schedule, dropout=dropout, batch_size=batch_size,
            validation_fraction=validation_fraction, selection=selection,
            n_iter_no_change=n_iter_no_change, refit=refit,
            refit_epochs=refit_epochs, device=device, random_state=random_state,
            verbose=verbose, distributed=distributed)
        self.target_accuracy = target_accuracy

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True
        return tags

    def _output_loss(self, out, yb):
        return F.cross_entropy(out, yb)

    @torch.no_grad()
    def _val_error(self, module, Xv, Yv):
        module.eval()
        pred = module(Xv).argmax(dim=1)
        module.train()
        return 1.0 - float((pred == Yv).double().mean())

    def _target_met(self, err):
        return 1.0 - err >= self.target_accuracy - 1e-12

    def fit(self, X, y):
        """Grow the network on ``X``, ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        self._validate_params()
        X, y = validate_data(self, X, y, dtype=FLOAT_DTYPES, order="C", reset=True)
        check_classification_targets(y)
        enc = LabelEncoder().fit(y)
        self.classes_ = enc.classes_
        self._n_outputs = max(2, len(self.classes_))
        self._standardise_fit(X)
        Yt = torch.as_tensor(enc.transform(y), dtype=torch.long)
        return self._fit(X, Yt)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes)."""
        logits = self._forward(X)
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        return p[:, : len(self.classes_)] / p[:, : len(self.classes_)].sum(
            axis=1, keepdims=True)

    def predict(self, X):
        """Predicted labels, shape (n_samples,)."""
        logits = self._forward(X)[:, : len(self.classes_)]
        return self.classes_[np.argmax(logits, axis=1)]

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of the prediction on ``X``.

        Exactly scikit-learn's :meth:`sklearn.base.ClassifierMixin.score`
        (:func:`sklearn.metrics.accuracy_score` of ``y`` and ``self.predict(X)``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        return super().score(X, y, sample_weight=sample_weight)
