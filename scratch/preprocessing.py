"""Preprocessing inside a model: a fixed affine map of the pixels, and standardisation by
stored per-channel statistics (Keras' ``Rescaling`` and ``Normalization``, which
EfficientNet and MobileNetV3 put first)."""

from __future__ import annotations

import numpy as np

from scratch.layer import Layer

# Keras' backend.epsilon() (keras/src/backend/config.py): Normalization divides by
# max(sqrt(variance), EPSILON), so a zero variance divides by 1e-7, not by zero.
EPSILON = 1e-7


def _values(value, where: str, what: str) -> float | tuple[float, ...]:
    """A finite number, or a non-empty list of them (one per channel)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        items = [v for v in np.asarray(value, dtype=object).ravel()]
        ok = len(items) > 0 and all(_number(v) for v in items)
        if not ok:
            raise ValueError(f"{where}: {what} must be a finite number or a list of them, received {value!r}")
        return tuple(float(v) for v in items)
    if not _number(value):
        raise ValueError(f"{where}: {what} must be a finite number or a list of them, received {value!r}")
    return float(value)


def _number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and np.isfinite(value)


class Rescaling(Layer):
    """A fixed affine map of every value: Z = X * scale + offset (pixels 0..255 -> 0..1, or -1..1).

    Forward::

        Z = X * scale + offset

    Backward, given dZ (scale and offset are constants, not weights)::

        dX = dZ * scale

    ``scale`` and ``offset`` are numbers, or one number per channel (the last axis), broadcast
    over every other axis.

    Shapes:
        X, dX, Z, dZ: (B, ..., C), any rank
        scale, offset: () or (C,)

    Args:
        scale: the factor (Keras' ``Rescaling(scale=1 / 255)``).
        offset: added after scaling (MobileNetV3: ``scale=1 / 127.5, offset=-1``).
    """

    def __init__(self, scale=1.0, offset=0.0, name: str | None = None) -> None:
        super().__init__(name)
        where = f"Rescaling {self.name!r}"
        self.scale = _values(scale, where, "scale")
        self.offset = _values(offset, where, "offset")

    def build(self, input_shape: tuple[int, ...]) -> None:
        for what, value in (("scale", self.scale), ("offset", self.offset)):
            if isinstance(value, tuple) and len(value) not in (1, input_shape[-1]):
                raise ValueError(
                    f"Rescaling {self.name!r}: {what} has {len(value)} values for inputs of shape {input_shape} "
                    f"(one, or one per channel: {input_shape[-1]})"
                )

    def forward(self, X: np.ndarray) -> np.ndarray:
        self.s = np.asarray(self.scale, dtype=X.dtype)  # () or (C,): broadcast over the last axis
        return X * self.s + np.asarray(self.offset, dtype=X.dtype)

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        return dZ * self.s


class Normalization(Layer):
    """Standardise each channel by stored statistics: Z = (X - mean) / max(sqrt(variance), eps).

    The statistics are not trained: Keras fills them with ``adapt(data)`` (or takes them as
    ``mean=``/``variance=``) and keeps them as non-trainable weights (``state`` here).

    Forward (``invert=False``)::

        S = max(sqrt(variance), eps)         # eps = 1e-7, Keras' backend.epsilon()
        Z = (X - mean) / S

    Backward, given dZ (the statistics are constants)::

        dX = dZ / S

    With ``invert=True`` the inverse map, Z = mean + X * S, and dX = dZ * S.

    Shapes:
        X, dX, Z, dZ: (B, ..., C), any rank; statistics per channel (Keras' ``axis=-1``)
        mean, variance, S: (C,)

    Args:
        invert: apply the inverse map (de-standardise), as Keras' ``invert=True``.
        epsilon: the floor of the standard deviation (Keras takes backend.epsilon()).
        mean, variance: constants, one per channel (Keras' ``Normalization(mean=..., variance=...)``,
            EfficientNetV2's ImageNet statistics): then no weights; None: the statistics are weights.
    """

    def __init__(
        self, invert: bool = False, epsilon: float = EPSILON, name: str | None = None, mean=None, variance=None
    ) -> None:
        super().__init__(name)
        if not isinstance(invert, bool):
            raise ValueError(f"Normalization {self.name!r}: invert must be true or false, received {invert!r}")
        if not _number(epsilon) or not epsilon > 0:
            raise ValueError(f"Normalization {self.name!r}: epsilon must be a positive number, received {epsilon!r}")
        if (mean is None) != (variance is None):
            raise ValueError(f"Normalization {self.name!r}: give both mean and variance, or neither")
        self.invert, self.epsilon = invert, float(epsilon)
        self.constants = None if mean is None else (np.asarray(mean, dtype=np.float64), np.asarray(variance, dtype=np.float64))
        self.channels: int | None = None

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.channels = int(input_shape[-1])
        if self.constants is not None and any(c.shape != (self.channels,) for c in self.constants):
            raise ValueError(
                f"Normalization {self.name!r}: mean and variance need {self.channels} values (one per channel), "
                f"received {self.constants[0].shape[0]} and {self.constants[1].shape[0]}"
            )

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        if self.constants is not None:
            return {}
        return {"mean": (self.channels,), "variance": (self.channels,)}

    def init(self, rng: np.random.Generator, dtype=np.float64) -> None:
        if self.channels is None:
            raise RuntimeError(f"Normalization {self.name!r}: call build(input_shape) before init")
        if self.constants is None:
            self.state["mean"] = np.zeros(self.channels, dtype=dtype)  # Keras' build, before adapt()
            self.state["variance"] = np.ones(self.channels, dtype=dtype)

    def forward(self, X: np.ndarray) -> np.ndarray:
        stats = self.constants if self.constants is not None else (self.state["mean"], self.state["variance"])
        mean, variance = stats[0].astype(X.dtype), stats[1].astype(X.dtype)
        if np.any(variance < 0):
            raise ValueError(f"Normalization {self.name!r}: a negative variance")
        self.S = np.maximum(np.sqrt(variance), X.dtype.type(self.epsilon))  # (C,)
        if self.invert:
            return mean + X * self.S
        return (X - mean) / self.S

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        return dZ * self.S if self.invert else dZ / self.S
