"""Weight penalties added to the loss, and how they relate to an optimiser's weight decay."""

from __future__ import annotations

import numpy as np


class L2:
    """Squared-norm penalty on a weight: P = l2 * sum(W**2).

    Forward::

        P = l2 * sum(W ** 2)

    Gradient, added to dL/dW::

        dW = 2 * l2 * W

    Shapes:
        W, dW: any, equal; P: scalar

    This is ``keras.regularizers.L2(l2)`` (keras/src/regularizers/regularizers.py:
    ``l2 * sum(square(x))``, default l2 = 0.01), whose penalty Keras adds to the
    training loss. There is no factor 1/2, so the gradient carries the 2.

    torch has no penalty object; its optimisers take ``weight_decay=wd`` and add
    ``wd * W`` to the gradient (coupled decay, torch/optim/sgd.py, adam.py,
    rmsprop.py). That is the gradient of ``L2(wd / 2)``: Keras' ``L2(l2)`` equals
    torch's ``weight_decay = 2 * l2``. Keras' own optimiser ``weight_decay`` is a
    different thing again, decoupled decay (see scratch/optimizers.py).

    Args:
        l2: the factor, >= 0.
    """

    def __init__(self, l2: float = 0.01) -> None:
        if not l2 >= 0:
            raise ValueError(f"L2: l2 must be >= 0, received {l2!r}")
        self.l2 = float(l2)

    @classmethod
    def from_torch_weight_decay(cls, weight_decay: float) -> L2:
        """The penalty whose gradient torch's coupled ``weight_decay`` adds: L2(wd / 2)."""
        return cls(weight_decay / 2)

    def penalty(self, W: np.ndarray) -> float:
        return self.l2 * float(np.sum(W**2))

    def gradient(self, W: np.ndarray) -> np.ndarray:
        return 2 * self.l2 * W

    __call__ = penalty
