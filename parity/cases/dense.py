"""Cases of the dense family: dense, the activations, linear and logistic regression, mlp."""

from __future__ import annotations

import numpy as np

from parity.case import Case, Config, require
from parity.spec.model import stack

# This family's cases, in the order `parity list` shows them (collected by parity.cases).
CASES: list[Case] = []

ACTIVATIONS = (
    "linear",
    "sigmoid",
    "tanh",
    "relu",
    "relu6",
    "silu",
    "hard_sigmoid",
    "hard_swish",
    "leaky_relu",
    "softmax",
    "gelu",
)
ACTIVATION_FORMS = ("layer", "string", "ops")

# Keys shared by everything that has an activation. ``negative_slope`` and
# ``approximate`` are always explicit in parity checks; ``null`` means "the
# framework's own default", which only divergence cases use. The slope is 0.25, not
# Keras' 0.2, because TensorFlow's LeakyRelu op keeps its slope as a float32
# attribute: only slopes exact in float32 agree in float64 (divergence case
# ``tf_leaky_relu_float32_slope``).
ACTIVATION_DEFAULTS: Config = {"negative_slope": 0.25, "approximate": False, "activation_form": "layer"}


def activation_layer(name: str, config: Config) -> tuple[str, Config]:
    """(kind, config) of an activation layer; slope and approximation only where the kind has them.
    ``activation_form`` is how the Keras code spells it (which decides Keras' defaults)."""
    if name == "leaky_relu":
        return name, {"negative_slope": config["negative_slope"], "keras_form": config["activation_form"]}
    if name == "gelu":
        return name, {"approximate": config["approximate"], "keras_form": config["activation_form"]}
    return name, {}


def _validate_activation(model: str, config: Config) -> None:
    require(model, config["activation"] in ACTIVATIONS, f"activation must be one of {', '.join(ACTIVATIONS)}, received {config['activation']!r}")
    slope = config["negative_slope"]
    require(model, slope is None or (isinstance(slope, (int, float)) and not isinstance(slope, bool) and np.isfinite(slope)), f"negative_slope must be a number, received {slope!r}")
    require(model, config["approximate"] in (True, False, None), f"approximate must be true or false, received {config['approximate']!r}")
    require(model, config["activation_form"] in ACTIVATION_FORMS, f"activation_form must be one of {', '.join(ACTIVATION_FORMS)}, received {config['activation_form']!r}")


def _positive_int(model: str, config: Config, key: str) -> None:
    value = config[key]
    require(model, isinstance(value, int) and not isinstance(value, bool) and value > 0, f"{key} must be a positive integer, received {value!r}")


def _normal_targets(rng: np.random.Generator, config: Config, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape)


def _binary_targets(rng: np.random.Generator, config: Config, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, 2, size=shape).astype(np.float64)


def _label_targets(rng: np.random.Generator, config: Config, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, shape[-1], size=shape[:-1])


def _scaled_inputs(scale: float):
    def draw(rng: np.random.Generator, config: Config) -> np.ndarray:
        return scale * rng.standard_normal((config["batch"], *config["input_shape"]))

    return draw


# dense ------------------------------------------------------------------------


def _dense_validate(config: Config) -> None:
    _positive_int("dense", config, "units")
    _validate_activation("dense", config)
    require("dense", isinstance(config["use_bias"], bool), f"use_bias must be true or false, received {config['use_bias']!r}")


CASES.append(
    Case(
        name="dense",
        family="dense",
        description="One Dense layer with its activation: Z = act(X @ W + b)",
        defaults={"units": 6, "use_bias": True, "activation": "linear", **ACTIVATION_DEFAULTS, "input_shape": [5], "batch": 4},
        spec=lambda c: stack(
            "dense",
            c["input_shape"],
            [("dense", {"units": c["units"], "use_bias": c["use_bias"]})]
            + ([activation_layer(c["activation"], c)] if c["activation"] != "linear" else []),
        ),
        loss="mean_squared_error",
        targets=_normal_targets,
        validate=_dense_validate,
    )
)

# one case per activation layer -------------------------------------------------


def _activation_case(name: str) -> Case:
    own = {"activation_form": "layer"}
    if name == "leaky_relu":
        own["negative_slope"] = ACTIVATION_DEFAULTS["negative_slope"]
    if name == "gelu":
        own["approximate"] = ACTIVATION_DEFAULTS["approximate"]

    def validate(config: Config) -> None:
        _validate_activation(name, {**ACTIVATION_DEFAULTS, **config, "activation": name})

    return Case(
        name=name,
        family="dense",
        description=f"The {name} activation alone, on inputs of scale {_scale(name)}",
        defaults={**own, "input_shape": [7], "batch": 4},
        spec=lambda c: stack(name, c["input_shape"], [activation_layer(name, {**ACTIVATION_DEFAULTS, **c})]),
        loss="mean_squared_error",
        targets=_normal_targets,
        validate=validate,
        inputs=_scaled_inputs(_scale(name)),
    )


def _scale(name: str) -> float:
    # relu6: some inputs beyond the cap at 6; the hard ones: some beyond +-3, where they turn flat
    return 4.0 if name in ("relu6", "hard_sigmoid", "hard_swish") else 3.0


for _name in ("sigmoid", "tanh", "relu", "relu6", "silu", "hard_sigmoid", "hard_swish", "leaky_relu", "softmax", "gelu"):
    CASES.append(_activation_case(_name))


# models -----------------------------------------------------------------------


def _regression_validate(model: str):
    def validate(config: Config) -> None:
        _positive_int(model, config, "units")
        require(model, len(config["input_shape"]) == 1, f"input_shape must have one entry, received {config['input_shape']}")
        if "from_logits" in config:
            require(model, isinstance(config["from_logits"], bool), f"from_logits must be true or false, received {config['from_logits']!r}")

    return validate


CASES.append(
    Case(
        name="linear_regression",
        family="dense",
        description="Linear regression: Y = X @ W + b, mean squared error",
        defaults={"units": 1, "input_shape": [8], "batch": 16},
        spec=lambda c: stack("linear_regression", c["input_shape"], [("dense", {"units": c["units"]})]),
        loss="mean_squared_error",
        targets=_normal_targets,
        validate=_regression_validate("linear_regression"),
    )
)

CASES.append(
    Case(
        name="logistic_regression",
        family="dense",
        description="Logistic regression: logits X @ W + b, binary cross-entropy on logits",
        defaults={"units": 1, "from_logits": True, "input_shape": [8], "batch": 16},
        spec=lambda c: stack(
            "logistic_regression",
            c["input_shape"],
            [("dense", {"units": c["units"]})] + ([] if c["from_logits"] else [("sigmoid", {})]),
        ),
        loss="binary_crossentropy",
        loss_kwargs=lambda c: {"from_logits": c["from_logits"]},
        targets=_binary_targets,
        validate=_regression_validate("logistic_regression"),
    )
)


def _mlp_validate(config: Config) -> None:
    units = config["units"]
    if isinstance(units, int) and not isinstance(units, bool):
        config["units"] = units = [units]
    require("mlp", isinstance(units, list) and all(isinstance(u, int) and not isinstance(u, bool) and u > 0 for u in units), f"units must be a list of positive integers (one per hidden layer), received {units!r}")
    _positive_int("mlp", config, "num_classes")
    require("mlp", config["num_classes"] >= 2, f"num_classes must be at least 2, received {config['num_classes']}")
    require("mlp", len(config["input_shape"]) == 1, f"input_shape must have one entry, received {config['input_shape']}")
    _validate_activation("mlp", config)
    rate = config["dropout"]
    require("mlp", isinstance(rate, (int, float)) and not isinstance(rate, bool) and 0 <= rate < 1, f"dropout must be a rate in [0, 1), received {rate!r}")
    require("mlp", isinstance(config["training"], bool), f"training must be true or false, received {config['training']!r}")
    for key in ("from_logits", "softmax"):
        require("mlp", isinstance(config[key], bool), f"{key} must be true or false, received {config[key]!r}")
    l2 = config["kernel_regularizer"]
    require("mlp", l2 is None or (isinstance(l2, (int, float)) and not isinstance(l2, bool) and l2 >= 0), f"kernel_regularizer must be an L2 factor >= 0 or null, received {l2!r}")


def _mlp_spec(config: Config):
    """(Dense -> activation (-> Dropout)) per hidden width, then Dense logits; L2 on every kernel."""
    l2 = config["kernel_regularizer"] or None
    layers = []
    for width in config["units"]:
        layers.append(("dense", {"units": width, "kernel_regularizer": l2}))
        layers.append(activation_layer(config["activation"], config))
        if config["dropout"]:
            layers.append(("dropout", {"rate": config["dropout"]}))
    layers.append(("dense", {"units": config["num_classes"], "kernel_regularizer": l2}))
    if config["softmax"]:  # probabilities out: the loss must then take from_logits=False
        layers.append(activation_layer("softmax", config))
    return stack("mlp", config["input_shape"], layers)


CASES.append(
    Case(
        name="mlp",
        family="dense",
        description="Multilayer perceptron: (Dense -> activation) per width in units, Dense logits, softmax cross-entropy",
        defaults={
            "units": [16, 8],
            "activation": "relu",
            **ACTIVATION_DEFAULTS,
            "num_classes": 4,
            "dropout": 0.0,
            "kernel_regularizer": None,
            "training": False,
            "softmax": False,
            "from_logits": True,
            "input_shape": [10],
            "batch": 8,
        },
        spec=_mlp_spec,
        loss="sparse_categorical_crossentropy",
        loss_kwargs=lambda c: {"from_logits": c["from_logits"]},
        targets=_label_targets,
        validate=_mlp_validate,
    )
)
