"""Data-parallel training of the shared Trainer: real 2-process gloo runs on this machine.

A distributed run must give the parameters of one process with the same global batch and
seed (to 1e-6 in float64), whatever the split of the last batch.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
if not dist.is_available():  # pragma: no cover - torch built without distributed
    pytest.skip("torch.distributed is not available", allow_module_level=True)

from sparsecode.nn import ReLUSAE, Trainer  # noqa: E402

# Shared by the test and the worker script: a small MLP fitted by Adam, with a validation
# set and a last batch (3 samples) that does not split evenly over 2 ranks.
PROBLEM = textwrap.dedent('''
    import numpy as np
    import torch
    from torch import nn

    def problem():
        rng = np.random.default_rng(0)
        X = torch.tensor(rng.standard_normal((103, 5)))
        W = torch.tensor(rng.standard_normal((5, 3)))
        Y = X @ W + 0.1 * torch.tensor(rng.standard_normal((103, 3)))
        Xv = torch.tensor(rng.standard_normal((21, 5)))
        return X, Y, Xv, Xv @ W

    def model():
        torch.manual_seed(1)
        return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).double()

    def loss_fn(module, xb, yb):
        mse = ((module(xb) - yb) ** 2).sum(-1).mean()
        return mse, {"mse": mse}

    def trainer_kwargs():
        return dict(learning_rate=1e-2, batch_size=10, max_iter=6,
                    generator=torch.Generator().manual_seed(3))
''')

WORKER = PROBLEM + textwrap.dedent('''
    import os, sys
    from sparsecode.nn import Trainer

    torch.set_num_threads(1)
    out = sys.argv[1]
    X, Y, Xv, Yv = problem()
    net = model()
    trainer = Trainer(loss_fn, checkpoint_path=os.path.join(out, "ckpt.pt"),
                      **trainer_kwargs())
    history = trainer.fit(net, X, Y, validation=(Xv, Yv))
    import torch.distributed as dist
    assert dist.is_initialized() and dist.get_world_size() == 2
    if dist.get_rank() == 0:
        torch.save({"state": net.state_dict(), "history": history},
                   os.path.join(out, "result.pt"))
    dist.barrier()
    dist.destroy_process_group()
''')


def _namespace(code):
    ns = {}
    exec(compile(code, "<problem>", "exec"), ns)  # noqa: S102 - our own test code
    return ns


def _env():
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    return env


def test_trainer_under_torchrun_equals_one_process(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    res = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone",
         "--nproc_per_node=2", str(script), str(tmp_path)],
        capture_output=True, text=True, timeout=300, env=_env())
    assert res.returncode == 0, res.stderr[-3000:]
    got = torch.load(tmp_path / "result.pt", weights_only=False)
    assert (tmp_path / "ckpt.pt").exists()  # rank 0 wrote the checkpoint

    ns = _namespace(PROBLEM)
    X, Y, Xv, Yv = ns["problem"]()
    net = ns["model"]()
    history = Trainer(ns["loss_fn"], distributed=False, **ns["trainer_kwargs"]()).fit(
        net, X, Y, validation=(Xv, Yv))
    for k, v in net.state_dict().items():
        np.testing.assert_allclose(got["state"][k].numpy(), v.numpy(), rtol=0, atol=1e-6)
    assert len(got["history"]) == len(history)
    for a, b in zip(got["history"], history):  # epoch metrics reduced over the ranks
        assert a["step"] == b["step"]
        np.testing.assert_allclose([a["loss"], a["mse"], a["val_loss"]],
                                   [b["loss"], b["mse"], b["val_loss"]], rtol=1e-6)


def _sae_worker(rank, world, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    X = np.random.default_rng(0).standard_normal((240, 6))
    sae = ReLUSAE(12, alpha=0.1, batch_size=32, max_iter=4, random_state=0,
                  distributed=True).fit(X)
    if rank == 0:
        np.save(out, sae.components_)
    dist.barrier()
    dist.destroy_process_group()


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sae_estimator_distributed_true_equals_one_process(tmp_path):
    out = str(tmp_path / "components.npy")
    torch.multiprocessing.start_processes(_sae_worker, args=(2, _free_port(), out),
                                          nprocs=2, join=True, start_method="spawn")
    X = np.random.default_rng(0).standard_normal((240, 6))
    ref = ReLUSAE(12, alpha=0.1, batch_size=32, max_iter=4, random_state=0,
                  distributed=False).fit(X)
    np.testing.assert_allclose(np.load(out), ref.components_, rtol=0, atol=1e-6)


def test_distributed_true_without_process_group_is_an_error():
    X = torch.zeros(4, 2)
    trainer = Trainer(lambda m, x: m(x).sum(), distributed=True)
    with pytest.raises(ValueError, match="distributed=True needs an initialised"):
        trainer.fit(torch.nn.Linear(2, 1), X)
    with pytest.raises(ValueError, match="distributed=True needs an initialised"):
        ReLUSAE(4, max_iter=1, distributed=True).fit(np.ones((8, 3)))


def test_distributed_auto_in_one_process_trains_locally():
    X = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
    net = torch.nn.Linear(2, 1)
    Trainer(lambda m, x: (m(x) ** 2).mean(), max_iter=1).fit(net, X)
    assert not dist.is_initialized()


@pytest.mark.parametrize("bad", ["yes", 1.5, None])
def test_trainer_rejects_bad_distributed(bad):
    with pytest.raises(ValueError, match="distributed must be"):
        Trainer(lambda m, x: m(x).sum(), distributed=bad)


def _tiny_fits():
    from sparsecode.nn import CSNetwork, LearnedDenoiser
    from sparsecode.nn.prune import GrowingNetworkClassifier, GrowingNetworkRegressor

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4))
    images = [rng.random((40, 40)) for _ in range(2)]
    blocks = rng.random((16, 33 * 33))
    return {
        "GrowingNetworkRegressor": lambda: GrowingNetworkRegressor(
            max_units=4, epochs_per_step=1, distributed=True).fit(X, X[:, 0]),
        "GrowingNetworkClassifier": lambda: GrowingNetworkClassifier(
            max_units=4, epochs_per_step=1, distributed=True).fit(X, (X[:, 0] > 0) * 1),
        "CSNetwork": lambda: CSNetwork("ista-net+", 0.25, n_phases=1, n_channels=2,
                                       max_steps=1, distributed=True).fit(blocks),
        "LearnedDenoiser": lambda: LearnedDenoiser("cscnet", n_steps=1,
                                                   distributed=True).fit(images),
    }


@pytest.mark.parametrize("name", ["GrowingNetworkRegressor", "GrowingNetworkClassifier",
                                  "CSNetwork", "LearnedDenoiser"])
def test_every_torch_estimator_takes_distributed(name):
    # the models of sparsecode.nn.prune, .cs and .denoise train through the same Trainer:
    # distributed=True without a process group is the same clear error
    with pytest.raises(ValueError, match="distributed=True needs an initialised"):
        _tiny_fits()[name]()
