"""2-D transposed convolution over NHWC images: the adjoint of Conv2D.

Each input pixel scatters a kernel-sized patch into the output (stride s apart), where
Conv2D gathers a kernel-sized window into one output pixel. The window geometry
(``windows``) is Conv2D's: the backward pass of this layer is a Conv2D forward pass.
"""

from __future__ import annotations

import numpy as np

from scratch.conv2d import as_pair, check_padding, windows
from scratch.layer import Layer, glorot_uniform


def transpose_length(size: int, k: int, stride: int, padding: str, output_padding: int | None) -> tuple[int, int, int]:
    """(out, crop_before, crop_after) along one axis, by Keras/TensorFlow's rule.

    The scatter fills F = (size - 1) * stride + k positions (the "full" output). Then::

        valid:  out = F + output_padding          (output_padding None: max(k, s) - k)
        same:   out = size * stride               (output_padding None)
                out = (size - 1) * stride + k % 2 + output_padding
        total = F - out                           # what is cut off; negative: zeros appended
        crop_before = max(total // 2, 0),   crop_after = total - crop_before

    so an odd total cuts the extra row (column) at the bottom (right), the adjoint of Conv2D's
    "same" padding putting its extra row there; a negative total (output_padding) appends rows
    the scatter never reaches at the bottom (right), where they hold the bias only.
    PyTorch crops ``padding`` on both sides and appends ``output_padding`` at the end:
    crop_before = padding, crop_after = padding - output_padding.
    """
    F = (size - 1) * stride + k
    if padding == "valid":
        out = F + (max(k, stride) - k if output_padding is None else output_padding)
    elif output_padding is None:
        out = size * stride
    else:
        out = (size - 1) * stride + k % 2 + output_padding
    total = F - out
    before = max(total // 2, 0)
    return out, before, total - before


def _output_padding(value, strides: tuple[int, int], where: str) -> tuple[int, int] | None:
    """None, or a pair of ints with 0 <= output_padding < stride on each axis; a clear error otherwise."""
    if value is None:
        return None
    pair = (value, value) if not isinstance(value, (tuple, list)) else tuple(value)
    ints = len(pair) == 2 and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair)
    if not ints or min(pair) < 0 or pair[0] >= strides[0] or pair[1] >= strides[1]:
        raise ValueError(
            f"{where}: output_padding must be None or ints 0 <= output_padding < strides {strides}, received {value!r}"
        )
    return int(pair[0]), int(pair[1])


class Conv2DTranspose(Layer):
    """Transposed 2-D convolution: Z = conv_transpose(X, W) + b, the adjoint of Conv2D.

    Forward: every input pixel adds W, weighted by its channels, into the full output F::

        F[n, i*sh + p, j*sw + q, o] += sum_c X[n, i, j, c] * W[p, q, o, c]
        Z = F[:, ct : ct + H_out, cl : cl + W_out, :] + b      # cropped (or zero-extended)

    computed as one matrix product and a scatter (col2im)::

        patches = X.reshape(N, C_in) @ W.reshape(kh*kw*C_out, C_in).T    # N = B*H*W
        F[:, p::sh, q::sw] += patches[..., p, q, :]                      # one slice per (p, q)

    If Conv2D with kernel W[p, q, o, c] maps o-channel images to c-channel ones, this layer
    is exactly its adjoint (the map its backward pass applies to dZ): no kernel flip.

    Backward, given dZ = dL/dZ: dF is dZ placed back where Z was cut from F (zero elsewhere),
    and every input pixel gathers the window it scattered to, Conv2D's forward pass::

        V[n, i, j, p, q, o] = dF[n, i*sh + p, j*sw + q, o]          # windows(dF): a view
        dX = V.reshape(N, kh*kw*C_out) @ W.reshape(kh*kw*C_out, C_in)
        dW = V.reshape(N, kh*kw*C_out).T @ X.reshape(N, C_in)        # reshaped to W's shape
        db = dZ.sum(axis=(0, 1, 2))

    Output size and cropping follow Keras (``transpose_length``): "valid" keeps all of F,
    "same" gives H_out = H * sh; ``output_padding`` (< stride) fixes the size explicitly.

    Shapes:
        X, dX: (B, H, W, C_in)
        W, dW: (kh, kw, C_out, C_in)   # the Keras kernel is W; torch's ConvTranspose2d.weight
                                       # is (C_in, C_out, kh, kw) = W.transpose(3, 2, 0, 1)
        b, db: (C_out,)
        F, dF: (B, (H - 1)*sh + kh + extension, (W - 1)*sw + kw + extension, C_out)
        Z, dZ: (B, H_out, W_out, C_out)

    Args:
        filters: C_out.
        kernel_size: (kh, kw), or one int for both.
        strides: (sh, sw), or one int.
        padding: "valid" or "same" (Keras' meaning, see ``transpose_length``).
        output_padding: (oh, ow), one int, or None (Keras' default: the size the padding implies);
            each must be smaller than its stride.
        use_bias: whether b exists.

    W is initialised Glorot-uniform with fan_in = kh*kw*C_out and fan_out = kh*kw*C_in (Keras reads
    the fans off the kernel's last two axes; Glorot's limit is symmetric in them), b with zeros.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, int],
        strides: int | tuple[int, int] = 1,
        padding: str = "valid",
        output_padding: int | tuple[int, int] | None = None,
        use_bias: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        where = f"Conv2DTranspose {self.name!r}"
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters < 1:
            raise ValueError(f"{where}: filters must be a positive integer, received {filters!r}")
        self.filters = int(filters)
        self.kernel_size = as_pair(kernel_size, "kernel_size", where)
        self.strides = as_pair(strides, "strides", where)
        self.padding = check_padding(padding, where)
        self.output_padding = _output_padding(output_padding, self.strides, where)
        self.use_bias = bool(use_bias)
        self.input_shape: tuple[int, int, int] | None = None

    def _geometry(self, H: int, W: int):
        """((H_out, W_out), (top, bottom, left, right)) crops of the full output; negative: zeros appended."""
        op = self.output_padding or (None, None)
        H_out, top, bottom = transpose_length(H, self.kernel_size[0], self.strides[0], self.padding, op[0])
        W_out, left, right = transpose_length(W, self.kernel_size[1], self.strides[1], self.padding, op[1])
        return (H_out, W_out), (top, bottom, left, right)

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) != 3:
            raise ValueError(
                f"Conv2DTranspose {self.name!r}: expects (H, W, C) images, received input shape {input_shape}"
            )
        H, W, C = (int(d) for d in input_shape)
        (H_out, W_out), _ = self._geometry(H, W)
        if H_out < 1 or W_out < 1:
            raise ValueError(f"Conv2DTranspose {self.name!r}: input {H}x{W} gives an empty output {H_out}x{W_out}")
        self.input_shape = (H, W, C)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        (H_out, W_out), _ = self._geometry(int(input_shape[0]), int(input_shape[1]))
        return (H_out, W_out, self.filters)

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        (kh, kw), C_in, C_out = self.kernel_size, self.input_shape[2], self.filters
        shapes = {"W": (kh, kw, C_out, C_in)}
        if self.use_bias:
            shapes["b"] = (C_out,)
        return shapes

    def init(self, rng: np.random.Generator, dtype=np.float64) -> None:
        if self.input_shape is None:
            raise RuntimeError(f"Conv2DTranspose {self.name!r}: call build(input_shape) before init")
        (kh, kw), C_in, C_out = self.kernel_size, self.input_shape[2], self.filters
        self.params["W"] = glorot_uniform(rng, kh * kw * C_out, kh * kw * C_in, (kh, kw, C_out, C_in), dtype)
        if self.use_bias:
            self.params["b"] = np.zeros(C_out, dtype=dtype)

    def _full_shape(self, B: int, H: int, W_in: int, C_out: int):
        """The full output, extended at the end where output_padding asks for more than the scatter fills."""
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        _, (_, bottom, _, right) = self._geometry(H, W_in)
        return (B, (H - 1) * sh + kh + max(-bottom, 0), (W_in - 1) * sw + kw + max(-right, 0), C_out)

    def forward(self, X: np.ndarray) -> np.ndarray:
        W = self.params["W"]
        kh, kw, C_out, C_in = W.shape
        if X.ndim != 4 or X.shape[-1] != C_in:
            raise ValueError(f"Conv2DTranspose {self.name!r}: expects X of shape (B, H, W, {C_in}), received {X.shape}")
        B, H, W_in, _ = X.shape
        (sh, sw) = self.strides
        (H_out, W_out), (top, _, left, _) = self._geometry(H, W_in)
        patches = X.reshape(-1, C_in) @ W.reshape(kh * kw * C_out, C_in).T  # (N, kh*kw*C_out)
        patches = patches.reshape(B, H, W_in, kh, kw, C_out)
        F = np.zeros(self._full_shape(B, H, W_in, C_out), dtype=patches.dtype)  # (B, Hf, Wf, C_out)
        for p in range(kh):
            rows = slice(p, p + (H - 1) * sh + 1, sh)
            for q in range(kw):
                cols = slice(q, q + (W_in - 1) * sw + 1, sw)
                F[:, rows, cols, :] += patches[:, :, :, p, q, :]
        Z = F[:, top : top + H_out, left : left + W_out, :]  # (B, H_out, W_out, C_out)
        if self.use_bias:
            Z = Z + self.params["b"]
        self.X, self.F_shape, self.crop = X, F.shape, (top, left)
        return Z

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        W, X = self.params["W"], self.X
        kh, kw, C_out, C_in = W.shape
        B, H, W_in, _ = X.shape
        _, H_out, W_out, _ = dZ.shape
        top, left = self.crop
        dF = np.zeros(self.F_shape, dtype=dZ.dtype)  # (B, Hf, Wf, C_out)
        dF[:, top : top + H_out, left : left + W_out, :] = dZ
        V = windows(dF, (kh, kw), self.strides, (1, 1), (H, W_in))  # (B, H, W, kh, kw, C_out)
        V2 = V.reshape(-1, kh * kw * C_out)  # (N, kh*kw*C_out)
        self.grads["W"] = (V2.T @ X.reshape(-1, C_in)).reshape(kh, kw, C_out, C_in)
        if self.use_bias:
            self.grads["b"] = dZ.sum(axis=(0, 1, 2))
        return (V2 @ W.reshape(kh * kw * C_out, C_in)).reshape(B, H, W_in, C_in)
