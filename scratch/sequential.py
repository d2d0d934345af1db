"""A stack of layers, applied in order, backpropagated in reverse."""

from __future__ import annotations

import numpy as np

from scratch.layer import Layer


class Sequential:
    """Z = f_n(... f_2(f_1(X))).

    Forward::

        A_0 = X,   A_i = f_i(A_{i-1}),   Z = A_n

    Backward (the chain rule, last layer first)::

        dA_n = dZ,   dA_{i-1} = f_i.backward(dA_i),   dX = dA_0

    Layer names are made unique ("dense_0", "dense_1", ...) when not given, so
    that every parameter has a canonical name ``"{layer.name}.{key}"``.

    Args:
        layers: the layers, in order.
        input_shape: one sample's shape (batch axis excluded); builds every layer.
    """

    def __init__(self, layers: list[Layer], input_shape: tuple[int, ...]) -> None:
        self.layers = list(layers)
        self.input_shape = tuple(int(d) for d in input_shape)
        counts: dict[str, int] = {}
        names = set()
        shape = self.input_shape
        for layer in self.layers:
            if layer.name == type(layer).__name__.lower():
                base = _snake(type(layer).__name__)
                layer.name = f"{base}_{counts.get(base, 0)}"
                counts[base] = counts.get(base, 0) + 1
            if layer.name in names:
                raise ValueError(f"Sequential: two layers are named {layer.name!r}")
            names.add(layer.name)
            layer.input_shape = shape  # one sample's input shape, known to every layer
            layer.build(shape)
            shape = layer.output_shape(shape)
        self.output_shape = shape

    def init(self, rng: np.random.Generator, dtype=np.float64) -> None:
        for layer in self.layers:
            layer.init(rng, dtype)

    def train(self, mode: bool = True) -> None:
        for layer in self.layers:
            layer.training = mode

    def forward(self, X: np.ndarray) -> np.ndarray:
        A = X
        for layer in self.layers:
            A = layer.forward(A)
        return A

    __call__ = forward

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        dA = dZ
        for layer in reversed(self.layers):
            dA = layer.backward(dA)
        return dA

    # Canonical parameter views -------------------------------------------------
    def parameters(self) -> dict[str, np.ndarray]:
        """Trainable parameters by canonical name ``"layer.key"``."""
        return {f"{l.name}.{k}": v for l in self.layers for k, v in l.params.items()}

    def states(self) -> dict[str, np.ndarray]:
        """Non-trainable arrays (running statistics) by canonical name."""
        return {f"{l.name}.{k}": v for l in self.layers for k, v in l.state.items()}

    def gradients(self) -> dict[str, np.ndarray]:
        return {f"{l.name}.{k}": v for l in self.layers for k, v in l.grads.items()}

    def weights(self) -> dict[str, np.ndarray]:
        """Parameters and states together: everything a checkpoint holds."""
        return {**self.parameters(), **self.states()}

    def set_weights(self, weights: dict[str, np.ndarray], copy: bool = True) -> None:
        """Replace every parameter and state; names and shapes must match exactly.

        A model without arrays yet learns their names and shapes from ``init``, one layer at a time
        (the drawn values are let go at once: a model is never held twice). ``weights`` is read one
        array at a time (a mapping that loads each when indexed is never held whole either) and each
        array is copied, unless ``copy`` is False: then the model keeps the arrays it reads, for a
        mapping that makes a new array at each read, which nothing else holds.
        """
        if not weights and not self.weights():
            return
        shapes = self._shapes(np.asarray(next(iter(weights.values()))).dtype if weights else np.float64)
        expected = {name: shape for table in shapes.values() for part in table for name, shape in part.items()}
        missing = sorted(set(expected) - set(weights))
        unknown = sorted(set(weights) - set(expected))
        if missing or unknown:
            raise KeyError(f"weights do not match the model: missing {missing}, unexpected {unknown}")
        for layer in self.layers:
            for store, table in zip((layer.params, layer.state), shapes[layer.name]):
                for name, shape in table.items():
                    key = name[len(layer.name) + 1 :]
                    new = np.asarray(weights[name])
                    if new.shape != shape:
                        raise ValueError(
                            f"layer {layer.name!r}, parameter {key!r}: expected shape {shape}, received {new.shape}"
                        )
                    store[key] = new.copy() if copy else new

    def _shapes(self, dtype) -> dict[str, tuple[dict, dict]]:
        """Per layer, the canonical names and shapes of its (params, state), in order."""
        fresh = not self.weights()
        rng = _ZerosForShapes(np.random.PCG64(0))  # the values are not used, only their names and shapes
        shapes = {}
        for layer in self.layers:
            if fresh:
                layer.init(rng, dtype)
            shapes[layer.name] = tuple(
                {f"{layer.name}.{k}": v.shape for k, v in store.items()} for store in (layer.params, layer.state)
            )
            if fresh:
                layer.params.clear()
                layer.state.clear()
        return shapes


class _ZerosForShapes(np.random.Generator):
    """A generator whose uniform and normal draws are zeros, for ``_shapes``: a layer's ``init`` then
    makes arrays of the right names and shapes without drawing a value, and ``np.zeros`` of a large
    array takes pages the kernel supplies only when written, so in float64 nothing is written or held
    (a float32 model's ``init`` still writes its cast of the zeros; VGG16's
    37.7M parameters were drawn whole, a layer at a time, before every scratch run read its weights;
    in float64, 300 MB of new memory: 8% of the CPU samples of its family test's process)."""

    def uniform(self, low=0.0, high=1.0, size=None):
        return np.zeros(size)

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        return np.zeros(size, dtype)

    def normal(self, loc=0.0, scale=1.0, size=None):
        return np.zeros(size)


def _snake(name: str) -> str:
    """"LeakyReLU" -> "leaky_relu", "MaxPool2D" -> "max_pool2d", "LSTM" -> "lstm"."""
    name = name.replace("ReLU", "Relu")
    out = []
    for i, c in enumerate(name):
        if c.isupper() and i and name[i - 1].islower():
            out.append("_")
        out.append(c.lower())
    return "".join(out)
