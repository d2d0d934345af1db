"""The dense family: linear regression, logistic regression and the multilayer perceptron."""

from __future__ import annotations

from scratch import activations
from scratch.dense import Dense
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
) -> Sequential:
    """Dense -> activation, once per hidden width in ``units``, then Dense logits.

    Softmax lives in the loss (cross-entropy on logits), not in the model.
    """
    layers = []
    for width in units:
        layers.append(Dense(width))
        layers.append(activations.get(activation, negative_slope=negative_slope, approximate=approximate))
    layers.append(Dense(num_classes))
    return Sequential(layers, input_shape=(input_dim,))
