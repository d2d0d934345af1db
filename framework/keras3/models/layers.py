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
    approximate: str | None = None,
    activation_form: str = "layer",
) -> keras.Sequential:
    stack = [keras.Input(shape=(input_dim,)), layers.Dense(units, use_bias=use_bias)]
    if activation != "linear":
        stack.append(make_activation(activation, negative_slope, approximate, activation_form))
    return keras.Sequential(stack)


def activation(
    input_dim: int,
    activation: str,
    negative_slope: float | None = None,
    approximate: str | None = None,
    activation_form: str = "layer",
) -> keras.Sequential:
    return keras.Sequential(
        [keras.Input(shape=(input_dim,)), make_activation(activation, negative_slope, approximate, activation_form)]
    )
