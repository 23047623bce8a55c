r"""Training recipe of the CS networks, on the shared :class:`~sparsecode.nn.Trainer`.

Loss of a batch of blocks :math:`x_i` (measured by the network's own sampling module):

.. math::

    \mathcal L = \frac1{N n}\sum_i\|\hat x_i - x_i\|_2^2
      + \gamma \sum_{k}\frac1{N n C}\|\tilde{\mathcal H}_k(\mathcal H_k(d_i^{(k)}))
        - d_i^{(k)}\|_2^2
      + \mu\,\mathrm{mean}\big((\Phi\Phi^\top - I)^2\big),

the symmetry term (:math:`\gamma = 0.01`) for ISTA-Net, ISTA-Net+ and OPINE-Net+, the
orthogonality term (:math:`\mu = 0.01`) for OPINE-Net+ only.

Schedules (:data:`SCHEDULES`)
-----------------------------
``"reference"``
    The published one: 9 phases, 32 channels, Adam at 1e-4, batch 64, 200 epochs of the
    88,912 T91 blocks (about 278k steps) — a GPU job
    (``benchmarks/train_cs_gpu.sh``).
``"light"``
    What one CPU thread does in about five minutes: 5 phases, 16 channels, residual
    convolutions initialised to zero (the run starts from projected-gradient steps),
    Adam at 1e-3 (the short run needs the larger step), batch 64, at most 400 steps
    and 300 s of training, whichever comes first (about 280 steps, 0.2 epoch, on an
    idle core; 66-187 steps on the loaded machine that trained the shipped weights),
    on the same 88,912 blocks. Its files record the steps done.
"""

from __future__ import annotations

import time

import torch

__all__ = ["SCHEDULES", "TimeLimit", "cs_loss", "make_trainer"]

#: Training schedules: parameters of :class:`~sparsecode.nn.cs.CSNetwork`.
SCHEDULES = {
    "reference": {"n_phases": 9, "n_channels": 32, "learning_rate": 1e-4, "batch_size": 64,
                  "max_iter": 200, "max_steps": None, "time_limit": None, "n_blocks": 88912},
    "light": {"n_phases": 5, "n_channels": 16, "learning_rate": 1e-3, "batch_size": 64,
              "max_iter": 1, "max_steps": 400, "time_limit": 300.0, "n_blocks": 88912,
              "zero_residual": True},
}


def cs_loss(module, xb, *, gamma=0.01, mu=0.01):
    """The training loss of a batch of flattened blocks ``xb (N, B*B)``.

    Returns ``(loss, {"mse": ..., "symmetry": ..., "orthogonality": ...})``.
    """
    B = module.block_size
    x = xb.reshape(-1, 1, B, B)
    y = module.measure(x)
    x_hat, sym = module(y, return_aux=True)
    mse = ((x_hat - x) ** 2).mean()
    loss = mse
    metrics = {"mse": mse.detach()}
    if sym:
        s = torch.stack([(r ** 2).mean() for r in sym]).sum()
        loss = loss + gamma * s
        metrics["symmetry"] = s.detach()
    if hasattr(module, "orthogonality_loss"):
        o = module.orthogonality_loss()
        loss = loss + mu * o
        metrics["orthogonality"] = o.detach()
    return loss, metrics


class TimeLimit:
    """Trainer callback: stop at the first step boundary after ``seconds`` of training."""

    def __init__(self, seconds):
        self.seconds = float(seconds)

    def on_train_begin(self, trainer):
        self._t0 = time.perf_counter()

    def after_step(self, trainer):
        if time.perf_counter() - self._t0 > self.seconds:
            trainer.max_steps = trainer.step  # the loop stops at its next step check


def make_trainer(*, gamma=0.01, mu=0.01, learning_rate=1e-4, batch_size=64, max_iter=200,
                 max_steps=None, checkpoint_path=None, device="cpu", generator=None,
                 verbose=0, desc="cs", time_limit=None, distributed="auto"):
    """The shared :class:`~sparsecode.nn.Trainer` set up with :func:`cs_loss`."""
    from .._training import Trainer

    def loss_fn(module, xb):
        return cs_loss(module, xb, gamma=gamma, mu=mu)

    return Trainer(loss_fn, optimizer="adam", learning_rate=learning_rate,
                   batch_size=batch_size, max_iter=max_iter, max_steps=max_steps,
                   checkpoint_path=checkpoint_path, device=device, generator=generator,
                   verbose=verbose, desc=desc, distributed=distributed,
                   callbacks=() if time_limit is None else (TimeLimit(time_limit),))
