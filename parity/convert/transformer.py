"""TransformerEncoder <-> torch.nn.TransformerEncoderLayer / framework.keras3.transformer.TransformerEncoder.

The block is made of parts each with its own converter, so this one only routes arrays: the
canonical names (scratch/transformer_encoder.py, ``PARTS``) to each part's names, and each
part's framework arrays to the block's. No layout rule is new here; the parts' rules apply:

- ``self_attn``, an nn.MultiheadAttention (torch/nn/modules/transformer.py,
  TransformerEncoderLayer.__init__): ``mha_packed_in_proj`` (parity/convert/attention.py), with
  state_dict keys ``self_attn.in_proj_weight`` (3E, E), ``self_attn.in_proj_bias``,
  ``self_attn.out_proj.weight`` / ``.bias``;
- ``linear1`` (E -> F) and ``linear2`` (F -> E), nn.Linear: ``dense_transpose``
  (parity/convert/dense.py), weight = W.T;
- ``norm1`` / ``norm2``, nn.LayerNorm: weight = gamma, bias = beta (parity/convert/norm.py);
  with ``bias=False`` torch builds its norms without beta (``LayerNorm(..., bias=bias)``), as
  the Keras block's ``center=use_bias`` does.

Keras: the block's ``weights`` are its sub-layers' in the order ``build`` creates them,
attention, norm1, ff1, ff2, norm2 (framework/keras3/transformer.py), each in its own order
(keras/src/layers/attention/multi_head_attention.py, core/dense.py,
normalization/layer_normalization.py).

Every part's map is a bijection (the MHA key bias aside, which no output depends on), so
gradients convert like weights.
"""

from __future__ import annotations

import numpy as np

from parity.convert.attention import MultiHeadAttentionConverter
from parity.convert.base import Arrays, ConversionError, Converter
from parity.convert.dense import DenseConverter
from parity.convert.norm import LayerNormConverter

# part (scratch) -> (torch submodule, converter)
TORCH_PARTS = {
    "attention": ("self_attn", MultiHeadAttentionConverter()),
    "norm1": ("norm1", LayerNormConverter()),
    "ff1": ("linear1", DenseConverter()),
    "ff2": ("linear2", DenseConverter()),
    "norm2": ("norm2", LayerNormConverter()),
}


def _own(layer, key: str, weights: Arrays) -> Arrays:
    """One part's arrays under its own names, from the block's canonical ones (``layer.PARTS``)."""
    return {own: weights[canonical] for own, canonical in layer.PARTS[key].items() if canonical in weights}


def _canonical(layer, key: str, arrays: Arrays) -> Arrays:
    return {layer.PARTS[key][own]: value for own, value in arrays.items()}


class TransformerEncoderConverter(Converter):
    """Canonical Wq, Wk, Wv, bq, bv, Wo, bo, gamma1, beta1, W1, b1, W2, b2, gamma2, beta2 (scratch names)."""

    rules = ()  # the parts' rules: mha_packed_in_proj, dense_transpose

    # PyTorch ------------------------------------------------------------------
    def to_torch(self, layer, weights: Arrays, previous=None) -> Arrays:
        out = {}
        for key, part in layer.parts().items():
            prefix, converter = TORCH_PARTS[key]
            out.update({f"{prefix}.{k}": v for k, v in converter.to_torch(part, _own(layer, key, weights)).items()})
        return out

    def from_torch(self, layer, state: Arrays, previous=None) -> Arrays:
        out = {}
        for key, part in layer.parts().items():
            prefix, converter = TORCH_PARTS[key]
            mine = {k[len(prefix) + 1 :]: v for k, v in state.items() if k.startswith(prefix + ".")}
            out.update(_canonical(layer, key, converter.from_torch(part, mine)))
        return out

    # Keras --------------------------------------------------------------------
    def _counts(self, layer) -> list[tuple[str, int]]:
        """(part, how many Keras arrays it has) in the block's ``weights`` order."""
        counts = []
        for key, part in layer.parts().items():
            own = len(part.weight_shapes())
            counts.append((key, own + 1 if key == "attention" and part.use_bias else own))  # + the key bias
        return counts

    def to_keras(self, layer, weights: Arrays, previous=None) -> list[np.ndarray]:
        out = []
        for key, part in layer.parts().items():
            out += TORCH_PARTS[key][1].to_keras(part, _own(layer, key, weights))
        return out

    def from_keras(self, layer, values: list[np.ndarray], previous=None) -> Arrays:
        counts = self._counts(layer)
        expected = sum(n for _, n in counts)
        if len(values) != expected:
            raise ConversionError(
                layer.name, "weights", None, None, detail=f"expected {expected} arrays, received {len(values)}"
            )
        out, start, parts = {}, 0, layer.parts()
        for key, n in counts:
            out.update(
                _canonical(layer, key, TORCH_PARTS[key][1].from_keras(parts[key], list(values[start : start + n])))
            )
            start += n
        return out
