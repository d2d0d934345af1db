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


class LayerScaleConverter(Converter):
    """Canonical ``gamma`` (C,): the factor of each channel of the last axis.

    Keras: ``LayerScale.gamma`` is ``(projection_dim,)`` (keras/src/applications/convnext.py,
    ``LayerScale.build``), multiplied with the channels-last map. PyTorch: ConvNeXt's own code
    holds ``gamma`` as an ``nn.Parameter`` of shape (dim,) multiplied with the map after its
    ``permute(0, 2, 3, 1)`` (facebookresearch/ConvNeXt, models/convnext.py, ``Block``);
    ``framework.pytorch.layer_scale.LayerScale.weight`` is that parameter, and a parameter used
    directly is read as ``weight`` too (``parity.sources.weights_owner``). No layout change, so
    no rule: the same vector everywhere. (torchvision's CNBlock stores it as (dim, 1, 1) for an
    NCHW map, torchvision/models/convnext.py: a port of that code would need a reshape rule.)
    """

    def _shape(self, layer) -> tuple[int, ...]:
        return (layer.projection_dim,)

    def to_torch(self, layer, weights: Arrays, previous=None) -> Arrays:
        return {"weight": expect(layer, "gamma", weights.get("gamma"), self._shape(layer))}

    def from_torch(self, layer, state: Arrays, previous=None) -> Arrays:
        return {"gamma": expect(layer, "weight", state.get("weight"), self._shape(layer))}

    def to_keras(self, layer, weights: Arrays, previous=None) -> list[np.ndarray]:
        return [expect(layer, "gamma", weights.get("gamma"), self._shape(layer))]

    def from_keras(self, layer, values: list[np.ndarray], previous=None) -> Arrays:
        return {"gamma": expect(layer, "gamma", values[0], self._shape(layer))}
