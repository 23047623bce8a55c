"""A small, generic training loop for the torch models of the library.

Shared by the sparse autoencoders (:mod:`sparsecode.nn.sae`), the unrolled networks
(LISTA and relatives) and anything pruned with :mod:`sparsecode.nn.prune`.

What it does, and nothing more: Adam (or SGD) over shuffled mini-batches of tensors that
fit in memory, a tqdm progress bar (``verbose``), per-epoch history of the loss and of any
metric the loss function reports, validation and early stopping (best weights restored),
checkpoints that resume exactly (module, optimizer, RNG and history), callbacks for
what a model must do around an optimizer step (projection of gradients, renormalisation,
pruning masks), and data-parallel training under ``torch.distributed``.

Distributed training
--------------------
Launched by ``torchrun --nproc_per_node=N script.py`` (or with a process group the caller
initialised and ``distributed=True``), the loop wraps the model in
:class:`~torch.nn.parallel.DistributedDataParallel` (gloo on CPU, nccl on CUDA), gives
every rank its share of each global batch of ``batch_size`` samples (the shuffling
generator is broadcast from rank 0, so all ranks cut the same permutation), reduces the
epoch metrics and the validation loss over the ranks, so early stopping decides the same
everywhere, and shows progress, writes checkpoints and warns on rank 0 only. The
parameters after training equal those of one process with the same ``batch_size`` and
seed, up to the order of floating-point sums (see :mod:`sparsecode.nn._distributed`).
Losses that couple the samples of a batch (BatchTopK's batch-wide top-k, running
statistics kept by callbacks) see each rank's share of the batch instead.

Usage
-----
::

    def loss_fn(module, xb):             # one tensor per array given to fit
        x_hat = module(xb)
        mse = ((x_hat - xb) ** 2).sum(-1).mean()
        return mse, {"mse": mse}         # (scalar loss, metrics averaged per epoch)

    trainer = Trainer(loss_fn, learning_rate=1e-3, batch_size=64, max_iter=20,
                      early_stopping=True, generator=torch.Generator().manual_seed(0))
    history = trainer.fit(module, X_tensor, validation=(X_val_tensor,))

Callbacks are objects with any of the methods ``on_train_begin(trainer)``,
``before_step(trainer)`` (after ``backward``, before ``optimizer.step``),
``after_step(trainer)``, ``on_epoch_end(trainer, record)`` and ``on_train_end(trainer)``.
During training ``trainer.module``, ``trainer.optimizer``, ``trainer.step`` (optimizer
steps done), ``trainer.epoch``, ``trainer.batch`` (the current tuple of tensors) and
``trainer.last_metrics`` are available to them.
"""

from __future__ import annotations

import copy
import math
import os
import warnings

import torch
from sklearn.exceptions import ConvergenceWarning

from ._distributed import resolve_distributed, wrap_ddp

__all__ = ["Trainer", "OPTIMIZERS"]

#: Optimizers by name.
OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}


def _to_float(v):
    if torch.is_tensor(v):
        return float(v.detach().float().mean().cpu())
    return float(v)


class Trainer:
    """Mini-batch training with early stopping, checkpoints and callbacks.

    Parameters
    ----------
    loss_fn : callable ``(module, *batch) -> (loss, metrics)``
        ``loss`` a scalar tensor to minimise, ``metrics`` a dict of floats/tensors
        (averaged over the epoch, weighted by batch size, stored in the history).
        A bare tensor may be returned instead of the pair.
    optimizer : {"adam", "adamw", "sgd"}, default="adam"
    learning_rate : float, default=1e-3
    weight_decay : float, default=0.0
    batch_size : int, default=256
    max_iter : int, default=10
        Number of epochs.
    max_steps : int or None, default=None
        Stop after this many optimizer steps (also counted across resumes).
    early_stopping : bool, default=False
        Stop when the validation loss has not improved by more than ``tol`` (relative)
        for ``n_iter_no_change`` epochs; the best weights are restored. Needs
        ``validation`` in :meth:`fit`.
    n_iter_no_change : int, default=10
    tol : float, default=1e-4
    validation_fn : callable ``(module, *val_tensors) -> float`` or None
        Validation score (lower is better). Default: ``loss_fn`` under ``no_grad``
        averaged over batches.
    callbacks : sequence of objects, default=()
    checkpoint_path : str or None, default=None
        Save a checkpoint there every ``checkpoint_every`` epochs and at the end. When
        the file exists at :meth:`fit`, training *resumes* from it (module, optimizer,
        shuffling RNG, history, early-stopping state).
    checkpoint_every : int, default=1
    device : torch.device or str, default="cpu"
        Where the batches are moved (the module must already be there).
    generator : torch.Generator or None
        CPU generator for shuffling (seeded by the caller for reproducibility).
    verbose : int, default=0
        > 0: a tqdm bar over epochs with the last metrics.
    desc : str, default="train"
        Progress-bar label.
    grad_clip : float or None, default=None
        Clip the global gradient norm.
    distributed : {"auto", True, False}, default="auto"
        Data-parallel training over the ranks of ``torch.distributed``. ``"auto"``:
        when a process group of more than one rank is initialised or the script was
        launched by ``torchrun`` (the group is then initialised, gloo on CPU, nccl on
        CUDA); ``True``: required (a ValueError without a process group); ``False``:
        never. ``batch_size`` is the global batch, split over the ranks.
    """

    def __init__(self, loss_fn, *, optimizer="adam", learning_rate=1e-3, weight_decay=0.0,
                 batch_size=256, max_iter=10, max_steps=None, early_stopping=False,
                 n_iter_no_change=10, tol=1e-4, validation_fn=None, callbacks=(),
                 checkpoint_path=None, checkpoint_every=1, device="cpu", generator=None,
                 verbose=0, desc="train", grad_clip=None, distributed="auto"):
        if optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}."
            )
        self.loss_fn = loss_fn
        self.optimizer_name = optimizer
        self.learning_rate = float(learning_rate)
        self.weight_decay = float(weight_decay)
        self.batch_size = int(batch_size)
        self.max_iter = int(max_iter)
        self.max_steps = max_steps
        self.early_stopping = bool(early_stopping)
        self.n_iter_no_change = int(n_iter_no_change)
        self.tol = float(tol)
        self.validation_fn = validation_fn
        self.callbacks = list(callbacks)
        self.checkpoint_path = checkpoint_path
        self.checkpoint_every = max(1, int(checkpoint_every))
        self.device = torch.device(device)
        self.generator = generator if generator is not None else torch.Generator()
        self.verbose = verbose
        self.desc = desc
        self.grad_clip = grad_clip
        if distributed not in ("auto", True, False):
            raise ValueError(
                f"distributed must be 'auto', True or False, got {distributed!r}."
            )
        self.distributed = distributed

    # ------------------------------------------------------------------ helpers
    def _call(self, hook, *args):
        for cb in self.callbacks:
            fn = getattr(cb, hook, None)
            if fn is not None:
                fn(self, *args)

    def _split(self, out):
        if isinstance(out, tuple):
            loss, metrics = out
        else:
            loss, metrics = out, {}
        return loss, metrics

    @torch.no_grad()
    def _validate(self, module, tensors):
        ctx = self._ctx
        if self.validation_fn is not None:
            score = float(self.validation_fn(module, *tensors))
            return score if ctx is None else ctx.broadcast_object(score)
        was = module.training
        module.eval()
        n = tensors[0].shape[0]
        if ctx is not None:  # every rank validates its share, the sums are reduced
            tensors = tuple(t[ctx.rank::ctx.world_size] for t in tensors)
            n = tensors[0].shape[0]
        total, count = 0.0, 0
        for start in range(0, n, self.batch_size):
            batch = tuple(t[start:start + self.batch_size] for t in tensors)
            loss, _ = self._split(self.loss_fn(module, *batch))
            total += float(loss) * batch[0].shape[0]
            count += batch[0].shape[0]
        module.train(was)
        if ctx is not None:
            total, count = ctx.sum([total, count])
        return total / max(count, 1)

    def _state(self):
        return {
            "module": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "epoch": self.epoch,
            "step": self.step,
            "history": self.history,
            "best_score": self.best_score,
            "best_state": self.best_state,
            "no_improve": self.no_improve,
            "callbacks": [cb.state_dict() if hasattr(cb, "state_dict") else None
                          for cb in self.callbacks],
        }

    def save_checkpoint(self, path=None):
        """Write the full training state to ``path`` (default ``checkpoint_path``).

        Distributed: rank 0 writes, the other ranks wait until the file is complete."""
        path = path or self.checkpoint_path
        ctx = getattr(self, "_ctx", None)
        if ctx is None or ctx.is_main:
            tmp = f"{path}.tmp"
            torch.save(self._state(), tmp)
            os.replace(tmp, path)
        if ctx is not None:
            ctx.barrier()

    def _load_checkpoint(self, path):
        state = torch.load(path, map_location=self.device, weights_only=False)
        self.module.load_state_dict(state["module"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.epoch = state["epoch"]
        self.step = state["step"]
        self.history = state["history"]
        self.best_score = state["best_score"]
        self.best_state = state["best_state"]
        self.no_improve = state["no_improve"]
        for cb, s in zip(self.callbacks, state.get("callbacks", [])):
            if s is not None and hasattr(cb, "load_state_dict"):
                cb.load_state_dict(s)
        self.resumed = True

    # ------------------------------------------------------------------ main loop
    def fit(self, module, *tensors, validation=None):
        """Train ``module`` on ``tensors`` (same first dimension); returns the history.

        Parameters
        ----------
        module : nn.Module
        *tensors : Tensor
            Training data, one or more tensors of equal length (e.g. ``X`` or ``X, y``).
        validation : tuple of Tensor or None
            Validation data in the same layout.

        Returns
        -------
        history : list of dict
            One record per epoch: ``epoch``, ``step``, ``loss``, the metrics of
            ``loss_fn`` and ``val_loss`` when validating.
        """
        if not tensors:
            raise ValueError("fit needs at least one training tensor.")
        n = tensors[0].shape[0]
        if any(t.shape[0] != n for t in tensors):
            raise ValueError("all training tensors must have the same first dimension.")
        if self.early_stopping and validation is None:
            raise ValueError("early_stopping=True needs validation data.")
        tensors = tuple(t.to(self.device) for t in tensors)
        if validation is not None:
            validation = tuple(t.to(self.device) for t in validation)
        self._begin(module)
        if self.checkpoint_path is not None and os.path.exists(self.checkpoint_path):
            self._load_checkpoint(self.checkpoint_path)

        from tqdm.auto import tqdm

        is_main = self._ctx is None or self._ctx.is_main
        bar = tqdm(total=self.max_iter, initial=self.epoch, desc=self.desc,
                   disable=not (self.verbose and is_main), leave=False)
        try:
            while self.epoch < self.max_iter and not self.stopped_early:
                if self.max_steps is not None and self.step >= self.max_steps:
                    break
                record = self._run_epoch(module, tensors, n)
                if validation is not None:
                    score = self._validate(module, validation)
                    record["val_loss"] = score
                    if score < self.best_score - self.tol * abs(self.best_score):
                        self.best_score = score
                        self.best_state = copy.deepcopy(module.state_dict())
                        self.no_improve = 0
                    else:
                        self.no_improve += 1
                    if self.early_stopping and self.no_improve >= self.n_iter_no_change:
                        self.stopped_early = True
                self.epoch += 1
                record["epoch"] = self.epoch
                record["step"] = self.step
                self.history.append(record)
                self._call("on_epoch_end", record)
                bar.update(1)
                bar.set_postfix({k: f"{v:.4g}" for k, v in record.items()
                                 if k not in ("epoch", "step")}, refresh=False)
                if self.checkpoint_path is not None and (
                        self.epoch % self.checkpoint_every == 0):
                    self.save_checkpoint()
        finally:
            bar.close()
        if self.early_stopping and self.best_state is not None:
            module.load_state_dict(self.best_state)
        if self.checkpoint_path is not None:
            self.save_checkpoint()
        if (is_main and not self.stopped_early and self.early_stopping and self.history
                and self.epoch >= self.max_iter):
            warnings.warn(
                f"Training stopped at max_iter={self.max_iter} epochs before the "
                "validation loss stopped improving; increase max_iter.",
                ConvergenceWarning, stacklevel=3,
            )
        self._call("on_train_end")
        # release the DDP wrapper now: its reducer must not outlive the process group
        # (a user's destroy_process_group() followed by interpreter exit aborted rank 1
        # with "terminate called without an active exception")
        self._net = None
        return self.history

    def _begin(self, module):
        """Bind ``module``: process group, DDP wrapper, optimizer, fresh state."""
        self.module = module
        self._ctx = resolve_distributed(self.distributed, self.device)
        if self._ctx is not None:
            # the same shuffling on every rank: rank 0's generator state
            self.generator.set_state(self._ctx.broadcast_object(self.generator.get_state()))
            self._net = wrap_ddp(module, self.loss_fn, self.device)
        else:
            self._net = None
        kwargs = {"lr": self.learning_rate, "weight_decay": self.weight_decay}
        params = [p for p in module.parameters() if p.requires_grad]
        self.optimizer = OPTIMIZERS[self.optimizer_name](params, **kwargs)
        self.epoch, self.step = 0, 0
        self.history = []
        self.best_score, self.best_state, self.no_improve = math.inf, None, 0
        self.stopped_early = False
        self.resumed = False
        self.last_metrics = {}
        self.batch = None
        self._call("on_train_begin")

    def partial_fit(self, module, *tensors):
        """One epoch over ``tensors``, continuing the previous calls on ``module``.

        The first call (or the first on another module) creates the optimizer and calls
        the callbacks' ``on_train_begin``; later calls keep the optimizer state, the
        step count and the history, so that a data set too large for memory can be
        streamed through in chunks. No validation, early stopping or checkpoints here
        (the caller decides when to stop); ``on_train_end`` is not called.

        Returns
        -------
        record : dict
            The epoch record (as in :meth:`fit`'s history), appended to ``history``.
        """
        if not tensors:
            raise ValueError("partial_fit needs at least one training tensor.")
        n = tensors[0].shape[0]
        if any(t.shape[0] != n for t in tensors):
            raise ValueError("all training tensors must have the same first dimension.")
        if getattr(self, "module", None) is not module:
            self._begin(module)
        elif self._ctx is not None and self._net is None:  # after fit released it
            self._net = wrap_ddp(module, self.loss_fn, self.device)
        tensors = tuple(t.to(self.device) for t in tensors)
        record = self._run_epoch(module, tensors, n)
        self.epoch += 1
        record["epoch"] = self.epoch
        record["step"] = self.step
        self.history.append(record)
        self._call("on_epoch_end", record)
        return record

    def _run_epoch(self, module, tensors, n):
        module.train()
        perm = torch.randperm(n, generator=self.generator).to(self.device)
        sums, total = {}, 0
        for start in range(0, n, self.batch_size):
            if self.max_steps is not None and self.step >= self.max_steps:
                break
            idx = perm[start:start + self.batch_size]
            if self._ctx is not None:
                idx, weight = self._ctx.shard(idx)
            self.batch = tuple(t[idx] for t in tensors)
            self.optimizer.zero_grad(set_to_none=True)
            if self._ctx is None:
                loss, metrics = self._split(self.loss_fn(module, *self.batch))
                objective = loss
                bad = not torch.isfinite(loss)
            else:
                objective, loss, metrics = self._net(weight, *self.batch)
                bad = self._ctx.any(not torch.isfinite(loss))
            if bad:
                raise FloatingPointError(
                    f"the training loss became {float(loss)} at step {self.step}; "
                    "lower learning_rate or check the input scaling."
                )
            objective.backward()
            if self.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(module.parameters(), self.grad_clip)
            self._call("before_step")
            self.optimizer.step()
            self.step += 1
            bs = idx.shape[0] if self._ctx is None or weight > 0 else 0
            metrics = {"loss": loss, **metrics}
            self.last_metrics = {k: _to_float(v) for k, v in metrics.items()}
            for k, v in self.last_metrics.items():
                sums[k] = sums.get(k, 0.0) + v * bs
            total += bs
            self._call("after_step")
        if self._ctx is not None:  # epoch averages over all ranks
            keys = sorted(sums)
            reduced = self._ctx.sum([sums[k] for k in keys] + [total])
            sums, total = dict(zip(keys, reduced[:-1])), reduced[-1]
        return {k: v / max(total, 1) for k, v in sums.items()}
