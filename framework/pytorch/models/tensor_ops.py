"""Single raw tensor operations as hand-written torch code writes them in ``forward``.

Each model takes one batch-first sample shape and applies one operation the way large model
libraries write it (``x / math.sqrt(d)``, ``q @ k.transpose(-2, -1)``, ``x.view(B, T, H, D)``,
``x.transpose(1, 2)``, ``x[..., i:j]``, ``s.masked_fill(mask, -inf)``, ``x + self.pos``).
"""

from __future__ import annotations

import torch
from torch import nn


class Scale(nn.Module):
    """y = x / factor (divide) or x * factor."""

    def __init__(self, factor: float, divide: bool) -> None:
        super().__init__()
        self.factor, self.divide = factor, divide

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / self.factor if self.divide else x * self.factor


class Gram(nn.Module):
    """y = x @ x^T over the last two axes: (B, ..., n, m) -> (B, ..., n, n), as q @ k.transpose(-2, -1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ x.transpose(-2, -1)


class View(nn.Module):
    """y = x.view(B, *target_shape)."""

    def __init__(self, target_shape) -> None:
        super().__init__()
        self.target_shape = tuple(target_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.size(0), *self.target_shape)


class PermuteAxes(nn.Module):
    """y = x.permute(0, *dims): the batch stays first."""

    def __init__(self, dims) -> None:
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, *self.dims)


class LastAxisSlice(nn.Module):
    """y = x[..., start:stop]."""

    def __init__(self, start: int, stop: int) -> None:
        super().__init__()
        self.start, self.stop = start, stop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., self.start : self.stop]


class CausalSoftmax(nn.Module):
    """y = softmax(x.masked_fill(mask, -inf), -1), mask = ones(T, T).triu(diagonal): True above the diagonal."""

    def __init__(self, T: int, diagonal: int = 1) -> None:
        super().__init__()
        self.register_buffer("mask", torch.ones(T, T, dtype=torch.bool).triu(diagonal))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.masked_fill(self.mask, float("-inf")).softmax(-1)  # (B, ..., T, T)


class PositionTable(nn.Module):
    """y = x + pos: a learned table, (1, *sample) with ``batch_axis`` (GPT-style), else (*sample)."""

    def __init__(self, shape, batch_axis: bool = True) -> None:
        super().__init__()
        shape = tuple(shape)
        self.pos = nn.Parameter(torch.randn((1, *shape) if batch_axis else shape) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pos


def scale(input_shape, factor: float = 2.0, divide: bool = True) -> Scale:
    return Scale(factor, divide)


def matmul(input_shape) -> Gram:
    return Gram()


def reshape(input_shape, target_shape) -> View:
    return View(target_shape)


def permute(input_shape, dims) -> PermuteAxes:
    return PermuteAxes(dims)


def slice_last(input_shape, start: int, stop: int) -> LastAxisSlice:
    return LastAxisSlice(start, stop)


def masked_fill(input_shape, diagonal: int = 1) -> CausalSoftmax:
    return CausalSoftmax(input_shape[-1], diagonal)


def add_table(input_shape, batch_axis: bool = True) -> PositionTable:
    return PositionTable(input_shape, batch_axis)
