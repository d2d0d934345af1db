"""The dense family in Keras 3: linear regression, logistic regression, MLP.

Activations are separate layers after each Dense (rather than ``Dense(activation=...)``)
so that every model is the same stack of layers in all three implementations.
"""

from __future__ import annotations

import keras
from keras import layers

from framework.keras3.activations import activation as make_activation


def linear_regression(input_dim: int, units: int = 1) -> keras.Sequential:
    """y = x @ kernel + bias; compile with loss="mean_squared_error"."""
    return keras.Sequential([keras.Input(shape=(input_dim,)), layers.Dense(units)])


def logistic_regression(input_dim: int, units: int = 1, from_logits: bool = True) -> keras.Sequential:
    """Logits, for BinaryCrossentropy(from_logits=True); with ``from_logits=False`` it ends in a sigmoid."""
    stack = [keras.Input(shape=(input_dim,)), layers.Dense(units)]
    if not from_logits:
        stack.append(layers.Activation("sigmoid"))
    return keras.Sequential(stack)


def mlp(
    input_dim: int,
    units: list[int],
    num_classes: int,
    activation: str = "relu",
    negative_slope: float | None = None,
    approximate: str = "none",
    dropout: float = 0.0,
    kernel_regularizer: float | None = None,
) -> keras.Sequential:
    """Dense -> activation (-> Dropout) per hidden width, then Dense logits; SparseCategoricalCrossentropy(from_logits=True).

    ``kernel_regularizer=l`` puts ``keras.regularizers.L2(l)`` on every kernel: l * sum(W**2) joins the loss.
    """
    regularizer = keras.regularizers.L2(kernel_regularizer) if kernel_regularizer else None
    stack = [keras.Input(shape=(input_dim,))]
    for width in units:
        stack.append(layers.Dense(width, kernel_regularizer=regularizer))
        stack.append(make_activation(activation, negative_slope, approximate))
        if dropout:
            stack.append(layers.Dropout(dropout))
    stack.append(layers.Dense(num_classes, kernel_regularizer=regularizer))
    return keras.Sequential(stack)
