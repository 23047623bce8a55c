r"""Training recipe of the learned denoisers on a folder of clean images (Train400).

The recipe (:func:`train_denoiser`):

1. Read the images (``$SPARSECODE_DATA/Train400`` or a folder given), scale to [0, 1];
   hold out the last ``n_val_images`` for validation.
2. Draw ``n_crops`` random ``crop_size`` crops (seeded), each with a random flip and
   rotation by a multiple of 90°; 16 validation crops with *fixed* noise.
3. Build the model at its ISTA initialisation and **calibrate** its initial penalty: the
   :math:`\lambda` of a small grid (times :math:`\sigma`) with the best validation PSNR of
   the untrained network (so step 0 is already the best ISTA denoiser of that family).
4. Train with the shared :class:`~sparsecode.nn._training.Trainer` (Adam) for
   ``n_steps`` steps on the MSE against the clean crop, fresh noise of standard
   deviation :math:`\sigma/255` drawn at every step; CSCnet averages ``train_shifts``
   random shifts per step (all ``stride**2`` at test time). The weights of the best
   validation epoch are kept (the calibrated initialisation counts as epoch 0).

Everything is seeded: the same arguments give the same weights on the same machine and
thread count (``torch.set_num_threads(1)`` in the command line).
"""

from __future__ import annotations

import copy
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from .._training import Trainer
from ._io import build_model

__all__ = ["train_denoiser", "load_image_folder", "random_crops", "SCHEDULES",
           "default_data_folder"]

#: The CPU schedules (the shipped weights: about 80 s of CPU of one thread per model,
#: cut from a planned 5 minutes because the shared machine was heavily loaded)
#: and the reference GPU schedule; any key can be overridden.
SCHEDULES = {
    "cpu": {
        "cscnet": {"n_steps": 300, "batch_size": 8, "crop_size": 40, "n_crops": 800,
                   "learning_rate": 3e-4, "train_shifts": 4, "val_shifts": 16},
        "deep-ksvd": {"n_steps": 500, "batch_size": 8, "crop_size": 32, "n_crops": 800,
                      "learning_rate": 3e-4},
    },
    "gpu": {  # the papers' order of magnitude; not run on the CPU
        "cscnet": {"n_steps": 150000, "batch_size": 32, "crop_size": 64, "n_crops": 128000,
                   "learning_rate": 2e-4, "train_shifts": 64, "val_shifts": 64},
        "deep-ksvd": {"n_steps": 150000, "batch_size": 16, "crop_size": 64,
                      "n_crops": 128000, "learning_rate": 1e-4},
    },
}

#: Calibration grid of the initial penalty, in units of sigma (intensities in [0, 1]).
LAM_GRID = {"cscnet": (0.25, 0.5, 0.75, 1.0, 1.5, 2.0), "deep-ksvd": (0.25, 0.5, 0.75, 1.0,
                                                                    1.5, 2.0)}


def default_data_folder():
    """``$SPARSECODE_DATA/Train400`` or None."""
    root = os.environ.get("SPARSECODE_DATA")
    return Path(root) / "Train400" if root else None


def load_image_folder(folder):
    """All images of ``folder`` (sorted by name) as float32 arrays in [0, 1]."""
    from ...image.io import read_image

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"training data folder not found: {folder}")
    exts = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in exts)
    if not files:
        raise ValueError(f"no images (png/jpg/bmp/tif) in {folder}")
    return [(read_image(p) / 255.0).astype(np.float32) for p in files]


def random_crops(images, n_crops, crop_size, rng):
    """``(n_crops, 1, crop_size, crop_size)`` float32 tensor of random crops (with a
    random flip and rotation) of the 2-D arrays ``images``."""
    out = np.empty((n_crops, 1, crop_size, crop_size), dtype=np.float32)
    usable = [im for im in images if min(im.shape) >= crop_size]
    if not usable:
        raise ValueError(f"no training image is at least {crop_size}x{crop_size}.")
    for n in range(n_crops):
        im = usable[rng.integers(len(usable))]
        r = rng.integers(im.shape[0] - crop_size + 1)
        c = rng.integers(im.shape[1] - crop_size + 1)
        crop = im[r:r + crop_size, c:c + crop_size]
        crop = np.rot90(crop, int(rng.integers(4)))
        if rng.integers(2):
            crop = crop[:, ::-1]
        out[n, 0] = crop
    return torch.from_numpy(out)


def _psnr(clean, est):
    mse = torch.mean((clean - est) ** 2, dim=(1, 2, 3)).clamp_min(1e-12)
    return float(torch.mean(10 * torch.log10(1.0 / mse)))


def train_denoiser(model="cscnet", sigma=25, *, data=None, schedule="cpu", seed=0,
                   n_val_images=16, verbose=0, log=None, distributed="auto", **overrides):
    r"""Train a CSCnet or Deep K-SVD denoiser for Gaussian noise of level ``sigma``.

    Parameters
    ----------
    model : {"cscnet", "deep-ksvd"}
    sigma : float
        Noise standard deviation on the 0-255 scale (> 0).
    data : str, Path or list of 2-D arrays, default=None
        Folder of clean training images, or the images (values in [0, 1]); default
        ``$SPARSECODE_DATA/Train400``.
    schedule : {"cpu", "gpu"} or dict, default="cpu"
        A named schedule of :data:`SCHEDULES` or a dict of its keys; ``overrides``
        (``n_steps``, ``batch_size``, ``crop_size``, ``n_crops``, ``learning_rate``,
        ``train_shifts``, ``val_shifts``, ``device``) replace single entries.
    seed : int, default=0
    n_val_images : int, default=16
        The last images of the folder, held out for validation and calibration.
    verbose : int, default=0
    log : callable or None
        Called with one line of text per stage (the command line prints them).

    Returns
    -------
    module : nn.Module
        The trained :class:`CSCNet` or :class:`DeepKSVD` (eval mode, on the CPU).
    info : dict
        ``lam`` (the calibrated initial penalty), ``val_psnr_init``, ``val_psnr``,
        ``history`` (the Trainer's), ``seconds``, ``schedule`` (the resolved one).
    """
    if model not in ("cscnet", "deep-ksvd"):
        raise ValueError(f"model must be 'cscnet' or 'deep-ksvd', got {model!r}.")
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not (
            math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive number (0-255 scale), got {sigma!r}.")
    if isinstance(schedule, str):
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {sorted(SCHEDULES)} or a dict, "
                             f"got {schedule!r}.")
        sched = dict(SCHEDULES[schedule][model])
    else:
        sched = dict(schedule)
    device = torch.device(overrides.pop("device", "cpu"))
    unknown = set(overrides) - {"n_steps", "batch_size", "crop_size", "n_crops",
                                "learning_rate", "train_shifts", "val_shifts"}
    if unknown:
        raise TypeError(f"unknown schedule keys: {sorted(unknown)}")
    sched.update({k: v for k, v in overrides.items() if v is not None})
    say = log or (lambda line: None)
    t0, c0 = time.perf_counter(), time.process_time()

    if data is None:
        data = default_data_folder()
        if data is None:
            raise ValueError("no training data: pass data= (a folder of clean images) "
                             "or set SPARSECODE_DATA to a folder holding Train400/.")
    images = load_image_folder(data) if isinstance(data, (str, os.PathLike)) else [
        np.asarray(im, dtype=np.float32) for im in data]
    if len(images) <= n_val_images:
        raise ValueError(f"need more than n_val_images={n_val_images} images, got "
                         f"{len(images)}.")
    train_imgs, val_imgs = images[:-n_val_images], images[-n_val_images:]
    rng = np.random.default_rng([seed, int(round(sigma * 100))])
    crops = random_crops(train_imgs, sched["n_crops"], sched["crop_size"], rng)
    val_size = max(sched["crop_size"], min(48, min(min(im.shape) for im in val_imgs)))
    val_clean = random_crops(val_imgs, 16, val_size, rng)
    s = float(sigma) / 255.0
    g = torch.Generator().manual_seed(int(rng.integers(2**31 - 1)))
    val_noisy = val_clean + s * torch.randn(val_clean.shape, generator=g)
    val_clean, val_noisy = val_clean.to(device), val_noisy.to(device)

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(int(rng.integers(2**31 - 1)))
        module = build_model(model).to(device)
        if model == "cscnet":
            n_shifts = module.stride ** 2
            val_shifts = sorted(rng.choice(n_shifts, min(sched["val_shifts"], n_shifts),
                                           replace=False).tolist())

            def run(m, x):
                return m(x, shifts=val_shifts)
        else:
            def run(m, x):
                return m(x)

        @torch.no_grad()
        def val_psnr(m):
            was = m.training
            m.eval()
            out = torch.cat([run(m, val_noisy[i:i + 4]) for i in range(0, 16, 4)])
            m.train(was)
            return _psnr(val_clean, out)

        # 3. calibrate the initial penalty on the validation crops
        scores = {}
        for c in LAM_GRID[model]:
            module.set_lam(c * s)
            scores[c] = val_psnr(module)
        c_best = max(scores, key=scores.get)
        lam = c_best * s
        module.set_lam(lam)
        psnr0 = scores[c_best]
        say(f"{model} sigma={sigma:g}: calibrated lam = {c_best:g} sigma "
            f"(validation PSNR of the ISTA initialisation {psnr0:.2f} dB; grid "
            + ", ".join(f"{k:g}:{v:.2f}" for k, v in scores.items()) + ")")

        # 4. train
        def loss_fn(m, xb):
            noisy = xb + s * torch.randn_like(xb)
            if model == "cscnet":
                k = sched["train_shifts"]
                shifts = torch.randperm(n_shifts, device="cpu")[:k].tolist()
                out = m(noisy, shifts=shifts)
            else:
                out = m(noisy)
            mse = torch.mean((out - xb) ** 2)
            return mse, {"psnr": -10 * torch.log10(mse.detach())}

        n_steps = int(sched["n_steps"])
        steps_per_epoch = max(1, sched["n_crops"] // sched["batch_size"])
        n_epochs = max(1, math.ceil(n_steps / steps_per_epoch))
        best = {"score": -psnr0, "state": copy.deepcopy(module.state_dict())}

        class _KeepBest:  # validation every epoch (and at the end of a partial epoch)
            def on_epoch_end(self, trainer, record):
                p = val_psnr(trainer.module)
                record["val_psnr"] = p
                if -p < best["score"]:
                    best["score"], best["state"] = -p, copy.deepcopy(
                        trainer.module.state_dict())
                say(f"  epoch {record['epoch']} step {record['step']}: train PSNR "
                    f"{record.get('psnr', float('nan')):.2f}, validation {p:.2f} dB "
                    f"({time.perf_counter() - t0:.0f} s, {time.process_time() - c0:.0f} s CPU)")

        trainer = Trainer(loss_fn, learning_rate=sched["learning_rate"],
                          batch_size=sched["batch_size"], max_iter=n_epochs,
                          max_steps=n_steps, callbacks=[_KeepBest()], device=device,
                          generator=torch.Generator().manual_seed(seed), verbose=verbose,
                          desc=f"{model} sigma={sigma:g}", distributed=distributed)
        history = trainer.fit(module, crops.to(device))
        module.load_state_dict(best["state"])
    module = module.cpu().eval()
    info = {"lam": lam, "lam_over_sigma": c_best, "val_psnr_init": psnr0,
            "val_psnr": -best["score"], "history": history,
            "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
            "schedule": sched, "seed": seed,
            "n_train_images": len(train_imgs)}
    say(f"{model} sigma={sigma:g}: validation PSNR {psnr0:.2f} -> {info['val_psnr']:.2f} dB "
        f"in {info['seconds']:.0f} s ({info['cpu_seconds']:.0f} s of CPU)")
    return module, info
