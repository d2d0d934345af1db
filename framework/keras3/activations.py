"""Activations by name, as Keras 3 layers.

The dedicated layer where Keras has one (``layers.ReLU()``, ``layers.LeakyReLU()``,
``layers.Softmax()``), ``layers.Activation(name)`` otherwise. ``negative_slope=None`` keeps
the LeakyReLU layer's own default (0.3, keras/src/layers/activations/leaky_relu.py; the
string form ``activation="leaky_relu"`` would give 0.2). ``approximate`` is "none" (the exact
GELU, ``Activation("gelu")``'s default) or "tanh" (the tanh approximation), as in scratch and
nn.GELU.
"""

from __future__ import annotations

import keras
from keras import layers


def activation(name: str, negative_slope: float | None = None, approximate: str = "none") -> keras.layers.Layer:
    if name == "leaky_relu":
        return layers.LeakyReLU() if negative_slope is None else layers.LeakyReLU(negative_slope=negative_slope)
    if name == "gelu":
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate must be 'none' or 'tanh', received {approximate!r}")
        if approximate == "none":
            return layers.Activation("gelu")
        return layers.Activation(lambda x: keras.activations.gelu(x, approximate=True))
    if name == "relu":
        return layers.ReLU()
    if name == "relu6":
        return layers.ReLU(max_value=6.0)
    if name == "softmax":
        return layers.Softmax()
    if name in ("linear", "sigmoid", "tanh", "silu", "hard_sigmoid", "hard_swish"):
        return layers.Activation(name)
    raise ValueError(f"unknown activation {name!r}")
