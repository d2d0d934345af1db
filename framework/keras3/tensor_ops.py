"""Raw tensor operations as small Keras layers, for models ported from code that writes them by hand.

Keras has layers for ``Reshape`` and ``Permute``; these cover the rest of what a hand-written
attention block does in ``forward``: ``x * c``, ``a @ b``, ``x[..., i:j]``, ``x.masked_fill(M, v)``
and ``x + self.pos``. Each is serialisable (``package="demystify"``), so a saved ``.keras`` model
loads again once this module is imported.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="demystify")
class Scale(keras.layers.Layer):
    """y = x * factor (or x / factor): a constant scale, kept as written (a division stays one)."""

    def __init__(self, factor: float, divide: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.factor, self.divide = float(factor), bool(divide)

    def call(self, inputs):
        return ops.divide(inputs, self.factor) if self.divide else ops.multiply(inputs, self.factor)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor, "divide": self.divide}


@keras.saving.register_keras_serializable(package="demystify")
class MatMul(keras.layers.Layer):
    """y = a @ b over the last two axes (the leading axes batched): ``keras.ops.matmul``."""

    def call(self, a, b):
        return ops.matmul(a, b)

    def compute_output_shape(self, a_shape, b_shape):
        return (*a_shape[:-1], b_shape[-1])


@keras.saving.register_keras_serializable(package="demystify")
class Slice(keras.layers.Layer):
    """y = x[..., start:stop]: one piece of a split of the last axis (torch's ``x.chunk(n, dim=-1)``)."""

    def __init__(self, start: int, stop: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.start, self.stop = int(start), int(stop)

    def call(self, inputs):
        return inputs[..., self.start : self.stop]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.stop - self.start)

    def get_config(self) -> dict:
        return {**super().get_config(), "start": self.start, "stop": self.stop}


@keras.saving.register_keras_serializable(package="demystify")
class MaskedFill(keras.layers.Layer):
    """y = where(mask, value, x): a constant boolean mask over the trailing axes (a causal mask)."""

    def __init__(self, mask, value: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.mask = np.asarray(mask, dtype=bool)
        self.value = float(value)

    def call(self, inputs):
        mask = ops.convert_to_tensor(self.mask)
        return ops.where(mask, ops.cast(self.value, inputs.dtype), inputs)

    def get_config(self) -> dict:
        return {**super().get_config(), "mask": self.mask.tolist(), "value": self.value}


@keras.saving.register_keras_serializable(package="demystify")
class AddTable(keras.layers.Layer):
    """y = x + table: a learned table of one sample's shape, added to every sample (a position table)."""

    def build(self, input_shape) -> None:
        self.table = self.add_weight(
            shape=tuple(input_shape[1:]), initializer=keras.initializers.RandomNormal(stddev=0.02), name="table"
        )

    def call(self, inputs):
        return inputs + self.table
