"""
Learned ISTA: NMSE against the number of layers
===============================================

Unrolling ``T`` iterations of ISTA into a ``T``-layer network and learning its step sizes
and thresholds (ALISTA, Liu et al. 2019: the weight is computed from ``A``, only ``2T``
scalars are trained) or its weight matrices too (LISTA-CP, Chen et al. 2018) gives a
recovery far more accurate after ``T`` steps than ISTA or FISTA.

A small problem (``A`` Gaussian, 64 x 128, Bernoulli(0.1)-Gaussian signals, no noise),
8 layers, trained stage-wise on synthetic batches by
:class:`sparsecode.nn.UnrolledSparseCoder` with few steps per stage; the NMSE of the output
of every layer on fresh test signals (``module_(y, return_all=True)``) is plotted
against the same number of iterations of untrained unrolled ISTA and FISTA, which compute
exactly ISTA and FISTA. See :doc:`/unrolling` for the full-size problem.
"""

import argparse
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from sparsecode.nn import SyntheticProblem, UnrolledSparseCoder, make_model, nmse_db

torch.set_num_threads(1)

parser = argparse.ArgumentParser(description="LISTA NMSE against the number of layers.")
parser.add_argument("--n-layers", type=int, default=8)
parser.add_argument("--steps", type=int, default=100, help="training steps per stage")
parser.add_argument("--out", default=None, help="folder to write the figure to "
                                                "(default: show it)")
args = parser.parse_args()

# %%
# The sensing matrix, unit-norm columns, and 1,000 test signals.
rng = np.random.default_rng(0)
A = rng.standard_normal((64, 128)) / np.sqrt(64)
A /= np.linalg.norm(A, axis=0)
y_test, x_test = SyntheticProblem(A, sparsity=0.1).sample_numpy(1000, random_state=1)
alpha = 0.1

# %%
# Train the two networks, then run every model on the test measurements and keep the
# output of each layer.
curves = {}
for name in ("ista", "fista"):
    net = make_model(name, A, args.n_layers, alpha, dtype=torch.float64)
    with torch.no_grad():
        outs = net(torch.as_tensor(y_test), return_all=True)
    curves[f"{name.upper()} (untrained)"] = [nmse_db(o, torch.as_tensor(x_test))
                                            for o in outs]
for name in ("alista", "lista-cp"):
    t0 = time.perf_counter()
    est = UnrolledSparseCoder(A, model=name, n_layers=args.n_layers, alpha=alpha,
                              sparsity=0.1, snr=None, max_iter=args.steps,
                              random_state=0).fit()
    with torch.no_grad():
        outs = est.module_(torch.as_tensor(y_test, dtype=torch.float64), return_all=True)
    curves[name.upper()] = [nmse_db(o, torch.as_tensor(x_test)) for o in outs]
    print(f"{name}: trained in {time.perf_counter() - t0:.1f} s, "
          f"NMSE after {args.n_layers} layers {curves[name.upper()][-1]:.1f} dB")
for label, curve in curves.items():
    print(f"{label:>18}: " + " ".join(f"{v:6.1f}" for v in curve))

# %%
fig, ax = plt.subplots(figsize=(6, 4))
layers = np.arange(1, args.n_layers + 1)
for label, curve in curves.items():
    ax.plot(layers, curve, "o-", label=label)
ax.set_xlabel("layer (iteration)")
ax.set_ylabel("NMSE (dB)")
ax.set_title(f"64 x 128, sparsity 0.1, {args.steps} steps per training stage")
ax.grid(alpha=0.3)
ax.legend()
fig.tight_layout()

if args.out:
    os.makedirs(args.out, exist_ok=True)
    fig.savefig(os.path.join(args.out, "lista_layers.png"))
    print(f"wrote {os.path.join(args.out, 'lista_layers.png')}")
else:
    plt.show()
