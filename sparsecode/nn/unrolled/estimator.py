r"""Scikit-learn estimators for the unrolled recovery networks (LISTA family).

:class:`UnrolledSparseCoder` trains one of the networks of
:mod:`sparsecode.nn.unrolled` and maps measurements to sparse signals/codes:

.. math::

    y = x A^\top + e \quad\longrightarrow\quad \hat x = f_\Theta(y),

``X`` given to :meth:`~UnrolledSparseCoder.fit` / :meth:`~UnrolledSparseCoder.transform`
holds the measurements ``y`` in rows ``(n_samples, n_measurements)``; ``transform``
(and its alias ``predict``) returns ``x̂`` of shape ``(n_samples, n_features)`` as a
NumPy array. In the library's sparse-coding convention ``X ≈ codes @ components_`` with
``components_ = A.T``, so :meth:`inverse_transform` maps codes back to measurements.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ...base import BaseSparseEstimator
from .._estimator import TorchEstimatorMixin
from ._checks import check_operator_matrix
from .networks import MODELS

__all__ = ["UnrolledSparseCoder"]


class UnrolledSparseCoder(TorchEstimatorMixin, BaseSparseEstimator):
    r"""Learned sparse recovery by an unrolled network (LISTA, LISTA-CP(SS), ALISTA, ...).

    Training modes (``training``):

    * ``"end_to_end"`` – all layers at once on the pairs ``(X, y)`` given to
      :meth:`fit` (``X`` measurements, ``y`` the true signals/codes), or, with
      ``y=None``, on FISTA solutions of the LASSO
      :math:`\min_x \tfrac12\|X_i - x A^\top\|^2 + \alpha\|x\|_1` (Gregor & LeCun's
      setting: learn a fast approximation of a sparse coder).
    * ``"stagewise"`` – the LISTA-CPSS recipe on fresh synthetic Bernoulli(``sparsity``)-
      Gaussian problems with noise at ``snr`` dB
      (:func:`sparsecode.nn.unrolled.training.train_stagewise`); ``X`` may be None.
    * ``"auto"`` – ``"stagewise"`` when ``X`` is None, else ``"end_to_end"``.

    Parameters
    ----------
    operator : array-like of shape (n_measurements, n_features), LinearOperator or None
        Sensing matrix ``A``. ``None``: estimated from the training pairs by least
        squares (``X ≈ y A^T``; needs ``y``).
    model : {"lista", "lista-cp", "lista-cpss", "alista", "ista", "fista"}, \
            default="lista-cpss"
    n_layers : int, default=16
    alpha : float, default=0.1
        LASSO penalty: initial thresholds ``alpha / L`` and the FISTA targets.
    training : {"auto", "end_to_end", "stagewise"}, default="auto"
    learning_rate : float, default=5e-4
    batch_size : int, default=64
    max_iter : int, default=100
        End-to-end: number of epochs. Stage-wise: maximal steps per stage.
    sparsity : float, default=0.1
        Stage-wise: probability of a nonzero entry of the synthetic signals.
    snr : float or None, default=None
        Stage-wise: SNR (dB) of the synthetic measurements (None: noiseless).
    validation_fraction : float, default=0.1
        End-to-end: held-out fraction for early stopping.
    n_iter_no_change : int, default=10
        End-to-end: epochs without improvement; stage-wise: validations (every 10
        steps) without improvement before a stage stops.
    checkpoint : str or None, default=None
        Checkpoint file; training resumes from it when it exists.
    device : {"cpu", "cuda", "auto", ...}, default="cpu"
    random_state : int, RandomState or None, default=None
    verbose : int, default=0
    distributed : {"auto", True, False}, default="auto"
        End-to-end: data-parallel training over the ranks of ``torch.distributed``
        (see :class:`~sparsecode.nn.Trainer`). Stage-wise training draws its own
        synthetic batches and runs in one process: ``True`` is an error there.

    Attributes
    ----------
    module_ : UnrolledNetwork
        The trained torch module.
    components_ : ndarray of shape (n_features, n_measurements)
        ``A.T`` (so ``X ≈ codes @ components_``).
    n_features_in_ : int
        ``n_measurements``.
    history_ : list or dict
        Training history.
    n_iter_ : int
        Epochs (end-to-end) or optimizer steps over all stages (stage-wise) run.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.nn.unrolled.estimator import UnrolledSparseCoder
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((20, 40)) / np.sqrt(20)
    >>> x = rng.standard_normal((200, 40)) * (rng.random((200, 40)) < 0.1)
    >>> est = UnrolledSparseCoder(A, model="lista-cp", n_layers=4, max_iter=5,
    ...                           random_state=0).fit(x @ A.T, x)
    >>> est.predict(x[:3] @ A.T).shape
    (3, 40)
    """

    _parameter_constraints: dict = {
        "operator": ["array-like", object, None],
        "model": [StrOptions(set(MODELS))],
        "n_layers": [Interval(numbers.Integral, 1, None, closed="left")],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "training": [StrOptions({"auto", "end_to_end", "stagewise"})],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "sparsity": [Interval(numbers.Real, 0, 1, closed="right")],
        "snr": [Interval(numbers.Real, None, None, closed="neither"), None],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "checkpoint": [str, None],
        "device": [str, None, object],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "distributed": [StrOptions({"auto"}), "boolean"],
    }

    def __init__(self, operator=None, *, model="lista-cpss", n_layers=16, alpha=0.1,
                 training="auto", learning_rate=5e-4, batch_size=64, max_iter=100,
                 sparsity=0.1, snr=None, validation_fraction=0.1, n_iter_no_change=10,
                 checkpoint=None, device="cpu", random_state=None, verbose=0,
                 distributed="auto"):
        self.operator = operator
        self.model = model
        self.n_layers = n_layers
        self.alpha = alpha
        self.training = training
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.sparsity = sparsity
        self.snr = snr
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.checkpoint = checkpoint
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.distributed = distributed

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = self.operator is None
        tags.input_tags.allow_nan = False
        return tags

    # -------------------------------------------------------------- module
    def _build_module(self, A, model, n_layers, alpha):
        import torch

        return MODELS[model](np.asarray(A), n_layers, alpha, dtype=torch.float64)

    def _resolve_operator(self, X, y):
        if self.operator is not None:
            return check_operator_matrix(self.operator, name="operator")
        if y is None:
            raise ValueError("operator is None: this estimator requires y to be passed, but "
                             "the target y is None (pass the sensing matrix as operator, or "
                             "fit on pairs (X, y) so that it can be estimated by least "
                             "squares).")
        A_T, *_ = np.linalg.lstsq(y.astype(np.float64), X.astype(np.float64), rcond=None)
        A = A_T.T
        if not np.any(A):
            A = np.ones_like(A) / np.sqrt(A.size)  # degenerate data: any non-zero A
        return A

    def fit(self, X=None, y=None):
        """Train the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_measurements) or None
            Measurements. None (stage-wise training only): train on synthetic problems.
        y : array-like of shape (n_samples, n_features) or None
            True signals/codes for ``X``. None: FISTA targets (end-to-end training).

        Returns
        -------
        self
        """
        self._validate_params()
        from .training import SyntheticProblem, train_end_to_end, train_stagewise

        training = self.training
        if training == "auto":
            training = "stagewise" if X is None else "end_to_end"
        if X is not None:
            X = self._validate_X(X, reset=True)
            dtype = X.dtype
        else:
            dtype = np.float64
        if y is not None:
            from sklearn.utils import check_array

            if X is None:
                raise ValueError("y was given without X; pass the measurements X too.")
            y = check_array(y, dtype=[np.float64, np.float32], ensure_2d=False,
                            ensure_all_finite=True, input_name="y")
            if y.ndim == 1:
                y = y[:, None]
            if y.shape[0] != X.shape[0]:
                raise ValueError(f"X and y have different numbers of samples: "
                                 f"{X.shape[0]} and {y.shape[0]}.")
        if X is None and training != "stagewise":
            raise ValueError("X is required for end_to_end training.")
        if training == "stagewise" and self.distributed is True:
            raise ValueError("distributed=True is for end_to_end training; stage-wise "
                             "training runs in one process (use distributed='auto').")
        A = self._resolve_operator(X, y)
        if X is not None and X.shape[1] != A.shape[0]:
            raise ValueError(f"X has {X.shape[1]} features but operator has shape {A.shape}; "
                             f"X must have shape (n_samples, {A.shape[0]}) (measurements).")
        if y is not None and y.shape[1] != A.shape[1]:
            raise ValueError(f"y has {y.shape[1]} columns but operator has shape {A.shape}; "
                             f"y must have shape (n_samples, {A.shape[1]}).")
        if X is None:
            self.n_features_in_ = A.shape[0]
        dev = self._resolve_device()
        with self._seeded() as seed:
            module = self._init_module(A=A, model=self.model,
                                       n_layers=self.n_layers, alpha=float(self.alpha),
                                       dtype=dtype)
            if training == "stagewise":
                problem = SyntheticProblem(A, sparsity=self.sparsity, snr=self.snr)
                self.history_ = train_stagewise(
                    module, problem, lr=self.learning_rate, batch_size=self.batch_size,
                    max_steps_per_stage=self.max_iter,
                    patience=10 * self.n_iter_no_change, device=dev, random_state=seed,
                    checkpoint=self.checkpoint, verbose=bool(self.verbose))
            else:
                self.history_ = train_end_to_end(
                    module, X, y, lr=self.learning_rate, batch_size=self.batch_size,
                    max_epochs=self.max_iter,
                    validation_fraction=self.validation_fraction if X.shape[0] >= 10 else 0.0,
                    patience=self.n_iter_no_change, device=dev, random_state=seed,
                    checkpoint=self.checkpoint, verbose=bool(self.verbose),
                    distributed=self.distributed)
        if training == "stagewise":
            self.n_iter_ = int(sum(st["steps"] for st in self.history_["stages"]))
        else:
            self.n_iter_ = len(self.history_)
        self.components_ = np.ascontiguousarray(A.T, dtype=dtype)
        self.n_components_ = A.shape[1]
        return self

    def transform(self, X):
        """Recovered signals/codes ``x̂`` of the measurements ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_measurements)

        Returns
        -------
        codes : ndarray of shape (n_samples, n_features), dtype of ``X``
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self._batched(self.module_, X, out_dtype=X.dtype)

    def predict(self, X):
        """Alias of :meth:`transform` (measurements -> signals)."""
        return self.transform(X)
