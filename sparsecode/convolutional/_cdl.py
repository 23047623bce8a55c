r"""Convolutional dictionary learning: interleaved ADMM sparse coding and consensus
dictionary updates in the Fourier domain.

Solves

.. math::

    \min_{\{d_m\}, \{z_{k,m}\}} \; \tfrac12 \sum_k \Big\|x_k - \sum_m d_m * z_{k,m}\Big\|_2^2
    + \alpha \sum_{k,m} \|z_{k,m}\|_1 \quad\text{s.t.}\quad d_m \in C =
    \{\operatorname{supp} d \subseteq h\times w,\ \|d\|_2 \le 1\ (\text{and } \textstyle
    \sum d = 0)\},

alternating, at every iteration, one ADMM iteration of convolutional sparse coding
(:func:`._cbpdn._admm_iterations`, warm-started) with one iteration of the consensus ADMM
dictionary update of Šorel & Šroubek (2016) and Wohlberg (2016, Sec. V): every image
keeps its own copy :math:`\hat d_k` of the dictionary, solved per frequency by
Sherman–Morrison, and the copies are tied by the projection of their average onto
:math:`C`. The scaled duals stay in the Fourier domain (the update is linear), so one
iteration costs two batched FFTs of all the coefficient maps and two of the dictionary.
The dictionary step uses the transform of the ADMM primal coefficient maps that the
sparse-coding step has just computed (the maps and their sparse copy agree at
convergence), which saves a third batched FFT.

References
----------
B. Wohlberg, "Efficient algorithms for convolutional sparse representations",
IEEE Trans. Image Process. 25(1), 301-315 (2016), doi:10.1109/TIP.2015.2495260.
M. Šorel, F. Šroubek, "Fast convolutional sparse coding using matrix inversion lemma",
Digital Signal Processing 55, 44-51 (2016), doi:10.1016/j.dsp.2016.04.012.
C. Garcia-Cardona, B. Wohlberg, "Convolutional dictionary learning: a comparative review
and new algorithms", IEEE Trans. Comput. Imaging 4(3), 366-381 (2018),
doi:10.1109/TCI.2018.2840334.
"""

from __future__ import annotations

import math
import numbers
from collections import namedtuple

import numpy as np
import scipy.fft as sfft
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._jit import num_threads
from ..kernels import convolutional as K
from ..utils._validation import check_bool, check_positive_int, check_random_state
from ._cbpdn import (
    _admm_iterations,
    _ADMMState,
    _check_alpha_positive,
    _check_positive_float,
    _objective,
    _workers,
    cbpdn,
    check_filters,
    check_images,
    convolve,
)

CDLInfo = namedtuple("CDLInfo", ["n_iter", "objective", "rho", "dict_rho"])
CDLInfo.__doc__ = """Report of :func:`conv_dict_learning`.

Attributes
----------
n_iter : int
objective : float
    Final objective (summed over the images) of the returned filters and maps.
rho, dict_rho : float
    Final penalties of the sparse-coding and dictionary ADMMs.
"""


def check_kernel_size(kernel_size, image_shape=None):
    if isinstance(kernel_size, numbers.Integral) and not isinstance(kernel_size, bool):
        kernel_size = (int(kernel_size), int(kernel_size))
    try:
        h, w = (int(v) for v in kernel_size)
        ok = all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                 for v in kernel_size)
    except (TypeError, ValueError):
        ok = False
    if not ok or h < 1 or w < 1:
        raise ValueError(f"kernel_size must be a positive int or a pair (h, w) of positive "
                         f"ints, got {kernel_size!r}.")
    if image_shape is not None and (h > image_shape[0] or w > image_shape[1]):
        raise ValueError(f"kernel_size {(h, w)} is larger than the images "
                         f"{tuple(image_shape)}; each filter must fit in the image.")
    return h, w


def project_filters(G, zero_mean=False):
    """Projection onto :math:`\\{\\|d\\|_2 \\le 1\\}` (after removing the mean), per filter."""
    if zero_mean:
        G = G - G.mean(axis=(1, 2), keepdims=True)
    norms = np.sqrt(np.einsum("mij,mij->m", G, G))
    return G / np.maximum(norms, 1.0)[:, None, None]


def _pad_fft(G, image_shape, workers):
    H, W = image_shape
    pad = np.zeros((G.shape[0], H, W), dtype=G.dtype)
    pad[:, : G.shape[1], : G.shape[2]] = G
    return sfft.rfft2(pad, workers=workers)


def _rfft_norm2(A, W):
    """Squared l2 norm of the signal whose ``rfft2`` (last axis of length ``W``) is ``A``."""
    F = A.shape[-1]
    w = np.full(F, 2.0)
    w[0] = 1.0
    if W % 2 == 0:
        w[-1] = 1.0
    H = A.shape[-2]
    return float(((A.real ** 2 + A.imag ** 2) @ w).sum()) / (H * W)


def conv_dict_learning(X, n_components, kernel_size, alpha, *, max_iter=200, init="random",
                       zero_mean=False, positive=False, rho=None, dict_rho=None,
                       relaxation=1.8, random_state=None, n_jobs=None, callback=None,
                       return_info=False):
    r"""Learn convolutional filters from images (consensus ADMM, interleaved updates).

    .. math::

        \min_{d, z} \; \tfrac12 \sum_k \Big\|x_k - \sum_m d_m * z_{k,m}\Big\|_2^2
        + \alpha \sum_{k,m} \|z_{k,m}\|_1 \quad\text{s.t.}\quad
        \operatorname{supp} d_m \subseteq h\times w,\ \|d_m\|_2 \le 1,

    with circular convolution (see :func:`cbpdn`).

    Parameters
    ----------
    X : array-like of shape (n_samples, H, W)
        Training images (typically high-pass filtered, as in SPORCO's examples).
    n_components : int
        Number of filters.
    kernel_size : int or (int, int)
        Filter size ``(h, w)``.
    alpha : float
        Positive l1 weight.
    max_iter : int, default=200
        Outer iterations (one sparse-coding and one dictionary ADMM iteration each).
    init : {"random", "data"} or array-like of shape (n_components, h, w), default="random"
        Initial filters: Gaussian, random patches of ``X``, or given.
    zero_mean : bool, default=False
        Constrain the filters to zero mean.
    positive : bool, default=False
        Non-negative coefficient maps.
    rho, dict_rho : float, default=None
        Initial penalties (``50 alpha + 0.5`` and ``10``).
    relaxation : float in (0, 2), default=1.8
    random_state : int, RandomState instance or None, default=None
    n_jobs : int, default=None
        FFT and kernel threads.
    callback : callable, default=None
        Called as ``callback(iteration, filters)`` after every iteration; returning True
        stops.
    return_info : bool, default=False

    Returns
    -------
    filters : ndarray of shape (n_components, h, w)
    maps : ndarray of shape (n_samples, n_components, H, W)
    info : CDLInfo
        Only with ``return_info=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.convolutional import conv_dict_learning
    >>> X = np.random.default_rng(0).standard_normal((2, 32, 32))
    >>> D, Z = conv_dict_learning(X, 4, 5, alpha=0.5, max_iter=10, random_state=0)
    >>> D.shape, Z.shape
    ((4, 5, 5), (2, 4, 32, 32))
    """
    X3, _ = check_images(X)
    n, H, W = X3.shape
    dtype = X3.dtype
    n_components = check_positive_int(n_components, "n_components")
    h, w = check_kernel_size(kernel_size, (H, W))
    alpha = _check_alpha_positive(alpha)
    max_iter = check_positive_int(max_iter, "max_iter", minimum=0)
    zero_mean = check_bool(zero_mean, "zero_mean")
    positive = check_bool(positive, "positive")
    return_info = check_bool(return_info, "return_info")
    rho = 50.0 * alpha + 0.5 if rho is None else _check_positive_float(rho, "rho")
    sigma = 10.0 if dict_rho is None else _check_positive_float(dict_rho, "dict_rho")
    relaxation = _check_positive_float(relaxation, "relaxation")
    if relaxation >= 2.0:
        raise ValueError(f"relaxation must be in (0, 2), got {relaxation}.")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None, got {callback!r}.")
    rng = check_random_state(random_state)
    if isinstance(init, str):
        if init == "random":
            G = rng.standard_normal((n_components, h, w))
        elif init == "data":
            idx = rng.randint(0, n, n_components)
            r0 = rng.randint(0, H - h + 1, n_components)
            c0 = rng.randint(0, W - w + 1, n_components)
            G = np.stack([X3[i, a:a + h, b:b + w] for i, a, b in zip(idx, r0, c0)])
            G = G.astype(np.float64) + 1e-3 * rng.standard_normal(G.shape)
        else:
            raise ValueError(f"init must be 'random', 'data' or an array, got {init!r}.")
    else:
        G = check_filters(init, (H, W), dtype=np.float64, name="init")
        if G.shape != (n_components, h, w):
            raise ValueError(f"init must have shape (n_components, h, w) = "
                             f"{(n_components, h, w)}, got {G.shape}.")
    G = project_filters(np.asarray(G, dtype=np.float64), zero_mean).astype(dtype)
    workers = _workers(n_jobs)
    K_ = n
    with num_threads(n_jobs):
        Sh = sfft.rfft2(X3, workers=workers)
        Gh = _pad_fft(G, (H, W), workers)
        Hh = np.zeros((K_, n_components) + Gh.shape[1:], dtype=Gh.dtype)
        avg = np.empty_like(Gh)
        state = _ADMMState((K_, n_components, H, W), dtype, rho)
        it = 0
        for it in range(1, max_iter + 1):
            # sparse coding: one warm-started ADMM iteration with the current filters
            _admm_iterations(state, Sh, Gh, alpha, max_iter=1, tol=0.0, relax=relaxation,
                             positive=positive, auto_rho=True, mask=None, workers=workers)
            check = it % 10 == 0
            if check:
                H_old = Hh.copy()
                G_old = G
            # dictionary: one consensus-ADMM iteration
            K.consensus_dstep(state.Xh, Sh, Gh, Hh, dtype.type(sigma),
                              dtype.type(relaxation), avg)
            G = project_filters(sfft.irfft2(avg, s=(H, W), workers=workers)[:, :h, :w],
                                zero_mean).astype(dtype, copy=False)
            Gh = _pad_fft(G, (H, W), workers)
            Hh -= Gh[None]
            if check:  # penalty of the dictionary ADMM: residual balancing (Boyd et al.)
                r = math.sqrt(_rfft_norm2(Hh - H_old, W)) / max(
                    math.sqrt(K_) * float(np.linalg.norm(G)), 1e-30)
                s = math.sqrt(K_) * float(np.linalg.norm(G - G_old)) / max(
                    math.sqrt(_rfft_norm2(Hh, W)), 1e-30)
                if r > 10.0 * s:
                    sigma *= 2.0
                    Hh *= 0.5
                elif s > 10.0 * r:
                    sigma *= 0.5
                    Hh *= 2.0
            if callback is not None and callback(it, G):
                break
        Z = state.Y
        if not return_info:
            return G, Z
        obj = float(_objective(X3.astype(np.float64), Z.astype(np.float64),
                               _pad_fft(G.astype(np.float64), (H, W), workers), alpha, None,
                               workers).sum())
    return G, Z, CDLInfo(it if max_iter else 0, obj, state.rho, sigma)


# --------------------------------------------------------------------------- estimator


class ConvolutionalDictionaryLearning(TransformerMixin, BaseEstimator):
    r"""Convolutional dictionary learning over a set of images.

    Learns ``n_components`` filters of size ``kernel_size`` by
    :func:`conv_dict_learning`,

    .. math::

        \min_{d, z} \; \tfrac12 \sum_k \Big\|x_k - \sum_m d_m * z_{k,m}\Big\|_2^2
        + \alpha \sum_{k,m} \|z_{k,m}\|_1 \quad\text{s.t.}\quad \|d_m\|_2 \le 1,

    and codes new images by :func:`cbpdn` over them. Samples are images: ``X`` has
    shape ``(n_samples, H, W)``, codes ``(n_samples, n_components, H, W)`` and
    ``components_`` ``(n_components, h, w)``; ``inverse_transform(transform(X))``
    approximates ``X``. Images of any size can be transformed once fitted.

    Parameters
    ----------
    n_components : int, default=32
        Number of filters.
    kernel_size : int or (int, int), default=8
        Filter size.
    alpha : float, default=0.1
        Positive l1 weight (fit and transform).
    max_iter : int, default=200
        Dictionary-learning iterations.
    init : {"random", "data"} or array-like of shape (n_components, h, w), default="random"
    zero_mean : bool, default=False
        Zero-mean filters.
    positive : bool, default=False
        Non-negative coefficient maps.
    transform_method : {"admm", "fista"}, default="admm"
    transform_max_iter : int, default=500
    transform_tol : float, default=1e-3
    random_state : int, RandomState instance or None, default=None
    n_jobs : int, default=None
        Threads of the FFTs and kernels (None: all cores).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, h, w)
        Learned filters (l2 norm at most 1).
    n_iter_ : int
    objective_ : float
        Final training objective (summed over the training images).
    image_shape_ : tuple of int
        ``(H, W)`` of the training images.

    References
    ----------
    B. Wohlberg (2016), doi:10.1109/TIP.2015.2495260.
    C. Garcia-Cardona, B. Wohlberg (2018), doi:10.1109/TCI.2018.2840334.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.convolutional import ConvolutionalDictionaryLearning
    >>> X = np.random.default_rng(0).standard_normal((3, 32, 32))
    >>> cdl = ConvolutionalDictionaryLearning(4, kernel_size=5, alpha=0.5, max_iter=10,
    ...                                       random_state=0).fit(X)
    >>> cdl.components_.shape, cdl.transform(X).shape
    ((4, 5, 5), (3, 4, 32, 32))
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
        "kernel_size": [Interval(numbers.Integral, 1, None, closed="left"), tuple, list],
        "alpha": [Interval(numbers.Real, 0, None, closed="neither")],
        "max_iter": [Interval(numbers.Integral, 0, None, closed="left")],
        "init": [StrOptions({"random", "data"}), "array-like"],
        "zero_mean": ["boolean"],
        "positive": ["boolean"],
        "transform_method": [StrOptions({"admm", "fista"})],
        "transform_max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "transform_tol": [Interval(numbers.Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "n_jobs": [numbers.Integral, None],
    }

    def __init__(self, n_components=32, *, kernel_size=8, alpha=0.1, max_iter=200,
                 init="random", zero_mean=False, positive=False, transform_method="admm",
                 transform_max_iter=500, transform_tol=1e-3, random_state=None,
                 n_jobs=None):
        self.n_components = n_components
        self.kernel_size = kernel_size
        self.alpha = alpha
        self.max_iter = max_iter
        self.init = init
        self.zero_mean = zero_mean
        self.positive = positive
        self.transform_method = transform_method
        self.transform_max_iter = transform_max_iter
        self.transform_tol = transform_tol
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.allow_nan = False
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags

    def fit(self, X, y=None):
        """Learn the filters from images ``X (n_samples, H, W)``; returns ``self``."""
        self._validate_params()
        X3, _ = check_images(X)
        G, _, info = conv_dict_learning(
            X3, self.n_components, self.kernel_size, self.alpha, max_iter=self.max_iter,
            init=self.init, zero_mean=self.zero_mean, positive=self.positive,
            random_state=self.random_state, n_jobs=self.n_jobs, return_info=True)
        self.components_ = G
        self.n_iter_ = info.n_iter
        self.objective_ = info.objective
        self.image_shape_ = X3.shape[1:]
        return self

    def transform(self, X):
        """Coefficient maps of images ``X (n_samples, H, W)`` over ``components_``.

        Returns
        -------
        codes : ndarray of shape (n_samples, n_components, H, W)
            In ``X``'s dtype (float32 or float64).
        """
        check_is_fitted(self)
        X3, _ = check_images(X)
        return cbpdn(X3, self.components_.astype(X3.dtype, copy=False), self.alpha,
                     method=self.transform_method, max_iter=self.transform_max_iter,
                     tol=self.transform_tol, positive=self.positive, n_jobs=self.n_jobs)

    def inverse_transform(self, X):
        """Images from coefficient maps ``(n_samples, n_components, H, W)``:
        :math:`\\sum_m d_m * z_m`."""
        check_is_fitted(self)
        Z = np.asarray(X)
        if Z.ndim != 4 or Z.shape[1] != self.components_.shape[0]:
            raise ValueError(f"codes must have shape (n_samples, {self.components_.shape[0]}, "
                             f"H, W), got {Z.shape}.")
        dtype = Z.dtype if Z.dtype in (np.float32, np.float64) else np.float64
        return convolve(Z.astype(dtype, copy=False),
                        self.components_.astype(dtype, copy=False), n_jobs=self.n_jobs)
