"""A small ResNet written with the Keras functional API, its layers named by block as
keras.applications names them (``conv2_block1_1_conv``): the torch port nests them so
(``self.conv2.block1.conv1``). Channels-last (8, 8, 3) images.

parity port examples/blocks_keras.py:build --to torch
"""

import keras
from keras import layers


def build() -> keras.Model:
    inputs = keras.Input(shape=(8, 8, 3))
    x = layers.Conv2D(4, 3, padding="same", name="conv1_conv")(inputs)
    x = layers.BatchNormalization(name="conv1_bn")(x)
    x = layers.ReLU(name="conv1_relu")(x)
    for block in (1, 2):
        y = layers.Conv2D(4, 1, name=f"conv2_block{block}_1_conv")(x)
        y = layers.BatchNormalization(name=f"conv2_block{block}_1_bn")(y)
        y = layers.ReLU(name=f"conv2_block{block}_1_relu")(y)
        y = layers.Conv2D(4, 3, padding="same", name=f"conv2_block{block}_2_conv")(y)
        x = layers.Add(name=f"conv2_block{block}_add")([x, y])
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(3, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="blocks")
