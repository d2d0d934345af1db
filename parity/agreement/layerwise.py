"""Two traced runs compared layer by layer, and the place where they part.

Both runs carry a trace (``RunRequest(trace=True)``): every layer's output and the
gradient of L = sum(output * G) with respect to it, named by the scratch layer. One
row per layer compares both (max_rel_err, shown in eps of the dtype), plus a row for
dL/dX ("input") and one for the training loss and its parameter gradients ("loss").
The place where the difference lives is found as::

    1. the first layer, in forward order, whose output differs;
    2. else, if only gradients differ: the backward pass runs last layer first, so the
       difference was made by the layer just after the last one (in forward order)
       whose output gradient differs (the first layer if only dL/dX differs);
    3. else the layer owning the parameter with the largest failing gradient;
    4. else the first layer whose weights or state, read back after the forward pass,
       differ (running statistics that update differently);
    5. else "loss", if the loss or its gradients differ (a loss-only difference),
       or "optimizer" (a row ``parity.divergences.inspection`` adds for training divergences).

Layers are matched by name. When the two sides have different layers (a model that
ends in a sigmoid against one whose loss takes logits), a layer present on one side
only is shown but not judged, and gradients are judged only at layers followed by the
same layers on both sides (otherwise they differ by construction).

A layer that only moves elements may order them differently in a framework: torch
flattens an NCHW map in (C, H, W) order, scratch and Keras in (H, W, C), and the next
layer's converter compensates (``parity.convert.dense``, rule ``flatten_order``).
So the output of a layer other than the last that equals the reference up to one
fixed reordering of its elements (the same for every sample) is a layout difference,
not an error: the row is judged after that reordering (its gradient too) and says so.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from parity.runners.base import RunResult
from parity.tolerance import EPS, relative_error

NOT_JUDGED_GRAD = "gradient not judged: different layers follow it on the two sides"


@dataclass
class LayerRow:
    """One layer (or "input", or "loss") of an inspection."""

    layer: str
    kind: str
    shape: str
    act_err: float | None  # max_rel_err of the layer's output (the loss value for "loss")
    grad_err: float | None  # max_rel_err of dL/d(output) (worst parameter gradient of the loss for "loss")
    weight_err: float | None = None  # worst max_rel_err of the layer's weights and state read back after the pass
    tolerance: float = 0.0
    dtype: str = "float64"
    act_floor: float | None = None  # float32 only: the larger of the two implementations' own noise
    grad_floor: float | None = None
    passed: bool | None = None
    note: str = ""

    @property
    def act_eps(self) -> float | None:
        return None if self.act_err is None else self.act_err / EPS[self.dtype]

    @property
    def grad_eps(self) -> float | None:
        return None if self.grad_err is None else self.grad_err / EPS[self.dtype]

    @property
    def weight_eps(self) -> float | None:
        return None if self.weight_err is None else self.weight_err / EPS[self.dtype]

    def as_dict(self) -> dict:
        out = asdict(self)
        out.update(
            act_err_in_eps=self.act_eps,
            grad_err_in_eps=self.grad_eps,
            weight_err_in_eps=self.weight_eps,
            tolerance_in_eps=self.tolerance / EPS[self.dtype],
        )
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}


def _merge(names_a: list[str], names_b: list[str]) -> list[str]:
    """Layer names of both sides in forward order; a name on one side only sits after its predecessor."""
    merged = list(names_a)
    previous = None
    for name in names_b:
        if name not in merged:
            merged.insert(merged.index(previous) + 1 if previous is not None else 0, name)
        previous = name
    return merged


def _same_downstream(name: str, names_a: list[str], names_b: list[str]) -> bool:
    """Whether the layers after ``name`` are the same on both sides (so dL/d(output) must agree)."""
    if name == "input":
        return names_a == names_b
    return names_a[names_a.index(name) + 1 :] == names_b[names_b.index(name) + 1 :]


def _shape(x) -> str:
    return "x".join(str(d) for d in np.shape(x)) or "scalar"


def reordering(ref: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Column orders (i, j) with other[:, j] ~ ref[:, i] for every sample, per (B, -1) view; None if shapes differ.

    Each element position is a column of B values; a random projection gives each
    column one number, and sorting those numbers pairs the columns of both arrays.
    Two columns with nearly equal numbers are nearly equal columns (or the pairing is
    wrong and the comparison after it fails: a reordering is never accepted wrongly).
    """
    if ref.shape != other.shape or ref.ndim < 2:
        return None
    # A masked score's -inf (or an overflow's inf) would make the projection inf - inf = NaN: each becomes a
    # large finite value of its sign, so such columns still sort together.
    A = np.nan_to_num(np.asarray(ref, dtype=np.float64), nan=0.0, posinf=1e150, neginf=-1e150).reshape(ref.shape[0], -1)
    B = np.nan_to_num(np.asarray(other, dtype=np.float64), nan=0.0, posinf=1e150, neginf=-1e150).reshape(other.shape[0], -1)
    r = np.random.default_rng(0).standard_normal(A.shape[0])  # (B,)
    return np.argsort(r @ A, kind="stable"), np.argsort(r @ B, kind="stable")


def _layout_order(ta, tb, tol: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The reordering under which layer trace ``tb`` equals ``ta``, if there is one.

    Output and gradient move together, so the columns are first paired on both at
    once (equal output columns, such as the zeros after a ReLU, then still pair
    correctly); if the gradients differ in value too, on the output alone.
    """
    shape = np.shape(ta.output)
    if shape != np.shape(tb.output) or np.shape(ta.grad) != shape or np.shape(tb.grad) != shape or len(shape) < 2:
        return None
    B = shape[0]
    both_a = np.concatenate([np.reshape(ta.output, (B, -1)), np.reshape(ta.grad, (B, -1))])  # (2B, N)
    both_b = np.concatenate([np.reshape(tb.output, (B, -1)), np.reshape(tb.grad, (B, -1))])  # (2B, N)
    for order in (reordering(both_a, both_b), reordering(ta.output, tb.output)):
        if order is not None and _reordered_error(ta.output, tb.output, order) <= tol:
            return order
    return None


def _reordered_error(ref: np.ndarray, other: np.ndarray, order: tuple[np.ndarray, np.ndarray]) -> float:
    i, j = order
    A = np.asarray(ref).reshape(ref.shape[0], -1)[:, i]  # (B, N), columns paired
    B = np.asarray(other).reshape(other.shape[0], -1)[:, j]  # (B, N)
    return relative_error(A, B)


def _layer_weights_error(a: RunResult, b: RunResult, name: str) -> float | None:
    prefix = name + "."
    keys = [k for k in a.weights if k.startswith(prefix) and k in b.weights]
    return max((relative_error(a.weights[k], b.weights[k]) for k in keys), default=None)


def compare_layers(
    a: RunResult,
    b: RunResult,
    dtype: str,
    tol: float,
    kinds: dict[str, str] | None = None,
    loss_name: str = "loss",
    floors: tuple[dict, dict] | None = None,
) -> tuple[list[LayerRow], tuple[str, float] | None]:
    """One row per layer (plus "input" and "loss"), and the worst judged parameter gradient."""
    kinds = kinds or {}
    trace_a = {t.name: t for t in a.trace}
    trace_b = {t.name: t for t in b.trace}
    names_a, names_b = [t.name for t in a.trace], [t.name for t in b.trace]

    def floor(name: str, which: int) -> float | None:
        if floors is None:
            return None
        values = [f[name][which] for f in floors if name in f and f[name][which] is not None]
        return max(values) if len(values) == 2 else None

    def row(layer: str, kind: str, shape: str, **values) -> LayerRow:
        return LayerRow(layer, kind, shape, tolerance=tol, dtype=dtype, **values)

    rows = []
    grad_in = relative_error(a.grads["input"], b.grads["input"]) if "input" in a.grads and "input" in b.grads else None
    judged = _same_downstream("input", names_a, names_b)
    rows.append(
        row(
            "input",
            "-",
            _shape(a.grads.get("input")),
            act_err=None,
            grad_err=grad_in if judged else None,
            passed=None if grad_in is None or not judged else grad_in <= tol,
            note="" if judged else NOT_JUDGED_GRAD,
        )
    )
    merged = _merge(names_a, names_b)
    for name in merged:
        kind = kinds.get(name, "")
        if name not in trace_a or name not in trace_b:
            side = b.impl if name in trace_b else a.impl
            only = trace_b.get(name) or trace_a.get(name)
            rows.append(
                row(name, kind, _shape(only.output), act_err=None, grad_err=None, note=f"only in {side}: not judged")
            )
            continue
        ta, tb = trace_a[name], trace_b[name]
        act = relative_error(ta.output, tb.output)
        judged = _same_downstream(name, names_a, names_b)
        grad = relative_error(ta.grad, tb.grad) if judged else None
        notes = [] if judged else [NOT_JUDGED_GRAD]
        if act > tol and name != merged[-1]:
            order = _layout_order(ta, tb, tol)
            if order is not None:
                act = _reordered_error(ta.output, tb.output, order)
                grad = _reordered_error(ta.grad, tb.grad, order) if judged else None
                notes.append("layout: same values, another order")
        weight = _layer_weights_error(a, b, name)
        shape = (
            _shape(ta.output)
            if np.shape(ta.output) == np.shape(tb.output)
            else f"{_shape(ta.output)} vs {_shape(tb.output)}"
        )
        passed = act <= tol and (grad is None or grad <= tol) and (weight is None or weight <= tol)
        rows.append(
            row(
                name,
                kind,
                shape,
                act_err=act,
                grad_err=grad,
                weight_err=weight,
                act_floor=floor(name, 0),
                grad_floor=floor(name, 1),
                passed=passed,
                note="; ".join(notes),
            )
        )

    # The training loss and its parameter gradients (parameters both sides have).
    loss_err = relative_error(a.loss, b.loss)
    shared = [k for k in a.loss_grads if k in b.loss_grads]
    loss_grad = max((relative_error(a.loss_grads[k], b.loss_grads[k]) for k in shared), default=None)
    passed = loss_err <= tol and (loss_grad is None or loss_grad <= tol)
    rows.append(
        row(
            "loss",
            loss_name,
            "scalar",
            act_err=loss_err,
            grad_err=loss_grad,
            act_floor=floor("loss", 0),
            grad_floor=floor("loss", 1),
            passed=passed,
        )
    )

    worst = None
    for key in a.grads:
        if key == "input" or key not in b.grads:
            continue
        layer = key.split(".")[0]
        if layer in names_a and layer in names_b and not _same_downstream(layer, names_a, names_b):
            continue
        err = relative_error(a.grads[key], b.grads[key])
        if worst is None or err > worst[1]:
            worst = (key, err)
    return rows, worst


def locate(rows: list[LayerRow], worst_param: tuple[str, float] | None, tol: float) -> str | None:
    """Where the difference lives (see the module docstring); None when everything agrees."""
    layers = [r for r in rows if r.layer not in ("input", "loss", "optimizer")]
    for row in layers:
        if row.act_err is not None and row.act_err > tol:
            return row.layer
    ordered = [r for r in rows if r.layer not in ("loss", "optimizer")]  # "input" first, then forward order
    failing = [i for i, r in enumerate(ordered) if r.grad_err is not None and r.grad_err > tol]
    if failing:
        last = failing[-1]
        return ordered[last + 1].layer if last + 1 < len(ordered) else ordered[last].layer
    if worst_param is not None and worst_param[1] > tol:
        return worst_param[0].split(".")[0]
    for row in layers:
        if row.weight_err is not None and row.weight_err > tol:
            return row.layer
    for row in rows:
        if row.layer in ("loss", "optimizer") and row.passed is False:
            return row.layer
    return None
