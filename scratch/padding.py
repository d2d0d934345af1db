"""Zero padding of images: rows of zeros above and below, columns left and right."""

from __future__ import annotations

import numpy as np

from scratch.layer import Layer


class ZeroPadding2D(Layer):
    """Z = X surrounded by zeros: ``top`` rows above, ``bottom`` below, ``left`` and ``right`` columns.

    Forward::

        Z[:, top : top + H, left : left + W, :] = X,   Z = 0 elsewhere

    Backward, given dZ (the zeros depend on nothing)::

        dX = dZ[:, top : top + H, left : left + W, :]

    Shapes:
        X, dX: (B, H, W, C)
        Z, dZ: (B, top + H + bottom, left + W + right, C)

    Args:
        padding: ((top, bottom), (left, right)), each >= 0 (Keras' ZeroPadding2D form).
    """

    def __init__(self, padding=((1, 1), (1, 1)), name: str | None = None) -> None:
        super().__init__(name)
        (top, bottom), (left, right) = padding
        sizes = (top, bottom, left, right)
        if any(isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 0 for p in sizes):
            raise ValueError(
                f"ZeroPadding2D {self.name!r}: padding must be ((top, bottom), (left, right)) of integers >= 0, received {padding!r}"
            )
        self.padding = ((int(top), int(bottom)), (int(left), int(right)))

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) != 3:
            raise ValueError(
                f"ZeroPadding2D {self.name!r}: expects (H, W, C) images, received input shape {input_shape}"
            )

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        (top, bottom), (left, right) = self.padding
        H, W, C = input_shape
        return (top + H + bottom, left + W + right, C)

    def forward(self, X: np.ndarray) -> np.ndarray:
        (top, bottom), (left, right) = self.padding
        self.H, self.W = X.shape[1], X.shape[2]
        return np.pad(X, ((0, 0), (top, bottom), (left, right), (0, 0)))  # (B, H + top + bottom, W + left + right, C)

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        (top, _), (left, _) = self.padding
        return dZ[:, top : top + self.H, left : left + self.W, :]  # (B, H, W, C)
