"""Per-layer sparsity and storage size of a model."""

from __future__ import annotations

import io
import warnings

import torch

from ._common import _current, prunable_parameters


# ---------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------
class SparsityReport:
    """Per-parameter sparsity and storage size (returned by :func:`sparsity_report`).

    Attributes
    ----------
    layers : list of dict
        ``name``, ``shape``, ``n_params``, ``n_zeros``, ``sparsity``, ``zero_rows``
        (slices along dim 0 entirely zero: removable neurons/channels),
        ``dense_bytes``, ``csr_bytes``.
    dense_bytes, sparse_bytes : int
        Whole model: all parameters and buffers dense, versus the weights stored as CSR
        (data + int32 indices + row pointers) where that is smaller, everything else
        dense.
    serialized_dense_bytes, serialized_sparse_bytes : int
        Real sizes of ``torch.save`` of the dense state dict and of the state dict with
        those weights as ``torch.sparse_csr`` tensors.
    """

    def __init__(self, layers, dense_bytes, sparse_bytes, ser_dense, ser_sparse):
        self.layers = layers
        self.dense_bytes = dense_bytes
        self.sparse_bytes = sparse_bytes
        self.serialized_dense_bytes = ser_dense
        self.serialized_sparse_bytes = ser_sparse

    @property
    def sparsity(self):
        """Fraction of zeros over the reported parameters."""
        n = sum(r["n_params"] for r in self.layers)
        return sum(r["n_zeros"] for r in self.layers) / max(n, 1)

    @property
    def compression(self):
        """``dense_bytes / sparse_bytes``."""
        return self.dense_bytes / max(self.sparse_bytes, 1)

    def to_markdown(self):
        lines = ["| parameter | shape | params | zeros | sparsity | zero rows | dense B | CSR B |",
                 "|---|---|---:|---:|---:|---:|---:|---:|"]
        for r in self.layers:
            lines.append(
                f"| {r['name']} | {'x'.join(map(str, r['shape']))} | {r['n_params']} | "
                f"{r['n_zeros']} | {r['sparsity']:.3f} | {r['zero_rows']} | "
                f"{r['dense_bytes']} | {r['csr_bytes']} |")
        lines.append(
            f"\nmodel: {self.dense_bytes} B dense, {self.sparse_bytes} B sparse "
            f"({self.compression:.2f}x); torch.save: {self.serialized_dense_bytes} B -> "
            f"{self.serialized_sparse_bytes} B; overall sparsity {self.sparsity:.3f}")
        return "\n".join(lines)

    __str__ = to_markdown

    def __repr__(self):
        return (f"SparsityReport(sparsity={self.sparsity:.3f}, dense_bytes="
                f"{self.dense_bytes}, sparse_bytes={self.sparse_bytes})")


def _csr_bytes(w2d, index_bytes=4):
    nnz = int((w2d != 0).sum())
    return nnz * (w2d.element_size() + index_bytes) + (w2d.shape[0] + 1) * index_bytes


def sparsity_report(module, parameters=None):
    """Per-layer sparsity of ``module`` and its size stored in a sparse format.

    Parameters
    ----------
    module : nn.Module
        Pruned or not (masked parameters are reported with their masks applied).
    parameters : None, str or sequence of str
        Which parameters to report (default: weights of dimension >= 2).

    Returns
    -------
    SparsityReport

    Examples
    --------
    >>> import torch
    >>> from sparsecode.nn.prune import sparsity_report, MagnitudePruner, ConstantSparsity
    >>> net = torch.nn.Linear(100, 100)
    >>> _ = MagnitudePruner(net, ConstantSparsity(0.9, frequency=1)).step()
    >>> rep = sparsity_report(net)
    >>> round(rep.layers[0]["sparsity"], 2), rep.compression > 3
    (0.9, True)
    """
    targets = prunable_parameters(module, parameters)
    layers = []
    sparse_names = {}
    for sub, name, qual in targets:
        w = _current(sub, name).detach().cpu()
        w2 = w.reshape(w.shape[0], -1) if w.dim() >= 2 else w.reshape(1, -1)
        dense_b = w.numel() * w.element_size()
        csr_b = _csr_bytes(w2)
        zero_rows = int((w2 == 0).all(dim=1).sum()) if w.dim() >= 2 else 0
        layers.append({
            "name": qual, "shape": tuple(w.shape), "n_params": w.numel(),
            "n_zeros": int((w == 0).sum()), "sparsity": float((w == 0).float().mean()),
            "zero_rows": zero_rows, "dense_bytes": dense_b, "csr_bytes": csr_b,
        })
        if csr_b < dense_b:
            sparse_names[qual] = w2
    # whole-model sizes: effective state dict (masks folded in)
    dense_sd, sparse_sd = {}, {}
    for key, t in module.state_dict().items():
        if key.endswith("_mask"):
            continue
        if key.endswith("_orig"):
            key = key[: -len("_orig")]
            path, _, name = key.rpartition(".")
            sub = module.get_submodule(path) if path else module
            t = _current(sub, name)
        t = t.detach().cpu()
        dense_sd[key] = t
        if key in sparse_names:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "CSR support is in beta"
                t = sparse_names[key].to_sparse_csr()
        sparse_sd[key] = t
    dense_bytes = sum(t.numel() * t.element_size() for t in dense_sd.values())
    sparse_bytes = 0
    for key, t in dense_sd.items():
        if key in sparse_names:
            sparse_bytes += _csr_bytes(sparse_names[key])
        else:
            sparse_bytes += t.numel() * t.element_size()

    def _saved(sd):
        buf = io.BytesIO()
        torch.save(sd, buf)
        return buf.getbuffer().nbytes

    return SparsityReport(layers, dense_bytes, sparse_bytes, _saved(dense_sd),
                          _saved(sparse_sd))
