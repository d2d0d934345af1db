"""Activations by their Keras names, as torch.nn modules.

``negative_slope=None`` means torch's own default (nn.LeakyReLU: 0.01); ``approximate`` is
nn.GELU's, "none" (exact, torch's default) or "tanh", as in scratch.
"""

from __future__ import annotations

from torch import nn


def activation(name: str, negative_slope: float | None = None, approximate: str = "none") -> nn.Module:
    if name == "linear":
        return nn.Identity()
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "tanh":
        return nn.Tanh()
    if name == "relu":
        return nn.ReLU()
    if name == "relu6":
        return nn.ReLU6()
    if name == "silu":
        return nn.SiLU()
    if name == "hard_sigmoid":
        return nn.Hardsigmoid()
    if name == "hard_swish":
        return nn.Hardswish()
    if name == "leaky_relu":
        return nn.LeakyReLU() if negative_slope is None else nn.LeakyReLU(negative_slope)
    if name == "softmax":
        return nn.Softmax(dim=-1)
    if name == "gelu":
        return nn.GELU(approximate=approximate)
    raise ValueError(f"unknown activation {name!r}")
