"""Single-layer models of the global pooling family in torch.nn.

Images are channels-first (B, C, H, W); ``input_shape`` stays (H, W, C), the order the scratch
and Keras models take. Sequences are batch-first (B, T, F). ``keepdims=False`` (Keras' default)
pools to (C,) in one call, ``x.mean(dim=(2, 3))``; ``keepdims=True`` is ``nn.AdaptiveAvgPool2d(1)``,
the (C, 1, 1) map (followed by ``nn.Flatten()`` it is the importer's pair: a pooling, then a flatten).
"""

from __future__ import annotations

from torch import nn

from framework.pytorch.pooling import GlobalAvgPool1d, GlobalAvgPool2d, GlobalMaxPool1d, GlobalMaxPool2d


def global_avg_pool2d(input_shape: tuple[int, int, int], keepdims: bool = False) -> nn.Sequential:
    """The mean of every pixel: x (B, C, H, W) -> (B, C), or (B, C, 1, 1) with keepdims."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1) if keepdims else GlobalAvgPool2d())


def global_max_pool2d(input_shape: tuple[int, int, int], keepdims: bool = False) -> nn.Sequential:
    """The largest pixel: x (B, C, H, W) -> (B, C), or (B, C, 1, 1) with keepdims."""
    return nn.Sequential(nn.AdaptiveMaxPool2d(1) if keepdims else GlobalMaxPool2d())


def global_avg_pool1d(input_shape: tuple[int, int], keepdims: bool = False) -> nn.Sequential:
    """The mean over the steps: x (B, T, F) -> (B, F)."""
    return nn.Sequential(GlobalAvgPool1d(keepdims))


def global_max_pool1d(input_shape: tuple[int, int], keepdims: bool = False) -> nn.Sequential:
    """The largest step, per feature: x (B, T, F) -> (B, F)."""
    return nn.Sequential(GlobalMaxPool1d(keepdims))
