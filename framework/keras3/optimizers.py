"""keras.optimizers by name; a hyperparameter given as ``None`` is left to Keras' default.

Create the optimiser after ``keras.config.set_floatx("float64")`` when training in
float64: Keras keeps the learning rate as a variable of dtype floatx
(keras/src/optimizers/base_optimizer.py).
"""

from __future__ import annotations

import keras

_CLASSES = {
    "sgd": ("SGD", ("learning_rate", "momentum", "nesterov", "weight_decay")),
    "rmsprop": ("RMSprop", ("learning_rate", "rho", "momentum", "epsilon", "centered", "weight_decay")),
    "adam": ("Adam", ("learning_rate", "beta_1", "beta_2", "epsilon", "weight_decay")),
    "adamw": ("AdamW", ("learning_rate", "beta_1", "beta_2", "epsilon", "weight_decay")),
}

# Every Keras optimiser clips before its update (keras/src/optimizers/base_optimizer.py
# _clip_gradients): clipnorm per variable, global_clipnorm over all of them, clipvalue per entry.
_CLIPPING = ("clipnorm", "global_clipnorm", "clipvalue")


def optimizer(name: str, **hyperparameters) -> keras.optimizers.Optimizer:
    """SGD, RMSprop, Adam or AdamW, optionally clipping; Keras' weight decay is always decoupled."""
    if name not in _CLASSES:
        raise ValueError(f"unknown optimizer {name!r}")
    class_name, accepted = _CLASSES[name]
    accepted = (*accepted, *_CLIPPING)
    kwargs = {k: v for k, v in hyperparameters.items() if k in accepted and v is not None}
    if "momentum" in kwargs:
        kwargs["momentum"] = float(kwargs["momentum"])  # Keras SGD refuses an int
    if name != "adamw" and kwargs.get("weight_decay") == 0:
        kwargs["weight_decay"] = None  # Keras spells "no weight decay" None
    return getattr(keras.optimizers, class_name)(**kwargs)
