"""What a training run needs, and the optimisers by name with their hyperparameters.

Hyperparameters are named as Keras names them. Each framework's optimiser is
built with every value passed explicitly (their defaults differ: see the
divergence cases), and scratch follows the formula of the framework it is
compared with (``convention``), because where the formulas differ (Adam's and
RMSprop's epsilon, SGD's momentum under a changing rate, coupled or decoupled
weight decay) no choice of hyperparameters makes the two frameworks equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Momentum, beta_1, beta_2 and weight decay are 0.875, 0.875, 1 - 2**-10 and 2**-8, not
# the customary 0.9, 0.9, 0.999 and 0.004: Keras' TensorFlow backend turns these four
# Python floats into tensors through float32 (``ops.cast(self.beta_1, dtype)`` is
# ``tf.cast`` of a Python float), so in float64 only values exact in float32 train
# identically on every backend (divergence case ``tf_optimizer_float32_hyperparameters``).
OPTIMIZERS: dict[str, dict[str, Any]] = {
    "sgd": {"kind": "sgd", "learning_rate": 0.05, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0},
    "momentum": {"kind": "sgd", "learning_rate": 0.05, "momentum": 0.875, "nesterov": False, "weight_decay": 0.0},
    "nesterov": {"kind": "sgd", "learning_rate": 0.05, "momentum": 0.875, "nesterov": True, "weight_decay": 0.0},
    "rmsprop": {"kind": "rmsprop", "learning_rate": 0.001, "rho": 0.9, "epsilon": 1e-7, "centered": False, "momentum": 0.0, "weight_decay": 0.0},
    "rmsprop_centered": {"kind": "rmsprop", "learning_rate": 0.001, "rho": 0.9, "epsilon": 1e-7, "centered": True, "momentum": 0.0, "weight_decay": 0.0},
    "adam": {"kind": "adam", "learning_rate": 0.001, "beta_1": 0.875, "beta_2": 0.9990234375, "epsilon": 1e-7, "weight_decay": 0.0},
    "adamw": {"kind": "adamw", "learning_rate": 0.001, "beta_1": 0.875, "beta_2": 0.9990234375, "epsilon": 1e-7, "weight_decay": 0.00390625},
}

# Keys of a spec that are not hyperparameters: how the torch side converts a Keras
# optimiser (see framework.pytorch.optimizers), and the learning-rate schedule.
TORCH_RULES = ("torch_keras_epsilon", "torch_decoupled_weight_decay", "torch_keras_clipping")

# Gradient clipping, by Keras' names (at most one; absent or None: no clipping). Keras takes
# them as optimiser arguments; torch calls torch.nn.utils.clip_grad_norm_ / clip_grad_value_
# between backward() and step(); scratch uses scratch.clipping. ``global_clipnorm`` is what
# torch's clip_grad_norm_ computes (divergence case ``gradient_clipping``).
CLIPPING = ("clipnorm", "global_clipnorm", "clipvalue")


def convention(impl: str, spec: dict[str, Any] | None = None) -> str:
    """Whose formula scratch follows when compared with ``impl``.

    torch follows Keras' Adam once its epsilon is converted per step (``torch_keras_epsilon``).
    """
    if impl == "torch" and not (spec or {}).get("torch_keras_epsilon"):
        return "torch"
    return "keras"


def hyperparameters(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k not in ("kind", "schedule", *TORCH_RULES, *CLIPPING)}


def clipping(spec: dict[str, Any]) -> dict[str, float]:
    """The clipping option a spec sets, ``{}`` or one of ``{"clipnorm": c}``, ``{"global_clipnorm": c}``, ``{"clipvalue": v}``."""
    chosen = {k: spec[k] for k in CLIPPING if spec.get(k) is not None}
    if len(chosen) > 1:
        raise ValueError(f"only one of {', '.join(CLIPPING)} can be set, received {chosen}")
    for key, value in chosen.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{key} must be a positive number, received {value!r}")
    return chosen


@dataclass
class TrainRequest:
    """One training run: canonical initial weights, a data set, and the order of its mini-batches."""

    case: str
    config: dict[str, Any]
    dtype: str
    weights: dict[str, np.ndarray]
    inputs: np.ndarray  # (N, ...) float64
    targets: np.ndarray  # (N, ...)
    batches: list[np.ndarray]  # index arrays, one per step, in order
    optimizer: dict[str, Any]  # {"kind": ..., hyperparameters...}
    convention: str = "keras"  # scratch only
    training: bool = True  # layers in training mode (running statistics, stochastic masks)
    record_weights: bool = True  # False: keep only the final weights (long runs)
    disabled_rules: tuple[str, ...] = ()
    dropout_masks: dict[str, list[np.ndarray]] | None = None  # scratch only: masks drawn by a framework
    eval_inputs: np.ndarray | None = None  # held-out inputs, predicted in inference mode after training
    spec: Any = None  # the model; None: the case's spec for ``config``
    loss: str | None = None  # None: the case's loss
    loss_kwargs: dict[str, Any] | None = None
    # "shared": every implementation starts from ``weights``; "own": each framework draws its own
    # default initialisation (seeded by ``init_seed``), as a port that copies no weights does.
    initialisation: str = "shared"
    init_seed: int = 0
    constants: str = ""  # scratch only: whose rounding of formula constants to use (parity.runners.reference)
    # torch and Keras: seed the generators dropout draws from before the run (torch's global generator,
    # forked; Keras' global seed, before its layers are built), so a rerun draws the same masks; None:
    # they draw from wherever the process's generators stand.
    mask_seed: int | None = None
    # A folder: the weights after each recorded step are written under it as they are read, one folder
    # per snapshot (``0/``, ``1/``, ...; parity.runners.stored), and the result names them instead of
    # holding them, so the model goes once its steps are written; None: the result holds the arrays.
    store: str | None = None

    def model(self) -> tuple[Any, str, dict[str, Any]]:
        """(spec, loss, loss keyword arguments) of this run."""
        if self.spec is not None:
            return self.spec, self.loss or "mean_squared_error", dict(self.loss_kwargs or {})
        from parity.cases import get_case

        case = get_case(self.case)
        return case.model_spec(self.config), case.loss, case.loss_kwargs(self.config)


@dataclass
class TrainResult:
    impl: str
    losses: np.ndarray  # (steps,) the loss of each step's batch before its update
    weights: list[dict[str, np.ndarray]]  # canonical weights after each step (or only the last)
    outputs: dict[str, np.ndarray] = field(default_factory=dict)  # e.g. predictions on held-out data
    dropout_masks: dict[str, list[np.ndarray]] = field(default_factory=dict)
