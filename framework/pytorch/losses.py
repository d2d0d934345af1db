"""Losses by their Keras names, as torch.nn loss modules (called as ``loss(input, target)``)."""

from __future__ import annotations

from torch import nn


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
        return nn.CrossEntropyLoss()
    raise ValueError(f"unknown loss {name!r}")
