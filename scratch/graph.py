"""A graph of layers: each layer reads the outputs of earlier ones (residuals, concatenations).

The same interface as ``Sequential`` (layers, init, train, forward, backward, parameters,
gradients, weights, set_weights), for models that are not a stack.
"""

from __future__ import annotations

import numpy as np

from scratch.layer import Layer
from scratch.sequential import Sequential

INPUT = "input"


class Graph(Sequential):
    """Z = the value of the output node, each node computed from the nodes it reads.

    Forward, in the order of ``nodes`` (each node after the ones it reads)::

        A[input] = X,   A[n] = f_n(A[i_1], ..., A[i_k])   for n's inputs i_1..i_k,   Z = A[output]

    Backward (the chain rule; a value read by several nodes sums their gradients)::

        dA[output] = dZ,   dA[i_j] += (f_n.backward(dA[n]))_j   in reverse order,   dX = dA[input]

    Args:
        nodes: (layer, names of its inputs) in a valid order; names are other layers' names or "input".
        input_shape: one sample's shape (batch axis excluded).
        output: the name of the output layer (the last one by default).
    """

    def __init__(
        self, nodes: list[tuple[Layer, tuple[str, ...]]], input_shape: tuple[int, ...], output: str | None = None
    ) -> None:
        self.layers = [layer for layer, _ in nodes]
        self.inputs = {layer.name: tuple(inputs) for layer, inputs in nodes}
        self.input_shape = tuple(int(d) for d in input_shape)
        self.output = output or self.layers[-1].name
        shapes: dict[str, tuple[int, ...]] = {INPUT: self.input_shape}
        for layer in self.layers:
            if layer.name in shapes:
                raise ValueError(f"Graph: two layers are named {layer.name!r}")
            ins = [shapes[i] for i in self.inputs[layer.name]]
            shape = ins[0] if len(ins) == 1 else ins
            layer.input_shape = shape
            layer.build(shape)
            shapes[layer.name] = layer.output_shape(shape)
        self.output_shape = shapes[self.output]

    def forward(self, X: np.ndarray) -> np.ndarray:
        A = {INPUT: X}
        for layer in self.layers:
            A[layer.name] = layer.forward(*(A[i] for i in self.inputs[layer.name]))
        self.outputs = A
        return A[self.output]

    __call__ = forward

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        dA: dict[str, np.ndarray] = {self.output: dZ}
        self.upstream = {}
        for layer in reversed(self.layers):
            if layer.name not in dA:
                continue  # feeds nothing that reaches the output
            self.upstream[layer.name] = dA[layer.name]
            grads = layer.backward(dA[layer.name])
            names = self.inputs[layer.name]
            grads = grads if len(names) > 1 else [grads]
            for name, g in zip(names, grads, strict=True):
                if g is None:
                    continue  # integer ids (an embedding's, a key-padding mask's): no gradient
                dA[name] = g if name not in dA else dA[name] + g
        return dA.get(INPUT, np.zeros((dZ.shape[0], *self.input_shape), dtype=dZ.dtype))
