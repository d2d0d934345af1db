"""2-D convolution over NHWC images, as one matrix product (im2col).

The padding rule and the window view live here too; the pooling layers reuse them.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from scratch.layer import Layer, glorot_uniform
from scratch.threads import run_blocks

PADDINGS = ("valid", "same")

# How much im2col one matrix product reads (see Conv2D): about an L2 cache.
IM2COL_BYTES = 1024 * 1024


def output_length(size: int, k: int, stride: int, dilation: int, padding: str) -> tuple[int, int, int]:
    """(out, pad_before, pad_after) along one spatial axis, by Keras/TensorFlow's rule.

    With the dilated kernel extent K = (k - 1) * dilation + 1::

        valid:  out = floor((size - K) / stride) + 1,   no padding
        same:   out = ceil(size / stride)
                total = max((out - 1) * stride + K - size, 0)
                pad_before = total // 2,   pad_after = total - pad_before

    so an odd total puts the extra row (column) at the bottom (right).
    PyTorch's ``padding="same"`` exists only for stride 1 and pads the same way;
    with stride > 1 a PyTorch model must apply this asymmetric padding itself.
    """
    K = (k - 1) * dilation + 1
    if padding == "valid":
        return (size - K) // stride + 1, 0, 0
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + K - size, 0)
    return out, total // 2, total - total // 2


def pad_hw(X: np.ndarray, pads: tuple[int, int, int, int], value: float = 0.0) -> np.ndarray:
    """Pad axes 1 (top, bottom) and 2 (left, right) of an NHWC array; no copy when nothing to pad."""
    top, bottom, left, right = pads
    if not any(pads):
        return X
    B, H, W, C = X.shape
    Xp = np.full((B, top + H + bottom, left + W + right, C), value, dtype=X.dtype)  # (B, Hp, Wp, C)
    Xp[:, top : top + H, left : left + W, :] = X
    return Xp


def windows(Xp: np.ndarray, k: tuple[int, int], s: tuple[int, int], d: tuple[int, int], out: tuple[int, int]):
    """Read-only view of every kernel window: V[n, i, j, p, q, c] = Xp[n, i*sh + p*dh, j*sw + q*dw, c].

    Shapes:
        Xp: (B, Hp, Wp, C)  ->  V: (B, H_out, W_out, kh, kw, C)   # no copy: strides only
    """
    B, _, _, C = Xp.shape
    sB, sH, sW, sC = Xp.strides
    return as_strided(
        Xp,
        shape=(B, out[0], out[1], k[0], k[1], C),
        strides=(sB, sH * s[0], sW * s[1], sH * d[0], sW * d[1], sC),
        writeable=False,
    )


def as_pair(value, what: str, layer: str) -> tuple[int, int]:
    """An int or a pair of ints, each >= 1, as a pair; a clear error otherwise."""
    pair = (value, value) if not isinstance(value, (tuple, list)) else tuple(value)
    ok = len(pair) == 2 and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair)
    if not ok or min(pair) < 1:
        raise ValueError(f"{layer}: {what} must be a positive int or a pair of positive ints, received {value!r}")
    return int(pair[0]), int(pair[1])


def check_padding(padding, layer: str) -> str:
    if not isinstance(padding, str) or padding.lower() not in PADDINGS:
        raise ValueError(f"{layer}: padding must be 'valid' or 'same', received {padding!r}")
    return padding.lower()


def geometry(H: int, W: int, kernel_size, strides, dilation_rate, padding: str):
    """((H_out, W_out), (top, bottom, left, right)) of a window sliding over an H x W input."""
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, strides, dilation_rate
    H_out, top, bottom = output_length(H, kh, sh, dh, padding)
    W_out, left, right = output_length(W, kw, sw, dw, padding)
    return (H_out, W_out), (top, bottom, left, right)


class Conv2D(Layer):
    """2-D cross-correlation (what every framework calls convolution): Z = conv(X, W) + b.

    Forward, with Xp the zero-padded input::

        Z[n, i, j, o] = b[o] + sum_{p, q, c} Xp[n, i*sh + p*dh, j*sw + q*dw, c] * W[p, q, c, o]

    computed as a matrix product over the unrolled windows (im2col), one block of
    images n at a time (cols_n: the block's windows, P rows per image)::

        cols_n = windows(Xp[n])               # (P, kh*kw*C_in), P = H_out*W_out
        Z[n] = cols_n @ W.reshape(-1, C_out) + b = [cols_n | 1] @ [W.reshape(-1, C_out); b]

    The bias rides in the product: the im2col buffer has a last column of ones and b is
    the last row of the weight matrix (without a bias, neither is there). That is 1/(K+1)
    more product (K = kh*kw*C_in) instead of one more pass over Z: the forward pass takes
    ~5% less CPU time on the benchmark's layer (float32, one thread), and that work moves
    from NumPy's one thread to BLAS, which may use several. The backward pass reuses the
    buffer, so db comes out of the product that forms dW.

    With ``groups`` = G > 1 the channels split into G groups: output channel o (group
    g = o // (C_out/G)) reads only input channels g*C_in/G ... (g+1)*C_in/G - 1, and W
    holds C_in/G input channels. With V the windows seen as (B, H_out, W_out, kh, kw, G, C_in/G)
    and W as (kh, kw, C_in/G, G, C_out/G)::

        Z[n, i, j, g, o] = b[g, o] + sum_{p, q, c} V[n, i, j, p, q, g, c] * W[p, q, c, g, o]

    Backward, given dZ = dL/dZ (dZ_n flattened to (P, C_out))::

        [dW; db] = sum_n [cols_n | 1].T @ dZ_n   # dW reshaped to (kh, kw, C_in, C_out),
                                                # db = dZ.sum(axis=(0, 1, 2))
        dcols_n[p, q] = dZ_n @ W[p, q].T      # (P, C_in) per offset: one batched product
        dXp[n, i*sh + p*dh, j*sw + q*dw, c] += dcols_n[p, q, i, j, c]   # col2im
        dX = dXp without its padding

    col2im is one contiguous run of dXp per image and offset: dcols is computed from dZ
    placed on the padded width (dZw[n, i*sh, j*sw] = dZ[n, i, j], zeros elsewhere: Hu x Wp
    with Hu = (H_out - 1)*sh + 1), so row r = y*Wp + x of dcols_n[p, q] lands at flat index
    r + p*dh*Wp + q*dw of dXp[n] (positions flattened as y*Wp + x), and the zero rows add
    nothing. One long add per (p, q) and block instead of one short add per image row
    (~2.6x faster on the benchmark's layer), for (Hu*Wp)/(H_out*W_out) times the rows in
    the dcols product (30/28 there).

    and with G > 1, per group (the same sums, restricted to the group's channels)::

        dW[p, q, c, g, o] = sum_{n, i, j} V[n, i, j, p, q, g, c] * dZ[n, i, j, g, o]
        dV[n, i, j, p, q, g, c] = sum_o dZ[n, i, j, g, o] * W[p, q, c, g, o]
        dXp[n, i*sh + p*dh, j*sw + q*dw, :] += dV[n, i, j, p, q]      # col2im, as above

    Why blocks of images: a block's cols (``IM2COL_BYTES``, about one core's L2
    cache: two 28x28x16 images with a 3x3 kernel in float32) stays in the cache
    between the copy that builds it and the product that reads it, into one
    buffer reused by every block. One product over the whole batch would stream
    the full im2col matrix (29 MB for a batch of 64) through main memory three
    times (the copy, BLAS' packing, the product) and runs ~1.5x slower on one
    thread (``parity bench conv2d --threads 1``); smaller blocks mean more, smaller
    products, which two BLAS threads share less well. Backward rebuilds cols_n
    from the cached Xp rather than keeping all of them: the copy is cheap, the
    memory is not. With BLAS on several threads, each thread takes whole blocks
    (``scratch.threads.run_blocks``): it copies and multiplies its own blocks, so a
    block stays in the cache of the core that built it, and dW adds the blocks'
    parts in block order, the same bits on any number of threads.

    Layout: NHWC (channels last). It is Keras' default, and it makes each window's
    innermost axis (C_in) contiguous, so the im2col rows come out of a strided view
    with long contiguous runs and W reshapes to (kh*kw*C_in, C_out) without a copy.
    PyTorch works in NCHW, and its Conv2d.weight is (C_out, C_in, kh, kw) = W.transpose(3, 2, 0, 1).

    Padding ``"same"`` follows Keras/TensorFlow exactly (see ``output_length``): the
    total padding is split with the odd row/column at the bottom/right.

    Shapes:
        X, dX: (B, H, W, C_in)
        W, dW: (kh, kw, C_in // G, C_out)   # the Keras kernel is W (G = groups, 1 by default)
        b, db: (C_out,)
        Z, dZ: (B, H_out, W_out, C_out)

    Args:
        filters: C_out.
        kernel_size: (kh, kw), or one int for both.
        strides: (sh, sw), or one int.
        padding: "valid" (no padding) or "same" (H_out = ceil(H / sh)).
        dilation_rate: (dh, dw), or one int; the kernel taps are dh rows apart.
            Keras refuses strides > 1 together with dilation_rate > 1; this layer
            and torch accept the combination.
        use_bias: whether b exists.
        groups: G; C_in and C_out must both be multiples of G. G = C_in = C_out is a
            depthwise convolution written as a Conv2D (ConvNeXt's 7x7), whose kernel is
            (kh, kw, 1, C), not DepthwiseConv2D's (kh, kw, C, 1).

    W is initialised Glorot-uniform with fan_in = kh*kw*C_in/G and fan_out = kh*kw*C_out
    (Keras' default for its kernel shape), b with zeros.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, int],
        strides: int | tuple[int, int] = 1,
        padding: str = "valid",
        dilation_rate: int | tuple[int, int] = 1,
        use_bias: bool = True,
        name: str | None = None,
        groups: int = 1,
    ) -> None:
        super().__init__(name)
        where = f"Conv2D {self.name!r}"
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters < 1:
            raise ValueError(f"{where}: filters must be a positive integer, received {filters!r}")
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1 or filters % groups:
            raise ValueError(f"{where}: groups must be a positive divisor of filters={filters}, received {groups!r}")
        self.filters = int(filters)
        self.groups = int(groups)
        self.kernel_size = as_pair(kernel_size, "kernel_size", where)
        self.strides = as_pair(strides, "strides", where)
        self.dilation_rate = as_pair(dilation_rate, "dilation_rate", where)
        self.padding = check_padding(padding, where)
        self.use_bias = bool(use_bias)
        self.input_shape: tuple[int, int, int] | None = None

    def _geometry(self, H: int, W: int):
        """((H_out, W_out), (top, bottom, left, right)) for an H x W input."""
        return geometry(H, W, self.kernel_size, self.strides, self.dilation_rate, self.padding)

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) != 3:
            raise ValueError(f"Conv2D {self.name!r}: expects (H, W, C) images, received input shape {input_shape}")
        H, W, C = (int(d) for d in input_shape)
        if C % self.groups:
            raise ValueError(
                f"Conv2D {self.name!r}: groups={self.groups} does not divide the {C} input channels of input shape {input_shape}"
            )
        (kh, kw), (dh, dw) = self.kernel_size, self.dilation_rate
        Kh, Kw = (kh - 1) * dh + 1, (kw - 1) * dw + 1
        if self.padding == "valid" and (H < Kh or W < Kw):
            raise ValueError(
                f"Conv2D {self.name!r}: input {H}x{W} is smaller than the dilated kernel {Kh}x{Kw} "
                f"with padding='valid'; use padding='same' or a larger input"
            )
        self.input_shape = (H, W, C)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        (H_out, W_out), _ = self._geometry(int(input_shape[0]), int(input_shape[1]))
        return (H_out, W_out, self.filters)

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        (kh, kw), C_in, C_out = self.kernel_size, self.input_shape[2] // self.groups, self.filters
        shapes = {"W": (kh, kw, C_in, C_out)}
        if self.use_bias:
            shapes["b"] = (C_out,)
        return shapes

    def init(self, rng: np.random.Generator, dtype=np.float64) -> None:
        if self.input_shape is None:
            raise RuntimeError(f"Conv2D {self.name!r}: call build(input_shape) before init")
        (kh, kw), C_in, C_out = self.kernel_size, self.input_shape[2] // self.groups, self.filters
        shape = (kh, kw, C_in, C_out)  # C_in per group
        self.params["W"] = glorot_uniform(rng, kh * kw * C_in, kh * kw * C_out, shape, dtype)
        if self.use_bias:
            self.params["b"] = np.zeros(C_out, dtype=dtype)

    def _block(self, P: int, K: int, itemsize: int) -> int:
        """Images per matrix product: as many as keep one block's im2col within ``IM2COL_BYTES``."""
        return max(1, IM2COL_BYTES // (P * K * itemsize))

    def _im2col_buffer(self, block: int, H_out: int, W_out: int, dtype) -> tuple[np.ndarray, np.ndarray]:
        """One block's [cols | 1], reused by every block, and the window view of its cols part.

        Shapes:
            buffer: (block, H_out, W_out, K [+ 1])   # the ones column only with a bias
            cols:   (block, H_out, W_out, kh, kw, C_in) view of buffer[..., :K]
        """
        (kh, kw), C_in = self.kernel_size, self.params["W"].shape[2]
        K = kh * kw * C_in
        buffer = np.empty((block, H_out, W_out, K + self.use_bias), dtype=dtype)
        buffer[..., K:] = 1.0
        cols = buffer[..., :K].reshape(block, H_out, W_out, kh, kw, C_in)  # splits the last axis: a view
        return buffer, cols

    def forward(self, X: np.ndarray) -> np.ndarray:
        W, G = self.params["W"], self.groups
        kh, kw, C_in, C_out = W.shape
        C_in *= G  # W holds one group's input channels
        if X.ndim != 4 or X.shape[-1] != C_in:
            raise ValueError(f"Conv2D {self.name!r}: expects X of shape (B, H, W, {C_in}), received {X.shape}")
        B, H, W_in, _ = X.shape
        (H_out, W_out), pads = self._geometry(H, W_in)
        P, K = H_out * W_out, kh * kw * C_in
        Xp = pad_hw(X, pads)  # (B, Hp, Wp, C_in)
        V = windows(Xp, (kh, kw), self.strides, self.dilation_rate, (H_out, W_out))  # (B, H_out, W_out, kh, kw, C_in)
        self.Xp, self.pads = Xp, pads
        if G > 1:
            Vg = V.reshape(B, H_out, W_out, kh, kw, G, C_in // G)  # (B, H_out, W_out, kh, kw, G, C_in/G): a copy
            Wg = W.reshape(kh, kw, C_in // G, G, C_out // G)  # (kh, kw, C_in/G, G, C_out/G)
            Z = np.einsum("bhwpqgc,pqcgo->bhwgo", Vg, Wg, optimize=True).reshape(B, H_out, W_out, C_out)
            return Z + self.params["b"] if self.use_bias else Z
        W2 = W.reshape(K, C_out)  # (K, C_out), no copy
        if self.use_bias:
            W2 = np.concatenate([W2, self.params["b"][None]])  # (K + 1, C_out): [W; b]
        dtype = np.result_type(X, W)
        Z = np.empty((B, P, C_out), dtype=dtype)  # (B, P, C_out)
        block = self._block(P, K, np.dtype(dtype).itemsize)

        def blocks(thread: int, starts) -> None:
            buffer, cols = self._im2col_buffer(block, H_out, W_out, dtype)  # [cols | 1] of one block, reused
            for n in starts:
                g = min(block, B - n)
                np.copyto(cols[:g], V[n : n + g])  # the im2col copy of images n .. n+g-1
                Zn = Z[n : n + g].reshape(g * P, C_out)  # (g*P, C_out) view
                np.matmul(buffer[:g].reshape(g * P, -1), W2, out=Zn)  # [cols | 1] @ [W; b]

        run_blocks(blocks, range(0, B, block))  # each BLAS thread copies and multiplies its own blocks
        return Z.reshape(B, H_out, W_out, C_out)

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        W, Xp = self.params["W"], self.Xp
        kh, kw, C_in, C_out = W.shape
        B, H_out, W_out, _ = dZ.shape
        P, K = H_out * W_out, kh * kw * C_in
        (sh, sw), (dh, dw) = self.strides, self.dilation_rate
        V = windows(Xp, (kh, kw), self.strides, self.dilation_rate, (H_out, W_out))  # (B, H_out, W_out, kh, kw, C_in)
        if self.groups > 1:
            return self._backward_grouped(dZ, V)
        dZ3 = dZ.reshape(B, P, C_out)  # (B, P, C_out)
        Hp, Wp = Xp.shape[1:3]
        Hu, Wu = (H_out - 1) * sh + 1, (W_out - 1) * sw + 1  # the rows and columns dZ reaches in dXp
        R = Hu * Wp  # dcols rows per image: dZ on the padded width (see the class docstring)
        L = ((Hu - 1) * Wp + Wu) * C_in  # the run of dXp one offset updates per image
        Wt = np.ascontiguousarray(W.reshape(kh * kw, C_in, C_out).transpose(0, 2, 1))  # (kh*kw, C_out, C_in)
        dtype = np.result_type(dZ, W)
        block = self._block(P, K, np.dtype(dtype).itemsize)
        starts = range(0, B, block)
        dWb_n = np.empty((len(starts), K + self.use_bias, C_out), dtype=dtype)  # each block's [dW; db] part
        dXp = np.zeros(Xp.shape, dtype=dtype)  # (B, Hp, Wp, C_in)
        dXf = dXp.reshape(B, Hp * Wp * C_in)  # (B, Hp*Wp*C_in) view: flat index (y*Wp + x)*C_in + c

        def blocks(thread: int, starts_t) -> None:
            buffer, cols = self._im2col_buffer(block, H_out, W_out, dtype)  # [cols | 1] of one block, reused
            dZw = np.zeros((block, Hu, Wp, C_out), dtype=dtype)  # one block's dZ on the padded width, reused
            dcols = np.empty((kh * kw, block * R, C_in), dtype=dtype)  # one block's dcols, reused
            for n in starts_t:
                g = min(block, B - n)
                np.copyto(cols[:g], V[n : n + g])  # the forward's im2col, rebuilt
                dZn = dZ3[n : n + g].reshape(g * P, C_out)  # (g*P, C_out)
                np.matmul(buffer[:g].reshape(g * P, -1).T, dZn, out=dWb_n[n // block])  # this block's part of the sums
                dZw[:g, ::sh, :Wu:sw] = dZ[n : n + g]  # row i*sh, column j*sw; the zeros stay
                dcols_n = dcols[:, : g * R]  # (kh*kw, g*R, C_in)
                np.matmul(dZw[:g].reshape(g * R, C_out), Wt, out=dcols_n)
                dcols_n = dcols_n.reshape(kh * kw, g, R * C_in)  # (kh*kw, g, R*C_in)
                for p in range(kh):
                    for q in range(kw):
                        offset = (p * dh * Wp + q * dw) * C_in  # of (p, q)'s run in each image
                        dXf[n : n + g, offset : offset + L] += dcols_n[p * kw + q, :, :L]  # col2im: one run per image

        run_blocks(blocks, starts)  # each BLAS thread rebuilds and multiplies its own blocks
        dWb = np.zeros((K + self.use_bias, C_out), dtype=dtype)  # (K [+ 1], C_out): [dW; db]
        for part in dWb_n:
            dWb += part  # the sums over the batch, in block order whatever the threads
        self.grads["W"] = dWb[:K].reshape(kh, kw, C_in, C_out)
        if self.use_bias:
            self.grads["b"] = dWb[K]  # (C_out,): the sum of dZ over B*P rows, as part of the product
        top, bottom, left, right = self.pads
        return dXp[:, top : Hp - bottom, left : Wp - right, :]

    def _backward_grouped(self, dZ: np.ndarray, V: np.ndarray) -> np.ndarray:
        """The backward of ``groups`` > 1 (see the class docstring): the sums per group, then col2im."""
        W, Xp, G = self.params["W"], self.Xp, self.groups
        kh, kw, Cg_in, C_out = W.shape
        B, H_out, W_out, _ = dZ.shape
        (sh, sw), (dh, dw) = self.strides, self.dilation_rate
        Vg = V.reshape(B, H_out, W_out, kh, kw, G, Cg_in)  # (B, H_out, W_out, kh, kw, G, C_in/G)
        dZg = dZ.reshape(B, H_out, W_out, G, C_out // G)  # (B, H_out, W_out, G, C_out/G)
        Wg = W.reshape(kh, kw, Cg_in, G, C_out // G)  # (kh, kw, C_in/G, G, C_out/G)
        dW = np.einsum("bhwpqgc,bhwgo->pqcgo", Vg, dZg, optimize=True)  # (kh, kw, C_in/G, G, C_out/G)
        self.grads["W"] = dW.reshape(kh, kw, Cg_in, C_out)
        if self.use_bias:
            self.grads["b"] = dZ.sum(axis=(0, 1, 2))
        dV = np.einsum("bhwgo,pqcgo->pqbhwgc", dZg, Wg, optimize=True)  # (kh, kw, B, H_out, W_out, G, C_in/G)
        dXp = np.zeros(Xp.shape, dtype=np.result_type(dZ, W))  # (B, Hp, Wp, C_in)
        for p in range(kh):
            rows = slice(p * dh, p * dh + (H_out - 1) * sh + 1, sh)
            for q in range(kw):
                cols_q = slice(q * dw, q * dw + (W_out - 1) * sw + 1, sw)
                dXp[:, rows, cols_q, :] += dV[p, q].reshape(B, H_out, W_out, G * Cg_in)
        top, bottom, left, right = self.pads
        Hp, Wp = Xp.shape[1:3]
        return dXp[:, top : Hp - bottom, left : Wp - right, :]
