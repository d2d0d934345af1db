"""Losses by name, as keras.losses objects (called as ``loss(y_true, y_pred)``)."""

from __future__ import annotations

import keras


def loss(name: str, from_logits: bool = True) -> keras.losses.Loss:
    """The Keras loss ``name``; ``from_logits=True`` expects a model that ends in logits.

    Give a model that ends in sigmoid or softmax ``from_logits=False``. On the TensorFlow backend,
    the cross-entropies look through a final sigmoid/softmax to its input (``_get_logits`` reads
    the ``_keras_logits`` attribute that sigmoid and softmax attach, keras/src/backend/tensorflow/nn.py)
    and ignore ``from_logits=True``; every other backend applies the activation a second time.
    """
    if name == "mean_squared_error":
        return keras.losses.MeanSquaredError()
    if name == "binary_crossentropy":
        # from_logits=False clips probabilities to [1e-7, 1 - 1e-7] (keras.backend.epsilon()),
        # see keras/src/backend/*/nn.py binary_crossentropy.
        return keras.losses.BinaryCrossentropy(from_logits=from_logits)
    if name == "sparse_categorical_crossentropy":
        return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    raise ValueError(f"unknown loss {name!r}")
