"""Single-layer models in torch.nn."""

from __future__ import annotations

from torch import nn

from framework.pytorch.activations import activation as make_activation


def dense(
    input_dim: int,
    units: int,
    use_bias: bool = True,
    activation: str = "linear",
    negative_slope: float | None = None,
    approximate: str | None = None,
) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(input_dim, units, bias=use_bias)]
    if activation != "linear":
        layers.append(make_activation(activation, negative_slope, approximate))
    return nn.Sequential(*layers)


def activation(
    input_dim: int, activation: str, negative_slope: float | None = None, approximate: str | None = None
) -> nn.Sequential:
    return nn.Sequential(make_activation(activation, negative_slope, approximate))
