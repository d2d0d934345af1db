"""Embedding lookup: integer ids -> rows of a table."""

from __future__ import annotations

import numpy as np

from scratch.layer import Layer


class Embedding(Layer):
    """Row lookup: Z = W[X], one row of W per integer id.

    Forward::

        Z[b, t, :] = W[X[b, t], :]

    Backward, given dZ = dL/dZ::

        dW[i, :] = sum of dZ[b, t, :] over every (b, t) with X[b, t] == i   # np.add.at
        # no dX: the ids are integers, nothing to differentiate

    An id that occurs twice in the batch gets the sum of both rows of dZ; an id that never
    occurs gets a zero row.

    Shapes:
        X: (B, T) integer ids in [0, input_dim)
        W, dW: (input_dim, output_dim)   # torch nn.Embedding.weight and the Keras embeddings are both W
        Z, dZ: (B, T, output_dim)

    Args:
        input_dim: the vocabulary size (torch's num_embeddings).
        output_dim: the width of a row (torch's embedding_dim).
    """

    def __init__(self, input_dim: int, output_dim: int, name: str | None = None) -> None:
        super().__init__(name)
        for key, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"Embedding {self.name!r}: {key} must be a positive integer, received {value!r}")
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (*input_shape, self.output_dim)

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"W": (self.input_dim, self.output_dim)}

    def init(self, rng: np.random.Generator, dtype=np.float64) -> None:
        # Keras' default embeddings_initializer="uniform": RandomUniform(-0.05, 0.05)
        self.params["W"] = rng.uniform(-0.05, 0.05, size=(self.input_dim, self.output_dim)).astype(dtype)

    def forward(self, X: np.ndarray) -> np.ndarray:
        if not np.issubdtype(np.asarray(X).dtype, np.integer):
            raise TypeError(f"Embedding {self.name!r}: ids must be integers, received dtype {np.asarray(X).dtype}")
        if X.size and (X.min() < 0 or X.max() >= self.input_dim):
            raise IndexError(
                f"Embedding {self.name!r}: ids must lie in [0, {self.input_dim}), received [{X.min()}, {X.max()}]"
            )
        self.X = X
        return self.params["W"][X]  # (B, T, output_dim)

    def backward(self, dZ: np.ndarray) -> None:
        X, W = self.X, self.params["W"]
        dW = np.zeros_like(W)
        np.add.at(dW, X.reshape(-1), dZ.reshape(-1, self.output_dim))  # repeated ids accumulate
        self.grads["W"] = dW
        return None
