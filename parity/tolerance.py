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
    ref = np.asarray(ref, dtype=np.float64)
    other = np.asarray(other, dtype=np.float64)
    if ref.shape != other.shape:
        return float("inf")
    if ref.size == 0:
        return 0.0
    abs_err = float(np.max(np.abs(ref - other)))
    if np.isnan(abs_err):
        return float("inf")
    scale = float(np.max(np.abs(ref)))
    if scale == 0.0:
        return 0.0 if abs_err == 0.0 else float("inf")
    return abs_err / scale


# Allowances: the only widened tolerances. Each names the implementation, the
# configurations it covers, the number, and the measured cause beside it; each is
# also a registered divergence case that shows the effect and proves the cause.


def _uses_gelu(model: str, config: dict) -> bool:
    return model == "gelu" or config.get("activation") == "gelu"


ALLOWANCES = [
    {
        "impl": "keras-tensorflow",
        "dtype": "float64",
        "applies": _uses_gelu,
        "max_rel_err": 2e-8,
        "divergence": "tf_gelu_float64_constants",
        "reason": (
            "tf.nn.gelu (tensorflow/python/ops/nn_ops.py) builds its constants with "
            "math_ops.cast(0.7071067811865476, dtype) and math_ops.cast(0.044715, dtype): the "
            "Python float becomes a float32 tensor first, so float64 GELU uses 1/sqrt(2) rounded "
            "to float32 (relative error 1.7e-8). Measured effect: 5.5e-10 on outputs, 3e-9 on "
            "gradients (relative to the largest entry); bound: 1.7e-8."
        ),
    },
]


def tolerance_for(model: str, config: dict, impl: str, dtype: str) -> tuple[float, str]:
    """The tolerance for comparing ``impl`` with scratch on this case, and why if it is widened."""
    for allowance in ALLOWANCES:
        if allowance["impl"] == impl and allowance["dtype"] == dtype and allowance["applies"](model, config):
            return allowance["max_rel_err"], f"allowance {allowance['divergence']}: {allowance['reason']}"
    return tolerance(dtype), ""
