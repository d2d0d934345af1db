"""Depthwise-separable convolution (the conv family): Keras' SeparableConv2D, Xception's and NASNet's workhorse.

Keras computes it as a depthwise convolution (strides, padding, dilation) and a 1x1 convolution
(keras/src/backend/torch/nn.py ``separable_conv``), with one bias, the pointwise one. torch has no
such module: the idiomatic form is two nn.Conv2d, the first with groups=in_channels and no bias,
grouped in ``framework.pytorch.conv.SeparableConv2d`` (``depthwise``, ``pointwise``), which the
importer reads as this one kind. The same two nn.Conv2d written side by side, or two F.conv2d
calls, import as ``depthwise_conv2d`` (use_bias=False) and a 1x1 ``conv2d``: the same function in
two nodes, so there is no ATen operator of its own to read.
"""

from __future__ import annotations

from parity.convert.base import enabled
from parity.convert.conv import SeparableConv2DConverter
from parity.layers.base import CHANNELS_FIRST, Config, KerasSide, LayerKind, Source, TorchSide, code, size
from parity.layers.conv import (
    _SAME_STRIDED,
    _channels_last,
    _conv_torch_read_padding,
    _keras_arguments,
    _keras_window_read,
    _naive_padding,
    _pair,
    _unsupported,
    _window,
)


def _scratch(config: Config, name: str):
    from scratch.separable_conv2d import SeparableConv2D

    return SeparableConv2D(
        config["filters"],
        tuple(config["kernel_size"]),
        **_window(config),
        depth_multiplier=config["depth_multiplier"],
        name=name,
    )


def _torch_padding(config: Config):
    """"valid", "same" (Keras' rule, framework.pytorch.conv pads it at any stride) or the naive k // 2."""
    if config["padding"] == "same" and not enabled("same_padding"):
        return _naive_padding(config["kernel_size"])
    return config["padding"]


def _torch(config: Config, shapes, layout):
    from framework.pytorch.conv import SeparableConv2d

    return SeparableConv2d(
        shapes[0][-1],
        config["filters"],
        _pair(config["kernel_size"]),
        stride=_pair(config["strides"]),
        padding=_torch_padding(config),
        dilation=_pair(config["dilation_rate"]),
        depth_multiplier=config["depth_multiplier"],
        bias=config["use_bias"],
    )


def _torch_source(config: Config, shapes, layout) -> Source:
    kwargs: Config = {}
    if tuple(config["strides"]) != (1, 1):
        kwargs["stride"] = size(config["strides"])
    padding = _torch_padding(config)
    if padding != "valid":
        kwargs["padding"] = padding if isinstance(padding, str) else size(padding)
    if tuple(config["dilation_rate"]) != (1, 1):
        kwargs["dilation"] = size(config["dilation_rate"])
    if config["depth_multiplier"] != 1:
        kwargs["depth_multiplier"] = config["depth_multiplier"]
    if not config["use_bias"]:
        kwargs["bias"] = False
    comments = [
        "depthwise nn.Conv2d(groups=C, bias=False) then pointwise 1x1 nn.Conv2d: the bias is the pointwise one",
        "depthwise.weight = depthwise_kernel.reshape(kh, kw, C*m).transpose(2, 0, 1)[:, None]; "
        "pointwise.weight = pointwise_kernel.transpose(3, 2, 0, 1)",
    ]
    if padding == "same" and tuple(config["strides"]) != (1, 1):
        comments.append(_SAME_STRIDED)
    expression = code("SeparableConv2d", shapes[0][-1], config["filters"], size(config["kernel_size"]), **kwargs)
    return Source(expression, tuple(comments), ("from framework.pytorch.conv import SeparableConv2d",))


def _keras_source(config: Config, name: str, shapes=None, layout=None) -> Source:
    kwargs = _keras_arguments(config, "strides", "padding", "depth_multiplier", "dilation_rate", "use_bias")
    expression = code("layers.SeparableConv2D", config["filters"], size(config["kernel_size"]), **kwargs, name=name)
    why = "depthwise_kernel (kh, kw, C, m), pointwise_kernel (1, 1, C*m, filters): torch's two weights reordered"
    return Source(expression, (why,))


def _torch_read(module, shape) -> Config:
    """framework.pytorch.conv.SeparableConv2d: a depthwise nn.Conv2d without bias, then a 1x1 nn.Conv2d."""
    depthwise, pointwise = module.depthwise, module.pointwise
    C = depthwise.in_channels
    if depthwise.groups != C or depthwise.out_channels % C or depthwise.bias is not None:
        raise ValueError(
            f"depthwise stage groups={depthwise.groups}, bias={depthwise.bias is not None} with in_channels={C} "
            "(a separable convolution's depthwise stage has groups=in_channels and no bias)"
        )
    one = (1, 1)
    if (
        tuple(pointwise.kernel_size) != one
        or tuple(pointwise.stride) != one
        or pointwise.groups != 1
        or tuple(pointwise.padding) != (0, 0)
    ):
        raise ValueError("pointwise stage is not a 1x1 convolution with stride 1, no padding, groups=1")
    return {
        "filters": pointwise.out_channels,
        **_conv_torch_read_padding(depthwise),
        "depth_multiplier": depthwise.out_channels // C,
        "use_bias": pointwise.bias is not None,
    }


def _keras(config: Config, name: str):
    import keras

    return keras.layers.SeparableConv2D(
        config["filters"],
        tuple(config["kernel_size"]),
        **_window(config),
        depth_multiplier=config["depth_multiplier"],
        name=name,
    )


def _keras_read(layer) -> Config:
    _channels_last(layer)
    _unsupported(
        layer,
        (
            "depthwise_regularizer",
            "pointwise_regularizer",
            "bias_regularizer",
            "activity_regularizer",
            "depthwise_constraint",
            "pointwise_constraint",
            "bias_constraint",
        ),
    )
    return {"filters": layer.filters, **_keras_window_read(layer), "depth_multiplier": layer.depth_multiplier}


def _validate(config: Config, shapes) -> None:
    if _pair(config["strides"]) != (1, 1) and _pair(config["dilation_rate"]) != (1, 1):
        raise ValueError(
            f"strides={config['strides']} with dilation_rate={config['dilation_rate']}: not supported (Keras' Conv2D "
            "and DepthwiseConv2D refuse both > 1, keras/src/layers/convolutional/base_conv.py); set one to 1"
        )


SEPARABLE_CONV2D = LayerKind(
    name="separable_conv2d",
    family="conv",
    summary="Z = depthwise(X, D) @ P + b: each channel its own m filters, then a 1x1 convolution "
    "(SeparableConv2D; two nn.Conv2d)",
    scratch=_scratch,
    torch=TorchSide(
        build=_torch,
        modules=("framework.pytorch.conv.SeparableConv2d",),
        read_module=_torch_read,
        layout=CHANNELS_FIRST,
        reads=CHANNELS_FIRST,
        source=_torch_source,
    ),
    keras=KerasSide(
        build=_keras,
        classes=("SeparableConv2D",),
        read=_keras_read,
        splits_activation=True,
        source=_keras_source,
    ),
    converter=SeparableConv2DConverter(),
    defaults={
        "filters": 4,
        "kernel_size": [3, 3],
        "strides": [1, 1],
        "padding": "valid",
        "depth_multiplier": 1,
        "dilation_rate": [1, 1],
        "use_bias": True,
    },
    validate=_validate,
)

KINDS = (SEPARABLE_CONV2D,)
