"""The convolutional family: Conv2D, DepthwiseConv2D, Conv2DTranspose, Conv1D, MaxPool2D, AvgPool2D, BatchNorm, ZeroPadding2D.

Canonical images are channels-last, (H, W, C); the generated torch modules read NCHW, as
every torch.nn image module does, and the torch model changes layout once, at its input.
Sizes (``kernel_size``, ``strides``, ``dilation_rate``, ``pool_size``) are pairs.

Rule ``same_padding``: Keras' ``padding="same"`` pads (total // 2, total - total // 2)
with total = max((ceil(n / s) - 1) * s + K - n, 0), which depends on the input size and
is asymmetric when total is odd (keras/src/ops/operation_utils.py). torch's modules take
one symmetric ``padding``, and ``nn.Conv2d(padding="same")`` refuses strides > 1
(torch/nn/modules/conv.py). So a stride-1 "same" convolution is ``nn.Conv2d(padding="same")``
(which pads the same way), and anything else uses the modules of
``framework.pytorch.conv``, which pad explicitly. The naive port, ``padding=k // 2``, is
what the rule disabled builds (divergences ``same_padding_stride2`` and
``avgpool_count_include_pad``).
"""

from __future__ import annotations

import math

from parity.convert.base import enabled
from parity.convert.conv import (
    BatchNormConverter,
    Conv1DConverter,
    Conv2DConverter,
    ConvTranspose2DConverter,
    DepthwiseConv2DConverter,
)
from parity.layers.base import (
    CHANNELS_FIRST,
    Config,
    KerasSide,
    LayerKind,
    NotThisKind,
    Source,
    TorchSide,
    Traits,
    code,
    literal,
    size,
)


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _naive_padding(kernel) -> tuple[int, int]:
    kh, kw = _pair(kernel)
    return kh // 2, kw // 2


def _window(config: Config) -> Config:
    """strides, padding, dilation_rate and use_bias of a 2-D convolution, as the scratch and Keras
    constructors take them (the same argument names)."""
    return {
        "strides": tuple(config["strides"]),
        "padding": config["padding"],
        "dilation_rate": tuple(config["dilation_rate"]),
        "use_bias": config["use_bias"],
    }


# Keras' default of each argument a convolution's source may write, and whether it is a size (a pair).
_KERAS_DEFAULTS: dict[str, tuple[object, bool]] = {
    "strides": ((1, 1), True),
    "padding": ("valid", False),
    "output_padding": (None, True),
    "depth_multiplier": (1, False),
    "dilation_rate": ((1, 1), True),
    "groups": (1, False),
    "use_bias": (True, False),
}


def _keras_arguments(config: Config, *keys: str) -> Config:
    """The keyword arguments among ``keys`` whose value is not Keras' default, as a model.py writes them."""
    kwargs: Config = {}
    for key in keys:
        default, is_size = _KERAS_DEFAULTS[key]
        value = config[key]
        if (tuple(value) if isinstance(value, list) else value) != default:
            kwargs[key] = size(value) if is_size else value
    return kwargs


def _keras_window_read(layer) -> Config:
    """kernel_size, strides, padding, dilation_rate and use_bias of a Keras 2-D convolution."""
    return {
        "kernel_size": list(_pair(layer.kernel_size)),
        "strides": list(_pair(layer.strides)),
        "padding": layer.padding,
        "dilation_rate": list(_pair(layer.dilation_rate)),
        "use_bias": layer.use_bias,
    }


def _unsupported(layer, attributes: tuple[str, ...]) -> None:
    for attribute in attributes:
        if getattr(layer, attribute, None) is not None:
            raise ValueError(f"{attribute} is not supported")


def _torch_conv2d(C_in: int, C_out: int, config: Config, groups: int):
    """nn.Conv2d with Keras' padding: "same" at stride 1 is torch's own, at other strides
    framework.pytorch.conv.Conv2d pads as Keras does (rule ``same_padding``; the naive port pads k // 2)."""
    from torch import nn

    from framework.pytorch.conv import Conv2d

    k, s, d = _pair(config["kernel_size"]), _pair(config["strides"]), _pair(config["dilation_rate"])
    args = dict(stride=s, dilation=d, bias=config["use_bias"], groups=groups)
    if config["padding"] == "valid":
        return nn.Conv2d(C_in, C_out, k, padding=0, **args)
    if not enabled("same_padding"):
        return nn.Conv2d(C_in, C_out, k, padding=_naive_padding(k), **args)
    if s == (1, 1):
        return nn.Conv2d(C_in, C_out, k, padding="same", **args)
    return Conv2d(C_in, C_out, k, padding="same", **args)


_SAME_STRIDED = "Keras' 'same' pads (total // 2, total - total // 2); nn.Conv2d(padding='same') refuses strides > 1"


def _torch_conv2d_call(config: Config, kwargs: Config, comments: list[str]) -> tuple[str, tuple[str, ...]]:
    """The class ``_torch_conv2d`` builds, its imports, and its stride, padding and dilation written into
    ``kwargs`` (a comment added where Keras' "same" needs framework.pytorch.conv.Conv2d)."""
    k, s, d = _pair(config["kernel_size"]), _pair(config["strides"]), _pair(config["dilation_rate"])
    callee, imports = "nn.Conv2d", ()
    if s != (1, 1):
        kwargs["stride"] = size(s)
    if config["padding"] == "same" and not enabled("same_padding"):
        kwargs["padding"] = size(_naive_padding(k))
    elif config["padding"] == "same":
        kwargs["padding"] = "same"
        if s != (1, 1):
            callee, imports = "Conv2d", ("from framework.pytorch.conv import Conv2d",)
            comments.append(_SAME_STRIDED)
    if d != (1, 1):
        kwargs["dilation"] = size(d)
    return callee, imports


# Conv2D ------------------------------------------------------------------------------------


def _conv_scratch(config: Config, name: str):
    from scratch.conv2d import Conv2D

    return Conv2D(
        config["filters"], tuple(config["kernel_size"]), **_window(config), name=name, groups=config["groups"]
    )


def _conv_torch(config: Config, shapes, layout):
    return _torch_conv2d(shapes[0][-1], config["filters"], config, groups=config["groups"])


def _conv_torch_source(config: Config, shapes, layout) -> Source:
    kwargs: Config = {}
    comments = ["weight = kernel.transpose(3, 2, 0, 1): torch stores (out, in, kh, kw)"]
    callee, imports = _torch_conv2d_call(config, kwargs, comments)
    if config["groups"] != 1:
        kwargs["groups"] = config["groups"]
        comments[0] = "weight = kernel.transpose(3, 2, 0, 1): torch stores (out, in // groups, kh, kw)"
    if not config["use_bias"]:
        kwargs["bias"] = False
    expression = code(callee, shapes[0][-1], config["filters"], size(config["kernel_size"]), **kwargs)
    return Source(expression, tuple(comments), imports)


def _conv_keras_source(config: Config, name: str, shapes=None, layout=None) -> Source:
    kwargs = _keras_arguments(config, "strides", "padding", "dilation_rate", "groups", "use_bias")
    expression = code("layers.Conv2D", config["filters"], size(config["kernel_size"]), **kwargs, name=name)
    return Source(expression, ("kernel = weight.transpose(2, 3, 1, 0): Keras stores (kh, kw, C_in, C_out)",))


def _conv_torch_read(module, shape) -> Config:
    """nn.Conv2d with groups=1 or 1 < groups < in_channels; groups=in_channels is read as the
    depthwise_conv2d torch people mean by it (the registry then asks that kind)."""
    if module.groups != 1 and module.groups == module.in_channels:
        raise NotThisKind(f"groups={module.groups} = in_channels (a depthwise convolution: depthwise_conv2d)")
    return {
        "filters": module.out_channels,
        **_conv_torch_read_padding(module),
        "use_bias": module.bias is not None,
        "groups": module.groups,
    }


def _conv_torch_read_padding(module) -> Config:
    """kernel_size, strides, padding and dilation_rate of an nn.Conv2d (or framework.pytorch.conv.Conv2d)."""
    if module.padding_mode != "zeros":
        raise ValueError(f"padding_mode={module.padding_mode!r} (only 'zeros' is supported)")
    k, s, d = tuple(module.kernel_size), tuple(module.stride), tuple(module.dilation)
    if getattr(module, "same", False) or module.padding == "same":
        padding = "same"
    elif module.padding == "valid" or tuple(module.padding) == (0, 0):
        padding = "valid"
    elif s == (1, 1) and all(2 * p == di * (ki - 1) for p, ki, di in zip(module.padding, k, d)):
        padding = "same"  # symmetric padding equal to Keras' "same" at stride 1
    else:
        raise ValueError(
            f"padding={tuple(module.padding)} with kernel_size={k}, stride={s} is neither 'valid' nor Keras' 'same'"
        )
    return {"kernel_size": list(k), "strides": list(s), "padding": padding, "dilation_rate": list(d)}


def _conv_keras(config: Config, name: str):
    import keras

    return keras.layers.Conv2D(
        config["filters"], tuple(config["kernel_size"]), **_window(config), groups=config["groups"], name=name
    )


def _channels_last(layer) -> None:
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise ValueError("data_format='channels_first' (only channels_last is supported)")


def _conv_keras_read(layer) -> Config:
    _channels_last(layer)
    groups = int(getattr(layer, "groups", 1))
    if groups > 1 and groups == layer.input.shape[-1]:
        raise NotThisKind(f"groups={groups} = input channels (a depthwise convolution: depthwise_conv2d)")
    _unsupported(
        layer,
        ("kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint"),
    )
    return {"filters": layer.filters, **_keras_window_read(layer), "groups": groups}


def _conv_validate(config: Config, shapes) -> None:
    groups, C_in = config["groups"], shapes[0][-1]
    if groups < 1 or C_in % groups or config["filters"] % groups:
        raise ValueError(
            f"groups={groups} must divide both the {C_in} input channels and filters={config['filters']}"
        )


CONV2D = LayerKind(
    name="conv2d",
    family="conv",
    summary="Z = conv(X, W) + b over (H, W), channels-last, optionally grouped (nn.Conv2d, keras.layers.Conv2D)",
    scratch=_conv_scratch,
    torch=TorchSide(
        build=_conv_torch,
        modules=("torch.nn.Conv2d", "framework.pytorch.conv.Conv2d"),
        read_module=_conv_torch_read,
        layout=CHANNELS_FIRST,
        source=_conv_torch_source,
        reads=CHANNELS_FIRST,
    ),
    keras=KerasSide(
        build=_conv_keras,
        classes=("Conv2D",),
        read=_conv_keras_read,
        splits_activation=True,
        source=_conv_keras_source,
    ),
    converter=Conv2DConverter(),
    defaults={
        "filters": 1,
        "kernel_size": [3, 3],
        "strides": [1, 1],
        "padding": "valid",
        "dilation_rate": [1, 1],
        "use_bias": True,
        "groups": 1,
    },
    validate=_conv_validate,
)


# DepthwiseConv2D ---------------------------------------------------------------------------
#
# torch writes a depthwise convolution as nn.Conv2d(C, C * m, k, groups=C), the class a conv2d
# is: ``_conv_torch_read`` answers NotThisKind for groups == in_channels, and the registry tries this kind.


def _depthwise_scratch(config: Config, name: str):
    from scratch.depthwise_conv2d import DepthwiseConv2D

    return DepthwiseConv2D(
        tuple(config["kernel_size"]), **_window(config), depth_multiplier=config["depth_multiplier"], name=name
    )


def _depthwise_torch(config: Config, shapes, layout):
    C = shapes[0][-1]
    return _torch_conv2d(C, C * config["depth_multiplier"], config, groups=C)


def _depthwise_torch_source(config: Config, shapes, layout) -> Source:
    C = shapes[0][-1]
    kwargs: Config = {}
    comments = [
        "groups=C: each channel its own filters",
        "weight = kernel.reshape(kh, kw, C*m).transpose(2, 0, 1)[:, None]: torch stores (C*m, 1, kh, kw)",
    ]
    callee, imports = _torch_conv2d_call(config, kwargs, comments)
    kwargs["groups"] = C
    if not config["use_bias"]:
        kwargs["bias"] = False
    expression = code(callee, C, C * config["depth_multiplier"], size(config["kernel_size"]), **kwargs)
    return Source(expression, tuple(comments), imports)


def _depthwise_keras_source(config: Config, name: str, shapes=None, layout=None) -> Source:
    kwargs = _keras_arguments(config, "strides", "padding", "depth_multiplier", "dilation_rate", "use_bias")
    expression = code("layers.DepthwiseConv2D", size(config["kernel_size"]), **kwargs, name=name)
    return Source(
        expression, ("kernel = weight[:, 0].transpose(1, 2, 0).reshape(kh, kw, C, m): Keras stores (kh, kw, C, m)",)
    )


def _depthwise_torch_read(module, shape) -> Config:
    C = module.in_channels
    if module.groups != C or module.groups == 1 or module.out_channels % C:
        raise NotThisKind(f"groups={module.groups} with in_channels={C} is not a depthwise convolution")
    return {
        **_conv_torch_read_padding(module),
        "depth_multiplier": module.out_channels // C,
        "use_bias": module.bias is not None,
    }


def _depthwise_keras(config: Config, name: str):
    import keras

    return keras.layers.DepthwiseConv2D(
        tuple(config["kernel_size"]), **_window(config), depth_multiplier=config["depth_multiplier"], name=name
    )


def _depthwise_keras_read(layer) -> Config:
    """DepthwiseConv2D, or Conv2D(C*m, k, groups=C) (ConvNeXt's 7x7): torch has one class for both,
    ``nn.Conv2d(C, C*m, groups=C)``, which the torch importer reads as this kind; reading the Keras
    Conv2D so too keeps the ports' specs equal (converter rule ``grouped_conv_kernel``)."""
    _channels_last(layer)
    if type(layer).__name__ == "Conv2D":
        groups = int(getattr(layer, "groups", 1))
        if groups == 1 or groups != layer.input.shape[-1]:
            raise NotThisKind(f"groups={groups} with {layer.input.shape[-1]} input channels is not depthwise")
        multiplier = layer.filters // groups
    else:
        multiplier = layer.depth_multiplier
    return {**_keras_window_read(layer), "depth_multiplier": multiplier}


DEPTHWISE_CONV2D = LayerKind(
    name="depthwise_conv2d",
    family="conv",
    summary="Z[..., c*m + k] = conv(X[..., c], W[:, :, c, k]) + b: each channel its own m filters "
    "(nn.Conv2d(groups=C), DepthwiseConv2D)",
    scratch=_depthwise_scratch,
    torch=TorchSide(
        build=_depthwise_torch,
        modules=("torch.nn.Conv2d", "framework.pytorch.conv.Conv2d"),
        read_module=_depthwise_torch_read,
        layout=CHANNELS_FIRST,
        reads=CHANNELS_FIRST,
        source=_depthwise_torch_source,
    ),
    keras=KerasSide(
        build=_depthwise_keras,
        classes=("DepthwiseConv2D", "Conv2D"),  # Conv2D(groups=C): see _depthwise_keras_read
        read=_depthwise_keras_read,
        splits_activation=True,
        source=_depthwise_keras_source,
    ),
    converter=DepthwiseConv2DConverter(),
    defaults={
        "kernel_size": [3, 3],
        "strides": [1, 1],
        "padding": "valid",
        "depth_multiplier": 1,
        "dilation_rate": [1, 1],
        "use_bias": True,
    },
)


# Conv2DTranspose ---------------------------------------------------------------------------
#
# Rule ``conv_transpose_padding``: Keras fixes the output size (keras/src/backend/common/backend_utils.py,
# ``_get_output_shape_given_tf_padding``: "same" is H * stride) and cuts the rest of the full output
# (H - 1) * stride + k with the odd row at the END (``compute_conv_transpose_output_crops_for_torch``);
# nn.ConvTranspose2d cuts ``padding`` rows from both ends and appends ``output_padding`` < stride at the
# end (torch/nn/modules/conv.py). Where the two agree the port is nn.ConvTranspose2d(padding,
# output_padding) (``framework.pytorch.conv.torch_transpose_padding``); where Keras cuts more at the end
# than at the start (k - stride odd: k = 3, stride 2) torch has no arguments for it, and the port is
# ``framework.pytorch.conv.ConvTranspose2d``, which crops explicitly. The naive port, the rule disabled,
# writes "same" as padding=k // 2 with output_padding=stride - 1 (the usual "upsample by the stride"
# idiom: the right size for odd k, every row one place off where k - stride is odd), and keeps a given
# output_padding.


def _convt_scratch(config: Config, name: str):
    from scratch.conv2d_transpose import Conv2DTranspose

    op = config["output_padding"]
    return Conv2DTranspose(
        config["filters"],
        tuple(config["kernel_size"]),
        strides=tuple(config["strides"]),
        padding=config["padding"],
        output_padding=None if op is None else tuple(op),
        use_bias=config["use_bias"],
        name=name,
    )


def _convt_torch_args(config: Config, shapes) -> tuple[str, tuple, Config]:
    """(callee, positional arguments, keyword arguments) of the torch module ``build`` makes."""
    from framework.pytorch.conv import torch_transpose_padding

    k, s, op = _pair(config["kernel_size"]), _pair(config["strides"]), config["output_padding"]
    args = (shapes[0][-1], config["filters"], k)
    kwargs: Config = {"stride": s, "bias": config["use_bias"]}
    if not enabled("conv_transpose_padding"):
        naive_op = _pair(op) if op is not None else ((s[0] - 1, s[1] - 1) if config["padding"] == "same" else (0, 0))
        pad = _naive_padding(k) if config["padding"] == "same" else (0, 0)
        return "nn.ConvTranspose2d", args, {**kwargs, "padding": pad, "output_padding": naive_op}
    torch_args = torch_transpose_padding(k, s, config["padding"], op)
    if torch_args is None:
        return "ConvTranspose2d", args, {**kwargs, "padding": config["padding"], "output_padding": op and _pair(op)}
    pad, extra = torch_args
    return "nn.ConvTranspose2d", args, {**kwargs, "padding": pad, "output_padding": extra}


def _convt_torch(config: Config, shapes, layout):
    from torch import nn

    from framework.pytorch.conv import ConvTranspose2d

    callee, args, kwargs = _convt_torch_args(config, shapes)
    return (nn.ConvTranspose2d if callee.startswith("nn.") else ConvTranspose2d)(*args, **kwargs)


def _convt_torch_source(config: Config, shapes, layout) -> Source:
    callee, (C_in, filters, k), kwargs = _convt_torch_args(config, shapes)
    written: Config = {}
    if tuple(kwargs["stride"]) != (1, 1):
        written["stride"] = size(kwargs["stride"])
    comments = ["weight = kernel.transpose(3, 2, 0, 1): torch stores (C_in, C_out, kh, kw)"]
    imports: tuple[str, ...] = ()
    if callee == "ConvTranspose2d":
        written["padding"] = kwargs["padding"]
        if kwargs["output_padding"] is not None:
            written["output_padding"] = size(kwargs["output_padding"])
        imports = ("from framework.pytorch.conv import ConvTranspose2d",)
        comments.append("Keras cuts the odd extra row at the end; nn.ConvTranspose2d's padding cuts both ends")
    else:
        if tuple(kwargs["padding"]) != (0, 0):
            written["padding"] = size(kwargs["padding"])
        if tuple(kwargs["output_padding"]) != (0, 0):
            written["output_padding"] = size(kwargs["output_padding"])
        if enabled("conv_transpose_padding") and (config["padding"] == "same" or config["output_padding"] is None):
            comments.append(f"Keras' {config['padding']!r} output size as torch's padding and output_padding")
    if not kwargs["bias"]:
        written["bias"] = False
    return Source(code(callee, C_in, filters, size(k), **written), tuple(comments), imports)


def _convt_keras_source(config: Config, name: str, shapes=None, layout=None) -> Source:
    kwargs = _keras_arguments(config, "strides", "padding", "output_padding", "use_bias")
    expression = code("layers.Conv2DTranspose", config["filters"], size(config["kernel_size"]), **kwargs, name=name)
    return Source(expression, ("kernel = weight.transpose(2, 3, 1, 0): Keras stores (kh, kw, C_out, C_in)",))


def _convt_keras_config(k, s, crops) -> Config:
    """The Keras (padding, output_padding) that cuts ``crops`` ((top, bottom), (left, right)) off the full
    output; output_padding None where Keras' default does it. ValueError where none does."""
    from framework.pytorch.conv import transpose_crops

    candidates = [None] + [[a, b] for a in range(s[0]) for b in range(s[1])]
    for padding in ("valid", "same"):
        for op in candidates:
            got = tuple(transpose_crops(1, k[i], s[i], padding, None if op is None else op[i]) for i in range(2))
            if got == crops:
                return {"padding": padding, "output_padding": op}
    raise ValueError(
        f"cropping {crops} of the full output with kernel_size={k}, stride={s} is no Keras padding "
        "('valid' or 'same' with an output_padding)"
    )


def _convt_torch_read(module, shape) -> Config:
    if module.groups != 1 or tuple(module.dilation) != (1, 1) or module.padding_mode != "zeros":
        raise ValueError(
            f"groups={module.groups}, dilation={tuple(module.dilation)}, padding_mode={module.padding_mode!r} "
            "(conv2d_transpose has groups=1, dilation=1, zero padding)"
        )
    k, s = tuple(module.kernel_size), tuple(module.stride)
    config: Config = {"filters": module.out_channels, "kernel_size": list(k), "strides": list(s)}
    if hasattr(module, "keras_padding"):  # framework.pytorch.conv.ConvTranspose2d
        op = module.keras_output_padding
        config.update(padding=module.keras_padding, output_padding=None if op is None else list(op))
    else:
        p, o = _pair(tuple(module.padding)), _pair(tuple(module.output_padding))
        config.update(_convt_keras_config(k, s, ((p[0], p[0] - o[0]), (p[1], p[1] - o[1]))))
    return {**config, "use_bias": module.bias is not None}


def _convt_torch_op(args, kwargs, shapes, layout) -> Config | None:
    """F.conv_transpose2d(x, weight, bias, stride, padding, output_padding, groups, dilation), captured as
    aten.conv_transpose2d.input, or aten.convolution(x, weight, bias, stride, padding, dilation,
    transposed=True, output_padding, groups)."""
    if len(args) > 6 and isinstance(args[6], bool):  # aten.convolution
        if not args[6]:
            return None
        stride, padding, dilation, output_padding, groups = args[3], args[4], args[5], args[7], args[8]
    else:
        names = ("stride", "padding", "output_padding", "groups", "dilation")
        defaults = (1, 0, 0, 1, 1)
        stride, padding, output_padding, groups, dilation = (
            args[3 + i] if len(args) > 3 + i else kwargs.get(n, d) for i, (n, d) in enumerate(zip(names, defaults))
        )
    if groups != 1 or _pair(dilation) != (1, 1) or layout != CHANNELS_FIRST:
        return None
    weight = args[1].meta["val"]  # (C_in, C_out, kh, kw)
    k, s, p, o = tuple(weight.shape[2:]), _pair(stride), _pair(padding), _pair(output_padding)
    config: Config = {"filters": int(weight.shape[1]), "kernel_size": list(k), "strides": list(s)}
    config.update(_convt_keras_config(k, s, ((p[0], p[0] - o[0]), (p[1], p[1] - o[1]))))
    return {**config, "use_bias": len(args) > 2 and args[2] is not None}


def _convt_keras(config: Config, name: str):
    import keras

    op = config["output_padding"]
    return keras.layers.Conv2DTranspose(
        config["filters"],
        tuple(config["kernel_size"]),
        strides=tuple(config["strides"]),
        padding=config["padding"],
        output_padding=None if op is None else tuple(op),
        use_bias=config["use_bias"],
        name=name,
    )


def _convt_keras_read(layer) -> Config:
    _channels_last(layer)
    if tuple(_pair(layer.dilation_rate)) != (1, 1):
        raise ValueError(f"dilation_rate={layer.dilation_rate} (only dilation_rate=1 is supported)")
    _unsupported(layer, ("kernel_regularizer", "bias_regularizer", "activity_regularizer"))
    op = layer.output_padding
    return {
        "filters": layer.filters,
        "kernel_size": list(_pair(layer.kernel_size)),
        "strides": list(_pair(layer.strides)),
        "padding": layer.padding,
        "output_padding": None if op is None else list(_pair(op)),
        "use_bias": layer.use_bias,
    }


CONV2D_TRANSPOSE = LayerKind(
    name="conv2d_transpose",
    family="conv",
    summary="Z = conv_transpose(X, W) + b, the adjoint of Conv2D: upsampling by the stride "
    "(nn.ConvTranspose2d, Conv2DTranspose)",
    scratch=_convt_scratch,
    torch=TorchSide(
        build=_convt_torch,
        modules=("torch.nn.ConvTranspose2d", "framework.pytorch.conv.ConvTranspose2d"),
        read_module=_convt_torch_read,
        ops=("aten.conv_transpose2d.input", "aten.convolution.default"),
        read_op=_convt_torch_op,
        layout=CHANNELS_FIRST,
        reads=CHANNELS_FIRST,
        source=_convt_torch_source,
    ),
    keras=KerasSide(
        build=_convt_keras,
        classes=("Conv2DTranspose",),
        read=_convt_keras_read,
        splits_activation=True,
        source=_convt_keras_source,
    ),
    converter=ConvTranspose2DConverter(),
    defaults={
        "filters": 1,
        "kernel_size": [3, 3],
        "strides": [1, 1],
        "padding": "valid",
        "output_padding": None,
        "use_bias": True,
    },
)


# Conv1D ------------------------------------------------------------------------------------
#
# Sequences are (L, C) canonical, batch-first and channels-last as Keras' Conv1D reads them;
# nn.Conv1d reads (B, C, L), so the kind declares ``reads=CHANNELS_FIRST`` and the generated
# model permutes where its producer (the model input, an nn.LSTM) is batch-first canonical.
#
# Rule ``causal_padding``: Keras' padding="causal" pads (k - 1) * d zeros before the steps and
# none after, then convolves "valid" (keras/src/layers/convolutional/conv1d.py); torch's
# ``padding`` is symmetric (torch/nn/modules/conv.py), so framework.pytorch.conv.Conv1d pads
# explicitly. The naive port, disabled rule, is the symmetric nn.Conv1d(padding=(k - 1) * d // 2).


def _conv1d_scratch(config: Config, name: str):
    from scratch.conv1d import Conv1D

    keys = ("filters", "kernel_size", "strides", "padding", "dilation_rate", "use_bias")
    return Conv1D(**{key: config[key] for key in keys}, name=name)


def _conv1d_torch(config: Config, shapes, layout):
    from torch import nn

    from framework.pytorch.conv import Conv1d

    C_in, F, k, s, d = shapes[0][-1], config["filters"], config["kernel_size"], config["strides"], config["dilation_rate"]
    args = dict(stride=s, dilation=d, bias=config["use_bias"])
    padding = config["padding"]
    if padding == "valid":
        return nn.Conv1d(C_in, F, k, padding=0, **args)
    if padding == "causal" and not enabled("causal_padding"):
        return nn.Conv1d(C_in, F, k, padding=(k - 1) * d // 2, **args)  # the naive port: symmetric
    if padding == "same" and not enabled("same_padding"):
        return nn.Conv1d(C_in, F, k, padding=k // 2, **args)
    if padding == "same" and s == 1:
        return nn.Conv1d(C_in, F, k, padding="same", **args)
    return Conv1d(C_in, F, k, padding=padding, **args)


def _conv1d_torch_source(config: Config, shapes, layout) -> Source:
    C_in, F, k, s, d = shapes[0][-1], config["filters"], config["kernel_size"], config["strides"], config["dilation_rate"]
    kwargs: Config = {}
    if s != 1:
        kwargs["stride"] = s
    callee, imports = "nn.Conv1d", ()
    comments = ["weight = kernel.transpose(2, 1, 0): torch stores (out, in, k)"]
    padding = config["padding"]
    if padding == "causal" and not enabled("causal_padding"):
        kwargs["padding"] = (k - 1) * d // 2
    elif padding == "same" and not enabled("same_padding"):
        kwargs["padding"] = k // 2
    elif padding == "same" and s == 1:
        kwargs["padding"] = "same"
    elif padding != "valid":
        kwargs["padding"] = padding
        callee, imports = "Conv1d", ("from framework.pytorch.conv import Conv1d",)
        comments.append(
            "Keras' 'causal' pads (k - 1) * d zeros before the steps only; nn.Conv1d pads both ends"
            if padding == "causal"
            else "Keras' 'same' pads (total // 2, total - total // 2); nn.Conv1d(padding='same') refuses strides > 1"
        )
    if d != 1:
        kwargs["dilation"] = d
    if not config["use_bias"]:
        kwargs["bias"] = False
    return Source(code(callee, C_in, F, k, **kwargs), tuple(comments), imports)


def _conv1d_keras_source(config: Config, name: str, shapes=None, layout=None) -> Source:
    kwargs: Config = {}
    for key, default in (("strides", 1), ("padding", "valid"), ("dilation_rate", 1), ("use_bias", True)):
        if config[key] != default:
            kwargs[key] = config[key]
    expression = code("layers.Conv1D", config["filters"], config["kernel_size"], **kwargs, name=name)
    return Source(expression, ("kernel = weight.transpose(2, 1, 0): Keras stores (k, C_in, C_out)",))


def _conv1d_torch_read(module, shape) -> Config:
    if module.groups != 1:
        raise ValueError(f"groups={module.groups} (only groups=1 is supported)")
    if module.padding_mode != "zeros":
        raise ValueError(f"padding_mode={module.padding_mode!r} (only 'zeros' is supported)")
    (k,), (s,), (d,) = module.kernel_size, module.stride, module.dilation
    padding = getattr(module, "keras_padding", None)  # framework.pytorch.conv.Conv1d
    if padding is None:
        if module.padding == "same":
            padding = "same"
        elif module.padding == "valid" or tuple(module.padding) == (0,):
            padding = "valid"
        elif s == 1 and 2 * module.padding[0] == d * (k - 1):
            padding = "same"  # symmetric padding equal to Keras' "same" at stride 1
        else:
            raise ValueError(
                f"padding={tuple(module.padding)} with kernel_size={k}, stride={s} is neither 'valid' nor Keras' 'same'"
            )
    return {
        "filters": module.out_channels,
        "kernel_size": k,
        "strides": s,
        "padding": padding,
        "dilation_rate": d,
        "use_bias": module.bias is not None,
    }


def _conv1d_keras(config: Config, name: str):
    import keras

    keys = ("kernel_size", "strides", "padding", "dilation_rate", "use_bias")
    return keras.layers.Conv1D(config["filters"], **{key: config[key] for key in keys}, name=name)


def _conv1d_keras_read(layer) -> Config:
    _channels_last(layer)
    if getattr(layer, "groups", 1) != 1:
        raise ValueError(f"groups={layer.groups} (only groups=1 is supported)")
    return {
        "filters": layer.filters,
        "kernel_size": int(layer.kernel_size[0]),
        "strides": int(layer.strides[0]),
        "padding": layer.padding,
        "dilation_rate": int(layer.dilation_rate[0]),
        "use_bias": layer.use_bias,
    }


CONV1D = LayerKind(
    name="conv1d",
    family="conv",
    summary="Z = conv(X, W) + b along the steps of (L, C) sequences; valid, same or causal (nn.Conv1d, Conv1D)",
    scratch=_conv1d_scratch,
    torch=TorchSide(
        build=_conv1d_torch,
        modules=("torch.nn.Conv1d", "framework.pytorch.conv.Conv1d"),
        read_module=_conv1d_torch_read,
        layout=CHANNELS_FIRST,
        reads=CHANNELS_FIRST,
        source=_conv1d_torch_source,
    ),
    keras=KerasSide(
        build=_conv1d_keras,
        classes=("Conv1D",),
        read=_conv1d_keras_read,
        splits_activation=True,
        source=_conv1d_keras_source,
    ),
    converter=Conv1DConverter(),
    defaults={
        "filters": 1,
        "kernel_size": 3,
        "strides": 1,
        "padding": "valid",
        "dilation_rate": 1,
        "use_bias": True,
    },
)


# Pooling ------------------------------------------------------------------------------------


def _pool_kind(
    name: str, scratch_class: str, torch_class: str, framework_class: str, keras_class: str, op: str
) -> LayerKind:
    def scratch(config: Config, layer_name: str):
        from scratch import pooling

        return getattr(pooling, scratch_class)(
            tuple(config["pool_size"]), strides=tuple(config["strides"]), padding=config["padding"], name=layer_name
        )

    def build_torch(config: Config, shapes, layout):
        from torch import nn

        from framework.pytorch import conv

        k, s = _pair(config["pool_size"]), _pair(config["strides"])
        if config["padding"] == "valid":
            return getattr(nn, torch_class)(k, s)
        if not enabled("same_padding"):
            return getattr(nn, torch_class)(k, s, padding=_naive_padding(k))
        return getattr(conv, framework_class)(k, s, padding="same")

    def source_torch(config: Config, shapes, layout) -> Source:
        k, s = _pair(config["pool_size"]), _pair(config["strides"])
        stride = {} if s == k else {"stride": size(s)}
        if config["padding"] == "valid":
            return Source(code(f"nn.{torch_class}", size(k), **stride))
        if not enabled("same_padding"):
            return Source(code(f"nn.{torch_class}", size(k), **stride, padding=size(_naive_padding(k))))
        why = "Keras' 'same' pads (total // 2, total - total // 2), the mean over real cells only"
        return Source(
            code(framework_class, size(k), size(s), padding="same"),
            (why,),
            (f"from framework.pytorch.conv import {framework_class}",),
        )

    def source_keras(config: Config, layer_name: str, shapes=None, layout=None) -> Source:
        kwargs: Config = {}
        if tuple(config["strides"]) != tuple(config["pool_size"]):
            kwargs["strides"] = size(config["strides"])
        if config["padding"] != "valid":
            kwargs["padding"] = config["padding"]
        return Source(code(f"layers.{keras_class}", size(config["pool_size"]), **kwargs, name=layer_name))

    def read_torch(module, shape) -> Config:
        if isinstance(module.padding, str):  # framework.pytorch.conv's pools
            return {"pool_size": list(module.kernel_size), "strides": list(module.stride), "padding": module.padding}
        k = _pair(module.kernel_size)
        s = k if module.stride is None else _pair(module.stride)
        if _pair(module.padding) != (0, 0) or module.ceil_mode or _pair(getattr(module, "dilation", 1)) != (1, 1):
            raise ValueError(
                f"padding={module.padding}, ceil_mode={module.ceil_mode} (only unpadded pooling is supported)"
            )
        return {"pool_size": list(k), "strides": list(s), "padding": "valid"}

    def read_op(args, kwargs, shapes, layout) -> Config | None:
        k = _pair(args[1])
        stride = args[2] if len(args) > 2 and args[2] else k
        padding = args[3] if len(args) > 3 else 0
        if _pair(padding) != (0, 0):
            return None
        if len(args) > 4 and args[4] and op == "aten.max_pool2d.default":
            if _pair(args[4]) != (1, 1):
                return None  # dilation
        return {"pool_size": list(k), "strides": list(_pair(stride)), "padding": "valid"}

    def build_keras(config: Config, layer_name: str):
        import keras

        return getattr(keras.layers, keras_class)(
            tuple(config["pool_size"]), strides=tuple(config["strides"]), padding=config["padding"], name=layer_name
        )

    def read_keras(layer) -> Config:
        _channels_last(layer)
        strides = layer.strides if layer.strides is not None else layer.pool_size
        return {"pool_size": list(_pair(layer.pool_size)), "strides": list(_pair(strides)), "padding": layer.padding}

    return LayerKind(
        name=name,
        family="conv",
        summary=f"{'the largest value' if 'max' in name else 'the mean of the real cells'} of each window",
        scratch=scratch,
        torch=TorchSide(
            build=build_torch,
            modules=(f"torch.nn.{torch_class}", f"framework.pytorch.conv.{framework_class}"),
            read_module=read_torch,
            ops=(op,),
            read_op=read_op,
            source=source_torch,
        ),
        keras=KerasSide(build=build_keras, classes=(keras_class,), read=read_keras, source=source_keras),
        defaults={"pool_size": [2, 2], "strides": [2, 2], "padding": "valid"},
    )


MAX_POOL2D = _pool_kind("max_pool2d", "MaxPool2D", "MaxPool2d", "MaxPool2d", "MaxPooling2D", "aten.max_pool2d.default")
AVG_POOL2D = _pool_kind(
    "avg_pool2d", "AvgPool2D", "AvgPool2d", "AvgPool2d", "AveragePooling2D", "aten.avg_pool2d.default"
)


# BatchNorm ----------------------------------------------------------------------------------


def _bn_scratch(config: Config, name: str):
    from scratch.batchnorm import BatchNorm

    kwargs = {k: config[k] for k in ("epsilon", "momentum") if config[k] is not None}
    return BatchNorm(axis=-1, center=config["center"], scale=config["scale"], name=name, **kwargs)


def _bn_frozen(config: Config) -> list[str]:
    """The torch parameters held at their identity value, out of training (rule ``batchnorm_frozen_affine``)."""
    if not (config["center"] or config["scale"]) or not enabled("batchnorm_frozen_affine"):
        return []
    return [t for t, key in (("weight", "scale"), ("bias", "center")) if not config[key]]


def _bn_torch(config: Config, shapes, layout):
    """eps = epsilon; torch momentum = 1 - Keras momentum (torch weighs the new batch statistic:
    new = (1 - m) * old + m * batch; Keras the old one: new = m * old + (1 - m) * batch;
    torch/nn/modules/batchnorm.py, keras/src/layers/normalization/batch_normalization.py).
    center=False and scale=False: affine=False; one of them: the absent parameter frozen
    (framework/pytorch/norm.py)."""
    from torch import nn

    from framework.pytorch.norm import frozen

    kwargs = {}
    if config["epsilon"] is not None:
        kwargs["eps"] = config["epsilon"]
    if config["momentum"] is not None:
        kwargs["momentum"] = 1.0 - config["momentum"]
    if not (config["center"] or config["scale"]):
        kwargs["affine"] = False
    rank = len(shapes[0])
    if rank == 3:
        return frozen(nn.BatchNorm2d(shapes[0][-1], **kwargs), *_bn_frozen(config))
    if rank == 1:
        return frozen(nn.BatchNorm1d(shapes[0][-1], **kwargs), *_bn_frozen(config))
    raise ValueError(f"BatchNorm over inputs of shape {shapes[0]} (images (H, W, C) or features (F,) only)")


_MOMENTUM = "(torch weighs the new batch; Keras the old)"


def _bn_torch_source(config: Config, shapes, layout) -> Source:
    kwargs: Config = {}
    comments = []
    if config["epsilon"] is not None and not math.isclose(config["epsilon"], 1e-5):
        kwargs["eps"] = config["epsilon"]
        comments.append("eps carried over: torch's default is 1e-5")
    if config["momentum"] is not None and not math.isclose(1.0 - config["momentum"], 0.1):
        kwargs["momentum"] = 1.0 - config["momentum"]
        comments.append(f"momentum {config['momentum']:.12g} -> {1.0 - config['momentum']:.12g} {_MOMENTUM}")
    if not (config["center"] or config["scale"]):
        kwargs["affine"] = False
        comments.append("affine=False: Keras' center=False and scale=False, no gamma and no beta")
    rank = len(shapes[0])
    if rank not in (1, 3):
        raise ValueError(f"BatchNorm over inputs of shape {shapes[0]} (images (H, W, C) or features (F,) only)")
    callee = "nn.BatchNorm2d" if rank == 3 else "nn.BatchNorm1d"
    expression = code(callee, shapes[0][-1], **kwargs)
    absent = _bn_frozen(config)
    if not absent:
        return Source(expression, tuple(comments))
    comments.append(
        f"{absent[0]} frozen at {1 if absent[0] == 'weight' else 0}: Keras' "
        f"{'scale' if absent[0] == 'weight' else 'center'}=False (torch's affine is both or neither)"
    )
    return Source(
        f"frozen({expression}, {literal(absent[0])})",
        tuple(comments),
        imports=("from framework.pytorch.norm import frozen",),
    )


def _bn_keras_source(config: Config, name: str, shapes=None, layout=None) -> Source:
    kwargs: Config = {}
    comments = []
    if config["epsilon"] is not None and not math.isclose(config["epsilon"], 1e-3):
        kwargs["epsilon"] = config["epsilon"]
        comments.append("epsilon carried over: Keras' default is 1e-3")
    if config["momentum"] is not None and not math.isclose(config["momentum"], 0.99):
        kwargs["momentum"] = config["momentum"]
        comments.append(f"momentum {1.0 - config['momentum']:.12g} -> {config['momentum']:.12g} {_MOMENTUM}")
    for key in ("center", "scale"):
        if not config[key]:
            kwargs[key] = False
    return Source(code("layers.BatchNormalization", **kwargs, name=name), tuple(comments))


def _bn_torch_read(module, shape) -> Config:
    """affine=False is center=False, scale=False; a parameter with requires_grad False, held at
    its identity value (weight 1, bias 0), is absent (Keras' scale=False / center=False)."""
    import torch

    if not module.track_running_stats:
        raise ValueError("track_running_stats=False (batch statistics at inference too; Keras has no equivalent)")
    if module.momentum is None:
        raise ValueError("momentum=None, a cumulative average (Keras has no equivalent)")
    present = {"scale": False, "center": False}
    if module.affine:
        for key, parameter, one in (("scale", module.weight, 1.0), ("center", module.bias, 0.0)):
            present[key] = bool(parameter.requires_grad)
            if not parameter.requires_grad and not bool(torch.all(parameter == one)):
                what = "weight" if key == "scale" else "bias"
                raise ValueError(
                    f"{what} frozen at values other than {one:g} (Keras' {key}=False holds it at {one:g}; a fixed "
                    f"{'scale' if key == 'scale' else 'shift'} is not a BatchNormalization)"
                )
    return {"epsilon": float(module.eps), "momentum": 1.0 - float(module.momentum), **present}


def _bn_keras(config: Config, name: str):
    import keras

    kwargs = {k: config[k] for k in ("epsilon", "momentum") if config[k] is not None}
    return keras.layers.BatchNormalization(center=config["center"], scale=config["scale"], name=name, **kwargs)


def _bn_keras_read(layer) -> Config:
    if layer.axis not in (-1, len(layer.input.shape) - 1 if hasattr(layer, "input") else -1):
        raise ValueError(f"axis={layer.axis} (only the last axis, the channels, is supported)")
    return {
        "epsilon": float(layer.epsilon),
        "momentum": float(layer.momentum),
        "center": bool(layer.center),
        "scale": bool(layer.scale),
    }


BATCH_NORM = LayerKind(
    name="batch_norm",
    family="conv",
    summary="Z = gamma * (X - mean) / sqrt(var + epsilon) + beta per channel (gamma with scale, beta with center), moving statistics",
    scratch=_bn_scratch,
    torch=TorchSide(
        build=_bn_torch,
        modules=("torch.nn.BatchNorm2d", "torch.nn.BatchNorm1d"),
        read_module=_bn_torch_read,
        source=_bn_torch_source,
    ),
    keras=KerasSide(build=_bn_keras, classes=("BatchNormalization",), read=_bn_keras_read, source=_bn_keras_source),
    converter=BatchNormConverter(),
    traits=Traits(running_statistics=("moving_mean", "moving_var"), training_flag=True),
    defaults={"epsilon": 1e-3, "momentum": 0.99, "center": True, "scale": True},
)


# ZeroPadding2D ------------------------------------------------------------------------------


def _pad_scratch(config: Config, name: str):
    from scratch.padding import ZeroPadding2D

    return ZeroPadding2D(tuple(tuple(p) for p in config["padding"]), name=name)


def _pad_torch(config: Config, shapes, layout):
    """nn.ZeroPad2d takes (left, right, top, bottom), the last axis first, as F.pad does
    (torch/nn/modules/padding.py); Keras' ZeroPadding2D ((top, bottom), (left, right))."""
    from torch import nn

    (top, bottom), (left, right) = config["padding"]
    return nn.ZeroPad2d((left, right, top, bottom))


def _pad_torch_source(config: Config, shapes, layout) -> Source:
    (top, bottom), (left, right) = config["padding"]
    why = "(left, right, top, bottom): the last axis first, as F.pad reads it"
    return Source(code("nn.ZeroPad2d", (left, right, top, bottom)), (why,))


def _pad_keras_source(config: Config, name: str, shapes=None, layout=None) -> Source:
    (top, bottom), (left, right) = config["padding"]
    why = "((top, bottom), (left, right)); torch's ZeroPad2d takes (left, right, top, bottom)"
    return Source(code("layers.ZeroPadding2D", ((top, bottom), (left, right)), name=name), (why,))


def _pad_config(pads) -> Config:
    left, right, top, bottom = (int(p) for p in pads)
    if min(left, right, top, bottom) < 0:
        raise ValueError(
            f"padding {tuple(pads)} mixes padding and cropping (crop with every size <= 0: F.pad(x, (-l, -r, -t, -b)))"
        )
    return {"padding": [[top, bottom], [left, right]]}


def _pad_torch_op(args, kwargs, shapes, layout) -> Config | None:
    """F.pad(x, (left, right, top, bottom)) on an NCHW map: constant zeros over H and W only."""
    pads = list(args[1]) if len(args) > 1 else list(kwargs.get("pad", ()))
    mode = args[2] if len(args) > 2 else kwargs.get("mode", "constant")
    value = args[3] if len(args) > 3 else kwargs.get("value", 0.0)
    if len(pads) != 4 or mode != "constant" or (value or 0.0) != 0.0 or layout != CHANNELS_FIRST:
        return None
    if max(int(p) for p in pads) <= 0:
        return None  # every size <= 0 crops: the cropping2d kind (parity/layers/cropping.py)
    return _pad_config(pads)


def _pad_keras(config: Config, name: str):
    import keras

    return keras.layers.ZeroPadding2D(tuple(tuple(p) for p in config["padding"]), name=name)


def _pad_keras_read(layer) -> Config:
    _channels_last(layer)
    (top, bottom), (left, right) = layer.padding
    return {"padding": [[top, bottom], [left, right]]}


ZERO_PADDING2D = LayerKind(
    name="zero_padding2d",
    family="conv",
    summary="Z = X with zero rows above and below and zero columns left and right",
    scratch=_pad_scratch,
    torch=TorchSide(
        build=_pad_torch,
        modules=("torch.nn.ZeroPad2d",),
        read_module=lambda module, shape: _pad_config(module.padding),
        ops=("aten.constant_pad_nd.default", "aten.pad.default"),
        read_op=_pad_torch_op,
        source=_pad_torch_source,
    ),
    keras=KerasSide(build=_pad_keras, classes=("ZeroPadding2D",), read=_pad_keras_read, source=_pad_keras_source),
    defaults={"padding": [[1, 1], [1, 1]]},
)


KINDS = (CONV2D, DEPTHWISE_CONV2D, CONV2D_TRANSPOSE, CONV1D, MAX_POOL2D, AVG_POOL2D, BATCH_NORM, ZERO_PADDING2D)
