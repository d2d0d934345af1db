"""Judging one trial: the float64 scratch result is the oracle; float32 meets each noise floor.

For every implementation X (all conversion rules applied, except those switched off to plant a
naive port):

- float64: X64 against scratch64, within ``tolerance_for`` (the policy's 1e-10, or a documented
  allowance of a kind in the model);
- float32: X32 against scratch32, within ``noise_bound`` of the two implementations' own floors
  (each one's float32 result against its own float64 result, ``parity.agreement.noise``): never
  a vote among implementations.

A disagreement is identified by (implementation, dtype, quantity signature): the quantity with
its layer name replaced by the layer's kind (``grad:conv2d.W``), so that it stays the same
disagreement while shrinking renames and removes layers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from parity.agreement.records import Record, compare_arrays, compare_runs
from parity.case import Case
from parity.check import make_request, run_or_report
from parity.fuzz.conditioning import conditioned, extended_reference, fed_magnitudes, zero_reference
from parity.fuzz.draw import Trial
from parity.runners import run
from parity.runners.base import RunRequest, RunResult
from parity.runners.reference import reference_request
from parity.tolerance import noise_bound, tolerance_for


def _targets(loss: str):
    def draw(rng: np.random.Generator, config: dict, shape: tuple[int, ...]) -> np.ndarray:
        if loss == "sparse_categorical_crossentropy":
            return rng.integers(0, shape[-1], size=shape[:-1])
        if loss == "binary_crossentropy":
            return rng.integers(0, 2, size=shape).astype(np.float64)
        return rng.standard_normal(shape)

    return draw


def as_case(trial: Trial) -> Case:
    """The trial as a ``Case`` (so that weights, inputs, targets and cotangent are drawn as every case's are)."""
    spec = trial.spec

    def inputs(rng: np.random.Generator, config: dict) -> np.ndarray:
        return trial.magnitude * rng.standard_normal((config["batch"], *config["input_shape"]))

    return Case(
        name=spec.name,
        family="fuzz",
        description="a fuzzed model",
        defaults={"input_shape": list(spec.input_shape), "batch": trial.batch, "training": trial.training},
        spec=lambda config: spec,
        loss=trial.loss,
        targets=_targets(trial.loss),
        inputs=inputs,
    )


def request_for(trial: Trial, dtype: str, disabled: Iterable[str] = (), trace: bool = False) -> RunRequest:
    case = as_case(trial)
    request = make_request(case, case.configure(), dtype, trial.data_seed, trace=trace)
    return RunRequest(**{**request.__dict__, "disabled_rules": tuple(disabled)})


def tolerance64(trial: Trial, impl: str) -> tuple[float, str]:
    """The float64 tolerance: the policy's, or the largest allowance any layer of the model has."""
    found = [tolerance_for(node.kind, node.config, impl, "float64") for node in trial.spec.nodes]
    return max(found, default=tolerance_for(trial.spec.name, {}, impl, "float64"))


def signature(trial: Trial, quantity: str) -> str:
    """``grad:conv2d_0.W`` -> ``grad:conv2d.W``: the quantity up to layer names."""
    prefix, _, rest = quantity.rpartition(":")  # train:weight:conv2d_0.W -> train:weight, conv2d_0.W
    if not rest or "." not in rest:
        return quantity
    layer, _, param = rest.partition(".")
    try:
        kind = trial.spec.node(layer).kind
    except Exception:  # noqa: BLE001  a name that is not a layer stays as it is
        kind = re.sub(r"_\d+$", "", layer)
    return f"{prefix}:{kind}.{param}"


@dataclass(frozen=True)
class Disagreement:
    impl: str
    dtype: str
    quantity: str
    signature: str
    error: float | None
    bound: float | None
    status: str = "compared"
    detail: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.impl, self.dtype, self.signature)

    @property
    def ratio(self) -> float:
        if self.error is None or self.bound is None:
            return float("inf")
        return self.error / self.bound


def _oracle(impl: str, request: RunRequest, result: RunResult | None) -> RunResult:
    """Scratch as ``impl`` is judged against it: the constants its library uses, the masks it drew."""
    request = reference_request(impl, request)
    masks = result.dropout_masks if result is not None else None
    return run("scratch", RunRequest(**{**request.__dict__, "dropout_masks": masks})) if masks else run("scratch", request)


def _floors(name: str, runs: dict[str, RunResult], inputs: np.ndarray, cotangent: np.ndarray) -> dict[str, float | None]:
    """``parity.agreement.noise.floors``, a zero reference measured as ``zero_reference`` does."""
    compared = compare_runs(name, "float32", runs["float64"], runs["float32"])
    zero_reference(compared, runs["float64"], runs["float32"], fed_magnitudes(runs["float64"], inputs, cotangent))
    return {r.quantity: r.max_rel_err for r in compared}


def run_all(impls: list[str], requests: dict[str, RunRequest], name: str) -> dict[tuple[str, str], tuple[list[Record], RunResult | None]]:
    """Every (dtype, implementation) run of one model, all sent at once; results in request order.

    Each Keras backend (and JAX's float32 and float64) runs in its own worker process
    (``parity.runners.pool``), which a request keeps busy while this process only waits on the
    pipe: sent one after another, the workers take turns idling (measured: a campaign model
    spent most of its wall time waiting on one worker at a time). A thread per run sends them
    together; a worker's lock still queues the two dtypes of one worker, torch's generator lock
    its two runs. What each run computes is unchanged, and records keep the order of the loop.
    """
    jobs = [(dtype, impl) for dtype in requests for impl in impls]

    def one(job: tuple[str, str]) -> tuple[list[Record], RunResult | None]:
        dtype, impl = job
        reported: list[Record] = []
        return reported, run_or_report(impl, requests[dtype], reported, name, dtype)

    if len(jobs) <= 1:
        return {job: one(job) for job in jobs}
    with ThreadPoolExecutor(max_workers=len(jobs)) as threads:
        return dict(zip(jobs, threads.map(one, jobs)))


def judge(trial: Trial, impls: Iterable[str], dtypes: Iterable[str], disabled: Iterable[str] = (), steps: int = 0) -> list[Record]:
    """Every compared record of ``trial`` (float32 ones carry their noise bound as tolerance), and
    with ``steps`` its float64 training trajectory (``train:`` quantities)."""
    dtypes, impls = list(dtypes), [i for i in impls if i != "scratch"]
    disabled = tuple(disabled)
    name = trial.spec.name
    requests = {dtype: request_for(trial, dtype, disabled) for dtype in ("float64", "float32") if dtype in dtypes or "float32" in dtypes}
    records: list[Record] = []
    results: dict[str, dict[str, RunResult]] = {}
    for (dtype, impl), (reported, result) in run_all(impls, requests, name).items():
        if dtype in dtypes:
            records += reported
        if result is not None:
            results.setdefault(impl, {})[dtype] = result
            results.setdefault("scratch:" + impl, {})[dtype] = _oracle(impl, requests[dtype], result)
    extended: dict[str, RunResult | None] = {}  # by dropout masks drawn: one longdouble run at most per masks
    for impl in impls:
        runs, oracle = results.get(impl, {}), results.get("scratch:" + impl, {})
        if "float64" in dtypes and "float64" in runs:
            tol, reason = tolerance64(trial, impl)
            compared = compare_runs(name, "float64", oracle["float64"], runs["float64"], tol)
            zero_reference(compared, oracle["float64"], runs["float64"], fed_magnitudes(oracle["float64"], requests["float64"].inputs, requests["float64"].cotangent))
            if any(r.passed is False and r.status == "compared" for r in compared):
                masks = runs["float64"].dropout_masks
                key = repr(sorted((k, v.tobytes()) for k, v in masks.items())) if masks else ""
                key += reference_request(impl, requests["float64"]).constants
                if key not in extended:
                    own = reference_request(impl, requests["float64"])
                    extended[key] = extended_reference(RunRequest(**{**own.__dict__, "dropout_masks": masks or None}))
                if extended[key] is not None:
                    conditioned(compared, oracle["float64"], runs["float64"], extended[key])
            for record in compared:
                record.detail = "; ".join(filter(None, [record.detail, reason]))
                records.append(record)
        if "float32" in dtypes and "float32" in runs and "float64" in runs:
            floor_x = _floors(name, runs, requests["float64"].inputs, requests["float64"].cotangent)
            floor_s = _floors(name, oracle, requests["float64"].inputs, requests["float64"].cotangent)
            compared = compare_runs(name, "float32", oracle["float32"], runs["float32"])
            zero_reference(compared, oracle["float32"], runs["float32"], fed_magnitudes(oracle["float64"], requests["float64"].inputs, requests["float64"].cotangent))
            for record in compared:
                fx, fs = floor_x.get(record.quantity), floor_s.get(record.quantity)
                if record.max_rel_err is None or fx is None or fs is None:
                    records.append(record)
                    continue
                bound = noise_bound(fs, fx)
                again = compare_arrays(name, "scratch", impl, "float32", record.quantity, 0.0, 0.0, bound)
                again.max_abs_err, again.max_rel_err, again.err_in_eps = record.max_abs_err, record.max_rel_err, record.err_in_eps
                again.passed = bool(record.max_rel_err <= bound)
                again.detail = "; ".join(filter(None, [record.detail, f"noise floors: scratch {fs:.3g}, {impl} {fx:.3g}"]))
                records.append(again)
    if steps and "float64" in dtypes:
        records += trajectories(trial, impls, steps, disabled)
    return records


def trainable(trial: Trial) -> bool:
    """The model has a parameter an optimiser updates (not only running statistics)."""
    from parity.layers import REGISTRY
    from parity.spec.generate import build_scratch

    model = build_scratch(trial.spec)
    for node, layer in zip(trial.spec.nodes, model.layers):
        if set(layer.weight_shapes()) - set(REGISTRY[node.kind].traits.running_statistics):
            return True
    return False


def trajectories(trial: Trial, impls: Iterable[str], steps: int, disabled: tuple[str, ...] = ()) -> list[Record]:
    """``steps`` optimiser steps of ``trial.optimizer`` from the same weights on the same batches, in
    float64, each implementation against scratch in its optimiser convention (``parity.train``);
    quantities ``train:loss`` and ``train:weight:<layer>.<param>``, the worst step of each."""
    from parity.train import compare_trajectories, make_train_request, optimizer_spec, run_training
    from parity.training.runners import train_scratch
    from parity.training.spec import TrainRequest, convention

    case = as_case(trial)
    config = case.configure()
    if not trainable(trial):
        return []  # nothing to train: torch's optimisers refuse an empty parameter list
    optimizer = optimizer_spec(trial.optimizer, {})
    base = make_train_request(case, config, "float64", trial.data_seed, optimizer, steps, trial.batch)
    base = TrainRequest(
        **{**base.__dict__, "spec": trial.spec, "loss": trial.loss, "training": trial.training, "disabled_rules": tuple(disabled)}
    )
    records: list[Record] = []
    references: dict[tuple[str, str], object] = {}  # by (optimiser convention, constants)
    for impl in impls:
        rule = convention(impl, optimizer)
        try:
            own = reference_request(impl, TrainRequest(**{**base.__dict__, "convention": rule}))
            if (rule, own.constants) not in references:
                references[(rule, own.constants)] = train_scratch(own)
            result = run_training(impl, base)
        except Exception as error:  # noqa: BLE001  a framework that cannot train the model: a finding
            records.append(Record(trial.spec.name, "scratch", impl, "float64", "train:all", None, None, None, None, False, "crashed", f"{type(error).__name__}: {error}"))
            continue
        worst: dict[str, Record] = {}
        for step in compare_trajectories(trial.spec.name, "float64", references[(rule, own.constants)], result):
            step.quantity = f"train:{step.quantity}"
            if step.quantity not in worst or (step.max_rel_err or 0) > (worst[step.quantity].max_rel_err or 0):
                worst[step.quantity] = step
        records += worst.values()
    return records


def disagreements(trial: Trial, records: Iterable[Record]) -> list[Disagreement]:
    """The failed records as disagreements, the primary one first: the output, then the loss, then in order."""
    failed = [r for r in records if r.passed is False]
    order = {"output": 0, "loss": 1}
    failed.sort(key=lambda r: order.get(r.quantity, 2))
    return [
        Disagreement(r.impl_b, r.dtype, r.quantity, signature(trial, r.quantity), r.max_rel_err, r.tolerance, r.status, r.detail)
        for r in failed
    ]
