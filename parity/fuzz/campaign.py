"""A fuzz campaign: draw, judge, shrink each new disagreement once, write the findings.

Model ``i`` of a campaign seeded ``s`` is drawn from a generator seeded (s, i)
(``parity.fuzz.draw.draw_model``), so the same seed gives the same models, and the same
findings, whatever the number of workers: results are taken in index order, and a
disagreement (implementation, dtype, quantity signature) already found is counted, not shrunk
again. With ``workers > 1`` models are judged and shrunk in a ``multiprocessing`` pool, with
``ray`` by that many Ray actors (``parity.fuzz.cluster``).
"""

from __future__ import annotations

import json
import re
import shlex
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from parity.fuzz.cluster import make_pool
from parity.fuzz.draw import FUZZABLE, Trial, draw_model, plant
from parity.fuzz.judge import Disagreement, as_case, disagreements, judge, tolerance64
from parity.fuzz.shrink import SHRINK_EXAMPLES, shrink
from parity.tolerance import tolerance
from parity.upstream import known_bug


@dataclass(frozen=True)
class Settings:
    """What a campaign draws, runs and judges."""

    seed: int = 0
    budget: int | None = 20  # models to try (None: until ``seconds`` run out)
    seconds: float | None = None
    max_layers: int = 4
    kinds: tuple[str, ...] = FUZZABLE
    impls: tuple[str, ...] = ("torch", "keras-torch", "keras-jax", "keras-tensorflow")
    dtypes: tuple[str, ...] = ("float32", "float64")
    disabled: tuple[str, ...] = ()  # conversion rules switched off: a planted naive port
    defaults: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (kind, keys) left at each framework's default
    workers: int = 1
    ray: str | None = None  # None: no Ray; "local": a local cluster of ``workers`` actors; else a cluster's address
    steps: int = 0  # optimiser steps of a float64 training trajectory per model (0: none)
    shrink_examples: int = SHRINK_EXAMPLES


@dataclass
class Finding:
    """One disagreement, shrunk: the minimal trial and the model it was first seen in."""

    id: str
    index: int  # the campaign model it was first seen in
    disagreement: Disagreement
    trial: Trial  # minimal
    original: Trial
    layer: str | None = None  # where ``parity inspect`` locates it
    seen: int = 1  # campaign models showing the same disagreement

    def as_dict(self, settings: Settings) -> dict:
        d = self.disagreement
        return {
            "id": self.id,
            "impl": d.impl,
            "dtype": d.dtype,
            "quantity": d.quantity,
            "signature": d.signature,
            "max_rel_err": d.error,
            "tolerance": d.bound,
            "status": d.status,
            "detail": d.detail,
            "layer": self.layer,
            "seen": self.seen,
            "campaign": {"seed": settings.seed, "index": self.index},
            "impls": ["scratch", d.impl],
            "dtypes": [d.dtype],
            "disabled_rules": list(settings.disabled),
            "steps": settings.steps if d.signature.startswith("train:") else 0,
            **self.trial.as_dict(),
            "original": self.original.as_dict(),
        }


@dataclass
class Known:
    """A known upstream bug (``parity.upstream``) that campaign models hit: counted, not a finding."""

    name: str
    upstream: str
    impl: str
    dtype: str
    index: int  # the first campaign model that hit it
    seen: int = 1

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Outcome:
    tried: int = 0
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    known: list[Known] = field(default_factory=list)  # known upstream bugs hit, in the order first seen


# Work done in a pool process (module-level functions: picklable) ------------------------------


def evaluate(settings: Settings, index: int) -> tuple[int, Trial, list[Disagreement], list[Disagreement]]:
    """Draw model ``index`` and judge it on every implementation: its disagreements, and apart from
    them the crashes that are known upstream bugs (``parity.upstream``)."""
    trial = plant(draw_model(settings.seed, index, settings.kinds, settings.max_layers), settings.defaults)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = disagreements(trial, judge(trial, settings.impls, settings.dtypes, settings.disabled, settings.steps))
    known = [d for d in found if known_bug(d.impl, d.dtype, d.status, d.detail) is not None]
    return index, trial, [d for d in found if d not in known], known


def minimise(settings: Settings, index: int, trial: Trial, target: Disagreement) -> tuple[int, Trial, Disagreement, str | None]:
    """Shrink one disagreement, and ask ``inspect`` where it lives."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        small, found = shrink(trial, target, settings.disabled, settings.seed, settings.shrink_examples, settings.steps)
        return index, small, found, locate(small, found.impl, found.dtype, settings.disabled)


def locate(trial: Trial, impl: str, dtype: str, disabled: tuple[str, ...] = ()) -> str | None:
    """The layer ``parity inspect --spec`` names for this trial (scratch against ``impl``)."""
    inspection = inspect_trial(trial, "scratch", impl, dtype, disabled)
    if inspection is None:
        return None
    if inspection.first_divergence is not None:
        return inspection.first_divergence
    return next((row.layer for row in inspection.rows if row.passed is False), None)  # the loss alone


def inspect_trial(trial: Trial, impl_a: str, impl_b: str, dtype: str, disabled: tuple[str, ...] = ()):
    """``parity.inspect`` on a trial; None when an implementation cannot run it."""
    from parity.inspect import inspect_request

    case = as_case(trial)
    # float32 rows are judged against the noise floors inspect measures beside them
    tol, reason = tolerance64(trial, impl_b) if dtype == "float64" else (tolerance("float32"), "")
    try:
        return inspect_request(case, case.configure(), impl_a, impl_b, dtype, trial.data_seed, tol, reason, disabled)
    except Exception:  # noqa: BLE001  a crashing implementation has no layer to point at
        return None


# The campaign -------------------------------------------------------------------------------


def _finding_id(number: int, d: Disagreement) -> str:
    return f"{number:03d}-{d.impl}-{d.dtype}-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", d.signature)


def run_campaign(settings: Settings, on_progress: Callable[[Outcome], None] | None = None) -> Outcome:
    """Try ``settings.budget`` models (or as many as ``settings.seconds`` allows) and shrink what disagrees."""
    start = time.monotonic()
    outcome = Outcome()
    by_key: dict[tuple, Finding] = {}
    pool = make_pool(settings.workers, settings.ray)
    chunk = max(1, 2 * settings.workers)

    def out_of_time() -> bool:
        return settings.seconds is not None and time.monotonic() - start >= settings.seconds

    try:
        index = 0
        while (settings.budget is None or index < settings.budget) and not out_of_time():
            stop = index + chunk if settings.budget is None else min(index + chunk, settings.budget)
            jobs = [(settings, i) for i in range(index, stop)]
            results = pool.starmap(evaluate, jobs)
            index = stop
            new = []
            for i, trial, found, known in sorted(results, key=lambda r: r[0]):
                outcome.tried += 1
                for d in known:
                    _count_known(outcome, i, d)
                if not found:
                    continue
                primary = found[0]
                if primary.key in by_key:
                    by_key[primary.key].seen += 1
                    continue
                by_key[primary.key] = Finding("", i, primary, trial, trial)
                new.append((settings, i, trial, primary))
            shrunk = pool.starmap(minimise, new)
            for (_, _, _, primary), (_, small, found, layer) in zip(new, shrunk):
                finding = by_key[primary.key]
                finding.trial, finding.disagreement, finding.layer = small, found, layer
                finding.id = _finding_id(len(outcome.findings) + 1, found)
                outcome.findings.append(finding)
            outcome.seconds = time.monotonic() - start
            if on_progress is not None:
                on_progress(outcome)
    finally:
        pool.close()
    outcome.seconds = time.monotonic() - start
    return outcome


def _count_known(outcome: Outcome, index: int, d: Disagreement) -> None:
    bug = known_bug(d.impl, d.dtype, d.status, d.detail)
    for known in outcome.known:
        if known.name == bug.name:
            known.seen += 1
            return
    outcome.known.append(Known(bug.name, bug.upstream, d.impl, d.dtype, index))


# Writing the findings -----------------------------------------------------------------------


def reproduce_command(path: Path, command: str = "check") -> str:
    return f"python -m parity.cli {command} --spec {shlex.quote(str(path))}"


def write_findings(outcome: Outcome, settings: Settings, folder: str | Path) -> list[Path]:
    """DIR/findings/<id>.json (one minimal, rerunnable trial each) and DIR/summary.md."""
    from parity.output import write_atomic

    folder = Path(folder)
    (folder / "findings").mkdir(parents=True, exist_ok=True)
    paths = []
    for finding in outcome.findings:
        path = folder / "findings" / f"{finding.id}.json"
        data = finding.as_dict(settings)
        data["reproduce"] = reproduce_command(path)
        write_atomic(path, json.dumps(data, indent=1) + "\n")
        paths.append(path)
    write_atomic(folder / "summary.md", summary(outcome, settings, paths))
    return paths


def summary(outcome: Outcome, settings: Settings, paths: list[Path]) -> str:
    rate = 60 * outcome.tried / outcome.seconds if outcome.seconds else 0.0
    lines = [
        "# parity fuzz",
        "",
        f"seed {settings.seed}, {outcome.tried} models in {outcome.seconds:.1f} s ({rate:.1f} models/minute), "
        f"implementations {', '.join(settings.impls)}, dtypes {', '.join(settings.dtypes)}, "
        f"rules switched off: {', '.join(settings.disabled) or 'none'}",
        "",
        f"{len(outcome.findings)} finding(s).",
        "",
    ]
    if outcome.known:
        lines += ["Known upstream bugs hit (not findings; `parity.upstream`):", ""]
        lines += [
            f"- {k.name} ({k.upstream}): {k.impl} {k.dtype}, {k.seen} model(s), first #{k.index}" for k in outcome.known
        ]
        lines.append("")
    if outcome.findings:
        lines += [
            "| id | implementations | dtype | quantity | max_rel_err | tolerance | layers | inspect names | seen in | reproduce |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for finding, path in zip(outcome.findings, paths):
            d = finding.disagreement
            error = "-" if d.error is None else f"{d.error:.3g}"
            bound = "-" if d.bound is None else f"{d.bound:.3g}"
            kinds = " -> ".join(node.kind for node in finding.trial.spec.nodes)
            quantity = d.quantity if d.status == "compared" else f"{d.quantity} ({d.status})"
            lines.append(
                f"| {finding.id} | scratch vs {d.impl} | {d.dtype} | {quantity} | {error} | {bound} | {kinds} | "
                f"{finding.layer or '-'} | {finding.seen} model(s), first #{finding.index} | "
                f"`{reproduce_command(path)}`; `{reproduce_command(path, 'inspect')}` |"
            )
    return "\n".join(lines) + "\n"


# Reading a finding back ---------------------------------------------------------------------


@dataclass(frozen=True)
class Rerun:
    """A finding file (or a bare model spec) read back: the trial and how it was run."""

    trial: Trial
    impls: tuple[str, ...] = ("scratch", "torch")
    dtypes: tuple[str, ...] = ("float64",)
    disabled: tuple[str, ...] = ()
    steps: int = 0


def load(path: str | Path) -> Rerun:
    """``parity check --spec`` / ``parity inspect --spec``: a finding JSON, or a bare ModelSpec JSON."""
    from parity.spec.model import SpecError

    try:
        data = json.loads(Path(path).read_text())
    except OSError as error:
        raise SpecError(f"--spec {path}: cannot read: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise SpecError(f"--spec {path}: not JSON: {error}") from None
    if not isinstance(data, dict):
        raise SpecError(f"--spec {path}: expected a JSON object (a finding or a model spec)")
    trial = Trial.from_dict(data)
    return Rerun(
        trial,
        tuple(data.get("impls", ("scratch", "torch"))),
        tuple(data.get("dtypes", ("float64",))),
        tuple(data.get("disabled_rules", ())),
        int(data.get("steps", 0)),
    )
