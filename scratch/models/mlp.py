"""The dense family: linear regression, logistic regression and the multilayer perceptron."""

from __future__ import annotations

import numpy as np

from scratch import activations
from scratch.dense import Dense
from scratch.dropout import Dropout
from scratch.sequential import Sequential


def linear_regression(input_dim: int, units: int = 1) -> Sequential:
    """Y = X @ W + b, trained with mean squared error."""
    return Sequential([Dense(units)], input_shape=(input_dim,))


def logistic_regression(input_dim: int, units: int = 1, from_logits: bool = True) -> Sequential:
    """Logits z = X @ W + b, trained with binary cross-entropy on logits (σ lives in the loss).

    With ``from_logits=False`` the model ends in a sigmoid and outputs probabilities.
    """
    layers = [Dense(units)]
    if not from_logits:
        layers.append(activations.Sigmoid())
    return Sequential(layers, input_shape=(input_dim,))


def mlp(
    input_dim: int,
    units: list[int],
    num_classes: int,
    activation: str = "relu",
    negative_slope: float | None = None,
    approximate: str = "none",
    dropout: float = 0.0,
    kernel_regularizer=None,
) -> Sequential:
    """Dense -> activation (-> Dropout), once per hidden width in ``units``, then Dense logits.

    Softmax lives in the loss (cross-entropy on logits), not in the model. Dropout
    layers draw their masks from a generator seeded here; parity runs replace it by
    the mask the framework under comparison drew. ``kernel_regularizer`` (a
    ``scratch.regularizers.L2``) is attached to every Dense layer as ``layer.regularizer``;
    a training loop adds its penalty to the loss.
    """
    layers = []
    rng = np.random.default_rng(0)
    for width in units:
        layers.append(Dense(width))
        layers.append(activations.get(activation, negative_slope=negative_slope, approximate=approximate))
        if dropout:
            layers.append(Dropout(dropout, rng=rng))
    layers.append(Dense(num_classes))
    for layer in layers:
        if isinstance(layer, Dense):
            layer.regularizer = kernel_regularizer
    return Sequential(layers, input_shape=(input_dim,))
