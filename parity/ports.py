"""Two ports of one model, compared: the user's own models, not ours.

``compare(model_a, model_b)`` reads both models' specs, pairs their layers (by position, up
to names), gives B the weights of A converted through each kind's converter, runs both as the
users wrote them and compares outputs, the input gradient and every parameter gradient, each
also against scratch built from its spec. Where they part it names the first diverging layer
and diagnoses it:

- statically, from the two specs: every configuration difference between paired layers
  (an epsilon, a momentum, a slope, ...), each with the registered divergence case and its
  conversion rule where one exists;
- numerically: for the first diverging layer, each differing key is set to A's value in B's
  spec, and the keys that make scratch of B agree with A are reported.

A comparison whose reference gradients are all zero at the precision of what fed them (a
saturated softmax head: an exactly one-hot output, an exactly zero Jacobian) proves nothing about
the backward pass: it is ``degenerate`` (``parity.fuzz.conditioning.degenerate``) and does not agree.

Models are sources (``path/to/file.py:factory`` or a ``.keras`` file, run in a Keras worker),
torch modules (run in this process) or Keras models (saved to a temporary ``.keras`` file and
loaded by the worker with ``safe_mode=True``).
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from parity.agreement.records import Record, compare_arrays
from parity.divergences import all_divergences
from parity.fuzz.conditioning import degenerate, excusable, ill_conditioned, one_ulp
from parity.runners import RunRequest, run
from parity.runners.reference import reference_request
from parity.runners.stored import ArrayWriter, RunFolder, StoredArrays, collecting_only_new_objects, let_go
from parity.spec.model import ModelSpec, SpecError, _same_value, canonical_order
from parity.tolerance import relative_error, tolerance
from parity.training.spec import OPTIMIZERS
from parity.weights import vary_constants

OPTIMIZER_NAMES = tuple(OPTIMIZERS)

# Loading ---------------------------------------------------------------------------------------


@dataclass
class Side:
    """One model: what it is, its spec, and how to run it with canonical weights (None: its own);
    ``run(X, G, weights, dtype, gradients=False)`` returns its output only. ``forget()``: let go of
    what its runs keep for the next one (a source's built model, in the worker)."""

    label: str
    framework: str
    spec: ModelSpec
    run: Callable[[np.ndarray, np.ndarray, dict | None, str], dict]
    forget: Callable[[], None] = lambda: None


def _torch_shape(canonical: tuple[int, ...]) -> tuple[int, ...]:
    """One sample's shape in torch's layout: images (H, W, C) are (C, H, W)."""
    return (canonical[-1], *canonical[:-1]) if len(canonical) == 3 else tuple(canonical)


def load(model, label: str, input_shape: tuple[int, ...] | None, seed: int, weights_file: str | None = None) -> Side:
    """A Side for a source string (with its own weights file, if given), a torch module or a Keras model object."""
    from parity.sources import _is_torch, import_model, load_canonical, original_run, parse_source

    if isinstance(model, (str, Path)):
        from parity.runners.pool import keras_worker

        source = str(model)
        parse_source(source)
        worker = keras_worker("torch")
        framework, spec = worker.call("parity.sources:describe", source, input_shape)

        def run_source(X, G, weights, dtype, gradients=True):
            # With gradients, its weights and gradients come back as files, read one at a time
            # (parity.runners.stored); without, its output only.
            folder = RunFolder() if gradients else None
            args = (source, input_shape, X, G, weights, seed, dtype, weights_file, (), folder and str(folder.path), gradients)
            result = worker.call("parity.sources:run_source", *args)
            if folder is None:
                return result
            return {
                **result,
                "weights": folder.arrays("weights", result["weights"]),
                "grads": folder.arrays("grads", result["grads"]),
            }

        return Side(label, framework, spec, run_source, lambda: worker.call("parity.sources:forget_built"))
    if weights_file is not None:
        raise SpecError(
            f"model {label!r}: a weights file goes with a source (file.py:factory or .keras), not a model object"
        )
    if _is_torch(model):
        import torch

        spec = import_model(model, input_shape)

        def run_module(X, G, weights, dtype, gradients=True):
            copied = copy.deepcopy(model).to(getattr(torch, dtype))  # the user's module is left as it was
            if weights is not None:
                load_canonical(copied, spec, weights)
            return original_run(copied, spec, X, G, dtype, gradients=gradients)

        return Side(label, "torch", spec, run_module)
    # A Keras model object: saved, then loaded by the worker like any .keras file.
    folder = Path(tempfile.mkdtemp(prefix="parity-"))
    path = folder / f"{label}.keras"
    model.save(path)
    return load(str(path), label, None, seed)


# Pairing and static diagnosis ------------------------------------------------------------------


@dataclass
class Difference:
    """One configuration key that differs between two paired layers, and what is known about it."""

    layer_a: str
    layer_b: str
    kind: str
    key: str
    value_a: Any
    value_b: Any
    divergences: list[str] = field(default_factory=list)  # registered cases about this key
    rules: list[str] = field(default_factory=list)

    def line(self) -> str:
        known = f" — divergence {', '.join(self.divergences)}: {' / '.join(self.rules)}" if self.divergences else ""
        return f"{self.layer_a} / {self.layer_b} ({self.kind}): {self.key} {self.value_a!r} != {self.value_b!r}{known}"


def _divergences_by_key() -> dict[tuple[str, str], list]:
    """(kind, key) -> the registered divergence cases about that key of that kind."""
    from parity.cases import get_case

    table: dict[tuple[str, str], list] = {}
    for divergence in all_divergences().values():
        keys = getattr(divergence, "keys", ())
        if not keys:
            continue
        case = get_case(divergence.case)
        kind = case.model_spec(case.configure(divergence.config)).node(divergence.layer).kind
        for key in keys:
            table.setdefault((kind, key), []).append(divergence)
    return table


def pair(a: ModelSpec, b: ModelSpec) -> tuple[list[str], list[Difference]]:
    """(structural differences that stop a pairing, configuration differences of paired layers)."""
    a, b = canonical_order(a), canonical_order(b)
    sa, sb = a.structure(), b.structure()
    structural = []
    if not _same_value(sa["input_shape"], sb["input_shape"]):
        structural.append(f"input shape {tuple(a.input_shape)} != {tuple(b.input_shape)}")
    if len(sa["layers"]) != len(sb["layers"]):
        structural.append(f"{len(a.nodes)} layers ({', '.join(a.kinds)}) != {len(b.nodes)} ({', '.join(b.kinds)})")
    table = _divergences_by_key()
    differences = []
    for node_a, node_b, la, lb in zip(a.nodes, b.nodes, sa["layers"], sb["layers"]):
        if la["kind"] != lb["kind"] or la["inputs"] != lb["inputs"]:
            structural.append(
                f"{node_a.name} ({la['kind']}, reads {la['inputs']}) / {node_b.name} ({lb['kind']}, reads {lb['inputs']})"
            )
            continue
        for key in sorted(set(la["config"]) | set(lb["config"])):
            va, vb = la["config"].get(key), lb["config"].get(key)
            if not _same_value(va, vb):
                cases = table.get((la["kind"], key), [])
                differences.append(
                    Difference(
                        node_a.name,
                        node_b.name,
                        la["kind"],
                        key,
                        va,
                        vb,
                        [d.name for d in cases],
                        [d.rule for d in cases],
                    )
                )
    return structural, differences


# Comparing -------------------------------------------------------------------------------------


@dataclass
class Comparison:
    """The verdict on two models that are meant to be the same."""

    name_a: str
    name_b: str
    dtype: str
    records: Any  # a pandas DataFrame, one row per compared quantity
    structural: list[str]
    differences: list[Difference]
    first_divergence: str | None
    fixes: dict[str, bool] = field(default_factory=dict)  # "layer.key" -> whether A's value makes B agree
    degenerate: str | None = None  # why the comparison proves nothing (parity.fuzz.conditioning.degenerate)
    ill_conditioned: str | None = None  # why it is rounding (parity.fuzz.conditioning.ill_conditioned)
    located_by: str = ""  # how first_divergence was found (``_where``)
    rule: str | None = None  # a registered divergence whose rule was applied to explain the training steps
    rule_records: Any = None  # the records with that rule applied (a DataFrame), None without a rule

    @property
    def agree_with_rule(self) -> bool:
        """Not an agreement as shipped, but one with ``rule`` applied: every quantity within tolerance
        once the registered divergence's rule is applied (never when degenerate or structural)."""
        return (
            self.rule is not None
            and not self.structural
            and self.degenerate is None
            and self.rule_records is not None
            and bool(len(self.rule_records))
            and bool(self.rule_records["passed"].all())
        )

    @property
    def worst(self) -> float:
        """The largest judged relative error as shipped."""
        return _worst(self.records)

    @property
    def worst_with_rule(self) -> float | None:
        """The largest judged relative error with ``rule`` applied; None without a rule."""
        return None if self.rule_records is None else _worst(self.rule_records)

    @property
    def agree(self) -> bool:
        """Every quantity within tolerance, and not vacuously: a degenerate comparison does not agree."""
        return (
            not self.structural
            and self.degenerate is None
            and bool(len(self.records))
            and bool(self.records["passed"].all())
        )

    @property
    def explained(self) -> bool:
        """Agreement as shipped, or with ``rule`` applied: what the exit status of ``parity port`` and
        ``parity compare`` counts as agreement, as ``parity zoo``'s does."""
        return self.agree or self.agree_with_rule

    @property
    def verdict(self) -> str:
        """"agree"; "agree with rule <divergence>" (every quantity within tolerance only with that
        registered divergence's rule applied); "degenerate" (every quantity within tolerance, but
        vacuously); else "disagree"."""
        if self.agree:
            return "agree"
        if self.agree_with_rule:
            return f"agree with rule {self.rule}"
        if self.degenerate and len(self.records) and bool(self.records["passed"].all()):
            return "degenerate"
        return "disagree"

    @property
    def diagnosis(self) -> list[str]:
        lines = [f"degenerate: {self.degenerate}"] if self.degenerate else []
        if self.rule is not None:
            rule = all_divergences()[self.rule].rule
            lines.append(
                f"divergence {self.rule}: worst {self.worst:.2e} as shipped, {self.worst_with_rule:.2e} with its rule "
                f"applied ({'every quantity within tolerance' if self.agree_with_rule else 'still beyond tolerance'}); "
                f"rule: {rule}"
            )
        lines += [f"ill-conditioned: {self.ill_conditioned}"] if self.ill_conditioned else []
        lines += list(self.structural)
        lines += [difference.line() for difference in self.differences]
        for key, fixed in self.fixes.items():
            lines.append(f"setting {key} to {self.name_a}'s value {'makes them agree' if fixed else 'is not enough'}")
        return lines

    def table(self) -> str:
        columns = ["impl_a", "impl_b", "quantity", "max_rel_err", "tolerance", "passed"]
        return self.records[columns].to_string(index=False) if len(self.records) else "(nothing compared)"

    def assert_agree(self) -> None:
        if not self.agree:
            where = (
                f"first diverging layer: {self.first_divergence} (by {self.located_by})\n" if self.first_divergence else ""
            )
            failed = self.records[~self.records["passed"]] if len(self.records) else self.records
            verb = "are compared vacuously" if self.degenerate and not len(failed) else "disagree"
            raise AssertionError(
                f"{self.name_a} and {self.name_b} {verb} in {self.dtype}\n{where}"
                + "\n".join(self.diagnosis)
                + (
                    "\n" + failed[["impl_a", "impl_b", "quantity", "max_rel_err", "tolerance"]].to_string(index=False)
                    if len(failed)
                    else ""
                )
            )


def _worst(records) -> float:
    judged = records[records["passed"].notna()] if len(records) else records
    return float(judged["max_rel_err"].max()) if len(judged) else float("nan")




# The implementation a side runs on: a Keras model runs in a torch-backend worker (``load``).
IMPLEMENTATION = {"torch": "torch", "keras": "keras-torch"}


def _scratch(
    spec: ModelSpec, weights: dict, X, G, dtype: str, trace: bool = False, impl: str = "scratch", training: bool = False
):
    """Scratch built from ``spec``, forward only (its output and activations are what is compared with it);
    with ``impl``, the reference that implementation is judged against; ``training``: in training mode."""
    request = RunRequest(
        spec.name, {}, dtype, weights, X, np.zeros_like(G), G, trace=trace, spec=spec, backward=False, training=training
    )
    return run("scratch", reference_request(impl, request))


@collecting_only_new_objects()  # let_go's collections walk only what the comparison made
def compare(
    model_a,
    model_b,
    *,
    inputs: np.ndarray | None = None,
    input_shape: tuple[int, ...] | None = None,
    dtype: str = "float64",
    batch: int = 2,
    seed: int = 0,
    weights_from: str = "a",
    weights_a: str | None = None,
    weights_b: str | None = None,
    steps: int = 0,
    optimizer: str = "sgd",
) -> Comparison:
    """Compare two models meant to be the same. ``input_shape``: one sample of a torch model, in
    torch's layout (a Keras model declares its own); ``inputs``: the canonical (channels-last) batch
    to use instead of a seeded normal one. ``weights_from``: whose weights both run with, or "own":
    each its own (A's and B's as their float64 builds hold them), and every weight is compared too
    (``weight:<layer>.<name>``), which is how a port saved with its weights is checked.
    ``weights_a`` / ``weights_b``: a weights file for a source (a torch state_dict loaded with
    ``weights_only=True``, or a Keras ``.weights.h5``) instead of the factory's initial weights."""
    import pandas as pd

    if weights_from not in ("a", "b", "own"):
        raise SpecError(f"weights_from must be 'a', 'b' or 'own', received {weights_from!r}")
    own_mode = weights_from == "own"
    weights_from = "a" if own_mode else weights_from
    files = {"a": weights_a, "b": weights_b}
    order = ("a", "b") if weights_from == "a" else ("b", "a")
    models = {"a": model_a, "b": model_b}
    first = load(models[order[0]], order[0], input_shape, seed, files[order[0]])
    shape_other = input_shape or _torch_shape(first.spec.input_shape)
    other = load(models[order[1]], order[1], shape_other, seed, files[order[1]])
    a, b = (first, other) if weights_from == "a" else (other, first)
    name_a, name_b = f"{a.spec.name} ({a.framework})", f"{b.spec.name} ({b.framework})"
    structural, differences = pair(a.spec, b.spec)
    if structural:
        return Comparison(
            name_a,
            name_b,
            dtype,
            pd.DataFrame(columns=list(Record.__dataclass_fields__)),
            structural,
            differences,
            None,
        )

    rng = np.random.default_rng(seed)
    X = inputs if inputs is not None else rng.standard_normal((batch, *a.spec.input_shape))
    out_shape = _scratch_shape(a.spec)
    G = rng.standard_normal((X.shape[0], *out_shape))
    own_key = _own_key(model_a, input_shape, seed, weights_a, dtype, X, G) if own_mode else None
    scratch_a = None  # scratch's output for A, when A's run is remembered with it
    if own_mode:
        if own_key is not None and own_key in _OWN_RUNS:
            ra, canonical_a, scratch_a = _OWN_RUNS[own_key]
        else:
            ra, canonical_a = _own(a, X, G, dtype)
        rb, canonical_b = _own(b, X, G, dtype)
    else:
        own = first.run(X, G, None, dtype)  # the first model with its own weights
        converted = _rename_keys(own["weights"], _renaming(first.spec, other.spec))
        ported = other.run(X, G, converted, dtype)  # the other with those weights, converted
        ra, rb = (own, ported) if weights_from == "a" else (ported, own)
        canonical_a = own["weights"] if weights_from == "a" else converted
        canonical_b = _rename_keys(canonical_a, _renaming(a.spec, b.spec))
        del own, ported
    rb = {**rb, "grads": _rename_keys(rb["grads"], _renaming(b.spec, a.spec))}  # reported in A's names

    tol = tolerance(dtype)
    records = [compare_arrays(a.spec.name, "a", "b", dtype, "output", ra["output"], rb["output"], tol)]
    if own_mode:
        weights_b_as_a = _rename_keys(canonical_b, _renaming(b.spec, a.spec))
        for name, value in canonical_a.items():
            other_value = weights_b_as_a[name] if name in weights_b_as_a else np.full_like(value, np.nan)
            records.append(compare_arrays(a.spec.name, "a", "b", dtype, f"weight:{name}", value, other_value, tol))
    for name, value in ra["grads"].items():
        records.append(
            compare_arrays(
                a.spec.name,
                "a",
                "b",
                dtype,
                f"grad:{name}",
                value,
                rb["grads"][name] if name in rb["grads"] else np.full_like(value, np.nan),
                tol,
            )
        )
    vacuous = degenerate(ra["grads"], ra["output"], G, dtype)
    # A's own value of each gradient that differs, kept to measure how far one ulp moves it (``_one_ulp_moves``);
    # only where nothing else differs (the gradient rule of ``ill_conditioned``): a large chaotic model, whose
    # outputs differ too, keeps none of its gradients through the two runs that judge it.
    failed = [r.quantity for r in records if r.passed is False]
    differing = {}
    if all(q.startswith("grad:") and q.removeprefix("grad:") in ra["grads"] for q in failed):
        differing = {q: ra["grads"][q.removeprefix("grad:")] for q in failed}
    outputs = {"a": ra["output"], "b": rb["output"]}
    # The gradients are judged: from here on only the weights and the outputs are needed. A large
    # model's gradients are as large as its weights, so B's are let go before anything else runs
    # (parity zoo: ConvNeXtXLarge has 350M parameters, 2.6 GiB per float64 copy); A's run is kept
    # only where the round trip reuses it (``_OWN_RUNS``).
    del rb
    let_go(canonical_a)
    # Each model against scratch built from its own spec: a failure here is the harness's, not the port's.
    for label, side, side_weights in (("a", a, canonical_a), ("b", b, canonical_b)):
        if label == "a" and scratch_a is not None:
            scratch_output = scratch_a
        else:
            scratch_output = _scratch(side.spec, side_weights, X, G, dtype, impl=IMPLEMENTATION[side.framework]).output
        if label == "a" and own_key is not None:
            _OWN_RUNS.clear()
            _OWN_RUNS[own_key] = (ra, canonical_a, scratch_output)  # the round trip's source run, reused
        records.append(
            compare_arrays(side.spec.name, "scratch", label, dtype, "output", scratch_output, outputs[label], tol)
        )
        del scratch_output
        let_go(canonical_a)
    del ra
    trained = None
    if steps:
        trained = _training(a, b, canonical_a, X, dtype, steps, optimizer, seed)
        records += trained.records
    # With a registered divergence's rule applied (its records replacing those it explains), what is left.
    rule_records = None
    if trained is not None and trained.rule is not None:
        rule_records = [r for r in records if not getattr(r, "step", 0)] + trained.rule_records
    judged_records = rule_records if rule_records is not None else records
    # Rounding could explain it: is the source itself moved that far by one rounding? (more runs of A)
    judged = None
    if excusable(judged_records):
        moves, gradients = _one_ulp_moves(a, canonical_a, X, G, dtype, outputs["a"], seed, differing)
        if any(r.passed is False and getattr(r, "step", 0) for r in judged_records):
            moves.update(_one_ulp_step_moves(trained, X, dtype, seed))
        judged = ill_conditioned(judged_records, moves, tol, gradients)
    del differing
    frame = pd.DataFrame([r.as_dict() for r in records])

    comparison = Comparison(name_a, name_b, dtype, frame, structural, differences, None)
    comparison.degenerate = vacuous
    comparison.ill_conditioned = judged
    if rule_records is not None:
        comparison.rule = trained.rule
        comparison.rule_records = pd.DataFrame([r.as_dict() for r in rule_records])
    if not bool(frame["passed"].all()) and judged is None:  # scratch alone, in rounding: no layer to name
        comparison.first_divergence, comparison.located_by = _where(a.spec, b.spec, canonical_a, canonical_b, X, G, dtype, records)
        comparison.fixes = _numerical_fixes(
            a.spec, b.spec, canonical_a, X, G, dtype, comparison.first_divergence, differences
        )
    elif judged is not None:
        comparison.first_divergence = _first_in_records(a.spec, records, output_too=False)
    return comparison


def _first_in_records(spec: ModelSpec, records: list[Record], output_too: bool) -> str | None:
    """The first layer whose quantities differ between A and B, from the records alone.

    Where the outputs agree and gradients differ, the backward pass parts first at the layer
    nearest the output (in forward order, the last) whose parameter gradient differs; only the
    input's gradient differing names the first layer. Where the outputs differ too (``output_too``),
    no activation was compared inside the frameworks, and the output layer is named."""
    failed = {r.quantity for r in records if r.passed is False and (r.impl_a, r.impl_b) == ("a", "b")}
    nodes = canonical_order(spec).nodes
    if "output" in failed:
        return spec.output if output_too else None
    layers = {q.removeprefix("grad:").rpartition(".")[0] for q in failed if q.startswith("grad:")}
    for node in reversed(nodes):
        if node.name in layers:
            return node.name
    return nodes[0].name if "grad:input" in failed and nodes else None


def _one_ulp_moves(
    side: Side, weights: dict, X, G, dtype: str, output, seed: int, grads: dict | None = None
) -> tuple[dict[str, float], dict[str, float]]:
    """The relative change of ``side``'s output when its input, then its weights, move by one ulp
    (``parity.fuzz.conditioning.one_ulp``); and of each of ``grads`` ("grad:<name>": its value in
    ``side``'s run), the larger of its two changes. Only where ``grads`` is asked for are gradients
    taken: otherwise the verdict reads only the output and the runs are forward only."""
    rng = np.random.default_rng([seed, 3])
    moved, gradients = {}, dict.fromkeys(grads or {}, 0.0)
    for what, inputs, values in (
        ("input", one_ulp({"X": X}, rng, dtype)["X"], weights),
        ("weights", X, _stored_each(weights, lambda one: one_ulp(one, rng, dtype))),
    ):
        result = side.run(inputs, G, values, dtype, gradients=bool(grads))
        moved[what] = relative_error(output, result["output"])
        for quantity, value in (grads or {}).items():
            other = result["grads"].get(quantity.removeprefix("grad:"), np.full_like(value, np.nan))
            gradients[quantity] = max(gradients[quantity], relative_error(value, other))
        del result
        let_go(weights)
    return moved, gradients


def _stored_each(weights, change: Callable[[dict], dict]) -> StoredArrays:
    """``change`` applied to ``weights`` one array at a time ({name: array} in, {name: array} out; a generator
    it draws from draws in the same order as for the whole set) and each result written to a file, which the
    runs read (parity.runners.stored): a large model's changed weights are never held whole in this process,
    nor sent whole to a worker."""
    folder = RunFolder()
    written = ArrayWriter(folder.path / "weights")
    for name in weights:
        written.update(change({name: weights[name]}))
    return folder.arrays("weights", written.names)


def _one_ulp_step_moves(trained: Trained, X, dtype: str, seed: int) -> dict[str, float]:
    """How far the source's trajectory moves (its loss and every weight after each step, worst relative
    change) when its input moves by one ulp, twice, each with another draw of ulps: the steps' own
    condition, with a registered rule applied where it was (``Trained.rerun``). Key ``"step input"``.

    A model with dropout: each run of a side's request seeds the generators its masks come from
    (``TrainRequest.mask_seed``), so every rerun draws the masks the judged run drew, and only the input
    moves. Should a rerun draw other masks all the same (a generator the seeding does not reach), no
    move is measured and nothing is returned: another draw of masks is no condition of the step."""
    base = trained.rerun(X)
    if not same_masks(trained.masks, base.dropout_masks):
        return {}
    worst = 0.0
    for draw in range(2):
        moved = trained.rerun(one_ulp({"X": X}, np.random.default_rng([seed, 4, draw]), dtype)["X"])
        if not same_masks(base.dropout_masks, moved.dropout_masks):
            return {}
        for step, weights in enumerate(base.weights):
            for name, value in weights.items():
                worst = max(worst, relative_error(value, moved.weights[step][name]))
        worst = max(worst, *(relative_error(x, y) for x, y in zip(base.losses, moved.losses)))
        del moved
        let_go(base.weights[0] if base.weights else {})
    return {"step input": worst}


def same_masks(first: dict, second: dict) -> bool:
    """Whether two runs drew the same dropout masks (both none: a model without dropout)."""
    if first.keys() != second.keys():
        return False
    return all(
        len(first[name]) == len(second[name]) and all(np.array_equal(x, y) for x, y in zip(first[name], second[name]))
        for name in first
    )


def _training(a: Side, b: Side, weights_a: dict, X, dtype: str, steps: int, optimizer: str, seed: int) -> Trained:
    """Both specs trained ``steps`` steps in their own frameworks (mean squared error to seeded
    targets), from the same weights on the same batch, and each against scratch built from its spec.

    A model with dropout draws its masks from each framework's own generator, so A and B cannot be
    compared step by step; each is compared with scratch replaying the masks it drew (as ``parity
    train`` does), which proves both train as their shared spec says.

    A Keras side on the torch backend with BatchNormalization computes the batch variance in one pass
    (divergence ``keras_torch_batchnorm_one_pass_variance``). Where a float64 trajectory record of such
    a side fails, its steps run again with two passes (``parity.training.two_pass``, a measurement in
    the worker, never the default), and the records are compared again with that side's trajectory
    replaced (``Trained.rule_records``): the records as shipped stay as they are."""
    from parity.train import compare_trajectories, optimizer_spec, run_training
    from parity.training.spec import TrainRequest, convention

    if optimizer not in OPTIMIZER_NAMES:
        raise SpecError(f"unknown optimizer {optimizer!r}; choose from: {', '.join(OPTIMIZER_NAMES)}")
    rng = np.random.default_rng([seed, 1])
    T = rng.standard_normal((X.shape[0], *_scratch_shape(a.spec)))
    # Training starts from A's weights with their constant arrays varied (parity.weights.vary_constants),
    # as a case's canonical weights are. From a framework's own initialisation, a zero bias or beta
    # whose gradient is exactly zero (every path from it passes through a BatchNorm in training mode,
    # which removes any per-channel shift: MobileNetV2's linear bottlenecks) is rounding noise after a
    # step, and so is a zero running mean fed by it; noise against noise is no verdict.
    # Varied one array at a time into files (``_stored_each``): a large model's starting weights are never
    # held in this process.
    rng = np.random.default_rng([seed, 2])
    weights_a = _stored_each(weights_a, lambda one: vary_constants(one, rng))
    options = optimizer_spec(optimizer, {})
    if options["kind"] in ("adam", "adamw"):
        # torch's Adam adds epsilon after the bias correction, Keras' before (divergence case adam_epsilon_hat):
        # torch runs Keras' formula through the registered rule, so both frameworks train one trajectory.
        options["torch_keras_epsilon"] = True
    common = dict(
        case=a.spec.name,
        config={},
        dtype=dtype,
        inputs=X,
        targets=T,
        batches=[np.arange(X.shape[0])] * steps,
        optimizer=options,
        loss="mean_squared_error",
    )
    impl = IMPLEMENTATION
    # The steps build their own models: the ones the worker keeps from the inference runs (a source and
    # its port, a copy of the weights each) go first. A later run of the same source builds it again.
    a.forget()
    b.forget()
    to_b, to_a = _renaming(a.spec, b.spec), _renaming(b.spec, a.spec)
    one_pass = {
        label: impl[side.framework] == "keras-torch" and "batch_norm" in side.spec.kinds and dtype == "float64"
        for label, side in (("a", a), ("b", b))
    }
    results, references, records, requests, owns = {}, {}, [], {}, {}
    for label, side, weights in (("a", a, weights_a), ("b", b, _rename_keys(weights_a, to_b))):
        # each side's dropout generators seeded, so that any rerun of its request draws the masks it drew
        request = TrainRequest(weights=weights, spec=side.spec, mask_seed=seed, **common)
        requests[label] = request
        # Each trajectory is written to files as its run reads it, and compared one array at a time
        # (``run_training(stored=True)``): each side's model and gradients go when its steps are written.
        results[label] = run_training(impl[side.framework], request, stored=True)
        rule = convention(impl[side.framework], options)
        masks = results[label].dropout_masks or None
        own = reference_request(impl[side.framework], TrainRequest(**{**request.__dict__, "convention": rule}))
        owns[label] = own
        scratch = run_training("scratch", TrainRequest(**{**own.__dict__, "dropout_masks": masks}), stored=True)
        if label == "b":  # reported in A's names
            for result in (results["b"], scratch):
                result.weights = [_rename_keys(w, to_a) for w in result.weights]
        results[label].impl, scratch.impl = label, "scratch"
        records += compare_trajectories(a.spec.name, dtype, scratch, results[label])
        if one_pass[label]:  # kept, in case the one-pass variance is measured below
            references[label] = scratch
        del scratch  # each scratch trajectory judged, then let go (a large model's weights)
        let_go(weights_a)
    comparable = not (results["a"].dropout_masks or results["b"].dropout_masks)
    if comparable:
        between = compare_trajectories(a.spec.name, dtype, results["a"], results["b"])
        if options["kind"] == "rmsprop" and a.framework != b.framework:
            # Keras puts epsilon inside the square root, torch outside (divergence case rmsprop_epsilon_and_rho):
            # no hyperparameter maps one onto the other, so A against B is measured, not judged.
            for record in between:
                record.tolerance, record.passed, record.status = None, None, "measured"
                record.detail = "rmsprop_epsilon_and_rho: the two RMSprop formulas differ"
        records += between
    trained = Trained(records, rerun=lambda inputs: _retrain(a, requests["a"], inputs, two_pass=one_pass["a"]))
    failing = {label for label in ("a", "b") if one_pass[label] and _fails(records, label)}
    if failing:
        # Keras' torch backend computes BatchNorm's batch variance in one pass (divergence ONE_PASS): the
        # same steps again with two passes, to show whether that, and nothing else, is why they part.
        for label in failing:
            two_pass = _retrain({"a": a, "b": b}[label], requests[label], X, two_pass=True)
            renamed = [two_pass]
            if two_pass.dropout_masks:  # seeded as the first run, it draws its masks; scratch replays them all the same
                masks = two_pass.dropout_masks
                scratch_request = TrainRequest(**{**owns[label].__dict__, "dropout_masks": masks})
                references[label] = run_training("scratch", scratch_request, stored=True)
                references[label].impl = "scratch"
                renamed.append(references[label])
            if label == "b":  # reported in A's names
                for result in renamed:
                    result.weights = [_rename_keys(w, to_a) for w in result.weights]
            two_pass.impl = label
            results[label] = two_pass
        trained.rule = ONE_PASS
        trained.rule_records = []
        for label in ("a", "b"):
            reference = references.get(label)
            if reference is None:  # this side's trajectory against scratch is unchanged
                trained.rule_records += [r for r in records if _pair(r) == ("scratch", label)]
            else:
                trained.rule_records += compare_trajectories(a.spec.name, dtype, reference, results[label])
        if comparable:
            trained.rule_records += compare_trajectories(a.spec.name, dtype, results["a"], results["b"])
    trained.masks = results["a"].dropout_masks
    return trained


ONE_PASS = "keras_torch_batchnorm_one_pass_variance"


@dataclass
class Trained:
    """Training records as shipped, and where a registered divergence explains them, the same records
    with its rule applied (``rule``, ``rule_records``); ``rerun(inputs)``: A's trajectory again from
    other inputs (with the rule, where it applies), to measure how far one ulp moves it."""

    records: list[Record]
    rerun: Callable[[np.ndarray], Any]
    rule: str | None = None
    rule_records: list[Record] | None = None
    masks: dict = field(default_factory=dict)  # the masks A's trajectory (with the rule, where it applies) drew


def _pair(record: Record) -> tuple[str, str]:
    return record.impl_a, record.impl_b


def _fails(records: list[Record], label: str) -> bool:
    """Whether a trajectory record that involves side ``label`` failed."""
    return any(r.passed is False and label in _pair(r) for r in records)


def _retrain(side: Side, request, inputs: np.ndarray, two_pass: bool):
    """``side``'s trajectory from ``request`` with ``inputs``; with ``two_pass``, Keras' torch backend with
    two-pass batch variances (``parity.training.two_pass``, a measurement, never a default). Its weights after
    each step are files, each read when indexed (``parity.train.stored_training``)."""
    from parity.runners.base import needs_x64
    from parity.runners.pool import keras_worker
    from parity.train import run_training, stored_training

    moved = type(request)(**{**request.__dict__, "inputs": inputs})
    if not two_pass:
        return run_training(IMPLEMENTATION[side.framework], moved, stored=True)
    worker = keras_worker("torch", x64=needs_x64("keras-torch", request.dtype))
    return stored_training(lambda stored: worker.call("parity.training.two_pass:train_keras_two_pass", stored), moved)


def _scratch_shape(spec: ModelSpec) -> tuple[int, ...]:
    from parity.spec.generate import build_scratch

    return tuple(build_scratch(spec).output_shape)


def _renaming(source: ModelSpec, target: ModelSpec) -> Callable[[str], str]:
    """Canonical names of ``source`` ("conv1.W") as the paired layers of ``target`` name them ("conv2d.W")."""
    names = {a.name: b.name for a, b in zip(canonical_order(source).nodes, canonical_order(target).nodes)}

    def rename(key: str) -> str:
        layer, _, param = key.rpartition(".")
        if not layer or layer not in names:
            return key
        return f"{names[layer]}.{param}"

    return rename


def _rename_keys(weights: dict, rename) -> dict:
    if isinstance(weights, StoredArrays):  # renamed without reading a file
        return weights.renamed(rename)
    return {rename(k): v for k, v in weights.items()}


# A source's run with its own weights, and scratch's output for it, by everything that determines
# them: a port's source is compared with its port, then on the same batch with the port's own port
# (parity zoo's round trip), and a keras.applications model's run and scratch take seconds each.
# One entry: the next source's run replaces it.
_OWN_RUNS: dict[tuple, tuple] = {}


def forget_runs() -> None:
    """Drop the remembered source run (``_OWN_RUNS``): a caller done with a source frees its arrays."""
    _OWN_RUNS.clear()


def _own_key(model_a, input_shape, seed: int, weights_file, dtype: str, X, G) -> tuple | None:
    """What A's own run depends on, when A is a source (file and weights files unchanged); None otherwise."""
    import hashlib

    from parity.sources import _beside, _file_state

    if not isinstance(model_a, (str, Path)):
        return None
    source = str(model_a)
    weights = None
    if weights_file is not None:
        stat = Path(weights_file).stat()
        weights = str(Path(weights_file).resolve()), stat.st_mtime_ns, stat.st_size
    digests = tuple(
        (array.shape, str(array.dtype), hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest())
        for array in (X, G)
    )
    return _file_state(source, input_shape), _beside(source), seed, dtype, weights, digests


def _own(side: Side, X, G, dtype: str) -> tuple[dict, dict]:
    """(a run of ``side`` in ``dtype`` with its own weights, those weights): the weights are read in
    float64, so that a model whose initialisers draw differently per dtype still runs with one set."""
    result = side.run(X, G, None, "float64")
    weights = result["weights"]
    if dtype == "float64":
        return result, weights
    del result  # its float64 gradients: let go before the run in ``dtype`` brings its own
    return side.run(X, G, weights, dtype), weights


def _where(a: ModelSpec, b: ModelSpec, weights_a: dict, weights_b: dict, X, G, dtype: str, records) -> tuple[str | None, str]:
    """(the first diverging layer or None, how it was found), from the failed records of a comparison.

    Each model's weights as held (``weight:`` records without a step) come first: a weight that differs
    is where they part. Then the inference quantities (outputs, gradients): the first layer whose
    inference-mode activations differ in scratch traces of the two specs, or where those agree (the
    frameworks part, not the specs) the layer the failed records name (``_first_in_records``). A
    failure only in the training steps (the weights after a step) names the first layer whose training-mode forward differs (batch statistics), never the first
    ``weight:`` record of a step: every weight after a step depends on the whole backward pass, so the
    first in canonical order (the stem) says nothing about where the steps part."""
    failed = [r for r in records if r.passed is False]
    held = [r.quantity for r in failed if r.quantity.startswith("weight:") and not getattr(r, "step", 0)]
    if held:
        return held[0].removeprefix("weight:").rpartition(".")[0], "a weight as held"
    if any(not getattr(r, "step", 0) for r in failed):
        first = _first_divergence(a, b, weights_a, X, G, dtype, weights_b)
        if first is not None:
            return first, "inference-mode activations"
        # the frameworks differ where scratch traces of the two specs agree: the records say where
        return _first_in_records(a, records, output_too=True), "the failed records (scratch traces of the two specs agree)"
    first = _first_divergence(a, b, weights_a, X, G, dtype, weights_b, training=True)
    if first is None:
        return None, "training steps only: no layer's training-mode forward differs between the two specs"
    return first, "training-mode activations (training steps only)"


def _first_divergence(
    a: ModelSpec,
    b: ModelSpec,
    weights_a: dict,
    X,
    G,
    dtype: str,
    weights_b: dict | None = None,
    training: bool = False,
) -> str | None:
    """The first paired layer whose output differs, from scratch traces of both specs (each equal to its model).
    B runs with ``weights_b`` (its own names), A's converted when None; ``training``: BatchNorm on batch statistics."""
    tol = tolerance(dtype)
    ta = _scratch(a, weights_a, X, G, dtype, trace=True, training=training).trace
    weights_b = _rename_keys(weights_a, _renaming(a, b)) if weights_b is None else weights_b
    tb = _scratch(b, weights_b, X, G, dtype, trace=True, training=training).trace
    for la, lb in zip(ta, tb):
        if compare_arrays(a.name, "a", "b", dtype, "activation", la.output, lb.output, tol).passed is False:
            return la.name if la.name == lb.name else f"{la.name} / {lb.name}"
    return None


def _numerical_fixes(a, b, weights_a, X, G, dtype, first, differences) -> dict[str, bool]:
    """For each configuration difference of the first diverging layer: does A's value make B agree?"""
    if first is None:
        return {}
    layer_a = first.split(" / ")[0]
    reference = _scratch(a, weights_a, X, G, dtype)
    fixes = {}
    for difference in differences:
        if difference.layer_a != layer_a:
            continue
        nodes = tuple(
            type(node)(
                node.name, node.kind, {**node.config, difference.key: difference.value_a}, node.inputs, node.shares
            )
            if node.name == difference.layer_b
            else node
            for node in b.nodes
        )
        fixed = ModelSpec(b.name, b.input_shape, nodes, b.output, b.input_dtype)
        result = _scratch(fixed, _rename_keys(weights_a, _renaming(a, b)), X, G, dtype)
        fixes[f"{difference.layer_b}.{difference.key}"] = bool(
            compare_arrays(a.name, "a", "b", dtype, "output", reference.output, result.output, tolerance(dtype)).passed
        )
    return fixes
