"""Cases of the embedding family: integer ids [T] in, one row of a table per id out.

The inputs are integer ids drawn uniformly from [0, input_dim) (``Case.inputs``), and each
spec says ``input_dtype="int"``: the runners keep them integers and report no input gradient.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from parity.case import Case, Config, require
from parity.spec.model import stack

# This family's cases, in the order `parity list` shows them (collected by parity.cases).
CASES: list[Case] = []


def _ids(rng: np.random.Generator, config: Config) -> np.ndarray:
    return rng.integers(0, config["input_dim"], size=(config["batch"], *config["input_shape"]))  # (B, T)


def _normal_targets(rng: np.random.Generator, config: Config, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape)


def _label_targets(rng: np.random.Generator, config: Config, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, shape[-1], size=shape[:-1])


def _positive_int(model: str, config: Config, key: str) -> None:
    value = config[key]
    require(model, isinstance(value, int) and not isinstance(value, bool) and value > 0, f"{key} must be a positive integer, received {value!r}")


def _validate(model: str, keys: tuple[str, ...]):
    def validate(config: Config) -> None:
        shape = config["input_shape"]
        require(model, len(shape) == 1, f"input_shape must be [steps] (integer ids), received {shape}")
        for key in keys:
            _positive_int(model, config, key)
        padding_idx = config.get("padding_idx")
        require(
            model,
            padding_idx is None or (isinstance(padding_idx, int) and not isinstance(padding_idx, bool) and 0 <= padding_idx < config["input_dim"]),
            f"padding_idx must be null or an id in [0, {config['input_dim']}), received {padding_idx!r}",
        )

    return validate


def embedding_layer(config: Config) -> tuple[str, Config]:
    return "embedding", {"input_dim": config["input_dim"], "output_dim": config["output_dim"], "padding_idx": config.get("padding_idx")}


def _embedding_spec(config: Config):
    return replace(stack("embedding", config["input_shape"], [embedding_layer(config)]), input_dtype="int")


def _text_classifier_spec(config: Config):
    layers = [embedding_layer(config), ("global_avg_pool1d", {}), ("dense", {"units": config["num_classes"]})]
    return replace(stack("text_classifier", config["input_shape"], layers), input_dtype="int")


CASES.append(
    Case(
        name="embedding",
        family="embedding",
        description="One Embedding: Z = W[X], a row of W per integer id",
        defaults={"input_dim": 10, "output_dim": 4, "padding_idx": None, "input_shape": [6], "batch": 3},
        spec=_embedding_spec,
        loss="mean_squared_error",
        targets=_normal_targets,
        validate=_validate("embedding", ("input_dim", "output_dim")),
        inputs=_ids,
    )
)

CASES.append(
    Case(
        name="text_classifier",
        family="embedding",
        description="Bag of embeddings: Embedding -> GlobalAveragePooling1D -> Dense logits, softmax cross-entropy",
        defaults={"input_dim": 20, "output_dim": 8, "padding_idx": None, "num_classes": 3, "input_shape": [7], "batch": 4},
        spec=_text_classifier_spec,
        loss="sparse_categorical_crossentropy",
        targets=_label_targets,
        validate=_validate("text_classifier", ("input_dim", "output_dim", "num_classes")),
        inputs=_ids,
    )
)
