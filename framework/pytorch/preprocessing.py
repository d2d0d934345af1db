"""Preprocessing inside a model: Keras' ``Rescaling`` and ``Normalization`` as torch modules.

torch.nn has no layer for either: torch code scales pixels in a transform or writes
``x * scale + offset`` in ``forward``, and standardises with torchvision's
``Normalize(mean, std)`` (``(x - mean) / std``, per channel on dim 1). A model that carries its
preprocessing, as EfficientNet and MobileNetV3 do, needs them inside the model: these are that
``forward`` code as modules, so ``print(model)`` shows the constants and a state_dict holds the
statistics.
"""

from __future__ import annotations

import torch
from torch import nn


def _per_channel(values, dim: int, rank: int) -> torch.Tensor:
    """Values for channel axis ``dim`` of a rank-``rank`` tensor: (C,) on the last axis, (C, 1, 1) on dim 1 of (B, C, H, W)."""
    shape = [1] * (rank - 1)
    shape[dim % rank - 1] = -1
    return values.reshape(shape)


class Rescaling(nn.Module):
    """y = x * scale + offset: pixels 0..255 to 0..1 (scale=1/255), or to -1..1 (scale=1/127.5, offset=-1).

    ``scale`` and ``offset`` are numbers, or one per channel (a list), applied along ``dim``
    (1: the channels of (B, C, H, W); -1: the last axis). Nothing trains.
    """

    def __init__(self, scale=1.0, offset=0.0, dim: int = 1) -> None:
        super().__init__()
        self.dim = dim
        self.scale, self.offset = self._constant("scale", scale), self._constant("offset", offset)

    def _constant(self, name: str, value):
        if isinstance(value, (list, tuple)):  # per channel: a buffer, cast with the model, not saved
            self.register_buffer(f"{name}_", torch.tensor(value, dtype=torch.float64), persistent=False)
            return None
        return float(value)

    def _get(self, name: str, x: torch.Tensor):
        value = getattr(self, name)
        if value is not None:
            return value
        # kept in float64 and cast where used: a float32 model reads the constants rounded once
        return _per_channel(getattr(self, f"{name}_"), self.dim, x.dim()).to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self._get("scale", x) + self._get("offset", x)

    def extra_repr(self) -> str:
        scale = self.scale if self.scale is not None else self.scale_.tolist()
        offset = self.offset if self.offset is not None else self.offset_.tolist()
        return f"scale={scale}, offset={offset}, dim={self.dim}"


class Normalization(nn.Module):
    """y = (x - mean) / std per channel (torchvision's ``Normalize``), or x * std + mean with ``invert``.

    Buffers ``mean`` and ``std``, both (C,), applied along ``dim`` (1: the channels of
    (B, C, H, W); -1: the last axis). They are statistics of the data, not trained. Keras'
    Normalization stores the *variance*: std = max(sqrt(variance), 1e-7) (parity.convert.preprocessing).
    """

    def __init__(self, channels: int, dim: int = 1, invert: bool = False, mean=None, std=None) -> None:
        super().__init__()
        self.dim, self.invert = dim, invert
        self.constant = mean is not None  # statistics given as numbers (torchvision's Normalize(mean, std))
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float64) if mean is not None else torch.zeros(channels))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float64) if std is not None else torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = _per_channel(self.mean, self.dim, x.dim()).to(x.dtype)
        std = _per_channel(self.std, self.dim, x.dim()).to(x.dtype)
        if self.invert:
            return mean + x * std
        return (x - mean) / std

    def extra_repr(self) -> str:
        return f"channels={self.mean.numel()}, dim={self.dim}, invert={self.invert}"
