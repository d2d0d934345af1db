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
    initialisation: str = "shared"  # "own": the framework's default initialisers instead of the shared weights


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
                **{**base.__dict__, "config": side_config, "optimizer": side.optimizer, "convention": side.convention, "disabled_rules": side.disabled_rules, "initialisation": side.initialisation, "init_seed": seed}
            )
            results.append(run_training(side.impl, request))
        records = compare_trajectories(self.case, self.dtype, *results)
        for r in records:
            r.tolerance = TRAJECTORY_FLOAT64_REL
        if self.quantities:
            records = [r for r in records if r.quantity.startswith(self.quantities)]
        return records


def same_settings(a: str, b: str, optimizer: dict[str, Any], **side: Any) -> TrainVariant:
    """Two implementations trained alike: the same optimiser spec and the same ``TrainSide`` settings."""
    return TrainVariant(TrainSide(a, optimizer, **side), TrainSide(b, optimizer, **side))


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
        naive=same_settings("torch", "keras-jax", ADAM),
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
        naive=same_settings("torch", "keras-jax", ADAM_DEFAULTS),
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
        naive=same_settings("torch", "keras-jax", RMSPROP_DEFAULTS),
        converted=same_settings("torch", "keras-jax", {**RMSPROP, "epsilon": 0.0}),
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
        naive=same_settings("torch", "keras-jax", {**MOMENTUM, "schedule": {"step_size": 5, "gamma": 0.5}}),
        converted=same_settings("torch", "keras-jax", MOMENTUM),
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
        naive=same_settings("torch", "keras-jax", {**MOMENTUM, "weight_decay": 0.0625}),
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
        naive=same_settings("torch", "keras-jax", SGD_DEFAULTS),
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
        naive=same_settings("scratch", "keras-tensorflow", {**ADAM, "beta_1": 0.9, "beta_2": 0.999}),
        converted=same_settings("scratch", "keras-tensorflow", ADAM),
    )
)

SGD = _spec("sgd", learning_rate=0.05, momentum=0.0, nesterov=False, weight_decay=0.0)
# Clipping by the norm of all gradients together, and torch rescaling them as Keras does.
GLOBAL_CLIPNORM = {**SGD, "global_clipnorm": 0.25}
KERAS_CLIPPING_IN_TORCH = {**GLOBAL_CLIPNORM, "torch_keras_clipping": True}

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
        converted=same_settings("torch", "keras-jax", SGD),
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
        converted=same_settings("torch", "keras-jax", SGD),
        layer="lstm_0",
        steps=10,
    )
)

DIVERGENCES.append(
    TrainingDivergence(
        name="batchnorm_scale_false_training",
        area="normalisation",
        differs="Keras' BatchNormalization(scale=False) has no gamma (keras/src/layers/normalization/"
        "batch_normalization.py, build); torch's nn.BatchNorm2d has gamma and beta together or neither (affine, "
        "torch/nn/modules/batchnorm.py). Loaded as affine=True with weight = 1, a forward pass agrees, but the optimiser "
        "trains the weight: after the first step every channel is scaled where Keras scales nothing.",
        rule="Hold the weight at 1 out of training: frozen(nn.BatchNorm2d(C), 'weight'), i.e. "
        "bn.weight.requires_grad_(False) (framework/pytorch/norm.py); center=False freezes the bias at 0 the same way.",
        converter="parity.convert.conv.BatchNormConverter.torch_frozen (rule batchnorm_frozen_affine)",
        case="batchnorm",
        config={"scale": False, "training": True},
        naive=TrainVariant(TrainSide("torch", SGD, disabled_rules=("batchnorm_frozen_affine",)), TrainSide("keras-jax", SGD)),
        converted=same_settings("torch", "keras-jax", SGD),
        # Where inspect can see it: the trained gamma exists on the torch side only, so no weight
        # comparison holds it; beta's gradient, the mean of dZ per channel, does not depend on gamma
        # (the normalised values sum to zero per channel), and the running statistics read the input.
        # Only the loss parts (after step 2): inspect names the update ("optimizer"), the one place
        # the two sides' numbers show it.
        layer="optimizer",
        steps=5,
    )
)

DIVERGENCES.append(
    TrainingDivergence(
        name="from_logits",
        area="losses",
        differs="torch's nn.CrossEntropyLoss takes logits (torch/nn/modules/loss.py); Keras' "
        "SparseCategoricalCrossentropy() and CategoricalCrossentropy() default to from_logits=False "
        "(keras/src/losses/losses.py) and treat the output as probabilities: each row is divided by its sum and clipped "
        "to [1e-7, 1 - 1e-7] (keras/src/backend/*/nn.py sparse_categorical_crossentropy). A torch model that outputs "
        "logits, ported with Keras' default loss, minimises -log(clip(z_y / sum z)): another loss, another training.",
        rule="Logits out and from_logits=True (framework.keras3.losses.loss passes it), or a softmax layer and from_logits=False.",
        converter="framework.keras3.losses.loss (from_logits=True)",
        case="mlp",
        config={},
        naive=TrainVariant(TrainSide("torch", SGD), TrainSide("keras-jax", SGD, config={"from_logits": False})),
        converted=TrainVariant(TrainSide("torch", SGD), TrainSide("keras-jax", SGD, config={"from_logits": True})),
        layer="loss",
        steps=10,
    )
)

DIVERGENCES.append(
    TrainingDivergence(
        name="from_logits_double_softmax",
        area="losses",
        differs="The other naive port of nn.CrossEntropyLoss: add a softmax layer to the Keras model and keep "
        "from_logits=True. The loss applies log_softmax again (keras/src/backend/*/nn.py; on every backend but TensorFlow, see tf_from_logits_after_activation), so it sees softmax(softmax(z)), "
        "whose entries all lie in [e^0/(K-1+e), e/(K-1+e)]: the loss cannot fall below log(K-1+e) - 1 and its gradients shrink.",
        rule="With a softmax layer, from_logits=False (the sum is then 1 and the clip at 1e-7 inactive unless a class is "
        "saturated); better, drop the softmax and keep from_logits=True.",
        converter="framework.keras3.losses.loss (from_logits=False after a softmax layer)",
        case="mlp",
        config={},
        naive=TrainVariant(TrainSide("torch", SGD), TrainSide("keras-jax", SGD, config={"softmax": True, "from_logits": True})),
        converted=TrainVariant(TrainSide("torch", SGD), TrainSide("keras-jax", SGD, config={"softmax": True, "from_logits": False})),
        layer="loss",
        steps=10,
    )
)

DIVERGENCES.append(
    TrainingDivergence(
        name="gradient_clipping",
        area="optimizers",
        differs="torch.nn.utils.clip_grad_norm_(params, c) (torch/nn/utils/clip_grad.py) rescales every gradient by one "
        "factor, so that the norm of ALL of them together is at most c. Keras' optimizer(clipnorm=c) clips EACH variable's "
        "gradient to norm c on its own (keras/src/optimizers/base_optimizer.py _clip_gradients -> _clip_by_norm): "
        "a port that maps clip_grad_norm_ to clipnorm changes the direction of the step, not only its length.",
        rule="clip_grad_norm_(params, c) <-> optimizer(global_clipnorm=c) (clip_by_global_norm, same file); Keras' "
        "clipnorm=c <-> clip_grad_norm_ called on each parameter alone. clipvalue <-> clip_grad_value_ agree as they are.",
        converter="parity.training.runners._clip_torch and scratch.clipping",
        case="mlp",
        config={},
        naive=TrainVariant(TrainSide("torch", KERAS_CLIPPING_IN_TORCH), TrainSide("keras-jax", {**SGD, "clipnorm": 0.25})),
        converted=TrainVariant(TrainSide("torch", KERAS_CLIPPING_IN_TORCH), TrainSide("keras-jax", GLOBAL_CLIPNORM)),
        steps=10,
    )
)

DIVERGENCES.append(
    TrainingDivergence(
        name="clip_grad_norm_epsilon",
        area="optimizers",
        differs="Even against global_clipnorm, torch's clip_grad_norm_ scales by min(1, c / (N + 1e-6)) "
        "(torch/nn/utils/clip_grad.py), Keras' clip_by_global_norm by c / max(N, c) (keras/src/optimizers/"
        "base_optimizer.py): whenever they clip, torch's step is shorter by about 1e-6 / N relative, "
        "far above float64 rounding.",
        rule="To reproduce Keras exactly, rescale torch's gradients by c / max(N, c) by hand "
        "(framework.pytorch.optimizers.keras_clip_by_global_norm_) instead of calling clip_grad_norm_; the 1e-6 is "
        "negligible against float32 rounding only when N >> 1e-6 / eps32 ~ 8.",
        converter="framework.pytorch.optimizers.keras_clip_by_global_norm_",
        case="mlp",
        config={},
        naive=same_settings("torch", "keras-jax", GLOBAL_CLIPNORM),
        converted=TrainVariant(TrainSide("torch", KERAS_CLIPPING_IN_TORCH), TrainSide("keras-jax", GLOBAL_CLIPNORM)),
        steps=10,
    )
)

DIVERGENCES.append(
    TrainingDivergence(
        name="default_initialisation",
        area="weights",
        differs="The same architecture starts from different weights in each framework: torch's nn.Linear and nn.Conv2d "
        "draw W from kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in)) and b from U(+-1/sqrt(fan_in)) "
        "(torch/nn/modules/linear.py reset_parameters); Keras' Dense and Conv2D draw the kernel from glorot_uniform "
        "= U(+-sqrt(6/(fan_in+fan_out))) and set the bias to zero (keras/src/layers/core/dense.py). Here the mlp's "
        "first kernel has std 0.18 in torch, 0.28 in Keras. Measured: the loss of each of 20 SGD steps of the two "
        "models, each from its own framework's initialisation (same data, same batches): they part from step 1 and "
        "stay apart; neither model is wrong, they are different models.",
        rule="Copy the weights (convert the canonical weights to each framework), as every other case does. "
        "nn.init.xavier_uniform_(W) + nn.init.zeros_(b) makes torch draw from Keras' distribution, not the same values.",
        converter="parity.weights.canonical_weights (one set of weights, converted to each framework)",
        case="mlp",
        config={},
        naive=same_settings("torch", "keras-jax", SGD, initialisation="own"),
        converted=same_settings("torch", "keras-jax", SGD),
        quantities=("loss",),
    )
)

DIVERGENCES.append(
    TrainingDivergence(
        name="tf_from_logits_after_activation",
        area="losses",
        differs="On the TensorFlow backend, keras.activations.sigmoid and softmax attach their input to their output "
        "(output._keras_logits, keras/src/backend/tensorflow/nn.py sigmoid/softmax), and binary, categorical and "
        "sparse categorical cross-entropy read it back (_get_logits, same file): given the output of a final sigmoid or "
        "softmax they compute the loss from the tensor BEFORE it and set from_logits=True themselves, whatever "
        "from_logits says (only a warning is printed). A model that ends in softmax trained with from_logits=True is "
        "therefore trained on log_softmax(z) by keras-tensorflow but on log_softmax(softmax(z)) by keras-jax, "
        "keras-torch, torch and scratch (the double softmax of from_logits_double_softmax): the same Keras code trains "
        "another model on another backend. With from_logits=False the TensorFlow loss is the logit form, equal to the "
        "others' up to rounding, except near saturation: the others clip p to [1e-7, 1 - 1e-7] (|z| > ~16), "
        "TensorFlow does not.",
        rule="Keep exactly one activation between the last layer and the loss: drop the final sigmoid/softmax and pass "
        "from_logits=True, or keep it and pass from_logits=False. Never both, which only keras-tensorflow forgives.",
        converter="framework.keras3.losses.loss (from_logits=True on a model that ends in logits)",
        case="mlp",
        config={},
        naive=same_settings("scratch", "keras-tensorflow", SGD, config={"softmax": True, "from_logits": True}),
        converted=same_settings("scratch", "keras-tensorflow", SGD),
        layer="loss",
        steps=10,
    )
)
