"""Cases of the convolutional family: conv2d, depthwise_conv2d, separable_conv2d, conv2d_transpose, conv1d, maxpool2d, avgpool2d, zero_padding2d, cropping2d, batchnorm, cnn, cnn_bn.

Images are channels-last: ``input_shape`` is [H, W, C] and every implementation
receives the same (B, H, W, C) array. Sizes (``kernel_size``, ``strides``,
``dilation_rate``, ``pool_size``) are an int or a pair [rows, cols].

The torch models generated from these specs read NCHW; the naive torch ports of the
divergence cases are the same specs with a conversion rule switched off (``same_padding``,
``channels_last_input``; parity/layers/conv.py, parity/runners/torch_graph.py).
"""

from __future__ import annotations

import numpy as np

from parity.case import Case, Config, require
from parity.spec.model import stack

# This family's cases, in the order `parity list` shows them (collected by parity.cases).
CASES: list[Case] = []

PADDINGS = ("valid", "same")


# validation helpers --------------------------------------------------------------


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(model: str, config: Config, key: str) -> None:
    value = config[key]
    require(model, _is_int(value) and value > 0, f"{key} must be a positive integer, received {value!r}")


def _pair(model: str, config: Config, key: str) -> tuple[int, int]:
    """An int or a pair of ints, each >= 1, as a pair."""
    value = config[key]
    pair = [value, value] if _is_int(value) else value
    ok = isinstance(pair, (list, tuple)) and len(pair) == 2 and all(_is_int(v) and v > 0 for v in pair)
    require(model, ok, f"{key} must be a positive integer or a pair of positive integers, received {value!r}")
    return int(pair[0]), int(pair[1])


def _choice(model: str, config: Config, key: str, choices: tuple[str, ...]) -> None:
    require(model, config[key] in choices, f"{key} must be one of {', '.join(choices)}, received {config[key]!r}")


def _boolean(model: str, config: Config, key: str) -> None:
    require(model, isinstance(config[key], bool), f"{key} must be true or false, received {config[key]!r}")


def _image(model: str, config: Config) -> tuple[int, int, int]:
    shape = config["input_shape"]
    require(model, len(shape) == 3, f"input_shape must be [H, W, C] (channels last), received {shape}")
    return tuple(shape)


def _fits(model: str, what: str, size: tuple[int, int], extent: tuple[int, int]) -> None:
    require(
        model,
        size[0] >= extent[0] and size[1] >= extent[1],
        f"input {size[0]}x{size[1]} is smaller than the {what} {extent[0]}x{extent[1]} with padding 'valid'; "
        "use padding 'same' or a larger input_shape",
    )


def _dilated_window(model: str, config: Config, refusal: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """The window of a 2-D convolution: kernel_size, strides and dilation_rate as pairs (not both strides and
    dilation_rate above 1: ``refusal`` says who refuses them), padding and use_bias. Returns (kernel, dilation)."""
    k, s, d = (_pair(model, config, key) for key in ("kernel_size", "strides", "dilation_rate"))
    require(
        model,
        max(s) == 1 or max(d) == 1,
        f"strides={config['strides']!r} together with dilation_rate={config['dilation_rate']!r}: {refusal}",
    )
    _choice(model, config, "padding", PADDINGS)
    _boolean(model, config, "use_bias")
    return k, d


def _dilated_kernel_fits(
    model: str, config: Config, size: tuple[int, int], k: tuple[int, int], d: tuple[int, int]
) -> None:
    if config["padding"] == "valid":
        _fits(model, "dilated kernel", size, ((k[0] - 1) * d[0] + 1, (k[1] - 1) * d[1] + 1))


def _edges(model: str, config: Config, key: str) -> list[list[int]]:
    """[[top, bottom], [left, right]] of integers >= 0 (ZeroPadding2D's padding, Cropping2D's cropping)."""
    edges = config[key]
    ok = (
        isinstance(edges, list)
        and len(edges) == 2
        and all(isinstance(p, list) and len(p) == 2 and all(_is_int(v) and v >= 0 for v in p) for p in edges)
    )
    require(model, ok, f"{key} must be [[top, bottom], [left, right]] of integers >= 0, received {edges!r}")
    return edges


def _as_pair(value) -> list[int]:
    """An int or a pair, as the pair a spec holds."""
    return [value, value] if _is_int(value) else list(value)


def _normal_targets(rng: np.random.Generator, config: Config, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape)


def _one_layer(name: str, description: str, defaults: Config, layer, validate, **fields) -> Case:
    """A case of one layer, ``layer(config) -> (kind, layer config)``, fitted to standard normal targets."""
    return Case(
        name=name,
        family="conv",
        description=description,
        defaults=defaults,
        spec=lambda c: stack(name, c["input_shape"], [layer(c)]),
        loss="mean_squared_error",
        targets=_normal_targets,
        validate=validate,
        **fields,
    )


def _label_targets(rng: np.random.Generator, config: Config, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, shape[-1], size=shape[:-1])


# conv2d -------------------------------------------------------------------------


def _conv2d_validate(config: Config) -> None:
    m = "conv2d"
    H, W, _ = _image(m, config)
    _positive_int(m, config, "filters")
    k, d = _dilated_window(
        m,
        config,
        "Keras' Conv2D refuses strides > 1 with dilation_rate > 1 (keras/src/layers/convolutional/base_conv.py); "
        "set one of them to 1",
    )
    _positive_int(m, config, "groups")
    C = config["input_shape"][-1]
    require(
        m,
        C % config["groups"] == 0 and config["filters"] % config["groups"] == 0,
        f"groups={config['groups']} must divide both the {C} input channels and filters={config['filters']}",
    )
    _dilated_kernel_fits(m, config, (H, W), k, d)


def _conv2d_layer(c: Config) -> tuple[str, Config]:
    return "conv2d", {
        "filters": c["filters"],
        "kernel_size": _as_pair(c["kernel_size"]),
        "strides": _as_pair(c["strides"]),
        "padding": c["padding"],
        "dilation_rate": _as_pair(c["dilation_rate"]),
        "use_bias": c["use_bias"],
        "groups": c["groups"],
    }


CONV2D_DEFAULTS: Config = {
    "filters": 4,
    "kernel_size": 3,
    "strides": 2,
    "padding": "same",
    "dilation_rate": 1,
    "use_bias": True,
    "groups": 1,
    "input_shape": [7, 6, 3],
    "batch": 2,
}

CASES.append(
    _one_layer(
        name="conv2d",
        description="One Conv2D on NHWC images: Z = conv(X, W) + b ('same' padding, stride 2: asymmetric padding)",
        defaults=dict(CONV2D_DEFAULTS),
        layer=_conv2d_layer,
        validate=_conv2d_validate,
    )
)

CASES.append(
    _one_layer(
        name="conv2d_grouped",
        description="One grouped Conv2D (groups=2): each half of the output channels reads its half of the input",
        defaults={**CONV2D_DEFAULTS, "filters": 6, "strides": 1, "groups": 2, "input_shape": [6, 5, 4]},
        layer=_conv2d_layer,
        validate=_conv2d_validate,
    )
)


# depthwise_conv2d ---------------------------------------------------------------


def _depthwise_validate(config: Config) -> None:
    m = "depthwise_conv2d"
    H, W, _ = _image(m, config)
    _positive_int(m, config, "depth_multiplier")
    k, d = _dilated_window(
        m,
        config,
        "Keras refuses strides > 1 with dilation_rate > 1 (keras/src/layers/convolutional/base_depthwise_conv.py); "
        "set one to 1",
    )
    _dilated_kernel_fits(m, config, (H, W), k, d)


def _depthwise_layer(c: Config) -> tuple[str, Config]:
    return "depthwise_conv2d", {
        "kernel_size": _as_pair(c["kernel_size"]),
        "strides": _as_pair(c["strides"]),
        "padding": c["padding"],
        "depth_multiplier": c["depth_multiplier"],
        "dilation_rate": _as_pair(c["dilation_rate"]),
        "use_bias": c["use_bias"],
    }


DEPTHWISE_DEFAULTS: Config = {
    "kernel_size": 3,
    "strides": 2,
    "padding": "same",
    "depth_multiplier": 2,
    "dilation_rate": 1,
    "use_bias": True,
    "input_shape": [7, 6, 3],
    "batch": 2,
}

CASES.append(
    _one_layer(
        name="depthwise_conv2d",
        description="One DepthwiseConv2D: each channel convolved with its own depth_multiplier filters",
        defaults=dict(DEPTHWISE_DEFAULTS),
        layer=_depthwise_layer,
        validate=_depthwise_validate,
    )
)


# separable_conv2d ---------------------------------------------------------------


def _separable_validate(config: Config) -> None:
    m = "separable_conv2d"
    H, W, _ = _image(m, config)
    _positive_int(m, config, "filters")
    _positive_int(m, config, "depth_multiplier")
    k, d = _dilated_window(
        m,
        config,
        "not supported (Keras' Conv2D and DepthwiseConv2D refuse both > 1, keras/src/layers/convolutional/base_conv.py); "
        "set one to 1",
    )
    _dilated_kernel_fits(m, config, (H, W), k, d)


def _separable_layer(c: Config) -> tuple[str, Config]:
    return "separable_conv2d", {"filters": c["filters"], **_depthwise_layer(c)[1]}


CASES.append(
    _one_layer(
        name="separable_conv2d",
        description="One SeparableConv2D: a depthwise convolution (depth_multiplier filters per channel), then a 1x1 one",
        defaults={"filters": 4, **DEPTHWISE_DEFAULTS},
        layer=_separable_layer,
        validate=_separable_validate,
    )
)


# conv2d_transpose ---------------------------------------------------------------


def _conv_transpose_validate(config: Config) -> None:
    m = "conv2d_transpose"
    H, W, _ = _image(m, config)
    _positive_int(m, config, "filters")
    k, s = _pair(m, config, "kernel_size"), _pair(m, config, "strides")
    _choice(m, config, "padding", PADDINGS)
    _boolean(m, config, "use_bias")
    op = config["output_padding"]
    if op is not None:
        pair = [op, op] if _is_int(op) else op
        ok = isinstance(pair, (list, tuple)) and len(pair) == 2 and all(_is_int(v) and v >= 0 for v in pair)
        require(m, ok, f"output_padding must be null, an integer >= 0 or a pair of them, received {op!r}")
        require(
            m,
            pair[0] < s[0] and pair[1] < s[1],
            f"output_padding={op!r} must be smaller than strides={config['strides']!r} (Keras and torch refuse it)",
        )
        if config["padding"] == "same":
            sizes = [(n - 1) * si + ki % 2 + o for n, si, ki, o in zip((H, W), s, k, pair, strict=True)]
            require(m, min(sizes) > 0, f"output_padding={op!r} with padding 'same' gives an empty output {sizes}")


def _conv_transpose_layer(c: Config) -> tuple[str, Config]:
    return "conv2d_transpose", {
        "filters": c["filters"],
        "kernel_size": _as_pair(c["kernel_size"]),
        "strides": _as_pair(c["strides"]),
        "padding": c["padding"],
        "output_padding": None if c["output_padding"] is None else _as_pair(c["output_padding"]),
        "use_bias": c["use_bias"],
    }


CASES.append(
    _one_layer(
        name="conv2d_transpose",
        description="One Conv2DTranspose: each pixel scatters W, stride 2 apart ('same': the output is 2H x 2W, "
        "the odd row cut at the bottom)",
        defaults={
            "filters": 3,
            "kernel_size": 3,
            "strides": 2,
            "padding": "same",
            "output_padding": None,
            "use_bias": True,
            "input_shape": [4, 3, 2],
            "batch": 2,
        },
        layer=_conv_transpose_layer,
        validate=_conv_transpose_validate,
        notes="output_padding null is Keras' default (the size the padding implies).",
    )
)


# conv1d -------------------------------------------------------------------------

CONV1D_PADDINGS = ("valid", "same", "causal")


def _conv1d_validate(config: Config) -> None:
    m = "conv1d"
    shape = config["input_shape"]
    require(m, len(shape) == 2, f"input_shape must be [L, C] (steps, channels), received {shape}")
    for key in ("filters", "kernel_size", "strides", "dilation_rate"):
        _positive_int(m, config, key)
    require(
        m,
        config["strides"] == 1 or config["dilation_rate"] == 1,
        f"strides={config['strides']!r} together with dilation_rate={config['dilation_rate']!r}: Keras' Conv1D refuses "
        "strides > 1 with dilation_rate > 1 (keras/src/layers/convolutional/base_conv.py); set one of them to 1",
    )
    _choice(m, config, "padding", CONV1D_PADDINGS)
    _boolean(m, config, "use_bias")
    K = (config["kernel_size"] - 1) * config["dilation_rate"] + 1
    require(
        m,
        config["padding"] != "valid" or shape[0] >= K,
        f"input of {shape[0]} steps is shorter than the dilated kernel {K} with padding 'valid'; "
        "use padding 'same' or 'causal', or a longer input_shape",
    )


def _conv1d_layer(c: Config) -> tuple[str, Config]:
    keys = ("filters", "kernel_size", "strides", "padding", "dilation_rate", "use_bias")
    return "conv1d", {key: c[key] for key in keys}


CASES.append(
    _one_layer(
        name="conv1d",
        description="One Conv1D on (B, L, C) sequences: Z = conv(X, W) + b ('causal' padding, dilation 2)",
        defaults={
            "filters": 4,
            "kernel_size": 3,
            "strides": 1,
            "padding": "causal",
            "dilation_rate": 2,
            "use_bias": True,
            "input_shape": [9, 3],
            "batch": 2,
        },
        layer=_conv1d_layer,
        validate=_conv1d_validate,
    )
)


# pooling ------------------------------------------------------------------------


def _pool_validate(model: str):
    def validate(config: Config) -> None:
        H, W, _ = _image(model, config)
        pool = _pair(model, config, "pool_size")
        if config["strides"] is not None:
            _pair(model, config, "strides")
        _choice(model, config, "padding", PADDINGS)
        if config["padding"] == "valid":
            _fits(model, "pool", (H, W), pool)

    return validate


def _pool_spec(kind: str):
    def spec(c: Config):
        pool = _as_pair(c["pool_size"])
        strides = pool if c["strides"] is None else _as_pair(c["strides"])
        return stack(kind, c["input_shape"], [(kind, {"pool_size": pool, "strides": strides, "padding": c["padding"]})])

    return spec


CASES.append(
    Case(
        name="maxpool2d",
        family="conv",
        description="One MaxPool2D: the largest value per window ('same' padding pads with -inf)",
        defaults={
            "pool_size": 3,
            "strides": 2,
            "padding": "same",
            "input_shape": [7, 6, 3],
            "batch": 2,
        },
        spec=_pool_spec("max_pool2d"),
        loss="mean_squared_error",
        targets=_normal_targets,
        validate=_pool_validate("maxpool2d"),
    )
)

CASES.append(
    Case(
        name="avgpool2d",
        family="conv",
        description="One AvgPool2D: the mean of the real cells of each window",
        defaults={
            "pool_size": 2,
            "strides": None,
            "padding": "valid",
            "input_shape": [6, 7, 3],
            "batch": 2,
        },
        spec=_pool_spec("avg_pool2d"),
        loss="mean_squared_error",
        targets=_normal_targets,
        validate=_pool_validate("avgpool2d"),
        notes="keras-torch computes 'same' average pooling wrongly for pool_size >= 3 with asymmetric padding "
        "(divergence case keras_torch_avgpool_same_padding).",
    )
)


# zero padding -------------------------------------------------------------------


def _padding_validate(config: Config) -> None:
    _image("zero_padding2d", config)
    _edges("zero_padding2d", config, "padding")


CASES.append(
    _one_layer(
        name="zero_padding2d",
        description="One ZeroPadding2D: zero rows above and below, zero columns left and right (asymmetric here)",
        defaults={"padding": [[1, 2], [0, 3]], "input_shape": [4, 5, 3], "batch": 2},
        layer=lambda c: ("zero_padding2d", {"padding": c["padding"]}),
        validate=_padding_validate,
    )
)


def _cropping_validate(config: Config) -> None:
    H, W, _ = _image("cropping2d", config)
    crops = _edges("cropping2d", config, "cropping")
    (top, bottom), (left, right) = crops
    require(
        "cropping2d",
        top + bottom < H and left + right < W,
        f"cropping {crops} leaves nothing of a {H}x{W} input_shape",
    )


CASES.append(
    _one_layer(
        name="cropping2d",
        description="One Cropping2D: rows cut above and below, columns left and right (asymmetric here)",
        defaults={"cropping": [[1, 0], [2, 1]], "input_shape": [5, 6, 3], "batch": 2},
        layer=lambda c: ("cropping2d", {"cropping": c["cropping"]}),
        validate=_cropping_validate,
    )
)


# batchnorm ----------------------------------------------------------------------


def _validate_bn_hyper(model: str, config: Config) -> None:
    eps, momentum = config["epsilon"], config["momentum"]
    number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)  # noqa: E731
    require(model, eps is None or (number(eps) and eps > 0), f"epsilon must be a positive number, received {eps!r}")
    require(
        model,
        momentum is None or (number(momentum) and 0 <= momentum <= 1),
        f"momentum must be a number in [0, 1], received {momentum!r}",
    )


def _validate_training(model: str, config: Config, per_channel: int) -> None:
    _boolean(model, config, "training")
    require(
        model,
        not config["training"] or per_channel >= 2,
        f"training=true needs at least 2 values per channel (batch * H * W), received {per_channel}: "
        "the unbiased variance torch stores is undefined for one",
    )


def _batchnorm_validate(config: Config) -> None:
    H, W, _ = _image("batchnorm", config)
    _validate_bn_hyper("batchnorm", config)
    _boolean("batchnorm", config, "center")
    _boolean("batchnorm", config, "scale")
    _validate_training("batchnorm", config, config["batch"] * H * W)


CASES.append(
    Case(
        name="batchnorm",
        family="conv",
        description="One BatchNorm over the channels of NHWC images (training: batch statistics, moving averages updated)",
        defaults={
            "epsilon": 1e-3,
            "momentum": 0.99,
            "center": True,
            "scale": True,
            "training": True,
            "input_shape": [5, 4, 3],
            "batch": 4,
        },
        spec=lambda c: stack(
            "batchnorm",
            c["input_shape"],
            [("batch_norm", {k: c[k] for k in ("epsilon", "momentum", "center", "scale")})],
        ),
        loss="mean_squared_error",
        targets=_normal_targets,
        validate=_batchnorm_validate,
        notes="epsilon/momentum null means the framework's own default (divergence cases only). "
        "center=false drops beta, scale=false gamma (InceptionV3's BatchNormalization(scale=False)); "
        "torch holds the absent one frozen at its identity value.",
    )
)


# models -------------------------------------------------------------------------


def _cnn_validate(model: str):
    def validate(config: Config) -> None:
        H, W, _ = _image(model, config)
        filters = config["filters"]
        if _is_int(filters):
            config["filters"] = filters = [filters]
        require(
            model,
            isinstance(filters, list) and len(filters) > 0 and all(_is_int(f) and f > 0 for f in filters),
            f"filters must be a list of positive integers (one per conv block), received {filters!r}",
        )
        k, pool = _pair(model, config, "kernel_size"), _pair(model, config, "pool_size")
        _choice(model, config, "padding", PADDINGS)
        _positive_int(model, config, "num_classes")
        require(model, config["num_classes"] >= 2, f"num_classes must be at least 2, received {config['num_classes']}")
        size, per_channel = (H, W), []
        for i, _ in enumerate(filters):
            if config["padding"] == "valid":
                _fits(model, f"kernel of block {i}", size, k)
                size = (size[0] - k[0] + 1, size[1] - k[1] + 1)
            per_channel.append(config["batch"] * size[0] * size[1])  # what block i's BatchNorm averages over
            require(
                model,
                size[0] >= pool[0] and size[1] >= pool[1],
                f"block {i}: the {size[0]}x{size[1]} feature map is smaller than pool_size {pool[0]}x{pool[1]}; "
                "use fewer filters entries, a smaller pool_size or a larger input_shape",
            )
            size = (size[0] // pool[0], size[1] // pool[1])
        if "training" in config:
            _validate_training(model, config, min(per_channel))

    return validate


def _cnn_spec(batch_norm: bool):
    """[Conv2D (-> BatchNorm) -> ReLU -> MaxPool2D] per entry of filters, Flatten, Dense logits.

    With BatchNorm the convolutions have no bias: BatchNorm subtracts each channel's mean
    right after, so a bias would cancel exactly in training mode (its gradient is 0).
    """

    def spec(c: Config):
        pool = _as_pair(c["pool_size"])
        layers = []
        for width in c["filters"]:
            conv = {
                "filters": width,
                "kernel_size": _as_pair(c["kernel_size"]),
                "padding": c["padding"],
                "use_bias": not batch_norm,
            }
            layers.append(("conv2d", conv))
            if batch_norm:
                layers.append(("batch_norm", {}))
            layers += [("relu", {}), ("max_pool2d", {"pool_size": pool, "strides": pool})]
        layers += [("flatten", {}), ("dense", {"units": c["num_classes"]})]
        return stack("cnn_bn" if batch_norm else "cnn", c["input_shape"], layers)

    return spec


CNN_DEFAULTS: Config = {
    "filters": [4, 6],
    "kernel_size": 3,
    "padding": "same",
    "pool_size": 2,
    "num_classes": 5,
    "input_shape": [8, 12, 2],
    "batch": 3,
}

CASES.append(
    Case(
        name="cnn",
        family="conv",
        description="Image classifier: [Conv2D -> ReLU -> MaxPool2D] per entry of filters, Flatten, Dense logits",
        defaults=dict(CNN_DEFAULTS),
        spec=_cnn_spec(batch_norm=False),
        loss="sparse_categorical_crossentropy",
        targets=_label_targets,
        validate=_cnn_validate("cnn"),
    )
)

CASES.append(
    Case(
        name="cnn_bn",
        family="conv",
        description="Image classifier with BatchNorm: [Conv2D (no bias) -> BatchNorm -> ReLU -> MaxPool2D] per filter, Flatten, Dense",
        defaults={**CNN_DEFAULTS, "training": True},
        spec=_cnn_spec(batch_norm=True),
        loss="sparse_categorical_crossentropy",
        targets=_label_targets,
        validate=_cnn_validate("cnn_bn"),
    )
)
