"""Two implementations, layer by layer, and where they part (``parity inspect MODEL --impl A,B``).

``inspect_case`` runs the case on both with a trace and returns one row per scratch layer
(``parity.agreement.layerwise`` compares them and locates the difference); in float32 both
implementations also run in float64, so every row shows their noise floors beside the
error. A divergence case's naive port is inspected the same way by
``parity.divergences.inspection``; ``parity.cli.inspect`` prints either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from parity.agreement.layerwise import LayerRow, compare_layers, locate
from parity.agreement.noise import layer_floors
from parity.cases import get_case
from parity.check import make_request
from parity.runners import run
from parity.runners.base import RunRequest
from parity.runners.reference import reference_request
from parity.tolerance import EPS, tolerance_for


@dataclass
class Inspection:
    model: str
    impl_a: str
    impl_b: str
    dtype: str
    tolerance: float
    rows: list[LayerRow]
    first_divergence: str | None
    worst_param: tuple[str, float] | None  # (canonical name, max_rel_err) among the judged parameters
    divergence: str | None = None
    expected_layer: str | None = None  # the divergence's ``layer``
    reason: str = ""  # why the tolerance is widened, if it is
    config: dict = field(default_factory=dict)
    records: list = field(default_factory=list)  # a divergence's naive records, as the divergence judges them

    @property
    def failed(self) -> bool:
        return any(r.passed is False for r in self.rows) or self.first_divergence is not None

    def as_dict(self) -> dict:
        param = None
        if self.worst_param is not None:
            name, err = self.worst_param
            param = {"name": name, "max_rel_err": _finite(err), "err_in_eps": _finite(err / EPS[self.dtype])}
        return {
            "model": self.model,
            "impl_a": self.impl_a,
            "impl_b": self.impl_b,
            "dtype": self.dtype,
            "divergence": self.divergence,
            "expected_layer": self.expected_layer,
            "first_divergence": self.first_divergence,
            "largest_param_grad_error": param,
            "tolerance": self.tolerance,
            "tolerance_reason": self.reason,
            "passed": not self.failed,
            "rows": [r.as_dict() for r in self.rows],
        }


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


# running ---------------------------------------------------------------------


def layer_kinds(case, *configs) -> dict[str, str]:
    """Each scratch layer's class name, by layer name, over the models of ``configs``."""
    kinds = {}
    for config in configs:
        for layer in case.build("scratch", config).layers:
            kinds.setdefault(layer.name, type(layer).__name__)
    return kinds


def inspect_case(model: str, overrides: dict | None, impl_a: str, impl_b: str, dtype: str, seed: int = 0) -> Inspection:
    """Run ``model`` on both implementations with a trace and compare layer by layer.

    In float32 each implementation also runs in float64, so that every row shows the
    larger of the two noise floors beside the agreement (``parity.agreement.noise``).
    """
    case = get_case(model)
    config = case.configure(overrides)
    tol, reason = max(tolerance_for(model, config, impl, dtype) for impl in (impl_a, impl_b))
    return inspect_request(case, config, impl_a, impl_b, dtype, seed, tol, reason)


def inspect_request(
    case, config: dict, impl_a: str, impl_b: str, dtype: str, seed: int, tol: float, reason: str = "", disabled_rules: tuple[str, ...] = ()
) -> Inspection:
    """``inspect_case`` for any ``Case`` (a fuzzed model's), with ``disabled_rules`` switched off in both runs."""

    def request_in(dtype: str):
        request = make_request(case, config, dtype, seed, trace=True)
        return RunRequest(**{**request.__dict__, "disabled_rules": tuple(disabled_rules)})

    request = request_in(dtype)
    # scratch as the other implementation is judged against it (the constants its library uses)
    a = run(impl_a, reference_request(impl_b, request) if impl_a == "scratch" else request)
    b = run(impl_b, reference_request(impl_a, request) if impl_b == "scratch" else request)
    floors = None
    if dtype == "float32":
        request64 = request_in("float64")
        floors = tuple(layer_floors(run(impl, request64), result) for impl, result in ((impl_a, a), (impl_b, b)))
    rows, worst = compare_layers(a, b, dtype, tol, layer_kinds(case, config), case.loss, floors)
    return Inspection(
        case.name, impl_a, impl_b, dtype, tol, rows, locate(rows, worst, tol), worst, reason=reason, config=config
    )
