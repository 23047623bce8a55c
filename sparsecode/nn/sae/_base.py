"""The machinery shared by the sparse autoencoder estimators: :class:`BaseSAE`."""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ...base import BaseSparseEstimator
from ...utils._dask import check_dask_rows, is_dask_array, iter_row_blocks
from .._estimator import TorchEstimatorMixin
from .._training import Trainer
from .module import SparseAutoencoder, _SAEObjective, sae_metrics

__all__ = ["BaseSAE"]


def _scale_of(X):
    """The scalar input normalisation of the SAEs: ``E||x / scale||^2 = n_features``,
    computed on ``X / max|X|`` so that it neither overflows (X ~ 1e200) nor underflows
    (X ~ 1e-200)."""
    X = np.asarray(X)
    peak = float(np.abs(X).max()) if X.size else 0.0
    if not peak > 0:
        return 1.0
    msq = float(((X / peak) ** 2).sum(axis=1).mean())
    return peak * math.sqrt(msq / X.shape[1]) if msq > 0 else 1.0


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
        self.__dict__.pop("_partial_", None)
        if is_dask_array(X):
            return self._fit_dask(X, callbacks)
        X = self._validate_X(X, reset=True)
        n_samples, n_features = X.shape
        n_components = self._n_components(n_features)
        self._check_params(n_features, n_components)
        device = self._resolve_device()
        scale = _scale_of(X)
        with self._seeded():
            Xt = torch.from_numpy(np.array(X, copy=True)).to(device)  # X stays untouched
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
            trainer = self._setup(Xt, n_components, Xt.shape[0], callbacks,
                                  dtype=X.dtype)
            self.history_ = trainer.fit(
                self.module_, Xt, validation=None if X_val is None else (X_val,))
            self._finalize(self.module_, Xt)
        self.scale_ = scale
        self.n_iter_ = len(self.history_)
        self._sync_from_module(X.dtype)
        self._after_training()
        return self

    def _setup(self, Xt, n_components, n_samples, callbacks, *, dtype, max_iter=None):
        """Build ``module_`` (b_dec from ``Xt``, already normalised), its objective and
        the trainer; runs inside :meth:`_seeded`."""
        n_features = Xt.shape[1]
        module = self._init_module(dtype=dtype,
                                   **self._module_kwargs(n_features, n_components))
        module.reset_parameters(self._decoder_init_norm)
        with torch.no_grad():
            sub = Xt[: min(Xt.shape[0], 10000)]
            module.b_dec.copy_(_geometric_median(sub.double()).to(Xt.dtype))
        self.n_components_ = n_components
        return self._make_trainer(n_samples, callbacks, max_iter=max_iter)

    def _make_trainer(self, n_samples, callbacks=(), *, max_iter=None):
        objective = _SAEObjective(
            activation=self._activation, n_components=self.n_components_,
            unit_norm_decoder=self._unit_norm_decoder,
            **self._objective_kwargs(n_samples),
        )
        return Trainer(
            objective, learning_rate=self.learning_rate, batch_size=self.batch_size,
            max_iter=self.max_iter if max_iter is None else max_iter,
            early_stopping=self.early_stopping and max_iter is None,
            n_iter_no_change=self.n_iter_no_change, tol=self.tol,
            callbacks=[objective, *callbacks], checkpoint_path=self.checkpoint_path
            if max_iter is None else None,
            device=self._resolve_device(), generator=self._generator(),
            verbose=self.verbose, desc=type(self).__name__, distributed=self.distributed,
        )

    def partial_fit(self, X, y=None):
        """One epoch of training on ``X``, continuing from the previous calls.

        The first call (on an unfitted estimator) initialises the model and the input
        scale ``scale_`` from ``X``; later calls keep the model, the Adam state and
        ``scale_``, so a data set too large for memory can be streamed through in
        chunks (as :meth:`fit` does for a Dask array). After :meth:`fit` it continues
        from the fitted model (with a new optimizer). No early stopping here.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self
        """
        first = not hasattr(self, "module_")
        if first:
            self._validate_params()
        X = self._validate_X(X, reset=first)
        if first:
            n_components = self._n_components(X.shape[1])
            self._check_params(X.shape[1], n_components)
            self.scale_ = _scale_of(X)
            self.history_ = []
        Xt = torch.from_numpy(np.array(X, copy=True)).to(self._resolve_device())
        Xt = Xt / self.scale_
        trainer = self.__dict__.get("_partial_")
        if trainer is None:
            with self._seeded():
                if first:
                    trainer = self._setup(Xt, n_components, Xt.shape[0], (),
                                          dtype=X.dtype, max_iter=1)
                else:
                    trainer = self._make_trainer(Xt.shape[0], max_iter=1)
            self._partial_ = trainer
        self._train_chunk(trainer, Xt)
        self._sync_from_module(X.dtype)
        self._after_training()
        return self

    def _train_chunk(self, trainer, Xt):
        """One epoch of ``trainer`` over the normalised chunk ``Xt``."""
        self.history_.append(trainer.partial_fit(self.module_, Xt))
        self.n_iter_ = len(self.history_)
        self._finalize(self.module_, Xt)

    def _fit_dask(self, X, callbacks):
        """:meth:`fit` on a Dask array: the chunks stream through :meth:`partial_fit`'s
        loop, ``max_iter`` passes in a seeded order; only one chunk is in memory."""
        check_dask_rows(X, name="X")
        if self.early_stopping:
            raise ValueError("early_stopping=True needs X in memory (a validation split); "
                             "fit a Dask array with early_stopping=False.")
        if callbacks:
            raise ValueError("callbacks are not supported when fitting a Dask array.")
        import dask

        n_samples, n_features = X.shape
        peak, finite = dask.compute(abs(X).max(), dask.array.isfinite(X).all())
        if not finite:
            raise ValueError("Input X contains NaN or infinity.")
        peak = float(peak)
        msq = float(((X / peak) ** 2).sum(axis=1).mean().compute()) if peak > 0 else 0.0
        scale = peak * math.sqrt(msq / n_features) if msq > 0 else 1.0
        n_components = self._n_components(n_features)
        self._check_params(n_features, n_components)
        first = self._validate_X(next(iter_row_blocks(X, [0])), reset=True)
        self.n_features_in_ = n_features
        self.scale_ = scale
        self.history_ = []
        device = self._resolve_device()
        with self._seeded():
            trainer = self._setup(torch.from_numpy(first).to(device) / scale,
                                  n_components, n_samples, (), dtype=first.dtype,
                                  max_iter=1)
            order = np.random.default_rng(self._seed_)
            for _ in range(self.max_iter):
                for chunk in iter_row_blocks(X, order.permutation(X.numblocks[0])):
                    chunk = self._validate_X(chunk, reset=False)
                    self._train_chunk(trainer,
                                      torch.from_numpy(chunk).to(device) / scale)
        self.n_iter_ = self.max_iter
        self._sync_from_module(first.dtype)
        self._after_training()
        return self

    def _after_training(self):
        """Hook run after :meth:`fit` and every :meth:`partial_fit`."""

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_partial_", None)  # the optimizer of partial_fit is not pickled
        return state

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
