"""Raw tensor operations as modules, for models built as a graph of modules.

In hand-written torch code these are calls inside ``forward`` (``x * c``, ``a @ b``,
``x.view(...)``, ``x.transpose(1, 2)``, ``x.chunk(3, dim=-1)``, ``x.masked_fill(M, v)``,
``x + self.pos``); a model generated from a description needs them as modules.
"""

from __future__ import annotations

import torch
from torch import nn


class Scale(nn.Module):
    """y = x * factor (or x / factor, kept a division)."""

    def __init__(self, factor: float, divide: bool = False) -> None:
        super().__init__()
        self.factor, self.divide = float(factor), bool(divide)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / self.factor if self.divide else x * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor}, divide={self.divide}"


class MatMul(nn.Module):
    """y = a @ b (batched over the leading axes)."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a @ b


class Reshape(nn.Module):
    """y = x.reshape(B, *shape): the batch axis kept."""

    def __init__(self, shape) -> None:
        super().__init__()
        self.shape = tuple(int(d) for d in shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class Permute(nn.Module):
    """y = x.permute(0, *dims): the batch axis stays first."""

    def __init__(self, dims) -> None:
        super().__init__()
        self.dims = tuple(int(d) for d in dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, *self.dims)

    def extra_repr(self) -> str:
        return f"dims={self.dims}"


class Slice(nn.Module):
    """y = x[..., start:stop]."""

    def __init__(self, start: int, stop: int) -> None:
        super().__init__()
        self.start, self.stop = int(start), int(stop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., self.start : self.stop]

    def extra_repr(self) -> str:
        return f"start={self.start}, stop={self.stop}"


class MaskedFill(nn.Module):
    """y = x.masked_fill(mask, value): ``mask`` is a buffer (True: fill)."""

    def __init__(self, mask, value: float) -> None:
        super().__init__()
        self.register_buffer("mask", torch.as_tensor(mask, dtype=torch.bool), persistent=False)
        self.value = float(value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.masked_fill(self.mask, self.value)

    def extra_repr(self) -> str:
        return f"mask={tuple(self.mask.shape)}, value={self.value}"


class AddTable(nn.Module):
    """y = x + weight: a learned table added to every sample (``x + self.pos``); stored (1, *sample)
    with ``batch_axis`` (broadcast over the batch), else (*sample)."""

    def __init__(self, shape, batch_axis: bool = True) -> None:
        super().__init__()
        shape = tuple(int(d) for d in shape)
        self.weight = nn.Parameter(torch.zeros((1, *shape) if batch_axis else shape))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight
