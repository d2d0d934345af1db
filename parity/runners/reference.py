"""The scratch reference each implementation is judged against.

Scratch computes the mathematics with the constants of the formulas. An implementation whose
library rounds a constant of a formula differently computes another function of the same
inputs, and the difference is not rounding noise: judged against exact constants it reads as a
disagreement of the constant's relative error (1.7e-8 for one GELU), amplified by every layer
after it. Each such implementation is judged instead against scratch built with the constants
its library uses, at the policy's tolerance, so that anything else still shows at 1e-10.

Every judge (``parity check``, ``inspect``, ``report``, ``compare``, ``train``, ``fuzz``, the
divergence cases) takes its reference from ``reference_request``: the one place that maps an
implementation to the constants of its reference.

TensorFlow (divergence ``tf_gelu_float64_constants``): ``tf.nn.gelu``
(tensorflow/python/ops/nn_ops.py), which keras-tensorflow's ``gelu`` calls
(keras/src/backend/tensorflow/nn.py), builds its constants with ``math_ops.cast(0.7071067811865476,
dtype)`` (exact form) and ``math_ops.cast(0.044715, dtype)`` (tanh form): the Python float becomes a
float32 tensor before the cast, so float64 GELU uses both rounded to float32. Its other constants
(0.5, 1.0 and the tanh form's 0.7978845608028654, multiplied into a float64 tensor) stay float64.

torch (divergence ``torch_hardsigmoid_float64_grad``): ``hardsigmoid_backward_kernel``
(aten/src/ATen/native/cpu/Activation.cpp), behind ``nn.Hardsigmoid`` / ``F.hardsigmoid`` and
keras-torch's ``hard_sigmoid`` (keras/src/backend/torch/nn.py calls ``torch.nn.functional.hardsigmoid``),
multiplies the gradient by ``scalar_t(1.0f / 6.0f)``: 1/6 rounded to float32, relative error 2.98e-8.
Measured in float64 on 10^5 points of (-3, 3): the gradient equals dZ * float32(1/6) bit for bit, while
the forward kernel (``hardsigmoid_kernel``, ``min(max(x + 3, 0), 6) / 6``) equals (X + 3) / 6 bit for
bit, so only the backward constant is torch's. ``hardswish_backward_kernel`` (same file, behind
``F.hardswish`` and keras-torch's ``hard_silu``) uses only 3 and 0.5, which float32 holds exactly: its
float64 gradient equals dZ * (X / 3 + 0.5) bit for bit, and hard_swish keeps the exact reference.

keras-torch (divergence ``keras_torch_batchnorm_one_pass_variance``): BatchNormalization in training
mode takes its batch statistics from ``moments`` (keras/src/backend/torch/nn.py), which computes the
variance in one pass, mean(X**2) - mean(X)**2 (its comment: "faster but less numerically stable");
Keras on jax (``jnp.var``) and tensorflow (``tf.nn.moments``), torch's ``batch_norm`` and scratch
subtract the mean first. ``CONSTANTS["keras-torch"]`` holds that formula
(``scratch.batchnorm.one_pass_variance``), but keras-torch's reference keeps two passes: the one-pass
result is not a function of the formula alone. Its rounding, about u * mean**2 / var, depends on the
order in which the squares are summed, and torch's reductions sum in another order than NumPy's.
Measured in float64 on the case ``batchnorm`` (training) with its inputs offset by 1e4, worst relative
error of keras-torch against the two-pass / one-pass reference: 1.1e-5 / 6.3e-11 with 2 values per
channel (batch 2, 1x1 maps: one addition, one order), 5.7e-8 / 2.8e-12 with 4, but 1.1e-7 / 1.2e-7
with 8 (2x2 maps) and 2.0e-8 / 7.6e-8 with 80 (the case's 4 x 5x4): two independent roundings of an
ill-conditioned formula are further apart than one. At offset 0 (the case's own inputs) both are
6.8e-16. One step of DenseNet121 in ``parity zoo`` (source against scratch, weights after the step):
2.6e-7 against two passes, 5.2e-7 against one. So keras-torch is judged against two passes like every
other implementation, and ``parity zoo`` measures the one-pass variance by re-running Keras' step with
two passes (``parity.training.two_pass.two_pass_moments``); the divergence case shows the formula with two values
per channel, where the one-pass reference reproduces it.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from scratch.batchnorm import one_pass_variance

# Constants (and formulas) of the scratch layers, by library: layer class name -> attribute -> value.
CONSTANTS: dict[str, dict[str, dict[str, Any]]] = {
    "tensorflow": {
        "GELU": {
            "inv_sqrt2": float(np.float32(1 / math.sqrt(2))),  # 0.70710676908493042, relative error 1.7e-8
            "coeff": float(np.float32(0.044715)),  # 0.044714998453855515, relative error 3.5e-8
        }
    },
    "torch": {
        "HardSigmoid": {
            "backward_slope": float(np.float32(1 / 6)),  # 0.16666667163372040, relative error 2.98e-8
        }
    },
}
CONSTANTS["keras-torch"] = {
    **CONSTANTS["torch"],  # keras/src/backend/torch/nn.py: hard_sigmoid is torch's
    "BatchNorm": {"variance": one_pass_variance},  # the same file's moments: mean(X**2) - mean**2
}

# (implementation, dtype) -> the library whose constants its reference uses. In float32 the
# rounded constants are the float32 constants every implementation uses.
REFERENCE_CONSTANTS: dict[tuple[str, str], str] = {
    ("keras-tensorflow", "float64"): "tensorflow",
    ("torch", "float64"): "torch",
    ("keras-torch", "float64"): "torch",  # keras/src/backend/torch/nn.py: hard_sigmoid is torch's
}


def reference_constants(impl: str, dtype: str) -> str:
    """The library whose constants ``impl``'s reference in ``dtype`` uses; "" for the exact ones."""
    return REFERENCE_CONSTANTS.get((impl, dtype), "")


def _layers(node: Any, seen: set[int]):
    """Every scratch layer in ``node`` (a model, a layer, or a container of them): models hold
    their layers in lists, blocks their activations as attributes."""
    from scratch.layer import Layer

    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, Layer):
        yield node
    if isinstance(node, (list, tuple)):
        children = list(node)
    elif isinstance(node, dict):
        children = list(node.values())
    elif type(node).__module__.startswith("scratch."):
        children = list(vars(node).values())
    else:
        return
    for child in children:
        yield from _layers(child, seen)


def use_constants(model: Any, library: str) -> int:
    """Give every layer of ``model`` that has a constant ``library`` rounds that library's value;
    returns how many layers changed (0 for "" or a model without such layers)."""
    if not library:
        return 0
    table = CONSTANTS[library]
    changed = 0
    for layer in _layers(model, set()):
        for attribute, value in table.get(type(layer).__name__, {}).items():
            setattr(layer, attribute, value)
            changed += 1
    return changed


def reference_request(impl: str, request):
    """``request`` (a ``RunRequest`` or a ``TrainRequest``) as the scratch run that ``impl`` is judged
    against: the same request, with ``constants`` naming the library whose constants scratch uses
    where ``impl``'s library rounds one that this model has. Returns ``request`` itself otherwise, so
    that a caller can reuse one scratch run for every implementation whose reference it is."""
    from parity.spec.generate import build_scratch

    library = reference_constants(impl, request.dtype)
    if library == getattr(request, "constants", ""):
        return request
    spec = request.spec if request.spec is not None or not hasattr(request, "model") else request.model()[0]
    if library and not use_constants(build_scratch(spec), library):
        return request
    return replace(request, constants=library)
