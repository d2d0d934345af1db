"""Divergence cases: where PyTorch and Keras differ, shown failing naive and passing converted.

A divergence is data: a case, the two sides to compare, and for each of the two
variants ("naive": the port that copies the code and trusts the defaults;
"converted": the port that applies the rule) the configuration each side gets.
Both variants use the same weights, inputs and cotangent. The harness demands
that the naive variant is caught (some compared quantity beyond tolerance) and
that the converted variant passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from parity.agreement.records import Record, compare_runs
from parity.cases import get_case
from parity.check import make_request, with_config
from parity.runners import run
from parity.runners.base import RunRequest
from parity.runners.reference import reference_request
from parity.tolerance import tolerance


@dataclass(frozen=True)
class Side:
    """One implementation, its configuration overrides, and the conversion rules it forgets."""

    impl: str
    config: dict[str, Any] = field(default_factory=dict)
    disabled_rules: tuple[str, ...] = ()
    masks_from_other: bool = False  # scratch only: use the dropout masks the other side drew
    reference_for: str = ""  # scratch only: be the reference this implementation is judged against (its constants)
    constants: str = ""  # scratch only: use this library's constants and formulas (parity.runners.reference.CONSTANTS)


@dataclass(frozen=True)
class Variant:
    a: Side
    b: Side
    tolerance: float | None = None  # None: the policy's tolerance for the dtype


@dataclass(frozen=True)
class Divergence:
    """One difference between frameworks, with the rule that removes it.

    Attributes:
        name: identifier on the command line.
        area: "activations", "losses", "dtypes", "convolution", ...
        differs: what differs, in one or two sentences, with the sources.
        rule: the conversion rule.
        converter: where the rule is implemented (module, class or function).
        layer: the scratch layer where the difference lives (``inspect`` must point there).
        quantities: compare only records whose quantity starts with one of these.
        input_scale: multiplies the case's inputs (to saturate, say).
        input_offset: then added to every input (to move a batch's mean far from zero).
        keys: the configuration keys of ``layer``'s kind whose values differ between the two
            frameworks in this case (``epsilon``); ``parity compare`` names this case when two
            paired layers differ in one of them.
    """

    name: str
    area: str
    differs: str
    rule: str
    converter: str
    case: str
    config: dict[str, Any]
    naive: Variant
    converted: Variant
    layer: str
    dtype: str = "float64"
    quantities: tuple[str, ...] = ()
    input_scale: float = 1.0
    input_offset: float = 0.0
    keys: tuple[str, ...] = ()


def forgotten_rule(forgets: str, against: str, port: str = "torch", **fields: Any) -> Divergence:
    """A divergence whose naive port is ``port`` without the conversion rule ``forgets``.

    Both variants compare ``against`` with ``port`` on the same arrays; only the naive one
    disables the rule. ``fields`` are the other ``Divergence`` attributes (``config`` is
    ``{}`` unless given).
    """
    return Divergence(
        **{"config": {}, **fields},
        naive=Variant(Side(against), Side(port, disabled_rules=(forgets,))),
        converted=Variant(Side(against), Side(port)),
    )


def default_kept(key: str, value: Any, against: str, port: str, **fields: Any) -> Divergence:
    """A divergence whose naive port leaves ``key`` at each framework's own default (null on both
    sides) and whose converted port passes ``port`` the value ``against`` uses, ``value``.

    ``fields`` are the other ``Divergence`` attributes (``config`` is ``{}`` unless given).
    """
    return Divergence(
        **{"config": {}, **fields},
        naive=Variant(Side(against, {key: None}), Side(port, {key: None})),
        converted=Variant(Side(against, {key: None}), Side(port, {key: value})),
    )


@dataclass
class DivergenceResult:
    divergence: Divergence
    naive: list[Record]
    converted: list[Record]

    @staticmethod
    def _worst(records: list[Record]) -> float:
        errors = [r.max_rel_err if r.max_rel_err is not None else np.inf for r in records]
        return float(max(errors)) if errors else float("nan")

    @property
    def naive_error(self) -> float:
        return self._worst(self.naive)

    @property
    def converted_error(self) -> float:
        return self._worst(self.converted)

    @property
    def naive_caught(self) -> bool:
        return any(r.passed is False for r in self.naive)

    @property
    def converted_passes(self) -> bool:
        return bool(self.converted) and all(r.passed for r in self.converted)

    @property
    def ok(self) -> bool:
        return self.naive_caught and self.converted_passes


def variant_requests(d: Divergence, variant: Variant, seed: int = 0, trace: bool = False) -> tuple[RunRequest, RunRequest]:
    """The two requests of one variant: the same arrays, each side's own configuration."""
    case = get_case(d.case)
    base = case.configure(d.config)
    request = make_request(case, base, d.dtype, seed, trace=trace)
    request.inputs = request.inputs * d.input_scale + d.input_offset
    return tuple(_own_output_shape(case, _side_request(case, d, request, side), seed) for side in (variant.a, variant.b))


def _side_request(case, d: Divergence, request: RunRequest, side: Side) -> RunRequest:
    """The shared arrays with this side's configuration, forgotten rules and (scratch) constants."""
    configured = with_config(case, request, case.configure({**d.config, **side.config}))
    own = RunRequest(**{**configured.__dict__, "disabled_rules": side.disabled_rules})
    if side.constants:
        return RunRequest(**{**own.__dict__, "constants": side.constants})
    return reference_request(side.reference_for, own) if side.reference_for else own


def _own_output_shape(case, request: RunRequest, seed: int) -> RunRequest:
    """A side whose configuration changes the output's shape (a Conv2DTranspose whose output_padding was
    dropped) gets targets and a cotangent of its own shape, from the same seeds, so that it runs; the
    comparison then reports the two shapes."""
    shape = (request.config["batch"], *case.build("scratch", request.config).output_shape)
    if tuple(request.cotangent.shape) == shape:
        return request
    targets = case.targets(case.rng(seed, "targets"), request.config, shape)
    cotangent = case.rng(seed, "cotangent").standard_normal(shape)
    return RunRequest(**{**request.__dict__, "targets": targets, "cotangent": cotangent})


def run_variant(d: Divergence, variant: Variant, seed: int = 0) -> list[Record]:
    request_a, request_b = variant_requests(d, variant, seed)
    result_b = run(variant.b.impl, request_b)
    if variant.a.masks_from_other:
        request_a.dropout_masks = result_b.dropout_masks
    result_a = run(variant.a.impl, request_a)
    tol = variant.tolerance if variant.tolerance is not None else tolerance(d.dtype)
    records = compare_runs(d.case, d.dtype, result_a, result_b, tol)
    if d.quantities:
        records = [r for r in records if r.quantity.startswith(d.quantities)]
    return records


def run_divergence(d: Divergence, seed: int = 0) -> DivergenceResult:
    if hasattr(d, "run"):  # a divergence with its own procedure (training trajectories)
        return d.run(seed)
    return DivergenceResult(d, run_variant(d, d.naive, seed), run_variant(d, d.converted, seed))
