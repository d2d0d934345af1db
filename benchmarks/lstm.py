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

from benchmarks import measure, print_ratios, torch_steps

BATCH, STEPS, FEATURES, UNITS = 32, 50, 64, 128


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


def run(repeats: int = 20, threads: int | None = None) -> list[dict]:
    """One record per (implementation, phase): {benchmark, impl, phase, median_s}."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((BATCH, STEPS, FEATURES)).astype(np.float32)  # (B, T, F)
    G = rng.standard_normal((BATCH, STEPS, UNITS)).astype(np.float32)  # (B, T, H): every step returned
    return measure("lstm", (("scratch", _scratch_steps), ("torch", _torch_steps)), X, G, repeats, threads)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    repeats = int(argv[0]) if argv else 20
    records = run(repeats)
    print(f"lstm, float32, batch {BATCH}, {STEPS} steps, {FEATURES} inputs, {UNITS} units; median of {repeats}")
    print_ratios(records)


if __name__ == "__main__":
    main()
