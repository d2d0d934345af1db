"""Single-layer models: one layer type, wrapped so the harness can test it alone."""

from __future__ import annotations

from scratch import activations
from scratch.dense import Dense
from scratch.sequential import Sequential


def dense(
    input_dim: int,
    units: int,
    use_bias: bool = True,
    activation: str = "linear",
    negative_slope: float | None = None,
    approximate: str = "none",
) -> Sequential:
    """Dense, followed by its activation unless it is "linear" (Keras' Dense(units, activation))."""
    layers = [Dense(units, use_bias=use_bias)]
    if activation != "linear":
        layers.append(activations.get(activation, negative_slope=negative_slope, approximate=approximate))
    return Sequential(layers, input_shape=(input_dim,))


def activation(
    input_dim: int, activation: str, negative_slope: float | None = None, approximate: str = "none"
) -> Sequential:
    """One activation layer."""
    layer = activations.get(activation, negative_slope=negative_slope, approximate=approximate)
    return Sequential([layer], input_shape=(input_dim,))
