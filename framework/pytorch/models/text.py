"""The embedding family in torch.nn: one embedding, and a bag-of-embeddings text classifier.

Inputs are integer token ids (B, T) (torch.long). ``nn.Embedding.weight`` is (input_dim,
output_dim), exactly Keras' ``embeddings``. No ``padding_idx``: Keras has none, and with it the
row of that id would never train here while it trains in Keras (divergence embedding_padding_idx).
"""

from __future__ import annotations

from torch import nn

from framework.pytorch.pooling import GlobalAvgPool1d


def embedding(input_shape: tuple[int], input_dim: int, output_dim: int) -> nn.Sequential:
    """z = W[x]: ids (B, T) -> (B, T, output_dim)."""
    return nn.Sequential(nn.Embedding(input_dim, output_dim))


def text_classifier(input_shape: tuple[int], input_dim: int, output_dim: int, num_classes: int) -> nn.Sequential:
    """Logits of the mean embedding: ids (B, T) -> (B, T, E) -> mean over T (B, E) -> (B, num_classes).
    Train with nn.CrossEntropyLoss."""
    return nn.Sequential(
        nn.Embedding(input_dim, output_dim),  # (B, T, E)
        GlobalAvgPool1d(),  # x.mean(dim=1): (B, E)
        nn.Linear(output_dim, num_classes),
    )
