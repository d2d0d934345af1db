"""Cropping of images: rows removed above and below, columns left and right (the inverse of zero padding)."""

from __future__ import annotations

import numpy as np

from scratch.layer import Layer


class Cropping2D(Layer):
    """Z = X without its ``top`` first and ``bottom`` last rows and its ``left`` and ``right`` edge columns.

    Forward::

        Z = X[:, top : H - bottom, left : W - right, :]

    Backward, given dZ (the cropped entries do not reach the output)::

        dX[:, top : H - bottom, left : W - right, :] = dZ,   dX = 0 elsewhere

    Shapes:
        X, dX: (B, H, W, C)
        Z, dZ: (B, H - top - bottom, W - left - right, C)

    Args:
        cropping: ((top, bottom), (left, right)), each >= 0 (Keras' Cropping2D form).
    """

    def __init__(self, cropping=((0, 0), (0, 0)), name: str | None = None) -> None:
        super().__init__(name)
        (top, bottom), (left, right) = cropping
        sizes = (top, bottom, left, right)
        if any(isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 0 for p in sizes):
            raise ValueError(
                f"Cropping2D {self.name!r}: cropping must be ((top, bottom), (left, right)) of integers >= 0, "
                f"received {cropping!r}"
            )
        self.cropping = ((int(top), int(bottom)), (int(left), int(right)))

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) != 3:
            raise ValueError(f"Cropping2D {self.name!r}: expects (H, W, C) images, received input shape {input_shape}")
        (top, bottom), (left, right) = self.cropping
        H, W, _ = input_shape
        if top + bottom >= H or left + right >= W:
            raise ValueError(
                f"Cropping2D {self.name!r}: cropping {self.cropping} leaves nothing of a {H}x{W} input "
                "(each cropped side must be smaller than the input)"
            )

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        (top, bottom), (left, right) = self.cropping
        H, W, C = input_shape
        return (H - top - bottom, W - left - right, C)

    def forward(self, X: np.ndarray) -> np.ndarray:
        (top, bottom), (left, right) = self.cropping
        self.X_shape = X.shape
        _, H, W, _ = X.shape
        return X[:, top : H - bottom, left : W - right, :]  # (B, H - top - bottom, W - left - right, C)

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        (top, bottom), (left, right) = self.cropping
        _, H, W, _ = self.X_shape
        dX = np.zeros(self.X_shape, dtype=dZ.dtype)  # (B, H, W, C)
        dX[:, top : H - bottom, left : W - right, :] = dZ
        return dX
