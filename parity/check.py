"""`parity check`: run a case on several implementations and compare each with scratch."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from parity.agreement.noise import floors
from parity.agreement.records import Record, compare_runs
from parity.case import Case, CaseError, Config
from parity.cases import get_case
from parity.convert.base import ConversionError
from parity.runners import run
from parity.runners.base import RunRequest, RunResult
from parity.runners.pool import ImplementationUnavailable, WorkerCrashed
from parity.runners.reference import reference_request
from parity.tolerance import EPS, FLOAT32_EPS_UNITS, NOISE_FLOOR_MULTIPLE, noise_bound, tolerance_for
from parity.weights import canonical_weights, check_weights


def make_request(case: Case, config: Config, dtype: str, seed: int, weights: dict | None = None, trace: bool = False) -> RunRequest:
    """Inputs, targets, cotangent and canonical weights for one run, all seeded by the case."""
    scratch_model = case.build("scratch", config)
    if weights is None:
        weights = canonical_weights(case, config, seed)
    else:
        check_weights(case.name, scratch_model, weights)
    X = case.draw_inputs(config, seed)
    out_shape = (config["batch"], *scratch_model.output_shape)
    targets = case.targets(case.rng(seed, "targets"), config, out_shape)
    G = case.rng(seed, "cotangent").standard_normal(out_shape)
    return RunRequest(
        case.name,
        config,
        dtype,
        weights,
        X,
        targets,
        G,
        trace,
        spec=case.model_spec(config),
        loss=case.loss,
        loss_kwargs=case.loss_kwargs(config),
        training=bool(config.get("training", False)),
    )


def with_config(case: Case, request: RunRequest, config: Config) -> RunRequest:
    """The same arrays, another configuration of the case (its spec, loss and mode follow)."""
    return RunRequest(
        **{
            **request.__dict__,
            "config": config,
            "spec": case.model_spec(config),
            "loss_kwargs": case.loss_kwargs(config),
            "training": bool(config.get("training", False)),
        }
    )


def corrupt_weights(weights: dict[str, np.ndarray], name: str, model: str) -> dict[str, np.ndarray]:
    """A copy of ``weights`` with one entry of ``name`` changed (a simulated bad conversion)."""
    if name not in weights:
        raise CaseError(f"model {model!r}: cannot corrupt unknown parameter {name!r}; parameters: {', '.join(sorted(weights))}")
    bad = {k: v.copy() for k, v in weights.items()}
    flat = bad[name].reshape(-1)
    flat[0] += 1.0 + abs(flat[0])
    return bad


def check_case(
    name: str,
    overrides: Config | None = None,
    impls: Iterable[str] = ("torch",),
    dtypes: Iterable[str] = ("float64",),
    seed: int = 0,
    weights: dict | None = None,
    corrupt: str | None = None,
) -> list[Record]:
    """Compare every implementation in ``impls`` with scratch, in every dtype."""
    case = get_case(name)
    config = case.configure(overrides)
    records: list[Record] = []
    runs: dict[tuple[str, str], RunResult] = {}  # (impl, dtype) -> result, for the noise floors
    for dtype in dtypes:
        request = make_request(case, config, dtype, seed, weights)
        exact = run("scratch", request)
        runs[("scratch", dtype)] = exact
        framework_request = request
        if corrupt is not None:
            framework_request = RunRequest(**{**request.__dict__, "weights": corrupt_weights(request.weights, corrupt, name)})
        for impl in impls:
            if impl == "scratch":
                continue
            result = run_or_report(impl, framework_request, records, name, dtype)
            own = reference_request(impl, request)  # scratch with the constants impl's library uses
            reference = exact if own is request else run("scratch", own)
            if result is not None and result.dropout_masks:
                # Masks come from unrelated generators: scratch takes the ones this framework drew.
                reference = run("scratch", RunRequest(**{**own.__dict__, "dropout_masks": result.dropout_masks}))
            if result is not None:
                tol, reason = tolerance_for(name, config, impl, dtype)
                compared = compare_runs(name, dtype, reference, result, tol)
                for record in compared:
                    record.detail = "; ".join(filter(None, [record.detail, reason]))
                if dtype == "float32" and not result.dropout_masks and any(r.passed is False for r in compared):
                    runs[(impl, dtype)] = result
                    _judge_by_noise_floor(case, config, seed, (request.weights, framework_request.weights), impl, compared, runs)
                records.extend(compared)
    return records


def _judge_by_noise_floor(
    case: Case, config: Config, seed: int, weights: tuple[dict, dict], impl: str, compared: list[Record], runs
) -> None:
    """Float32 records beyond the fixed tolerance, judged again against the two implementations' own
    rounding noise (parity.agreement.noise): a badly conditioned model (post-norm transformer blocks)
    amplifies float32 rounding in every implementation alike, the reference included, and agreement
    within ``noise_bound`` of the two floors is that rounding. Each floor needs the float64 run of the
    same code, weights and inputs (run here when the caller did not ask for float64). A wrong formula or
    conversion stays far beyond the bound (tests/test_transformer_models.py shows one caught)."""
    for who, own in zip(("scratch", impl), weights):  # scratch's weights, and what the framework received
        if (who, "float64") not in runs:
            runs[(who, "float64")] = run(who, make_request(case, config, "float64", seed, own))
    floor_scratch = floors(case.name, runs[("scratch", "float64")], runs[("scratch", "float32")])
    floor_impl = floors(case.name, runs[(impl, "float64")], runs[(impl, "float32")])
    for record in compared:
        fa, fb = floor_scratch.get(record.quantity), floor_impl.get(record.quantity)
        if record.passed is not False or record.max_rel_err is None or fa is None or fb is None:
            continue
        bound = noise_bound(fa, fb)
        record.tolerance, record.passed = bound, record.max_rel_err <= bound
        record.detail = "; ".join(
            filter(
                None,
                [
                    record.detail,
                    f"beyond {FLOAT32_EPS_UNITS:g} eps, judged against the noise floors: scratch's own float32 error "
                    f"{fa / EPS['float32']:.0f} eps, {impl}'s {fb / EPS['float32']:.0f} eps, bound "
                    f"{NOISE_FLOOR_MULTIPLE:g} x the larger",
                ],
            )
        )


def run_or_report(impl: str, request: RunRequest, records: list[Record], model: str, dtype: str) -> RunResult | None:
    """Run; a missing or crashed implementation becomes a record instead of an exception."""
    try:
        return run(impl, request)
    except ImplementationUnavailable as error:
        records.append(Record(model, "scratch", impl, dtype, "all", None, None, None, None, None, "not installed", str(error)))
    except WorkerCrashed as error:
        records.append(Record(model, "scratch", impl, dtype, "all", None, None, None, None, False, "crashed", str(error)))
    except (CaseError, ConversionError):
        raise  # bad input: the caller reports it (exit status 2)
    except Exception as error:  # noqa: BLE001  the framework itself failed: a finding, not a harness crash
        records.append(Record(model, "scratch", impl, dtype, "all", None, None, None, None, False, "crashed", f"{type(error).__name__}: {error}"))
    return None
