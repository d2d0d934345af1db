"""MobileNetV2's linear bottleneck, small: a 1x1 projection and its BatchNormalization with no
activation, read by the next block's 1x1 expansion and its BatchNormalization. Channels-last
(8, 8, 3) images.

In training mode the projection's beta has an exactly zero gradient (the next BatchNormalization
removes any per-channel shift), and the expansion's batch mean is exactly W @ beta: from Keras'
own zeros both stay zero up to rounding, so a training step is compared from varied weights
(parity.ports._training).

parity port examples/bottleneck_keras.py:build --to torch --steps 1
"""

import keras
from keras import layers


def build() -> keras.Model:
    inputs = keras.Input(shape=(8, 8, 3))
    x = layers.Conv2D(8, 3, padding="same", use_bias=False, name="Conv1")(inputs)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name="bn_Conv1")(x)
    x = layers.ReLU(6.0, name="Conv1_relu")(x)
    x = layers.Conv2D(4, 1, use_bias=False, name="expanded_conv_project")(x)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name="expanded_conv_project_BN")(x)
    x = layers.Conv2D(12, 1, use_bias=False, name="block_1_expand")(x)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name="block_1_expand_BN")(x)
    x = layers.ReLU(6.0, name="block_1_expand_relu")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(3, name="predictions")(x)
    return keras.Model(inputs, outputs, name="bottleneck")
