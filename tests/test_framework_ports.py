"""The hand-written ports in framework/ are the models the cases describe.

Every case's spec is what the harness generates and compares; the readable ports in
``framework/pytorch/models`` and ``framework/keras3/models`` are what a learner reads. Here
each port is built with the case's default configuration, read back with the importers
(``torch.export`` for torch, the layer graph for Keras) and compared with the case's spec up
to layer names: the same kinds in the same order, the same edges, the same configurations
with every default filled in (``parity.spec.model.same_structure``).

What to compare is data (``PORTS``: one row per case); how is the generic code below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from parity.cases import all_cases
from parity.layers import CHANNELS_FIRST
from parity.sources import spec_of_builder
from parity.spec.generate import input_layout
from parity.spec.model import INPUT, ModelSpec, Node, same_structure, stack

Config = dict[str, Any]
TORCH = "framework.pytorch.models."
KERAS = "framework.keras3.models."


@dataclass(frozen=True)
class Port:
    """One case's hand-written models: ``module:function`` of each, and the case config -> their kwargs.

    Both take the same keyword arguments (the same names everywhere, STYLE.md). ``kwargs`` refuses
    a configuration the ports do not express, rather than dropping a key silently.
    """

    module: str  # "mlp": framework.pytorch.models.mlp and framework.keras3.models.mlp
    function: str
    kwargs: Callable[[Config], Config]
    why: str = ""  # what is special about this row

    @property
    def torch(self) -> str:
        return f"{TORCH}{self.module}:{self.function}"

    @property
    def keras(self) -> str:
        return f"{KERAS}{self.module}:{self.function}"


def _keras_layer_form(c: Config) -> None:
    # ``activation_form`` (read by the registry as ``keras_form``) says how the Keras code spells
    # the activation; the Keras ports spell it as a layer (LeakyReLU(...), Activation("gelu")),
    # and both importers read a layer form. The string and ops forms are divergence cases.
    assert c.get("activation_form", "layer") == "layer", "the ports write the activation as a layer"


def _approximate(c: Config) -> str:
    return "tanh" if c["approximate"] else "none"  # the cases' boolean, as nn.GELU / scratch spell it


def _dense(c: Config) -> Config:
    _keras_layer_form(c)
    return {
        "input_dim": c["input_shape"][0],
        "units": c["units"],
        "use_bias": c["use_bias"],
        "activation": c["activation"],
        "negative_slope": c["negative_slope"],
        "approximate": _approximate(c),
    }


def _activation(name: str) -> Callable[[Config], Config]:
    def kwargs(c: Config) -> Config:
        _keras_layer_form(c)
        out = {"input_dim": c["input_shape"][0], "activation": name}
        if name == "leaky_relu":
            out["negative_slope"] = c["negative_slope"]
        if name == "gelu":
            out["approximate"] = _approximate(c)
        return out

    return kwargs


def _mlp(c: Config) -> Config:
    _keras_layer_form(c)
    # The torch MLP has no kernel_regularizer: torch layers carry no penalty, the training loop
    # adds it to the loss (framework.pytorch.regularizers). A spec with one is not the torch port.
    assert c["kernel_regularizer"] is None, "the torch port has no kernel regularizer"
    return {
        "input_dim": c["input_shape"][0],
        "units": c["units"],
        "num_classes": c["num_classes"],
        "activation": c["activation"],
        "negative_slope": c["negative_slope"],
        "approximate": _approximate(c),
        "dropout": c["dropout"],
    }


def _keys(*keys: str, shape: str = "input_shape") -> Callable[[Config], Config]:
    """The case's keys passed as they are (``training`` and ``batch`` are run settings, not model arguments)."""
    return lambda c: {shape: tuple(c["input_shape"]), **{k: c[k] for k in keys}}


def _padded(c: Config) -> Config:
    # min_tokens only shapes the drawn ids; pooled=False (every position, padded ones too) is the divergence case
    assert c["pooled"], "the ports pool over the tokens"
    return _keys("input_dim", "num_heads", "key_dim", "num_classes", "use_bias", "causal")(c)


def _text(*keys: str) -> Callable[[Config], Config]:
    def kwargs(c: Config) -> Config:
        # The ports have no padding_idx (Keras has none): a spec with one is the divergence case.
        assert c["padding_idx"] is None, "the ports have no padding_idx"
        return {"input_shape": tuple(c["input_shape"]), **{k: c[k] for k in keys}}

    return kwargs


def _regression(*keys: str) -> Callable[[Config], Config]:
    return lambda c: {"input_dim": c["input_shape"][0], **{k: c[k] for k in keys}}


PORTS: dict[str, Port] = {
    # dense family
    "dense": Port("layers", "dense", _dense),
    "sigmoid": Port("layers", "activation", _activation("sigmoid")),
    "tanh": Port("layers", "activation", _activation("tanh")),
    "relu": Port("layers", "activation", _activation("relu"), "nn.ReLU / layers.ReLU"),
    "relu6": Port("layers", "activation", _activation("relu6"), "nn.ReLU6 / layers.ReLU(max_value=6.0)"),
    "silu": Port("layers", "activation", _activation("silu"), "nn.SiLU / Activation('silu')"),
    "hard_sigmoid": Port("layers", "activation", _activation("hard_sigmoid"), "nn.Hardsigmoid / Activation('hard_sigmoid')"),
    "hard_swish": Port("layers", "activation", _activation("hard_swish"), "nn.Hardswish / Activation('hard_swish')"),
    "leaky_relu": Port("layers", "activation", _activation("leaky_relu"), "slope passed explicitly"),
    "softmax": Port("layers", "activation", _activation("softmax"), "nn.Softmax(dim=-1) / layers.Softmax"),
    "gelu": Port("layers", "activation", _activation("gelu"), "exact GELU"),
    "linear_regression": Port("mlp", "linear_regression", _regression("units")),
    "logistic_regression": Port("mlp", "logistic_regression", _regression("units", "from_logits")),
    "mlp": Port("mlp", "mlp", _mlp, "kernel_regularizer None: torch adds the penalty to the loss"),
    # convolutional family: torch reads (B, C, H, W), input_shape stays (H, W, C)
    "conv2d": Port(
        "conv_layers",
        "conv2d",
        _keys("filters", "kernel_size", "strides", "padding", "dilation_rate", "use_bias", "groups"),
        "same at stride 2: framework.pytorch.conv.Conv2d",
    ),
    "conv2d_grouped": Port(
        "conv_layers",
        "conv2d",
        _keys("filters", "kernel_size", "strides", "padding", "dilation_rate", "use_bias", "groups"),
        "nn.Conv2d(groups=2) / Conv2D(groups=2): groups < in_channels stays a conv2d",
    ),
    "depthwise_conv2d": Port(
        "conv_layers",
        "depthwise_conv2d",
        _keys("kernel_size", "strides", "padding", "depth_multiplier", "dilation_rate", "use_bias"),
        "nn.Conv2d(C, C * m, groups=C): read as depthwise, not conv2d",
    ),
    "separable_conv2d": Port(
        "conv_layers",
        "separable_conv2d",
        _keys("filters", "kernel_size", "strides", "padding", "depth_multiplier", "dilation_rate", "use_bias"),
        "SeparableConv2d: depthwise nn.Conv2d(groups=C, bias=False) then 1x1 nn.Conv2d",
    ),
    "conv2d_transpose": Port(
        "conv_layers",
        "conv2d_transpose",
        _keys("filters", "kernel_size", "strides", "padding", "output_padding", "use_bias"),
        "same, k 3, stride 2: the odd row cut at the end, framework.pytorch.conv.ConvTranspose2d",
    ),
    "conv1d": Port(
        "conv_layers",
        "conv1d",
        _keys("filters", "kernel_size", "strides", "padding", "dilation_rate", "use_bias"),
        "causal: framework.pytorch.conv.Conv1d; torch reads (B, C, L)",
    ),
    "maxpool2d": Port("conv_layers", "maxpool2d", _keys("pool_size", "strides", "padding"), "same: MaxPool2d"),
    "avgpool2d": Port("conv_layers", "avgpool2d", _keys("pool_size", "strides", "padding"), "valid: nn.AvgPool2d"),
    "batchnorm": Port(
        "conv_layers",
        "batchnorm",
        _keys("epsilon", "momentum", "center", "scale"),
        "torch momentum = 1 - Keras'; scale=False: weight frozen at 1",
    ),
    "scaled_add": Port("conv_layers", "scaled_add", _keys("scale"), "torch.add(x, up(x), alpha=scale) / ScaledAdd"),
    "cropping2d": Port("conv_layers", "cropping2d", _keys("cropping"), "Cropping2d: x[:, :, top:H - bottom, left:W - right]"),
    "zero_padding2d": Port("conv_layers", "zero_padding2d", _keys("padding"), "nn.ZeroPad2d((left, right, top, bottom))"),
    "cnn": Port("cnn", "cnn", _keys("filters", "kernel_size", "padding", "pool_size", "num_classes")),
    "cnn_bn": Port("cnn", "cnn_bn", _keys("filters", "kernel_size", "padding", "pool_size", "num_classes")),
    # recurrent family: batch-first (B, T, F)
    "simple_rnn": Port("rnn_layers", "simple_rnn", _keys("units", "return_sequences", "use_bias")),
    "lstm": Port("rnn_layers", "lstm", _keys("units", "return_sequences", "use_bias")),
    "gru": Port("rnn_layers", "gru", _keys("units", "return_sequences", "use_bias", "reset_after")),
    "bidirectional_lstm": Port("rnn_layers", "bidirectional_lstm", _keys("units", "return_sequences", "use_bias")),
    "bidirectional_gru": Port("rnn_layers", "bidirectional_gru", _keys("units", "return_sequences", "use_bias")),
    "rnn_classifier": Port("rnn", "rnn_classifier", _keys("units", "num_classes"), "out[:, -1] -> Linear"),
    "lstm_seq": Port("rnn", "lstm_seq", _keys("units", "output_units"), "every step -> Linear"),
    "lstm_classifier": Port("rnn", "lstm_classifier", _keys("units", "num_classes"), "out[:, -1] -> Linear"),
    "gru_classifier": Port("rnn", "gru_classifier", _keys("units", "num_classes", "reset_after")),
    # normalisation family: features or batch-first sequences
    "layernorm": Port("norm_layers", "layernorm", _keys("axis", "epsilon", "scale", "center"), "eps passed: torch 1e-5"),
    "rmsnorm": Port("norm_layers", "rmsnorm", _keys("axis", "epsilon"), "eps passed: torch None"),
    "layer_scale": Port("convnext", "layer_scale", _keys("init_values"), "torch: framework LayerScale, NHWC input"),
    "convnext_block": Port(
        "convnext",
        "convnext_block",
        _keys("kernel_size", "expansion", "layer_scale_init_value"),
        "permute(0, 2, 3, 1) / LayerNorm, Linear, gamma * x / permute back; Conv2D(groups=C) read as depthwise",
    ),
    # attention family: batch-first (B, T, E)
    "multi_head_attention": Port(
        "attention",
        "multi_head_attention",
        _keys("num_heads", "key_dim", "use_bias", "causal"),
        "attn(x, x, x, need_weights=False)[0] / MHA(x, x)",
    ),
    "cross_attention": Port(
        "attention",
        "cross_attention",
        _keys("num_heads", "key_dim", "context_dim", "use_bias", "causal"),
        "attn(x, c, c, need_weights=False)[0] with kdim/vdim / MHA(x, c)",
    ),
    "padded_attention": Port(
        "attention",
        "padded_attention",
        _padded,
        "key_padding_mask=(tokens == 0) and a mean over the tokens / Embedding(mask_zero=True), the propagated mask",
    ),
    # transformer family: batch-first (B, T, E)
    "transformer_encoder": Port(
        "transformer",
        "transformer_encoder",
        _keys("num_heads", "dim_feedforward", "dropout", "activation", "layer_norm_eps", "norm_first", "use_bias"),
        "nn.TransformerEncoderLayer(batch_first=True) / a Layer of Keras layers",
    ),
    "transformer_encoder_norm_first": Port(
        "transformer",
        "transformer_encoder_norm_first",
        _keys("num_heads", "dim_feedforward", "dropout", "activation", "layer_norm_eps", "norm_first", "use_bias"),
        "pre-norm, GELU",
    ),
    # global pooling family
    "global_avg_pool2d": Port("pooling_layers", "global_avg_pool2d", _keys("keepdims"), "AdaptiveAvgPool2d(1), Flatten"),
    "global_max_pool2d": Port("pooling_layers", "global_max_pool2d", _keys("keepdims"), "AdaptiveMaxPool2d(1), Flatten"),
    "global_avg_pool1d": Port("pooling_layers", "global_avg_pool1d", _keys("keepdims"), "x.mean(dim=1)"),
    "global_max_pool1d": Port("pooling_layers", "global_max_pool1d", _keys("keepdims"), "x.amax(dim=1)"),
    # merge family: the squeeze-and-excitation product
    "multiply": Port("merge_layers", "multiply", _keys("gate"), "x * gate, (B, C, H, W) * (B, C, 1, 1)"),
    # preprocessing family: images, channels-first in torch
    "rescaling": Port("preprocessing_layers", "rescaling", _keys("scale", "offset"), "x * scale + offset as a module"),
    "normalization": Port("preprocessing_layers", "normalization", _keys("invert"), "torchvision's (x - mean) / std as a module"),
    # embedding family: integer ids (B, T)
    "embedding": Port("text", "embedding", _text("input_dim", "output_dim"), "integer ids; no padding_idx"),
    "text_classifier": Port(
        "text", "text_classifier", _text("input_dim", "output_dim", "num_classes"), "Embedding, x.mean(dim=1), Linear"
    ),
    # tensor_ops family: raw operations written in forward
    "scale": Port("tensor_ops", "scale", _keys("factor", "divide"), "x / c"),
    "matmul": Port("tensor_ops", "matmul", _keys(), "x @ x.transpose(-2, -1)"),
    "reshape": Port("tensor_ops", "reshape", _keys("target_shape"), "x.view(B, *shape) / layers.Reshape"),
    "permute": Port("tensor_ops", "permute", _keys("dims"), "x.permute(0, *dims) / layers.Permute"),
    "slice": Port("tensor_ops", "slice_last", _keys("start", "stop"), "x[..., a:b]"),
    "masked_fill": Port("tensor_ops", "masked_fill", _keys("diagonal"), "a mask buffer, -inf, softmax"),
    "add_table": Port("tensor_ops", "add_table", _keys("batch_axis"), "x + self.pos"),
    # models family: whole networks, graphs with residual adds
    "text_lstm": Port(
        "text",
        "text_lstm",
        _keys("input_dim", "output_dim", "units", "num_classes"),
        "torch.cat([out[:, -1, :H], out[:, 0, H:]]): both final states",
    ),
    "char_lstm": Port("text", "char_lstm", _keys("input_dim", "output_dim", "units"), "out (every step) -> Linear"),
    "resnet_small": Port(
        "resnet", "resnet_small", _keys("filters", "filters_2", "num_classes"), "out + shortcut(x); strided 3x3: Conv2d"
    ),
    "tcn": Port(
        "tcn", "tcn", _keys("filters", "kernel_size", "dilations", "num_classes"), "causal Conv1d, x.mean(dim=2)"
    ),
    "transformer_classifier": Port(
        "transformer_models",
        "transformer_classifier",
        _keys("input_dim", "d_model", "num_heads", "dim_feedforward", "num_layers", "num_classes", "norm_first"),
        "x + self.pos, nn.TransformerEncoder(batch_first=True), x.mean(dim=1)",
    ),
    "seq_transformer": Port(
        "transformer_models",
        "seq_transformer",
        _keys("d_model", "num_heads", "dim_feedforward", "num_layers", "num_classes", "norm_first"),
        "nn.Linear projection of each step + self.pos, nn.TransformerEncoder, x.mean(dim=1)",
    ),
    "char_transformer": Port(
        "transformer_models",
        "char_transformer",
        _keys("input_dim", "d_model", "num_heads", "dim_feedforward", "activation"),
        "a pre-norm block written out: LayerNorm, causal MultiheadAttention, +, LayerNorm, Linear-GELU-Linear, +",
    ),
}


def torch_input_shape(name: str) -> tuple[int, ...]:
    """One sample as the torch port reads it: in the layout the spec's first layer reads (images and
    Conv1d's sequences channels-first, (C, H, W) / (C, L); recurrent sequences as the case has them)."""
    _, spec = expected(name)
    shape = tuple(spec.input_shape)
    return (shape[-1], *shape[:-1]) if input_layout(spec).tag == CHANNELS_FIRST else shape


def expected(name: str) -> tuple[Config, ModelSpec]:
    case = all_cases()[name]
    config = case.configure({})
    return config, case.model_spec(config)


def differences(name: str, imported: ModelSpec) -> str:
    _, spec = expected(name)
    return "\n".join(f"  {line}" for line in same_structure(spec, imported))


def test_every_case_has_a_port():
    assert sorted(PORTS) == sorted(all_cases())


@pytest.mark.parametrize("name", sorted(PORTS))
def test_torch_port_is_the_case(name):
    config, _ = expected(name)
    port = PORTS[name]
    imported = spec_of_builder(port.torch, port.kwargs(config), torch_input_shape(name))
    diff = differences(name, imported)
    assert not diff, f"{port.torch} differs from case {name!r}:\n{diff}"


# one pytest-xdist worker for this file (with --dist loadgroup): every Keras port's spec (``keras_specs``) is read once
pytestmark = pytest.mark.xdist_group("framework_ports")


@pytest.fixture(scope="module")
def keras_specs() -> dict[str, ModelSpec]:
    """Every Keras port's spec, read in one call of a Keras worker (this process never imports Keras)."""
    from parity.runners.pool import ImplementationUnavailable, keras_worker

    names = sorted(PORTS)
    calls = [(PORTS[n].keras, PORTS[n].kwargs(expected(n)[0])) for n in names]
    try:
        worker = keras_worker("torch")
    except ImplementationUnavailable as error:
        pytest.skip(str(error))
    return dict(zip(names, worker.call("parity.sources:specs_of_builders", calls)))


@pytest.mark.parametrize("name", sorted(PORTS))
def test_keras_port_is_the_case(name, keras_specs):
    diff = differences(name, keras_specs[name])
    assert not diff, f"{PORTS[name].keras} differs from case {name!r}:\n{diff}"


# The comparison can fail -----------------------------------------------------------------


def _mlp_spec(**change) -> ModelSpec:
    hidden = {"units": 4, **change}
    return stack("m", (3,), [("dense", hidden), ("relu", {}), ("dense", {"units": 2})])


def test_same_structure_ignores_names_and_filled_defaults():
    a = _mlp_spec()
    b = ModelSpec(
        "other",
        (3,),
        (
            Node("fc1", "dense", {"units": 4, "use_bias": True}),
            Node("act", "relu", {}, ("fc1",)),
            Node("fc2", "dense", {"units": 2, "kernel_regularizer": None}, ("act",)),
        ),
    )
    assert same_structure(a, b) == []


def test_same_structure_reports_a_changed_config_value():
    lines = same_structure(_mlp_spec(), _mlp_spec(units=5))
    assert lines == ["layer 0 ('dense_0' / 'dense_0'), dense: config units: 4 != 5"]
    assert same_structure(_mlp_spec(use_bias=True), _mlp_spec(use_bias=False))
    assert same_structure(_mlp_spec(kernel_regularizer=None), _mlp_spec(kernel_regularizer=0.01))


def test_same_structure_compares_floats_to_a_relative_1e_12():
    bn = lambda m: stack("b", (2, 2, 1), [("batch_norm", {"momentum": m})])  # noqa: E731
    assert same_structure(bn(0.99), bn(1.0 - (1.0 - 0.99))) == []  # torch's momentum, read back
    assert same_structure(bn(0.99), bn(0.99 * (1 + 1e-9)))


def test_same_structure_reports_a_changed_kind():
    other = stack("m", (3,), [("dense", {"units": 4}), ("tanh", {}), ("dense", {"units": 2})])
    assert same_structure(_mlp_spec(), other) == ["layer 1 ('relu_0' / 'tanh_0'): kind relu != tanh"]


def test_same_structure_reports_a_changed_edge():
    a = ModelSpec("a", (3,), (Node("d", "dense", {"units": 3}), Node("s", "add", {}, ("d", INPUT))))
    b = ModelSpec("b", (3,), (Node("d", "dense", {"units": 3}), Node("s", "add", {}, ("d", "d"))))
    assert same_structure(a, b) == ["layer 1 ('s' / 's'), add: inputs [0, 'input'] != [0, 0]"]


def test_same_structure_reports_a_missing_layer_and_the_input():
    shorter = stack("m", (3,), [("dense", {"units": 4}), ("relu", {})])
    lines = same_structure(_mlp_spec(), shorter)
    assert "output: 2 != 1" in lines and "layer 2 ('dense_1', dense): only in 'm'" in lines
    assert same_structure(
        _mlp_spec(), stack("m", (4,), [("dense", {"units": 4}), ("relu", {}), ("dense", {"units": 2})])
    )
