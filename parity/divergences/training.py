"""Divergences of training: optimiser formulas and defaults, regularisation, dropout.

A training divergence compares two whole trajectories (loss and every weight after
every step, from the same weights on the same batches) instead of one forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from parity.cases import get_case
from parity.divergences.base import DivergenceResult
from parity.tolerance import TRAJECTORY_FLOAT64_REL


@dataclass(frozen=True)
class TrainSide:
    """An implementation and the optimiser spec it trains with (``None`` values: that framework's defaults)."""

    impl: str
    optimizer: dict[str, Any] = field(default_factory=dict)
    convention: str = "keras"  # scratch only: whose formula it follows
    config: dict[str, Any] = field(default_factory=dict)  # case configuration overrides for this side
    disabled_rules: tuple[str, ...] = ()  # conversion rules this side forgets


@dataclass(frozen=True)
class TrainVariant:
    a: TrainSide
    b: TrainSide


@dataclass(frozen=True)
class TrainingDivergence:
    name: str
    area: str
    differs: str
    rule: str
    converter: str
    case: str
    config: dict[str, Any]
    naive: TrainVariant
    converted: TrainVariant
    steps: int = 20
    layer: str = "optimizer"
    dtype: str = "float64"
    quantities: tuple[str, ...] = ()

    def run(self, seed: int = 0) -> DivergenceResult:
        return DivergenceResult(self, self.run_variant(self.naive, seed), self.run_variant(self.converted, seed))

    def run_variant(self, variant: TrainVariant, seed: int = 0):
        from parity.train import compare_trajectories, make_train_request, run_training
        from parity.training.spec import TrainRequest

        case = get_case(self.case)
        config = case.configure(self.config)
        base = make_train_request(case, config, self.dtype, seed, {}, self.steps, config["batch"])
        results = []
        for side in (variant.a, variant.b):
            side_config = case.configure({**self.config, **side.config})
            request = TrainRequest(
                **{**base.__dict__, "config": side_config, "optimizer": side.optimizer, "convention": side.convention, "disabled_rules": side.disabled_rules}
            )
            results.append(run_training(side.impl, request))
        records = compare_trajectories(self.case, self.dtype, *results)
        for r in records:
            r.tolerance = TRAJECTORY_FLOAT64_REL
        if self.quantities:
            records = [r for r in records if r.quantity.startswith(self.quantities)]
        return records


def _spec(kind: str, **values) -> dict[str, Any]:
    return {"kind": kind, **values}


# Each framework's own defaults, spelled as "leave it to the framework".
SGD_DEFAULTS = _spec("sgd", learning_rate=None, momentum=None, nesterov=None, weight_decay=None)
RMSPROP_DEFAULTS = _spec("rmsprop", learning_rate=None, rho=None, epsilon=None, centered=None, momentum=None, weight_decay=None)
ADAM_DEFAULTS = _spec("adam", learning_rate=None, beta_1=None, beta_2=None, epsilon=None, weight_decay=None)

ADAM = _spec("adam", learning_rate=1e-3, beta_1=0.875, beta_2=0.9990234375, epsilon=1e-7, weight_decay=0.0)
RMSPROP = _spec("rmsprop", learning_rate=1e-3, rho=0.9, epsilon=1e-7, centered=False, momentum=0.0, weight_decay=0.0)
MOMENTUM = _spec("sgd", learning_rate=0.05, momentum=0.875, nesterov=False, weight_decay=0.0)


# This family's divergence cases (collected by parity.divergences).
DIVERGENCES: list[TrainingDivergence] = []

DIVERGENCES.append(
    TrainingDivergence(
        name="adam_epsilon_hat",
        area="optimizers",
        differs="Keras' Adam adds epsilon to sqrt(v) after folding the bias corrections into the rate "
        "(keras/src/optimizers/adam.py: alpha = lr*sqrt(1-b2^t)/(1-b1^t); w -= alpha*m/(sqrt(v)+eps)); torch adds it to "
        "sqrt(v_hat) = sqrt(v)/sqrt(1-b2^t) (torch/optim/adam.py). The same epsilon therefore weighs sqrt(1-b2^t) times "
        "less in Keras, most in the first steps.",
        rule="eps_torch = eps_keras / sqrt(1 - beta_2^t), set before every step; no constant epsilon maps one onto the other.",
        converter="framework.pytorch.optimizers.keras_adam_epsilon",
        case="mlp",
        config={},
        naive=TrainVariant(TrainSide("torch", ADAM), TrainSide("keras-jax", ADAM)),
        converted=TrainVariant(TrainSide("torch", {**ADAM, "torch_keras_epsilon": True}), TrainSide("keras-jax", ADAM)),
    )
)

DIVERGENCES.append(
    TrainingDivergence(
        name="adam_defaults",
        area="optimizers",
        differs="Adam's epsilon defaults to 1e-8 in torch (torch/optim/adam.py) and 1e-7 in Keras (keras/src/optimizers/adam.py); "
        "the learning rate (1e-3) and betas (0.9, 0.999) agree.",
        rule="Pass every hyperparameter explicitly, epsilon mapped as in adam_epsilon_hat.",
        converter="parity.training.spec.OPTIMIZERS and framework.pytorch.optimizers.keras_adam_epsilon",
        case="mlp",
        config={},
        naive=TrainVariant(TrainSide("torch", ADAM_DEFAULTS), TrainSide("keras-jax", ADAM_DEFAULTS)),
        converted=TrainVariant(
            TrainSide("torch", {**ADAM, "beta_1": 0.9, "beta_2": 0.999, "torch_keras_epsilon": True}),
            TrainSide("keras-jax", ADAM_DEFAULTS),
        ),
    )
)

DIVERGENCES.append(
    TrainingDivergence(
        name="rmsprop_epsilon_and_rho",
        area="optimizers",
        differs="Keras' RMSprop puts epsilon inside the square root, w -= lr*g/sqrt(v + eps) (keras/src/optimizers/rmsprop.py); "
        "torch outside, w -= lr*g/(sqrt(v) + eps) (torch/optim/rmsprop.py). Defaults: Keras rho=0.9, lr=1e-3, eps=1e-7; "
        "torch alpha=0.99, lr=1e-2, eps=1e-8.",
        rule="Map rho -> alpha and the rate explicitly. No epsilon maps sqrt(v+e) onto sqrt(v)+e' for all v: the two agree "
        "only where epsilon is negligible against sqrt(v) (here: epsilon = 0 in a tanh network, where no gradient is exactly zero).",
        converter="framework.pytorch.optimizers.optimizer (rho -> alpha)",
        case="mlp",
        config={"activation": "tanh"},
        naive=TrainVariant(TrainSide("torch", RMSPROP_DEFAULTS), TrainSide("keras-jax", RMSPROP_DEFAULTS)),
        converted=TrainVariant(TrainSide("torch", {**RMSPROP, "epsilon": 0.0}), TrainSide("keras-jax", {**RMSPROP, "epsilon": 0.0})),
    )
)

DIVERGENCES.append(
    TrainingDivergence(
        name="sgd_momentum_changing_rate",
        area="optimizers",
        differs="Keras' SGD keeps v = m*v - lr*g and adds v (keras/src/optimizers/sgd.py): each step's rate is folded into "
        "the velocity. torch keeps b = m*b + g and subtracts lr*b (torch/optim/sgd.py): today's rate scales the whole "
        "history. Equal while the rate is constant; a schedule (here StepLR / ExponentialDecay(staircase=True), "
        "halving every 5 steps) separates them.",
        rule="With a constant rate they agree; with a schedule, rescale torch's momentum buffer by lr_old/lr_new when the rate changes.",
        converter="parity.training.runners.train_torch (constant rate)",
        case="mlp",
        config={},
        naive=TrainVariant(
            TrainSide("torch", {**MOMENTUM, "schedule": {"step_size": 5, "gamma": 0.5}}),
            TrainSide("keras-jax", {**MOMENTUM, "schedule": {"step_size": 5, "gamma": 0.5}}),
        ),
        converted=TrainVariant(TrainSide("torch", MOMENTUM), TrainSide("keras-jax", MOMENTUM)),
    )
)

DIVERGENCES.append(
    TrainingDivergence(
        name="weight_decay_coupled_vs_decoupled",
        area="optimizers",
        differs="torch's SGD, Adam and RMSprop add weight_decay*w to the gradient (coupled: it passes through momentum "
        "and Adam's scaling; torch/optim/sgd.py); every Keras optimiser decays decoupled, w -= lr*wd*w before the update "
        "(keras/src/optimizers/base_optimizer.py _apply_weight_decay). Same number, different regularisation.",
        rule="Keras weight_decay=wd on torch: apply w *= 1 - lr*wd before each step and give torch's optimiser none "
        "(AdamW does exactly that for Adam); torch's coupled wd on Keras: an L2(wd/2) penalty in the loss, no weight_decay.",
        converter="framework.pytorch.optimizers.decoupled_weight_decay_",
        case="mlp",
        config={},
        naive=TrainVariant(TrainSide("torch", {**MOMENTUM, "weight_decay": 0.0625}), TrainSide("keras-jax", {**MOMENTUM, "weight_decay": 0.0625})),
        converted=TrainVariant(
            TrainSide("torch", {**MOMENTUM, "weight_decay": 0.0625, "torch_decoupled_weight_decay": True}),
            TrainSide("keras-jax", {**MOMENTUM, "weight_decay": 0.0625}),
        ),
    )
)

DIVERGENCES.append(
    TrainingDivergence(
        name="optimizer_default_hyperparameters",
        area="optimizers",
        differs="Defaults differ: SGD learning rate 1e-3 in torch (torch/optim/sgd.py), 0.01 in Keras (keras/src/optimizers/sgd.py); "
        "RMSprop lr 1e-2/alpha 0.99/eps 1e-8 in torch, lr 1e-3/rho 0.9/eps 1e-7 in Keras; Adam eps 1e-8 vs 1e-7; "
        "AdamW weight_decay 1e-2 vs 4e-3. A port that writes SGD(params) for keras.optimizers.SGD() trains ten times slower.",
        rule="Write every hyperparameter explicitly on both sides.",
        converter="parity.training.spec.OPTIMIZERS (every value explicit)",
        case="mlp",
        config={},
        naive=TrainVariant(TrainSide("torch", SGD_DEFAULTS), TrainSide("keras-jax", SGD_DEFAULTS)),
        converted=TrainVariant(
            TrainSide("torch", {**SGD_DEFAULTS, "learning_rate": 0.01, "momentum": 0.0}), TrainSide("keras-jax", SGD_DEFAULTS)
        ),
    )
)

DIVERGENCES.append(
    TrainingDivergence(
        name="tf_optimizer_float32_hyperparameters",
        area="dtypes",
        differs="Keras' optimisers write ops.cast(self.beta_1, variable.dtype) (also beta_2, momentum, weight_decay; and "
        "keras.regularizers.L2 casts its factor the same way, keras/src/regularizers/regularizers.py); on "
        "the TensorFlow backend that is tf.cast of a Python float, which becomes a float32 tensor first "
        "(keras/src/backend/tensorflow/core.py cast). In float64, beta_1 = 0.9 is used as 0.899999976 in the bias "
        "correction while (1 - beta_1) stays exact: float64 training on keras-tensorflow departs from every other "
        "implementation by ~1e-8 from the first step.",
        rule="In float64, give momentum, betas, weight decay and L2 factors values exact in float32 (0.875, 1 - 2**-10, 2**-8 ...).",
        converter="parity.training.spec.OPTIMIZERS",
        case="mlp",
        config={},
        naive=TrainVariant(TrainSide("scratch", {**ADAM, "beta_1": 0.9, "beta_2": 0.999}), TrainSide("keras-tensorflow", {**ADAM, "beta_1": 0.9, "beta_2": 0.999})),
        converted=TrainVariant(TrainSide("scratch", ADAM), TrainSide("keras-tensorflow", ADAM)),
    )
)

SGD = _spec("sgd", learning_rate=0.05, momentum=0.0, nesterov=False, weight_decay=0.0)

DIVERGENCES.append(
    TrainingDivergence(
        name="keras_l2_regularizer",
        area="regularisation",
        differs="keras.regularizers.L2(l) adds l*sum(W**2) to the loss, gradient 2*l*W, on the kernel only "
        "(keras/src/regularizers/regularizers.py). torch's weight_decay=l adds l*W to the gradient of every parameter, "
        "biases included (torch/optim/sgd.py): half the pull on kernels, and a pull on biases Keras never applies.",
        rule="L2(l) on a kernel == a penalty l*sum(W**2) in the torch loss (framework.pytorch.regularizers.l2_penalty), "
        "or weight_decay=2*l in a parameter group holding only the kernels.",
        converter="framework.pytorch.regularizers.l2_penalty",
        case="mlp",
        config={"kernel_regularizer": 0.0625},
        naive=TrainVariant(TrainSide("torch", {**SGD, "weight_decay": 0.0625}, config={"kernel_regularizer": None}), TrainSide("keras-jax", SGD)),
        converted=TrainVariant(TrainSide("torch", SGD), TrainSide("keras-jax", SGD)),
    )
)

DIVERGENCES.append(
    TrainingDivergence(
        name="rnn_two_biases_training",
        area="recurrent",
        differs="torch's RNN, LSTM and GRU(reset_after=False) add two biases, b_ih + b_hh (torch/nn/modules/rnn.py), "
        "Keras one (keras/src/layers/rnn/lstm.py). Loading b into b_ih and zeros into b_hh is exact for a forward pass, "
        "but both receive the gradient of b and the optimiser moves both: the effective bias moves twice as far per step.",
        rule="Keep bias_hh at zero and out of training: rnn.bias_hh_l0.requires_grad_(False).",
        converter="parity.convert.recurrent.RecurrentConverter.torch_frozen (rule rnn_single_bias_training)",
        case="lstm_classifier",
        config={},
        naive=TrainVariant(TrainSide("torch", SGD, disabled_rules=("rnn_single_bias_training",)), TrainSide("keras-jax", SGD)),
        converted=TrainVariant(TrainSide("torch", SGD), TrainSide("keras-jax", SGD)),
        layer="lstm_0",
        steps=10,
    )
)
