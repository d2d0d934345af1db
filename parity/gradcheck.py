"""Central finite differences: the independent check of every hand-written backward pass.

For a layer (or model) f and a fixed random cotangent G, the scalar
``L = sum(f(X) * G)`` has the gradient that ``backward(G)`` returns. Each entry
of every parameter and of the input is nudged by ±h::

    dL/dθ_i ≈ (L(θ + h e_i) - L(θ - h e_i)) / 2h        # error O(h²) + O(eps / h)

In float64 with h = 1e-6 both error terms sit near 1e-10 relative to the
gradient's magnitude; ``tolerance.FINITE_DIFFERENCE`` holds the bound.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from parity.tolerance import FINITE_DIFFERENCE, relative_error

STEP = 1e-6


def numerical_gradient(f: Callable[[], float], A: np.ndarray, h: float = STEP) -> np.ndarray:
    """dF/dA by central differences; A is modified in place and restored."""
    grad = np.zeros(A.shape, dtype=np.float64)
    for index in np.ndindex(A.shape):  # index A itself: works for any memory layout
        old = A[index]
        A[index] = old + h
        up = f()
        A[index] = old - h
        down = f()
        A[index] = old
        grad[index] = (up - down) / (2 * h)
    return grad


@dataclass
class GradCheck:
    name: str
    max_rel_err: float
    passed: bool


def check_gradients(
    model,
    X: np.ndarray,
    rng: np.random.Generator,
    *,
    targets: np.ndarray | None = None,
    loss=None,
    extra_inputs: dict[str, np.ndarray] | None = None,
) -> list[GradCheck]:
    """Compare ``model.backward`` with central differences, for the input and every parameter.

    ``model`` is a scratch Layer or Sequential in float64. With ``loss`` (a scratch
    Loss) the scalar is ``loss(model(X), targets)``; otherwise ``sum(model(X) * G)``
    with a seeded normal G. Parameters are read from ``model.params`` (a Layer) or
    ``model.parameters()`` (a Sequential), which share memory with the model.
    ``extra_inputs`` are further arrays (initial states) whose gradients the model
    reports in ``model.grads`` under the same key.
    """
    integer = np.issubdtype(X.dtype, np.integer)  # integer ids (an embedding's): no input gradient
    if not integer and X.dtype != np.float64:
        raise TypeError(f"finite differences need float64, received {X.dtype}")
    params = model.parameters() if hasattr(model, "parameters") else dict(model.params)
    params.update(extra_inputs or {})
    Y = model.forward(X)
    G = rng.standard_normal(Y.shape)

    def scalar() -> float:
        out = model.forward(X)
        if loss is not None:
            return float(loss.forward(out, targets))
        return float((out * G).sum())

    scalar()
    dY = loss.backward() if loss is not None else G
    dX = model.backward(dY)
    analytic = {} if integer else {"input": dX}
    grads = model.gradients() if hasattr(model, "gradients") else model.grads
    for name in params:
        analytic[name] = grads[name]

    results = []
    numeric_inputs = {**({} if integer else {"input": X}), **params}
    for name, A in numeric_inputs.items():
        num = numerical_gradient(scalar, A)
        err = relative_error(analytic[name], num)
        results.append(GradCheck(name, err, bool(err <= FINITE_DIFFERENCE)))
    return results
