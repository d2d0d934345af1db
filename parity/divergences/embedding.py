"""Divergences of the embedding family.

``embedding_padding_idx``: torch's ``nn.Embedding(..., padding_idx=i)`` gives row i no gradient
(torch/nn/modules/sparse.py: "the entries at padding_idx do not contribute to the gradient;
therefore, the embedding vector at padding_idx is not updated during training"), so it never
trains. Keras' Embedding has no such option (keras/src/layers/core/embedding.py): its
``mask_zero=True`` passes a mask to the downstream layers and leaves the row of id 0 trainable.
A forward pass agrees; training moves row i in Keras only.
"""

from __future__ import annotations

from parity.divergences.training import SGD, TrainingDivergence, TrainSide, TrainVariant

DIVERGENCES: list = [
    TrainingDivergence(
        name="embedding_padding_idx",
        area="embedding",
        differs="torch's nn.Embedding(padding_idx=0) never gives row 0 a gradient, so it never trains "
        "(torch/nn/modules/sparse.py); Keras' Embedding has no padding_idx, and mask_zero=True masks the downstream "
        "layers instead, leaving row 0 trainable (keras/src/layers/core/embedding.py). On batches containing id 0 "
        "the row of id 0 moves in Keras only.",
        rule="Build nn.Embedding without padding_idx (rule embedding_padding_idx), so id 0 trains as it does in Keras; "
        "a model that needs a fixed padding row must freeze it in Keras by hand.",
        converter="parity.layers.embedding (rule embedding_padding_idx)",
        case="text_classifier",
        config={"padding_idx": 0, "input_dim": 5},  # 5 ids: id 0 is in every batch
        naive=TrainVariant(TrainSide("torch", SGD, disabled_rules=("embedding_padding_idx",)), TrainSide("keras-jax", SGD)),
        converted=TrainVariant(TrainSide("torch", SGD), TrainSide("keras-jax", SGD)),
        layer="embedding_0",
        steps=5,
    )
]
