"""`parity train`: every implementation trained from the same weights on the same batches, compared per step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from parity.agreement.records import Record, compare_arrays
from parity.case import Case, CaseError
from parity.cases import get_case
from parity.runners.base import needs_x64
from parity.runners.pool import ImplementationUnavailable, WorkerCrashed, keras_worker
from parity.runners.reference import reference_request
from parity.runners.stored import RunFolder
from parity.tolerance import TRAJECTORY_FLOAT64_REL
from parity.training.runners import train_scratch, train_torch
from parity.training.spec import CLIPPING, OPTIMIZERS, TrainRequest, TrainResult, clipping, convention
from parity.weights import canonical_weights

KERAS = {"keras-torch": "torch", "keras-jax": "jax", "keras-tensorflow": "tensorflow"}


@dataclass
class StepRecord(Record):
    step: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def run_training(impl: str, request: TrainRequest, stored: bool = False) -> TrainResult:
    """``impl``'s trajectory for ``request``. ``stored``: its weights after each step are written to a
    temporary folder as they are read, and the result holds them as files, each loaded when indexed
    (``stored_training``): a large model's trajectory is never held whole, and the model goes with the run."""
    if stored:
        return stored_training(lambda moved: _train(impl, moved), request)
    return _train(impl, request)


def _train(impl: str, request: TrainRequest) -> TrainResult:
    if impl == "scratch":
        return train_scratch(request)
    if impl == "torch":
        from parity.runners.torch_runner import GLOBAL_GENERATOR

        with GLOBAL_GENERATOR:
            return train_torch(request)
    if impl in KERAS:
        result = keras_worker(KERAS[impl], x64=needs_x64(impl, request.dtype)).call("parity.training.runners:train_keras", request)
        result.impl = impl
        return result
    raise ValueError(f"unknown implementation {impl!r}")


def stored_training(train: Callable[[TrainRequest], TrainResult], request: TrainRequest) -> TrainResult:
    """``train(request)`` with its snapshots written to a ``RunFolder`` (``TrainRequest.store``): the
    result's ``weights`` are ``StoredArrays`` that keep the folder until the last of them is let go."""
    folder = RunFolder()
    result = train(TrainRequest(**{**request.__dict__, "store": str(folder.path)}))
    result.weights = [folder.arrays(str(k), list(snapshot)) for k, snapshot in enumerate(result.weights)]
    return result


def optimizer_spec(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    if name not in OPTIMIZERS:
        raise CaseError(f"unknown optimizer {name!r}; choose from: {', '.join(OPTIMIZERS)}")
    spec = dict(OPTIMIZERS[name])
    spec.update(overrides)
    return spec


def split_overrides(case: Case, optimizer: str, overrides: dict[str, Any]) -> tuple[dict, dict]:
    """``--set`` keys go to the case or to the optimiser, whichever has them."""
    known = (set(OPTIMIZERS[optimizer]) - {"kind"}) | set(CLIPPING) if optimizer in OPTIMIZERS else set()
    case_keys, optimizer_keys = {}, {}
    for key, value in overrides.items():
        if key in case.defaults:
            case_keys[key] = value
        elif key in known:
            optimizer_keys[key] = value
        else:
            raise CaseError(
                f"model {case.name!r}: unknown key {key}; valid keys: {', '.join(case.keys)}; optimizer keys: {', '.join(sorted(known))}"
            )
    return case_keys, optimizer_keys


def make_train_request(case: Case, config: dict, dtype: str, seed: int, optimizer: dict, steps: int, batch: int, data=None) -> TrainRequest:
    """A seeded data set of a few batches, reshuffled every epoch, in one fixed order for everyone."""
    rng = case.rng(seed, "training")
    if data is None:
        n = batch * min(steps, 8)
        X = case.draw_inputs({**config, "batch": n}, seed)
        out_shape = (n, *case.build("scratch", config).output_shape)
        T = case.targets(case.rng(seed, "targets"), config, out_shape)
    else:
        X, T = data
    order: list[np.ndarray] = []
    while len(order) < steps:
        permutation = rng.permutation(len(X))
        order.extend(permutation[i : i + batch] for i in range(0, len(X) - batch + 1, batch))
    return TrainRequest(case.name, config, dtype, canonical_weights(case, config, seed), X, T, order[:steps], optimizer)


def compare_trajectories(model: str, dtype: str, ref: TrainResult, other: TrainResult) -> list[StepRecord]:
    tol = TRAJECTORY_FLOAT64_REL if dtype == "float64" else None
    records = []
    for step in range(len(ref.losses)):
        pairs = [("loss", ref.losses[step], other.losses[step])]
        if step < len(ref.weights) and step < len(other.weights):
            pairs += [(f"weight:{k}", v, other.weights[step].get(k)) for k, v in ref.weights[step].items()]
        for quantity, a, b in pairs:
            r = compare_arrays(model, ref.impl, other.impl, dtype, quantity, a, b if b is not None else np.full(np.shape(a), np.nan), tol if tol else 1.0)
            if tol is None:  # float32: measured, not judged
                r.tolerance, r.passed, r.status = None, None, "measured"
            records.append(StepRecord(**{**r.__dict__, "step": step + 1}))
    return records


def train_case(
    name: str,
    optimizer: str = "sgd",
    steps: int = 20,
    batch: int | None = None,
    impls=("torch",),
    dtypes=("float64",),
    seed: int = 0,
    overrides: dict | None = None,
    progress=None,
    learning_rate: float | None = None,
) -> tuple[list[StepRecord], dict[tuple[str, str], TrainResult]]:
    """Train every implementation in ``impls`` from the same weights on the same batches.

    ``learning_rate`` (``--lr``) replaces the optimiser's own, for scratch and every framework.
    """
    case = get_case(name)
    case_overrides, optimizer_overrides = split_overrides(case, optimizer, overrides or {})
    if learning_rate is not None:
        optimizer_overrides["learning_rate"] = learning_rate
    config = case.configure(case_overrides)
    spec = optimizer_spec(optimizer, optimizer_overrides)
    try:
        clipping(spec)
    except ValueError as error:
        raise CaseError(f"model {name!r}: {error}") from None
    batch = batch or config["batch"]
    if batch < 1 or steps < 1:
        raise CaseError(f"model {name!r}: --steps and --batch must be positive, received {steps} and {batch}")
    case.require_fits(config, batch * min(steps, 8))  # the data set make_train_request draws
    records: list[StepRecord] = []
    results: dict[tuple[str, str], TrainResult] = {}
    for dtype in dtypes:
        request = make_train_request(case, config, dtype, seed, spec, steps, batch)
        references: dict[tuple[str, str], TrainResult] = {}  # by (optimiser convention, constants)
        for impl in impls:
            if impl == "scratch":
                continue
            rule = convention(impl, spec)
            own = reference_request(impl, TrainRequest(**{**request.__dict__, "convention": rule}))
            if (rule, own.constants) not in references:
                references[(rule, own.constants)] = train_scratch(own)
                label = f"scratch ({rule}{', ' + own.constants + ' constants' if own.constants else ''})"
                results[(label, dtype)] = references[(rule, own.constants)]
            try:
                result = run_training(impl, request)
            except ImplementationUnavailable as error:
                records.append(StepRecord(name, "scratch", impl, dtype, "all", None, None, None, None, None, "not installed", str(error)))
                continue
            except WorkerCrashed as error:
                records.append(StepRecord(name, "scratch", impl, dtype, "all", None, None, None, None, False, "crashed", str(error)))
                continue
            results[(impl, dtype)] = result
            reference = references[(rule, own.constants)]
            if result.dropout_masks:
                # Unrelated generators: scratch takes the masks this framework drew, step by step.
                reference = train_scratch(TrainRequest(**{**own.__dict__, "dropout_masks": result.dropout_masks}))
            records.extend(compare_trajectories(name, dtype, reference, result))
            if progress is not None:
                progress()
    return records, results


def trajectory_frame(records: list[StepRecord]):
    """Per (impl, dtype, step): the loss error and the worst weight error, as a DataFrame."""
    import pandas as pd

    from parity.output import records_json

    df = pd.DataFrame(records_json(records))
    df = df[df["status"].isin(["compared", "measured"])]
    if df.empty:
        return df
    df["kind"] = df["quantity"].where(df["quantity"] == "loss", "weights")
    return df.groupby(["model", "impl_b", "dtype", "step", "kind"])["max_rel_err"].max().unstack("kind").reset_index()


def plot_growth(records: list[StepRecord], path: str, title: str) -> None:
    """The worst weight disagreement against the step count, one line per implementation and dtype."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = trajectory_frame(records)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for (impl, dtype), group in df.groupby(["impl_b", "dtype"]):
        ax.plot(group["step"], group["weights"].clip(lower=1e-18), label=f"{impl} {dtype}", linestyle="-" if dtype == "float32" else "--")
    ax.set_yscale("log")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("max relative weight error vs scratch")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save_figure(fig, path)
    plt.close(fig)


def _save_figure(fig, path: str) -> None:
    import io

    from parity.output import write_atomic

    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.rsplit(".", 1)[-1] if "." in path else "png", dpi=110)
    write_atomic(path, buffer.getvalue())
