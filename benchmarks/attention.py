"""Multi-head self-attention speed: the scratch layer against torch's nn.MultiheadAttention, float32.

One configuration, a small transformer block's attention: a batch of 16 sequences of
64 steps, embedding 64, 4 heads of 16 features each, with biases, no mask. "forward"
times the forward pass; "forward+backward" adds the gradients of L = sum(Z * G) with
respect to the input and the parameters (scratch: the hand-written ``backward``;
torch: autograd). torch runs the project's model
(framework.pytorch.models.attention.multi_head_attention: nn.MultiheadAttention(batch_first=True)
called as attn(x, x, x, need_weights=False), which computes the scores with
F.scaled_dot_product_attention) on the same arrays, with the same thread count as
NumPy's BLAS; its forward runs under ``torch.no_grad()``. Each figure is the median of
``repeats`` timed runs after two untimed warm-up runs.

FLOPs, B = 16, T = 64, E = 64, h = 4, d = 16 (h d = E), every GEMM 2·M·N·K::

    QKV projections   3 x (B T, E) @ (E, h d)           3 · 2 B T E h d
    scores Q·Kᵀ       B h x (T, d) @ (d, T)              2 B h T T d
    A·V               B h x (T, T) @ (T, d)              2 B h T T d
    output projection (B T, h d) @ (h d, E)              2 B T h d E

Backward has two GEMMs of the same size for each of these (dW and dX for every
projection; dV = Aᵀ dO and dA = dO Vᵀ for A·V; dQ = dS K and dK = dSᵀ Q for the
scores), so forward+backward is three times the forward count. The softmax and
bias additions are not counted: they are O(B h T T) and O(B T E), not GEMMs.

Run: ``python -m benchmarks.attention [repeats]``.
"""

from __future__ import annotations

import sys

import numpy as np

from benchmarks import gemm_flops, measure, print_ratios, torch_steps

BATCH, STEPS, EMBED, HEADS = 16, 64, 64, 4
KEY_DIM = EMBED // HEADS  # d = 16: torch needs h d = E

_PROJECTIONS = 3 * gemm_flops(BATCH * STEPS, HEADS * KEY_DIM, EMBED) + gemm_flops(BATCH * STEPS, EMBED, HEADS * KEY_DIM)
_ATTENTION = BATCH * HEADS * (gemm_flops(STEPS, STEPS, KEY_DIM) + gemm_flops(STEPS, KEY_DIM, STEPS))
_FORWARD = _PROJECTIONS + _ATTENTION
FLOPS = {"forward": _FORWARD, "forward+backward": 3 * _FORWARD}


def _scratch_steps(X: np.ndarray, G: np.ndarray):
    from scratch.attention import MultiHeadAttention
    from scratch.sequential import Sequential

    model = Sequential([MultiHeadAttention(HEADS, KEY_DIM)], input_shape=(STEPS, EMBED))
    model.init(np.random.default_rng(0), np.float32)

    def forward():
        return model.forward(X)

    def forward_backward():
        model.forward(X)
        return model.backward(G)

    return forward, forward_backward


def _torch_steps(X: np.ndarray, G: np.ndarray):
    import torch

    from framework.pytorch.models.attention import multi_head_attention

    return torch_steps(multi_head_attention((STEPS, EMBED), HEADS, KEY_DIM).to(torch.float32), X, G)


MAKERS = {"scratch": _scratch_steps, "torch": _torch_steps}


def inputs() -> tuple[np.ndarray, np.ndarray]:
    """X and the cotangent G, seeded."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((BATCH, STEPS, EMBED)).astype(np.float32)  # (B, T, E)
    G = rng.standard_normal((BATCH, STEPS, EMBED)).astype(np.float32)  # (B, T, E): self-attention keeps the shape
    return X, G


def run(repeats: int = 20, threads: int | None = None) -> list[dict]:
    """One record per (implementation, phase): {benchmark, impl, phase, median_s, threads, flops, gflops}."""
    X, G = inputs()
    return measure("attention", tuple(MAKERS.items()), X, G, repeats, threads, FLOPS)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    repeats = int(argv[0]) if argv else 20
    records = run(repeats)
    print(
        f"attention, float32, batch {BATCH}, {STEPS} steps, embedding {EMBED}, {HEADS} heads of {KEY_DIM}; "
        f"median of {repeats}"
    )
    print_ratios(records)


if __name__ == "__main__":
    main()
