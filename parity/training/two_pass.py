"""A measurement, never the default: Keras' torch backend training with a two-pass batch variance.

Keras' torch backend computes BatchNormalization's batch variance in one pass,
``mean(X**2) - mean(X)**2`` (keras/src/backend/torch/nn.py, ``moments``, whose comment calls it
"faster but less numerically stable"); its jax and tensorflow backends, torch's own ``batch_norm``
and scratch subtract the mean first (divergence ``keras_torch_batchnorm_one_pass_variance``). A
torch port of a Keras model therefore trains another rounding of the same function. To show that
this, and nothing else, is why a keras-torch step and its port's step part, ``parity zoo`` runs the
Keras step again inside ``two_pass_moments``: the same Keras code with only the variance computed
as ``mean((X - mean(X))**2)``, and compares that with the port.

``keras.src.ops.nn.moments`` calls ``backend.nn.moments`` at each call (keras/src/ops/nn.py), so
replacing that one function of the backend module for the duration of a ``with`` block changes
every BatchNormalization of the worker's models, and nothing else; the original is put back on exit.
"""

from __future__ import annotations

from contextlib import contextmanager

from parity.training.runners import train_keras
from parity.training.spec import TrainRequest, TrainResult


def _two_pass(x, axes, keepdims=False, synchronized=False):
    """keras.ops.moments on the torch backend with var = mean((x - mean)**2): the mean first, then
    the squared deviations (the float16 upcast of Keras' own version is not needed here: float32
    and float64 only)."""
    import torch
    from keras.src.backend.torch.core import convert_to_tensor

    if synchronized:
        raise NotImplementedError("synchronized moments: not measured")
    x = convert_to_tensor(x)
    mean = torch.mean(x, dim=axes, keepdim=True)
    variance = torch.mean(torch.square(x - mean), dim=axes, keepdim=True)
    if not keepdims:
        mean, variance = torch.squeeze(mean, axes), torch.squeeze(variance, axes)
    return mean, variance


@contextmanager
def two_pass_moments():
    """Within the block, Keras' torch backend computes batch variances in two passes (a Keras
    worker on the torch backend only)."""
    import keras
    from keras.src.backend.torch import nn as torch_nn

    if keras.backend.backend() != "torch":
        raise RuntimeError(f"two_pass_moments measures Keras' torch backend, not {keras.backend.backend()!r}")
    one_pass = torch_nn.moments
    torch_nn.moments = _two_pass
    try:
        yield
    finally:
        torch_nn.moments = one_pass


def train_keras_two_pass(request: TrainRequest) -> TrainResult:
    """Runs inside a torch-backend Keras worker: ``train_keras`` with two-pass batch variances."""
    with two_pass_moments():
        return train_keras(request)
