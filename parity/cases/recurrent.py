"""Cases of the recurrent family: SimpleRNN, LSTM, GRU alone, and three sequence models.

Inputs are batch-first, ``input_shape = [T, F]`` (steps, features). The single-layer
cases have two keys for the PyTorch side only, which the divergence cases use to
build the naive port: ``batch_first`` (nn.RNN/LSTM/GRU's argument; the harness feeds
(B, T, F)) and, for the GRU, ``torch_module`` ("auto": nn.GRU for reset_after=True,
GRUResetBefore for reset_after=False; "nn.GRU": nn.GRU whatever reset_after says).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from parity.case import Case, Config, require

# This family's cases, in the order `parity list` shows them (collected by parity.cases).
CASES: list[Case] = []

TORCH_GRU_MODULES = ("auto", "nn.GRU")


# Validation -------------------------------------------------------------------


def _positive_int(model: str, config: Config, key: str) -> None:
    value = config[key]
    require(
        model,
        isinstance(value, int) and not isinstance(value, bool) and value > 0,
        f"{key} must be a positive integer, received {value!r}",
    )


def _bool(model: str, config: Config, key: str) -> None:
    require(model, isinstance(config[key], bool), f"{key} must be true or false, received {config[key]!r}")


def _sequence_shape(model: str, config: Config) -> None:
    shape = config["input_shape"]
    require(model, len(shape) == 2, f"input_shape must be [steps, features] (two entries), received {shape}")


def _validate(model: str, ints: tuple[str, ...], bools: tuple[str, ...]):
    def validate(config: Config) -> None:
        _sequence_shape(model, config)
        for key in ints:
            _positive_int(model, config, key)
        for key in bools:
            _bool(model, config, key)
        if "num_classes" in config:
            require(
                model, config["num_classes"] >= 2, f"num_classes must be at least 2, received {config['num_classes']}"
            )
        if "torch_module" in config:
            require(
                model,
                config["torch_module"] in TORCH_GRU_MODULES,
                f"torch_module must be one of {', '.join(TORCH_GRU_MODULES)}, received {config['torch_module']!r}",
            )

    return validate


# Targets ----------------------------------------------------------------------


def _normal_targets(rng: np.random.Generator, config: Config, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape)


def _label_targets(rng: np.random.Generator, config: Config, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, shape[-1], size=shape[:-1])


# Single layers ----------------------------------------------------------------

LAYER_DEFAULTS: Config = {
    "units": 5,
    "return_sequences": True,
    "use_bias": True,
    "batch_first": True,
    "input_shape": [7, 3],
    "batch": 4,
}


def _layer_kwargs(keys: tuple[str, ...]):
    def kwargs(framework: str, config: Config) -> dict[str, Any]:
        out = {"input_shape": tuple(config["input_shape"]), **{k: config[k] for k in keys}}
        if framework == "torch":
            out["batch_first"] = config["batch_first"]
            if "torch_module" in config:
                out["module"] = config["torch_module"]
        return out

    return kwargs


def _layer_case(name: str, cell: str, description: str, extra: Config) -> Case:
    keys = ("units", "return_sequences", "use_bias", *sorted(k for k in extra if k != "torch_module"))
    return Case(
        name=name,
        family="recurrent",
        description=description,
        defaults={**LAYER_DEFAULTS, **extra},
        builders={
            "scratch": f"scratch.models.rnn_layers:{name}",
            "torch": f"framework.pytorch.models.rnn_layers:{name}",
            "keras": f"framework.keras3.models.rnn_layers:{name}",
        },
        kwargs=_layer_kwargs(keys),
        loss="mean_squared_error",
        targets=_normal_targets,
        validate=_validate(name, ("units",), tuple(k for k in (*keys, "batch_first") if k not in ("units",))),
        notes=f"torch: RNNLayer({cell}(..., batch_first=True)); batch_first is a torch-only key.",
    )


CASES.append(_layer_case("simple_rnn", "nn.RNN", "One SimpleRNN layer: h_t = tanh(x_t W + h_{t-1} U + b)", {}))
CASES.append(_layer_case("lstm", "nn.LSTM", "One LSTM layer, gates (i, f, c, o)", {}))
CASES.append(
    _layer_case(
        "gru",
        "nn.GRU or GRUResetBefore",
        "One GRU layer, gates (z, r, h); reset_after=True is nn.GRU's form",
        {"reset_after": True, "torch_module": "auto"},
    )
)


# Models -----------------------------------------------------------------------

CASES.append(
    Case(
        name="rnn_classifier",
        family="recurrent",
        description="SimpleRNN -> last hidden state -> Dense logits, softmax cross-entropy",
        defaults={"units": 8, "num_classes": 5, "input_shape": [10, 4], "batch": 6},
        builders={
            "scratch": "scratch.models.rnn:rnn_classifier",
            "torch": "framework.pytorch.models.rnn:rnn_classifier",
            "keras": "framework.keras3.models.rnn:rnn_classifier",
        },
        kwargs=lambda fw, c: {
            "input_shape": tuple(c["input_shape"]),
            "units": c["units"],
            "num_classes": c["num_classes"],
        },
        loss="sparse_categorical_crossentropy",
        targets=_label_targets,
        validate=_validate("rnn_classifier", ("units", "num_classes"), ()),
    )
)

CASES.append(
    Case(
        name="lstm_seq",
        family="recurrent",
        description="LSTM (every step) -> Dense per step, mean squared error",
        defaults={"units": 8, "output_units": 3, "input_shape": [10, 4], "batch": 6},
        builders={
            "scratch": "scratch.models.rnn:lstm_seq",
            "torch": "framework.pytorch.models.rnn:lstm_seq",
            "keras": "framework.keras3.models.rnn:lstm_seq",
        },
        kwargs=lambda fw, c: {
            "input_shape": tuple(c["input_shape"]),
            "units": c["units"],
            "output_units": c["output_units"],
        },
        loss="mean_squared_error",
        targets=_normal_targets,
        validate=_validate("lstm_seq", ("units", "output_units"), ()),
    )
)

CASES.append(
    Case(
        name="lstm_classifier",
        family="recurrent",
        description="LSTM -> last hidden state -> Dense logits, softmax cross-entropy",
        defaults={"units": 8, "num_classes": 5, "input_shape": [10, 4], "batch": 6},
        builders={
            "scratch": "scratch.models.rnn:lstm_classifier",
            "torch": "framework.pytorch.models.rnn:lstm_classifier",
            "keras": "framework.keras3.models.rnn:lstm_classifier",
        },
        kwargs=lambda fw, c: {"input_shape": tuple(c["input_shape"]), "units": c["units"], "num_classes": c["num_classes"]},
        loss="sparse_categorical_crossentropy",
        targets=_label_targets,
        validate=_validate("lstm_classifier", ("units", "num_classes"), ()),
    )
)

CASES.append(
    Case(
        name="gru_classifier",
        family="recurrent",
        description="GRU -> last hidden state -> Dense logits, softmax cross-entropy",
        defaults={"units": 8, "num_classes": 5, "reset_after": True, "input_shape": [10, 4], "batch": 6},
        builders={
            "scratch": "scratch.models.rnn:gru_classifier",
            "torch": "framework.pytorch.models.rnn:gru_classifier",
            "keras": "framework.keras3.models.rnn:gru_classifier",
        },
        kwargs=lambda fw, c: {
            "input_shape": tuple(c["input_shape"]),
            "units": c["units"],
            "num_classes": c["num_classes"],
            "reset_after": c["reset_after"],
        },
        loss="sparse_categorical_crossentropy",
        targets=_label_targets,
        validate=_validate("gru_classifier", ("units", "num_classes"), ("reset_after",)),
    )
)
