"""Gradient clipping, in NumPy: per variable, by the global norm, by value.

Each function takes a ``grads`` dict (canonical names such as ``"dense_0.W"``) and returns a
new one; the optimiser then steps with the clipped gradients. The Keras forms are
``keras/src/optimizers/base_optimizer.py`` (``_clip_gradients``: ``clipnorm`` goes through
``_clip_by_norm`` for each variable, ``global_clipnorm`` through ``clip_by_global_norm``,
``clipvalue`` through ``ops.clip``); torch's are ``torch/nn/utils/clip_grad.py``
(``clip_grad_norm_``, ``clip_grad_value_``), called by hand between ``backward()`` and ``step()``.

Per variable (Keras ``clipnorm=c``), for each gradient g separately::

    g <- g * c / max(||g||, c)

By the global norm (Keras ``global_clipnorm=c``), with N = sqrt(sum over all g of ||g||**2)::

    g <- g * c / max(N, c)

torch's ``clip_grad_norm_(params, c)`` clips by the same global norm, with 1e-6 added to it::

    g <- g * min(1, c / (N + 1e-6))

By value (Keras ``clipvalue=v``, torch ``clip_grad_value_(params, v)``)::

    g <- clip(g, -v, v)
"""

from __future__ import annotations

import numpy as np

TORCH_NORM_EPSILON = 1e-6  # torch/nn/utils/clip_grad.py: clip_coef = max_norm / (total_norm + 1e-6)


def global_norm(grads: dict[str, np.ndarray]) -> float:
    """N = sqrt(sum over every gradient of sum(g**2))."""
    return float(np.sqrt(sum(float(np.sum(g**2)) for g in grads.values())))


def clip_by_norm(grads: dict[str, np.ndarray], clipnorm: float) -> dict[str, np.ndarray]:
    """Keras' ``clipnorm``: each gradient rescaled to norm at most ``clipnorm``, on its own."""
    return {name: g * clipnorm / max(float(np.sqrt(np.sum(g**2))), clipnorm) for name, g in grads.items()}


def clip_by_global_norm(grads: dict[str, np.ndarray], clipnorm: float) -> dict[str, np.ndarray]:
    """Keras' ``global_clipnorm``: every gradient rescaled by one factor, c / max(N, c)."""
    scale = clipnorm / max(global_norm(grads), clipnorm)
    return {name: g * scale for name, g in grads.items()}


def clip_grad_norm(grads: dict[str, np.ndarray], max_norm: float) -> dict[str, np.ndarray]:
    """torch's ``clip_grad_norm_``: every gradient rescaled by min(1, c / (N + 1e-6))."""
    scale = min(1.0, max_norm / (global_norm(grads) + TORCH_NORM_EPSILON))
    return {name: g * scale for name, g in grads.items()}


def clip_by_value(grads: dict[str, np.ndarray], clipvalue: float) -> dict[str, np.ndarray]:
    """Keras' ``clipvalue`` and torch's ``clip_grad_value_``: every entry clipped to [-v, v]."""
    return {name: np.clip(g, -clipvalue, clipvalue) for name, g in grads.items()}
