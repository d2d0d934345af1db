"""Seeding Keras in a worker without importing TensorFlow where the backend is not TensorFlow."""

from __future__ import annotations


def set_keras_seed(seed: int) -> None:
    """``keras.utils.set_random_seed(seed)``: the global Keras seed, Python's, NumPy's and torch's.

    Keras also seeds TensorFlow whenever TensorFlow is installed, "since many workflows leverage
    `tf.data` pipelines" (keras/src/utils/rng_utils.py), and to know whether it is installed it
    imports it (``LazyModule.available``, keras/src/utils/module_utils.py): about 5 s of CPU and
    hundreds of MiB in a keras-torch or keras-jax worker that never uses TensorFlow. There, while
    TensorFlow is not imported yet, it is reported unavailable for this one call
    (``parity.layers.base.tensorflow_left_unimported``); Keras' own seed
    (its global ``SeedGenerator``, what initialisers and ``keras.random`` draw from) is set as
    before, so the weights drawn are the same.
    """
    import keras

    from parity.layers.base import tensorflow_left_unimported

    if keras.backend.backend() == "tensorflow":
        keras.utils.set_random_seed(seed)
        return
    with tensorflow_left_unimported():
        keras.utils.set_random_seed(seed)
