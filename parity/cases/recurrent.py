"""Cases of the recurrent family: SimpleRNN, LSTM, GRU alone, and three sequence models.

Inputs are batch-first, ``input_shape = [T, F]`` (steps, features). The naive torch ports of
the divergence cases are these specs with a rule switched off (``rnn_batch_first``,
``gru_reset_before``; parity/layers/recurrent.py).
"""

from __future__ import annotations

import numpy as np

from parity.case import Case, Config, require
from parity.spec.model import stack

# This family's cases, in the order `parity list` shows them (collected by parity.cases).
CASES: list[Case] = []

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
    "input_shape": [7, 3],
    "batch": 4,
}


def _layer_case(name: str, description: str, extra: Config) -> Case:
    keys = ("units", "return_sequences", "use_bias", *sorted(extra))
    return Case(
        name=name,
        family="recurrent",
        description=description,
        defaults={**LAYER_DEFAULTS, **extra},
        spec=lambda c: stack(name, c["input_shape"], [(name, {k: c[k] for k in keys})]),
        loss="mean_squared_error",
        targets=_normal_targets,
        validate=_validate(name, ("units",), keys[1:]),
    )


CASES.append(_layer_case("simple_rnn", "One SimpleRNN layer: h_t = tanh(x_t W + h_{t-1} U + b)", {}))
CASES.append(_layer_case("lstm", "One LSTM layer, gates (i, f, c, o)", {}))
CASES.append(_layer_case("gru", "One GRU layer, gates (z, r, h); reset_after=True is nn.GRU's form", {"reset_after": True}))


def _bidirectional_case(layer: str, description: str) -> Case:
    name = f"bidirectional_{layer}"
    keys = ("units", "return_sequences", "use_bias")
    return Case(
        name=name,
        family="recurrent",
        description=description,
        defaults=dict(LAYER_DEFAULTS),
        spec=lambda c: stack(name, c["input_shape"], [("bidirectional", {"layer": layer, **{k: c[k] for k in keys}})]),
        loss="mean_squared_error",
        targets=_normal_targets,
        validate=_validate(name, ("units",), keys[1:]),
    )


CASES.append(
    _bidirectional_case("lstm", "Bidirectional(LSTM), merge_mode='concat': a forward and a backward LSTM, (B, T, 2H)")
)
CASES.append(
    _bidirectional_case("gru", "Bidirectional(GRU), reset_after=True (nn.GRU's form), merge_mode='concat', (B, T, 2H)")
)


# Models -----------------------------------------------------------------------

def _classifier_case(name: str, layer: str, description: str, extra: Config) -> Case:
    """``layer`` -> last hidden state -> Dense logits; ``extra``: the layer's own keys and their defaults."""
    return Case(
        name=name,
        family="recurrent",
        description=description,
        defaults={"units": 8, "num_classes": 5, **extra, "input_shape": [10, 4], "batch": 6},
        spec=lambda c: stack(
            name,
            c["input_shape"],
            [(layer, {"units": c["units"], **{k: c[k] for k in extra}}), ("dense", {"units": c["num_classes"]})],
        ),
        loss="sparse_categorical_crossentropy",
        targets=_label_targets,
        validate=_validate(name, ("units", "num_classes"), tuple(extra)),
    )


CASES.append(
    _classifier_case(
        "rnn_classifier", "simple_rnn", "SimpleRNN -> last hidden state -> Dense logits, softmax cross-entropy", {}
    )
)

CASES.append(
    Case(
        name="lstm_seq",
        family="recurrent",
        description="LSTM (every step) -> Dense per step, mean squared error",
        defaults={"units": 8, "output_units": 3, "input_shape": [10, 4], "batch": 6},
        spec=lambda c: stack("lstm_seq", c["input_shape"], [("lstm", {"units": c["units"], "return_sequences": True}), ("dense", {"units": c["output_units"]})]),
        loss="mean_squared_error",
        targets=_normal_targets,
        validate=_validate("lstm_seq", ("units", "output_units"), ()),
    )
)

CASES.append(
    _classifier_case("lstm_classifier", "lstm", "LSTM -> last hidden state -> Dense logits, softmax cross-entropy", {})
)
CASES.append(
    _classifier_case(
        "gru_classifier",
        "gru",
        "GRU -> last hidden state -> Dense logits, softmax cross-entropy",
        {"reset_after": True},
    )
)
