"""Which output channels of a layer feed which layer: the dataflow behind structured export.

A *chain* starts at a producer (``nn.Linear`` or ``nn.Conv*`` with ``groups=1``) whose
output flows, through channel-wise operations only, into exactly one consumer layer:

    producer -> [BatchNorm] -> [activation | dropout | pooling]* -> [flatten] -> consumer

Removing output channel ``c`` of the producer then means removing input channel ``c``
(input features ``c*S .. (c+1)*S-1`` after a flatten of ``S`` spatial positions) of the
consumer. Anything else on the way (additions, concatenations, views, a second user)
ends the analysis: that producer's channels are not removed.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_LAYERS = (nn.Linear,) + _CONV
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_ELEMENTWISE_MODULES = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid,
    nn.Hardtanh, nn.Softplus, nn.Mish, nn.Hardswish, nn.Identity, nn.Dropout, nn.Dropout1d,
    nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
)
_POOL_MODULES = (
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
)
_ELEMENTWISE_FUNCTIONS = {
    F.relu, torch.relu, F.relu6, F.leaky_relu, F.elu, F.gelu, F.silu, torch.tanh,
    torch.sigmoid, F.hardtanh, F.softplus, F.dropout, F.mish, F.hardswish,
}
_POOL_FUNCTIONS = {
    F.max_pool1d, F.max_pool2d, F.max_pool3d, F.avg_pool1d, F.avg_pool2d, F.avg_pool3d,
    F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d,
    F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.adaptive_max_pool3d,
}
_ELEMENTWISE_METHODS = {"relu", "tanh", "sigmoid", "contiguous"}


@dataclass
class Chain:
    """One producer -> consumer path (see the module docstring).

    Attributes
    ----------
    producer, consumer : str
        Layer names (as in ``named_modules()``).
    batchnorm : str or None
        The ``BatchNorm`` directly after the producer.
    steps : list
        The channel-wise operations after the BatchNorm, in order: ``("module", name)``
        or ``("function", callable, kwargs)``.
    flatten : bool
        A flatten between the producer and a linear consumer.
    zero_padding_only : bool
        Some step (padded average pooling) keeps a channel constant only when it is zero.
    """

    producer: str
    consumer: str
    batchnorm: str | None = None
    steps: list = field(default_factory=list)
    flatten: bool = False
    zero_padding_only: bool = False


def _is_flatten(node, modules):
    if node.op == "call_module" and isinstance(modules[node.target], nn.Flatten):
        m = modules[node.target]
        return m.start_dim == 1 and m.end_dim == -1
    if node.op == "call_function" and node.target is torch.flatten:
        start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
        end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
        return start == 1 and end == -1
    if node.op == "call_method" and node.target == "flatten":
        start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
        end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
        return start == 1 and end == -1
    return False


def _padded_avg(mod_or_kwargs):
    pad = getattr(mod_or_kwargs, "padding", 0)
    include = getattr(mod_or_kwargs, "count_include_pad", True)
    if isinstance(pad, (tuple, list)):
        pad = any(pad)
    return bool(pad) and include


def channel_chains(module):
    """Trace ``module`` with ``torch.fx`` and return its producer -> consumer chains.

    Raises whatever ``torch.fx.symbolic_trace`` raises on an untraceable forward.
    """
    gm = torch.fx.symbolic_trace(module)
    modules = dict(gm.named_modules())
    calls = {}
    for node in gm.graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    chains = []
    for node in gm.graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], _LAYERS):
            continue
        prod = modules[node.target]
        if calls[node.target] != 1 or getattr(prod, "groups", 1) != 1:
            continue
        chain = Chain(producer=node.target, consumer="")
        cur, first, ok = node, True, False
        while True:
            users = list(cur.users)
            if len(users) != 1:
                break
            u = users[0]
            if u.op == "call_module":
                m = modules[u.target]
                if calls[u.target] != 1:
                    break
                if isinstance(m, _LAYERS):
                    if getattr(m, "groups", 1) != 1:
                        break
                    if isinstance(m, _CONV) != isinstance(prod, _CONV) and not chain.flatten:
                        break
                    if isinstance(m, _CONV) and chain.flatten:
                        break
                    chain.consumer = u.target
                    ok = True
                    break
                if isinstance(m, _BN) and first and not chain.steps:
                    chain.batchnorm = u.target
                elif isinstance(m, _ELEMENTWISE_MODULES):
                    chain.steps.append(("module", u.target))
                elif isinstance(m, _POOL_MODULES) and not chain.flatten:
                    chain.steps.append(("pool", u.target))
                    if isinstance(m, (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)) and \
                            _padded_avg(m):
                        chain.zero_padding_only = True
                elif _is_flatten(u, modules) and not chain.flatten:
                    chain.flatten = True
                else:
                    break
            elif u.op == "call_function":
                if u.target in _ELEMENTWISE_FUNCTIONS:
                    if any(isinstance(a, torch.fx.Node) for a in u.args[1:]) or any(
                            isinstance(v, torch.fx.Node) for v in u.kwargs.values()):
                        break
                    chain.steps.append(("function", u.target, tuple(u.args[1:]),
                                        dict(u.kwargs)))
                elif u.target in _POOL_FUNCTIONS and not chain.flatten:
                    chain.steps.append(("pool", None))
                    if u.target in (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d):
                        chain.zero_padding_only = True  # conservative
                elif _is_flatten(u, modules) and not chain.flatten:
                    chain.flatten = True
                elif u.target is operator.getitem:
                    break
                else:
                    break
            elif u.op == "call_method":
                if u.target in _ELEMENTWISE_METHODS and len(u.args) == 1 and not u.kwargs:
                    chain.steps.append(("method", u.target))
                elif _is_flatten(u, modules) and not chain.flatten:
                    chain.flatten = True
                else:
                    break
            else:  # output or placeholder
                break
            first = False
            cur = u
        if ok:
            chains.append(chain)
    return chains


def propagate_constant(module, chain, values):
    """Push per-channel constants ``values`` (the removed channels' output after the
    BatchNorm, which the caller applies) through the channel-wise steps of ``chain`` (evaluation mode).

    Returns the constants entering the consumer, or None when a step does not keep a
    constant map constant.
    """
    c = values
    for step in chain.steps:
        kind = step[0]
        if kind == "module":
            m = module.get_submodule(step[1])
            was = m.training
            m.eval()
            c = m(c.reshape(1, -1)).reshape(-1)
            m.train(was)
        elif kind == "function":
            fn, args, kwargs = step[1], step[2], dict(step[3])
            if "training" in kwargs:
                kwargs["training"] = False
            if fn is F.dropout:
                continue
            c = fn(c.reshape(1, -1), *args, **kwargs).reshape(-1)
        elif kind == "method":
            c = getattr(c.reshape(1, -1), step[1])().reshape(-1)
        elif kind == "pool":
            continue  # max / average of a constant map (no zero padding) is that constant
    return c
