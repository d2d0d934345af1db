"""The Keras tutorial's MNIST convnet, smaller: a Sequential model with ``activation=`` strings
and Dropout, channels-last (28, 28, 1) images.

    parity port examples/convnet_keras.py:build --to torch --out port-torch
"""

import keras
from keras import layers


def build() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(8, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(16, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(10, activation="softmax"),
        ],
        name="convnet",
    )
