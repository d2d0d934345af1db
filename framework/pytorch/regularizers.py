"""Weight penalties the torch way: added to the loss by the training loop, since layers carry none."""

from __future__ import annotations

import torch
from torch import nn


def l2_penalty(model: nn.Module, l2: float) -> torch.Tensor:
    """``l2 * sum(W**2)`` over every Linear kernel: Keras' ``kernel_regularizer=L2(l2)``.

    Its gradient is ``2 * l2 * W``. torch's ``weight_decay=wd`` adds ``wd * W`` to the
    gradient of every parameter, biases included: equal to this penalty only for
    ``wd = 2 * l2`` and with the biases in a parameter group of their own.
    """
    return l2 * sum((m.weight**2).sum() for m in model.modules() if isinstance(m, nn.Linear))
