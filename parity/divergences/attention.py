"""Divergences of the attention family: packed projections, axis order, mask polarity, fused attention in float32.

Each compares Keras (on JAX) or scratch with the other side on the same canonical weights,
inputs and cotangent; the naive port forgets one rule (``disabled_rules``).

``mha_average_attn_weights`` is a model that returns the attention weights themselves
(config ``return_scores``): torch averages them over the heads unless told otherwise.
"""

from __future__ import annotations

from parity.divergences.base import Divergence, Side, Variant, forgotten_rule

KERAS = "keras-jax"
CASE = "multi_head_attention"
LAYER = "multi_head_attention_0"

# This family's divergence cases (collected by parity.divergences).
DIVERGENCES: list[Divergence] = []

DIVERGENCES.append(
    forgotten_rule(
        "mha_packed_in_proj",
        against=KERAS,
        name="mha_packed_in_proj",
        area="attention",
        differs="keras.layers.MultiHeadAttention keeps one kernel per projection, (E, h, d) for query, key and value "
        "and (h, d, E) for the output (keras/src/layers/attention/multi_head_attention.py, build); "
        "nn.MultiheadAttention packs the three input projections into in_proj_weight (3E, E), each block an "
        "nn.Linear weight (out, in), and out_proj.weight (E, E) (torch/nn/modules/activation.py, "
        "torch/nn/functional.py multi_head_attention_forward). With h d = E a kernel reshaped to (E, E) without the "
        "transpose loads without complaint.",
        rule="in_proj_weight = [Wq.reshape(E, h d).T; Wk...; Wv...]; in_proj_bias = [bq; bk; bv] flattened; "
        "out_proj.weight = Wo.reshape(h d, E).T.",
        converter="parity.convert.attention.MultiHeadAttentionConverter (rule mha_packed_in_proj)",
        case=CASE,
        layer=LAYER,
    )
)

DIVERGENCES.append(
    forgotten_rule(
        "mha_batch_first",
        against=KERAS,
        name="mha_batch_first",
        area="attention",
        differs="nn.MultiheadAttention reads (T, B, E), sequence first, unless batch_first=True "
        "(torch/nn/modules/activation.py: batch_first defaults to False); keras.layers.MultiHeadAttention reads "
        "(B, T, E). Batch-first data fed to the default module attends across the batch instead of the sequence, "
        "and the output has the same shape.",
        rule="nn.MultiheadAttention(E, num_heads, batch_first=True) for (B, T, E) data.",
        converter="parity.layers.attention (rule mha_batch_first: batch_first=True)",
        case=CASE,
        layer=LAYER,
    )
)

DIVERGENCES.append(
    forgotten_rule(
        "mha_mask_polarity",
        against=KERAS,
        name="mha_mask_polarity",
        area="attention",
        differs="A boolean attn_mask in torch marks with True the positions that may NOT attend "
        "(torch/nn/functional.py, multi_head_attention_forward and scaled_dot_product_attention); Keras' "
        "attention_mask, and the causal mask use_causal_mask=True builds (keras/src/layers/attention/"
        "multi_head_attention.py, _compute_causal_mask: a lower triangle), mark with True the positions that DO "
        "attend. Keras' causal mask passed to torch as it is lets every query see only the future.",
        rule="torch's causal mask is the strict upper triangle, ~tril(ones(T, T)) (or torch.nn.Transformer."
        "generate_square_subsequent_mask, a float mask of -inf above the diagonal).",
        converter="parity.layers.attention (rule mha_mask_polarity: attn_mask = ~tril)",
        case=CASE,
        config={"causal": True},
        layer=LAYER,
    )
)

DIVERGENCES.append(
    forgotten_rule(
        "mha_jax_float32_softmax",
        against="scratch",
        port=KERAS,
        name="mha_jax_float32_softmax",
        area="dtypes",
        differs="On JAX, keras.layers.MultiHeadAttention computes attention with the fused ops.dot_product_attention "
        "(keras/src/layers/attention/multi_head_attention.py, _compute_attention), whose JAX version runs the "
        "softmax in float32 for any input dtype (keras/src/backend/jax/nn.py, _dot_product_attention_core: "
        "'always carried out in fp32'). A float64 model agrees with the float64 maths only to about 1e-7.",
        rule="Call the layer with return_attention_scores=True and keep the output: the explicit einsum and "
        "Softmax path, in the model's dtype (only needed on JAX and only for float64).",
        converter="parity.layers.attention (rule mha_jax_float32_softmax)",
        case=CASE,
        layer=LAYER,
    )
)

DIVERGENCES.append(
    forgotten_rule(
        "mha_tf_float32_scale",
        against="scratch",
        port="keras-tensorflow",
        name="mha_tf_float32_scale",
        area="dtypes",
        differs="On TensorFlow, keras.layers.MultiHeadAttention computes attention with the fused "
        "ops.dot_product_attention (keras/src/layers/attention/multi_head_attention.py, _compute_attention), "
        "which scales the scores by tf.cast(scale, logits.dtype) with scale the Python float 1/sqrt(key_dim) "
        "(keras/src/backend/tensorflow/nn.py, _dot_product_attention_xla): the float becomes a float32 tensor "
        "before the cast, so a float64 model uses a scale rounded to float32 (exact only for key_dim 1, 4, 16...).",
        rule="Store the layer's scale as a NumPy float64 (layer._inverse_sqrt_key_dim, a private attribute: no public "
        "argument sets it), which tf.cast keeps in float64 (only needed on TensorFlow and only for float64).",
        converter="parity.layers.attention (rule mha_tf_float32_scale)",
        case=CASE,
        config={"num_heads": 4, "key_dim": 2},
        layer=LAYER,
    )
)

DIVERGENCES.append(
    Divergence(
        name="mha_average_attn_weights",
        area="attention",
        differs="nn.MultiheadAttention returns (output, weights) and averages the weights over the heads by default, "
        "(B, T, S) (torch/nn/functional.py, multi_head_attention_forward: average_attn_weights=True, "
        "'attn_output_weights.mean(dim=1)'); keras.layers.MultiHeadAttention(..., return_attention_scores=True) returns "
        "the weights per head, (B, num_heads, T, S) (keras/src/layers/attention/multi_head_attention.py, "
        "_compute_attention: 'attention_scores = [B, N, T, S]'). A model that reads the weights (an output, an "
        "attention map fed on) gets another shape and, reduced over the heads, other values.",
        rule="attn(q, k, v, need_weights=True, average_attn_weights=False) for Keras' per-head scores; or "
        "keras.ops.mean(scores, axis=1) in Keras for torch's averaged weights.",
        converter="parity.layers.attention (config average_heads: torch's average_attn_weights, Keras' ops.mean)",
        case=CASE,
        config={"return_scores": True},
        naive=Variant(Side(KERAS), Side("torch", config={"average_heads": True})),  # torch's default kept
        converted=Variant(Side(KERAS), Side("torch")),
        layer=LAYER,
        keys=("average_heads",),
    )
)

DIVERGENCES.append(
    Divergence(
        name="key_padding_query_mask",
        area="attention",
        differs="torch's key_padding_mask (True = a padded key, ignored) masks the KEYS only "
        "(torch/nn/functional.py, multi_head_attention_forward: merged into the (B, 1, 1, S) attention mask), so a "
        "padded query attends the tokens. The mask Keras' Embedding(mask_zero=True) propagates "
        "(keras/src/layers/core/embedding.py, compute_mask) masks the keys AND the queries in MultiHeadAttention "
        "(keras/src/layers/attention/multi_head_attention.py, _compute_attention_mask: query_mask [B, T, 1] & "
        "value_mask [B, 1, S]); a padded query's row has every score filled with about -1e9 "
        "(keras/src/layers/activations/softmax.py), so its output is the plain average of every value, padded ones "
        "included. The tokens' outputs agree; the padded positions' do not.",
        rule="Read only the tokens' outputs: a mean over the unpadded steps (Keras' GlobalAveragePooling1D with the "
        "propagated mask; torch (x * keep).sum(1) / keep.sum(1) with keep = ids != 0), or compare position t only "
        "where ids[:, t] != 0.",
        converter="parity.cases.attention.padded_attention_spec (pooled: global_avg_pool1d with masked, "
        "parity/layers/pooling.py)",
        case="padded_attention",
        config={},
        naive=Variant(Side(KERAS, config={"pooled": False}), Side("torch", config={"pooled": False})),
        converted=Variant(Side(KERAS), Side("torch")),
        layer="multi_head_attention_0",
    )
)
