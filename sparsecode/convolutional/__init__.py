"""Convolutional sparse coding and convolutional dictionary learning.

:func:`cbpdn` solves convolutional basis pursuit denoising for 2-D images and batches
of them, by FFT-domain ADMM (Wohlberg 2016) or FISTA, on NumPy arrays (``scipy.fft`` and
Numba kernels) or torch tensors (``torch.fft``, differentiable, CUDA), with optional
non-negativity and a mask of missing pixels. :func:`convolve` and
:func:`convolve_adjoint` are the synthesis operator and its adjoint,
:func:`cbpdn_objective` the objective. :func:`conv_dict_learning` and the estimator
:class:`ConvolutionalDictionaryLearning` learn the filters from a set of images
(``components_`` of shape ``(n_components, h, w)``; draw them with
:func:`sparsecode.dictionary.plot_dictionary`). torch is imported only when a tensor is given.
"""

from ._cbpdn import CBPDNInfo, cbpdn, cbpdn_objective, convolve, convolve_adjoint
from ._cdl import CDLInfo, ConvolutionalDictionaryLearning, conv_dict_learning

__all__ = [
    "CBPDNInfo",
    "CDLInfo",
    "ConvolutionalDictionaryLearning",
    "cbpdn",
    "cbpdn_objective",
    "conv_dict_learning",
    "convolve",
    "convolve_adjoint",
]
