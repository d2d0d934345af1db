"""torch.optim optimisers by Keras-style name and hyperparameter names.

A hyperparameter given as ``None`` is left to torch's default (which is how the
naive ports in the divergence cases are built); every other value is passed.
The two helpers below are conversion rules for reproducing a Keras optimiser in torch.
"""

from __future__ import annotations

import math

import torch

_TORCH_NAMES = {
    "sgd": {"learning_rate": "lr", "momentum": "momentum", "nesterov": "nesterov", "weight_decay": "weight_decay"},
    "rmsprop": {"learning_rate": "lr", "rho": "alpha", "epsilon": "eps", "centered": "centered", "momentum": "momentum", "weight_decay": "weight_decay"},
    "adam": {"learning_rate": "lr", "epsilon": "eps", "weight_decay": "weight_decay"},
    "adamw": {"learning_rate": "lr", "epsilon": "eps", "weight_decay": "weight_decay"},
}
_CLASSES = {"sgd": torch.optim.SGD, "rmsprop": torch.optim.RMSprop, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def optimizer(name: str, params, **hyperparameters) -> torch.optim.Optimizer:
    """SGD, RMSprop (Keras' ``rho`` is torch's ``alpha``), Adam or AdamW (``beta_1``, ``beta_2`` -> ``betas``)."""
    if name not in _CLASSES:
        raise ValueError(f"unknown optimizer {name!r}")
    names = _TORCH_NAMES[name]
    kwargs = {names[k]: v for k, v in hyperparameters.items() if k in names and v is not None}
    if name in ("adam", "adamw") and hyperparameters.get("beta_1") is not None:
        kwargs["betas"] = (hyperparameters["beta_1"], hyperparameters["beta_2"])
    return _CLASSES[name](params, **kwargs)


def keras_adam_epsilon(optimizer: torch.optim.Optimizer, epsilon: float, step: int) -> None:
    """Make torch's Adam take Keras' epsilon, exactly, before step ``step`` (1-based).

    Keras (keras/src/optimizers/adam.py) adds epsilon to sqrt(v) after folding the bias
    correction into the rate ("epsilon hat"); torch (torch/optim/adam.py) adds it to
    sqrt(v_hat) = sqrt(v) / sqrt(1 - beta_2^t). The steps are equal when::

        eps_torch = eps_keras / sqrt(1 - beta_2^t)

    which changes every step, so it is set on each parameter group before each step.
    """
    for group in optimizer.param_groups:
        beta_2 = group["betas"][1]
        group["eps"] = epsilon / math.sqrt(1 - beta_2**step)


@torch.no_grad()
def decoupled_weight_decay_(optimizer: torch.optim.Optimizer, weight_decay: float) -> None:
    """Keras' weight decay, before a torch step that has none: w <- w - lr * wd * w.

    Every Keras optimiser decays decoupled (keras/src/optimizers/base_optimizer.py
    ``_apply_weight_decay``); torch's SGD, Adam and RMSprop couple it (add wd * w to the
    gradient), and only AdamW decouples.
    """
    for group in optimizer.param_groups:
        for p in group["params"]:
            p.mul_(1 - group["lr"] * weight_decay)


@torch.no_grad()
def keras_clip_by_global_norm_(parameters, clipnorm: float) -> None:
    """Keras' ``global_clipnorm=c`` in torch: g <- g * c / max(N, c), N the norm of all gradients.

    torch.nn.utils.clip_grad_norm_ (torch/nn/utils/clip_grad.py) scales by
    min(1, c / (N + 1e-6)); Keras' clip_by_global_norm (keras/src/optimizers/base_optimizer.py)
    adds nothing to N, so the two differ by about 1e-6 / N relative whenever they clip.
    """
    grads = [p.grad for p in parameters if p.grad is not None]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    scale = clipnorm / torch.clamp(norm, min=clipnorm)
    for g in grads:
        g.mul_(scale)


@torch.no_grad()
def keras_clip_by_norm_(parameter: torch.Tensor, clipnorm: float) -> None:
    """Keras' ``clipnorm=c`` for one parameter: g <- g * c / max(||g||, c) (base_optimizer.py _clip_by_norm)."""
    g = parameter.grad
    g.mul_(clipnorm / torch.clamp(torch.linalg.vector_norm(g), min=clipnorm))
