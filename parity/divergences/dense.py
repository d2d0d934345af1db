"""Divergences of the dense family: activation defaults, loss clipping, float64 on each backend."""

from __future__ import annotations

from parity.divergences.base import Divergence, Side, Variant, default_kept

# This family's divergence cases (collected by parity.divergences).
DIVERGENCES: list[Divergence] = []

DIVERGENCES.append(
    default_kept(
        "negative_slope",
        0.01,
        against="torch",
        port="keras-jax",
        name="leaky_relu_layer_default",
        area="activations",
        differs="nn.LeakyReLU() has negative_slope=0.01 (torch/nn/modules/activation.py); "
        "keras.layers.LeakyReLU() has negative_slope=0.3 (keras/src/layers/activations/leaky_relu.py).",
        rule="Always pass the slope: LeakyReLU(negative_slope=0.01) in Keras for a torch default, nn.LeakyReLU(0.3) for a Keras one.",
        converter="parity.layers.dense._leaky_keras (negative_slope is passed explicitly)",
        case="leaky_relu",
        layer="leaky_relu_0",
        keys=('negative_slope',),
    )
)

DIVERGENCES.append(
    default_kept(
        "negative_slope",
        0.01,
        against="torch",
        port="keras-jax",
        name="leaky_relu_activation_default",
        area="activations",
        differs="Dense(activation='leaky_relu') and keras.ops.leaky_relu use keras.activations.leaky_relu, "
        "whose negative_slope is 0.2 (keras/src/activations/activations.py) - neither the Keras layer's 0.3 nor torch's 0.01.",
        rule="The string form cannot carry a slope: replace activation='leaky_relu' by a LeakyReLU(negative_slope=...) layer "
        "or a lambda x: keras.activations.leaky_relu(x, negative_slope=...).",
        converter="parity.layers.dense._leaky_keras (keras_form='string')",
        case="leaky_relu",
        config={"activation_form": "string"},
        layer="leaky_relu_0",
        keys=('negative_slope',),
    )
)

DIVERGENCES.append(
    default_kept(
        "approximate",
        False,
        against="torch",
        port="keras-jax",
        name="gelu_ops_default",
        area="activations",
        differs="keras.ops.gelu(x) defaults to approximate=True, the tanh approximation (keras/src/ops/nn.py); "
        "torch.nn.GELU() defaults to approximate='none', the exact erf form (torch/nn/modules/activation.py). "
        "(keras.activations.gelu and Activation('gelu') default to exact.)",
        rule="Pass it explicitly: keras.ops.gelu(x, approximate=False) for nn.GELU(); nn.GELU(approximate='tanh') for keras.ops.gelu(x).",
        converter="parity.layers.dense._gelu_keras (keras_form='ops', approximate passed)",
        case="gelu",
        config={"activation_form": "ops"},
        layer="gelu_0",
        keys=('approximate',),
    )
)

DIVERGENCES.append(
    Divergence(
        name="bce_probability_clipping",
        area="losses",
        differs="keras.losses.BinaryCrossentropy(from_logits=False) clips probabilities to [1e-7, 1 - 1e-7] "
        "(keras.backend.epsilon(), keras/src/backend/*/nn.py binary_crossentropy): a saturated wrong prediction costs "
        "-log(1e-7) = 16.1 whatever the logit, and its gradient is zero. On logits (BCEWithLogitsLoss, from_logits=True) "
        "the loss keeps growing with the logit and the gradient stays at sigmoid(z) - t.",
        rule="Keep the sigmoid inside the loss: output logits and use BinaryCrossentropy(from_logits=True) <-> nn.BCEWithLogitsLoss.",
        converter="framework.keras3.losses.loss / framework.pytorch.losses.loss (from_logits=True)",
        case="logistic_regression",
        config={},
        naive=Variant(Side("torch", {"from_logits": True}), Side("keras-jax", {"from_logits": False})),
        converted=Variant(Side("torch", {"from_logits": True}), Side("keras-jax", {"from_logits": True})),
        layer="loss",
        quantities=("loss",),  # the outputs differ by design (logits vs probabilities); the loss and its gradients must not
        input_scale=30.0,
    )
)

DIVERGENCES.append(
    Divergence(
        name="keras_jax_float64",
        area="dtypes",
        differs="JAX computes float64 inputs in float32 unless JAX_ENABLE_X64 is set before jax is imported; and even "
        "then Keras' type promotion (keras/src/backend/common/dtypes.py, BIT64_TO_BIT32_DTYPE) demotes float64 to "
        "float32 in ops such as mean, so every loss reduction is float32.",
        rule="Set JAX_ENABLE_X64=1 before importing jax/keras, and keep float64 in Keras' promotion table "
        "(parity.runners.worker.keep_float64).",
        converter="parity.runners.pool.KerasWorker (x64=True) and parity.runners.worker.keep_float64",
        case="mlp",
        config={},
        naive=Variant(Side("scratch"), Side("keras-jax-x32")),
        converted=Variant(Side("scratch"), Side("keras-jax")),
        layer="dense_0",
    )
)

DIVERGENCES.append(
    Divergence(
        name="keras_torch_float64",
        area="dtypes",
        differs="On the torch backend, keras.ops.matmul and the binary ops take their result type from Keras' "
        "promotion table, which maps float64 to float32 on every backend but TensorFlow: a float64 Dense layer "
        "computes in float32 (keras-team/keras issue #23704).",
        rule="Keep float64 in Keras' promotion table (parity.runners.worker.keep_float64); there is no public switch.",
        converter="parity.runners.worker.keep_float64",
        case="dense",
        config={},
        naive=Variant(Side("scratch"), Side("keras-torch-x32")),
        converted=Variant(Side("scratch"), Side("keras-torch")),
        layer="dense_0",
    )
)

DIVERGENCES.append(
    Divergence(
        name="tf_leaky_relu_float32_slope",
        area="dtypes",
        differs="TensorFlow's LeakyRelu op holds its slope as a float32 attribute (tf.nn.leaky_relu(alpha)), so in float64 "
        "a slope such as 0.2 becomes 0.20000000298: keras-tensorflow disagrees with every other float64 implementation.",
        rule="In float64 on TensorFlow, use a slope that float32 represents exactly (0.25, 0.125, or float(np.float32(s)) everywhere).",
        converter="parity.cases.dense.ACTIVATION_DEFAULTS (negative_slope=0.25)",
        case="leaky_relu",
        config={},
        naive=Variant(Side("scratch", {"negative_slope": 0.2}), Side("keras-tensorflow", {"negative_slope": 0.2})),
        converted=Variant(Side("scratch", {"negative_slope": 0.25}), Side("keras-tensorflow", {"negative_slope": 0.25})),
        layer="leaky_relu_0",
    )
)

DIVERGENCES.append(
    Divergence(
        name="tf_gelu_float64_constants",
        area="dtypes",
        differs="tf.nn.gelu (tensorflow/python/ops/nn_ops.py), which keras-tensorflow's gelu calls "
        "(keras/src/backend/tensorflow/nn.py), builds its constants with math_ops.cast(0.7071067811865476, dtype) "
        "(exact form) and math_ops.cast(0.044715, dtype) (tanh form): the Python float becomes a float32 tensor "
        "first, so float64 GELU uses 1/sqrt(2) rounded to float32 (relative error 1.7e-8) and 0.044715 rounded "
        "to float32 (3.5e-8). Measured against exact constants: 5.5e-10 on one GELU's outputs, 3e-9 on its "
        "gradients, and after amplification by the layers that follow up to 4.8e-7 (a multi-head attention "
        "in front of it).",
        rule="No conversion removes it (the constants are inside TensorFlow): float64 GELU on keras-tensorflow is "
        "judged against scratch computing GELU with TensorFlow's float32-rounded constants, at the policy's 1e-10 "
        "(parity.runners.reference). To match TensorFlow exactly elsewhere, write GELU with "
        "float(np.float32(1 / math.sqrt(2))) as its constant.",
        converter="parity.runners.reference (REFERENCE_CONSTANTS)",
        case="gelu",
        config={},
        naive=Variant(Side("scratch"), Side("keras-tensorflow")),
        converted=Variant(Side("scratch", reference_for="keras-tensorflow"), Side("keras-tensorflow")),
        layer="gelu_0",
    )
)

DIVERGENCES.append(
    Divergence(
        name="dropout_masks",
        area="regularisation",
        differs="torch.nn.Dropout and keras.layers.Dropout are the same inverted dropout (zero with probability rate, "
        "scale the rest by 1/(1 - rate); torch/nn/modules/dropout.py, keras/src/layers/regularization/dropout.py), but "
        "their masks come from unrelated random generators: in training mode no seed makes two frameworks drop the same "
        "units. In inference mode both are the identity and agree exactly.",
        rule="Compare in inference mode, or hand one implementation the mask the other drew (read off the output: "
        "M = (Z != 0) where the input is non-zero).",
        converter="parity.runners.base.dropout_mask and parity.check.check_case",
        case="mlp",
        config={"dropout": 0.5, "training": True, "activation": "tanh"},
        naive=Variant(Side("scratch"), Side("torch")),
        converted=Variant(Side("scratch", masks_from_other=True), Side("torch")),
        layer="dropout_0",
    )
)

DIVERGENCES.append(
    Divergence(
        name="torch_hardsigmoid_float64_grad",
        area="dtypes",
        differs="torch's hardsigmoid backward kernel (aten/src/ATen/native/cpu/Activation.cpp, "
        "hardsigmoid_backward_kernel) multiplies by one_sixth = 1.0f / 6.0f, a float32 literal: in float64 the "
        "gradient of nn.Hardsigmoid / F.hardsigmoid is dZ * 0.16666667163372040, 1/6 rounded to float32 (relative "
        "error 2.98e-8); the forward kernel divides by 6 exactly. keras-torch's hard_sigmoid calls the same kernel "
        "(keras/src/backend/torch/nn.py). Measured against the exact 1/6: 2.98e-8 on the input gradient per "
        "hardsigmoid layer the gradient passes through, 0 on outputs.",
        rule="No conversion removes it from nn.Hardsigmoid (the constant is inside torch's kernel; writing "
        "F.relu6(x + 3) / 6 instead differentiates exactly): float64 hard_sigmoid on torch and keras-torch is judged "
        "against scratch computing its backward pass with float32(1/6), at the policy's 1e-10 (parity.runners.reference).",
        converter="parity.runners.reference (REFERENCE_CONSTANTS)",
        case="hard_sigmoid",
        config={},
        naive=Variant(Side("scratch"), Side("torch")),
        converted=Variant(Side("scratch", reference_for="torch"), Side("torch")),
        layer="hard_sigmoid_0",
        quantities=("grad",),
    )
)
