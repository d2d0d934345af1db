"""What every runner receives and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from parity.convert.base import Arrays


@dataclass
class RunRequest:
    """Everything an implementation needs, as NumPy arrays in float64 (cast by the runner).

    ``weights`` are canonical (scratch layout). ``cotangent`` is G in L = sum(output * G).
    ``trace`` asks for every layer's output and the gradient of L with respect to it.
    """

    case: str
    config: dict[str, Any]
    dtype: str
    weights: Arrays
    inputs: np.ndarray
    targets: np.ndarray
    cotangent: np.ndarray
    trace: bool = False
    disabled_rules: tuple[str, ...] = ()  # conversion rules to forget (divergence cases' naive ports)
    dropout_masks: dict[str, np.ndarray] | None = None  # scratch only: the masks a framework drew
    spec: Any = None  # the model (parity.spec.model.ModelSpec)
    loss: str | None = None  # scratch.losses name
    loss_kwargs: dict[str, Any] = field(default_factory=dict)
    training: bool = False
    constants: str = ""  # scratch only: whose rounding of formula constants to use (parity.runners.reference)
    backward: bool = True  # scratch only: False runs the forward pass alone (output and activations, no gradients)


@dataclass
class LayerTrace:
    name: str  # the scratch layer's (canonical) name
    output: np.ndarray
    grad: np.ndarray  # dL/d(output) for L = sum(model output * G)


@dataclass
class RunResult:
    """Outputs and gradients of one implementation, everything in canonical layout.

    ``grads``: dL/d(input) under "input" (absent for integer ids) and dL/dθ for every trainable parameter, L = sum(Y * G).
    ``loss_grads``: d(loss)/dθ for the case's training loss.
    ``weights``: every parameter and state read back from the framework after the
    forward pass (so a corrupted conversion, or a running-statistics update, shows).
    ``computed_dtype``: the dtype the output really had.
    """

    impl: str
    output: np.ndarray
    loss: float
    grads: Arrays
    loss_grads: Arrays
    weights: Arrays
    computed_dtype: str
    trace: list[LayerTrace] = field(default_factory=list)
    dropout_masks: dict[str, np.ndarray] = field(default_factory=dict)  # 0/1 masks drawn in training mode


def dropout_mask(output: np.ndarray) -> np.ndarray:
    """The 0/1 mask an inverted-dropout layer applied, read off its output.

    Exact wherever the layer's input is non-zero; where the input is zero the mask
    cannot be seen, and does not matter for the output or the gradient (such zeros
    come from a ReLU, whose own derivative is zero there).
    """
    return (np.asarray(output) != 0).astype(np.float64)


def integer_input(spec) -> bool:
    """The model reads integer ids (``input_dtype == "int"``): they stay integers, and have no gradient."""
    return spec is not None and spec.input_dtype == "int"


def input_array(inputs: np.ndarray, spec, dtype: str) -> np.ndarray:
    """The model input as the implementations take it: ids as int64, anything else in the run's dtype."""
    return inputs.astype(np.int64) if integer_input(spec) else inputs.astype(dtype)


def target_array(targets: np.ndarray, dtype: str) -> np.ndarray:
    """Integer labels stay integers; real targets take the run's dtype."""
    if np.issubdtype(targets.dtype, np.integer):
        return targets.astype(np.int64)
    return targets.astype(dtype)


KERAS_BACKENDS = {"keras-torch": "torch", "keras-jax": "jax", "keras-tensorflow": "tensorflow"}
# Not public implementations: Keras as it comes, where float64 silently becomes float32
# (JAX without x64; the torch backend's type promotion), for the divergence cases that show it.
# Each is (backend, x64 worker, function the worker runs). x64 changes only the promotion table
# on the torch backend, so keras-torch-x32 runs in the keras-torch worker with the table as Keras
# ships it for that request (parity.runners.worker.promotion_as_shipped): one process fewer.
HIDDEN_IMPLEMENTATIONS = {
    "keras-jax-x32": ("jax", False, "parity.runners.keras_runner:run_keras"),
    "keras-torch-x32": ("torch", True, "parity.runners.worker:run_keras_as_shipped"),
}


def needs_x64(impl: str, dtype: str) -> bool:
    """JAX runs float32 exactly as users run it (x64 off) and float64 with x64 on.

    (x64 changes more than float64: with it on, Keras 3.15's JAX recurrent layer without biases
    crashes in float32, because keras/src/backend/jax/rnn.py makes its zero biases
    with jnp.zeros and no dtype.)
    """
    return dtype == "float64" or impl != "keras-jax"
