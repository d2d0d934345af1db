"""A small Keras encoder-decoder on channels-last (8, 8, 2) images: Conv2D down, Conv2DTranspose back up.

parity port examples/decoder_keras.py:build --to torch --out port-torch
"""

import keras
from keras import layers


def build() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(shape=(8, 8, 2)),
            layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="down"),  # (4, 4, 4)
            layers.Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu", name="up"),  # (8, 8, 3)
            layers.Conv2DTranspose(2, 2, strides=2, output_padding=1, name="out"),  # (17, 17, 2)
        ],
        name="decoder",
    )
