"""Activations by name, as Keras 3 layers, in the three forms practitioners write.

``form`` picks how a port spells the activation, because each spelling has its own default:

- ``"layer"``: the dedicated layer class: ``layers.LeakyReLU()`` (negative_slope=0.3),
  ``layers.ReLU()``, ``layers.Softmax()``, ``layers.Activation("gelu")`` (exact);
- ``"string"``: ``Dense(..., activation="leaky_relu")``, i.e. ``keras.activations.*``
  (leaky_relu: 0.2; gelu: exact);
- ``"ops"``: the backend-agnostic ops function ``keras.ops.*`` (leaky_relu: 0.2;
  gelu: ``approximate=True``, the tanh approximation).

``negative_slope`` / ``approximate`` given explicitly override every default.
(keras/src/layers/activations/leaky_relu.py, keras/src/activations/activations.py,
keras/src/ops/nn.py.)
"""

from __future__ import annotations

import keras
from keras import layers


def activation(
    name: str,
    negative_slope: float | None = None,
    approximate: str | None = None,
    form: str = "layer",
) -> keras.layers.Layer:
    if form not in ("layer", "string", "ops"):
        raise ValueError(f"unknown activation form {form!r}; choose layer, string or ops")
    if name == "leaky_relu":
        if form == "layer":
            return layers.LeakyReLU() if negative_slope is None else layers.LeakyReLU(negative_slope=negative_slope)
        fn = keras.activations.leaky_relu if form == "string" else keras.ops.leaky_relu
        if negative_slope is None:
            return layers.Activation(fn)
        return layers.Activation(lambda x: fn(x, negative_slope=negative_slope))
    if name == "gelu":
        fn = keras.ops.gelu if form == "ops" else keras.activations.gelu
        if approximate is None:
            return layers.Activation(fn)
        return layers.Activation(lambda x: fn(x, approximate=approximate == "tanh"))
    if form == "layer" and name == "relu":
        return layers.ReLU()
    if form == "layer" and name == "softmax":
        return layers.Softmax()
    if name in ("linear", "sigmoid", "tanh", "relu", "softmax"):
        return layers.Activation(name)
    raise ValueError(f"unknown activation {name!r}")
