"""Training loops: scratch (hand-written), PyTorch (torch.optim) and Keras (keras.optimizers, in a worker).

Each trains the model of a spec (``TrainRequest.model``) and returns the loss of every step and
the canonical weights after every step. What a layer needs in training is read from its kind's
traits: running statistics, stochastic masks, an L2 regulariser.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from parity.convert.base import conversion_context, disabled_rules, enabled
from parity.layers import REGISTRY
from parity.runners.base import dropout_mask, input_array, target_array
from parity.runners.reference import use_constants
from parity.runners.scratch_runner import CastOnRead
from parity.runners.stored import ArrayWriter, StoredArrays, let_go
from parity.training.spec import TrainRequest, TrainResult, clipping, hyperparameters


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


def clip_scratch(grads: dict, spec: dict, torch_formula: bool) -> dict:
    """The spec's clipping, by Keras' formulas, or by torch's (clip_grad_norm_ adds 1e-6 to the
    norm) when scratch follows torch and torch does not take Keras' formula (``torch_keras_clipping``)."""
    from scratch import clipping as clip

    options = clipping(spec)
    torch_formula = torch_formula and not spec.get("torch_keras_clipping")
    if "clipvalue" in options:
        return clip.clip_by_value(grads, options["clipvalue"])
    if "global_clipnorm" in options:
        c = options["global_clipnorm"]
        return clip.clip_grad_norm(grads, c) if torch_formula else clip.clip_by_global_norm(grads, c)
    if "clipnorm" in options:
        c = options["clipnorm"]
        if torch_formula:  # clip_grad_norm_ called on each parameter alone
            return {name: clip.clip_grad_norm({name: g}, c)[name] for name, g in grads.items()}
        return clip.clip_by_norm(grads, c)
    return grads


def _clip_torch(parameters: list, spec: dict) -> None:
    """The spec's clipping on torch's gradients, between backward() and step().

    torch.nn.utils.clip_grad_norm_(params, c) clips by the global norm (torch/nn/utils/clip_grad.py),
    as Keras' global_clipnorm does; clipnorm (Keras: each variable on its own) is clip_grad_norm_
    called per parameter. With ``torch_keras_clipping`` the Keras formulas (framework.pytorch.optimizers)
    replace clip_grad_norm_, which adds 1e-6 to the norm.
    """
    import torch

    from framework.pytorch.optimizers import keras_clip_by_global_norm_, keras_clip_by_norm_

    options = clipping(spec)
    params = [p for p in parameters if p.grad is not None]
    keras_formula = spec.get("torch_keras_clipping", False)
    if "clipvalue" in options:
        torch.nn.utils.clip_grad_value_(params, options["clipvalue"])
    elif "global_clipnorm" in options:
        if keras_formula:
            keras_clip_by_global_norm_(params, options["global_clipnorm"])
        else:
            torch.nn.utils.clip_grad_norm_(params, options["global_clipnorm"])
    elif "clipnorm" in options:
        for p in params:
            if keras_formula:
                keras_clip_by_norm_(p, options["clipnorm"])
            else:
                torch.nn.utils.clip_grad_norm_([p], options["clipnorm"])


def _snapshot(request: TrainRequest, history: list):
    """Where the weights after a step go: a dict, or with ``request.store`` an ``ArrayWriter`` that writes
    each array to ``store/<k>/`` as it comes and keeps none (``_recorded`` turns it into the names)."""
    if request.store is None:
        return {}
    return ArrayWriter(Path(request.store) / str(len(history)))


def _recorded(snapshot):
    """A snapshot as the result holds it: the arrays, or where they were written, the files (``StoredArrays``)."""
    if isinstance(snapshot, ArrayWriter):
        return StoredArrays(snapshot.folder, snapshot.names)
    return snapshot


def _stochastic(spec) -> list[str]:
    return [node.name for node in spec.nodes if REGISTRY[node.kind].traits.stochastic]


def train_scratch(request: TrainRequest) -> TrainResult:
    from parity.spec.generate import build_scratch
    from scratch import losses

    spec, loss_name, loss_kwargs = request.model()
    dtype = np.dtype(request.dtype)
    model = build_scratch(spec)
    use_constants(model, request.constants)
    model.set_weights(CastOnRead(request.weights, dtype), copy=False)  # one new array at a time
    model.train(request.training)
    optimizer = scratch_optimizer(request.optimizer, request.convention)
    loss_fn = losses.get(loss_name, **loss_kwargs)
    X = input_array(request.inputs, spec, request.dtype)  # integer ids stay integers
    T = target_array(request.targets, request.dtype)
    layers = {layer.name: layer for layer in model.layers}
    step_losses, history = [], []
    for step, idx in enumerate(request.batches):
        if request.dropout_masks is not None:
            for name in _stochastic(spec):
                layers[name].mask = request.dropout_masks[name][step].astype(dtype)
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
        grads = clip_scratch(grads, request.optimizer, torch_formula=request.convention == "torch")
        optimizer.step(model.parameters(), grads)
        last = step == len(request.batches) - 1
        if request.record_weights or last:
            # After the last step nothing changes the model's arrays (the evaluation below is a forward
            # pass): they are the snapshot itself, not copied (a large model is not held twice).
            snapshot = _snapshot(request, history)
            snapshot.update({k: v if last else v.copy() for k, v in model.weights().items()})
            history.append(_recorded(snapshot))
    outputs = {}
    if request.eval_inputs is not None:
        model.train(False)
        outputs["eval"] = model.forward(input_array(request.eval_inputs, spec, request.dtype))
    return TrainResult("scratch", np.array(step_losses), history, outputs)


def train_torch(request: TrainRequest) -> TrainResult:
    import torch

    from framework.pytorch.losses import loss as torch_loss
    from framework.pytorch.optimizers import decoupled_weight_decay_, keras_adam_epsilon
    from framework.pytorch.optimizers import optimizer as torch_optimizer
    from parity.runners.torch_runner import TorchGraph
    from parity.spec.generate import input_layout

    spec, loss_name, loss_kwargs = request.model()
    with disabled_rules(request.disabled_rules):
        if request.initialisation == "own":  # torch's own reset_parameters, seeded without touching the global generator
            with torch.random.fork_rng():
                torch.manual_seed(request.init_seed)
                graph = TorchGraph(spec, request.dtype)
        else:
            graph = TorchGraph(spec, request.dtype)
            graph.load(request.weights)
        for _, kind, layer, module in graph.weighted():
            for name in kind.converter.torch_frozen(layer):
                module.get_parameter(name).requires_grad_(False)
    model = graph.model
    model.train(request.training)
    optimizer_spec = request.optimizer
    hp = hyperparameters(optimizer_spec)
    decoupled = optimizer_spec.get("torch_decoupled_weight_decay", False)
    if decoupled:
        hp["weight_decay"] = 0.0  # applied by hand below, Keras' way
    optimizer = torch_optimizer(optimizer_spec["kind"], model.parameters(), **hp)
    scheduler = None
    if optimizer_spec.get("schedule"):
        s = optimizer_spec["schedule"]
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, s["step_size"], s["gamma"])
    loss_module = torch_loss(loss_name, **loss_kwargs)
    X = graph.to_torch(input_array(request.inputs, spec, request.dtype), input_layout(spec))
    T = torch.as_tensor(target_array(request.targets, request.dtype))
    out_layout = graph.layouts[spec.output]
    penalties = _l2_terms(spec, graph)
    step_losses, history = [], []
    masks: dict[str, list[np.ndarray]] = {}
    for name in _stochastic(spec):
        graph.model.module(name).register_forward_hook(
            lambda m, inputs, out, name=name: masks.setdefault(name, []).append(dropout_mask(graph.to_canonical(out, graph.layouts[name]))) if m.training else None
        )
    excess = _track_running_variance_excess(spec, graph)
    with torch.random.fork_rng(enabled=request.mask_seed is not None):
        if request.mask_seed is not None:
            torch.manual_seed(request.mask_seed)  # every run of this request draws the same masks
        for step, idx in enumerate(request.batches):
            index = torch.as_tensor(idx)
            optimizer.zero_grad()
            Y = model(X[index])
            loss = loss_module(_canonical(Y, out_layout, graph), T[index])
            for l2, W in penalties:  # Keras' kernel_regularizer=L2(l2): l2 * sum(W**2) in the loss
                loss = loss + l2 * (W**2).sum()
            loss.backward()
            _clip_torch(list(model.parameters()), optimizer_spec)
            if optimizer_spec.get("torch_keras_epsilon"):
                keras_adam_epsilon(optimizer, optimizer_spec["epsilon"], step + 1)
            if decoupled:
                decoupled_weight_decay_(optimizer, optimizer_spec["weight_decay"])
            optimizer.step()
            if scheduler is not None:
                scheduler.step()  # per step, as Keras schedules count optimizer.iterations
            step_losses.append(float(loss.detach()))
            if request.record_weights or step == len(request.batches) - 1:
                with disabled_rules(request.disabled_rules), conversion_context(excess={k: v.copy() for k, v in excess.items()}):
                    history.append(_recorded(graph.read(_snapshot(request, history))))
    outputs = {}
    if request.eval_inputs is not None:
        model.train(False)
        with torch.no_grad():
            outputs["eval"] = graph.to_canonical(model(graph.to_torch(input_array(request.eval_inputs, spec, request.dtype), input_layout(spec))), out_layout)
    return TrainResult("torch", np.array(step_losses), history, outputs, masks)


def _canonical(Y, layout, graph):
    """The model's output in the canonical layout, as the loss expects it."""
    from parity.runners.torch_runner import canonical_output

    return canonical_output(Y, layout, graph.permute)


def _l2_terms(spec, graph) -> list:
    """(l2, torch kernel) of every layer whose kind declares a regulariser and whose config sets one."""
    terms = []
    for node in spec.nodes:
        traits = REGISTRY[node.kind].traits
        if traits.regularizer and node.config.get(traits.regularizer):
            terms.append((node.config[traits.regularizer], graph.model.module(node.name).get_parameter(traits.torch_kernel)))
    return terms


def _track_running_variance_excess(spec, graph) -> dict[str, np.ndarray]:
    """Observe each training-mode pass of a layer with running statistics and keep
    d = running_var - (Keras' moving_var).

    torch updates running_var with the unbiased batch variance v n/(n-1), Keras with v, so
    d_t = (1 - p) d_(t-1) + p v_t / (n - 1); the converter subtracts it
    (rule ``batchnorm_biased_running_var``, parity.convert.conv).
    """
    excess: dict[str, np.ndarray] = {}
    for node in spec.nodes:
        if not REGISTRY[node.kind].traits.running_statistics:
            continue
        module = graph.model.module(node.name)
        excess[node.name] = np.zeros(module.num_features)

        def observe(bn, inputs, name=node.name):
            if bn.training:
                x = inputs[0].detach()
                axes = [0, *range(2, x.ndim)]  # every axis but the channels (dim 1)
                n = x.numel() // x.shape[1]
                v = x.var(dim=axes, unbiased=False).numpy()
                excess[name] = (1 - bn.momentum) * excess[name] + bn.momentum * v / (n - 1)

        module.register_forward_pre_hook(observe)
    return excess


def _dense_gradients(backend: str, grads: list) -> list:
    """Rule ``tf_dense_indexed_slices``: hand Keras' optimiser dense gradients on TensorFlow.

    tf.GradientTape returns the gradient of a gather (an Embedding's lookup) as a
    tf.IndexedSlices with one slice per looked-up id, duplicates NOT summed. Keras 3's
    optimisers apply their formulas to it as it is: ``ops.square(gradient)`` in Adam
    (keras/src/optimizers/adam.py) is decorated with ``sparse.elementwise_unary``
    (keras/src/backend/tensorflow/numpy.py, sparse.py), which squares each slice and
    scatters the squares, so a row looked up k times gets sum(g_i**2) instead of
    (sum g_i)**2 in v, while ``ops.subtract(gradient, m)`` densifies and sums correctly
    for m. Keras 2 (tf.keras optimizer_v2) deduplicated first (_deduplicate_indexed_slices);
    see keras-team/keras#19992 on Keras 3's sparse gradients. A linear update (plain SGD)
    is unaffected. Converting each slice set to a dense tensor sums the duplicates.
    """
    if backend != "tensorflow" or not enabled("tf_dense_indexed_slices"):
        return grads
    import tensorflow as tf

    return [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]


def _graph_apply(optimizer, variables: list):
    """``optimizer.apply_gradients`` as one TensorFlow graph, built on the first step and run on every other.

    Run eagerly, each of the update's operations is dispatched on its own (about 0.1 s a step, most of
    a trajectory's time on this backend); ``tf.function`` (tensorflow/python/eager/polymorphic_function)
    runs the same kernels from one graph. The optimiser's variables are created first
    (``BaseOptimizer.build``, keras/src/optimizers/base_optimizer.py, as its first ``apply`` would), so that
    the traced function creates none.
    """
    import tensorflow as tf

    optimizer.build(variables)

    @tf.function(autograph=False)
    def apply(grads):
        optimizer.apply_gradients(list(zip(grads, variables)))

    return lambda pairs: apply([g for g, _ in pairs])


def _jitted_apply(optimizer, variables: list):
    """``optimizer.apply_gradients`` as one compiled JAX step: ``stateless_apply`` under ``jax.jit``.

    This is how Keras' own JAX trainer updates the weights (``train_step`` in
    keras/src/backend/jax/trainer.py calls ``optimizer.stateless_apply``, keras/src/optimizers/
    base_optimizer.py, inside the jitted step). Run eagerly, each of the update's operations is
    traced, lowered and dispatched on its own: measured, 14 of the 134 s of CPU (profiled) of a
    report's JAX float64 worker. The optimiser's variables are created first (``BaseOptimizer.build``),
    as its first ``apply`` would, and the new values are assigned back after each step.
    """
    import jax

    optimizer.build(variables)
    step = jax.jit(optimizer.stateless_apply)

    def apply(pairs):
        values, state = step([v.value for v in optimizer.variables], [g for g, _ in pairs], [v.value for v in variables])
        for variable, value in zip(variables, values):
            variable.assign(value)
        for variable, value in zip(optimizer.variables, state):
            variable.assign(value)

    return apply


def train_keras(request: TrainRequest) -> TrainResult:
    """Runs inside a Keras worker: per-backend gradients of a stateless forward, then ``apply_gradients``.
    What the steps built for a large model (the model, the optimiser's variables, the last gradients) is
    collected before the result goes back (``let_go``), not whenever Python next collects; a small one's
    is left to Python, as a full collection costs more than it frees."""
    result = _keras_steps(request)
    let_go(result.weights[-1] if result.weights else {})
    return result


def _keras_steps(request: TrainRequest) -> TrainResult:
    import keras

    from framework.keras3.losses import loss as keras_loss
    from framework.keras3.optimizers import optimizer as keras_optimizer
    from parity.runners.autodiff import gradient
    from parity.runners.keras_runner import KerasGraph, weights_to_come
    from parity.runners.precision import set_keras_precision
    from parity.runners.seeding import set_keras_seed

    backend = keras.backend.backend()
    set_keras_precision(request.dtype)
    spec, loss_name, loss_kwargs = request.model()
    with disabled_rules(request.disabled_rules):
        if request.initialisation == "own":  # Keras' own initialisers (this worker's global seed)
            set_keras_seed(request.init_seed)
            graph = KerasGraph(spec)
        else:
            if request.mask_seed is not None:
                # A Dropout layer's SeedGenerator takes its initial seed from Python's generator when it
                # is built (make_default_seed, keras/src/random/seed_generator.py), and on the torch
                # backend an element-wise Dropout without a seed draws from torch's global generator
                # (keras/src/backend/torch/random.py, dropout): seeding all of them here, before the
                # layers are built, makes every run of this request draw the same masks.
                set_keras_seed(request.mask_seed)
            with weights_to_come():
                graph = KerasGraph(spec)
            graph.load(request.weights)
    hp = hyperparameters(request.optimizer)
    if request.optimizer.get("schedule"):
        s = request.optimizer["schedule"]  # StepLR == ExponentialDecay(staircase=True)
        hp["learning_rate"] = keras.optimizers.schedules.ExponentialDecay(hp["learning_rate"], s["step_size"], s["gamma"], staircase=True)
    optimizer = keras_optimizer(request.optimizer["kind"], **hp, **clipping(request.optimizer))
    loss_object = keras_loss(loss_name, **loss_kwargs)
    ops, npy = keras.ops, keras.ops.convert_to_numpy
    X = input_array(request.inputs, spec, request.dtype)  # integer ids stay integers
    if X.dtype == np.int64:
        X = X.astype(np.int32)  # keras.Input(dtype="int32")
    T = target_array(request.targets, request.dtype)
    variables = [list(klayer.trainable_variables) for klayer in graph.keras]
    flat = [v for layer_vars in variables for v in layer_vars]
    counts = [len(v) for v in variables]

    def unflatten(values):
        out, k = [], 0
        for n in counts:
            out.append(values[k : k + n])
            k += n
        return out

    def objective(values, non_trainable, xb, tb):
        Y, outputs, states, penalties = graph.forward(xb, unflatten(list(values)), non_trainable, request.training, return_losses=True)
        loss = loss_object(tb, Y)
        for penalty in penalties:  # kernel_regularizer terms, as Model.compute_loss adds model.losses
            loss = loss + penalty
        return loss, (states, outputs)

    apply = optimizer.apply_gradients
    if backend == "tensorflow":
        apply = _graph_apply(optimizer, flat)
    jitted = None
    if backend == "jax":
        import jax

        apply = _jitted_apply(optimizer, flat)

        # One compiled step for the whole run, as Keras' own JAX trainer does; eager
        # op-by-op differentiation of a recurrent layer costs ~1 s per step.
        jitted = jax.jit(jax.value_and_grad(objective, has_aux=True))

    stochastic = _stochastic(spec)
    step_losses, history = [], []
    masks: dict[str, list[np.ndarray]] = {}
    for step, idx in enumerate(request.batches):
        xb, tb = ops.convert_to_tensor(X[idx]), ops.convert_to_tensor(T[idx])
        non_trainable = [[v.value for v in klayer.non_trainable_variables] for klayer in graph.keras]
        if jitted is not None:
            (loss, (states, outputs)), grads = jitted([v.value for v in flat], non_trainable, xb, tb)
        else:
            # one gradient (of the loss): no second set, as large as the weights, taken and let go
            loss, (states, outputs), grads = gradient(backend, lambda args: objective(args, non_trainable, xb, tb), [v.value for v in flat])
        with disabled_rules(request.disabled_rules):
            grads = _dense_gradients(backend, grads)
        if request.training:
            for name in stochastic:
                masks.setdefault(name, []).append(dropout_mask(npy(outputs[name])))
        apply(list(zip(grads, flat)))
        for klayer, new_state in zip(graph.keras, states):
            for variable, value in zip(klayer.non_trainable_variables, new_state):
                variable.assign(value)
        step_losses.append(float(npy(loss)))
        if request.record_weights or step == len(request.batches) - 1:
            with disabled_rules(request.disabled_rules):
                history.append(_recorded(graph.read([None] * len(graph.keras), npy, _snapshot(request, history))))
    outputs = {}
    if request.eval_inputs is not None:
        outputs["eval"] = npy(graph.model(ops.convert_to_tensor(input_array(request.eval_inputs, spec, request.dtype)), training=False))
    return TrainResult(f"keras-{backend}", np.array(step_losses), history, outputs, masks)
