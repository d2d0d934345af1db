"""A model ported to the other framework: readable source, its weights converted, the verdict.

``port(source, "keras" | "torch", folder)`` writes into ``folder``:

- ``model.py``: the model as a person writes it in the target framework (``parity.spec.codegen``),
  with ``build()`` and ``build_with_weights()``;
- the source's own weights, converted by the registry's converters and saved in the target's
  own format: ``model.weights.h5`` (``model.save_weights``) or ``model.pt``
  (``torch.save(state_dict)``, loadable with ``weights_only=True``);
- ``parity.json`` and ``parity.md``: ``parity.ports.compare(source, "model.py:build_with_weights",
  weights_from="own")``, each model with its own weights, outputs, every gradient and every
  weight compared, the first divergence and the diagnosis, in float64 and float32, and ``steps``
  optimiser steps of source, port and scratch from the same weights on the same batch.

Everything is written into a temporary folder beside ``folder`` and renamed to it only when the
port completed: a failure leaves nothing behind, and an existing folder is replaced only on success.
Loading, converting and saving run in a Keras worker (``parity.sources``), as for ``compare``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from parity.ports import OPTIMIZER_NAMES, Comparison, _rename_keys, _renaming, _torch_shape, compare
from parity.spec.codegen import KERAS_WEIGHTS, TORCH_WEIGHTS, model_source
from parity.spec.model import ModelSpec, SpecError, same_structure

TARGETS = ("keras", "torch")
FACTORY = "build_with_weights"


@dataclass
class Port:
    """What ``port`` wrote, and the verdict."""

    source: str
    target: str
    folder: Path
    spec: ModelSpec
    comparisons: list[Comparison]

    @property
    def agree(self) -> bool:
        return all(c.agree for c in self.comparisons)

    @property
    def explained(self) -> bool:
        """Every comparison agrees, as shipped or with a registered divergence's rule applied."""
        return all(c.explained for c in self.comparisons)


# In the worker -----------------------------------------------------------------------------------


def save_weights_in_worker(source: str, input_shape, folder: str, target: str, seed: int) -> list[str]:
    """Read the source's own weights (canonical, float64, its factory seeded with ``seed``), load
    them into ``folder/model.py``'s ``build()`` through the converters, and save them in the
    target's format. Returns the differences between the two specs ([] when the port is faithful)."""
    import torch

    from parity.sources import describe, import_model, load_canonical, load_model, own_weights, remember_spec

    _, spec = describe(source, input_shape)
    weights = own_weights(source, input_shape, seed)[1]  # the build the comparison then runs (sources._built)
    model = load_model(f"{folder}/model.py:build")  # floatx is float64 here (own_weights set it)
    if target == "torch":
        model = model.double()  # so that the converted float64 weights are kept as they are
    port_shape = _torch_shape(spec.input_shape) if target == "torch" else None
    port_spec = import_model(model, port_shape)
    differences = same_structure(spec, port_spec)
    if differences:
        return differences
    # build_with_weights is build with these weights loaded: its float64 builds have this spec, with the
    # comparison's seed and with describe's (0), the generated factory drawing nothing
    for build_seed in {0, seed}:
        remember_spec(f"{folder}/model.py:{FACTORY}", port_shape, build_seed, "float64", port_spec)
    load_canonical(model, port_spec, _rename_keys(weights, _renaming(spec, port_spec)))
    if target == "torch":
        torch.save(model.state_dict(), Path(folder) / TORCH_WEIGHTS)
    else:
        model.save_weights(Path(folder) / KERAS_WEIGHTS)
    return []


# Porting -----------------------------------------------------------------------------------------


def port(
    source: str,
    target: str,
    folder: str | Path,
    input_shape: tuple[int, ...] | None = None,
    dtypes: tuple[str, ...] = ("float64", "float32"),
    seed: int = 0,
    batch: int = 2,
    steps: int = 5,
    optimizer: str = "sgd",
) -> Port:
    """Port ``source`` to ``target`` into ``folder`` (see the module docstring). The verdict covers
    each of ``dtypes`` and ``steps`` optimiser steps (``optimizer``) of source, port and scratch."""
    from parity.runners.pool import keras_worker
    from parity.sources import parse_source

    if target not in TARGETS:
        raise SpecError(f"unknown target framework {target!r}; choose keras or torch")
    if optimizer not in OPTIMIZER_NAMES:
        raise SpecError(f"unknown optimizer {optimizer!r}; choose from: {', '.join(OPTIMIZER_NAMES)}")
    parse_source(source)
    dtypes = tuple(sorted(dtypes, key=lambda dtype: dtype != "float64"))  # float64, the verdict's reference, first
    folder = Path(folder)
    worker = keras_worker("torch")
    framework, spec = worker.call("parity.sources:describe", source, input_shape)
    text = model_source(spec, target, source)  # a kind with no source fails here, before anything is written
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        (staging / "model.py").write_text(text)
        differences = worker.call(
            "parity.porting:save_weights_in_worker", source, input_shape, str(staging), target, seed
        )
        if differences:
            raise SpecError(f"the generated model differs from {source}: {differences[0]}")
        comparisons = [
            compare(
                source,
                f"{staging}/model.py:{FACTORY}",
                input_shape=input_shape,
                dtype=dtype,
                batch=batch,
                seed=seed,
                weights_from="own",
                steps=steps,
                optimizer=optimizer,
            )
            for dtype in dtypes
        ]
        result = Port(source, target, folder, spec, comparisons)
        (staging / "parity.json").write_text(json.dumps(_payload(result, framework), indent=1) + "\n")
        (staging / "parity.md").write_text(_markdown(result, framework))
        staging.chmod(0o755)  # mkdtemp makes 0700; a port is for everyone to read
        _replace(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    worker.call("parity.sources:moved", str(staging), str(folder))  # what the worker built from it stays valid
    return result


def _replace(staging: Path, folder: Path) -> None:
    """Rename ``staging`` to ``folder``; an existing ``folder`` is moved aside first and removed after."""
    if not folder.exists():
        staging.rename(folder)
        return
    if not folder.is_dir():
        raise SpecError(f"--out {str(folder)!r} is a file, not a folder")
    old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old.", dir=folder.parent))
    old.rmdir()
    folder.rename(old)
    try:
        staging.rename(folder)
    except BaseException:
        old.rename(folder)
        raise
    shutil.rmtree(old, ignore_errors=True)


# The verdict -------------------------------------------------------------------------------------


def _number(value, spec: str, cast=float) -> str:
    """``value`` formatted, or "-" where the record has none (NaN, None)."""
    if value is None or value != value:
        return "-"
    return format(cast(value), spec)


def _payload(result: Port, framework: str) -> dict:
    return {
        "source": result.source,
        "from": framework,
        "to": result.target,
        "model": f"model.py:{FACTORY}",
        "agree": result.agree,
        "explained": result.explained,
        "comparisons": [
            {
                "dtype": c.dtype,
                "agree": c.agree,
                "verdict": c.verdict,
                "rule": c.rule,
                "agree_with_rule": c.agree_with_rule,
                "degenerate": c.degenerate,
                "first_divergence": c.first_divergence,
                "diagnosis": c.diagnosis,
                "records": json.loads(c.records.to_json(orient="records")),
            }
            for c in result.comparisons
        ],
    }


def _markdown(result: Port, framework: str) -> str:
    weights = KERAS_WEIGHTS if result.target == "keras" else TORCH_WEIGHTS
    verdict = (
        "agrees with"
        if result.agree
        else "agrees, with a registered divergence's rule applied, with"
        if result.explained
        else "DISAGREES with"
    )
    if not result.comparisons:
        verdict = "was not compared here with"
    lines = [
        f"# {result.spec.name}: {framework} -> {result.target}",
        "",
        f"`model.py:{FACTORY}` (weights `{weights}`) {verdict} `{result.source}`, each with its own weights.",
        "",
    ]
    for c in result.comparisons:
        lines += [f"## {c.dtype}: {c.verdict}", ""]
        if c.first_divergence:
            lines.append(f"First diverging layer: `{c.first_divergence}`")
            lines.append("")
        if c.diagnosis:
            lines += [f"- {line}" for line in c.diagnosis] + [""]
        lines += [
            "| a | b | step | quantity | max rel err | tolerance | result |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in c.records.to_dict("records"):
            error = _number(row["max_rel_err"], ".2e")
            if row.get("status") == "measured":  # float32 trajectories: measured, not judged
                tolerance, result_text = "-", "measured"
            else:
                tolerance, result_text = _number(row["tolerance"], ".0e"), "pass" if row["passed"] else "FAIL"
            step = _number(row.get("step"), "d", int)
            lines.append(
                f"| {row['impl_a']} | {row['impl_b']} | {step} | {row['quantity']} | {error} | {tolerance} | {result_text} |"
            )
        lines.append("")
    return "\n".join(lines)
