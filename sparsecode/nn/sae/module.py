"""The sparse autoencoder ``nn.Module``, its metrics and its training objective."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .. import functional as F

__all__ = ["ACTIVATIONS", "SparseAutoencoder", "sae_metrics"]

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
