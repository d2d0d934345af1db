"""First-order optimisers: SGD (with momentum), RMSprop, Adam and AdamW, in NumPy.

Every optimiser updates the arrays of a ``params`` dict in place, given a
``grads`` dict with the same keys (canonical names such as ``"dense_0.W"``)::

    opt.step(params, grads)     # W <- update(W, dW), for every name

Where PyTorch and Keras write the same optimiser differently, ``convention``
picks whose formula is followed, ``"keras"`` or ``"torch"``. Each docstring
gives both formulas and the source file read for each (paths relative to
site-packages): ``torch/optim/*.py`` (the ``_single_tensor_*`` functions) and
``keras/src/optimizers/*.py`` with ``keras/src/backend/torch/optimizers/torch_*.py``.

Shared conventions, from ``keras/src/optimizers/base_optimizer.py`` (``apply``,
``_backend_apply_gradients``, ``_get_current_learning_rate``) and the torch
schedulers in ``torch/optim/lr_scheduler.py``::

    t       = iterations + 1         # the 1-based number of the step being taken
    lr      = learning_rate(iterations) if it is a schedule, else learning_rate
    iterations += 1                  # after every parameter has been updated

Weight decay, wd > 0, comes in two forms::

    coupled   (torch SGD, RMSprop, Adam):  g <- g + wd * W              # before any moment
    decoupled (every Keras optimiser, and AdamW in both):
              W <- W * (1 - lr * wd)                                    # before the update

Keras: ``base_optimizer._apply_weight_decay`` (``W - W * wd * lr``) and
``backend/torch/optimizers/torch_optimizer._apply_weight_decay`` (``W *= 1 - wd * lr``),
both run before ``update_step`` with the same ``lr``. torch: ``grad.add(param, alpha=wd)``
in sgd.py, rmsprop.py, adam.py; ``param.mul_(1 - lr * weight_decay)`` in adam.py when
``decoupled_weight_decay`` (set by adamw.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

CONVENTIONS = ("keras", "torch")

# Constructor defaults, read from the sources named above (torch 2.x, Keras 3).
# Keras' weight_decay=None means "no decay"; torch writes 0.
# fmt: off
DEFAULTS: dict[str, dict[str, dict[str, object]]] = {
    "sgd": {
        "torch": {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False},
        "keras": {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False, "weight_decay": None},
    },
    "rmsprop": {
        "torch": {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0, "centered": False},
        "keras": {"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7, "centered": False,
                  "weight_decay": None},
    },
    "adam": {
        "torch": {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False},
        "keras": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False,
                  "weight_decay": None},
    },
    "adamw": {
        "torch": {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2, "amsgrad": False},
        "keras": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False,
                  "weight_decay": 0.004},
    },
}
# fmt: on

LearningRate = float | Callable[[int], float]


class Optimizer:
    """Base class: per-name state, a step counter and weight decay.

    Subclasses implement ``update(name, W, g, lr)``, which changes W in place.

    Args:
        learning_rate: a float, or a schedule: a callable of the 0-based step count (Keras
            passes the count only to a ``LearningRateSchedule``; it calls any other callable
            with no argument, base_optimizer.py ``_get_current_learning_rate``).
        weight_decay: wd >= 0; coupled or decoupled as described in the module docstring.
        convention: "keras" or "torch", whose formula to follow.
    """

    decoupled_in_torch = False  # AdamW sets it: torch decouples weight decay only there

    def __init__(self, learning_rate: LearningRate, weight_decay: float, convention: str) -> None:
        if convention not in CONVENTIONS:
            raise ValueError(f"{type(self).__name__}: convention must be one of {CONVENTIONS}, received {convention!r}")
        if not callable(learning_rate) and not learning_rate >= 0:
            raise ValueError(f"{type(self).__name__}: learning_rate must be >= 0, received {learning_rate!r}")
        if not weight_decay >= 0:
            raise ValueError(f"{type(self).__name__}: weight_decay must be >= 0, received {weight_decay!r}")
        self.learning_rate = learning_rate
        self.weight_decay = float(weight_decay)
        self.convention = convention
        self.iterations = 0
        self.slots: dict[str, dict[str, np.ndarray]] = {}  # name -> {"m": ..., "v": ...}

    def current_learning_rate(self) -> float:
        """lr for the step about to be taken: schedule(iterations), or the constant."""
        if callable(self.learning_rate):
            return float(self.learning_rate(self.iterations))
        return float(self.learning_rate)

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Update every array of ``params`` in place from the gradient of the same name."""
        if set(params) != set(grads):
            raise KeyError(f"params and grads name different arrays: {sorted(set(params) ^ set(grads))}")
        lr = self.current_learning_rate()
        for name, W in params.items():
            g = grads[name]
            if g.shape != W.shape:
                raise ValueError(f"{name}: gradient shape {g.shape} differs from parameter shape {W.shape}")
            g = self.apply_weight_decay(W, g, lr)
            self.update(name, W, g, lr)
        self.iterations += 1

    def apply_weight_decay(self, W: np.ndarray, g: np.ndarray, lr: float) -> np.ndarray:
        """Decoupled: W *= 1 - lr*wd, g unchanged. Coupled: returns g + wd*W."""
        if self.weight_decay == 0:
            return g
        if self.convention == "keras" or self.decoupled_in_torch:
            W *= 1 - lr * self.weight_decay
            return g
        return g + self.weight_decay * W

    def slot(self, name: str, key: str, like: np.ndarray) -> np.ndarray:
        """The state array ``key`` of parameter ``name``, zeros when first asked for."""
        slots = self.slots.setdefault(name, {})
        if key not in slots:
            slots[key] = np.zeros_like(like)
        return slots[key]

    def update(self, name: str, W: np.ndarray, g: np.ndarray, lr: float) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with (Nesterov) momentum m.

    Keras (keras/src/optimizers/sgd.py, backend/torch/optimizers/torch_sgd.py)::

        v = m v - lr g                          # v starts at 0
        W = W + v                               # nesterov: W = W + m v - lr g

    torch (torch/optim/sgd.py, _single_tensor_sgd; dampening 0)::

        b = g on the first step, else b = m b + g   # = b starting at 0, as dampening is 0
        W = W - lr b                            # nesterov: W = W - lr (g + m b)

    With a constant lr, v = -lr b and the two agree; when lr changes between
    steps they do not: Keras folds each step's lr into v, torch applies today's
    lr to the whole of b. With m = 0 both are W = W - lr g, and then coupled and
    decoupled weight decay coincide too (W - lr (g + wd W) = W (1 - lr wd) - lr g).
    torch's ``dampening`` (b = m b + (1 - dampening) g, default 0) is not modelled.

    Args:
        learning_rate: lr, a float or a schedule of the step count.
        momentum: m in [0, 1].
        nesterov: Nesterov momentum (torch refuses it with m = 0; Keras ignores it).
        weight_decay: wd, coupled under "torch", decoupled under "keras".
        convention: "keras" or "torch".
    """

    def __init__(
        self,
        learning_rate: LearningRate = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        convention: str = "keras",
    ) -> None:
        super().__init__(learning_rate, weight_decay, convention)
        if not 0 <= momentum <= 1:
            raise ValueError(f"SGD: momentum must be in [0, 1], received {momentum!r}")
        if nesterov and momentum == 0 and convention == "torch":
            raise ValueError("SGD: torch's Nesterov momentum requires momentum > 0")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def update(self, name, W, g, lr):
        m = self.momentum
        if m == 0:
            W -= lr * g
        elif self.convention == "keras":
            v = self.slot(name, "v", W)
            v[...] = m * v - lr * g
            W += m * v - lr * g if self.nesterov else v
        else:
            first = name not in self.slots
            b = self.slot(name, "b", W)
            b[...] = g if first else m * b + g
            W -= lr * (g + m * b if self.nesterov else b)


class RMSprop(Optimizer):
    """Divide the gradient by a running root mean square of past gradients.

    Keras (keras/src/optimizers/rmsprop.py, backend/torch/optimizers/torch_rmsprop.py)::

        v = rho v + (1 - rho) g²
        d = sqrt(v + eps)                       # centered: a = rho a + (1 - rho) g
                                                #           d = sqrt(v - a² + eps)
        u = lr g / d
        W = W - u                               # momentum: p = m p + u;  W = W - p

    torch (torch/optim/rmsprop.py, _single_tensor_rmsprop; rho is torch's alpha)::

        v = rho v + (1 - rho) g²
        d = sqrt(v) + eps                       # centered: a = a + (1 - rho)(g - a)
                                                #           d = sqrt(v - a²) + eps
        W = W - lr g / d                        # momentum: p = m p + g / d;  W = W - lr p

    eps sits inside the square root in Keras and outside it in torch, and the
    momentum buffer holds lr-scaled steps in Keras but unscaled ones in torch
    (the SGD difference again). All state starts at 0.

    Args:
        learning_rate: lr.
        rho: decay of the running averages (torch: alpha, default 0.99; Keras 0.9).
        epsilon: eps (torch default 1e-8; Keras 1e-7).
        centered: subtract the squared running mean of g (a variance estimate).
        momentum: m >= 0.
        weight_decay: wd, coupled under "torch", decoupled under "keras".
        convention: "keras" or "torch".
    """

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        rho: float = 0.9,
        epsilon: float = 1e-7,
        centered: bool = False,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        convention: str = "keras",
    ) -> None:
        super().__init__(learning_rate, weight_decay, convention)
        if not 0 <= rho < 1:
            raise ValueError(f"RMSprop: rho must be in [0, 1), received {rho!r}")
        if not epsilon >= 0 or not momentum >= 0:
            raise ValueError(f"RMSprop: epsilon and momentum must be >= 0, received {epsilon!r}, {momentum!r}")
        self.rho, self.epsilon = float(rho), float(epsilon)
        self.centered, self.momentum = bool(centered), float(momentum)

    def update(self, name, W, g, lr):
        rho, eps = self.rho, self.epsilon
        v = self.slot(name, "v", W)
        v[...] = rho * v + (1 - rho) * g**2
        var = v
        if self.centered:
            a = self.slot(name, "a", W)
            a[...] = rho * a + (1 - rho) * g
            var = v - a**2
        if self.convention == "keras":
            u = lr * g / np.sqrt(var + eps)
        else:
            u = g / (np.sqrt(var) + eps)  # lr is applied last, below
        if self.momentum > 0:
            p = self.slot(name, "p", W)
            p[...] = self.momentum * p + u
            u = p
        W -= u if self.convention == "keras" else lr * u


class Adam(Optimizer):
    """Adaptive moments: bias-corrected running means of g and g².

    Both frameworks keep the same moments (t = iterations + 1, state starts at 0)::

        m = b1 m + (1 - b1) g
        v = b2 v + (1 - b2) g²

    Keras (keras/src/optimizers/adam.py, backend/torch/optimizers/torch_adam.py),
    the "epsilon hat" form of Kingma & Ba (the formula before their section 2.1)::

        alpha = lr sqrt(1 - b2^t) / (1 - b1^t)
        W = W - alpha m / (sqrt(v) + eps)

    torch (torch/optim/adam.py, _single_tensor_adam), Algorithm 1 of the paper::

        W = W - lr/(1 - b1^t) * m / (sqrt(v)/sqrt(1 - b2^t) + eps)

    They agree when eps = 0. Otherwise Keras' eps equals torch's eps times
    sqrt(1 - b2^t), a factor that goes from sqrt(1 - b2) (0.032 at b2 = 0.999)
    towards 1 as t grows: no single torch eps reproduces a Keras run.

    Args:
        learning_rate: lr.
        beta_1, beta_2: b1, b2 (torch: betas=(b1, b2)).
        epsilon: eps (torch default 1e-8; Keras 1e-7).
        weight_decay: wd, coupled under "torch" (torch Adam), decoupled under "keras".
        convention: "keras" or "torch".
    """

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        weight_decay: float = 0.0,
        convention: str = "keras",
    ) -> None:
        super().__init__(learning_rate, weight_decay, convention)
        if not (0 <= beta_1 < 1 and 0 <= beta_2 < 1):
            raise ValueError(f"{type(self).__name__}: betas must be in [0, 1), received {beta_1!r}, {beta_2!r}")
        if not epsilon >= 0:
            raise ValueError(f"{type(self).__name__}: epsilon must be >= 0, received {epsilon!r}")
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def update(self, name, W, g, lr):
        b1, b2, eps = self.beta_1, self.beta_2, self.epsilon
        t = self.iterations + 1
        m = self.slot(name, "m", W)
        v = self.slot(name, "v", W)
        m[...] = b1 * m + (1 - b1) * g
        v[...] = b2 * v + (1 - b2) * g**2
        if self.convention == "keras":
            alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
            W -= alpha * m / (np.sqrt(v) + eps)
        else:
            W -= lr / (1 - b1**t) * m / (np.sqrt(v) / np.sqrt(1 - b2**t) + eps)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), in both frameworks.

    Before the Adam step of the chosen convention (see ``Adam``)::

        W = W * (1 - lr wd)

    torch: torch/optim/adamw.py (Adam with decoupled_weight_decay=True;
    ``param.mul_(1 - lr * weight_decay)`` in adam.py). Keras: keras/src/optimizers/adamw.py
    (Adam with a required weight_decay) and ``_apply_weight_decay`` in base_optimizer.py.
    The decay is the same; only the Adam step differs (eps). Default wd: torch 0.01, Keras 0.004.

    Args:
        as for ``Adam``; weight_decay defaults to Keras' 0.004.
    """

    decoupled_in_torch = True

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        weight_decay: float = 0.004,
        convention: str = "keras",
    ) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon, weight_decay, convention)
