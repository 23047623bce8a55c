"""Applying the learned denoisers to images: :func:`denoise_learned` and the estimator
:class:`LearnedDenoiser`."""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator

from .._estimator import TorchEstimatorMixin
from ._io import MODELS, build_model, load_pretrained

__all__ = ["denoise_learned", "LearnedDenoiser", "check_noisy_image"]


def check_noisy_image(image):
    """Validate a noisy image: a finite real 2-D ``(H, W)`` or colour ``(H, W, 3)`` array.

    Returns ``(array, is_colour)``.
    """
    if image is None:
        raise TypeError("image must be a 2-D or (H, W, 3) array of numbers, got None.")
    arr = np.asarray(image)
    if arr.dtype.kind == "b" or arr.dtype.kind not in "fiu":
        raise TypeError(f"image must be a real numeric array, got dtype {arr.dtype}.")
    if arr.ndim == 3:
        if arr.shape[-1] != 3:
            raise ValueError(
                f"a colour image must have 3 channels (H, W, 3), got shape {arr.shape}; "
                "grayscale images are 2-D (H, W)."
            )
    elif arr.ndim != 2:
        raise ValueError(
            f"image must be 2-D (H, W) or colour (H, W, 3), got shape {arr.shape}."
        )
    if arr.size == 0:
        raise ValueError(f"image is empty (shape {arr.shape}).")
    if not np.isfinite(arr).all():
        raise ValueError("image contains NaN or infinity; all pixel values must be finite.")
    return arr, arr.ndim == 3


def _check_sigma(sigma):
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real):
        raise TypeError(f"sigma must be a positive float, got {sigma!r}.")
    sigma = float(sigma)
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive finite float, got {sigma}.")
    return sigma


@torch.no_grad()
def _apply(module, img01, device):
    """Denoise one 2-D float array in [0, 1]-ish with ``module``."""
    x = torch.as_tensor(np.ascontiguousarray(img01, dtype=np.float32), device=device)[None, None]
    module = module.to(device).eval()
    if hasattr(module, "patch_size"):  # Deep K-SVD: bound memory on large images
        out = module(x, chunk=16384)
    else:
        out = module(x)
    return out[0, 0].cpu().numpy().astype(np.float64)


def denoise_learned(image, sigma, *, model="cscnet", weights=None, module=None,
                    data_range=None, clip=True, device="cpu"):
    r"""Denoise an image (grayscale or RGB, per channel) with CSCnet or Deep K-SVD.

    Parameters
    ----------
    image : array-like of shape (H, W) or (H, W, 3)
        Noisy image; ``sigma`` and ``data_range`` are in its units.
    sigma : float
        Noise standard deviation (> 0). The model trained for the nearest noise level
        (on the 0-255 scale) is used, with a warning when it is not ``sigma``.
    model : {"cscnet", "deep-ksvd"}, default="cscnet"
    weights : str or Path, default=None
        A weights file written by ``sparsecode train-denoiser`` (instead of the shipped
        ones).
    module : nn.Module, default=None
        A trained :class:`CSCNet`/:class:`DeepKSVD` to use directly.
    data_range : float, default=None
        Intensity range of the clean image: None means the dtype's maximum for integer
        images, and for floats 1.0 if all values lie within [-2, 2], else 255.
    clip : bool, default=True
        Clip to ``[0, data_range]``.
    device : str, default="cpu"

    Returns
    -------
    denoised : ndarray of the shape and dtype of ``image``
    """
    from ...denoise._patch_denoise import _resolve_data_range

    arr, colour = check_noisy_image(image)
    sigma = _check_sigma(sigma)
    R = _resolve_data_range(arr, data_range)
    if module is None:
        if model not in MODELS:
            raise ValueError(f"model must be one of {sorted(MODELS)}, got {model!r}.")
        module, _ = load_pretrained(model, sigma * 255.0 / R, weights=weights)
    dev = torch.device(device)
    y = np.asarray(arr, dtype=np.float64) / R
    if colour:
        out = np.stack([_apply(module, y[..., c], dev) for c in range(3)], axis=-1)
    else:
        out = _apply(module, y, dev)
    out *= R
    if arr.dtype.kind in "iu":
        info = np.iinfo(arr.dtype)
        lo, hi = max(info.min, 0), min(info.max, R) if clip else info.max
        return np.clip(np.rint(out), lo, hi).astype(arr.dtype)
    if clip:
        np.clip(out, 0.0, R, out=out)
    return out.astype(arr.dtype, copy=False)


class LearnedDenoiser(TorchEstimatorMixin, BaseEstimator):
    """CSCnet / Deep K-SVD denoiser as an estimator.

    ``fit(X)`` trains on clean images ``X`` (a sequence of 2-D arrays with values in
    [0, 255]) with :func:`~sparsecode.nn.denoise.train_denoiser`; ``fit()`` without
    data loads the shipped weights for ``sigma``. ``predict(noisy)`` (alias
    ``transform``) denoises an image of the same scale (2-D or RGB).

    The samples here are whole images, not rows of a feature matrix, so the estimator
    is not run through scikit-learn's generic estimator checks.

    Parameters
    ----------
    model : {"cscnet", "deep-ksvd"}, default="cscnet"
    sigma : float, default=25
        Noise level on the 0-255 scale.
    schedule : {"cpu", "gpu"} or dict, default="cpu"
    n_steps : int or None, default=None
        Override the schedule's number of optimizer steps.
    device : str, default="cpu"
    random_state : int, default=0
    verbose : int, default=0
    distributed : {"auto", True, False}, default="auto"
        Data-parallel training over the ranks of ``torch.distributed`` (see
        :class:`~sparsecode.nn.Trainer`): ``"auto"`` under ``torchrun`` or inside an
        initialised process group of several ranks, ``True`` to require it, ``False``
        never. Every rank must be given the same data.

    Attributes
    ----------
    module_ : nn.Module
    info_ : dict
        What training (or loading) reported.
    """

    def __init__(self, model="cscnet", *, sigma=25.0, schedule="cpu", n_steps=None,
                 device="cpu", random_state=0, verbose=0, distributed="auto"):
        self.model = model
        self.sigma = sigma
        self.schedule = schedule
        self.n_steps = n_steps
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.distributed = distributed

    def _build_module(self, model, **config):
        return build_model(model, **config)

    def fit(self, X=None, y=None):
        from ._io import _config
        from .training import train_denoiser

        if self.model not in MODELS:
            raise ValueError(f"model must be one of {sorted(MODELS)}, got {self.model!r}.")
        sigma = _check_sigma(self.sigma)
        if X is None:
            module, info = load_pretrained(self.model, sigma)
        else:
            images = []
            for im in X:
                a, colour = check_noisy_image(im)
                if colour:
                    raise ValueError("training images must be grayscale (H, W).")
                images.append(np.asarray(a, dtype=np.float32) / 255.0)
            seed = int(self.random_state or 0)
            module, info = train_denoiser(
                self.model, sigma, data=images, schedule=self.schedule, seed=seed,
                n_val_images=max(1, len(images) // 8), n_steps=self.n_steps,
                distributed=self.distributed,
                device=self._resolve_device(), verbose=self.verbose)
        self.module_ = module.to(self._resolve_device())
        self._module_kwargs_ = {"model": self.model, **_config(module)}
        self._module_dtype_ = "float32"
        self.info_ = info
        return self

    def predict(self, X):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "module_")
        return denoise_learned(X, self.sigma, module=self.module_, data_range=255.0,
                               device=self._module_device)

    transform = predict
