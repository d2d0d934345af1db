"""Single-layer models of the preprocessing family in torch.nn.

Images are channels-first (B, C, H, W); ``input_shape`` stays (H, W, C), the order the scratch
and Keras models take. torch.nn has no rescaling or normalisation layer: the modules of
``framework.pytorch.preprocessing`` are the ``forward`` code people write (``x * scale + offset``,
torchvision's ``(x - mean) / std``), as modules.
"""

from __future__ import annotations

from torch import nn

from framework.pytorch.preprocessing import Normalization, Rescaling


def rescaling(input_shape: tuple[int, int, int], scale=1.0, offset=0.0) -> nn.Sequential:
    """x * scale + offset: x (B, C, H, W) -> (B, C, H, W); a per-channel list applies along dim 1."""
    return nn.Sequential(Rescaling(scale, offset, dim=1))


def normalization(input_shape: tuple[int, int, int], invert: bool = False) -> nn.Sequential:
    """(x - mean) / std per channel (dim 1 of (B, C, H, W)); the buffers hold std = max(sqrt(variance), 1e-7)."""
    return nn.Sequential(Normalization(input_shape[-1], dim=1, invert=invert))
