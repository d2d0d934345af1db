"""Training loops: scratch (hand-written), PyTorch (torch.optim) and Keras (keras.optimizers, in a worker).

Each returns the loss of every step and the canonical weights after every step.
"""

from __future__ import annotations

import numpy as np

from parity.cases import get_case
from parity.convert import converter_for
from parity.convert.base import conversion_context, disabled_rules
from parity.runners.base import dropout_mask, pair_layers, target_array
from parity.training.spec import TrainRequest, TrainResult, hyperparameters


def scratch_optimizer(spec: dict, convention: str):
    from scratch import optimizers, schedules

    kind, hp = spec["kind"], hyperparameters(spec)
    missing = sorted(k for k, v in hp.items() if v is None)
    if missing:
        raise ValueError(f"scratch has no framework defaults: give {', '.join(missing)} explicitly")
    if spec.get("schedule"):
        s = spec["schedule"]
        hp["learning_rate"] = schedules.StepDecay(hp["learning_rate"], s["step_size"], s["gamma"])
    classes = {"sgd": optimizers.SGD, "rmsprop": optimizers.RMSprop, "adam": optimizers.Adam, "adamw": optimizers.AdamW}
    return classes[kind](**hp, convention=convention)


def train_scratch(request: TrainRequest) -> TrainResult:
    from scratch import losses

    case = get_case(request.case)
    dtype = np.dtype(request.dtype)
    model = case.build("scratch", request.config)
    model.set_weights({k: v.astype(dtype) for k, v in request.weights.items()})
    model.train(request.training)
    optimizer = scratch_optimizer(request.optimizer, request.convention)
    loss_fn = losses.get(case.loss, **case.loss_kwargs(request.config))
    X = request.inputs.astype(dtype)
    T = target_array(request.targets, request.dtype)
    dropouts = [layer for layer in model.layers if type(layer).__name__ == "Dropout"]
    step_losses, history = [], []
    for step, idx in enumerate(request.batches):
        for layer in dropouts:
            if request.dropout_masks is not None:
                layer.mask = request.dropout_masks[layer.name][step].astype(dtype)
        Y = model.forward(X[idx])
        loss = float(loss_fn.forward(Y, T[idx]))
        model.backward(loss_fn.backward())
        grads = model.gradients()
        for layer in model.layers:
            regularizer = getattr(layer, "regularizer", None)
            if regularizer is not None:  # Keras adds l * sum(W**2) to the loss: gradient 2 l W
                loss += float(regularizer.penalty(layer.params["W"]))
                grads[f"{layer.name}.W"] = grads[f"{layer.name}.W"] + regularizer.gradient(layer.params["W"])
        step_losses.append(loss)
        optimizer.step(model.parameters(), grads)
        if request.record_weights or step == len(request.batches) - 1:
            history.append({k: v.copy() for k, v in model.weights().items()})
    return TrainResult("scratch", np.array(step_losses), history, _evaluate_scratch(model, request, dtype))


def _evaluate_scratch(model, request, dtype) -> dict[str, np.ndarray]:
    evaluation = request.eval_inputs
    if evaluation is None:
        return {}
    model.train(False)
    return {"eval": model.forward(evaluation.astype(dtype))}


def train_torch(request: TrainRequest) -> TrainResult:
    import torch

    from framework.pytorch.losses import loss as torch_loss
    from framework.pytorch.optimizers import decoupled_weight_decay_, keras_adam_epsilon
    from framework.pytorch.optimizers import optimizer as torch_optimizer
    from framework.pytorch.regularizers import l2_penalty
    from parity.runners.torch_runner import TORCH_DTYPES, load_torch_weights

    case = get_case(request.case)
    dtype = TORCH_DTYPES[request.dtype]
    scratch_model = case.build("scratch", request.config)
    model = case.build("torch", request.config).to(dtype)
    pairs = pair_layers(case.name, scratch_model.layers, list(model), "torch")
    with disabled_rules(request.disabled_rules):
        load_torch_weights(case.name, pairs, request.weights, dtype)
        for layer, module in pairs:
            for name in converter_for(layer).torch_frozen(layer):
                module.get_parameter(name).requires_grad_(False)
    model.train(request.training)
    spec = request.optimizer
    hp = hyperparameters(spec)
    decoupled = spec.get("torch_decoupled_weight_decay", False)
    if decoupled:
        hp["weight_decay"] = 0.0  # applied by hand below, Keras' way
    optimizer = torch_optimizer(spec["kind"], model.parameters(), **hp)
    scheduler = None
    if spec.get("schedule"):
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, spec["schedule"]["step_size"], spec["schedule"]["gamma"])
    loss_module = torch_loss(case.loss, **case.loss_kwargs(request.config))
    X = torch.tensor(request.inputs, dtype=dtype)
    T = torch.as_tensor(target_array(request.targets, request.dtype))
    step_losses, history = [], []
    masks: dict[str, list[np.ndarray]] = {}
    excess = _track_running_variance_excess(pairs)
    for layer, module in pairs:
        if isinstance(module, torch.nn.Dropout):
            module.register_forward_hook(
                lambda m, inputs, out, name=layer.name: masks.setdefault(name, []).append(dropout_mask(out.detach().numpy())) if m.training else None
            )
    for step, idx in enumerate(request.batches):
        index = torch.as_tensor(idx)
        optimizer.zero_grad()
        loss = loss_module(model(X[index]), T[index])
        if request.config.get("kernel_regularizer"):
            loss = loss + l2_penalty(model, request.config["kernel_regularizer"])
        loss.backward()
        if spec.get("torch_keras_epsilon"):
            keras_adam_epsilon(optimizer, spec["epsilon"], step + 1)
        if decoupled:
            decoupled_weight_decay_(optimizer, spec["weight_decay"])
        optimizer.step()
        if scheduler is not None:
            scheduler.step()  # per step, as Keras schedules count optimizer.iterations
        step_losses.append(float(loss.detach()))
        if request.record_weights or step == len(request.batches) - 1:
            with conversion_context(excess={k: v.copy() for k, v in excess.items()}):
                history.append(_torch_weights(pairs, request))
    outputs = {}
    evaluation = request.eval_inputs
    if evaluation is not None:
        model.train(False)
        with torch.no_grad():
            outputs["eval"] = model(torch.tensor(evaluation, dtype=dtype)).numpy()
    return TrainResult("torch", np.array(step_losses), history, outputs, masks)


def _track_running_variance_excess(pairs) -> dict[str, np.ndarray]:
    """Observe each training-mode BatchNorm pass and keep d = running_var - (Keras' moving_var).

    torch updates running_var with the unbiased batch variance v n/(n-1), Keras with v, so
    d_t = (1 - p) d_(t-1) + p v_t / (n - 1); the converter subtracts it
    (rule ``batchnorm_biased_running_var``, parity.convert.conv).
    """
    import torch

    excess: dict[str, np.ndarray] = {}
    for layer, module in pairs:
        norms = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        if not norms:
            continue
        excess[layer.name] = np.zeros(norms[0].num_features)

        def observe(bn, inputs, name=layer.name):
            if bn.training:
                x = inputs[0].detach()
                axes = [0, *range(2, x.ndim)]  # every axis but the channels (dim 1)
                n = x.numel() // x.shape[1]
                v = x.var(dim=axes, unbiased=False).numpy()
                excess[name] = (1 - bn.momentum) * excess[name] + bn.momentum * v / (n - 1)

        norms[0].register_forward_pre_hook(observe)
    return excess


def _torch_weights(pairs, request) -> dict[str, np.ndarray]:
    weights, previous = {}, None
    with disabled_rules(request.disabled_rules):
        for layer, module in pairs:
            state = {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}
            weights.update({f"{layer.name}.{k}": v for k, v in converter_for(layer).from_torch(layer, state, previous).items()})
            previous = layer
    return weights


def train_keras(request: TrainRequest) -> TrainResult:
    """Runs inside a Keras worker: per-backend gradients of a stateless forward, then ``apply_gradients``."""
    import keras

    from framework.keras3.losses import loss as keras_loss
    from framework.keras3.optimizers import optimizer as keras_optimizer
    from parity.runners.autodiff import two_gradients
    from parity.runners.keras_runner import load_keras_weights, read_weights, stateless_forward

    backend = keras.backend.backend()
    keras.config.set_floatx(request.dtype)
    keras.config.set_dtype_policy(request.dtype)
    case = get_case(request.case)
    scratch_model = case.build("scratch", request.config)
    model = case.build("keras", request.config)
    pairs = pair_layers(case.name, scratch_model.layers, list(model.layers), f"keras-{backend}")
    with disabled_rules(request.disabled_rules):
        load_keras_weights(case.name, pairs, request.weights, request.dtype)
    hp = hyperparameters(request.optimizer)
    if request.optimizer.get("schedule"):
        s = request.optimizer["schedule"]  # StepLR == ExponentialDecay(staircase=True)
        hp["learning_rate"] = keras.optimizers.schedules.ExponentialDecay(hp["learning_rate"], s["step_size"], s["gamma"], staircase=True)
    optimizer = keras_optimizer(request.optimizer["kind"], **hp)
    loss_object = keras_loss(case.loss, **case.loss_kwargs(request.config))
    ops, npy = keras.ops, keras.ops.convert_to_numpy
    X = request.inputs.astype(request.dtype)
    T = target_array(request.targets, request.dtype)
    variables = [[v for v in klayer.trainable_variables] for _, klayer in pairs]
    flat = [v for layer_vars in variables for v in layer_vars]
    counts = [len(v) for v in variables]

    def unflatten(values):
        out, k = [], 0
        for n in counts:
            out.append(values[k : k + n])
            k += n
        return out

    def objective(values, non_trainable, xb, tb):
        Y, outputs, states, penalties = stateless_forward(pairs, unflatten(list(values)), non_trainable, xb, request.training, return_losses=True)
        loss = loss_object(tb, Y)
        for penalty in penalties:  # kernel_regularizer terms, as Model.compute_loss adds model.losses
            loss = loss + penalty
        return loss, (states, outputs)

    def scalars(values, non_trainable, xb, tb):
        loss, aux = objective(values, non_trainable, xb, tb)
        return loss, loss, aux

    jitted = None
    if backend == "jax":
        import jax

        # One compiled step for the whole run, as Keras' own JAX trainer does; eager
        # op-by-op differentiation of a recurrent layer costs ~1 s per step.
        jitted = jax.jit(jax.value_and_grad(objective, has_aux=True))

    step_losses, history = [], []
    masks: dict[str, list[np.ndarray]] = {}
    for step, idx in enumerate(request.batches):
        xb, tb = ops.convert_to_tensor(X[idx]), ops.convert_to_tensor(T[idx])
        non_trainable = [[v.value for v in klayer.non_trainable_variables] for _, klayer in pairs]

        if jitted is not None:
            (loss, (states, outputs)), grads = jitted([v.value for v in flat], non_trainable, xb, tb)
        else:
            loss, _, (states, outputs), grads, _ = two_gradients(backend, lambda args: scalars(args, non_trainable, xb, tb), [v.value for v in flat])
        for (layer, klayer), out in zip(pairs, outputs):
            if request.training and isinstance(klayer, keras.layers.Dropout):
                masks.setdefault(layer.name, []).append(dropout_mask(npy(out)))
        optimizer.apply_gradients(list(zip(grads, flat)))
        for (_, klayer), new_state in zip(pairs, states):
            for variable, value in zip(klayer.non_trainable_variables, new_state):
                variable.assign(value)
        step_losses.append(float(npy(loss)))
        if request.record_weights or step == len(request.batches) - 1:
            with disabled_rules(request.disabled_rules):
                history.append(read_weights(pairs, [None] * len(pairs), npy))
    evaluation_outputs = {}
    evaluation = request.eval_inputs
    if evaluation is not None:
        evaluation_outputs["eval"] = npy(model(ops.convert_to_tensor(evaluation.astype(request.dtype)), training=False))
    return TrainResult(f"keras-{backend}", np.array(step_losses), history, evaluation_outputs, masks)
