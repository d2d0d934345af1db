"""Divergences of the embedding family.

``embedding_padding_idx``: torch's ``nn.Embedding(..., padding_idx=i)`` gives row i no gradient
(torch/nn/modules/sparse.py: "the entries at padding_idx do not contribute to the gradient;
therefore, the embedding vector at padding_idx is not updated during training"), so it never
trains. Keras' Embedding has no such option (keras/src/layers/core/embedding.py): its
``mask_zero=True`` passes a mask to the downstream layers and leaves the row of id 0 trainable.
A forward pass agrees; training moves row i in Keras only.

``tf_embedding_sparse_adam``: on the TensorFlow backend an Embedding's gradient is a
tf.IndexedSlices with duplicate ids unsummed, and Keras 3's Adam squares it slice by slice
(parity.training.runners._dense_gradients says where). A Keras bug, not a convention: every
other implementation, Keras on JAX and torch included, squares the summed gradient.
"""

from __future__ import annotations

from parity.divergences.training import ADAM, SGD, TrainingDivergence, TrainSide, TrainVariant

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
    ),
    TrainingDivergence(
        name="tf_embedding_sparse_adam",
        area="embedding",
        differs="On keras-tensorflow, tf.GradientTape gives an Embedding's gradient as tf.IndexedSlices, one slice per "
        "looked-up id with duplicates unsummed; Keras 3's Adam (keras/src/optimizers/adam.py) then computes "
        "ops.square(gradient) slice by slice (sparse.elementwise_unary, keras/src/backend/tensorflow/numpy.py and "
        "sparse.py), so a row looked up k times in a batch gets sum(g_i**2) in its second moment instead of "
        "(sum g_i)**2, while its first moment (ops.subtract densifies) is right. Keras 2 deduplicated the slices "
        "first; a bug of Keras 3's TensorFlow backend (see keras-team/keras#19992 on its sparse gradients), "
        "not of torch or of Keras on JAX/torch. SGD is linear in g and unaffected.",
        rule="Densify the gradients before apply_gradients (tf.convert_to_tensor on each tf.IndexedSlices sums the "
        "duplicate ids), or keep the ids of a batch unique.",
        converter="parity.training.runners._dense_gradients (rule tf_dense_indexed_slices)",
        case="text_classifier",
        config={"input_dim": 5},  # 5 ids in 28 lookups per batch: every batch repeats ids
        naive=TrainVariant(TrainSide("scratch", ADAM), TrainSide("keras-tensorflow", ADAM, disabled_rules=("tf_dense_indexed_slices",))),
        converted=TrainVariant(TrainSide("scratch", ADAM), TrainSide("keras-tensorflow", ADAM)),
        layer="embedding_0",
        steps=5,
    ),
]
