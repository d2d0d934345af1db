"""The one place that owns tolerances. Tests and cases never invent their own numbers.

Errors are measured as (see DESIGN.md)::

    max_abs_err = max |a - b|
    max_rel_err = max_abs_err / max |ref|        # normalised by the reference's magnitude
    err_in_eps  = max_rel_err / eps(dtype)

Normalising by the largest reference entry (not entry by entry) is deliberate:
an entry that is a difference of large numbers, such as a gradient near zero,
carries the absolute rounding error of the large numbers it came from, and an
entry-wise ratio would call that noise a disagreement.
"""

from __future__ import annotations

import numpy as np

EPS = {"float32": float(np.finfo(np.float32).eps), "float64": float(np.finfo(np.float64).eps)}

# float64 is the arbiter of the mathematics (DESIGN.md): two implementations of the
# same formula agree to a few hundred eps (~1e-14) after the reductions of these
# models; 1e-10 leaves four orders of magnitude for longer reductions and still
# catches any difference in the formula itself, whose effect is >= 1e-8.
FLOAT64_REL = 1e-10

# float32 agreement is judged in units of eps (1.19e-7). Different libraries sum in
# different orders and with different blockings (BLAS, XLA, oneDNN), so each
# reduction of length n carries up to ~sqrt(n) eps of independent noise, and a
# gradient passes through several such reductions (forward and backward). The
# reductions in these cases have n <= ~2000, and the deepest chains have a few
# dozen of them: 512 eps (6.1e-5) is that budget. A wrong formula or a wrong
# conversion moves results by >= 1e-3 relative, far beyond it.
FLOAT32_EPS_UNITS = 512.0

# Training trajectories in float64, after up to a few hundred optimiser steps. Each step
# feeds the previous step's rounding into the next; with step sizes ~1e-3 and a few
# hundred steps the accumulated difference between two correct implementations stays
# near 1e-13, while a wrong formula or hyperparameter moves weights by >= 1e-7 within
# ten steps. float32 trajectories are measured, not judged: training amplifies rounding
# differences (that growth is what `parity train --plot` shows).
TRAJECTORY_FLOAT64_REL = 1e-9

# What a whole model (parity/cases/models.py: a text LSTM, a ResNet with BatchNorm in training
# mode, a TCN) must reach in float64 against scratch, every quantity: 4096 eps ~ 9.1e-13, the
# issue's "worst <= 1e-12". Two correct implementations of these small models differ by tens of
# eps (measured: <= 1e-14); this number is a bound a test asserts, FLOAT64_REL still decides pass/fail.
MODEL_FLOAT64_WORST = 4096 * EPS["float64"]

# Central differences in float64 with h = 1e-6: truncation O(h²·f''') plus
# cancellation O(eps·|L|/h) ~ 1e-10 for |L| ~ 1e1; a wrong derivative is off by O(1).
FINITE_DIFFERENCE = 1e-6


def tolerance(dtype: str) -> float:
    """The max_rel_err that a comparison in ``dtype`` may reach."""
    if dtype == "float64":
        return FLOAT64_REL
    if dtype == "float32":
        return FLOAT32_EPS_UNITS * EPS["float32"]
    raise ValueError(f"unknown dtype {dtype!r}; choose float32 or float64")


def relative_error(ref: np.ndarray, other: np.ndarray) -> float:
    """max |ref - other| / max |ref| (0 when both are exactly zero, inf for a shape mismatch or NaN)."""
    return errors(ref, other)[1]


# Elements per pass of ``errors``: the difference is formed a chunk at a time in one reused float64
# buffer (2 MiB), not as an array as large as the inputs. A zoo comparison holds hundreds of millions
# of parameters, and on the project's two-core machine fresh memory costs more to fault in than the
# arithmetic (VGG16's family test: ~0.5 GB of differences per comparison). Under 4 MiB, NumPy asks for
# no huge pages for the buffer, and glibc's heap keeps its memory from one call to the next: with an
# 8 MiB buffer, the VGG16 family test's process spent 7% of its CPU samples zeroing huge pages for it;
# ten passes over five pairs of 0.6-16.8M float64 elements took 0.45 s at 8 MiB, 0.29 s at 2 MiB.
CHUNK = 1 << 18


def errors(ref: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """(max |ref - other|, ``relative_error``), from one pass over the difference (inf for a shape mismatch or NaN).

    Computed in float64 whatever the inputs' dtype. Equal entries count as no error, equal infinities
    included (scores masked with -inf before a softmax: inf - inf is NaN, which would read as a
    disagreement); any other NaN makes both inf. The scale is the largest finite |ref|.
    """
    ref, other = np.asarray(ref), np.asarray(other)
    if ref.shape != other.shape:
        return float("inf"), float("inf")
    if ref.size == 0:
        return 0.0, 0.0
    # Pieces in one order for both: C order, as views of C-contiguous inputs; of two Fortran-ordered ones
    # (a torch port's Dense kernel and its gradient, saved as they are held, transposed) the memory order
    # of both, as views; otherwise (a strided input) each chunk copied through its flat iterator rather
    # than the whole array at once (about ten times slower per element than a view: the VGG16 and
    # ResNet50V2 family tests spent 0.94 s so on 42 Fortran-ordered pairs)
    if ref.flags.f_contiguous and other.flags.f_contiguous and not (ref.flags.c_contiguous and other.flags.c_contiguous):
        ref_flat, other_flat = ref.T.reshape(-1), other.T.reshape(-1)
    else:
        ref_flat, other_flat = (x.reshape(-1) if x.flags.c_contiguous else x.flat for x in (ref, other))
    buffer = np.empty(min(CHUNK, ref.size), dtype=np.float64)
    abs_err = scale = 0.0
    for start in range(0, ref.size, CHUNK):
        a, b = ref_flat[start : start + CHUNK], other_flat[start : start + CHUNK]
        difference = buffer[: a.size]
        with np.errstate(invalid="ignore"):
            np.subtract(a, b, out=difference, dtype=np.float64)
        np.abs(difference, out=difference)
        worst = float(difference.max())
        if np.isnan(worst):  # equal infinities, or a NaN
            difference[a == b] = 0.0
            worst = float(difference.max())
            if np.isnan(worst):
                return float("inf"), float("inf")
        largest = max(float(a.max()), -float(a.min()))  # max |a| without an array for |a|
        if not np.isfinite(largest):  # an infinity or a NaN in the reference: its largest finite magnitude
            largest = float(np.max(np.abs(a), where=np.isfinite(a), initial=0.0))
        abs_err, scale = max(abs_err, worst), max(scale, largest)
    if scale == 0.0:
        return abs_err, (0.0 if abs_err == 0.0 else float("inf"))
    return abs_err, abs_err / scale


# Allowances: the only widened tolerances. Each would name the implementation (``impl``), the dtype,
# which configurations it covers (``applies(model, config)``), the number (``max_rel_err``), the
# registered divergence case that shows the effect (``divergence``) and the measured cause
# (``reason``). There are none: a library that rounds a constant of a formula differently (TensorFlow's
# float64 GELU, torch's float64 hardsigmoid backward) is judged at the policy's tolerance against
# scratch computing with that library's constants (parity.runners.reference), not against a wider number.
ALLOWANCES: list[dict] = []


def tolerance_for(model: str, config: dict, impl: str, dtype: str) -> tuple[float, str]:
    """The tolerance for comparing ``impl`` with scratch on this case, and why if it is widened."""
    for allowance in ALLOWANCES:
        if allowance["impl"] == impl and allowance["dtype"] == dtype and allowance["applies"](model, config):
            return allowance["max_rel_err"], f"allowance {allowance['divergence']}: {allowance['reason']}"
    return tolerance(dtype), ""


# Noise floor (parity.agreement.noise): an implementation's own float32 rounding noise is its
# float32 result measured against its float64 result, per quantity. For two
# implementations A and B, the triangle inequality bounds their float32 agreement::
#
#     |A32 - B32| <= |A32 - A64| + |A64 - B64| + |B64 - B32|
#
# The first and last terms are the two floors, so agreement <= floor_A + floor_B
# <= 2 * max(floor_A, floor_B) once the float64 results agree (the float64 check
# holds each to 1e-10 of its reference, far below float32 noise; the largest accepted
# difference between two float64 results is torch's hardsigmoid gradient, whose float32
# constant puts it 2.98e-8 = 0.25 eps32 per layer from the exact one). Each term is normalised by a slightly
# different max |ref| (they differ by about one floor), so a multiple of 2 is the
# exact bound and 3 leaves one floor of headroom for those two effects. Agreement
# beyond 3x the larger floor is not rounding: the float32 runs compute different
# maths from what their own float64 runs compute, or a run is not reproducible.
NOISE_FLOOR_MULTIPLE = 3.0

# A float32 result that is the correctly rounded float64 one has a floor below one
# eps (half an ulp of the largest entry, relative to that entry). Two such results of
# values that round differently still differ by one ulp, so a floor is never taken
# below one eps when bounding agreement.
NOISE_FLOOR_MIN_EPS = 1.0


def noise_bound(floor_a: float, floor_b: float) -> float:
    """The max_rel_err that float32 agreement of two implementations may reach, given their floors."""
    floor = max(floor_a, floor_b, NOISE_FLOOR_MIN_EPS * EPS["float32"])
    return NOISE_FLOOR_MULTIPLE * floor


# Zero references (parity.fuzz.conditioning.zero_reference). A quantity whose true value is exactly
# zero (the gradient of a bias in front of a training-mode BatchNorm; a LayerNorm's input gradient
# over one feature) is computed as terms that cancel, and what a correct implementation returns
# there is their rounding residue: a few eps times the magnitudes that fed it. Normalised by its own
# max |ref| (itself residue, or exactly 0) that reads as a huge or infinite relative error for any
# rounding. Such a quantity has no magnitude of its own: its absolute error is divided by the largest
# magnitude among the values that fed it (for a gradient, the cotangent G and the gradients of the
# same backward pass; for an output, the model's input and output; for the loss gradients, the loss
# and the loss gradients: a saturated LSTM's gradients are all zero, G and the loss are not) and
# judged against the dtype's own tolerance, unchanged. "Zero" means indistinguishable from that
# residue: max |ref| <= tolerance(dtype) * fed. A real difference there, a nonzero value where the
# maths gives zero, is that value over the fed magnitude: caught whenever it exceeds the tolerance,
# which any wrong formula does (a value below tolerance * fed cannot be told from zero anyway).
def fed_scale(fed: float, ref, dtype: str) -> float | None:
    """The scale a zero reference is measured against, or None if ``ref`` is not zero (see above)."""
    if not fed > 0:
        return None
    largest = finite_max_abs(ref)
    return fed if largest is not None and largest <= tolerance(dtype) * fed else None


def finite_max_abs(values) -> float | None:
    """max |values| as a float (0.0 when empty), or None where an entry is NaN or infinite.

    From the largest and the smallest entry (NaN and the infinities show in them), with no array for
    |values| or for its finiteness: a zoo model's gradients are hundreds of megabytes, and those two
    arrays were fresh memory the size of each, made several times over per comparison (VGG16's family
    test: 7.7% of its CPU samples zeroing new pages for them)."""
    values = np.asarray(values)
    if values.size == 0:
        return 0.0
    high, low = float(values.max()), float(values.min())
    if not (np.isfinite(high) and np.isfinite(low)):
        return None
    return max(high, -low)


# Ill-conditioned models (parity.fuzz.conditioning.conditioned). Where a float64 result disagrees
# with the float64 oracle beyond tolerance, an extended-precision (np.longdouble, 64-bit mantissa,
# eps 1.1e-19) scratch run gives the exact value to ~1e-19 times the condition number. The oracle's
# own error against it, e_s, measures that conditioning: rounding of float64 amplified by it (a
# saturated softmax in front of a GRU: measured e_s = 1.8e-9). Another correct implementation rounds
# the same ill-conditioned quantity in another order (fused gates, blocked sums), so its error is a
# comparable multiple of eps times the same condition number (measured: torch 1.2e-8 against
# e_s 1.8e-9, a ratio of 7 on the softmax-saturated attention -> GRU model). CONDITIONING_MULTIPLE
# bounds that ratio with a margin of ~10 above the largest measured; a wrong formula or conversion
# moves results by >= 1e-3, so it is still caught unless float64 itself is off by >= 1e-5, where
# float64 can no longer arbitrate. The bound is measured per model and quantity, never a constant.
CONDITIONING_MULTIPLE = 64.0


def conditioning_bound(oracle_error: float, tol: float | None) -> float:
    """The error an implementation may have against the extended-precision reference, given the
    oracle's own error there (see above); never below the dtype's tolerance ``tol``."""
    return max(tol if tol is not None else FLOAT64_REL, CONDITIONING_MULTIPLE * oracle_error)
