"""Normalisation in torch with Keras' ``center=`` and ``scale=`` taken one at a time.

Keras' ``BatchNormalization(scale=False)`` has no gamma and ``center=False`` no beta, each on
its own (keras/src/layers/normalization/batch_normalization.py, ``build``). torch's
``nn.BatchNorm2d`` has one switch for both, ``affine`` (torch/nn/modules/batchnorm.py,
``_NormBase.__init__``). With only one of them absent, the idiomatic torch form keeps
``affine=True`` and holds the absent parameter at its identity value (weight 1, bias 0)
out of training: ``frozen(nn.BatchNorm2d(C), "weight")``. The module stays an
``nn.BatchNorm2d`` (a frozen weight of ones multiplies by one), and the optimiser skips a
parameter whose ``requires_grad`` is False, since it never gets a gradient.
"""

from __future__ import annotations

from torch import nn


def frozen(module: nn.Module, *names: str) -> nn.Module:
    """``module`` with the parameters ``names`` out of training (``requires_grad_(False)``), as they are.

    ``frozen(nn.BatchNorm2d(32), "weight")`` is Keras' ``BatchNormalization(scale=False)``:
    gamma stays 1. Returns the module itself, so it reads as a constructor.
    """
    for name in names:
        module.get_parameter(name).requires_grad_(False)
    return module
