"""Conv2D speed: the scratch im2col layer against the torch model, float32.

One configuration, the first layer of a small MNIST-sized network: a batch of 64
28x28 images, 16 -> 32 channels, 3x3 kernel, stride 1, "same" padding.
"forward" times the forward pass; "forward+backward" adds the gradients of
L = sum(Z * G) with respect to the input and the parameters (scratch: the
hand-written ``backward``; torch: autograd). Scratch reads NHWC; torch runs the
project's model (framework.pytorch.models.conv_layers.conv2d: nn.Conv2d(padding="same"))
on the same arrays transposed to NCHW once, outside the timing, with
the same thread count as NumPy's BLAS; its forward runs under ``torch.no_grad()``. Each figure is
the median of ``repeats`` timed runs after two untimed warm-up runs.

Run: ``python -m benchmarks.conv2d [repeats]``.
"""

from __future__ import annotations

import sys

import numpy as np

from benchmarks import gemm_flops, measure, print_ratios, torch_steps

BATCH, H, W, C_IN, C_OUT, K = 64, 28, 28, 16, 32, 3
CONFIG = {"filters": C_OUT, "kernel_size": K, "strides": 1, "padding": "same", "dilation_rate": 1, "use_bias": True}

# The GEMMs of the maths, N = B*H*W output pixels ("same", stride 1), K*K*C_in terms each:
# forward Z = cols @ W; backward dW = cols.T @ dZ and dcols = dZ @ W.T, each as large.
_FORWARD = gemm_flops(BATCH * H * W, C_OUT, K * K * C_IN)
FLOPS = {"forward": _FORWARD, "forward+backward": 3 * _FORWARD}


def _scratch_steps(X: np.ndarray, G: np.ndarray):
    from scratch.models.conv_layers import conv2d

    model = conv2d((H, W, C_IN), **CONFIG)
    model.init(np.random.default_rng(0), np.float32)

    def forward():
        return model.forward(X)

    def forward_backward():
        model.forward(X)
        return model.backward(G)

    return forward, forward_backward


def _torch_steps(X: np.ndarray, G: np.ndarray):
    import torch

    from framework.pytorch.models.conv_layers import conv2d

    X_nchw = np.ascontiguousarray(X.transpose(0, 3, 1, 2))  # (B, C_in, H, W)
    G_nchw = np.ascontiguousarray(G.transpose(0, 3, 1, 2))  # (B, C_out, H, W)
    return torch_steps(conv2d((H, W, C_IN), **CONFIG).to(torch.float32), X_nchw, G_nchw)


MAKERS = {"scratch": _scratch_steps, "torch": _torch_steps}


def inputs() -> tuple[np.ndarray, np.ndarray]:
    """X and the cotangent G, seeded."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((BATCH, H, W, C_IN)).astype(np.float32)  # (B, H, W, C_in)
    G = rng.standard_normal((BATCH, H, W, C_OUT)).astype(np.float32)  # (B, H, W, C_out): "same", stride 1
    return X, G


def run(repeats: int = 20, threads: int | None = None) -> list[dict]:
    """One record per (implementation, phase): {benchmark, impl, phase, median_s, threads, flops, gflops}."""
    X, G = inputs()
    return measure("conv2d", tuple(MAKERS.items()), X, G, repeats, threads, FLOPS)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    repeats = int(argv[0]) if argv else 20
    records = run(repeats)
    print(f"conv2d, float32, batch {BATCH}, {H}x{W}, {C_IN}->{C_OUT} channels, {K}x{K}, same; median of {repeats}")
    print_ratios(records)


if __name__ == "__main__":
    main()
