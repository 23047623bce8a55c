r"""Batched ISTA / FISTA in torch, on the tensors' device (CPU or CUDA).

The torch twin of :mod:`sparsecode.kernels.fista`: the same iteration, stopping test,
adaptive restart, backtracking and per-signal freezing, with the elementwise passes
written as whole-batch tensor operations instead of fused Numba loops. Two forms of
the smooth part, as in the kernel:

* Gram form (dense dictionaries, fixed step): image ``I(z) = z G - x D^T`` (the gradient
  itself); one product ``Z G`` per iteration;
* operator form (operators, or backtracking): image ``I(z) = A z - x`` (the residual);
  two products (forward, adjoint) per iteration.

A signal that meets its test is recorded at once; the batch is compacted when a
quarter of it has converged.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from ..coding._fista import (
    _CHUNK,
    _GRAM_MAX_COMPONENTS,
    SolverInfo,
    _check_lipschitz,
    _check_penalty,
    _is_operator,
)
from ..utils._validation import check_alpha, check_bool, check_positive_int, check_tol
from . import is_torch_array
from ._torch_common import (
    as_float_tensor,
    check_signals_tensor,
    common_device,
    prepare,
    result_dtype,
    torch_threads,
)


def _host(a):
    """A small auxiliary argument (weights, groups) as NumPy for the shared checks."""
    return a.detach().cpu().numpy() if is_torch_array(a) else a


class _Prox:
    """``prox_{s Omega}(V)`` for one penalty, per row step ``s`` (column tensor)."""

    def __init__(self, code, l1_ratio, thresh, order, ptr, n_in, dtype, device):
        self.code = code
        self.l1_ratio = l1_ratio
        self.thresh = torch.as_tensor(thresh, dtype=dtype, device=device)
        if code == 3:
            gid = np.empty(n_in, dtype=np.int64)
            for g in range(ptr.shape[0] - 1):
                gid[order[ptr[g]:ptr[g + 1]]] = g
            self.gid = torch.as_tensor(gid, device=device)
            self.n_groups = ptr.shape[0] - 1

    def __call__(self, Y, grad, s):
        V = Y - s * grad
        if self.code == 3:
            sq = V.new_zeros((V.shape[0], self.n_groups)).index_add_(1, self.gid, V * V)
            norm = torch.sqrt(sq)
            tv = s * self.thresh
            scale = torch.where(norm > tv, 1.0 - tv / torch.where(norm > tv, norm, 1.0), 0.0)
            return V * scale[:, self.gid]
        tv = s * self.thresh
        if self.code == 1:
            return torch.clamp(V - tv, min=0.0)
        if self.code == 2:
            a = V.abs() - tv * self.l1_ratio
            return torch.where(a > 0, torch.copysign(a, V) / (1.0 + tv * (1.0 - self.l1_ratio)),
                               0.0)
        return torch.sign(V) * torch.clamp(V.abs() - tv, min=0.0)

    def value(self, Z):
        """``alpha * Omega(z)`` per row, float64."""
        Z = Z.to(torch.float64)
        t = self.thresh.to(torch.float64)
        if self.code == 3:
            sq = Z.new_zeros((Z.shape[0], self.n_groups)).index_add_(1, self.gid, Z * Z)
            return torch.sqrt(sq) @ t
        if self.code == 2:
            return (Z.abs() * self.l1_ratio + 0.5 * (1 - self.l1_ratio) * Z * Z) @ t
        return Z.abs() @ t


def _rowdot(a, b):
    return (a * b).sum(dim=1)


def _power_iteration(forward, adjoint, n_in, dtype, device, *, n_iter=100, rtol=1e-7, seed=0):
    """Estimate ``||A||_2^2`` (the same start vector as the NumPy path)."""
    rng = np.random.default_rng(seed)
    v = torch.as_tensor(rng.standard_normal((1, n_in)), dtype=dtype, device=device)
    v = v / torch.linalg.vector_norm(v)
    est = 0.0
    for _ in range(n_iter):
        w = adjoint(forward(v))
        new = float(torch.linalg.vector_norm(w))
        if new == 0.0:
            return 0.0
        v = w / new
        if abs(new - est) <= rtol * new:
            return new
        est = new
    return est


def _lipschitz_dense(D):
    if min(D.shape) <= 4096:
        D64 = D.to(torch.float64)
        small = D64 @ D64.T if D.shape[0] <= D.shape[1] else D64.T @ D64
        return float(torch.linalg.eigvalsh(small)[-1]) * (1 + 1e-12)
    return _power_iteration(lambda z: z @ D, lambda r: r @ D.T, D.shape[0], D.dtype,
                            D.device) * 1.01


def fista_solve_torch(Z0, L0, prox, *, max_iter, tol, accelerated=True, restart=True,
                      backtracking=False, X=None, forward=None, adjoint=None, gram=None,
                      corr=None, eta=2.0):
    """Batched (F)ISTA from ``Z0`` (not modified): ``(Z, n_iter, converged, L)``.

    As :func:`sparsecode.kernels.fista.fista_solve`, for tensors: Gram form with
    ``gram``/``corr``, operator form with ``X``/``forward``/``adjoint``.
    """
    dtype, device = Z0.dtype, Z0.device
    n = Z0.shape[0]
    gram_form = gram is not None
    data = corr if gram_form else X

    def image(Zs, data_s):
        return (Zs @ gram if gram_form else forward(Zs).to(dtype)) - data_s

    def gradient(Is):
        return Is if gram_form else adjoint(Is).to(dtype)

    out = Z0.clone()
    n_iter = torch.full((n,), max_iter, dtype=torch.int64, device=device)
    converged = torch.zeros(n, dtype=torch.bool, device=device)
    L_out = torch.full((n,), float(L0), dtype=torch.float64, device=device)
    active = torch.arange(n, device=device)
    Z = Z0.clone()
    Y = Z.clone()
    IZ = image(Z, data)
    IY = IZ.clone()
    L = torch.full((n,), float(L0), dtype=torch.float64, device=device)
    t = torch.ones(n, dtype=torch.float64, device=device)
    frozen = torch.zeros(n, dtype=torch.bool, device=device)
    tol2 = float(tol) ** 2
    for it in range(1, max_iter + 1):
        Gy = gradient(IY)
        s = (1.0 / L).to(dtype)[:, None]
        Znew = prox(Y, Gy, s)
        Inew = image(Znew, data)
        if backtracking:
            _backtrack(Y, Gy, IY, Znew, Inew, L, data, image, prox, eta)
        # Convergence test, momentum with adaptive restart, state update.
        d = Znew - Y
        done = _rowdot(d, d) <= tol2 * _rowdot(Znew, Znew)
        if accelerated:
            tn = 0.5 * (1.0 + torch.sqrt(1.0 + 4.0 * t * t))
            beta = (t - 1.0) / tn
            if restart:
                reset = -_rowdot(d, Znew - Z) > 0
                t = torch.where(reset, 1.0, tn)
                beta = torch.where(reset, 0.0, beta)
            else:
                t = tn
            b = beta.to(dtype)[:, None]
            Y = Znew + b * (Znew - Z)
            IY = Inew + b * (Inew - IZ)
        else:
            Y, IY = Znew, Inew
        Z, IZ = Znew, Inew
        new = done & ~frozen
        if bool(new.any()):
            idx = active[new]
            out[idx] = Z[new]
            n_iter[idx] = it
            converged[idx] = True
            L_out[idx] = L[new]
            frozen |= new
            n_frozen = int(frozen.sum())
            if n_frozen == active.numel():
                break
            if 4 * n_frozen >= active.numel():
                keep = ~frozen
                active = active[keep]
                Z, Y, IZ, IY = Z[keep], Y[keep], IZ[keep], IY[keep]
                data, L, t = data[keep], L[keep], t[keep]
                frozen = frozen[keep]
    else:
        keep = ~frozen
        out[active[keep]] = Z[keep]
        L_out[active[keep]] = L[keep]
    return out, n_iter, converged, L_out


def _backtrack(Y, Gy, IY, Znew, Inew, L, data, image, prox, eta):
    """Raise ``L`` per row until ``f(z+) <= Q_L(z+, y)`` (in place), as the kernel."""
    dtype = Y.dtype
    fy = 0.5 * _rowdot(IY, IY).to(torch.float64)
    scale = fy.abs() + 0.5 * _rowdot(data, data).to(torch.float64)
    slack = 1e3 * float(torch.finfo(dtype).eps) * scale + float(torch.finfo(dtype).tiny)
    for _ in range(64):
        D = Znew - Y
        q = fy + _rowdot(Gy, D) + 0.5 * L * _rowdot(D, D)
        bad = torch.nonzero(0.5 * _rowdot(Inew, Inew) > q + slack).flatten()
        if bad.numel() == 0:
            return
        L[bad] *= eta
        Zb = prox(Y[bad], Gy[bad], (1.0 / L[bad]).to(dtype)[:, None])
        Znew[bad] = Zb
        Inew[bad] = image(Zb, data[bad])


def fista_torch(X, dictionary, *, alpha, penalty="l1", l1_ratio=0.5, groups=None,
                weights=None, max_iter=1000, tol=1e-6, lipschitz=None, init=None,
                restart=True, accelerated=True, n_jobs=None, return_info=False):
    """:func:`sparsecode.fista` for torch tensors (which see): runs on their device and
    returns tensors there (``info`` fields too)."""
    with torch.no_grad():
        if _is_operator(dictionary) and not is_torch_array(dictionary):
            op = dictionary
            shape = tuple(op.shape)
            if len(shape) != 2 or min(shape) < 1:
                raise ValueError(f"dictionary.shape must be (n_out, n_in) with positive "
                                 f"sizes, got {shape}.")
            device = common_device(X, None)
            dtype = result_dtype(X)
            X = check_signals_tensor(X, n_features=shape[0], dtype=dtype, device=device)
            D = None
            forward, adjoint = op.forward, op.adjoint
            n_in = shape[1]
        else:
            X, D = prepare(X, dictionary)
            dtype, device = X.dtype, X.device
            forward, adjoint = (lambda z: z @ D), (lambda r: r @ D.T)
            n_in = D.shape[0]
        alpha = check_alpha(alpha)
        n_samples = X.shape[0]
        code, l1_ratio, w, order, ptr = _check_penalty(penalty, l1_ratio, _host(groups),
                                                       _host(weights), n_in)
        max_iter = check_positive_int(max_iter, "max_iter")
        tol = check_tol(tol)
        lipschitz = _check_lipschitz(lipschitz)
        restart = check_bool(restart, "restart")
        accelerated = check_bool(accelerated, "accelerated")
        if init is None:
            Z0 = X.new_zeros((n_samples, n_in))
        else:
            Z0 = as_float_tensor(init, "init", dtype=dtype, device=device)
            if tuple(Z0.shape) != (n_samples, n_in):
                raise ValueError(f"init must have shape (n_samples, n_components) = "
                                 f"({n_samples}, {n_in}), got {tuple(Z0.shape)}.")
        prox = _Prox(code, l1_ratio, alpha * w, order, ptr, n_in, dtype, device)

        backtracking = False
        if isinstance(lipschitz, float):
            L0 = lipschitz
        elif lipschitz == "backtracking":
            backtracking = True
            L0 = max(_power_iteration(forward, adjoint, n_in, dtype, device, n_iter=5),
                     float(np.finfo(np.float64).tiny))
        elif D is not None:
            L0 = _lipschitz_dense(D)
        else:
            estimate = getattr(dictionary, "lipschitz", None)
            L0 = float(estimate()) if callable(estimate) else _power_iteration(
                forward, adjoint, n_in, dtype, device)
            backtracking = True
        if L0 <= 0:
            raise ValueError(f"{'dictionary' if D is not None else 'the operator'} is "
                             "zero: the Lipschitz constant must be positive.")

        use_gram = D is not None and not backtracking and D.shape[0] <= _GRAM_MAX_COMPONENTS
        codes = X.new_empty((n_samples, n_in))
        n_iter = torch.empty(n_samples, dtype=torch.int64, device=device)
        converged = torch.empty(n_samples, dtype=torch.bool, device=device)
        chunk = _CHUNK if device.type == "cpu" else max(_CHUNK, n_samples)
        with torch_threads(n_jobs, device):
            G = D @ D.T if use_gram else None
            for s in range(0, n_samples, chunk):
                sl = slice(s, min(s + chunk, n_samples))
                kw = dict(max_iter=max_iter, tol=tol, accelerated=accelerated,
                          restart=restart, backtracking=backtracking)
                if use_gram:
                    kw.update(gram=G, corr=X[sl] @ D.T)
                else:
                    kw.update(X=X[sl], forward=forward, adjoint=adjoint)
                codes[sl], n_iter[sl], converged[sl], _ = fista_solve_torch(
                    Z0[sl], L0, prox, **kw)
        name = "fista" if accelerated else "ista"
        if not bool(converged.all()):
            warnings.warn(
                f"{name} did not converge for {int((~converged).sum())} of {n_samples} "
                f"signals within max_iter={max_iter} iterations (tol={tol}); increase "
                "max_iter or tol.", ConvergenceWarning, stacklevel=3)
        if not return_info:
            return codes
        R = forward(codes).to(torch.float64) - X.to(torch.float64)
        objective = 0.5 * _rowdot(R, R) + prox.value(codes)
        return codes, SolverInfo(n_iter, objective, converged)
