"""Single-layer models of the normalisation family in torch.nn.

Inputs are features (B, F) or batch-first sequences (B, T, F), the same arrays the Keras
models take. ``axis`` is -1 or consecutive trailing axes ([-2, -1]), as Keras writes it;
torch's ``normalized_shape`` is the shape of those axes.
"""

from __future__ import annotations

from torch import nn


def _normalized_shape(input_shape: tuple[int, ...], axis: int | list[int]) -> tuple[int, ...]:
    k = 1 if isinstance(axis, int) else len(axis)
    return tuple(input_shape[len(input_shape) - k:])


def layernorm(
    input_shape: tuple[int, ...],
    axis: int | list[int] = -1,
    epsilon: float = 1e-3,
    scale: bool = True,
    center: bool = True,
) -> nn.Sequential:
    """One LayerNorm: each sample normalised over its trailing axes; weight = gamma, bias = beta.

    torch's default eps is 1e-5, Keras' 1e-3: pass it. ``elementwise_affine=False`` drops both
    gamma and beta, ``bias=False`` beta only (torch/nn/modules/normalization.py).
    """
    norm = nn.LayerNorm(
        _normalized_shape(input_shape, axis), eps=epsilon, elementwise_affine=scale or center, bias=center
    )
    return nn.Sequential(norm)


def rmsnorm(input_shape: tuple[int, ...], axis: int | list[int] = -1, epsilon: float = 1e-6) -> nn.Sequential:
    """One RMSNorm: x / sqrt(mean(x**2) + eps) * weight over the trailing axes.

    torch's default eps=None means the dtype's machine epsilon; Keras' is 1e-6: pass it.
    """
    return nn.Sequential(nn.RMSNorm(_normalized_shape(input_shape, axis), eps=epsilon))
