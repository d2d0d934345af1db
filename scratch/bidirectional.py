"""A bidirectional recurrent layer: one recurrence reads the sequence forwards, a second backwards."""

from __future__ import annotations

import numpy as np

from scratch.layer import Layer
from scratch.simple_rnn import Recurrent


class Bidirectional(Layer):
    """Two copies of a recurrent layer, one on X and one on X reversed in time, concatenated.

    Forward, with ``rev`` reversing the time axis (rev(X)[:, t] = X[:, T-1-t])::

        Zf = forward_layer(X)                  # reads x_0, ..., x_{T-1}
        Zb = backward_layer(rev(X))            # reads x_{T-1}, ..., x_0
        return_sequences:  Z = [Zf | rev(Zb)]  # step t pairs the two states that have just read x_t
        otherwise:         Z = [Zf | Zb]       # Zf after reading x_{T-1}, Zb after reading x_0

    Backward, given dZ = [dZf | dZb] split on the last axis::

        dZb  = rev(dZb) if return_sequences else dZb    # rev is its own inverse
        dX   = forward_layer.backward(dZf) + rev(backward_layer.backward(dZb))
        forward_* gradients are the forward layer's, backward_* the backward layer's

    Shapes:
        X, dX: (B, T, F)
        forward_W, backward_W, ...: each direction's own parameters (scratch/lstm.py, scratch/gru.py)
        Zf, Zb: (B, T, H) if return_sequences else (B, H)
        Z, dZ: (B, T, 2H) if return_sequences else (B, 2H)
        # torch: weight_ih_l0 ... are the forward layer's, weight_ih_l0_reverse ... the backward one's;
        # Keras: layer.forward_layer and layer.backward_layer, weights in that order

    Args:
        layer: the recurrent layer to copy (its class, units, use_bias, return_sequences and
            options are used; its parameters are not); both copies start from Keras' defaults.
    """

    def __init__(self, layer: Recurrent, name: str | None = None) -> None:
        super().__init__(name)
        if not isinstance(layer, Recurrent):
            raise ValueError(
                f"Bidirectional {self.name!r}: layer must be a recurrent layer, received {type(layer).__name__}"
            )
        self.layer = layer
        self.units = layer.units
        self.use_bias = layer.use_bias
        self.return_sequences = layer.return_sequences
        self.forward_layer = layer
        self.forward_layer.name = f"{self.name}.forward"
        self.backward_layer = _copy(layer, f"{self.name}.backward")
        self.directions = {"forward": self.forward_layer, "backward": self.backward_layer}

    @property
    def input_dim(self) -> int | None:
        return self.forward_layer.input_dim

    def build(self, input_shape: tuple[int, ...]) -> None:
        for direction in self.directions.values():
            direction.build(input_shape)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        shape = self.forward_layer.output_shape(input_shape)
        return (*shape[:-1], 2 * shape[-1])

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        return {
            f"{prefix}_{key}": shape
            for prefix, direction in self.directions.items()
            for key, shape in direction.weight_shapes().items()
        }

    def init(self, rng: np.random.Generator, dtype=np.float64) -> None:
        for prefix, direction in self.directions.items():
            direction.init(rng, dtype)
            for key, value in direction.params.items():
                self.params[f"{prefix}_{key}"] = value

    def _share_params(self) -> None:
        """Hand each direction its own slice of ``params`` (a caller may have replaced the arrays)."""
        for prefix, direction in self.directions.items():
            direction.params = {key: self.params[f"{prefix}_{key}"] for key in direction.weight_shapes()}

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._share_params()
        Zf = self.forward_layer.forward(X)
        Zb = self.backward_layer.forward(np.ascontiguousarray(X[:, ::-1]))  # reads x_{T-1} first
        if self.return_sequences:
            Zb = Zb[:, ::-1]  # (B, T, H): back in the input's time order
        return np.concatenate([Zf, Zb], axis=-1)  # (B, T, 2H) or (B, 2H)

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        H = self.units
        dZf, dZb = dZ[..., :H], dZ[..., H:]
        if self.return_sequences:
            dZb = dZb[:, ::-1]  # (B, T, H): in the order the backward layer read
        dX = self.forward_layer.backward(np.ascontiguousarray(dZf))
        dX = dX + self.backward_layer.backward(np.ascontiguousarray(dZb))[:, ::-1]  # (B, T, F)
        self.grads = {
            f"{prefix}_{key}": value
            for prefix, direction in self.directions.items()
            for key, value in direction.grads.items()
        }
        return dX


def _copy(layer: Recurrent, name: str) -> Recurrent:
    """A fresh layer of the same class and configuration (Keras deep-copies the layer's config)."""
    options = {"reset_after": layer.reset_after} if hasattr(layer, "reset_after") else {}
    return type(layer)(
        layer.units, return_sequences=layer.return_sequences, use_bias=layer.use_bias, name=name, **options
    )
