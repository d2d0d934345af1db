"""Losses by their Keras names, as torch.nn loss modules (called as ``loss(input, target)``)."""

from __future__ import annotations

import torch
from torch import nn


class CrossEntropyLoss(nn.CrossEntropyLoss):
    """nn.CrossEntropyLoss with the classes on the LAST axis, as Keras reads them.

    nn.CrossEntropyLoss reads the classes on dim 1: a sequence's logits must be (B, K, T)
    (torch/nn/modules/loss.py). Keras' SparseCategoricalCrossentropy reads (B, T, K). Per-step
    logits (B, T, K) are therefore flattened to B * T rows first, as nanoGPT writes
    ``F.cross_entropy(logits.view(-1, K), y.view(-1))``; (B, K) logits pass unchanged.
    """

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return super().forward(input.reshape(-1, input.shape[-1]), target.reshape(-1))  # (N, K), (N,)


def loss(name: str, from_logits: bool = True) -> nn.Module:
    if name == "mean_squared_error":
        return nn.MSELoss()
    if name == "binary_crossentropy":
        # BCEWithLogitsLoss folds the sigmoid into a log-sum-exp; BCELoss takes probabilities
        # and clamps each log term at -100.
        return nn.BCEWithLogitsLoss() if from_logits else nn.BCELoss()
    if name == "sparse_categorical_crossentropy":
        if not from_logits:
            raise ValueError("torch's CrossEntropyLoss takes logits; there is no probability form")
        return CrossEntropyLoss()
    raise ValueError(f"unknown loss {name!r}")
