"""Export a pruned model that is really smaller and faster: :func:`export_sparse`."""

from __future__ import annotations

import copy
import os
import statistics
import tempfile
import time
import warnings

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune

from ._graph import _CONV, channel_chains, propagate_constant

__all__ = ["SparseLinear", "export_sparse", "saved_size", "fold_masks", "CSR_BACKENDS",
           "CSR_RULE"]

#: Backends of :class:`SparseLinear`.
CSR_BACKENDS = ("torch", "scipy")

#: The size-based rule of ``export_sparse(unstructured="rule")``, calibrated by
#: ``benchmarks/bench_sparse_networks.py`` on a 2-core Xeon, one thread (see
#: ``benchmarks/results/sparse_networks.md``): torch CSR beats dense ``F.linear`` from
#: about 85-90 % sparsity for a 1024x1024 layer and 80-85 % for 4096x1024; a 512x128
#: layer (64k weights) is never faster at batch 1 (its dense product is shorter than the
#: sparse kernel's overhead) and only from about 90 % at batch 256. The rule keeps to
#: the safe side: CSR for layers of at least 2^20 weights and 90 % sparsity.
CSR_RULE = {"min_weights": 1 << 20, "min_sparsity": 0.9}


# ---------------------------------------------------------------------------------------
# CSR linear layer
# ---------------------------------------------------------------------------------------
class SparseLinear(nn.Module):
    r"""``nn.Linear`` for inference with its weight stored and applied in CSR format.

    :math:`y = x W^\top + b` with :math:`W` kept as CSR (``values``, int32
    ``col_indices`` and ``crow_indices`` buffers, so ``state_dict``, ``torch.save`` and
    safetensors store only the nonzeros), multiplied by ``torch.sparse.mm`` (``backend=
    "torch"``) or by SciPy's CSR kernel (``"scipy"``, CPU only). No gradients.

    Parameters
    ----------
    weight : Tensor of shape (out_features, in_features)
    bias : Tensor of shape (out_features,) or None
    backend : {"torch", "scipy"}, default="torch"

    Examples
    --------
    >>> import torch
    >>> from sparsecode.nn.prune import SparseLinear
    >>> lin = torch.nn.Linear(6, 3)
    >>> with torch.no_grad():
    ...     lin.weight[lin.weight.abs() < 0.3] = 0
    >>> sp = SparseLinear(lin.weight, lin.bias)
    >>> x = torch.randn(4, 6)
    >>> bool(torch.allclose(sp(x), lin(x), atol=1e-6))
    True
    """

    def __init__(self, weight, bias=None, *, backend="torch"):
        super().__init__()
        if backend not in CSR_BACKENDS:
            raise ValueError(f"backend must be one of {list(CSR_BACKENDS)}, got {backend!r}.")
        if weight.dim() != 2:
            raise ValueError(f"weight must be 2-D, got shape {tuple(weight.shape)}.")
        w = weight.detach()
        self.out_features, self.in_features = int(w.shape[0]), int(w.shape[1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "CSR support is in beta"
            csr = w.to_sparse_csr()
        self.register_buffer("crow_indices", csr.crow_indices().to(torch.int32).clone())
        self.register_buffer("col_indices", csr.col_indices().to(torch.int32).clone())
        self.register_buffer("values", csr.values().clone())
        if bias is not None:
            self.register_buffer("bias", bias.detach().clone())
        else:
            self.bias = None
        self.backend = backend
        self._cache = None

    @property
    def nnz(self):
        return int(self.values.numel())

    def _matrix(self):
        key = (self.values.data_ptr(), self.values.device, self.values.dtype,
               self.col_indices.data_ptr(), self.backend)
        if self._cache is None or self._cache[0] != key:
            shape = (self.out_features, self.in_features)
            if self.backend == "torch":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    mat = torch.sparse_csr_tensor(self.crow_indices, self.col_indices,
                                                  self.values, shape)
            else:
                from scipy import sparse

                mat = sparse.csr_matrix(
                    (self.values.detach().cpu().numpy(),
                     self.col_indices.cpu().numpy(), self.crow_indices.cpu().numpy()),
                    shape=shape)
            self._cache = (key, mat)
        return self._cache[1]

    def forward(self, x):
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)
        mat = self._matrix()
        if self.backend == "torch":
            y = torch.sparse.mm(mat, x2.t()).t()
        else:
            if x2.device.type != "cpu":
                raise RuntimeError("SparseLinear(backend='scipy') runs on the CPU only.")
            y = torch.from_numpy(np.ascontiguousarray(
                (mat @ x2.detach().numpy().T).T)).to(x2.dtype)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*lead, self.out_features)

    def to_dense(self):
        """The equivalent ``nn.Linear``."""
        lin = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None,
                        dtype=self.values.dtype, device=self.values.device)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            lin.weight.copy_(torch.sparse_csr_tensor(
                self.crow_indices.long(), self.col_indices.long(), self.values,
                (self.out_features, self.in_features)).to_dense())
            if self.bias is not None:
                lin.bias.copy_(self.bias)
        return lin

    def extra_repr(self):
        density = self.nnz / max(self.out_features * self.in_features, 1)
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"nnz={self.nnz} ({density:.1%}), backend={self.backend!r}")


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------
def fold_masks(module):
    """Make every ``torch.nn.utils.prune`` mask of ``module`` permanent, in place."""
    for _, sub in module.named_modules():
        for key in list(sub._buffers):
            if key.endswith("_mask") and hasattr(sub, key[: -len("_mask")] + "_orig"):
                prune.remove(sub, key[: -len("_mask")])
    return module


def _copy(module):
    """``copy.deepcopy`` that also works on a pruned module after a forward pass (whose
    masked weights are non-leaf tensors)."""
    saved = []
    for _, sub in module.named_modules():
        for key in list(sub._buffers):
            name = key[: -len("_mask")]
            if key.endswith("_mask") and hasattr(sub, name + "_orig"):
                t = getattr(sub, name, None)
                if torch.is_tensor(t) and not t.is_leaf:
                    saved.append((sub, name, t))
                    setattr(sub, name, t.detach())
    try:
        return copy.deepcopy(module)
    finally:
        for sub, name, t in saved:
            setattr(sub, name, t)


def saved_size(module, format="torch"):
    """Bytes on disk of ``module``'s state dict saved with ``torch.save`` or safetensors.

    Parameters
    ----------
    module : nn.Module
    format : {"torch", "safetensors"}, default="torch"

    Returns
    -------
    int
    """
    if format not in ("torch", "safetensors"):
        raise ValueError(f"format must be 'torch' or 'safetensors', got {format!r}.")
    sd = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    fd, path = tempfile.mkstemp(suffix=".pt" if format == "torch" else ".safetensors")
    os.close(fd)
    try:
        if format == "torch":
            torch.save(sd, path)
        else:
            from safetensors.torch import save_file

            save_file({k: v.clone() for k, v in sd.items()}, path)
        return os.path.getsize(path)
    finally:
        os.remove(path)


def _median_time(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@torch.no_grad()
def _probe(lin, batch_size, repeat, backends):
    """Median time of the dense layer and of each CSR backend on a random batch
    (interleaved rounds)."""
    x = torch.randn(batch_size, lin.in_features, dtype=lin.weight.dtype,
                    device=lin.weight.device)
    cands = {"dense": lin}
    for b in backends:
        if b == "scipy" and lin.weight.device.type != "cpu":
            continue
        cands[b] = SparseLinear(lin.weight, lin.bias, backend=b)
    for f in cands.values():
        f(x)  # warm-up
    inner = max(1, int(2e6 // max(1, batch_size * lin.in_features)))
    times = {k: [] for k in cands}
    for _ in range(repeat):
        for k, f in cands.items():
            times[k].append(_median_time(lambda f=f: [f(x) for _ in range(inner)], 1) / inner)
    return {k: statistics.median(v) for k, v in times.items()}, cands


def _set_param(mod, name, value):
    setattr(mod, name, nn.Parameter(value.contiguous(), requires_grad=False))


@torch.no_grad()
def _remove_structured(model, info):
    try:
        chains = channel_chains(model)
    except Exception as exc:  # noqa: BLE001 - any tracing failure
        warnings.warn(
            f"export_sparse: torch.fx could not trace the model ({type(exc).__name__}: "
            f"{exc}); no channel or unit is removed.", UserWarning, stacklevel=3)
        return
    for chain in chains:
        prod = model.get_submodule(chain.producer)
        cons = model.get_submodule(chain.consumer)
        W = prod.weight
        n_out = W.shape[0]
        zero = ~W.reshape(n_out, -1).any(dim=1)
        if not bool(zero.any()):
            continue
        c = prod.bias[zero].clone() if prod.bias is not None else W.new_zeros(
            int(zero.sum()))
        bn = None
        if chain.batchnorm is not None:
            bn = model.get_submodule(chain.batchnorm)
            if bn.running_mean is None:
                continue  # batch statistics at evaluation: a channel is not a constant
            c = (c - bn.running_mean[zero]) / torch.sqrt(bn.running_var[zero] + bn.eps)
            if bn.affine:
                c = c * bn.weight[zero] + bn.bias[zero]
        c = propagate_constant(model, chain, c)
        idx_zero = torch.nonzero(zero).reshape(-1)
        removable = torch.ones_like(idx_zero, dtype=torch.bool)
        padded_conv = isinstance(cons, _CONV) and (
            cons.padding == "same" or (not isinstance(cons.padding, str)
                                       and any(p != 0 for p in cons.padding)))
        if chain.zero_padding_only or padded_conv:
            removable = c == 0  # a nonzero constant map is not constant after zero padding
        idx_rm, c_rm = idx_zero[removable], c[removable]
        if idx_rm.numel() == n_out:  # keep one unit so the shapes stay valid
            idx_rm, c_rm = idx_rm[1:], c_rm[1:]
        if idx_rm.numel() == 0:
            continue
        keep_mask = torch.ones(n_out, dtype=torch.bool, device=W.device)
        keep_mask[idx_rm] = False
        keep = torch.nonzero(keep_mask).reshape(-1)
        # consumer: fold the constants of the removed inputs into its bias, slice inputs
        Wc = cons.weight
        if chain.flatten:
            if Wc.shape[1] % n_out:
                continue
            S = Wc.shape[1] // n_out
            cols_rm = (idx_rm[:, None] * S + torch.arange(S, device=W.device)).reshape(-1)
            cols_keep = (keep[:, None] * S + torch.arange(S, device=W.device)).reshape(-1)
            const = c_rm.repeat_interleave(S)
            shift = Wc[:, cols_rm] @ const
        else:
            if Wc.shape[1] != n_out:
                continue
            cols_keep = keep
            red = Wc[:, idx_rm].reshape(Wc.shape[0], idx_rm.numel(), -1).sum(-1)
            shift = red @ c_rm
        if bool((shift != 0).any()):
            if cons.bias is None:
                _set_param(cons, "bias", shift.clone())
            else:
                _set_param(cons, "bias", cons.bias + shift)
        _set_param(cons, "weight", Wc[:, cols_keep])
        if isinstance(cons, nn.Linear):
            cons.in_features = int(cols_keep.numel())
        else:
            cons.in_channels = int(keep.numel())
        # producer and its BatchNorm: slice outputs
        _set_param(prod, "weight", W[keep])
        if prod.bias is not None:
            _set_param(prod, "bias", prod.bias[keep])
        if isinstance(prod, nn.Linear):
            prod.out_features = int(keep.numel())
        else:
            prod.out_channels = int(keep.numel())
        if bn is not None:
            if bn.affine:
                _set_param(bn, "weight", bn.weight[keep])
                _set_param(bn, "bias", bn.bias[keep])
            bn.running_mean = bn.running_mean[keep].clone()
            bn.running_var = bn.running_var[keep].clone()
            bn.num_features = int(keep.numel())
        info.setdefault(chain.producer, {})
        info[chain.producer].update(units=int(n_out), kept=int(keep.numel()))


def _replace(model, name, new):
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


# ---------------------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------------------
def export_sparse(module, *, structured=True, unstructured="auto", batch_size=256,
                  min_sparsity=0.5, min_speedup=1.05, backends=CSR_BACKENDS, repeat=7):
    """A copy of a pruned ``module`` that is physically smaller and, where measured, faster.

    1. The pruning masks are folded in (plain parameters with zeros).
    2. ``structured``: every ``nn.Linear`` / ``nn.Conv*`` output unit or channel whose
       weights are all zero is **removed**, with the matching slices of the following
       ``BatchNorm`` and input columns/channels of the next layer (through activations,
       dropout, pooling and a flatten; found by tracing with ``torch.fx``). A removed
       unit whose output is a nonzero constant (its bias, after BatchNorm and the
       activation) is folded into the next layer's bias when that is exact (a linear
       layer, or a convolution without padding); otherwise that unit is kept. Output
       layers, shared layers and layers feeding residual additions or concatenations
       keep their units.
    3. ``unstructured``: each remaining ``nn.Linear`` with at least ``min_sparsity``
       zeros becomes a :class:`SparseLinear` (CSR) with the fastest backend -- only when
       a timing probe at export (``batch_size`` rows, median of ``repeat`` interleaved
       rounds) finds it ``min_speedup`` times faster than the dense layer
       (``"auto"``); ``"rule"`` converts without measuring by the size rule
       :data:`CSR_RULE` (at least 2^20 weights and 90 % sparsity, calibrated by the
       benchmark); ``"always"`` converts every such layer (torch backend; smaller on
       disk once the density is below about 1/2); ``"never"`` keeps every layer dense.
       Convolutions stay dense.

    The result computes the same function as the masked model (up to floating-point
    summation order) in evaluation mode; it is for inference.

    Parameters
    ----------
    module : nn.Module
        Pruned with :class:`LayerwisePruner`, :class:`MagnitudePruner`, any
        ``torch.nn.utils.prune`` method, or with zeros written in directly. Not modified.
    structured : bool, default=True
    unstructured : {"auto", "rule", "always", "never"}, default="auto"
    batch_size : int, default=256
        Rows of the timing probe: the batch size the model will serve.
    min_sparsity : float, default=0.5
    min_speedup : float, default=1.05
    backends : sequence of {"torch", "scipy"}
    repeat : int, default=7

    Returns
    -------
    nn.Module
        In evaluation mode, with ``sparse_export_``: ``{layer: {"units", "kept"} and/or
        {"sparsity", "format", "probe_s"}}``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sparsecode.nn.prune import LayerwisePruner, export_sparse
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 3))
    >>> _ = LayerwisePruner(net, {"0": 0.75}, end_step=0, structured=True).step()
    >>> small = export_sparse(net, unstructured="never")
    >>> small[0].out_features, small[2].in_features
    (16, 16)
    >>> x = torch.randn(5, 20)
    >>> bool(torch.allclose(small(x), net(x), atol=1e-6))
    True
    """
    if unstructured not in ("auto", "rule", "always", "never"):
        raise ValueError(
            "unstructured must be 'auto', 'rule', 'always' or 'never', got "
            f"{unstructured!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    backends = tuple(backends)
    bad = [b for b in backends if b not in CSR_BACKENDS]
    if bad or not backends:
        raise ValueError(f"backends must be a non-empty subset of {list(CSR_BACKENDS)}, "
                         f"got {list(backends)}.")
    if not 0.0 <= float(min_sparsity) <= 1.0:
        raise ValueError(f"min_sparsity must be in [0, 1], got {min_sparsity}.")
    model = fold_masks(_copy(module)).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    info = {}
    if structured:
        _remove_structured(model, info)
    if unstructured != "never":
        for name, sub in list(model.named_modules()):
            if not isinstance(sub, nn.Linear):
                continue
            sparsity = float((sub.weight == 0).float().mean())
            entry = info.setdefault(name, {})
            entry["sparsity"] = sparsity
            entry["format"] = "dense"
            if unstructured == "always":
                _replace(model, name, SparseLinear(sub.weight, sub.bias,
                                                   backend=backends[0]))
                entry["format"] = f"csr-{backends[0]}"
                continue
            if sparsity < min_sparsity:
                continue
            if unstructured == "rule":
                if (sub.weight.numel() >= CSR_RULE["min_weights"]
                        and sparsity >= CSR_RULE["min_sparsity"]):
                    _replace(model, name, SparseLinear(sub.weight, sub.bias,
                                                       backend=backends[0]))
                    entry["format"] = f"csr-{backends[0]}"
                continue
            times, cands = _probe(sub, batch_size, repeat, backends)
            entry["probe_s"] = times
            best = min((k for k in times if k != "dense"), key=times.get, default=None)
            if best is not None and times[best] * min_speedup < times["dense"]:
                _replace(model, name, cands[best].eval())
                entry["format"] = f"csr-{best}"
    model.sparse_export_ = info
    return model
