"""Single-layer models in torch.nn: a Linear with its activation, and an activation alone."""

from __future__ import annotations

from torch import nn

from framework.pytorch.activations import activation as make_activation


def dense(
    input_dim: int,
    units: int,
    use_bias: bool = True,
    activation: str = "linear",
    negative_slope: float | None = None,
    approximate: str = "none",
) -> nn.Sequential:
    """y = act(x W^T + b): x (B, input_dim) -> (B, units); weight (units, input_dim), nn.Linear's init."""
    layers: list[nn.Module] = [nn.Linear(input_dim, units, bias=use_bias)]
    if activation != "linear":
        layers.append(make_activation(activation, negative_slope, approximate))
    return nn.Sequential(*layers)


def activation(
    input_dim: int, activation: str, negative_slope: float | None = None, approximate: str = "none"
) -> nn.Sequential:
    """One activation module: x (B, input_dim) -> (B, input_dim)."""
    return nn.Sequential(make_activation(activation, negative_slope, approximate))
