"""LSTM speed: the scratch layer (hand-written backpropagation through time) against torch's nn.LSTM, float32.

One configuration: a batch of 32 sequences of 50 steps, 64 input features, 128
units, every step returned (return_sequences=True). "forward" times the forward
pass; "forward+backward" adds the gradients of L = sum(Z * G) with respect to the
input and the parameters (scratch: the hand-written ``backward``; torch: autograd).
torch runs the project's model (framework.pytorch.models.rnn_layers.lstm: an nn.Module
around nn.LSTM(batch_first=True) returning every step) on its default thread count; its forward runs under
``torch.no_grad()``. Each figure is the median of ``repeats`` timed runs after two
untimed warm-up runs.

Run: ``python -m benchmarks.lstm [repeats]``.
"""

from __future__ import annotations

import sys

import numpy as np

from benchmarks import gemm_flops, measure, print_ratios, torch_steps

BATCH, STEPS, FEATURES, UNITS = 32, 50, 64, 128

# The GEMMs of the maths: forward x_t W for all steps at once and h_{t-1} U per step;
# backward dW = X.T dA, dU = H.T dA, dX = dA W.T and dh_{t-1} = dA_t U.T per step, the
# same sizes again twice over.
_FORWARD = gemm_flops(STEPS * BATCH, 4 * UNITS, FEATURES) + STEPS * gemm_flops(BATCH, 4 * UNITS, UNITS)
FLOPS = {"forward": _FORWARD, "forward+backward": 3 * _FORWARD}


def _scratch_steps(X: np.ndarray, G: np.ndarray):
    from scratch.lstm import LSTM
    from scratch.sequential import Sequential

    model = Sequential([LSTM(UNITS, return_sequences=True)], input_shape=(STEPS, FEATURES))
    model.init(np.random.default_rng(0), np.float32)

    def forward():
        return model.forward(X)

    def forward_backward():
        model.forward(X)
        return model.backward(G)

    return forward, forward_backward


def _torch_steps(X: np.ndarray, G: np.ndarray):
    import torch

    from framework.pytorch.models.rnn_layers import lstm

    return torch_steps(lstm((STEPS, FEATURES), UNITS, return_sequences=True).to(torch.float32), X, G)


MAKERS = {"scratch": _scratch_steps, "torch": _torch_steps}


def inputs() -> tuple[np.ndarray, np.ndarray]:
    """X and the cotangent G, seeded."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((BATCH, STEPS, FEATURES)).astype(np.float32)  # (B, T, F)
    G = rng.standard_normal((BATCH, STEPS, UNITS)).astype(np.float32)  # (B, T, H): every step returned
    return X, G


def run(repeats: int = 20, threads: int | None = None) -> list[dict]:
    """One record per (implementation, phase): {benchmark, impl, phase, median_s, threads, flops, gflops}."""
    X, G = inputs()
    return measure("lstm", tuple(MAKERS.items()), X, G, repeats, threads, FLOPS)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    repeats = int(argv[0]) if argv else 20
    records = run(repeats)
    print(f"lstm, float32, batch {BATCH}, {STEPS} steps, {FEATURES} inputs, {UNITS} units; median of {repeats}")
    print_ratios(records)


if __name__ == "__main__":
    main()
