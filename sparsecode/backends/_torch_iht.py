r"""Batched normalised IHT in torch, on the tensors' device (CPU or CUDA).

The torch twin of :func:`sparsecode.kernels.iht.niht_solve`: gradient step with the
step size exact on the current support, hard thresholding to ``k`` entries
(``torch.topk``), and Blumensath & Davies' step shrinkage when the support changes;
signals leave the batch when their iterate stops moving.
"""

from __future__ import annotations

import warnings

import torch
from sklearn.exceptions import ConvergenceWarning

from ..coding._fista import _CHUNK, _is_operator
from ..coding._fista import SolverInfo
from ..coding._iht import _resolve_k
from ..utils._validation import check_positive_int, check_tol
from . import is_torch_array
from ._torch_common import (
    as_float_tensor,
    check_signals_tensor,
    common_device,
    prepare,
    result_dtype,
    torch_threads,
)
from ._torch_prox_grad import _rowdot


def top_k_torch(V, k):
    """Keep the ``k`` entries of largest magnitude of each row."""
    if k >= V.shape[1]:
        return V.clone()
    idx = torch.topk(V.abs(), k, dim=1, sorted=False).indices
    return torch.zeros_like(V).scatter_(1, idx, torch.gather(V, 1, idx))


def niht_solve_torch(X, forward, adjoint, k, Z0, *, max_iter, tol, c=0.01, kappa=2.0):
    """Batched normalised IHT from ``Z0``: ``(Z, n_iter, converged)``, as the kernel."""
    dtype, device = X.dtype, X.device
    n = X.shape[0]
    shrink = 1.0 / (kappa * (1.0 - c))
    tiny = float(torch.finfo(dtype).tiny)
    eps2 = float(torch.finfo(dtype).eps) ** 2

    def fwd(Z):
        return forward(Z).to(dtype)

    out = Z0.clone()
    n_iter = torch.full((n,), max_iter, dtype=torch.int64, device=device)
    converged = torch.zeros(n, dtype=torch.bool, device=device)
    active = torch.arange(n, device=device)
    Z = Z0.clone()
    Xa = X
    R = X - fwd(Z)
    xnorm2 = _rowdot(X, X)
    for it in range(1, max_iter + 1):
        g = adjoint(R).to(dtype)
        mask = Z != 0
        empty = ~mask.any(dim=1)
        if bool(empty.any()):
            mask[empty] = top_k_torch(g[empty], k) != 0
        gG = torch.where(mask, g, 0.0)
        num = _rowdot(gG, gG)
        Ag = fwd(gG)
        den = _rowdot(Ag, Ag)
        mu = torch.where(den > 0, num / torch.clamp(den, min=tiny), 0.0)
        stuck = (num == 0) & (_rowdot(g, g) > 0)
        if bool(stuck.any()):
            gk = top_k_torch(g[stuck], k)
            Agk = fwd(gk)
            mu[stuck] = _rowdot(gk, gk) / torch.clamp(_rowdot(Agk, Agk), min=tiny)
        Zn = top_k_torch(Z + mu[:, None] * g, k)
        Rn = Xa - fwd(Zn)
        for _ in range(60):
            changed = ((Zn != 0) != mask).any(dim=1)
            dZ = Zn - Z
            dR = R - Rn
            omega = (1.0 - c) * _rowdot(dZ, dZ) / torch.clamp(_rowdot(dR, dR), min=tiny)
            bad = torch.nonzero(changed & (mu > omega)).flatten()
            if bad.numel() == 0:
                break
            mu[bad] *= shrink
            Zb = top_k_torch(Z[bad] + mu[bad, None] * g[bad], k)
            Zn[bad] = Zb
            Rn[bad] = Xa[bad] - fwd(Zb)
        dZ = Zn - Z
        done = (_rowdot(dZ, dZ) <= tol * tol * _rowdot(Zn, Zn)) | (
            _rowdot(Rn, Rn) <= eps2 * xnorm2)
        Z, R = Zn, Rn
        if bool(done.any()):
            idx = active[done]
            out[idx] = Z[done]
            n_iter[idx] = it
            converged[idx] = True
            keep = ~done
            active = active[keep]
            if active.numel() == 0:
                break
            Z, R, Xa, xnorm2 = Z[keep], R[keep], Xa[keep], xnorm2[keep]
    else:
        out[active] = Z
    return out, n_iter, converged


def iht_torch(X, dictionary, *, n_nonzero_coefs=None, max_iter=500, tol=1e-6, init=None,
              n_jobs=None, return_info=False):
    """:func:`sparsecode.iht` for torch tensors (which see): runs on their device and
    returns tensors there."""
    with torch.no_grad():
        if _is_operator(dictionary) and not is_torch_array(dictionary):
            shape = tuple(dictionary.shape)
            if len(shape) != 2 or min(shape) < 1:
                raise ValueError(f"dictionary.shape must be (n_out, n_in) with positive "
                                 f"sizes, got {shape}.")
            device = common_device(X, None)
            X = check_signals_tensor(X, n_features=shape[0], dtype=result_dtype(X),
                                     device=device)
            forward, adjoint = dictionary.forward, dictionary.adjoint
            n_out, n_in = shape
        else:
            X, D = prepare(X, dictionary)
            forward, adjoint = (lambda z: z @ D), (lambda r: r @ D.T)
            n_in, n_out = D.shape
        k = _resolve_k(n_nonzero_coefs, n_in, n_out)
        max_iter = check_positive_int(max_iter, "max_iter")
        tol = check_tol(tol)
        n = X.shape[0]
        if init is None:
            Z0 = X.new_zeros((n, n_in))
        else:
            Z0 = as_float_tensor(init, "init", dtype=X.dtype, device=X.device)
            if tuple(Z0.shape) != (n, n_in):
                raise ValueError(f"init must have shape (n_samples, n_components) = "
                                 f"({n}, {n_in}), got {tuple(Z0.shape)}.")
            Z0 = top_k_torch(Z0, k)
        codes = X.new_empty((n, n_in))
        n_iter = torch.empty(n, dtype=torch.int64, device=X.device)
        converged = torch.empty(n, dtype=torch.bool, device=X.device)
        chunk = _CHUNK if X.device.type == "cpu" else max(_CHUNK, n)
        with torch_threads(n_jobs, X.device):
            for s in range(0, n, chunk):
                sl = slice(s, min(s + chunk, n))
                codes[sl], n_iter[sl], converged[sl] = niht_solve_torch(
                    X[sl], forward, adjoint, k, Z0[sl], max_iter=max_iter, tol=tol)
        if not bool(converged.all()):
            warnings.warn(
                f"iht did not converge for {int((~converged).sum())} of {n} signals "
                f"within max_iter={max_iter} iterations (tol={tol}); increase max_iter or "
                "tol.", ConvergenceWarning, stacklevel=3)
        if not return_info:
            return codes
        R = forward(codes).to(torch.float64) - X.to(torch.float64)
        return codes, SolverInfo(n_iter, 0.5 * _rowdot(R, R), converged)
