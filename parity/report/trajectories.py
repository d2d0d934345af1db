"""The training trajectories the full report shows: one short run per family (``parity.train``)."""

from __future__ import annotations

import pandas as pd

from parity.train import train_case, trajectory_frame

# The trajectories the full report shows: one per family, short enough for `make report`.
REPORT_TRAJECTORIES = (("mlp", "adam", 50), ("cnn_bn", "momentum", 25), ("lstm_classifier", "adam", 25))


def report_trajectories(models: list[str] | None = None, impls=("torch", "keras-torch", "keras-jax", "keras-tensorflow")):
    """Per (model, optimizer, impl, dtype, step): the loss and the worst disagreement with scratch."""
    rows = []
    for model, optimizer, steps in REPORT_TRAJECTORIES:
        if models is not None and model not in models:
            continue
        records, results = train_case(model, optimizer, steps, None, impls, ("float32", "float64"))
        frame = trajectory_frame(records)
        for _, row in frame.iterrows():
            losses = results[(row["impl_b"], row["dtype"])].losses
            rows.append(
                {
                    "model": model,
                    "optimizer": optimizer,
                    "impl": row["impl_b"],
                    "dtype": row["dtype"],
                    "step": int(row["step"]),
                    "loss": float(losses[int(row["step"]) - 1]),
                    "max_rel_err": float(max(row["loss"], row["weights"])),
                }
            )
    return pd.DataFrame(rows)
