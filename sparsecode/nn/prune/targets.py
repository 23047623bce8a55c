"""Per-layer sparsity targets and the layer-wise gradual pruner built on them."""

from __future__ import annotations

import fnmatch
import numbers

import torch
from torch import nn
from torch.nn.utils import prune

from ._common import _check_sparsity, _check_step, _current
from ._graph import channel_chains

__all__ = ["resolve_targets", "LayerwisePruner", "PRUNABLE_LAYERS"]

#: Layer types whose ``weight`` the targets refer to.
PRUNABLE_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _prunable_layers(module):
    return [(name, sub) for name, sub in module.named_modules()
            if isinstance(sub, PRUNABLE_LAYERS)]


def resolve_targets(module, targets):
    """Turn per-layer sparsity targets into ``{layer_name: sparsity}``.

    Parameters
    ----------
    module : nn.Module
    targets : float, or dict
        A float: the same target for every ``nn.Linear`` / ``nn.Conv*`` layer. A dict maps
        keys to sparsities in [0, 1); a key is

        - a layer type (``nn.Conv2d``) or a tuple of types: every layer of that type;
        - a string: the name of a layer (``"features.0"``, as in
          ``module.named_modules()``) or a glob pattern over those names (``"fc*"``).
          ``"<layer>.weight"`` is accepted for ``"<layer>"``.

        Names win over types, and later keys over earlier ones of the same kind, so
        ``{nn.Linear: 0.7, "classifier": 0.0}`` prunes every linear layer but the last.
        Layers given 0 are left out.

    Returns
    -------
    dict
        ``{layer_name: sparsity}`` in the module's order, only layers with sparsity > 0.

    Raises
    ------
    ValueError
        A sparsity outside [0, 1), a name or pattern matching no prunable layer, a type
        matching no layer.
    TypeError
        A key that is neither a string nor a layer type.

    Examples
    --------
    >>> from torch import nn
    >>> from sparsecode.nn.prune import resolve_targets
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(36, 8),
    ...                     nn.Linear(8, 2))
    >>> resolve_targets(net, {nn.Conv2d: 0.5, nn.Linear: 0.7, "3": 0.0})
    {'0': 0.5, '2': 0.7}
    """
    layers = _prunable_layers(module)
    names = [n for n, _ in layers]
    if not layers:
        raise ValueError(
            f"module has no prunable layer ({', '.join(c.__name__ for c in PRUNABLE_LAYERS)})."
        )
    if isinstance(targets, numbers.Real) and not isinstance(targets, bool):
        s = _check_sparsity(targets, "targets")
        return {n: s for n in names} if s > 0 else {}
    if not isinstance(targets, dict):
        raise TypeError(
            "targets must be a float in [0, 1) or a dict {layer name, pattern or layer "
            f"type: sparsity}}, got {type(targets).__name__}."
        )
    by_type, by_name = {}, {}
    for key, value in targets.items():
        s = _check_sparsity(value, f"targets[{key!r}]")
        if isinstance(key, type) or (isinstance(key, tuple) and key
                                     and all(isinstance(k, type) for k in key)):
            matched = [n for n, sub in layers if isinstance(sub, key)]
            if not matched:
                raise ValueError(
                    f"targets: layer type {key!r} matches no layer of the module; prunable "
                    f"layers: {names}."
                )
            for n in matched:
                by_type[n] = s
        elif isinstance(key, str):
            pat = key[: -len(".weight")] if key.endswith(".weight") else key
            matched = [n for n in names if fnmatch.fnmatchcase(n, pat)]
            if not matched:
                raise ValueError(
                    f"targets: unknown layer name {key!r}; prunable layers of the module "
                    f"(nn.Linear / nn.Conv*): {names}."
                )
            for n in matched:
                by_name[n] = s
        else:
            raise TypeError(
                f"targets keys must be layer names, glob patterns or layer types, got {key!r}."
            )
    out = {}
    for n in names:
        s = by_name.get(n, by_type.get(n, 0.0))
        if s > 0:
            out[n] = s
    return out


def _register(sub, name, mask=None):
    if not (prune.is_pruned(sub) and hasattr(sub, name + "_mask")):
        prune.identity(sub, name)
    m = getattr(sub, name + "_mask")
    if mask is not None:
        m.copy_(mask)
    return m


class LayerwisePruner:
    r"""Gradual magnitude pruning of each layer to its own target (Zhu & Gupta 2017).

    Layer :math:`\ell` with target :math:`s_\ell` follows the polynomial schedule

    .. math::

        s_\ell(t) = s_\ell + (s_{i} - s_\ell)\Big(1 - \frac{t - t_0}{t_1 - t_0}\Big)^{p},

    pruned every ``frequency`` optimizer steps between ``begin_step`` and ``end_step``;
    after ``end_step`` the masks are fixed (fine-tuning). Masks only shrink.

    - ``structured=False``: the smallest-magnitude weights of the layer.
    - ``structured=True``: whole output units (rows of ``nn.Linear``) or channels
      (``nn.Conv*`` output channels) of smallest L2 norm; the unit's bias and the
      scale/shift of the ``BatchNorm`` that directly follows it (found by tracing the
      module with ``torch.fx``) are masked with it, so a pruned unit outputs exactly
      zero and :func:`~sparsecode.nn.prune.export_sparse` can remove it physically.

    Use it as a training callback (:class:`~sparsecode.nn.Trainer`:
    ``callbacks=[pruner]``), or call :meth:`step` after every optimizer step.

    Parameters
    ----------
    module : nn.Module or None
        None: bound when training starts.
    targets : float or dict
        Per-layer targets, see :func:`resolve_targets`.
    end_step : int
        Step at which every layer reaches its target.
    begin_step : int, default=0
    frequency : int, default=10
    power : float, default=3
    initial_sparsity : float, default=0.0
        :math:`s_i` (capped by each layer's target).
    structured : bool, default=False

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sparsecode.nn.prune import LayerwisePruner
    >>> net = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    >>> p = LayerwisePruner(net, {"0": 0.75, "2": 0.5}, end_step=0)
    >>> _ = p.step()
    >>> p.sparsity()
    {'0': 0.75, '2': 0.5}
    """

    def __init__(self, module=None, targets=None, *, end_step, begin_step=0, frequency=10,
                 power=3, initial_sparsity=0.0, structured=False):
        if targets is None:
            raise ValueError("targets is required (a float or a dict, see resolve_targets).")
        self.targets = targets
        self.begin_step = _check_step(begin_step, "begin_step")
        self.end_step = _check_step(end_step, "end_step")
        if self.end_step < self.begin_step:
            raise ValueError(f"end_step must be >= begin_step={begin_step}, got {end_step}.")
        self.frequency = _check_step(frequency, "frequency", minimum=1)
        if isinstance(power, bool) or not isinstance(power, numbers.Real) or power <= 0:
            raise ValueError(f"power must be a positive float, got {power!r}.")
        self.power = float(power)
        self.initial_sparsity = _check_sparsity(initial_sparsity, "initial_sparsity")
        self.structured = bool(structured)
        self.step_count = 0
        self.module = None
        self.layer_targets_ = {}
        self._groups = {}
        if module is not None:
            self.bind(module)

    # ------------------------------------------------------------------ binding
    def bind(self, module):
        """Resolve the targets on ``module`` and register the masks."""
        self.module = module
        self.layer_targets_ = resolve_targets(module, self.targets)
        self._groups = {}
        bn_after = {}
        if self.structured:
            try:
                for chain in channel_chains(module):
                    if chain.batchnorm is not None:
                        bn_after[chain.producer] = chain.batchnorm
            except Exception:  # noqa: BLE001 - untraceable forward: no BatchNorm coupling
                bn_after = {}
        with torch.no_grad():
            for name in self.layer_targets_:
                layer = module.get_submodule(name)
                group = [(layer, "weight")]
                _register(layer, "weight")
                if self.structured:
                    if layer.bias is not None or hasattr(layer, "bias_orig"):
                        _register(layer, "bias")
                        group.append((layer, "bias"))
                    bn_name = bn_after.get(name)
                    if bn_name is not None:
                        bn = module.get_submodule(bn_name)
                        for pn in ("weight", "bias"):
                            if getattr(bn, pn, None) is not None or hasattr(bn, pn + "_orig"):
                                _register(bn, pn)
                                group.append((bn, pn))
                self._groups[name] = group
        return self

    # ------------------------------------------------------------------ schedule
    def sparsity_at(self, step, target):
        """Target sparsity of a layer with final ``target`` at ``step``."""
        s_i = min(self.initial_sparsity, target)
        if step <= self.begin_step:
            return s_i if self.end_step > self.begin_step else target
        if step >= self.end_step:
            return target
        frac = (step - self.begin_step) / (self.end_step - self.begin_step)
        return target + (s_i - target) * (1.0 - frac) ** self.power

    def should_update(self, step):
        if step < self.begin_step or step > self.end_step:
            return False
        return (step - self.begin_step) % self.frequency == 0 or step == self.end_step

    def step(self):
        """Advance one step; prune when the schedule says so. Returns ``self``."""
        if self.module is None:
            raise RuntimeError("LayerwisePruner is not bound to a module; call bind(module).")
        if self.should_update(self.step_count):
            self.prune_to({n: self.sparsity_at(self.step_count, s)
                           for n, s in self.layer_targets_.items()})
        self.step_count += 1
        return self

    @torch.no_grad()
    def prune_to(self, sparsities):
        """Prune each layer now to (at least) ``sparsities[layer]``."""
        for name, s in sparsities.items():
            group = self._groups[name]
            layer = group[0][0]
            w = _current(layer, "weight").detach()
            if self.structured:
                mask = layer.weight_mask
                alive = mask.reshape(mask.shape[0], -1).any(dim=1)
                scores = w.reshape(w.shape[0], -1).norm(dim=1)
                scores = torch.where(alive, scores, torch.full_like(scores, -1.0))
                n_prune = int(round(s * scores.numel()))
                order = torch.argsort(scores, stable=True)
                keep = torch.ones_like(scores)
                keep[order[:n_prune]] = 0
                keep = keep * alive.to(keep.dtype)
                for sub, pn in group:
                    m = getattr(sub, pn + "_mask")
                    shape = [-1] + [1] * (m.dim() - 1)
                    m.mul_(keep.reshape(shape).to(m.dtype))
            else:
                mask = layer.weight_mask
                scores = torch.where(mask > 0, w.abs(), torch.full_like(w, -1.0)).reshape(-1)
                n_prune = int(round(s * scores.numel()))
                if n_prune == 0:
                    continue
                order = torch.argsort(scores, stable=True)
                flat = mask.reshape(-1).clone()
                flat[order[:n_prune]] = 0
                mask.copy_(flat.reshape(mask.shape))
        self._apply_masks()

    @torch.no_grad()
    def _apply_masks(self):
        for group in self._groups.values():
            for sub, pn in group:
                orig, m = getattr(sub, pn + "_orig"), getattr(sub, pn + "_mask")
                orig.mul_(m)
                setattr(sub, pn, orig * m)

    def sparsity(self):
        """``{layer: fraction of masked weights}`` (structured: of masked units)."""
        out = {}
        for name, group in self._groups.items():
            m = group[0][0].weight_mask
            if self.structured:
                out[name] = float((~m.reshape(m.shape[0], -1).any(dim=1)).float().mean())
            else:
                out[name] = float((m == 0).float().mean())
        return out

    def remove(self):
        """Make the pruning permanent: plain parameters with zeros, no masks."""
        for group in self._groups.values():
            for sub, pn in group:
                if hasattr(sub, pn + "_mask"):
                    prune.remove(sub, pn)
        self._groups = {}

    # ------------------------------------------------------------------ callbacks
    def on_train_begin(self, trainer):
        if self.module is not trainer.module:
            self.bind(trainer.module)
        self._apply_masks()

    def after_step(self, trainer):
        self.step()
        self._apply_masks()

    def state_dict(self):
        return {"step_count": self.step_count}

    def load_state_dict(self, s):
        self.step_count = s["step_count"]

    def __repr__(self):
        return (f"LayerwisePruner(targets={self.targets!r}, end_step={self.end_step}, "
                f"structured={self.structured})")
