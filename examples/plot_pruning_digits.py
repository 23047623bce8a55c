"""
A sparse network: magnitude pruning of an MLP on digits
=======================================================

Trains a small MLP (64 - 128 - 10) on scikit-learn's ``digits``, then makes it sparse
with :class:`sparsecode.nn.MagnitudePruner` in two ways, for target sparsities from 50 %
to 98 % of the weights:

- **one-shot**: prune the trained network once (``prune_to``), no retraining;
- **gradual**: prune on a :class:`sparsecode.nn.PolynomialDecay` schedule (Zhu & Gupta
  2017) while training on, calling ``pruner.step()`` after every optimizer step.

The masks are :mod:`torch.nn.utils.prune` masks, so pruned weights stay exactly zero
while training goes on. :func:`sparsecode.nn.sparsity_report` then gives the per-layer
sparsity and the size of the model with its weights stored in CSR.
"""

import argparse
import copy
import os

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sparsecode.nn import ConstantSparsity, MagnitudePruner, PolynomialDecay, sparsity_report

torch.set_num_threads(1)

parser = argparse.ArgumentParser(description="Magnitude pruning of an MLP on digits.")
parser.add_argument("--epochs", type=int, default=30)
parser.add_argument("--out", default=None, help="folder to write the figure to "
                                                "(default: show it)")
args = parser.parse_args()

# %%
# Data and a dense baseline, trained with Adam on mini-batches of 64.
digits = load_digits()
X_train, X_test, y_train, y_test = train_test_split(
    digits.data / 16.0, digits.target, test_size=0.3, random_state=0)
X_train, X_test = (torch.as_tensor(a, dtype=torch.float32) for a in (X_train, X_test))
y_train, y_test = torch.as_tensor(y_train), torch.as_tensor(y_test)


def train(net, epochs, pruner=None, seed=0):
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(X_train), generator=gen).split(64):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(X_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
            if pruner is not None:
                pruner.step()
    return net


@torch.no_grad()
def accuracy(net):
    return (net(X_test).argmax(dim=1) == y_test).float().mean().item()


torch.manual_seed(0)
dense = train(torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                                  torch.nn.Linear(128, 10)), args.epochs)
print(f"dense: test accuracy {accuracy(dense):.3f}")

# %%
# One-shot and gradual pruning of the weight matrices (the pruner's default targets:
# every parameter of dimension >= 2, so the biases stay dense). Gradual pruning starts from the dense network and reaches the target
# sparsity in half of ``epochs`` more epochs, then trains on at that sparsity.
steps_per_epoch = int(np.ceil(len(X_train) / 64))
targets = [0.5, 0.7, 0.8, 0.9, 0.95, 0.98]
one_shot, gradual = [], []
for s in targets:
    net = copy.deepcopy(dense)
    MagnitudePruner(net, ConstantSparsity(s)).prune_to(s)
    one_shot.append(accuracy(net))

    net = copy.deepcopy(dense)
    end = steps_per_epoch * args.epochs // 2
    pruner = MagnitudePruner(net, PolynomialDecay(0.0, s, begin_step=0, end_step=end,
                                                  frequency=10))
    train(net, args.epochs, pruner)
    gradual.append(accuracy(net))
    print(f"sparsity {s:.2f}: one-shot {one_shot[-1]:.3f}, gradual {gradual[-1]:.3f} "
          f"(pruner at {pruner.sparsity():.3f})")

# %%
# The last network (98 % of its weights zero), made permanent with ``pruner.remove()``:
# its per-layer report.
pruner.remove()
report = sparsity_report(net)
print(report)

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
axes[0].axhline(accuracy(dense), color="k", ls="--", label="dense")
axes[0].plot(targets, one_shot, "o-", label="one-shot")
axes[0].plot(targets, gradual, "s-", label="gradual (PolynomialDecay)")
axes[0].set_xlabel("fraction of weights pruned")
axes[0].set_ylabel("test accuracy")
axes[0].legend()
axes[0].grid(alpha=0.3)
w = net[0].weight.detach().numpy()
axes[1].imshow(w != 0, aspect="auto", cmap="gray_r", interpolation="nearest")
axes[1].set_title(f"first layer at {100 * targets[-1]:.0f} %: nonzero weights")
axes[1].set_xlabel("input pixel")
axes[1].set_ylabel("hidden unit")
fig.tight_layout()

if args.out:
    os.makedirs(args.out, exist_ok=True)
    fig.savefig(os.path.join(args.out, "pruning_digits.png"))
    print(f"wrote {os.path.join(args.out, 'pruning_digits.png')}")
else:
    plt.show()
