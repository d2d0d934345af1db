"""Two judgements the fuzzer makes at their cause instead of with a wider constant.

- **Zero references** (``zero_reference``): a quantity whose true value is exactly zero (the
  gradient of a bias in front of a training-mode BatchNorm, a LayerNorm's input gradient over one
  feature) has no magnitude to measure a relative error against: ``max|a-b| / max|a|`` reads the
  rounding residue of the terms that cancel there as an infinite (or huge) error. Such a
  quantity is measured against the magnitudes that fed it (``parity.tolerance.fed_scale``).
- **Ill-conditioned models** (``conditioned``): where an implementation disagrees with the
  float64 oracle beyond tolerance, an extended-precision (``np.longdouble``) scratch run of the
  same model says how far float64 itself is from the exact value there; each implementation's
  error against that reference is judged by the oracle's own error
  (``parity.tolerance.conditioning_bound``), so rounding amplified by ill-conditioning is not a
  finding and a wrong formula still is.

The same zero-reference policy says when a whole comparison is vacuous (``degenerate``): every
gradient of the reference zero at the precision of what fed it.

A model too large for the extended-precision oracle is judged by its own condition instead
(``ill_conditioned``): where only scratch disagrees with a source, or a port that holds exactly the
source's weights, the source is run again with its input, then its weights, moved by one ulp
(``one_ulp``); if that alone moves its output beyond the tolerance, rounding in a different order
(scratch's NumPy sums, another framework's kernels) cannot be told from a wrong formula at that
tolerance on this model.
"""

from __future__ import annotations

import itertools

import numpy as np

from parity.agreement.records import Record
from parity.runners import run
from parity.runners.base import RunRequest, RunResult
from parity.tolerance import EPS, conditioning_bound, fed_scale, finite_max_abs, relative_error, tolerance


def quantity(result: RunResult, name: str) -> np.ndarray | None:
    """The array ``parity.agreement.records.compare_runs`` compared under ``name``."""
    if name == "output":
        return np.asarray(result.output)
    if name == "loss":
        return np.asarray(result.loss)
    prefix, _, key = name.partition(":")
    table = {"grad": result.grads, "loss_grad": result.loss_grads, "weight": result.weights}.get(prefix)
    return None if table is None or key not in table else np.asarray(table[key])


def largest(arrays) -> float:
    """The largest finite magnitude among ``arrays`` (0 when there is none)."""
    found = [finite_max_abs(a) for a in arrays if np.size(a)]
    return max((value for value in found if value is not None), default=0.0)


def fed_magnitudes(result: RunResult, inputs: np.ndarray, cotangent: np.ndarray) -> dict[str, float]:
    """Per quantity family, the largest magnitude among the values that fed it (see ``fed_scale``):
    the gradients of L = sum(Y * G) start from the cotangent G, the loss gradients from the loss
    (a saturated model's gradients can all be zero: then those are what is left)."""
    return {
        "output": largest([inputs, result.output]),
        "loss": largest([result.loss]),
        "grad": largest([cotangent, *result.grads.values()]),
        "loss_grad": largest([np.asarray(result.loss), *result.loss_grads.values()]),
        "weight": largest(result.weights.values()),
    }


def zero_reference(records: list[Record], reference: RunResult, other: RunResult, fed: dict[str, float]) -> None:
    """Re-measure, in place, each record whose reference is zero at the precision of what fed it."""
    for record in records:
        if record.status != "compared" or record.max_abs_err is None:
            continue
        a = quantity(reference, record.quantity)
        b = quantity(other, record.quantity)
        scale = fed_scale(fed.get(record.quantity.partition(":")[0], 0.0), a, record.dtype)
        if scale is None or a is None or b is None or a.shape != b.shape:
            continue
        error = record.max_abs_err / scale
        record.max_rel_err, record.err_in_eps = error, error / EPS[record.dtype]
        record.passed = bool(error <= (record.tolerance if record.tolerance is not None else tolerance(record.dtype)))
        note = f"zero reference (max|ref| {float(np.max(np.abs(a))) if a.size else 0.0:.3g}): error relative to the magnitudes that fed it, {scale:.3g}"
        record.detail = "; ".join(filter(None, [record.detail, note]))


def degenerate(grads: dict, output: np.ndarray, cotangent: np.ndarray, dtype: str) -> str | None:
    """Why a comparison of these gradients would prove nothing, or None.

    The gradients of L = sum(Y * G) are fed by the cotangent G. When every one of them (the input's
    and every parameter's) is zero at the precision of what fed it (``parity.tolerance.fed_scale``,
    the zero-reference policy the fuzzer judges single quantities by), the backward pass carried
    nothing: any two implementations "agree" on it whatever their maths, so the comparison is
    vacuous. A softmax whose largest input exceeds the others by more than ~745 (exp underflows in
    float64) does this: its output is exactly one-hot and its Jacobian exactly zero."""
    fed = largest(itertools.chain([cotangent], grads.values()))  # one gradient at a time (parity.runners.stored)
    if not grads or any(fed_scale(fed, g, dtype) is None for g in grads.values()):
        return None
    found = largest(grads.values())
    why = (
        f"every gradient of the reference is zero at the precision of what fed it (largest |gradient| "
        f"{found:.3g} <= {tolerance(dtype):.0e} x {fed:.3g}, the cotangent's largest magnitude)"
    )
    Y = np.asarray(output, dtype=np.float64)
    if Y.ndim >= 2 and Y.size and np.all((Y >= 0) & (Y <= 1)) and np.allclose(Y.sum(axis=-1), 1.0):
        top = float(np.min(np.max(Y, axis=-1)))
        why += f"; softmax saturated: every sample's largest probability is {top:.17g}"
    return why


def extended_reference(request: RunRequest) -> RunResult | None:
    """The scratch model in ``np.longdouble`` on the same float64 weights and data; None where
    longdouble is float64 (MSVC, Apple silicon: no extended precision to measure with)."""
    if np.finfo(np.longdouble).eps >= EPS["float64"]:
        return None
    return run("scratch", RunRequest(**{**request.__dict__, "dtype": "longdouble"}))


def conditioned(records: list[Record], oracle: RunResult, other: RunResult, reference: RunResult) -> None:
    """Re-judge, in place, each failed float64 record against the extended-precision reference."""
    for record in records:
        if record.passed is not False or record.status != "compared" or record.dtype != "float64":
            continue
        exact, a, b = (quantity(r, record.quantity) for r in (reference, oracle, other))
        if exact is None or a is None or b is None or not (exact.shape == a.shape == b.shape):
            continue
        exact = exact.astype(np.float64)
        own, error = relative_error(exact, a), relative_error(exact, b)
        bound = conditioning_bound(own, record.tolerance)
        if error <= bound:
            record.passed = True
            record.detail = "; ".join(
                filter(
                    None,
                    [
                        record.detail,
                        f"ill-conditioned: against an extended-precision scratch run, scratch float64 is {own:.3g} off "
                        f"and {record.impl_b} {error:.3g} (bound {bound:.3g})",
                    ],
                )
            )


def one_ulp(arrays: dict[str, np.ndarray], rng: np.random.Generator, dtype: str) -> dict[str, np.ndarray]:
    """Every floating element moved by one ulp of ``dtype``, up or down at random (the size of one
    rounding in the dtype the models run in), each array kept in its own dtype."""
    moved = {}
    for name, value in arrays.items():
        value = np.asarray(value)
        if np.issubdtype(value.dtype, np.floating):
            direction = np.where(rng.random(value.shape) < 0.5, -np.inf, np.inf).astype(dtype)
            value = np.nextafter(value.astype(dtype), direction).astype(value.dtype)
        moved[name] = value
    return moved


def excusable(records: list[Record]) -> bool:
    """Whether the failed records could be rounding amplified by the model: some record failed, and
    either every failed one involves scratch (whose sums round in another order than the
    framework's kernels) or the two models hold the same weights (every ``weight:`` record of the
    weights as held compared and passed, none of the failed ones such a weight). A weight that
    differs is a disagreement whatever the model's condition. The weights after a training step
    (records with a ``step``) are computed, like a gradient: they are not weights as held."""
    failed = [r for r in records if r.passed is False]
    held = [r for r in records if r.quantity.startswith("weight:") and not getattr(r, "step", 0)]
    same_weights = bool(held) and all(r.passed is True for r in held)
    return bool(failed) and (all("scratch" in (r.impl_a, r.impl_b) for r in failed) or same_weights)


def ill_conditioned(
    records: list[Record], moved: dict[str, float], tol: float, gradients: dict[str, float] | None = None
) -> str | None:
    """Why a disagreement is this model's rounding amplified, or None.

    ``moved``: the relative change of the source's output when one thing is moved by one ulp
    (``"input"``, ``"weights"``: see ``one_ulp``), and of its training trajectory (keys starting with
    ``"step"``: the loss and the weights after each step) when its input is. ``gradients``: for each
    failed ``grad:`` record, the largest relative change of the source's own value of that gradient
    under the input and weight moves. Applies only to ``excusable`` records, and only when a one-ulp
    move of the same kind exceeds each failed record's tolerance: a training-step record by a step
    move, an inference quantity by an output move or, for a gradient, by its own move. A derivative
    that jumps (ReLU's at 0, a max-pool tie) on an input within rounding of the jump leaves the
    output well conditioned and makes the gradient a coin toss of rounding: InceptionV3 at 75x75,
    float32, one ReLU input of 1.2e-9 in float64 rounds to -1.1e-9 in Keras' convolution and to
    +1.5e-9 in the port's, and 145 gradients differ by up to 0.06 while the logits agree to 8.7e-7
    (Keras' torch backend hands torch.nn.functional.conv2d its input and kernel in torch's
    channels_last memory format, keras/src/backend/torch/nn.py ``conv``, so torch sums in another
    order than for the port's contiguous NCHW tensors; every one-ulp move of the source's input or
    weights, six measured, moves its own gradients by the same 0.06). The records stay failed: the
    comparison is not an agreement, it is one that the dtype cannot make on this model. Each failed
    record says so in its detail.
    """
    if not excusable(records):
        return None
    failed = [r for r in records if r.passed is False]
    gradients = gradients or {}
    output_moves = {k: v for k, v in moved.items() if not k.startswith("step")}
    step_moves = {k: v for k, v in moved.items() if k.startswith("step")}
    output_worst = max(output_moves.values(), default=0.0)
    by_gradient = []
    for record in failed:
        limit = record.tolerance if record.tolerance is not None else tol
        if getattr(record, "step", 0):
            if not max(step_moves.values(), default=0.0) > limit:
                return None
        elif not output_worst > limit:
            if not gradients.get(record.quantity, 0.0) > limit:
                return None
            by_gradient.append(record.quantity)
    what, worst = max(output_moves.items(), key=lambda item: item[1], default=("input", 0.0))
    parts = []
    if by_gradient:
        name = max(by_gradient, key=lambda q: gradients[q])
        parts.append(
            f"a one-ulp perturbation of the source's input or weights moves its output by {worst:.2g} relative "
            f"but its own gradients beyond the tolerance {tol:.0e}, each of the {len(by_gradient)} that differ "
            f"({name} by {gradients[name]:.2g}): a derivative that jumps (ReLU at 0, a max-pool tie) is decided "
            "by rounding there"
        )
    elif any(not getattr(r, "step", 0) for r in failed):
        parts.append(
            f"a one-ulp perturbation of the source's {what} moves its output by {worst:.2g} relative "
            f"(input {moved.get('input', float('nan')):.2g}, weights {moved.get('weights', float('nan')):.2g}), "
            f"beyond the tolerance {tol:.0e}"
        )
    if any(getattr(r, "step", 0) for r in failed):
        step_limit = max(r.tolerance or tol for r in failed if getattr(r, "step", 0))
        parts.append(
            f"a one-ulp perturbation of the source's input moves its training steps (loss and weights after "
            f"each step) by {max(step_moves.values()):.2g} relative, beyond the trajectory tolerance {step_limit:.0e}"
        )
    why = "; ".join(parts) + ": rounding in another order cannot be told from a wrong formula on this model"
    for record in records:
        if record.passed is False:
            record.detail = "; ".join(filter(None, [record.detail, f"ill-conditioned: {why}"]))
    return why
