"""The dense family: Dense, the activations, Dropout, Flatten.

Canonical configurations use Keras' argument names. ``None`` for a hyperparameter means
"the framework's own default" (torch's LeakyReLU slope 0.01, Keras' 0.3): only the
divergence cases use it, to build the port that trusts the defaults.
"""

from __future__ import annotations

import math

from parity.convert.dense import DenseConverter
from parity.layers.base import (
    CANONICAL,
    CHANNELS_FIRST,
    FLAT_CHANNELS_FIRST,
    Config,
    KerasSide,
    LayerKind,
    NotThisKind,
    Source,
    TorchSide,
    Traits,
    code,
    literal,
)

# Dense ---------------------------------------------------------------------------------


def _dense_scratch(config: Config, name: str):
    from scratch.dense import Dense
    from scratch.regularizers import L2

    layer = Dense(config["units"], use_bias=config["use_bias"], name=name)
    l2 = config["kernel_regularizer"]
    layer.regularizer = L2(l2) if l2 else None
    return layer


def _dense_torch(config: Config, shapes, layout):
    from torch import nn

    return nn.Linear(math.prod(shapes[0][-1:]), config["units"], bias=config["use_bias"])


def _dense_torch_read(module, shape) -> Config:
    return {"units": module.out_features, "use_bias": module.bias is not None, "kernel_regularizer": None}


def _dense_torch_op(args, kwargs, shapes, layout) -> Config | None:
    return None  # F.linear with a parameter is read as a module call (the module stack names it)


def _dense_keras(config: Config, name: str):
    import keras

    l2 = config["kernel_regularizer"]
    return keras.layers.Dense(
        config["units"],
        use_bias=config["use_bias"],
        kernel_regularizer=keras.regularizers.L2(l2) if l2 else None,
        name=name,
    )


def _dense_keras_read(layer) -> Config:
    import keras

    regularizer = layer.kernel_regularizer
    l2 = None
    if regularizer is not None:
        if not isinstance(regularizer, keras.regularizers.L2):
            raise ValueError(f"kernel_regularizer {type(regularizer).__name__} (only L2 is supported)")
        l2 = float(regularizer.l2)
    for attribute in ("bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint"):
        if getattr(layer, attribute, None) is not None:
            raise ValueError(f"{attribute} is not supported")
    return {"units": layer.units, "use_bias": layer.use_bias, "kernel_regularizer": l2}


_ROWS = "rows permuted: torch flattens (C, H, W), Keras (H, W, C)"


def _dense_torch_source(config: Config, shapes, layout) -> Source:
    kwargs = {} if config["use_bias"] else {"bias": False}
    comments = ["weight = kernel.T: torch stores (out_features, in_features)"]
    if layout == FLAT_CHANNELS_FIRST:
        comments.append(_ROWS)
    if config["kernel_regularizer"]:
        comments.append(
            f"L2 {config['kernel_regularizer']} on the weight: add it to the loss (torch layers carry none)"
        )
    return Source(code("nn.Linear", math.prod(shapes[0][-1:]), config["units"], **kwargs), tuple(comments))


def _dense_keras_source(config: Config, name: str, shapes=None, layout=None) -> Source:
    kwargs: Config = {} if config["use_bias"] else {"use_bias": False}
    l2 = config["kernel_regularizer"]
    expression = code("layers.Dense", config["units"], **kwargs, name=name)
    if l2:
        expression = expression[:-1] + f", kernel_regularizer=keras.regularizers.L2({l2!r}))"
    comments = ["kernel = weight.T: Keras stores (in_features, units)"]
    if layout == FLAT_CHANNELS_FIRST:
        comments.append(_ROWS)
    return Source(expression, tuple(comments))


DENSE = LayerKind(
    name="dense",
    family="dense",
    summary="Z = X @ W + b on the last axis (nn.Linear, keras.layers.Dense)",
    scratch=_dense_scratch,
    torch=TorchSide(
        build=_dense_torch,
        modules=("torch.nn.Linear",),
        read_module=_dense_torch_read,
        layout=CANONICAL,
        source=_dense_torch_source,
        reads=CANONICAL,  # nn.Linear maps the last axis: an NCHW map is permuted to NHWC first (a 1x1 conv)
    ),
    keras=KerasSide(
        build=_dense_keras,
        classes=("Dense",),
        read=_dense_keras_read,
        splits_activation=True,
        source=_dense_keras_source,
    ),
    converter=DenseConverter(),
    traits=Traits(regularizer="kernel_regularizer"),
    defaults={"units": 1, "use_bias": True, "kernel_regularizer": None},
)


# Activations ---------------------------------------------------------------------------


def _activation(
    name: str,
    summary: str,
    torch_module: str,
    torch_ops: tuple[str, ...],
    keras_names: tuple[str, ...],
    keras_classes: tuple[str, ...] = (),
    defaults: Config | None = None,
    torch_build=None,
    torch_read=None,
    torch_read_op=None,
    keras_build=None,
    keras_read=None,
    torch_source=None,
    keras_source=None,
) -> LayerKind:
    """An element-wise (or last-axis) activation: the same shape out as in."""

    def scratch(config: Config, layer_name: str):
        from scratch import activations

        approximate = config.get("approximate")
        return activations.get(
            name,
            negative_slope=config.get("negative_slope"),
            approximate="tanh" if approximate else "none",
            layer_name=layer_name,
        )

    def build_torch(config: Config, shapes, layout):
        import importlib

        module, _, cls = torch_module.rpartition(".")
        return getattr(importlib.import_module(module), cls)()

    def build_keras(config: Config, layer_name: str):
        import keras

        return keras.layers.Activation(name, name=layer_name)

    def read_keras(layer) -> Config:
        return {}

    def source_torch(config: Config, shapes, layout) -> Source:
        return Source(f"nn.{torch_module.rpartition('.')[2]}()")

    def source_keras(config: Config, layer_name: str, shapes=None, layout=None) -> Source:
        return Source(code("layers.Activation", name, name=layer_name))

    return LayerKind(
        name=name,
        family="dense",
        summary=summary,
        scratch=scratch,
        torch=TorchSide(
            build=torch_build or build_torch,
            modules=(torch_module,),
            read_module=torch_read or (lambda module, shape: {}),
            ops=torch_ops,
            read_op=torch_read_op or (lambda args, kwargs, shapes, layout: {}),
            source=torch_source or source_torch,
        ),
        keras=KerasSide(
            build=keras_build or build_keras,
            classes=keras_classes,
            read=keras_read or read_keras,
            activations=keras_names,
            activation_config=lambda activation: dict(defaults or {}),
            source=keras_source or source_keras,
        ),
        defaults=dict(defaults or {}),
    )


def _leaky_torch(config: Config, shapes, layout):
    from torch import nn

    slope = config["negative_slope"]
    return nn.LeakyReLU() if slope is None else nn.LeakyReLU(slope)


def _leaky_torch_op(args, kwargs, shapes, layout) -> Config:
    slope = args[1] if len(args) > 1 else kwargs.get("negative_slope", 0.01)
    return {"negative_slope": float(slope), "keras_form": "layer"}


def _leaky_keras(config: Config, name: str):
    """``keras_form`` is how the Keras code spells it, which decides the default slope: the
    LeakyReLU layer's is 0.3, ``keras.activations.leaky_relu``'s and ``keras.ops.leaky_relu``'s 0.2
    (keras/src/layers/activations/leaky_relu.py, keras/src/activations/activations.py)."""
    import keras

    slope = config["negative_slope"]
    if slope is not None:
        return keras.layers.LeakyReLU(negative_slope=slope, name=name)
    if config["keras_form"] == "layer":
        return keras.layers.LeakyReLU(name=name)
    function = keras.activations.leaky_relu if config["keras_form"] == "string" else keras.ops.leaky_relu
    return keras.layers.Activation(function, name=name)


def _leaky_keras_read(layer) -> Config:
    return {"negative_slope": float(layer.negative_slope), "keras_form": "layer"}


_SLOPE = "negative_slope explicit: torch's default is 0.01, Keras' LeakyReLU 0.3"


def _leaky_torch_source(config: Config, shapes, layout) -> Source:
    slope = config["negative_slope"]
    return Source("nn.LeakyReLU()") if slope is None else Source(code("nn.LeakyReLU", slope), (_SLOPE,))


def _leaky_keras_source(config: Config, name: str, shapes=None, layout=None) -> Source:
    slope = config["negative_slope"]
    if slope is not None:
        return Source(code("layers.LeakyReLU", negative_slope=slope, name=name), (_SLOPE,))
    if config["keras_form"] == "layer":
        return Source(code("layers.LeakyReLU", name=name))
    if config["keras_form"] == "string":
        return Source(code("layers.Activation", "leaky_relu", name=name))
    return Source(f"layers.Activation(keras.ops.leaky_relu, name={literal(name)})")


def _gelu_torch_source(config: Config, shapes, layout) -> Source:
    if config["approximate"]:
        return Source('nn.GELU(approximate="tanh")', ("the tanh approximation, as the source computes it",))
    return Source("nn.GELU()")


def _gelu_keras_source(config: Config, name: str, shapes=None, layout=None) -> Source:
    """Only the exact form: Keras has no activation string for the tanh approximation, and a
    lambda would not read back (``Activation("gelu")`` is ``keras.activations.gelu``, exact)."""
    if config["approximate"] or config["keras_form"] == "ops":
        raise ValueError("GELU with the tanh approximation has no Keras layer to write (only the exact form)")
    return Source(code("layers.Activation", "gelu", name=name))


def _softmax_dim(layout) -> tuple[int, tuple[str, ...]]:
    if layout == CHANNELS_FIRST:
        return 1, ("dim=1: the channels of an NCHW map, Keras' last axis",)
    return -1, ()


def _softmax_torch_source(config: Config, shapes, layout) -> Source:
    dim, comments = _softmax_dim(layout)
    return Source(code("nn.Softmax", dim=dim), comments)


def _log_softmax_torch_source(config: Config, shapes, layout) -> Source:
    dim, comments = _softmax_dim(layout)
    return Source(code("nn.LogSoftmax", dim=dim), comments)


def _gelu_torch(config: Config, shapes, layout):
    from torch import nn

    approximate = config["approximate"]
    return nn.GELU() if approximate is None else nn.GELU(approximate="tanh" if approximate else "none")


def _gelu_torch_op(args, kwargs, shapes, layout) -> Config:
    return {"approximate": kwargs.get("approximate", "none") == "tanh", "keras_form": "layer"}


def _gelu_keras(config: Config, name: str):
    """``keras_form`` "ops" is ``keras.ops.gelu``, whose default is the tanh approximation
    (keras/src/ops/nn.py); ``keras.activations.gelu`` defaults to the exact form."""
    import keras

    approximate = config["approximate"]
    function = keras.ops.gelu if config["keras_form"] == "ops" else keras.activations.gelu
    if approximate is False and config["keras_form"] != "ops":
        return keras.layers.Activation("gelu", name=name)  # exact, its default; a string the importer reads back
    if approximate is None:
        return keras.layers.Activation(function, name=name)
    return keras.layers.Activation(lambda x: function(x, approximate=bool(approximate)), name=name)


def _softmax_axis(dim: int, rank: int, layout: str) -> int:
    """A torch softmax dimension (batch axis included) as a canonical axis; only the last is supported."""
    canonical_last = dim in (-1, rank - 1) if layout == CANONICAL else dim == 1
    if not canonical_last:
        raise ValueError(f"softmax over dim {dim} (only the feature axis is supported)")
    return -1


def _softmax_torch(config: Config, shapes, layout):
    from torch import nn

    return nn.Softmax(dim=-1 if layout == CANONICAL else 1)


def _softmax_torch_read(module, shape) -> Config:
    dim = module.dim if module.dim is not None else -1
    _softmax_axis(dim, len(shape) + 1, CANONICAL)
    return {}


def _softmax_torch_op(args, kwargs, shapes, layout) -> Config:
    dim = args[1] if len(args) > 1 else kwargs.get("dim", -1)
    _softmax_axis(dim, len(shapes[0]) + 1, layout)
    return {}


def _softmax_keras(config: Config, name: str):
    import keras

    return keras.layers.Softmax(axis=-1, name=name)


def _softmax_keras_read(layer) -> Config:
    axis = getattr(layer, "axis", -1)
    if axis not in (-1, (-1,), [-1]):
        raise ValueError(f"Softmax over axis {axis} (only the last axis is supported)")
    return {}


def _log_softmax_torch(config: Config, shapes, layout):
    from torch import nn

    return nn.LogSoftmax(dim=-1 if layout == CANONICAL else 1)


def _relu_keras_read(layer) -> Config:
    if getattr(layer, "negative_slope", 0.0) or getattr(layer, "threshold", 0.0):
        raise ValueError("ReLU with negative_slope or threshold (only the plain ReLU and ReLU(max_value=6) are supported)")
    max_value = getattr(layer, "max_value", None)
    if max_value is not None:
        if float(max_value) == 6.0:
            raise NotThisKind("ReLU(max_value=6) is relu6")
        raise ValueError(f"ReLU with max_value={max_value} (only the plain ReLU and ReLU(max_value=6) are supported)")
    return {}


def _relu6_keras_read(layer) -> Config:
    if getattr(layer, "max_value", None) is None or float(layer.max_value) != 6.0:
        raise NotThisKind("a ReLU without max_value=6 is relu")
    return {}


def _relu6_keras(config: Config, name: str):
    import keras

    return keras.layers.ReLU(max_value=6.0, name=name)


def _relu6_torch_op(args, kwargs, shapes, layout) -> Config:
    """``F.relu6(x)`` is exported as ``relu6(x)``, ``nn.ReLU6`` as ``hardtanh(x, 0.0, 6.0)`` (torch.export
    writes hardtanh's bounds out, defaults included); any other hardtanh is refused."""
    if kwargs.get("_op") == "aten.relu6.default" or (len(args) == 1 and not set(kwargs) - {"_op"}):  # relu6(x)
        return {}
    low = args[1] if len(args) > 1 else kwargs.get("min_val", -1.0)
    high = args[2] if len(args) > 2 else kwargs.get("max_val", 1.0)
    if (float(low), float(high)) != (0.0, 6.0):
        raise ValueError(f"hardtanh({low}, {high}) (only hardtanh(0, 6), F.relu6, is supported)")
    return {}


def _relu_keras(config: Config, name: str):
    import keras

    return keras.layers.ReLU(name=name)


LINEAR = _activation("linear", "Z = X (nn.Identity, Activation('linear'))", "torch.nn.Identity", (), ("linear",))
SIGMOID = _activation(
    "sigmoid",
    "Z = 1 / (1 + exp(-X))",
    "torch.nn.Sigmoid",
    ("aten.sigmoid.default", "aten.sigmoid_.default"),
    ("sigmoid",),
)
TANH = _activation("tanh", "Z = tanh(X)", "torch.nn.Tanh", ("aten.tanh.default", "aten.tanh_.default"), ("tanh",))
RELU = _activation(
    "relu",
    "Z = max(X, 0)",
    "torch.nn.ReLU",
    ("aten.relu.default", "aten.relu_.default"),
    ("relu",),
    keras_classes=("ReLU",),
    keras_build=_relu_keras,
    keras_read=_relu_keras_read,
    keras_source=lambda config, name, shapes=None, layout=None: Source(code("layers.ReLU", name=name)),
)
RELU6 = _activation(
    "relu6",
    "Z = min(max(X, 0), 6)",
    "torch.nn.ReLU6",
    ("aten.relu6.default", "aten.hardtanh.default", "aten.hardtanh_.default"),
    ("relu6",),
    keras_classes=("ReLU",),
    torch_read_op=_relu6_torch_op,
    keras_build=_relu6_keras,
    keras_read=_relu6_keras_read,
    keras_source=lambda config, name, shapes=None, layout=None: Source(code("layers.ReLU", max_value=6.0, name=name)),
)
SILU = _activation(
    "silu",
    "Z = X * sigmoid(X) (swish)",
    "torch.nn.SiLU",
    ("aten.silu.default", "aten.silu_.default"),
    ("silu", "swish"),  # Keras 3 registers "swish" as silu itself (keras/src/activations/__init__.py)
)
# Keras 3 and torch compute the same function (relu6(x + 3) / 6, slope 1/6): keras/src/activations/activations.py
# (hard_sigmoid, hard_silu) and torch/nn/functional.py (hardsigmoid, hardswish). Keras 2's hard_sigmoid was
# 0.2 * x + 0.5 (slope 1/5), a different function under the same name.
HARD_SIGMOID = _activation(
    "hard_sigmoid",
    "Z = relu6(X + 3) / 6 (piecewise-linear sigmoid, slope 1/6)",
    "torch.nn.Hardsigmoid",
    ("aten.hardsigmoid.default", "aten.hardsigmoid_.default"),
    ("hard_sigmoid",),
)
HARD_SWISH = _activation(
    "hard_swish",
    "Z = X * relu6(X + 3) / 6 (hard swish, hard SiLU)",
    "torch.nn.Hardswish",
    ("aten.hardswish.default", "aten.hardswish_.default"),
    ("hard_silu", "hard_swish"),  # Keras 3 registers "hard_swish" as hard_silu itself (keras/src/activations/__init__.py)
)
LEAKY_RELU = _activation(
    "leaky_relu",
    "Z = X where X > 0, negative_slope * X elsewhere",
    "torch.nn.LeakyReLU",
    ("aten.leaky_relu.default", "aten.leaky_relu_.default"),
    ("leaky_relu",),
    keras_classes=("LeakyReLU",),
    # keras.activations.leaky_relu's default slope; keras_form: "layer", "string" or "ops" (see _leaky_keras)
    defaults={"negative_slope": 0.2, "keras_form": "layer"},
    torch_build=_leaky_torch,
    torch_read=lambda module, shape: {"negative_slope": float(module.negative_slope), "keras_form": "layer"},
    torch_read_op=_leaky_torch_op,
    keras_build=_leaky_keras,
    keras_read=_leaky_keras_read,
    torch_source=_leaky_torch_source,
    keras_source=_leaky_keras_source,
)
SOFTMAX = _activation(
    "softmax",
    "Z = exp(X) / sum(exp(X)) over the last axis",
    "torch.nn.Softmax",
    ("aten.softmax.int", "aten._softmax.default"),
    ("softmax",),
    keras_classes=("Softmax",),
    torch_build=_softmax_torch,
    torch_read=_softmax_torch_read,
    torch_read_op=_softmax_torch_op,
    keras_build=_softmax_keras,
    keras_read=_softmax_keras_read,
    torch_source=_softmax_torch_source,
    keras_source=lambda config, name, shapes=None, layout=None: Source(code("layers.Softmax", name=name)),
)
LOG_SOFTMAX = _activation(
    "log_softmax",
    "Z = X - log(sum(exp(X))) over the last axis",
    "torch.nn.LogSoftmax",
    ("aten.log_softmax.int", "aten._log_softmax.default"),
    ("log_softmax",),
    torch_build=_log_softmax_torch,
    torch_read=_softmax_torch_read,
    torch_read_op=_softmax_torch_op,
    torch_source=_log_softmax_torch_source,
)
GELU = _activation(
    "gelu",
    "Z = X * Phi(X) (exact) or its tanh approximation",
    "torch.nn.GELU",
    ("aten.gelu.default", "aten.gelu_.default"),
    ("gelu",),
    defaults={"approximate": False, "keras_form": "layer"},
    torch_build=_gelu_torch,
    torch_read=lambda module, shape: {"approximate": module.approximate == "tanh", "keras_form": "layer"},
    torch_read_op=_gelu_torch_op,
    keras_build=_gelu_keras,
    torch_source=_gelu_torch_source,
    keras_source=_gelu_keras_source,
)


# Dropout and Flatten ---------------------------------------------------------------------


def _dropout_scratch(config: Config, name: str):
    import numpy as np

    from scratch.dropout import Dropout

    return Dropout(config["rate"], name=name, rng=np.random.default_rng(0), noise_shape=config["noise_shape"])


def _dropout_torch(config: Config, shapes, layout):
    from torch import nn

    if config["noise_shape"] is not None:  # a draw per sample: stochastic depth
        from framework.pytorch.stochastic_depth import StochasticDepth

        return StochasticDepth(config["rate"])
    return nn.Dropout(config["rate"])


def _dropout_torch_read(module, shape) -> Config:
    if type(module).__name__ == "StochasticDepth":
        return {"rate": float(module.p), "noise_shape": [1] * len(shape)}
    return {"rate": float(module.p)}


def _dropout_torch_source(config: Config, shapes, layout) -> Source:
    if config["noise_shape"] is not None:
        return Source(
            code("StochasticDepth", config["rate"]),
            ("a draw per sample: Keras' noise_shape=(None, 1, 1, 1)",),
            ("from framework.pytorch.stochastic_depth import StochasticDepth",),
        )
    return Source(code("nn.Dropout", config["rate"]))


def _dropout_keras_source(config: Config, name: str, shapes=None, layout=None) -> Source:
    if config["noise_shape"] is not None:
        return Source(code("layers.Dropout", config["rate"], noise_shape=(None, *config["noise_shape"]), name=name))
    return Source(code("layers.Dropout", config["rate"], name=name))


def _dropout_torch_op(args, kwargs, shapes, layout) -> Config | None:
    p = args[1] if len(args) > 1 else kwargs.get("p", 0.5)
    return {"rate": float(p)}


def _dropout_keras(config: Config, name: str):
    import keras

    if config["noise_shape"] is not None:
        return keras.layers.Dropout(config["rate"], noise_shape=(None, *config["noise_shape"]), name=name)
    return keras.layers.Dropout(config["rate"], name=name)


def _dropout_keras_read(layer) -> Config:
    """Element-wise, or ``noise_shape=(None, 1, ..., 1)``: one draw per sample (EfficientNet's stochastic depth)."""
    noise_shape = getattr(layer, "noise_shape", None)
    if noise_shape is None:
        return {"rate": float(layer.rate)}
    if noise_shape[0] is not None or any(d != 1 for d in noise_shape[1:]):
        raise ValueError(f"Dropout with noise_shape={tuple(noise_shape)} (only None or (None, 1, ..., 1), a draw per sample)")
    return {"rate": float(layer.rate), "noise_shape": [1] * (len(noise_shape) - 1)}


DROPOUT = LayerKind(
    name="dropout",
    family="dense",
    summary="inverted dropout: Z = X * M / (1 - rate) in training, Z = X in inference",
    scratch=_dropout_scratch,
    torch=TorchSide(
        build=_dropout_torch,
        modules=("torch.nn.Dropout", "framework.pytorch.stochastic_depth.StochasticDepth"),
        read_module=_dropout_torch_read,
        ops=("aten.dropout.default", "aten.dropout_.default", "aten.native_dropout.default"),
        read_op=_dropout_torch_op,
        source=_dropout_torch_source,
    ),
    keras=KerasSide(
        build=_dropout_keras,
        classes=("Dropout",),
        read=_dropout_keras_read,
        source=_dropout_keras_source,
    ),
    traits=Traits(stochastic=True, training_flag=True),
    defaults={"rate": 0.5, "noise_shape": None},
)


def _flatten_scratch(config: Config, name: str):
    from scratch.flatten import Flatten

    return Flatten(name=name)


def _flatten_torch(config: Config, shapes, layout):
    from torch import nn

    return nn.Flatten()


def _flatten_torch_read(module, shape) -> Config:
    if module.start_dim != 1 or module.end_dim != -1:
        raise ValueError(
            f"Flatten(start_dim={module.start_dim}, end_dim={module.end_dim}) (only start_dim=1, end_dim=-1)"
        )
    return {}


def _flatten_torch_op(args, kwargs, shapes, layout) -> Config | None:
    """torch.flatten(x, 1), x.view(B, -1) and x.reshape(B, -1): every axis but the batch into one."""
    op_args = list(args[1:])
    if op_args and len(op_args) <= 2 and all(isinstance(a, int) for a in op_args):  # flatten.using_ints
        # torch.flatten(x, 1) is captured as (x, 1): end_dim's default (-1) is left out
        start, end = op_args[0], op_args[1] if len(op_args) == 2 else kwargs.get("end_dim", -1)
        rank = len(shapes[0]) + 1
        return {} if start == 1 and end in (-1, rank - 1) else None
    size = op_args[0] if op_args else kwargs.get("size") or kwargs.get("shape")
    if isinstance(size, (list, tuple)) and len(size) == 2 and (size[1] == -1 or size[1] == math.prod(shapes[0])):
        return {}
    return None


def _flatten_keras(config: Config, name: str):
    import keras

    return keras.layers.Flatten(name=name)


def _flatten_keras_read(layer) -> Config:
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise ValueError("Flatten(data_format='channels_first') (only channels_last is supported)")
    return {}


def _flatten_torch_source(config: Config, shapes, layout) -> Source:
    if layout == CHANNELS_FIRST:
        return Source("nn.Flatten()", ("flattens (C, H, W): the next layer's rows are in that order",))
    return Source("nn.Flatten()")


FLATTEN = LayerKind(
    name="flatten",
    family="dense",
    summary="Z = X.reshape(B, -1): every axis but the batch into one",
    scratch=_flatten_scratch,
    torch=TorchSide(
        build=_flatten_torch,
        modules=("torch.nn.Flatten",),
        read_module=_flatten_torch_read,
        ops=("aten.flatten.using_ints", "aten.view.default", "aten.reshape.default", "aten._unsafe_view.default"),
        read_op=_flatten_torch_op,
        layout="flatten",
        source=_flatten_torch_source,
    ),
    keras=KerasSide(
        build=_flatten_keras,
        classes=("Flatten",),
        read=_flatten_keras_read,
        source=lambda config, name, shapes=None, layout=None: Source(code("layers.Flatten", name=name)),
    ),
)


KINDS = (
    DENSE,
    LINEAR,
    SIGMOID,
    TANH,
    RELU,
    RELU6,
    SILU,
    HARD_SIGMOID,
    HARD_SWISH,
    LEAKY_RELU,
    SOFTMAX,
    LOG_SOFTMAX,
    GELU,
    DROPOUT,
    FLATTEN,
)
