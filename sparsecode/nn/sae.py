r"""Sparse autoencoders as scikit-learn estimators.

A sparse autoencoder (SAE) learns an overcomplete dictionary together with a fast
*encoder* that produces the sparse codes:

.. math::

    z = \sigma\big(W_{enc}^\top (x - b_{dec}) + b_{enc}\big), \qquad
    \hat x = z\,W_{dec} + b_{dec},

with :math:`W_{dec}` of shape ``(n_components, n_features)`` -- one atom per row, the
library's dictionary layout -- and :math:`\sigma` a sparsifying activation. The estimators
follow the dictionary-learning API: ``fit(X)``, ``transform(X)`` gives the codes
``(n_samples, n_components)``, ``inverse_transform(codes)`` the reconstruction
``codes @ components_ + intercept_``, and ``components_`` holds the decoder atoms, so an
SAE is a drop-in replacement for dictionary learning in a :class:`~sklearn.pipeline.Pipeline`.

=========================  ==========================================  ======================
estimator                  activation :math:`\sigma` and penalty       reference
=========================  ==========================================  ======================
:class:`ReLUSAE`           ReLU, :math:`\alpha\sum_j z_j\|W_{dec,j}\|`   Anthropic (2024) [5]_
:class:`TopKSAE`           ReLU(TopK), AuxK loss for dead latents      [1]_, [2]_
:class:`BatchTopKSAE`      TopK over the batch; threshold at inference [3]_
:class:`JumpReLUSAE`       JumpReLU, :math:`\alpha\|z\|_0` (STE)        [4]_
:class:`KLSAE`             sigmoid, :math:`\alpha\sum_j KL(\rho\|\hat\rho_j)`  Ng [6]_
=========================  ==========================================  ======================

Inputs are rescaled internally by a scalar ``scale_`` so that
:math:`\mathbb E\|x\|^2 = n_{features}` (the convention under which the published
hyper-parameters hold); codes and atoms are returned in the units of ``X``. TopK,
BatchTopK and JumpReLU keep the decoder rows at unit norm, removing the gradient
component parallel to each row before every step (Gao et al. 2024).

Training metrics (per epoch, in ``history_``): ``loss``, ``mse``, ``nmse``
(:math:`\|x-\hat x\|^2/\|x\|^2`), ``fvu`` (:math:`\|x-\hat x\|^2/\|x-\bar x\|^2`), ``l0``
(mean active latents per sample) and ``dead_fraction`` (latents that never fired in the
epoch); ``val_loss`` with early stopping. :meth:`BaseSAE.score_metrics` gives the same
on any data after training.

References
----------
.. [1] A. Makhzani and B. Frey, "k-Sparse autoencoders", ICLR 2014. arXiv:1312.5663.
.. [2] L. Gao et al., "Scaling and evaluating sparse autoencoders", 2024.
   arXiv:2406.04093.
.. [3] B. Bussmann, P. Leask and N. Nanda, "BatchTopK sparse autoencoders", 2024.
   arXiv:2412.06410.
.. [4] S. Rajamanoharan et al., "Jumping ahead: improving reconstruction fidelity with
   JumpReLU sparse autoencoders", 2024. arXiv:2407.14435.
.. [5] T. Conerly et al., "Circuits updates -- April 2024: update on how we train SAEs",
   transformer-circuits.pub/2024/april-update.
.. [6] A. Ng, "Sparse autoencoder", CS294A lecture notes, Stanford, 2011.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ..base import BaseSparseEstimator
from . import functional as F
from ._estimator import TorchEstimatorMixin
from ._training import Trainer

__all__ = [
    "SparseAutoencoder",
    "BaseSAE",
    "ReLUSAE",
    "TopKSAE",
    "BatchTopKSAE",
    "JumpReLUSAE",
    "KLSAE",
    "sae_metrics",
    "ACTIVATIONS",
]

#: Activations of :class:`SparseAutoencoder`, name -> description.
ACTIVATIONS = {
    "relu": "ReLU with a decoder-norm-weighted L1 penalty",
    "topk": "ReLU of the k largest pre-activations per sample",
    "batchtopk": "the k * batch_size largest activations of the batch (threshold at inference)",
    "jumprelu": "JumpReLU with learned per-latent thresholds and an L0 penalty",
    "sigmoid": "sigmoid with a KL-divergence sparsity penalty",
}


def _raw(module, name):
    """The trainable tensor behind ``name`` (``name_orig`` when pruned)."""
    return getattr(module, name + "_orig", None) if hasattr(module, name + "_orig") \
        else getattr(module, name)


# ---------------------------------------------------------------------------------------
# the module
# ---------------------------------------------------------------------------------------
class SparseAutoencoder(nn.Module):
    r"""Sparse autoencoder ``nn.Module`` (the network inside the SAE estimators).

    Parameters
    ----------
    n_features : int
    n_components : int
        Number of latents (dictionary atoms).
    activation : {"relu", "topk", "batchtopk", "jumprelu", "sigmoid"}
    k : int or None
        Active latents per sample for ``"topk"`` / ``"batchtopk"``.
    nonnegative : bool, default=True
        ``"topk"`` only: ReLU after TopK (Gao et al.). ``False`` keeps the ``k``
        largest-magnitude signed pre-activations (exactly ``k`` nonzeros).
    threshold_init, bandwidth : float
        ``"jumprelu"`` only: initial threshold and STE kernel width.

    Attributes
    ----------
    W_enc : Parameter (n_features, n_components)
    b_enc : Parameter (n_components,)
    W_dec : Parameter (n_components, n_features)
    b_dec : Parameter (n_features,)
        The pre-bias, subtracted before encoding and added after decoding.
    log_threshold : Parameter (n_components,)
        ``"jumprelu"`` only.
    threshold : buffer ()
        ``"batchtopk"`` only: the inference threshold (estimated during training).
    """

    def __init__(self, n_features, n_components, activation="topk", *, k=None,
                 nonnegative=True, threshold_init=1e-3, bandwidth=1e-3):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}."
            )
        if activation in ("topk", "batchtopk"):
            F._check_k(k, n_components, name="k (n_nonzero_coefs)")
        self.n_features = int(n_features)
        self.n_components = int(n_components)
        self.activation = activation
        self.k = k
        self.nonnegative = bool(nonnegative)
        self.bandwidth = float(bandwidth)
        self.W_enc = nn.Parameter(torch.empty(n_features, n_components))
        self.b_enc = nn.Parameter(torch.zeros(n_components))
        self.W_dec = nn.Parameter(torch.empty(n_components, n_features))
        self.b_dec = nn.Parameter(torch.zeros(n_features))
        if activation == "jumprelu":
            self.log_threshold = nn.Parameter(
                torch.full((n_components,), math.log(threshold_init)))
        if activation == "batchtopk":
            self.register_buffer("threshold", torch.tensor(0.0))
        self.reset_parameters()

    def reset_parameters(self, decoder_norm=1.0):
        """Tied initialisation: random unit-direction decoder rows scaled to
        ``decoder_norm``, encoder = decoder transposed, zero biases."""
        with torch.no_grad():
            W = torch.randn(self.n_components, self.n_features)
            W = W / W.norm(dim=1, keepdim=True) * decoder_norm
            _raw(self, "W_dec").copy_(W)
            _raw(self, "W_enc").copy_(W.t())
            self.b_enc.zero_()
            self.b_dec.zero_()

    def pre_activation(self, x):
        """:math:`W_{enc}^\\top(x - b_{dec}) + b_{enc}`, shape ``(n, n_components)``."""
        return (x - self.b_dec) @ self.W_enc + self.b_enc

    @property
    def jump_threshold(self):
        return torch.exp(self.log_threshold)

    def activate(self, pre):
        """Sparse codes from pre-activations (training or inference behaviour)."""
        a = self.activation
        if a == "relu":
            return torch.relu(pre)
        if a == "sigmoid":
            return torch.sigmoid(pre)
        if a == "topk":
            if self.nonnegative:
                return torch.relu(F.topk(pre, self.k, absolute=False))
            return F.topk(pre, self.k, absolute=True)
        if a == "jumprelu":
            return F.jumprelu(pre, self.jump_threshold, self.bandwidth)
        # batchtopk
        if self.training:
            z = torch.relu(pre)
            flat = z.reshape(-1)
            kk = min(self.k * z.shape[0], flat.numel())
            idx = torch.topk(flat, kk, sorted=False).indices
            return torch.zeros_like(flat).scatter(0, idx, flat[idx]).reshape(z.shape)
        return pre * (pre > self.threshold).to(pre.dtype) * (pre > 0).to(pre.dtype)

    def encode(self, x):
        return self.activate(self.pre_activation(x))

    def decode(self, z):
        return z @ self.W_dec + self.b_dec

    def forward(self, x, *, decode=True):
        """Returns ``(x_hat, z, pre)``, or only the codes ``z`` with ``decode=False``.

        Call the module (not :meth:`encode`) when it may be pruned: the pruning masks of
        :mod:`torch.nn.utils.prune` are applied by forward pre-hooks.
        """
        pre = self.pre_activation(x)
        z = self.activate(pre)
        if not decode:
            return z
        return self.decode(z), z, pre


# ---------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------
def sae_metrics(X, X_hat, codes):
    r"""Reconstruction and sparsity metrics of an (auto)encoder.

    Parameters
    ----------
    X, X_hat : ndarray of shape (n_samples, n_features)
        Signals and reconstructions.
    codes : ndarray of shape (n_samples, n_components)

    Returns
    -------
    dict
        ``l0`` (mean nonzeros per sample), ``nmse`` (:math:`\|X-\hat X\|_F^2/\|X\|_F^2`),
        ``fvu`` (:math:`\|X-\hat X\|_F^2/\|X-\bar X\|_F^2`, one minus the explained
        variance), ``mse`` (mean squared error per entry) and ``dead_fraction``
        (components never nonzero on ``X``).
    """
    X = np.asarray(X, dtype=np.float64)
    X_hat = np.asarray(X_hat, dtype=np.float64)
    codes = np.asarray(codes)
    err = float(((X - X_hat) ** 2).sum())
    tot = float((X ** 2).sum())
    var = float(((X - X.mean(axis=0)) ** 2).sum())
    active = codes != 0
    return {
        "l0": float(active.sum(axis=1).mean()),
        "nmse": err / tot if tot > 0 else float("nan"),
        "fvu": err / var if var > 0 else float("nan"),
        "mse": err / X.size,
        "dead_fraction": float((~active.any(axis=0)).mean()),
    }


# ---------------------------------------------------------------------------------------
# training objective (loss + callbacks)
# ---------------------------------------------------------------------------------------
class _SAEObjective:
    """Loss function and training callbacks of the SAEs.

    Tracks, per latent, how many training samples went by since it last fired (for the
    AuxK loss and the dead-latent fraction), keeps decoder rows at unit norm and
    estimates the BatchTopK inference threshold.
    """

    def __init__(self, *, activation, alpha=0.0, sparsity_target=0.05, auxk_coef=0.0,
                 k_aux=None, dead_after=None, unit_norm_decoder=False, n_components=1,
                 threshold_momentum=0.99):
        self.activation = activation
        self.alpha = alpha
        self.sparsity_target = sparsity_target
        self.auxk_coef = auxk_coef
        self.k_aux = k_aux
        self.dead_after = dead_after
        self.unit_norm_decoder = unit_norm_decoder
        self.threshold_momentum = threshold_momentum
        self.since_fired = torch.zeros(n_components, dtype=torch.long)
        self.fired_epoch = torch.zeros(n_components, dtype=torch.bool)
        self.n_threshold_updates = 0

    # -- state for checkpoints
    def state_dict(self):
        return {"since_fired": self.since_fired.clone(),
                "fired_epoch": self.fired_epoch.clone(),
                "n_threshold_updates": self.n_threshold_updates}

    def load_state_dict(self, s):
        self.since_fired = s["since_fired"].clone()
        self.fired_epoch = s["fired_epoch"].clone()
        self.n_threshold_updates = s["n_threshold_updates"]

    # -- loss
    def __call__(self, module, x):
        x_hat, z, pre = module(x)  # module(): runs pruning hooks, if any
        sq = ((x_hat - x) ** 2).sum(-1)
        mse = sq.mean()
        loss = mse
        metrics = {}
        a = self.activation
        if a == "relu":
            dec_norm = module.W_dec.norm(dim=1)
            pen = (z * dec_norm).sum(-1).mean()
            loss = loss + self.alpha * pen
            metrics["penalty"] = pen
        elif a == "jumprelu":
            l0 = F.heaviside_ste(pre, module.jump_threshold, module.bandwidth).sum(-1).mean()
            loss = loss + self.alpha * l0
        elif a == "sigmoid":
            rho = self.sparsity_target
            rho_hat = z.mean(0).clamp(1e-6, 1 - 1e-6)
            kl = (rho * torch.log(rho / rho_hat)
                  + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()
            loss = loss + self.alpha * kl
            metrics["penalty"] = kl
        active = (z != 0) if a != "sigmoid" else (z > 0)
        with torch.no_grad():
            fired = active.any(0).cpu()
            if module.training:
                self.since_fired += x.shape[0]
                self.since_fired[fired] = 0
                self.fired_epoch |= fired
        if a in ("topk", "batchtopk") and self.auxk_coef > 0 and module.training:
            dead = (self.since_fired >= self.dead_after).to(x.device)
            n_dead = int(dead.sum())
            if n_dead > 0:
                k_aux = min(self.k_aux, n_dead)
                masked = torch.where(dead, pre, torch.full_like(pre, -torch.inf))
                z_aux = torch.relu(F.topk(masked.nan_to_num(neginf=-1e30), k_aux,
                                          absolute=False))
                z_aux = z_aux * dead.to(z_aux.dtype)
                e = (x - x_hat).detach()
                e_hat = z_aux @ module.W_dec
                denom = ((e - e.mean(0)) ** 2).sum(-1).mean().clamp_min(1e-12)
                aux = ((e_hat - e) ** 2).sum(-1).mean() / denom
                loss = loss + self.auxk_coef * aux
                metrics["auxk"] = aux
        if a == "batchtopk" and module.training:
            with torch.no_grad():
                pos = z[z > 0]
                if pos.numel():
                    m = pos.min()
                    if self.n_threshold_updates == 0:
                        module.threshold.copy_(m)
                    else:
                        mom = self.threshold_momentum
                        module.threshold.mul_(mom).add_((1 - mom) * m)
                    self.n_threshold_updates += 1
        with torch.no_grad():
            xs = (x ** 2).sum()
            var = ((x - x.mean(0)) ** 2).sum()
            metrics.update(
                mse=mse,
                nmse=sq.sum() / xs.clamp_min(1e-30),
                fvu=sq.sum() / var.clamp_min(1e-30),
                l0=active.sum(-1).to(x.dtype).mean(),
            )
        return loss, metrics

    # -- callbacks
    def before_step(self, trainer):
        if not self.unit_norm_decoder:
            return
        W = _raw(trainer.module, "W_dec")
        if W.grad is not None:
            with torch.no_grad():
                Wn = W / W.norm(dim=1, keepdim=True).clamp_min(1e-12)
                W.grad -= (W.grad * Wn).sum(1, keepdim=True) * Wn

    def after_step(self, trainer):
        if not self.unit_norm_decoder:
            return
        W = _raw(trainer.module, "W_dec")
        with torch.no_grad():
            W /= W.norm(dim=1, keepdim=True).clamp_min(1e-12)

    def on_epoch_end(self, trainer, record):
        record["dead_fraction"] = float((~self.fired_epoch).float().mean())
        self.fired_epoch.zero_()


# ---------------------------------------------------------------------------------------
# estimators
# ---------------------------------------------------------------------------------------
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
            :class:`~sparsecode.nn.sparsity.MagnitudePruner` built without a module:
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
            # scalar input normalisation: E||x||^2 = n_features
            msq = float((Xt.double() ** 2).sum(1).mean())
            scale = math.sqrt(msq / n_features) if msq > 0 else 1.0
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
                desc=type(self).__name__,
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


@_doc
class ReLUSAE(BaseSAE):
    r"""ReLU sparse autoencoder with a decoder-norm-weighted L1 penalty.

    .. math::

        \min\ \mathbb E\Big[\|x - \hat x\|_2^2 + \alpha \sum_j z_j \|W_{dec,j}\|_2\Big],
        \qquad z = \operatorname{ReLU}(W_{enc}^\top(x-b_{dec}) + b_{enc}),

    (Conerly et al. 2024): weighting by the decoder norms makes the penalty invariant to
    the rescaling that otherwise lets a plain L1 penalty shrink codes and grow atoms.

    Parameters
    ----------
    n_components : int or None, default=None
        Number of latents (None: ``n_features``).
    alpha : float, default=1.0
        Weight of the sparsity penalty (larger: sparser codes).
    %(common)s

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.nn.sae import ReLUSAE
    >>> X = np.random.default_rng(0).standard_normal((200, 8))
    >>> sae = ReLUSAE(16, alpha=0.5, max_iter=5, random_state=0).fit(X)
    >>> sae.transform(X).shape, sae.components_.shape
    ((200, 16), (16, 8))
    """

    _activation = "relu"
    _decoder_init_norm = 0.1
    _parameter_constraints = {
        **BaseSAE._parameter_constraints,
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
    }

    def __init__(self, n_components=None, *, alpha=1.0, learning_rate=1e-3,
                 batch_size=256, max_iter=50, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, tol=1e-4, checkpoint_path=None, device="cpu",
                 random_state=None, verbose=0):
        self.n_components = n_components
        self.alpha = alpha
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.checkpoint_path = checkpoint_path
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _objective_kwargs(self, n_samples):
        return {"alpha": float(self.alpha)}


@_doc
class TopKSAE(BaseSAE):
    r"""k-sparse autoencoder (Makhzani & Frey 2013) as trained by Gao et al. (2024).

    .. math::

        z = \operatorname{ReLU}\big(\operatorname{TopK}_k(W_{enc}^\top(x-b_{dec})+b_{enc})\big),
        \quad \min\ \mathbb E\|x-\hat x\|^2 + \alpha_{aux}\,\mathcal L_{aux},

    with the pre-bias :math:`b_{dec}` initialised at the geometric median of the data,
    tied initialisation (:math:`W_{enc} = W_{dec}^\top`), unit-norm decoder rows (the
    gradient component parallel to each row is removed before every step), and the AuxK
    loss: the ``k_aux`` largest *dead* latents (not fired during the last epoch's worth of
    samples) are trained to reconstruct the residual, normalised by its variance.

    Parameters
    ----------
    n_components : int or None, default=None
        Number of latents (None: ``n_features``).
    n_nonzero_coefs : int, default=8
        :math:`k`, active latents per sample (``<= n_components``).
    auxk_coef : float, default=1/32
        :math:`\alpha_{aux}`; 0 disables the AuxK loss.
    k_aux : int or None, default=None
        Dead latents used by the AuxK loss (None: ``n_features // 2``, at least 1).
    nonnegative : bool, default=True
        ReLU after TopK. ``False``: signed codes, the ``k`` largest pre-activations in
        magnitude (exactly ``k`` nonzeros per sample).
    %(common)s

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.nn.sae import TopKSAE
    >>> X = np.random.default_rng(0).standard_normal((200, 8))
    >>> sae = TopKSAE(16, n_nonzero_coefs=3, max_iter=5, random_state=0).fit(X)
    >>> int((sae.transform(X) != 0).sum(axis=1).max())
    3
    """

    _activation = "topk"
    _unit_norm_decoder = True
    _parameter_constraints = {
        **BaseSAE._parameter_constraints,
        "n_nonzero_coefs": [Interval(numbers.Integral, 1, None, closed="left")],
        "auxk_coef": [Interval(numbers.Real, 0, None, closed="left")],
        "k_aux": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "nonnegative": ["boolean"],
    }

    def __init__(self, n_components=None, *, n_nonzero_coefs=8, auxk_coef=1 / 32,
                 k_aux=None, nonnegative=True, learning_rate=1e-3, batch_size=256,
                 max_iter=50, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, tol=1e-4, checkpoint_path=None, device="cpu",
                 random_state=None, verbose=0):
        self.n_components = n_components
        self.n_nonzero_coefs = n_nonzero_coefs
        self.auxk_coef = auxk_coef
        self.k_aux = k_aux
        self.nonnegative = nonnegative
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.checkpoint_path = checkpoint_path
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self, n_features, n_components):
        if self.n_nonzero_coefs > n_components:
            raise ValueError(
                f"n_nonzero_coefs must be <= n_components={n_components}, got "
                f"{self.n_nonzero_coefs}."
            )

    def _module_kwargs(self, n_features, n_components):
        kw = super()._module_kwargs(n_features, n_components)
        kw.update(k=int(self.n_nonzero_coefs), nonnegative=bool(self.nonnegative))
        return kw

    def _objective_kwargs(self, n_samples):
        k_aux = self.k_aux if self.k_aux is not None else max(1, self.n_features_in_ // 2)
        return {"auxk_coef": float(self.auxk_coef), "k_aux": int(k_aux),
                "dead_after": int(n_samples)}


@_doc
class BatchTopKSAE(TopKSAE):
    r"""BatchTopK sparse autoencoder (Bussmann, Leask & Nanda 2024).

    During training the ``n_nonzero_coefs * batch_size`` largest activations of the whole
    batch are kept (a per-sample budget that varies, :math:`k` on average). At inference
    a single threshold replaces the batch dependency,

    .. math::

        z = \operatorname{ReLU}(p)\,\mathbb 1[p > \theta],

    with :math:`\theta` (``threshold_``, in the units of ``X``) the mean over training
    batches of the smallest activation kept, computed with the final model after
    training (an exponential moving average stands in during training, for
    validation). Everything else (pre-bias, tied initialisation, unit-norm decoder,
    AuxK) as :class:`TopKSAE`.

    Parameters
    ----------
    n_components : int or None, default=None
    n_nonzero_coefs : int, default=8
        Average active latents per sample.
    auxk_coef : float, default=1/32
    k_aux : int or None, default=None
    nonnegative : bool, default=True
        Must be True (BatchTopK codes are non-negative).
    %(common)s
    threshold_ : float
        The inference threshold in the units of ``X``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.nn.sae import BatchTopKSAE
    >>> X = np.random.default_rng(0).standard_normal((300, 8))
    >>> sae = BatchTopKSAE(16, n_nonzero_coefs=3, max_iter=5, random_state=0).fit(X)
    >>> sae.threshold_ > 0
    True
    """

    _activation = "batchtopk"

    @torch.no_grad()
    def _finalize(self, module, Xt):
        # Inference threshold of the *final* model: the mean over training batches of
        # the smallest activation BatchTopK keeps (the running average kept during
        # training lags behind a model that is still changing).
        was = module.training
        module.train()
        mins = []
        perm = torch.randperm(Xt.shape[0], generator=self._generator(offset=3))
        for start in range(0, Xt.shape[0], self.batch_size):
            xb = Xt[perm[start:start + self.batch_size].to(Xt.device)]
            z = module(xb, decode=False)
            pos = z[z > 0]
            if pos.numel():
                mins.append(pos.min())
        module.train(was)
        if mins:
            module.threshold.copy_(torch.stack(mins).mean())

    def fit(self, X, y=None, *, callbacks=()):
        if not self.nonnegative:
            raise ValueError("nonnegative must be True for BatchTopKSAE.")
        super().fit(X, y, callbacks=callbacks)
        self.threshold_ = float(self.module_.threshold) * self.scale_
        return self

    fit.__doc__ = BaseSAE.fit.__doc__


@_doc
class JumpReLUSAE(BaseSAE):
    r"""JumpReLU sparse autoencoder (Rajamanoharan et al. 2024).

    .. math::

        z = p\,H(p - \theta), \qquad
        \min\ \mathbb E\Big[\|x-\hat x\|^2 + \alpha\,\|z\|_0\Big],

    with a learned per-latent threshold :math:`\theta = e^{\log\theta}`. The step
    :math:`H` has no useful gradient; both the JumpReLU and the L0 penalty use the
    straight-through pseudo-derivatives with a rectangle kernel of width ``bandwidth``
    (see :func:`sparsecode.nn.functional.jumprelu`). Decoder rows have unit norm.

    Parameters
    ----------
    n_components : int or None, default=None
    alpha : float, default=1.0
        Weight of the L0 penalty.
    threshold_init : float, default=0.1
        Initial threshold, in the units of the normalised input (``E||x||^2 =
        n_features``, so pre-activations are of order one).
    bandwidth : float, default=0.05
        Kernel width :math:`\varepsilon` of the straight-through estimator, same units.
        The paper's 0.001 (with threshold 0.001) suits millions of training steps; on
        small data sets that narrow kernel almost never sees a pre-activation, and the
        thresholds barely move.
    %(common)s
    threshold_ : ndarray of shape (n_components,)
        Learned thresholds in the units of ``X``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.nn.sae import JumpReLUSAE
    >>> X = np.random.default_rng(0).standard_normal((200, 8))
    >>> sae = JumpReLUSAE(16, max_iter=5, random_state=0).fit(X)
    >>> sae.threshold_.shape
    (16,)
    """

    _activation = "jumprelu"
    _unit_norm_decoder = True
    _parameter_constraints = {
        **BaseSAE._parameter_constraints,
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "threshold_init": [Interval(numbers.Real, 0, None, closed="neither")],
        "bandwidth": [Interval(numbers.Real, 0, None, closed="neither")],
    }

    def __init__(self, n_components=None, *, alpha=1.0, threshold_init=0.1,
                 bandwidth=0.05, learning_rate=1e-3, batch_size=256, max_iter=50,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=10,
                 tol=1e-4, checkpoint_path=None, device="cpu", random_state=None, verbose=0):
        self.n_components = n_components
        self.alpha = alpha
        self.threshold_init = threshold_init
        self.bandwidth = bandwidth
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.checkpoint_path = checkpoint_path
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _module_kwargs(self, n_features, n_components):
        kw = super()._module_kwargs(n_features, n_components)
        kw.update(threshold_init=float(self.threshold_init),
                  bandwidth=float(self.bandwidth))
        return kw

    def _objective_kwargs(self, n_samples):
        return {"alpha": float(self.alpha)}

    def fit(self, X, y=None, *, callbacks=()):
        super().fit(X, y, callbacks=callbacks)
        self.threshold_ = (self._to_numpy(self.module_.jump_threshold, np.float64)
                           * self.scale_)
        return self

    fit.__doc__ = BaseSAE.fit.__doc__


@_doc
class KLSAE(BaseSAE):
    r"""Sparse autoencoder with a KL-divergence sparsity penalty (Ng 2011).

    .. math::

        z = \operatorname{sigmoid}(W_{enc}^\top(x-b_{dec}) + b_{enc}),\qquad
        \min\ \mathbb E\|x-\hat x\|^2 + \alpha\sum_j
        \Big[\rho\log\frac{\rho}{\hat\rho_j} + (1-\rho)\log\frac{1-\rho}{1-\hat\rho_j}\Big],

    :math:`\hat\rho_j` the mean activation of latent :math:`j` over the mini-batch. The
    codes are *small but not exactly zero*: ``l0`` counts every positive activation, so
    this model is dense in the L0 sense (it is here as the classic baseline).

    Parameters
    ----------
    n_components : int or None, default=None
    alpha : float, default=1.0
        Weight :math:`\beta` of the KL penalty.
    sparsity_target : float in (0, 1), default=0.05
        Target mean activation :math:`\rho`.
    %(common)s

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.nn.sae import KLSAE
    >>> X = np.random.default_rng(0).standard_normal((200, 8))
    >>> sae = KLSAE(16, max_iter=5, random_state=0).fit(X)
    >>> bool((sae.transform(X) > 0).all())
    True
    """

    _activation = "sigmoid"
    _decoder_init_norm = 0.1
    _parameter_constraints = {
        **BaseSAE._parameter_constraints,
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "sparsity_target": [Interval(numbers.Real, 0, 1, closed="neither")],
    }

    def __init__(self, n_components=None, *, alpha=1.0, sparsity_target=0.05,
                 learning_rate=1e-3, batch_size=256, max_iter=50, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, tol=1e-4,
                 checkpoint_path=None, device="cpu", random_state=None, verbose=0):
        self.n_components = n_components
        self.alpha = alpha
        self.sparsity_target = sparsity_target
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.checkpoint_path = checkpoint_path
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _objective_kwargs(self, n_samples):
        return {"alpha": float(self.alpha), "sparsity_target": float(self.sparsity_target)}
