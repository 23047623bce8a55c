"""The sparse autoencoder estimators (scikit-learn API)."""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.utils._param_validation import Interval

from ._base import BaseSAE, _doc

__all__ = ["ReLUSAE", "TopKSAE", "BatchTopKSAE", "JumpReLUSAE", "KLSAE"]


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
                 random_state=None, verbose=0,
                 distributed="auto"):
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
        self.distributed = distributed

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
                 random_state=None, verbose=0,
                 distributed="auto"):
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
        self.distributed = distributed

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
                 tol=1e-4, checkpoint_path=None, device="cpu", random_state=None, verbose=0,
                 distributed="auto"):
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
        self.distributed = distributed

    def _module_kwargs(self, n_features, n_components):
        kw = super()._module_kwargs(n_features, n_components)
        kw.update(threshold_init=float(self.threshold_init),
                  bandwidth=float(self.bandwidth))
        return kw

    def _objective_kwargs(self, n_samples):
        return {"alpha": float(self.alpha)}

    def _after_training(self):
        self.threshold_ = (self._to_numpy(self.module_.jump_threshold, np.float64)
                           * self.scale_)


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
                 checkpoint_path=None, device="cpu", random_state=None, verbose=0,
                 distributed="auto"):
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
        self.distributed = distributed

    def _objective_kwargs(self, n_samples):
        return {"alpha": float(self.alpha), "sparsity_target": float(self.sparsity_target)}
