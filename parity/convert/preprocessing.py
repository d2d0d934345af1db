"""Converters of the preprocessing family: Normalization's statistics (Rescaling has no weights).

Canonical ``mean`` and ``variance`` (scratch ``state``: statistics of the data, never trained),
both (C,), as Keras stores them.
"""

from __future__ import annotations

import numpy as np

from parity.convert.base import Arrays, Converter, enabled, expect


class NormalizationConverter(Converter):
    """Canonical ``mean`` and ``variance`` (C,) <-> torch buffers ``mean`` and ``std``, Keras [mean, variance, count].

    Keras ``Normalization`` (keras/src/layers/preprocessing/normalization.py, ``build`` and
    ``call``): non-trainable weights in order [mean, variance, count], where ``count`` is an int
    kept "for backwards compatibility with older saved models" and read by nothing in ``call``
    (loaded as 0 here, ignored coming back); ``call`` computes
    ``(x - mean) / maximum(sqrt(variance), backend.epsilon())`` (epsilon 1e-7,
    keras/src/backend/config.py).

    Rule ``variance_to_std``: torch states the same map as torchvision's
    ``Normalize(mean, std)`` (torchvision/transforms/_functional_tensor.py ``normalize``:
    ``(tensor - mean) / std``), with the standard deviation, so
    ``std = max(sqrt(variance), epsilon)``. Copying the variance in as the std is the port
    that silently disagrees whenever a variance is not 0 or 1 (divergence case
    ``normalization_variance_as_std``; keras/src/applications/efficientnet.py says the same of
    its ImageNet statistics: the layer "uses square value of STDDEV as the variance"). Coming
    back, ``variance = std ** 2`` (exact up to rounding; a std floored at epsilon gives
    epsilon ** 2, since the variance below the floor is lost in torch).

    Constant statistics (Keras' ``Normalization(mean=..., variance=...)``, EfficientNetV2): Keras holds
    no weights, the torch module the same two buffers, filled from the configuration by the same rule
    (``std``, below); nothing canonical comes back.
    """

    rules = ("variance_to_std",)

    @staticmethod
    def std(variance: np.ndarray, epsilon: float) -> np.ndarray:
        """The torch std of a Keras variance (rule ``variance_to_std``; the variance itself when switched off)."""
        if not enabled("variance_to_std"):
            return variance
        return np.maximum(np.sqrt(variance), variance.dtype.type(epsilon))

    def _shape(self, layer) -> tuple[int]:
        return (layer.channels,)

    def to_torch(self, layer, weights: Arrays, previous=None) -> Arrays:
        if layer.constants is not None:
            mean, variance = layer.constants
            return {"mean": mean, "std": self.std(variance, layer.epsilon)}
        shape = self._shape(layer)
        mean = expect(layer, "mean", weights.get("mean"), shape)
        variance = expect(layer, "variance", weights.get("variance"), shape)
        return {"mean": mean, "std": self.std(variance, layer.epsilon)}

    def from_torch(self, layer, state: Arrays, previous=None) -> Arrays:
        if layer.constants is not None:
            return {}
        shape = self._shape(layer)
        std = expect(layer, "std", state.get("std"), shape)
        return {
            "mean": expect(layer, "mean", state.get("mean"), shape),
            "variance": std * std if enabled("variance_to_std") else std,
        }

    def grads_from_torch(self, layer, grads: Arrays, previous=None) -> Arrays:
        return {}  # buffers: nothing trains

    def to_keras(self, layer, weights: Arrays, previous=None) -> list[np.ndarray]:
        if layer.constants is not None:
            return []
        shape = self._shape(layer)
        mean = expect(layer, "mean", weights.get("mean"), shape)
        variance = expect(layer, "variance", weights.get("variance"), shape)
        return [mean, variance, np.array(0, dtype=np.int64)]

    def from_keras(self, layer, values: list[np.ndarray], previous=None) -> Arrays:
        if layer.constants is not None:
            return {}
        if len(values) < 2:
            raise ValueError(f"layer {layer.name!r}: {len(values)} Keras weights, expected [mean, variance, count]")
        shape = self._shape(layer)
        return {"mean": expect(layer, "mean", values[0], shape), "variance": expect(layer, "variance", values[1], shape)}

    def grads_from_keras(self, layer, grads: list[np.ndarray | None], previous=None) -> Arrays:
        return {}  # non-trainable weights: nothing trains
