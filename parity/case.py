"""A case is data: a model spec built from a configuration, and seeded generators.

Adding a model means adding one ``Case`` to a family's list in ``parity/cases/``: a function
from its configuration to a model spec (parity.spec), whose layer kinds the registry knows, plus
its inputs, targets and loss. The harness generates the scratch, torch and Keras models from
the spec; the hand-written models in ``framework/`` are the readable ports.
"""

from __future__ import annotations

import json
import math
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Config = dict[str, Any]


class CaseError(ValueError):
    """Bad usage or bad input for a case (exit status 2 on the command line)."""


@dataclass(frozen=True)
class Case:
    """One model (or single layer) under test.

    Attributes:
        name: the model name on the command line.
        family: "dense", "conv", "recurrent", ...
        description: one line.
        defaults: configuration keys, named as the Keras argument is named, plus
            ``input_shape`` (one sample, batch axis excluded) and ``batch``.
        spec: maps a (validated) configuration to the model spec.
        loss: scratch loss name (a key of ``scratch.losses.LOSSES``).
        targets: draws targets for the loss: (rng, config, output_shape) -> array.
        validate: raises ``CaseError`` for a configuration that cannot be built.
        inputs: draws the input batch: (rng, config) -> array; standard normal by default.
        training: whether the forward pass runs in training mode (config key ``training``
            overrides it where the case has that key).
    """

    name: str
    family: str
    description: str
    defaults: Config
    spec: Callable[[Config], Any]
    loss: str
    targets: Callable[[np.random.Generator, Config, tuple[int, ...]], np.ndarray]
    validate: Callable[[Config], None] | None = None
    inputs: Callable[[np.random.Generator, Config], np.ndarray] | None = None
    notes: str = ""
    loss_kwargs: Callable[[Config], dict[str, Any]] = field(default=lambda config: {})

    @property
    def keys(self) -> list[str]:
        return sorted(self.defaults)

    def configure(self, overrides: Config | None = None) -> Config:
        """The defaults with ``overrides`` applied; unknown keys are a ``CaseError``."""
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(self.defaults))
        if unknown:
            raise CaseError(
                f"model {self.name!r}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(self.keys)}"
            )
        config = {**self.defaults, **overrides}
        if isinstance(config.get("input_shape"), int):
            config["input_shape"] = [config["input_shape"]]
        _require_positive_int(self.name, config, "batch")
        shape = config.get("input_shape")
        if not isinstance(shape, (list, tuple)) or not all(isinstance(d, int) and d > 0 for d in shape):
            raise CaseError(f"model {self.name!r}: input_shape must be a list of positive integers, received {shape!r}")
        config["input_shape"] = list(shape)
        if self.validate is not None:
            self.validate(config)
        self.require_fits(config)
        return config

    def require_fits(self, config: Config, batch: int | None = None) -> None:
        """Refuse, before anything is allocated, a configuration whose arrays cannot fit in memory.

        Sizes come from the built scratch model (``build`` and ``output_shape`` allocate
        nothing): every parameter and state array (``weight_shapes``), the input and every
        layer's output for ``batch`` samples (the configuration's batch by default), one
        float64 copy of each. A run holds several copies at once (canonical weights, each
        implementation's own, gradients, the activations cached for the backward pass, in
        this process and in the Keras workers), so one copy may use at most
        ``1 / MEMORY_COPIES`` of the memory available.
        """
        batch = config["batch"] if batch is None else batch
        model = self.build("scratch", config)
        arrays = [("input", "input", (batch, *config["input_shape"]))]
        for layer in model.layers:
            arrays += [(layer.name, f"parameter {key!r}", tuple(shape)) for key, shape in layer.weight_shapes().items()]
            arrays.append((layer.name, "output", (batch, *layer.output_shape(layer.input_shape))))
        sizes = [8 * math.prod(int(d) for d in shape) for _, _, shape in arrays]  # Python ints: no overflow
        available = available_memory()
        budget = available // MEMORY_COPIES
        if sum(sizes) <= budget:
            return
        layer, what, shape = arrays[max(range(len(arrays)), key=sizes.__getitem__)]
        where = "the input" if what == "input" else f"layer {layer!r}, {what}"
        raise CaseError(
            f"model {self.name!r} does not fit in memory: {where} has shape {shape} ({_bytes(max(sizes))}); "
            f"parameters and activations need {_bytes(sum(sizes))} in float64, more than the budget of {_bytes(budget)} "
            f"(1/{MEMORY_COPIES} of the {_bytes(available)} available)"
        )

    def model_spec(self, config: Config):
        """The model spec of this configuration, named after the case."""
        from dataclasses import replace

        return replace(self.spec(config), name=self.name)

    def build(self, framework: str, config: Config):
        """The model generated from the spec: "scratch", "torch" (NCHW) or "keras" (imports Keras)."""
        from parity.spec import generate

        builders = {"scratch": generate.build_scratch, "torch": generate.build_torch, "keras": generate.build_keras}
        return builders[framework](self.model_spec(config))

    def rng(self, seed: int, stream: str) -> np.random.Generator:
        """An independent generator per (case, seed, stream), derived from the case's name."""
        return np.random.default_rng([zlib.crc32(self.name.encode()), seed, zlib.crc32(stream.encode())])

    def draw_inputs(self, config: Config, seed: int) -> np.ndarray:
        rng = self.rng(seed, "inputs")
        if self.inputs is not None:
            return self.inputs(rng, config)
        return rng.standard_normal((config["batch"], *config["input_shape"]))


# How many float64 copies of a model's parameters and activations a run may hold at once.
MEMORY_COPIES = 4


def available_memory() -> int:
    """Bytes this process may still allocate: the system's available memory, within a cgroup's limit."""
    available = None
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
    except OSError:
        pass
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            available = 8 * 2**30  # no way to ask: assume a small machine
    try:
        with open("/sys/fs/cgroup/memory.max") as limit, open("/sys/fs/cgroup/memory.current") as current:
            text = limit.read().strip()
            if text != "max":
                available = min(available, int(text) - int(current.read()))
    except (OSError, ValueError):
        pass
    return max(available, 0)


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _require_positive_int(model: str, config: Config, key: str) -> None:
    value = config.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CaseError(f"model {model!r}: {key} must be a positive integer, received {value!r}")


def require(model: str, condition: bool, message: str) -> None:
    """Raise a ``CaseError`` naming the model unless ``condition`` holds."""
    if not condition:
        raise CaseError(f"model {model!r}: {message}")


def parse_value(text: str) -> Any:
    """``--set`` values: JSON where they parse (numbers, lists, true/false/null), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
