"""Embedding <-> torch.nn.Embedding / keras.layers.Embedding."""

from __future__ import annotations

import numpy as np

from parity.convert.base import Arrays, Converter, expect


class EmbeddingConverter(Converter):
    """Canonical ``W`` (input_dim, output_dim): row i is the vector of id i.

    PyTorch: ``nn.Embedding`` stores ``weight`` as (num_embeddings, embedding_dim) and looks
    rows up with ``F.embedding(input, weight)`` (torch/nn/modules/sparse.py), so ``weight = W``.
    Keras: ``Embedding`` stores ``embeddings`` as (input_dim, output_dim) and computes
    ``ops.take(embeddings, inputs, axis=0)`` (keras/src/layers/core/embedding.py), so
    ``embeddings = W``.

    The layout is the same in both frameworks: no rule. What differs is torch's
    ``padding_idx`` (that row gets no gradient and never trains), which Keras has no option for
    (divergence ``embedding_padding_idx``, parity.divergences.embedding).
    """

    def to_torch(self, layer, weights: Arrays, previous=None) -> Arrays:
        return {"weight": expect(layer, "W", weights.get("W"), (layer.input_dim, layer.output_dim))}

    def from_torch(self, layer, state: Arrays, previous=None) -> Arrays:
        return {"W": expect(layer, "weight", state.get("weight"), (layer.input_dim, layer.output_dim))}

    def to_keras(self, layer, weights: Arrays, previous=None) -> list[np.ndarray]:
        return [expect(layer, "W", weights.get("W"), (layer.input_dim, layer.output_dim))]

    def from_keras(self, layer, values: list[np.ndarray], previous=None) -> Arrays:
        return {"W": expect(layer, "embeddings", values[0], (layer.input_dim, layer.output_dim))}
