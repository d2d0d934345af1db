"""Where a user's model comes from: ``path/to/file.py:factory`` or a ``.keras`` file.

A factory is a callable returning an ``nn.Module`` or a ``keras.Model``. Loading and importing
run in a Keras worker process (``keras-torch``), which can hold both frameworks, so this
process never imports Keras. ``.keras`` files are loaded with ``safe_mode=True``: a file that
needs arbitrary code (a Lambda layer) is refused.

``original_run`` runs the user's own model (its own weights, in float64) and returns the spec,
the canonical weights read from it, its output and the gradients of L = sum(output * G): what
a generated model must reproduce.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from parity.convert.base import NO_WEIGHTS
from parity.layers import REGISTRY
from parity.spec.model import INPUT, ModelSpec, SpecError


def parse_source(source: str) -> tuple[Path, str | None]:
    """``file.py:factory`` -> (path, "factory"); ``model.keras`` -> (path, None)."""
    if source.endswith(".keras"):
        path, factory = Path(source), None
    else:
        text, sep, factory = source.rpartition(":")
        if not sep or not text.endswith(".py") or not factory.isidentifier():
            raise SpecError(f"source {source!r}: expected path/to/file.py:factory or a .keras file")
        path = Path(text)
    if not path.is_file():
        raise SpecError(f"source {source!r}: no such file {str(path)!r}")
    return path, factory


def load_model(source: str):
    """The model object (in the worker). Runs the factory's file: it is the user's own code.

    Keras' automatic layer names (``dense``, ``dense_1``, ...) are reset first, so that loading the
    same source twice names its layers the same way twice. Without the full garbage collection that
    ``clear_session`` runs by default (``free_memory``, keras/src/backend/common/global_state.py): it
    walks every object the worker holds (~700,000 with torch, Keras and TensorFlow imported), measured
    0.42 s of CPU per call, and a port loads its source and its port ten times; cycles left by an
    earlier model are still collected by Python's own collector."""
    path, factory = parse_source(source)
    import keras

    keras.backend.clear_session(free_memory=False)
    if factory is None:
        try:
            model = keras.saving.load_model(path, safe_mode=True)
        except (ValueError, TypeError) as error:
            raise SpecError(f"source {source!r}: refused to load: {str(error).splitlines()[0]}") from None
        if keras.config.floatx() != model.dtype:  # the saved policy wins on load: rebuild in the working dtype
            weights = model.get_weights()
            model = keras.models.clone_model(
                model,
                clone_function=lambda layer: layer.__class__.from_config(
                    {**layer.get_config(), "dtype": keras.config.floatx()}
                ),
            )
            model.set_weights([np.asarray(w, dtype=keras.config.floatx()) for w in weights])
            for layer in model._flatten_layers():
                if hasattr(layer, "finalize_state"):
                    layer.finalize_state()  # as Keras' own loading does (Normalization's tensors follow the weights)
        return model
    module_spec = importlib.util.spec_from_file_location(f"parity_user_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as error:  # noqa: BLE001  the user's file failed: say where, in one line
        raise SpecError(f"source {source!r}: importing {path.name} failed: {type(error).__name__}: {error}") from None
    if not callable(getattr(module, factory, None)):
        raise SpecError(f"source {source!r}: {path.name} has no callable {factory!r}")
    return getattr(module, factory)()


def _is_torch(model) -> bool:
    """A torch module that is not a Keras model (on Keras' torch backend, every layer is an nn.Module too)."""
    import sys

    if "keras" in sys.modules and isinstance(model, sys.modules["keras"].Layer):
        return False
    try:
        import torch
    except ImportError:
        return False
    return isinstance(model, torch.nn.Module)


def import_model(model, input_shape: tuple[int, ...] | None = None, name: str | None = None) -> ModelSpec:
    """The spec of a torch or Keras model object. ``input_shape`` (torch only) is one sample in torch's layout."""
    if _is_torch(model):
        from parity.spec.torch_import import import_torch

        if input_shape is None:
            raise SpecError(
                f"model {name or type(model).__name__!r}: a torch model needs --input-shape (one sample, without the batch axis)"
            )
        return import_torch(model, tuple(input_shape), name=name or type(model).__name__)
    from parity.spec.keras_import import import_keras

    return import_keras(model, name=name)


def spec_in_worker(source: str, input_shape=None) -> ModelSpec:
    return import_model(load_model(source), input_shape)


def spec_of_builder(path: str, kwargs: dict, input_shape: tuple[int, ...] | None = None) -> ModelSpec:
    """The spec of the model ``module:function(**kwargs)`` builds (a project model, such as
    ``framework.keras3.models.mlp:mlp``); ``input_shape`` as for ``import_model`` (torch only).
    A Keras builder must run where Keras is imported: in a worker, through ``specs_of_builders``."""
    import importlib

    module, sep, function = path.partition(":")
    if not sep:
        raise SpecError(f"builder {path!r}: expected module:function")
    model = getattr(importlib.import_module(module), function)(**kwargs)
    return import_model(model, input_shape, name=function)


def specs_of_builders(calls: list[tuple]) -> list[ModelSpec]:
    """``spec_of_builder`` of each (path, kwargs[, input_shape]), in one worker call."""
    return [spec_of_builder(*call) for call in calls]


def spec_from_source(source: str, input_shape=None) -> ModelSpec:
    """Load ``source`` and read its spec, in a Keras worker process."""
    from parity.runners.pool import keras_worker

    parse_source(source)  # a bad path is refused here, without starting a worker
    return keras_worker("torch").call("parity.sources:spec_in_worker", source, input_shape)


# The user's own model, run -------------------------------------------------------------------


def _scratch_layers(spec: ModelSpec):
    from parity.spec.generate import build_scratch, layout_source

    layers = {layer.name: layer for layer in build_scratch(spec).layers}

    def previous(node):
        source = layout_source(spec, node)
        return None if source == INPUT else layers[source]

    return layers, previous


class _Parameter:
    """A parameter the model uses directly (``x + self.pos``), seen as a module holding one ``weight``:
    the key its kind's converter reads (parity.convert.tensor_ops), whatever the attribute's name."""

    def __init__(self, parameter) -> None:
        self.parameter = parameter

    def named_parameters(self):
        return [("weight", self.parameter)]

    def state_dict(self):
        return {"weight": self.parameter.detach()}

    def load_state_dict(self, state) -> None:
        import torch

        with torch.no_grad():
            self.parameter.copy_(state["weight"])


def weights_owner(model, name: str):
    """The torch module of a spec node (``features.3``), or the parameter a node is named after (``pos``)."""
    try:
        return model.get_submodule(name)
    except AttributeError:
        return _Parameter(model.get_parameter(name))


def original_run(
    model,
    spec: ModelSpec,
    inputs: np.ndarray,
    cotangent: np.ndarray,
    dtype: str = "float64",
    folder=None,
    gradients: bool = True,
) -> dict:
    """Run the user's model in float64 on canonical ``inputs``; everything returned is canonical.

    Returns {"weights", "output", "grads"} with grads["input"] and every parameter's gradient of
    L = sum(output * cotangent), converted by each kind's converter. With ``folder``, each weight
    and gradient is written there as soon as it is read (``parity.runners.stored.ArrayWriter``, in
    ``folder/weights`` and ``folder/grads``) and "weights" and "grads" are the lists of their names.
    ``gradients=False``: the forward pass only, {"output"} (what a caller that reads only the output needs).
    """
    from parity.runners.stored import ArrayWriter

    if not gradients:
        return {"output": _forward(model, spec, inputs, dtype)}

    weights, grads = (None, {}) if folder is None else (ArrayWriter(Path(folder) / "weights"), ArrayWriter(Path(folder) / "grads"))
    if _is_torch(model):
        result = _torch_original(model, spec, inputs, cotangent, dtype, grads, weights)
    else:
        result = _keras_original(model, spec, inputs, cotangent, dtype, grads, weights)
    if folder is not None:
        result["weights"], result["grads"] = weights.names, grads.names
    return result


def _torch_original(model, spec, inputs, cotangent, dtype: str = "float64", out=None, weights=None) -> dict:
    import torch

    from parity.spec.generate import input_layout, node_shapes, torch_layouts

    layers, previous = _scratch_layers(spec)
    torch_dtype = getattr(torch, dtype)
    model = model.to(torch_dtype).eval()
    layouts = torch_layouts(spec, node_shapes(spec))
    X = torch.tensor(input_layout(spec).from_canonical(inputs), dtype=torch_dtype, requires_grad=True)
    Y = model(X)
    G = torch.tensor(layouts[spec.output].from_canonical(cotangent), dtype=torch_dtype)
    weighted = [
        (node, weights_owner(model, node.name))
        for node in spec.nodes
        if node.shares is None and REGISTRY[node.kind].converter is not NO_WEIGHTS
    ]
    # a frozen parameter (BatchNorm's weight for scale=False) has no gradient to ask for
    params = [(node, key, p) for node, module in weighted for key, p in module.named_parameters() if p.requires_grad]
    grads = torch.autograd.grad((Y * G).sum(), [X, *[p for _, _, p in params]], allow_unused=True)
    out = {} if out is None else out
    out["input"] = layouts[INPUT].to_canonical(grads[0].detach().numpy())
    by_node: dict[str, dict] = {}
    for (node, key, p), g in zip(params, grads[1:]):
        by_node.setdefault(node.name, {})[key] = np.zeros(tuple(p.shape)) if g is None else g.detach().numpy()
    del grads  # each gradient is held by its node's entry only, let go once converted
    for node, _ in weighted:
        kind, layer = REGISTRY[node.kind], layers[node.name]
        if node.name in by_node:
            converted = kind.converter.grads_from_torch(layer, by_node.pop(node.name), previous(node))
            out.update({f"{node.name}.{k}": v for k, v in converted.items()})
            del converted
    output = layouts[spec.output].to_canonical(Y.detach().numpy())
    return {"weights": canonical_weights(model, spec, weights), "output": output, "grads": out}


def _forward(model, spec, inputs, dtype: str) -> np.ndarray:
    """The canonical output of ``original_run``'s forward pass, computed the same way, with no gradient taken."""
    if _is_torch(model):
        import torch

        from parity.spec.generate import input_layout, node_shapes, torch_layouts

        model = model.to(getattr(torch, dtype)).eval()
        X = torch.tensor(input_layout(spec).from_canonical(inputs), dtype=getattr(torch, dtype), requires_grad=True)
        Y = model(X)
        return torch_layouts(spec, node_shapes(spec))[spec.output].to_canonical(Y.detach().numpy())
    import keras

    from parity.runners.autodiff import value

    non_trainable = [v.value for v in model.non_trainable_variables]
    X = keras.ops.convert_to_tensor(inputs.astype(dtype))

    def forward(args):
        Y, _ = model.stateless_call(args[1:], non_trainable, args[0], training=False)
        return None, Y

    _, Y = value(keras.backend.backend(), forward, [X, *[v.value for v in model.trainable_variables]])
    return keras.ops.convert_to_numpy(Y)


def _tensor_array(x) -> np.ndarray:
    """A Keras backend tensor as a read-only NumPy array, without a copy where the tensor is a torch
    tensor in host memory (``Tensor.numpy()`` shares its buffer); otherwise ``keras.ops.convert_to_numpy``.

    Keras' conversion copies (``np.array(x)`` in ``convert_to_numpy``, keras/src/backend/torch/core.py),
    which is right for an array that is kept, but a weight or gradient written to a file at once
    (``ArrayWriter``) was copied to fresh memory only to be written: the largest part of the Keras
    worker's own work in the VGG16 and ResNet50V2 family tests (4.4 s of about 40 s, sampled)."""
    if type(x).__module__.split(".")[0] == "torch" and x.device.type == "cpu" and str(x.dtype) != "torch.bfloat16":
        array = x.detach().numpy()
        array.flags.writeable = False  # the tensor's own memory: nothing here may change it
        return array
    import keras

    return keras.ops.convert_to_numpy(x)


def canonical_weights(model, spec: ModelSpec, into=None) -> dict:
    """The user's model's weights, read through each kind's converter into the canonical layout
    (into ``into``, a dict or an ``ArrayWriter``, when given)."""
    from parity.runners.stored import ArrayWriter

    layers, previous = _scratch_layers(spec)
    torch_model = _is_torch(model)
    weights = {} if into is None else into
    for node in spec.nodes:
        kind = REGISTRY[node.kind]
        if node.shares is not None or kind.converter is NO_WEIGHTS:
            continue
        layer = layers[node.name]
        if torch_model:
            state = {k: v.detach().numpy() for k, v in weights_owner(model, node.name).state_dict().items()}
            read = kind.converter.from_torch(layer, state, previous(node))
        else:
            import keras

            # written to a file at once: read in place; kept: copied, as the model may change after
            read_value = _tensor_array if isinstance(into, ArrayWriter) else keras.ops.convert_to_numpy
            values = [read_value(v.value) for v in _keras_layer(model, node.name).weights]
            read = kind.converter.from_keras(layer, values, previous(node))
        weights.update({f"{node.name}.{k}": v for k, v in read.items()})
    return weights


def load_canonical(model, spec: ModelSpec, weights: dict) -> None:
    """Put canonical ``weights`` (keyed by the spec's layer names) into the user's own model,
    through each kind's converter: the port's weights are the source's, converted."""
    from parity.convert.base import ConversionError, layer_weights

    layers, previous = _scratch_layers(spec)
    torch_model = _is_torch(model)
    for node in spec.nodes:
        kind = REGISTRY[node.kind]
        if node.shares is not None or kind.converter is NO_WEIGHTS:
            continue
        layer = layers[node.name]
        try:
            if torch_model:
                import torch

                module = weights_owner(model, node.name)
                state = kind.converter.to_torch(layer, layer_weights(layer, weights), previous(node))
                current = module.state_dict()
                for key, value in current.items():
                    if key not in state or tuple(np.shape(state[key])) != tuple(value.shape):
                        raise ConversionError(
                            node.name, key, tuple(value.shape), np.shape(state[key]) if key in state else None
                        )
                module.load_state_dict(
                    {k: torch.as_tensor(np.asarray(v), dtype=current[k].dtype) for k, v in state.items()}
                )
            else:
                klayer = _keras_layer(model, node.name)
                values = kind.converter.to_keras(layer, layer_weights(layer, weights), previous(node))
                values = kind.converter.fit_keras(layer, values, [tuple(v.shape) for v in klayer.weights])
                for variable, value in zip(klayer.weights, values, strict=True):
                    if tuple(np.shape(value)) != tuple(variable.shape):
                        raise ConversionError(node.name, variable.name, tuple(variable.shape), np.shape(value))
                klayer.set_weights([np.asarray(v, dtype=variable.dtype) for v, variable in zip(values, klayer.weights)])
                if hasattr(klayer, "finalize_state"):
                    klayer.finalize_state()  # as Keras' own loading does (Normalization's tensors follow the weights)
        except ConversionError as error:
            raise error.in_model(spec.name) from None


def load_weights_file(model, path: str, name: str) -> None:
    """The user's weights file into the user's model, loaded without executing code.

    torch: ``torch.load(path, weights_only=True)`` (a checkpoint that needs arbitrary code to
    unpickle is refused) holding a state_dict; every key and shape is checked first and the
    missing, unexpected and mismatched entries are named. Keras: a ``.weights.h5`` file (HDF5,
    no code) through ``model.load_weights``.
    """
    file = Path(path)
    if not file.is_file():
        raise SpecError(f"model {name!r}: no weights file {path!r}")
    if _is_torch(model):
        import pickle

        import torch

        try:
            state = torch.load(file, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as error:
            raise SpecError(
                f"model {name!r}: refused to load {path!r} without running code: {str(error).splitlines()[0]}"
            ) from None
        if not isinstance(state, dict) or not all(hasattr(v, "shape") for v in state.values()):
            raise SpecError(f"model {name!r}: {path!r} is not a state_dict (a dict of tensors)")
        expected = model.state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        mismatched = [
            f"{k}: expected {tuple(expected[k].shape)}, received {tuple(state[k].shape)}"
            for k in sorted(set(state) & set(expected))
            if tuple(state[k].shape) != tuple(expected[k].shape)
        ]
        if missing or unexpected or mismatched:
            raise SpecError(
                f"model {name!r}: {path!r} does not match the model: missing {missing or 'none'}, "
                f"unexpected {unexpected or 'none'}, mismatched {mismatched or 'none'}"
            )
        model.load_state_dict(state)
        return
    if not file.name.endswith(".weights.h5"):
        raise SpecError(f"model {name!r}: Keras weights must be a .weights.h5 file, received {path!r}")
    try:
        model.load_weights(file)
    except (ValueError, KeyError, OSError) as error:
        raise SpecError(f"model {name!r}: {path!r} does not match the model: {str(error).splitlines()[0]}") from None


# describe's answers in this worker, by source file and its state: a zoo architecture is described
# a dozen times over (the port, its weights, each comparison), and building and importing a
# keras.applications model takes seconds each time (parity.zoo's profile).
_DESCRIBED: dict[tuple, tuple[str, ModelSpec]] = {}


def _file_state(source: str, input_shape) -> tuple:
    path, factory = parse_source(source)
    stat = path.stat()
    shape = tuple(input_shape) if input_shape is not None else None
    return str(path.resolve()), factory, shape, stat.st_mtime_ns, stat.st_size


def describe(source: str, input_shape=None) -> tuple[str, ModelSpec]:
    """("torch" or "keras", the spec) of a source; runs in the worker. Remembered until the file changes.

    Read from the float64 build with seed 0 (``_built``), which a comparison in float64 runs next."""
    key = _file_state(source, input_shape)
    if key not in _DESCRIBED:
        model, spec = _built(source, input_shape, 0, "float64")
        _DESCRIBED[key] = ("torch" if _is_torch(model) else "keras"), spec
    return _DESCRIBED[key]


# The last models built with their own weights, by source file state, seed, dtype and weights files:
# a port's source and its port are each described and run several times over (the port's weights,
# then the comparison), and building a keras.applications model takes seconds each time (parity.zoo's
# profile). Two entries, the source and its port; the least recently used goes first.
_BUILT: dict[tuple, tuple] = {}
BUILT_MODELS = 2


def _weights_file_state(weights_file) -> tuple | None:
    if weights_file is None:
        return None
    stat = Path(weights_file).stat()
    return str(Path(weights_file).resolve()), stat.st_mtime_ns, stat.st_size


# Files a factory may read its weights from (a port's build_with_weights reads model.pt or model.weights.h5).
WEIGHTS_SUFFIXES = (".pt", ".pth", ".h5", ".keras", ".npz", ".npy", ".safetensors", ".bin", ".ckpt")


def _beside(source: str) -> tuple:
    """Name, size and modification time of each weights file in the source's folder: a changed one is a new build."""
    folder = parse_source(source)[0].resolve().parent
    return tuple(
        sorted(
            (e.name, e.stat().st_mtime_ns, e.stat().st_size)
            for e in os.scandir(folder)
            if e.is_file() and e.name.endswith(WEIGHTS_SUFFIXES)
        )
    )


def _built(source: str, input_shape, seed: int, dtype: str, weights_file=None):
    """(model, spec) of ``source`` built in ``dtype`` with its factory seeded by ``seed`` (and
    ``weights_file`` loaded): built once, then reused while its file and weights file are unchanged.
    The caller must not change the model's weights (``load_canonical`` goes to a fresh build)."""
    key = (_file_state(source, input_shape), seed, dtype, _weights_file_state(weights_file), _beside(source))
    if key in _BUILT:
        _BUILT[key] = _BUILT.pop(key)  # the most recently used last
    else:
        while len(_BUILT) >= BUILT_MODELS:
            _BUILT.pop(next(iter(_BUILT)))  # the least recently used goes before the next is built
        _BUILT[key] = _build(source, input_shape, seed, dtype, weights_file)
    return _BUILT[key]


# The spec of each build, by the source's file state, seed and dtype: importing a torch model is a
# ``torch.export`` capture (0.1-2.5 s of CPU for a keras.applications port, measured), and parity zoo
# builds a port's model three times (its weights, the comparison, and after ``forget_built`` the round
# trip) with one structure. Kept while the worker lives, as ``_DESCRIBED``; a changed file is a new key.
_SPECS: dict[tuple, ModelSpec] = {}


def remember_spec(source: str, input_shape, seed: int, dtype: str, spec: ModelSpec) -> None:
    """``spec`` is what importing ``source``'s build (``_build``) with these arguments gives: a port's
    ``build_with_weights`` is its ``build`` with weights loaded (``parity.porting``), imported there already."""
    _SPECS[_file_state(source, input_shape), seed, dtype] = spec


def _build(source: str, input_shape, seed: int, dtype: str, weights_file=None):
    import torch

    from parity.runners.precision import set_keras_precision
    from parity.runners.seeding import set_keras_seed

    set_keras_precision(dtype)
    set_keras_seed(seed)  # keras.utils.set_random_seed without importing TensorFlow off its backend
    torch.manual_seed(seed)
    model = load_model(source)
    key = (_file_state(source, input_shape), seed, dtype)
    if key not in _SPECS:
        _SPECS[key] = import_model(model, input_shape)
    spec = _SPECS[key]
    if weights_file is not None:
        load_weights_file(model, weights_file, spec.name)
    if _is_torch(model):
        model = model.to(getattr(torch, dtype))
    return model, spec


def weights_nbytes(model) -> int:
    """The bytes of a torch module's parameters and buffers, or of a Keras model's variables; none copied."""
    if _is_torch(model):
        return sum(t.nbytes for t in model.state_dict().values())
    return sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in model.weights)


def forget_built() -> None:
    """Let go of the models ``_built`` keeps (in the worker): a caller done with them frees their
    weights before it builds the next (parity zoo, between the port and the round trip), with a full
    collection only where they are large (``parity.runners.stored.collect_if_large``). In ``make test``,
    139 calls cost 35 s of the workers' CPU (0.1-0.5 s each) when every call collected, almost all of
    them after models of a few kilobytes, whose garbage Python's own collector frees."""
    from parity.runners.stored import collect_if_large

    built = sum(weights_nbytes(model) for model, _ in _BUILT.values())
    _BUILT.clear()
    collect_if_large(built)


def moved(old: str, new: str) -> None:
    """A folder of sources renamed from ``old`` to ``new`` (a port's staging folder, once complete):
    what describe and run_source remember of its files is theirs under the new name. A rename
    keeps each file's contents, size and modification time, which the keys also hold."""
    old_root, new_root = str(Path(old).resolve()), str(Path(new).resolve())

    def renamed(path: str) -> str:
        return new_root + path[len(old_root) :] if path.startswith(old_root + "/") else path

    def rekey(state: tuple) -> tuple:
        return (renamed(state[0]), *state[1:]) if state is not None else None

    for key in list(_DESCRIBED):
        _DESCRIBED[rekey(key)] = _DESCRIBED.pop(key)
    for state, seed, dtype in list(_SPECS):
        _SPECS[rekey(state), seed, dtype] = _SPECS.pop((state, seed, dtype))
    for key in list(_BUILT):
        state, seed, dtype, weights, beside = key
        _BUILT[(rekey(state), seed, dtype, rekey(weights), beside)] = _BUILT.pop(key)


def own_weights(source: str, input_shape=None, seed: int = 0) -> tuple[ModelSpec, dict]:
    """(spec, canonical float64 weights) of a source with its own (seeded) weights, without running it. In the worker."""
    model, spec = _built(source, input_shape, seed, "float64")
    return spec, canonical_weights(model, spec)


def run_source(
    source: str,
    input_shape,
    inputs,
    cotangent,
    weights=None,
    seed: int = 0,
    dtype: str = "float64",
    weights_file=None,
    rules_off=(),
    folder=None,
    gradients: bool = True,
) -> dict:
    """``original_run`` of a source in ``dtype``: its own (seeded) weights, or those of ``weights_file``, or the
    canonical ``weights`` loaded into it. Runs in the worker; with ``folder``, writes its weights and
    gradients there; ``gradients=False``: its output only (``original_run``)."""
    from parity.convert.base import disabled_rules
    from parity.runners.precision import set_keras_precision

    set_keras_precision(dtype)  # as at the build: ops that make constants follow floatx
    if weights is None:
        model, spec = _built(source, input_shape, seed, dtype, weights_file)
    else:  # the weights change the model: a build of its own
        model, spec = _build(source, input_shape, seed, dtype, weights_file)
    with disabled_rules(rules_off):  # a naive port's reading of the model (divergence demonstrations)
        if weights is not None:
            load_canonical(model, spec, weights)
        return original_run(model, spec, inputs, cotangent, dtype, folder, gradients)


def _keras_layer(model, path: str):
    """The layer at ``outer.inner`` (nested models) of a Keras model."""
    layer = model
    for part in path.split("."):
        layer = layer.get_layer(part)
    return layer


def _keras_original(model, spec, inputs, cotangent, dtype: str = "float64", out=None, weights=None) -> dict:
    import keras

    from parity.runners.autodiff import gradient

    layers, previous = _scratch_layers(spec)
    backend = keras.backend.backend()
    weighted = [
        (node, _keras_layer(model, node.name))
        for node in spec.nodes
        if node.shares is None and REGISTRY[node.kind].converter is not NO_WEIGHTS
    ]
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    ops = keras.ops
    X = ops.convert_to_tensor(inputs.astype(dtype))
    G = ops.convert_to_tensor(cotangent.astype(dtype))

    def scalar(args):
        Y, _ = model.stateless_call(args[1:], non_trainable, args[0], training=False)
        return ops.sum(Y * G), Y

    _, Y, g = gradient(backend, scalar, [X, *trainable])
    del trainable
    # Each gradient is read in place (``_tensor_array``) and let go from ``grad_of`` once read, so a large model's
    # gradients are held once (parity zoo's ConvNeXtXLarge: 2.6 GiB per float64 copy); into a file at once
    # when ``out`` is an ``ArrayWriter``.
    npy = _tensor_array
    out = {} if out is None else out
    out["input"] = npy(g[0])
    grad_of = {id(v): gv for v, gv in zip(model.trainable_variables, g[1:])}
    del g
    last = {id(v): i for i, (_, klayer) in enumerate(weighted) for v in klayer.weights}  # a variable's last reader
    for i, (node, klayer) in enumerate(weighted):
        kind, layer = REGISTRY[node.kind], layers[node.name]
        aligned = [
            None if id(v) not in grad_of else npy(grad_of.pop(id(v)) if last[id(v)] == i else grad_of[id(v)])
            for v in klayer.weights
        ]
        if klayer.trainable_variables:
            out.update(
                {
                    f"{node.name}.{k}": v
                    for k, v in kind.converter.grads_from_keras(layer, aligned, previous(node)).items()
                }
            )
        del aligned
    del grad_of
    return {"weights": canonical_weights(model, spec, weights), "output": npy(Y), "grads": out}


def run_original(
    source: str, input_shape, inputs: np.ndarray, cotangent: np.ndarray, seed: int = 0, rules_off=()
) -> dict:
    """``run_source`` in float64 with the source's own (seeded) weights, from this process."""
    from parity.runners.pool import keras_worker

    return keras_worker("torch").call(
        "parity.sources:run_source",
        source,
        input_shape,
        inputs,
        cotangent,
        None,
        seed,
        "float64",
        None,
        tuple(rules_off),
    )
