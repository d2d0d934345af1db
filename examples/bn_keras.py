"""Two Keras ports of examples/bn_torch.py, channels-last (6, 6, 3) images.

``hurried`` keeps Keras' BatchNormalization defaults (epsilon 1e-3, momentum 0.99);
``careful`` converts torch's (eps 1e-5; momentum 1 - 0.1 = 0.9).
"""

import keras
from keras import layers


def hurried() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((6, 6, 3)),
            layers.Conv2D(8, 3, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Flatten(),
            layers.Dense(4),
        ]
    )


def careful() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((6, 6, 3)),
            layers.Conv2D(8, 3, padding="same", use_bias=False),
            layers.BatchNormalization(epsilon=1e-5, momentum=0.9),
            layers.ReLU(),
            layers.Flatten(),
            layers.Dense(4),
        ]
    )
