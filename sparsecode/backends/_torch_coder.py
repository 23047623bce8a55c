"""SparseCoder's torch backend: ``transform`` by the torch solvers (imports torch)."""

from __future__ import annotations

import numpy as np
import torch

from ..coding._omp import _resolve_stopping
from . import is_torch_array
from ._torch_common import as_float_tensor, torch_threads
from ._torch_iht import iht_torch
from ._torch_omp import batch_omp_torch
from ._torch_prox_grad import fista_torch

#: Algorithms of SparseCoder with a torch solver.
TORCH_ALGORITHMS = ("omp", "fista", "ista", "iht")


def resolve_device(device):
    """``torch.device`` from ``device`` (None: CUDA when available, else the CPU)."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (TypeError, RuntimeError) as exc:
        raise ValueError(f"device must be None, a torch.device or a device string such as "
                         f"'cpu' or 'cuda:0', got {device!r}.") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available "
                         "(use device='cpu' or None).")
    return dev


def transform_torch(coder, X):
    """Codes of ``X`` by ``coder``'s algorithm in torch.

    A tensor ``X`` is coded on its own device and gives a tensor; a NumPy ``X`` is
    validated as on the NumPy path, coded on ``coder.device`` and given back as NumPy.
    """
    if not hasattr(coder, "components_"):  # an unfitted (stateless) coder
        coder._check_backend()
    if is_torch_array(X):
        Xt = as_float_tensor(X, "X")
        n_in = getattr(coder, "n_features_in_", None)
        if n_in is None:
            n_in = np.asarray(to_numpy(coder.dictionary)).shape[1]
        if Xt.shape[1] != n_in:
            raise ValueError(f"X has {Xt.shape[1]} features, but {type(coder).__name__} "
                             f"is expecting {n_in} features as input.")
        to_output = lambda codes: codes  # noqa: E731
    else:
        Xn = coder._validate_X(X, reset=False)
        Xt = torch.from_numpy(Xn).to(resolve_device(coder.device))
        to_output = lambda codes: codes.cpu().numpy()  # noqa: E731
    dtype, device = Xt.dtype, Xt.device
    D_np, G_np = coder._state(np.float32 if dtype == torch.float32 else np.float64,
                              dictionary=to_numpy(coder.dictionary))
    D = torch.as_tensor(D_np, device=device)
    algorithm = coder.algorithm
    with torch.no_grad():
        if algorithm == "omp":
            G = torch.as_tensor(G_np, device=device)
            max_k, tol = _resolve_stopping(coder.n_nonzero_coefs, coder.tol, D.shape[1],
                                           D.shape[0])
            with torch_threads(coder.n_jobs, device):
                codes, _ = batch_omp_torch(Xt, D, G, max_k, tol, True)
        elif algorithm in ("fista", "ista"):
            codes = fista_torch(Xt, D, alpha=coder.alpha,
                                penalty="l1_positive" if coder.positive else "l1",
                                max_iter=coder.max_iter or 1000, tol=coder.solver_tol,
                                restart=algorithm == "fista",
                                accelerated=algorithm == "fista", n_jobs=coder.n_jobs)
        else:
            codes = iht_torch(Xt, D, n_nonzero_coefs=coder.n_nonzero_coefs,
                              max_iter=coder.max_iter or 500, tol=coder.solver_tol,
                              n_jobs=coder.n_jobs)
    return to_output(codes)


def to_numpy(a):
    """A tensor as a NumPy array (host copy, detached); anything else unchanged."""
    return a.detach().cpu().numpy() if is_torch_array(a) else a
