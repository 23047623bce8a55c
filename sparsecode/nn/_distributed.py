"""torch.distributed plumbing of the shared :class:`~sparsecode.nn.Trainer`.

One rule makes a distributed run reproduce a one-process run: every rank draws the
*same* permutation of the training set each epoch (from the same seeded generator,
broadcast from rank 0), cuts it into the same global batches of ``batch_size``, and
takes every ``world_size``-th sample of each batch (``batch[rank::world_size]``) --
the role of :class:`torch.utils.data.DistributedSampler`, but per global batch instead
of per epoch, so that the samples of a step do not depend on the number of ranks.
Each rank's loss is weighted by its share of the global batch before DDP averages the
gradients, so the gradient of every step is the gradient of the mean loss over the
global batch, whatever the world size and however the last batch splits. Results then
equal the one-process results up to the order of floating-point sums.

Launch: ``torchrun --nproc_per_node=N script.py`` (the process group is initialised from
the environment torchrun sets, gloo on CPU, nccl on CUDA), or initialise it yourself
(``torch.distributed.init_process_group``) and pass ``distributed=True``.
"""

from __future__ import annotations

import os

import torch
from torch import nn

__all__ = ["DistributedContext", "resolve_distributed"]

_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def _launched_by_torchrun():
    return all(k in os.environ for k in _ENV) and int(os.environ["WORLD_SIZE"]) > 1


def _init_from_env(device):
    """Initialise the default process group from torchrun's environment."""
    import torch.distributed as dist

    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)


def resolve_distributed(distributed, device):
    """Decide whether to train distributed; initialise from torchrun's environment.

    Parameters
    ----------
    distributed : {"auto", True, False}
        ``"auto"``: distributed when a process group of more than one rank is
        initialised, or when launched by ``torchrun`` (the group is then initialised
        here). ``True``: distributed, which needs one of the two (else ValueError).
        ``False``: one process, whatever the environment.
    device : torch.device

    Returns
    -------
    DistributedContext or None
    """
    if distributed is False:
        return None
    if distributed not in ("auto", True):
        raise ValueError(
            f"distributed must be 'auto', True or False, got {distributed!r}."
        )
    import torch.distributed as dist

    available = dist.is_available()
    initialised = available and dist.is_initialized()
    if not initialised and available and _launched_by_torchrun():
        _init_from_env(device)
        initialised = True
    if not initialised:
        if distributed is True:
            raise ValueError(
                "distributed=True needs an initialised torch.distributed process group: "
                "call torch.distributed.init_process_group(...) first, or launch the "
                "script with torchrun."
            )
        return None
    world = dist.get_world_size()
    if world == 1 and distributed == "auto":
        return None
    return DistributedContext(dist.get_rank(), world)


class DistributedContext:
    """Rank, world size and the collectives the training loop needs."""

    def __init__(self, rank, world_size):
        import torch.distributed as dist

        self.dist = dist
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.is_main = self.rank == 0
        # gloo reduces CPU tensors, nccl CUDA tensors
        self.comm_device = (torch.device("cuda", torch.cuda.current_device())
                            if dist.get_backend() == "nccl" else torch.device("cpu"))

    # ------------------------------------------------------------- data sharding
    def shard(self, idx):
        """This rank's part of a global batch of indices, and its loss weight.

        The weight ``len(part) * world_size / len(idx)`` turns DDP's average of the
        per-rank mean gradients into the mean gradient over the global batch. A rank
        left without samples (a last batch smaller than the world) computes the loss on
        one sample with weight 0, so that it still takes part in the all-reduce.
        """
        part = idx[self.rank::self.world_size]
        if part.numel() == 0:
            return idx[:1], 0.0
        return part, part.numel() * self.world_size / idx.numel()

    # ------------------------------------------------------------- collectives
    def broadcast_object(self, obj):
        box = [obj]
        self.dist.broadcast_object_list(box, src=0)
        return box[0]

    def sum(self, values):
        """All-reduce (sum) a list of floats; returns the list of sums."""
        t = torch.tensor(values, dtype=torch.float64, device=self.comm_device)
        self.dist.all_reduce(t)
        return t.tolist()

    def any(self, flag):
        return self.sum([1.0 if flag else 0.0])[0] > 0

    def barrier(self):
        self.dist.barrier()


class LossModule(nn.Module):
    """``forward(*batch)`` is ``loss_fn(module, *batch)``, scaled by ``weight``.

    Wrapping this (rather than the model) in DDP lets a loss function reach into the
    model's attributes (decoder norms, per-layer outputs), which DDP's wrapper hides,
    while every forward still goes through DDP so that its gradient hooks fire.
    """

    def __init__(self, module, loss_fn):
        super().__init__()
        self.module = module
        self.loss_fn = loss_fn

    def forward(self, weight, *batch):
        out = self.loss_fn(self.module, *batch)
        loss, metrics = out if isinstance(out, tuple) else (out, {})
        return loss * weight, loss, metrics


def wrap_ddp(module, loss_fn, device):
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else None
    return DistributedDataParallel(LossModule(module, loss_fn), device_ids=ids,
                                   find_unused_parameters=True)
