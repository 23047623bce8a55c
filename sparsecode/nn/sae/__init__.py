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

from .estimators import KLSAE, BaseSAE, BatchTopKSAE, JumpReLUSAE, ReLUSAE, TopKSAE
from .module import ACTIVATIONS, SparseAutoencoder, sae_metrics

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
