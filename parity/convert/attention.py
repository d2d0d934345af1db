"""MultiHeadAttention <-> torch.nn.MultiheadAttention / keras.layers.MultiHeadAttention.

Canonical weights are Keras' per-head kernels (scratch follows them): ``layer.weights`` is
``[query/kernel (E, h, d), query/bias (h, d), key/kernel, key/bias, value/kernel, value/bias,
attention_output/kernel (h, d, E), attention_output/bias (E,)]``
(keras/src/layers/attention/multi_head_attention.py, ``build``: one EinsumDense per projection,
equations "abc,cde->abde" and "abcd,cde->abe"). So the Keras side is the identity with shape checks.

PyTorch packs the three input projections into one matrix (torch/nn/modules/activation.py,
MultiheadAttention.__init__ and torch/nn/functional.py, multi_head_attention_forward /
_in_projection_packed)::

    in_proj_weight: (3E, E)   q, k, v = (x @ in_proj_weight.T + in_proj_bias).chunk(3)
    in_proj_bias:   (3E,)
    out_proj.weight: (E, E)   an nn.Linear on the heads concatenated: o @ out_proj.weight.T + bias
    out_proj.bias:  (E,)

and splits a projection's E features into heads as (h, d), head-major
(``q.view(tgt_len, bsz * num_heads, head_dim)``), the order of Keras' (h, d) axes. Torch needs
h d = E (``head_dim = embed_dim // num_heads``); Keras does not, and the kind requires it.

Cross-attention whose keys and values come from E_c != E features: torch keeps three separate
matrices instead of the packed one (torch/nn/modules/activation.py, MultiheadAttention.__init__:
``_qkv_same_embed_dim = kdim == embed_dim and vdim == embed_dim``; otherwise ``q_proj_weight``
(E, E), ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim), and ``in_proj_bias`` stays packed),
each in the same (out, in) layout; with E_c == E it packs them as for self-attention.

Rule ``mha_packed_in_proj``: each (E, h, d) kernel is flattened to (E, h d) and transposed to
torch's (out, in) = (h d, E) before the three are stacked; the output kernel (h, d, E) becomes
(E, h d) the same way. A port that reshapes the (E, h, d) kernel straight to (h d, E), without
the transpose, has the right shape (h d = E), loads without complaint, and mixes features and
heads. Every map is a bijection, so gradients convert like weights.

The key bias (Keras ``key/bias``, torch's middle third of ``in_proj_bias``) is not canonical:
it adds ``q . bk`` to every score of a query's row, which the softmax removes, so no output
and no gradient depends on it (scratch/attention.py). It is loaded as zeros and dropped
when read back.
"""

from __future__ import annotations

import numpy as np

from parity.convert.base import Arrays, ConversionError, Converter, enabled, expect

PROJECTIONS = ("q", "k", "v")


class MultiHeadAttentionConverter(Converter):
    """Canonical Wq (E, h, d), Wk, Wv (E_c, h, d), bq, bv (h, d), Wo (h, d, E), bo (E,)."""

    rules = ("mha_packed_in_proj",)

    @staticmethod
    def _sizes(layer) -> tuple[int, int, int]:
        return layer.embed_dim, layer.num_heads, layer.key_dim

    @staticmethod
    def _packed(layer) -> bool:
        """torch packs [Wq; Wk; Wv] into in_proj_weight when keys and values read E features."""
        return layer.context_dim == layer.embed_dim

    # PyTorch ------------------------------------------------------------------
    def to_torch(self, layer, weights: Arrays, previous=None) -> Arrays:
        E, h, d = self._sizes(layer)
        shapes = layer.weight_shapes()
        W = {key: expect(layer, key, weights.get(key), shapes[key]) for key in shapes}
        rows = {}
        for p in PROJECTIONS:
            E_in = W[f"W{p}"].shape[0]
            if enabled("mha_packed_in_proj"):
                rows[p] = W[f"W{p}"].reshape(E_in, h * d).T  # (h d, E_in): torch's (out, in)
            else:
                rows[p] = W[f"W{p}"].reshape(h * d, E_in)  # the naive port: a reshape, no transpose
        if enabled("mha_packed_in_proj"):
            out_weight = W["Wo"].reshape(h * d, E).T  # (E, h d)
        else:
            out_weight = W["Wo"].reshape(E, h * d)
        if self._packed(layer):
            out = {"in_proj_weight": np.concatenate([rows[p] for p in PROJECTIONS], axis=0)}  # (3 h d, E)
        else:
            out = {f"{p}_proj_weight": rows[p] for p in PROJECTIONS}  # (h d, E), (h d, E_c), (h d, E_c)
        out["out_proj.weight"] = out_weight
        if layer.use_bias:
            biases = [W["bq"], np.zeros_like(W["bq"]), W["bv"]]  # no key bias: it cancels in the softmax
            out["in_proj_bias"] = np.concatenate([b.reshape(h * d) for b in biases])  # (3 h d,)
            out["out_proj.bias"] = W["bo"]
        return out

    def from_torch(self, layer, state: Arrays, previous=None) -> Arrays:
        E, h, d = self._sizes(layer)
        shapes = layer.weight_shapes()
        if self._packed(layer):
            packed = expect(layer, "in_proj_weight", state.get("in_proj_weight"), (3 * h * d, E))
            rows = dict(zip(PROJECTIONS, np.split(packed, 3)))
        else:
            rows = {
                p: expect(layer, f"{p}_proj_weight", state.get(f"{p}_proj_weight"), (h * d, shapes[f"W{p}"][0]))
                for p in PROJECTIONS
            }
        out = {f"W{p}": np.ascontiguousarray(rows[p].T).reshape(shapes[f"W{p}"]) for p in PROJECTIONS}
        out["Wo"] = np.ascontiguousarray(expect(layer, "out_proj.weight", state.get("out_proj.weight"), (E, h * d)).T).reshape(h, d, E)
        if layer.use_bias:
            bias = expect(layer, "in_proj_bias", state.get("in_proj_bias"), (3 * h * d,))
            bq, _, bv = np.split(bias, 3)  # the key bias is dropped
            out.update({"bq": bq.reshape(h, d), "bv": bv.reshape(h, d)})
            out["bo"] = expect(layer, "out_proj.bias", state.get("out_proj.bias"), (E,))
        return out

    # Keras --------------------------------------------------------------------
    def _keras_names(self, layer) -> list[tuple[str, str]]:
        """(canonical key, Keras variable path) in ``layer.weights`` order."""
        names = []
        for p, sub in zip(PROJECTIONS, ("query", "key", "value")):
            names.append((f"W{p}", f"{sub}/kernel"))
            if layer.use_bias:
                names.append((f"b{p}", f"{sub}/bias"))
        names.append(("Wo", "attention_output/kernel"))
        if layer.use_bias:
            names.append(("bo", "attention_output/bias"))
        return names

    def to_keras(self, layer, weights: Arrays, previous=None) -> list[np.ndarray]:
        shapes = layer.weight_shapes()
        _, h, d = self._sizes(layer)
        return [
            np.zeros((h, d)) if key == "bk" else expect(layer, key, weights.get(key), shapes[key])
            for key, _ in self._keras_names(layer)
        ]

    def from_keras(self, layer, values: list[np.ndarray], previous=None) -> Arrays:
        names, shapes = self._keras_names(layer), layer.weight_shapes()
        if len(values) != len(names):
            raise ConversionError(
                layer.name, "weights", None, None, detail=f"expected {len(names)} arrays {[n for _, n in names]}, received {len(values)}"
            )
        return {
            key: expect(layer, path, value, shapes[key]) for (key, path), value in zip(names, values) if key != "bk"
        }
