"""Converters of the normalisation family: LayerNorm and RMSNorm.

No layout changes: every framework keeps the scale and shift as arrays of the normalised
shape, in the same order. Only the names and which arrays exist differ.
"""

from __future__ import annotations

import numpy as np

from parity.convert.base import Arrays, Converter, expect


class LayerNormConverter(Converter):
    """Canonical ``gamma`` (with ``scale``) and ``beta`` (with ``center``), both of the normalised shape N.

    PyTorch ``nn.LayerNorm`` (torch/nn/modules/normalization.py): ``weight`` = gamma and
    ``bias`` = beta, both ``normalized_shape``; ``elementwise_affine=False`` drops both,
    ``bias=False`` only beta (a shift without a scale does not exist there). Keras
    ``LayerNormalization`` (keras/src/layers/normalization/layer_normalization.py, ``build``):
    weights in order [gamma, beta], each present only with ``scale`` / ``center``.
    """

    def _present(self, layer) -> list[tuple[str, str]]:
        """(canonical name, torch name) of the arrays this layer has."""
        return [(p, t) for p, t, on in (("gamma", "weight", layer.scale), ("beta", "bias", layer.center)) if on]

    def to_torch(self, layer, weights: Arrays, previous=None) -> Arrays:
        return {t: expect(layer, p, weights.get(p), layer.shape) for p, t in self._present(layer)}

    def from_torch(self, layer, state: Arrays, previous=None) -> Arrays:
        return {p: expect(layer, t, state.get(t), layer.shape) for p, t in self._present(layer)}

    def to_keras(self, layer, weights: Arrays, previous=None) -> list[np.ndarray]:
        return [expect(layer, p, weights.get(p), layer.shape) for p, _ in self._present(layer)]

    def from_keras(self, layer, values: list[np.ndarray | None], previous=None) -> Arrays:
        present = self._present(layer)
        if len(values) != len(present):
            raise ValueError(f"layer {layer.name!r}: {len(values)} Keras weights, expected {len(present)} ({[p for p, _ in present]})")
        return {p: expect(layer, p, v, layer.shape) for (p, _), v in zip(present, values, strict=True)}


class RMSNormConverter(Converter):
    """Canonical ``scale``, of the normalised shape N.

    PyTorch ``nn.RMSNorm`` (torch/nn/modules/normalization.py) calls it ``weight``; Keras
    ``RMSNormalization`` (keras/src/layers/normalization/rms_normalization.py) ``scale``, its
    only weight.
    """

    def to_torch(self, layer, weights: Arrays, previous=None) -> Arrays:
        return {"weight": expect(layer, "scale", weights.get("scale"), layer.shape)}

    def from_torch(self, layer, state: Arrays, previous=None) -> Arrays:
        return {"scale": expect(layer, "weight", state.get("weight"), layer.shape)}

    def to_keras(self, layer, weights: Arrays, previous=None) -> list[np.ndarray]:
        return [expect(layer, "scale", weights.get("scale"), layer.shape)]

    def from_keras(self, layer, values: list[np.ndarray | None], previous=None) -> Arrays:
        return {"scale": expect(layer, "scale", values[0] if values else None, layer.shape)}
