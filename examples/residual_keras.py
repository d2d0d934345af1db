"""A small residual convnet written with the Keras functional API, channels-last (8, 8, 3) images.

parity spec examples/residual_keras.py:build
"""

import keras
from keras import layers


def build() -> keras.Model:
    inputs = keras.Input(shape=(8, 8, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inputs)
    y = layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv")(x)
    y = layers.BatchNormalization(name="bn")(y)
    x = layers.Add(name="residual")([x, y])
    x = layers.Activation("relu", name="relu")(x)
    x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(5, name="logits")(x)
    return keras.Model(inputs, outputs, name="residual")
