"""The dense family in torch.nn: linear regression, logistic regression, MLP."""

from __future__ import annotations

from torch import nn

from framework.pytorch.activations import activation as make_activation


def linear_regression(input_dim: int, units: int = 1) -> nn.Sequential:
    """y = x W^T + b; train with nn.MSELoss."""
    return nn.Sequential(nn.Linear(input_dim, units))


def logistic_regression(input_dim: int, units: int = 1, from_logits: bool = True) -> nn.Sequential:
    """Logits; train with nn.BCEWithLogitsLoss. With ``from_logits=False`` it ends in nn.Sigmoid."""
    layers: list[nn.Module] = [nn.Linear(input_dim, units)]
    if not from_logits:
        layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


def mlp(
    input_dim: int,
    units: list[int],
    num_classes: int,
    activation: str = "relu",
    negative_slope: float | None = None,
    approximate: str = "none",
    dropout: float = 0.0,
) -> nn.Sequential:
    """Linear -> activation (-> Dropout) per hidden width, then Linear logits; train with nn.CrossEntropyLoss.

    Shapes: x (B, input_dim) -> logits (B, num_classes).

    There is no ``kernel_regularizer`` argument (the scratch and Keras models have one):
    torch layers carry no penalty, so an L2 penalty is added to the loss by the training loop
    (``framework.pytorch.regularizers.l2_penalty``).
    """
    layers: list[nn.Module] = []
    width_in = input_dim
    for width in units:
        layers.append(nn.Linear(width_in, width))
        layers.append(make_activation(activation, negative_slope, approximate))
        if dropout:
            layers.append(nn.Dropout(dropout))
        width_in = width
    layers.append(nn.Linear(width_in, num_classes))
    return nn.Sequential(*layers)
