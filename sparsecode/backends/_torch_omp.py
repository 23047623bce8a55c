"""Batch-OMP in torch: many signals at once, progressive Cholesky updates, any device.

The torch twin of :mod:`sparsecode.kernels.omp` (same algorithm, same stopping rules,
same tie-breaking), vectorised over a block of signals instead of a loop per signal.
For a block of ``B`` signals it keeps, in the Gram domain,

* ``alpha`` (B, n_atoms): correlations of the residuals with the atoms;
* ``U`` (B, max_k, n_atoms): row ``k`` is ``D q_k`` for the orthonormal basis ``q_k`` of
  the selected atoms (progressive Cholesky of ``G[I, I] = L L^T``,
  ``L[r, m] = U[m, I_r]``);
* ``c`` (B, max_k): ``c_k = alpha[j] / L_kk``, so that ``L^T gamma = c`` gives the codes.

One iteration is a gather of Gram rows, one batched matrix-vector product
(``U[:, :k]`` against the new atom's column), an axpy on ``alpha`` and an argmax: the
work of Rubinstein et al.'s Batch-OMP, done for the whole block by a few kernels.
Signals that stop (by sparsity, tolerance, a residual orthogonal to the dictionary or a
linearly dependent atom) are masked, and the block is compacted once a quarter of it
has stopped.
"""

from __future__ import annotations

import torch

from ..coding._omp import _resolve_stopping
from ._torch_common import as_float_tensor, eps, prepare, torch_threads

#: Bytes of the ``U`` buffer of one block (bounds memory; on the CPU it also keeps the
#: block's working set near the caches).
_BLOCK_BYTES = {"cpu": 32 << 20, "cuda": 2 << 30}


def _block_size(n, max_k, n_atoms, dtype, device):
    per_signal = max(1, max_k) * n_atoms * torch.finfo(dtype).bits // 8
    budget = _BLOCK_BYTES.get(device.type, _BLOCK_BYTES["cuda"])
    return max(1, min(n, budget // per_signal))


def _solve(U, idx, c, n_it, kk, n_atoms):
    """Codes from the factor: ``L^T gamma = c`` on the first ``n_it`` atoms of each row."""
    B = U.shape[0]
    codes = U.new_zeros((B, n_atoms))
    if kk == 0 or B == 0:
        return codes
    ib = idx[:, :kk]
    # M[b, m, r] = U[b, m, idx[b, r]]; its upper triangle is L^T.
    M = torch.gather(U[:, :kk], 2, ib[:, None, :].expand(B, kk, kk))
    used = torch.arange(kk, device=U.device)[None, :] < n_it[:, None]
    M = torch.where(used[:, :, None] & used[:, None, :], M, 0.0)
    M = M + torch.diag_embed((~used).to(M.dtype))
    cc = torch.where(used, c[:, :kk], 0.0)
    gamma = torch.linalg.solve_triangular(M, cc[:, :, None], upper=True)[:, :, 0]
    return codes.scatter_add_(1, ib, gamma)


def _omp_block(alpha0, G, norms2, max_k, tol, tol_first):
    """Batch-OMP for one block of correlations ``alpha0 = X D^T``; ``(codes, n_iter)``."""
    B, n_atoms = alpha0.shape
    device, dtype = alpha0.device, alpha0.dtype
    level = 100.0 * eps(dtype)
    codes = alpha0.new_zeros((B, n_atoms))
    n_iter = torch.zeros(B, dtype=torch.int64, device=device)
    use_tol = tol >= 0
    alpha = alpha0.clone()
    best, j = alpha.abs().max(dim=1)  # first index on ties, as the Numba kernel
    zero_level = level * best
    active = best != 0
    rn2 = norms2.clone() if use_tol else None
    if use_tol and tol_first:
        active &= rn2 > tol
    if max_k == 0 or not bool(active.any()):
        return codes, n_iter
    diag = G.diagonal()
    K = max(1, max_k)
    U = alpha.new_empty((B, K, n_atoms))  # rows are written before they are read
    idx = torch.zeros((B, K), dtype=torch.int64, device=device)
    c = alpha.new_zeros((B, K))
    n_it = torch.zeros(B, dtype=torch.int64, device=device)
    orig = torch.arange(B, device=device)
    for k in range(max_k):
        rows = torch.arange(alpha.shape[0], device=device)
        active &= best > zero_level
        Gjj = diag[j]
        if k:
            Ucol = U[rows, :k, j]  # (b, k): U[m, j] of the earlier rows
            d2 = Gjj - (Ucol * Ucol).sum(dim=1)
        else:
            d2 = Gjj
        active &= d2 > level * Gjj
        n_active = int(active.sum())
        if n_active == 0:
            break
        if 4 * n_active <= 3 * alpha.shape[0]:
            # Compact: finish the stopped rows, keep the others.
            done = ~active
            codes[orig[done]] = _solve(U[done], idx[done], c[done], n_it[done], k, n_atoms)
            n_iter[orig[done]] = n_it[done]
            keep = active
            orig, alpha, U, idx, c, n_it = (orig[keep], alpha[keep], U[keep], idx[keep],
                                            c[keep], n_it[keep])
            j, best, zero_level, d2, active = (j[keep], best[keep], zero_level[keep],
                                               d2[keep], active[keep])
            if use_tol:
                rn2 = rn2[keep]
            if k:
                Ucol = Ucol[keep]
            rows = torch.arange(alpha.shape[0], device=device)
        inv_d = torch.where(active, torch.rsqrt(torch.where(active, d2, 1.0)), 0.0)
        row = G[j]  # (b, n_atoms) Gram rows of the new atoms
        if k:
            row = torch.baddbmm(row[:, None, :], Ucol[:, None, :], U[:, :k], beta=1,
                                alpha=-1)[:, 0]
        row *= inv_d[:, None]
        ck = alpha[rows, j] * inv_d
        U[:, k] = row
        idx[:, k] = j
        c[:, k] = ck
        alpha.addcmul_(ck[:, None], row, value=-1)
        alpha[rows, j] = 0.0
        best, j = alpha.abs().max(dim=1)
        n_it += active
        if use_tol:
            rn2 = rn2 - ck * ck
            active &= rn2 > tol
    codes[orig] = _solve(U, idx, c, n_it, int(n_it.max()) if n_it.numel() else 0, n_atoms)
    n_iter[orig] = n_it
    return codes, n_iter


def batch_omp_torch(X, D, G, max_k, tol, tol_first=True, block_size=None):
    """Batch-OMP of the rows of ``X`` over ``D`` (validated tensors, one dtype/device).

    ``G = D D^T``; ``max_k`` atoms at most; ``tol`` the squared-residual target or a
    negative number for none; ``tol_first`` as in :func:`sparsecode.kernels.omp.omp_support`.
    Returns ``(codes, n_iter)``.
    """
    n = X.shape[0]
    n_atoms = D.shape[0]
    codes = X.new_zeros((n, n_atoms))
    n_iter = torch.zeros(n, dtype=torch.int64, device=X.device)
    if n == 0:
        return codes, n_iter
    bs = block_size or _block_size(n, max_k, n_atoms, X.dtype, X.device)
    Dt = D.T
    for s in range(0, n, bs):
        Xb = X[s:s + bs]
        norms2 = (Xb * Xb).sum(dim=1) if tol >= 0 else None
        codes[s:s + bs], n_iter[s:s + bs] = _omp_block(Xb @ Dt, G, norms2, max_k, tol,
                                                       tol_first)
    return codes, n_iter


def orthogonal_mp_torch(X, dictionary, *, n_nonzero_coefs=None, tol=None, gram=None,
                        n_jobs=None, return_n_iter=False, block_size=None):
    """:func:`sparsecode.orthogonal_mp` for torch tensors (which see); runs on their
    device and returns tensors there."""
    with torch.no_grad():
        X, D = prepare(X, dictionary)
        n_components, n_features = D.shape
        max_k, tol_ = _resolve_stopping(n_nonzero_coefs, tol, n_features, n_components)
        if gram is None:
            G = D @ D.T
        else:
            G = as_float_tensor(gram, "gram", dtype=D.dtype, device=D.device)
            if tuple(G.shape) != (n_components, n_components):
                raise ValueError(
                    f"gram must have shape (n_components, n_components) = "
                    f"({n_components}, {n_components}), got {tuple(G.shape)}.")
        with torch_threads(n_jobs, X.device):
            codes, n_iter = batch_omp_torch(X, D, G, max_k, tol_, True, block_size)
    return (codes, n_iter) if return_n_iter else codes
