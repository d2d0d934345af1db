"""Cases of the models family: small whole networks built from the registered kinds.

``text_lstm`` (Embedding -> Bidirectional(LSTM) -> Dense) and ``char_lstm`` (Embedding -> LSTM
-> Dense at every step: a character language model) read integer ids;
``resnet_small`` (a conv-BN-ReLU stem and two residual blocks, the second with a strided 1x1
projection shortcut) reads NHWC images; ``tcn`` (causal dilated Conv1D blocks with residual
adds) reads (B, L, C) sequences. ``transformer_classifier`` (Embedding + a learned position
table -> two encoder blocks -> the mean over the steps -> Dense) and ``seq_transformer`` (the
classifier on feature sequences (B, T, F): a Dense projection instead of the embedding) and
``char_transformer`` (a causal character language model: Embedding + positions -> one pre-norm block written out of
its parts -> Dense at every step) read integer ids. The residual models are graphs: each block's ``add`` reads
the block's last layer and its shortcut (``Node.inputs``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from parity.case import Case, Config, require
from parity.spec.model import INPUT, ModelSpec, Node, stack

# This family's cases, in the order `parity list` shows them (collected by parity.cases).
CASES: list[Case] = []


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(model: str, config: Config, key: str, least: int = 1) -> None:
    value = config[key]
    require(model, _is_int(value) and value >= least, f"{key} must be an integer >= {least}, received {value!r}")


def _boolean(model: str, config: Config, key: str) -> None:
    require(model, isinstance(config[key], bool), f"{key} must be true or false, received {config[key]!r}")


def _label_targets(rng: np.random.Generator, config: Config, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, shape[-1], size=shape[:-1])


# text_lstm ------------------------------------------------------------------------


def _ids(rng: np.random.Generator, config: Config) -> np.ndarray:
    return rng.integers(0, config["input_dim"], size=(config["batch"], *config["input_shape"]))  # (B, T)


def _text_lstm_validate(config: Config) -> None:
    m = "text_lstm"
    shape = config["input_shape"]
    require(m, len(shape) == 1, f"input_shape must be [steps] (integer ids), received {shape}")
    for key in ("input_dim", "output_dim", "units"):
        _positive_int(m, config, key)
    _positive_int(m, config, "num_classes", 2)


def _text_lstm_spec(c: Config) -> ModelSpec:
    layers = [
        ("embedding", {"input_dim": c["input_dim"], "output_dim": c["output_dim"], "padding_idx": None}),
        (
            "bidirectional",
            {"layer": "lstm", "units": c["units"], "return_sequences": False},
        ),  # (B, 2H): both final states
        ("dense", {"units": c["num_classes"]}),
    ]
    return replace(stack("text_lstm", c["input_shape"], layers), input_dtype="int")


CASES.append(
    Case(
        name="text_lstm",
        family="models",
        description="Text classifier: Embedding -> Bidirectional(LSTM) final states -> Dense logits, softmax cross-entropy",
        defaults={"input_dim": 12, "output_dim": 6, "units": 5, "num_classes": 3, "input_shape": [7], "batch": 4},
        spec=_text_lstm_spec,
        loss="sparse_categorical_crossentropy",
        targets=_label_targets,
        validate=_text_lstm_validate,
        inputs=_ids,
    )
)


# char_lstm ------------------------------------------------------------------------


def _char_lstm_validate(config: Config) -> None:
    m = "char_lstm"
    shape = config["input_shape"]
    require(m, len(shape) == 1, f"input_shape must be [steps] (integer ids), received {shape}")
    for key in ("output_dim", "units"):
        _positive_int(m, config, key)
    _positive_int(m, config, "input_dim", 2)


def _char_lstm_spec(c: Config) -> ModelSpec:
    """The next id at every step: logits over the same vocabulary the ids come from."""
    layers = [
        ("embedding", {"input_dim": c["input_dim"], "output_dim": c["output_dim"], "padding_idx": None}),
        ("lstm", {"units": c["units"], "return_sequences": True}),  # (B, T, H)
        ("dense", {"units": c["input_dim"]}),  # (B, T, V): logits of the next character
    ]
    return replace(stack("char_lstm", c["input_shape"], layers), input_dtype="int")


CASES.append(
    Case(
        name="char_lstm",
        family="models",
        description="Character language model: Embedding -> LSTM (every step) -> Dense logits over the vocabulary "
        "per step, softmax cross-entropy averaged over every step",
        defaults={"input_dim": 9, "output_dim": 4, "units": 6, "input_shape": [6], "batch": 3},
        spec=_char_lstm_spec,
        loss="sparse_categorical_crossentropy",
        targets=_label_targets,  # (B, T): the next id at every step
        validate=_char_lstm_validate,
        inputs=_ids,
    )
)


# resnet_small ---------------------------------------------------------------------


def _conv(filters: int, kernel: int, strides: int = 1, padding: str = "same") -> Config:
    """A bias-free convolution: the BatchNorm right after it subtracts each channel's mean, so a bias
    would cancel exactly in training mode."""
    return {
        "filters": filters,
        "kernel_size": [kernel, kernel],
        "strides": [strides, strides],
        "padding": padding,
        "dilation_rate": [1, 1],
        "use_bias": False,
    }


def _resnet_validate(config: Config) -> None:
    m = "resnet_small"
    shape = config["input_shape"]
    require(m, len(shape) == 3, f"input_shape must be [H, W, C] (channels last), received {shape}")
    for key in ("filters", "filters_2"):
        _positive_int(m, config, key)
    _positive_int(m, config, "num_classes", 2)
    _boolean(m, config, "training")
    H, W, _ = shape
    per_channel = config["batch"] * ((H + 1) // 2) * ((W + 1) // 2)  # the smallest map a BatchNorm averages over
    require(
        m,
        not config["training"] or per_channel >= 2,
        f"training=true needs at least 2 values per channel after the stride-2 block (batch * ceil(H/2) * ceil(W/2)), "
        f"received {per_channel}",
    )


def _resnet_spec(c: Config) -> ModelSpec:
    """stem: conv 3x3 -> BN -> ReLU; block 1: [conv 3x3 -> BN -> ReLU -> conv 3x3 -> BN] + x -> ReLU;
    block 2: [conv 3x3 stride 2 -> BN -> ReLU -> conv 3x3 -> BN] + [conv 1x1 stride 2 -> BN](x) -> ReLU;
    global average pooling, Dense logits."""
    f1, f2 = c["filters"], c["filters_2"]
    nodes: list[Node] = []

    def add(name: str, kind: str, config: Config, inputs: tuple[str, ...]) -> str:
        nodes.append(Node(name, kind, config, inputs))
        return name

    x = add("stem_conv", "conv2d", _conv(f1, 3), (INPUT,))
    x = add("stem_bn", "batch_norm", {}, (x,))
    x = add("stem_relu", "relu", {}, (x,))
    # block 1: identity shortcut
    y = add("block1_conv1", "conv2d", _conv(f1, 3), (x,))
    y = add("block1_bn1", "batch_norm", {}, (y,))
    y = add("block1_relu1", "relu", {}, (y,))
    y = add("block1_conv2", "conv2d", _conv(f1, 3), (y,))
    y = add("block1_bn2", "batch_norm", {}, (y,))
    x = add("block1_add", "add", {}, (y, x))
    x = add("block1_relu2", "relu", {}, (x,))
    # block 2: halves H and W, f1 -> f2 channels; the shortcut is a strided 1x1 projection
    y = add("block2_conv1", "conv2d", _conv(f2, 3, strides=2), (x,))
    y = add("block2_bn1", "batch_norm", {}, (y,))
    y = add("block2_relu1", "relu", {}, (y,))
    y = add("block2_conv2", "conv2d", _conv(f2, 3), (y,))
    y = add("block2_bn2", "batch_norm", {}, (y,))
    s = add("block2_proj", "conv2d", _conv(f2, 1, strides=2, padding="valid"), (x,))
    s = add("block2_proj_bn", "batch_norm", {}, (s,))
    x = add("block2_add", "add", {}, (y, s))
    x = add("block2_relu2", "relu", {}, (x,))
    x = add("pool", "global_avg_pool2d", {"keepdims": False}, (x,))
    add("logits", "dense", {"units": c["num_classes"]}, (x,))
    return ModelSpec("resnet_small", tuple(c["input_shape"]), tuple(nodes))


CASES.append(
    Case(
        name="resnet_small",
        family="models",
        description="ResNet: conv-BN-ReLU stem, two residual blocks (the second strided, 1x1 projection shortcut), "
        "global average pooling, Dense logits (BatchNorm in training mode)",
        defaults={
            "filters": 4,
            "filters_2": 6,
            "num_classes": 3,
            "training": True,
            "input_shape": [8, 8, 3],
            "batch": 3,
        },
        spec=_resnet_spec,
        loss="sparse_categorical_crossentropy",
        targets=_label_targets,
        validate=_resnet_validate,
    )
)


# convnext_block -------------------------------------------------------------------


def _convnext_validate(config: Config) -> None:
    m = "convnext_block"
    shape = config["input_shape"]
    require(m, len(shape) == 3, f"input_shape must be [H, W, C] (channels last), received {shape}")
    _positive_int(m, config, "kernel_size")
    _positive_int(m, config, "expansion")
    require(
        m,
        shape[-1] >= 3,
        f"input_shape {shape}: C must be >= 3 (LayerNorm over 2 channels maps every pixel to +-1, so the "
        "gradient of everything before it is 0 in exact arithmetic and rounding noise in practice)",
    )
    require(m, config["activation"] in ("gelu", "relu"), f"activation must be gelu or relu, received {config['activation']!r}")
    value = config["layer_scale_init_value"]
    require(
        m,
        isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value) and value != 0,
        f"layer_scale_init_value must be a finite non-zero number, received {value!r}",
    )


def _convnext_spec(c: Config) -> ModelSpec:
    """x + layer_scale(Dense(GELU(Dense(LayerNorm(depthwise 7x7 conv(x)))))): one ConvNeXt block on
    a channels-last map (keras/src/applications/convnext.py ``ConvNeXtBlock``, drop_path_rate 0).
    The depthwise convolution is Keras' ``Conv2D(C, k, groups=C)``, read as depthwise_conv2d."""
    C, k = c["input_shape"][-1], c["kernel_size"]
    n = Node
    nodes = (
        n("depthwise_conv", "depthwise_conv2d", {"kernel_size": [k, k], "padding": "same"}, (INPUT,)),
        n("layernorm", "layer_norm", {"epsilon": 1e-6}, ("depthwise_conv",)),
        n("pointwise_conv_1", "dense", {"units": c["expansion"] * C}, ("layernorm",)),
        # ConvNeXt's GELU (exact, not tanh); relu as an option without it (keras-tensorflow's float64 GELU
        # is judged against scratch with TensorFlow's constants: divergence tf_gelu_float64_constants)
        n(c["activation"], c["activation"], {"approximate": False} if c["activation"] == "gelu" else {}, ("pointwise_conv_1",)),
        n("pointwise_conv_2", "dense", {"units": C}, (c["activation"],)),
        n(
            "layer_scale",
            "layer_scale",
            {"init_values": c["layer_scale_init_value"], "projection_dim": C},
            ("pointwise_conv_2",),
        ),
        n("add", "add", {}, (INPUT, "layer_scale")),
    )
    return ModelSpec("convnext_block", tuple(c["input_shape"]), nodes)


CASES.append(
    Case(
        name="convnext_block",
        family="models",
        description="ConvNeXt block: depthwise 7x7 Conv2D(groups=C), LayerNorm and the Dense MLP on the "
        "channels-last map (torch: permute to NHWC and back), LayerScale, residual add",
        defaults={
            "kernel_size": 7,
            "expansion": 4,
            "layer_scale_init_value": 0.5,
            "activation": "gelu",
            "input_shape": [6, 6, 4],
            "batch": 2,
        },
        spec=_convnext_spec,
        loss="mean_squared_error",
        targets=lambda rng, config, shape: rng.standard_normal(shape),
        validate=_convnext_validate,
        notes="layer_scale_init_value 0.5, not ConvNeXt's 1e-6, so that the branch's gradients are not ~1e-6 of the rest.",
    )
)


# tcn ------------------------------------------------------------------------------


def _tcn_validate(config: Config) -> None:
    m = "tcn"
    shape = config["input_shape"]
    require(m, len(shape) == 2, f"input_shape must be [L, C] (steps, channels), received {shape}")
    _positive_int(m, config, "filters")
    _positive_int(m, config, "kernel_size")
    _positive_int(m, config, "num_classes", 2)
    dilations = config["dilations"]
    require(
        m,
        isinstance(dilations, list) and len(dilations) > 0 and all(_is_int(d) and d > 0 for d in dilations),
        f"dilations must be a non-empty list of positive integers (one per residual block), received {dilations!r}",
    )


def _tcn_spec(c: Config) -> ModelSpec:
    """Per dilation d: y = ReLU(causal conv_d(x)); x = y + x (the first block's shortcut is a 1x1
    convolution from the input channels to ``filters``); then the mean over the steps, Dense logits."""
    nodes: list[Node] = []
    x = INPUT
    for i, d in enumerate(c["dilations"]):
        conv = {
            "filters": c["filters"],
            "kernel_size": c["kernel_size"],
            "strides": 1,
            "padding": "causal",
            "dilation_rate": d,
            "use_bias": True,
        }
        nodes.append(Node(f"block{i}_conv", "conv1d", conv, (x,)))
        nodes.append(Node(f"block{i}_relu", "relu", {}, (f"block{i}_conv",)))
        shortcut = x
        if i == 0:
            project = {**conv, "kernel_size": 1, "padding": "valid", "dilation_rate": 1}
            nodes.append(Node("block0_proj", "conv1d", project, (x,)))
            shortcut = "block0_proj"
        nodes.append(Node(f"block{i}_add", "add", {}, (f"block{i}_relu", shortcut)))
        x = f"block{i}_add"
    nodes.append(Node("pool", "global_avg_pool1d", {"keepdims": False}, (x,)))
    nodes.append(Node("logits", "dense", {"units": c["num_classes"]}, ("pool",)))
    return ModelSpec("tcn", tuple(c["input_shape"]), tuple(nodes))


CASES.append(
    Case(
        name="tcn",
        family="models",
        description="Temporal convolutional network: [causal dilated Conv1D -> ReLU] + shortcut per dilation, "
        "GlobalAveragePooling1D, Dense logits",
        defaults={
            "filters": 4,
            "kernel_size": 3,
            "dilations": [1, 2, 4],
            "num_classes": 3,
            "input_shape": [12, 2],
            "batch": 3,
        },
        spec=_tcn_spec,
        loss="sparse_categorical_crossentropy",
        targets=_label_targets,
        validate=_tcn_validate,
    )
)


# transformer_classifier -------------------------------------------------------------


def _block(c: Config) -> Config:
    """An encoder block as nn.TransformerEncoderLayer's defaults would not give it: no dropout (the
    masks are drawn inside the block, where no other implementation can read them), torch's 1e-5."""
    return {
        "num_heads": c["num_heads"],
        "dim_feedforward": c["dim_feedforward"],
        "dropout": 0.0,
        "activation": "relu",
        "layer_norm_eps": 1e-5,
        "norm_first": c["norm_first"],
        "use_bias": True,
    }


def _sequence_model_validate(m: str, config: Config) -> None:
    shape = config["input_shape"]
    require(
        m,
        len(shape) == 1 and _is_int(shape[0]) and shape[0] >= 1,
        f"input_shape must be [steps] (integer ids), received {shape}",
    )
    for key in ("d_model", "num_heads", "dim_feedforward"):
        _positive_int(m, config, key)
    require(
        m,
        config["d_model"] % config["num_heads"] == 0,
        f"d_model={config['d_model']} must be divisible by num_heads={config['num_heads']}",
    )


def _transformer_classifier_validate(config: Config) -> None:
    m = "transformer_classifier"
    _sequence_model_validate(m, config)
    _positive_int(m, config, "input_dim")
    _positive_int(m, config, "num_layers")
    _boolean(m, config, "norm_first")
    _positive_int(m, config, "num_classes", 2)


def _transformer_classifier_spec(c: Config) -> ModelSpec:
    (T,), E = c["input_shape"], c["d_model"]
    layers = [
        ("embedding", {"input_dim": c["input_dim"], "output_dim": E, "padding_idx": None}),  # (B, T, E)
        ("add_table", {"shape": [T, E], "batch_axis": True}),  # + positions, torch's (1, T, E) parameter
        *[("transformer_encoder", _block(c)) for _ in range(c["num_layers"])],  # (B, T, E)
        ("global_avg_pool1d", {"keepdims": False}),  # (B, E)
        ("dense", {"units": c["num_classes"]}),  # (B, K)
    ]
    return replace(stack("transformer_classifier", c["input_shape"], layers), input_dtype="int")


CASES.append(
    Case(
        name="transformer_classifier",
        family="models",
        description="Transformer classifier: Embedding + learned positions -> encoder blocks (pre-norm, ReLU) "
        "-> mean over the steps -> Dense logits",
        defaults={
            "input_dim": 11,
            "d_model": 8,
            "num_heads": 2,
            "dim_feedforward": 12,
            "num_layers": 2,
            "norm_first": True,  # pre-norm; post-norm's float32 query/key gradients (~600 eps in every implementation,
            # scratch against its own float64 too) are judged against the noise floors (parity.check)
            "num_classes": 3,
            "input_shape": [6],
            "batch": 3,
        },
        spec=_transformer_classifier_spec,
        loss="sparse_categorical_crossentropy",
        targets=_label_targets,
        validate=_transformer_classifier_validate,
        inputs=_ids,
    )
)


# seq_transformer --------------------------------------------------------------------


def _seq_transformer_validate(config: Config) -> None:
    m = "seq_transformer"
    shape = config["input_shape"]
    require(
        m,
        len(shape) == 2 and all(_is_int(d) and d >= 1 for d in shape),
        f"input_shape must be [steps, features], received {shape}",
    )
    for key in ("d_model", "num_heads", "dim_feedforward", "num_layers"):
        _positive_int(m, config, key)
    require(
        m,
        config["d_model"] % config["num_heads"] == 0,
        f"d_model={config['d_model']} must be divisible by num_heads={config['num_heads']}",
    )
    _positive_int(m, config, "num_classes", 2)
    _boolean(m, config, "norm_first")


def _seq_transformer_spec(c: Config) -> ModelSpec:
    (T, _), E = c["input_shape"], c["d_model"]
    layers = [
        ("dense", {"units": E}),  # (B, T, F) -> (B, T, E): each step projected
        ("add_table", {"shape": [T, E], "batch_axis": True}),  # + positions
        *[("transformer_encoder", _block(c)) for _ in range(c["num_layers"])],  # (B, T, E)
        ("global_avg_pool1d", {"keepdims": False}),  # (B, E)
        ("dense", {"units": c["num_classes"]}),  # (B, K)
    ]
    return stack("seq_transformer", c["input_shape"], layers)


CASES.append(
    Case(
        name="seq_transformer",
        family="models",
        description="Transformer classifier on feature sequences: Dense projection + learned positions -> encoder "
        "blocks (pre-norm, ReLU) -> mean over the steps -> Dense logits",
        defaults={
            "d_model": 8,
            "num_heads": 2,
            "dim_feedforward": 12,
            "num_layers": 1,
            "norm_first": True,
            "num_classes": 3,
            "input_shape": [5, 4],
            "batch": 3,
        },
        spec=_seq_transformer_spec,
        loss="sparse_categorical_crossentropy",
        targets=_label_targets,
        validate=_seq_transformer_validate,
    )
)


# char_transformer -------------------------------------------------------------------


def _char_transformer_validate(config: Config) -> None:
    m = "char_transformer"
    _sequence_model_validate(m, config)
    _positive_int(m, config, "input_dim", 2)
    require(
        m,
        config["activation"] in ("gelu", "relu"),
        f"activation must be 'gelu' or 'relu', received {config['activation']!r}",
    )


def _char_transformer_spec(c: Config) -> ModelSpec:
    """x = E[ids] + P; y = x + MHA_causal(LN1(x)); z = y + W2 GELU(W1 LN2(y)); logits = z Wo at every step.

    ``activation`` "relu" replaces the GELU (float64 GELU on keras-tensorflow uses float32 constants,
    divergence tf_gelu_float64_constants: it is judged, and trained, against scratch with those constants)."""
    (T,), E = c["input_shape"], c["d_model"]
    nodes: list[Node] = []

    def add(name: str, kind: str, config: Config, *inputs: str) -> str:
        nodes.append(Node(name, kind, config, tuple(inputs)))
        return name

    norm = {"axis": [-1], "epsilon": 1e-5, "scale": True, "center": True}  # torch's nn.LayerNorm eps
    x = add("embedding", "embedding", {"input_dim": c["input_dim"], "output_dim": E, "padding_idx": None}, INPUT)
    x = add("positions", "add_table", {"shape": [T, E], "batch_axis": True}, x)  # (B, T, E)
    h = add("ln1", "layer_norm", norm, x)
    attention = {"num_heads": c["num_heads"], "key_dim": E // c["num_heads"], "use_bias": True, "causal": True}
    h = add("attention", "multi_head_attention", attention, h)  # step t reads steps <= t
    x = add("add1", "add", {}, x, h)
    h = add("ln2", "layer_norm", norm, x)
    h = add("ff1", "dense", {"units": c["dim_feedforward"]}, h)  # (B, T, F)
    if c["activation"] == "gelu":
        h = add("gelu", "gelu", {"approximate": False}, h)  # exact
    else:
        h = add("relu", "relu", {}, h)
    h = add("ff2", "dense", {"units": E}, h)  # (B, T, E)
    x = add("add2", "add", {}, x, h)
    add("logits", "dense", {"units": c["input_dim"]}, x)  # (B, T, V): the next character at every step
    return replace(ModelSpec("char_transformer", tuple(c["input_shape"]), tuple(nodes)), input_dtype="int")


CASES.append(
    Case(
        name="char_transformer",
        family="models",
        description="Causal character language model: Embedding + learned positions -> one pre-norm block "
        "(LayerNorm, causal MultiHeadAttention, add, LayerNorm, Dense-GELU-Dense, add) -> Dense logits per step",
        defaults={
            "input_dim": 9,
            "d_model": 8,
            "num_heads": 2,
            "dim_feedforward": 16,
            "activation": "gelu",
            "input_shape": [6],
            "batch": 3,
        },
        spec=_char_transformer_spec,
        loss="sparse_categorical_crossentropy",
        targets=_label_targets,  # (B, T): the next id at every step
        validate=_char_transformer_validate,
        inputs=_ids,
    )
)
