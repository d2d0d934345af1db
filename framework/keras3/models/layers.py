"""Single-layer models in Keras 3."""

from __future__ import annotations

import keras
from keras import layers

from framework.keras3.activations import activation as make_activation


def dense(
    input_dim: int,
    units: int,
    use_bias: bool = True,
    activation: str = "linear",
    negative_slope: float | None = None,
    approximate: str = "none",
) -> keras.Sequential:
    stack = [keras.Input(shape=(input_dim,)), layers.Dense(units, use_bias=use_bias)]
    if activation != "linear":
        stack.append(make_activation(activation, negative_slope, approximate))
    return keras.Sequential(stack)


def activation(
    input_dim: int,
    activation: str,
    negative_slope: float | None = None,
    approximate: str = "none",
) -> keras.Sequential:
    return keras.Sequential([keras.Input(shape=(input_dim,)), make_activation(activation, negative_slope, approximate)])
