"""The machinery shared by the sparse autoencoder estimators: :class:`BaseSAE`."""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ...base import BaseSparseEstimator
from .._estimator import TorchEstimatorMixin
from .._training import Trainer
from .module import SparseAutoencoder, _SAEObjective, sae_metrics

__all__ = ["BaseSAE"]


def _geometric_median(X, n_iter=20):
    """Weiszfeld iterations (the pre-bias initialisation of Gao et al.)."""
    m = X.mean(0)
    for _ in range(n_iter):
        d = (X - m).norm(dim=1).clamp_min(1e-8)
        w = 1.0 / d
        m = (w[:, None] * X).sum(0) / w.sum()
    return m


class BaseSAE(TorchEstimatorMixin, BaseSparseEstimator):
    """Common machinery of the sparse autoencoder estimators (not for direct use).

    Subclasses define ``_activation`` and may override ``_module_kwargs``,
    ``_objective_kwargs`` and ``_unit_norm_decoder``.
    """

    _activation = None
    _unit_norm_decoder = False
    _decoder_init_norm = 1.0

    _parameter_constraints: dict = {
        "n_components": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "checkpoint_path": [str, None],
        "device": [str, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "distributed": [StrOptions({"auto"}), "boolean"],
    }

    def _module_kwargs(self, n_features, n_components):
        return {"n_features": n_features, "n_components": n_components,
                "activation": self._activation}

    def _objective_kwargs(self, n_samples):
        return {}

    def _build_module(self, **kwargs):
        return SparseAutoencoder(**kwargs)

    def _n_components(self, n_features):
        return n_features if self.n_components is None else int(self.n_components)

    def _check_params(self, n_features, n_components):
        """Variant-specific checks (after sklearn's constraints)."""

    def fit(self, X, y=None, *, callbacks=()):
        """Train the autoencoder on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        callbacks : sequence, default=()
            Extra training callbacks (see :mod:`sparsecode.nn._training`), e.g. a
            :class:`~sparsecode.nn.prune.MagnitudePruner` built without a module:
            it binds to ``module_`` when training starts.

        Returns
        -------
        self
        """
        self._validate_params()
        X = self._validate_X(X, reset=True)
        n_samples, n_features = X.shape
        n_components = self._n_components(n_features)
        self._check_params(n_features, n_components)
        device = self._resolve_device()
        with self._seeded():
            module = self._init_module(
                dtype=X.dtype, **self._module_kwargs(n_features, n_components))
            Xt = torch.from_numpy(np.array(X, copy=True)).to(device)  # X stays untouched
            # scalar input normalisation: E||x||^2 = n_features, computed on X / max|X|
            # so that it neither overflows (X ~ 1e200) nor underflows (X ~ 1e-200)
            peak = float(Xt.abs().max()) if Xt.numel() else 0.0
            msq = float(((Xt.double() / peak) ** 2).sum(1).mean()) if peak > 0 else 0.0
            scale = peak * math.sqrt(msq / n_features) if msq > 0 else 1.0
            Xt = Xt / scale
            X_val = None
            if self.early_stopping:
                g = self._generator(offset=2)
                perm = torch.randperm(n_samples, generator=g).to(device)
                n_val = max(1, int(round(self.validation_fraction * n_samples)))
                if n_val >= n_samples:
                    raise ValueError(
                        "validation_fraction leaves no training samples; "
                        f"n_samples={n_samples}."
                    )
                X_val, Xt = Xt[perm[:n_val]], Xt[perm[n_val:]]
            module.reset_parameters(self._decoder_init_norm)
            with torch.no_grad():
                sub = Xt[: min(Xt.shape[0], 10000)]
                module.b_dec.copy_(_geometric_median(sub.double()).to(Xt.dtype))
            objective = _SAEObjective(
                activation=self._activation, n_components=n_components,
                unit_norm_decoder=self._unit_norm_decoder,
                **self._objective_kwargs(Xt.shape[0]),
            )
            trainer = Trainer(
                objective, learning_rate=self.learning_rate, batch_size=self.batch_size,
                max_iter=self.max_iter, early_stopping=self.early_stopping,
                n_iter_no_change=self.n_iter_no_change, tol=self.tol,
                callbacks=[objective, *callbacks], checkpoint_path=self.checkpoint_path,
                device=device, generator=self._generator(), verbose=self.verbose,
                desc=type(self).__name__, distributed=self.distributed,
            )
            self.history_ = trainer.fit(
                module, Xt, validation=None if X_val is None else (X_val,))
            self._finalize(module, Xt)
        self.scale_ = scale
        self.n_iter_ = len(self.history_)
        self.n_components_ = n_components
        self._sync_from_module(X.dtype)
        return self

    def _finalize(self, module, Xt):
        """Hook run after training on the (normalised) training tensor."""

    def _sync_from_module(self, dtype=None):
        """Refresh ``components_`` and ``intercept_`` from ``module_``."""
        dtype = dtype or np.dtype(self._module_dtype_)
        m = self.module_
        with torch.no_grad():  # runs the pruning hooks, if any, so W_dec is current
            m(torch.zeros(1, m.n_features, dtype=self._module_torch_dtype,
                          device=self._module_device))
        self.components_ = self._to_numpy(m.W_dec, dtype).copy()
        self.intercept_ = (self._to_numpy(m.b_dec, np.float64) * self.scale_).astype(dtype)

    def _encode(self, xb):
        return self.module_(xb / self.scale_, decode=False) * self.scale_

    def transform(self, X):
        """Sparse codes of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        codes : ndarray of shape (n_samples, n_components)
            In the dtype of ``X`` (float32 or float64), in the units of ``X``:
            ``X ≈ codes @ components_ + intercept_``.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self._batched(self._encode, X)

    def inverse_transform(self, X):
        """Reconstruct signals from codes: ``X @ components_ + intercept_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features)
        """
        rec = super().inverse_transform(X)
        return rec + self.intercept_.astype(rec.dtype, copy=False)

    def score_metrics(self, X):
        """``l0``, ``nmse``, ``fvu``, ``mse`` and ``dead_fraction`` of the model on ``X``
        (see :func:`sae_metrics`)."""
        codes = self.transform(X)
        return sae_metrics(np.asarray(X), self.inverse_transform(codes), codes)

    def score(self, X, y=None):
        """Fraction of the variance of ``X`` explained by the reconstruction
        (``1 - fvu``; higher is better)."""
        return 1.0 - self.score_metrics(X)["fvu"]


_COMMON_DOC = """
    learning_rate : float, default=1e-3
        Adam step size.
    batch_size : int, default=256
    max_iter : int, default=50
        Number of epochs.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of ``X`` and stop when its loss has not improved
        by ``tol`` (relative) for ``n_iter_no_change`` epochs; best weights restored.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    tol : float, default=1e-4
    checkpoint_path : str or None, default=None
        Checkpoint file written every epoch; an existing file is resumed by ``fit``.
    device : str, default="cpu"
        ``"cpu"``, ``"cuda"``, ``"cuda:<i>"`` or ``"auto"``.
    random_state : int, RandomState or None, default=None
        Seeds initialisation and shuffling (reproducible on the CPU).
    verbose : int, default=0
        Progress bar over epochs when > 0.
    distributed : {"auto", True, False}, default="auto"
        Data-parallel training over the ranks of ``torch.distributed`` (see
        :class:`~sparsecode.nn.Trainer`): ``"auto"`` when launched by ``torchrun`` or
        inside an initialised process group of several ranks, ``True`` to require it,
        ``False`` never. Every rank must be given the same ``X``; ``batch_size`` is the
        global batch.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Decoder atoms, one per row.
    intercept_ : ndarray of shape (n_features,)
        Decoder (pre-)bias in the units of ``X``.
    module_ : SparseAutoencoder
        The trained network (acting on ``X / scale_``).
    scale_ : float
        Input scaling: the network sees ``X / scale_`` with mean squared norm
        ``n_features``.
    history_ : list of dict
        Per epoch: ``loss``, ``mse``, ``nmse``, ``fvu``, ``l0``, ``dead_fraction`` (and
        ``val_loss``, ``auxk``, ``penalty`` where they apply).
    n_iter_ : int
        Epochs run.
    n_components_ : int
    n_features_in_ : int
"""


def _doc(cls):
    cls.__doc__ = cls.__doc__.replace("    %(common)s\n", _COMMON_DOC)
    return cls
