"""Scratch optimisers, schedules, L2 and Dropout against hand computations, torch.optim and Keras.

Trajectories: every case runs STEPS updates of a least-squares problem in float64;
after each update every parameter is compared with the framework's ("Mine" is
scratch, "Theirs" the framework). Gradients come from one NumPy function applied
to each implementation's own current weights, so only the optimisers differ.

Keras runs in the harness's keras-torch worker (``parity.runners.pool``; the worker calls
``keras_runs_in_worker`` below, with floatx float64 but for ``test_keras_float32_learning_rate``),
so the pytest process never imports Keras, and the suite starts no Keras process of its own
for this file: the worker the other tests use answers (an own process cost ~8 s of CPU
importing Keras and torch again).
"""

from __future__ import annotations

import inspect
import zlib
from dataclasses import dataclass, field

import numpy as np
import pytest

from parity.gradcheck import check_gradients
from parity.tolerance import relative_error, tolerance
from scratch.dropout import Dropout
from scratch.optimizers import DEFAULTS, SGD, Adam, AdamW, RMSprop
from scratch.regularizers import L2
from scratch.schedules import ExponentialDecay, StepDecay

STEPS = 20
# The brief's bound, 100x tighter than tolerance("float64"): an optimiser step is
# element-wise (no long reductions), so two implementations of one formula differ
# by a few eps per step; a different formula (eps placement, lr folding) moves the
# trajectory by >= 1e-9 relative (measured in the divergence test below).
TRAJECTORY_REL = 1e-12
SCRATCH = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW}


# The problem ---------------------------------------------------------------------
def make_problem() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Least squares Y = X @ W + b with X (32, 3), T (32, 2), W (3, 2), b (2,)."""
    rng = np.random.default_rng(zlib.crc32(b"test_scratch_optim"))
    X = rng.standard_normal((32, 3))
    T = X @ rng.standard_normal((3, 2)) + 0.5 + 0.1 * rng.standard_normal((32, 2))
    params = {"dense_0.W": rng.standard_normal((3, 2)), "dense_0.b": rng.standard_normal(2)}
    return X, T, params


def gradients(params: dict[str, np.ndarray], X: np.ndarray, T: np.ndarray) -> dict[str, np.ndarray]:
    """dL/dW and dL/db of L = mean((X @ W + b - T)**2)."""
    Y = X @ params["dense_0.W"] + params["dense_0.b"]  # (B, 2)
    dY = 2 * (Y - T) / Y.size
    return {"dense_0.W": X.T @ dY, "dense_0.b": dY.sum(axis=0)}


# The cases: what to test is data ---------------------------------------------------
@dataclass(frozen=True)
class OptimCase:
    """One optimiser configuration; kwargs are scratch's (= Keras') argument names."""

    name: str
    optimizer: str
    kwargs: dict = field(default_factory=dict)
    schedule: tuple | None = None  # ("step", step_size, gamma) | ("exponential", decay_steps, decay_rate)
    frameworks_agree: bool = False  # whether torch and Keras give the same trajectory
    why: str = ""


def optim_case(name: str, optimizer: str, agree: bool, why: str, schedule: tuple | None, **hyper) -> OptimCase:
    return OptimCase(name, optimizer, hyper, schedule, agree, why)


STEP, EXP = ("step", 5, 0.5), ("exponential", 10, 0.3)
FOLD = "Keras folds each step's lr into its momentum; torch scales all of its buffer by the current lr"
SQRT = "eps inside the sqrt (Keras) or outside it (torch)"
HAT = "Keras' eps is added after the bias correction ('epsilon hat'), torch's before"
COUPLE = "coupled decay (torch) goes through the moments, decoupled (Keras) does not"
# fmt: off
CASES = [
    # name, optimiser, torch and Keras agree?, why, schedule, hyperparameters (scratch = Keras names)
    optim_case("sgd", "sgd", True, "both are W - lr g", None, learning_rate=0.1),
    optim_case("sgd_weight_decay", "sgd", True, "without momentum, coupled and decoupled decay are one formula", None,
               learning_rate=0.1, weight_decay=0.3),
    optim_case("sgd_momentum", "sgd", True, "constant lr: Keras' v is -lr times torch's b", None,
               learning_rate=0.05, momentum=0.9),
    optim_case("sgd_nesterov", "sgd", True, "constant lr: Keras' v is -lr times torch's b", None,
               learning_rate=0.05, momentum=0.9, nesterov=True),
    optim_case("sgd_momentum_weight_decay", "sgd", False, COUPLE, None,
               learning_rate=0.05, momentum=0.9, weight_decay=0.3),
    optim_case("sgd_momentum_step_schedule", "sgd", False, FOLD, STEP, learning_rate=0.1, momentum=0.9),
    optim_case("sgd_nesterov_exponential_schedule", "sgd", False, FOLD, EXP,
               learning_rate=0.1, momentum=0.9, nesterov=True),
    optim_case("rmsprop", "rmsprop", False, SQRT, None, learning_rate=0.01),
    optim_case("rmsprop_centered", "rmsprop", False, SQRT, None, learning_rate=0.01, centered=True),
    optim_case("rmsprop_centered_momentum", "rmsprop", False, SQRT, None,
               learning_rate=0.01, centered=True, momentum=0.5),
    optim_case("rmsprop_no_epsilon_momentum_schedule", "rmsprop", False, FOLD, EXP,
               learning_rate=0.01, epsilon=0.0, momentum=0.5),
    optim_case("rmsprop_weight_decay", "rmsprop", False, COUPLE, None,
               learning_rate=0.01, epsilon=0.0, weight_decay=0.3),
    optim_case("adam", "adam", False, HAT, None, learning_rate=0.01),
    optim_case("adam_no_epsilon", "adam", True, "with eps = 0 the two Adam formulas are one", None,
               learning_rate=0.01, epsilon=0.0),
    optim_case("adam_step_schedule", "adam", True, "eps = 0, and Adam's moments carry no lr", STEP,
               learning_rate=0.01, epsilon=0.0),
    optim_case("adam_weight_decay", "adam", False, COUPLE, None, learning_rate=0.01, epsilon=0.0, weight_decay=0.3),
    optim_case("adamw", "adamw", False, HAT, None, learning_rate=0.01),
    optim_case("adamw_no_epsilon_schedule", "adamw", True, "decoupled decay in both, and eps = 0", EXP,
               learning_rate=0.01, epsilon=0.0, weight_decay=0.1),
]
# fmt: on
BY_NAME = {c.name: c for c in CASES}


def hyperparameters(case: OptimCase) -> dict:
    """Every scratch argument (defaults filled in), so each framework gets them all explicitly."""
    sig = inspect.signature(SCRATCH[case.optimizer])
    kwargs = {k: p.default for k, p in sig.parameters.items() if k != "convention"}
    return {**kwargs, **case.kwargs}


def scratch_trajectory(case: OptimCase, convention: str) -> list[dict[str, np.ndarray]]:
    kwargs = hyperparameters(case)
    if case.schedule is not None:
        kind, every, factor = case.schedule
        lr = kwargs["learning_rate"]
        kwargs["learning_rate"] = (
            StepDecay(lr, every, factor) if kind == "step" else ExponentialDecay(lr, every, factor)
        )
    opt = SCRATCH[case.optimizer](**kwargs, convention=convention)
    X, T, params = make_problem()
    trajectory = []
    for _ in range(STEPS):
        opt.step(params, gradients(params, X, T))
        trajectory.append({k: v.copy() for k, v in params.items()})
    return trajectory


def torch_trajectory(case: OptimCase) -> list[dict[str, np.ndarray]]:
    torch = pytest.importorskip("torch")
    kw = hyperparameters(case)
    X, T, init = make_problem()
    params = {k: torch.tensor(v, requires_grad=True) for k, v in init.items()}
    tensors, lr, wd = list(params.values()), kw["learning_rate"], kw["weight_decay"]
    if case.optimizer == "sgd":
        opt = torch.optim.SGD(tensors, lr=lr, momentum=kw["momentum"], nesterov=kw["nesterov"], weight_decay=wd)
    elif case.optimizer == "rmsprop":
        opt = torch.optim.RMSprop(
            tensors,
            lr=lr,
            alpha=kw["rho"],
            eps=kw["epsilon"],
            centered=kw["centered"],
            momentum=kw["momentum"],
            weight_decay=wd,
        )
    else:
        cls = torch.optim.Adam if case.optimizer == "adam" else torch.optim.AdamW
        opt = cls(tensors, lr=lr, betas=(kw["beta_1"], kw["beta_2"]), eps=kw["epsilon"], weight_decay=wd)
    scheduler = None
    if case.schedule is not None:
        kind, every, factor = case.schedule
        if kind == "step":
            scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=every, gamma=factor)
        else:
            scheduler = torch.optim.lr_scheduler.ExponentialLR(
                opt, gamma=ExponentialDecay(lr, every, factor).torch_gamma()
            )
    trajectory = []
    for _ in range(STEPS):
        grads = gradients({k: p.detach().numpy() for k, p in params.items()}, X, T)
        for k, p in params.items():
            p.grad = torch.from_numpy(grads[k])
        opt.step()
        if scheduler is not None:
            scheduler.step()  # once per update: update t runs with schedule(t)
        trajectory.append({k: p.detach().numpy().copy() for k, p in params.items()})
    return trajectory


def trajectory_error(ref: list[dict], other: list[dict]) -> tuple[float, int, str]:
    """The largest relative error over steps and parameters, with where it occurred."""
    errors = [(relative_error(r[k], o[k]), t, k) for t, (r, o) in enumerate(zip(ref, other, strict=True)) for k in r]
    return max(errors)


# What the Keras worker runs ----------------------------------------------------------
def keras_trajectory(keras, case: OptimCase) -> list[dict[str, np.ndarray]]:
    kw = hyperparameters(case)
    lr = kw.pop("learning_rate")
    if case.schedule is not None:
        kind, every, factor = case.schedule
        lr = keras.optimizers.schedules.ExponentialDecay(lr, every, factor, staircase=kind == "step")
    kw["weight_decay"] = kw["weight_decay"] or None  # Keras writes "no decay" as None
    classes = {
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
    }
    opt = classes[case.optimizer](learning_rate=lr, **kw)
    X, T, init = make_problem()
    variables = {k: keras.Variable(v, dtype="float64", name=k.replace(".", "_")) for k, v in init.items()}
    trajectory = []
    for _ in range(STEPS):
        grads = gradients({k: keras.ops.convert_to_numpy(v) for k, v in variables.items()}, X, T)
        opt.apply([keras.ops.convert_to_tensor(grads[k], dtype="float64") for k in variables], list(variables.values()))
        trajectory.append({k: keras.ops.convert_to_numpy(v).copy() for k, v in variables.items()})
    return trajectory


def keras_runs_in_worker(runs: list[tuple[str, str]]) -> dict:
    """Every Keras trajectory of ``runs`` (name, floatx), Keras' defaults, an L2 penalty, a dropout and the
    schedules; called in a keras-torch worker, whose floatx and dtype policy are put back as they were."""
    import keras

    from parity.runners.precision import keras_precision

    with keras_precision("float64"):
        return _keras_runs(keras, runs)


def _keras_runs(keras, runs: list[tuple[str, str]]) -> dict:
    import torch

    from parity.runners.precision import set_keras_precision

    out = {"backend": keras.backend.backend(), "trajectories": {}, "defaults": {}}
    for name, floatx in runs:
        set_keras_precision(floatx)  # before the optimiser: its lr variable takes floatx (base_optimizer.py)
        out["trajectories"][f"{name}@{floatx}"] = keras_trajectory(keras, BY_NAME[name])
    set_keras_precision("float64")
    for key, cls in [
        ("sgd", keras.optimizers.SGD),
        ("rmsprop", keras.optimizers.RMSprop),
        ("adam", keras.optimizers.Adam),
        ("adamw", keras.optimizers.AdamW),
    ]:
        out["defaults"][key] = {
            k: p.default for k, p in inspect.signature(cls.__init__).parameters.items() if k in DEFAULTS[key]["keras"]
        }
    W = torch.tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)
    penalty = keras.regularizers.L2(0.03)(W)
    penalty.backward()
    out["l2"] = {"W": W.detach().numpy(), "penalty": float(penalty), "gradient": W.grad.numpy()}
    X = np.random.default_rng(1).uniform(0.5, 2.0, (8, 16))  # no zeros: Z != 0 recovers the mask
    Z = keras.ops.convert_to_numpy(keras.layers.Dropout(0.25, seed=3)(X, training=True))
    out["dropout"] = {"X": X, "Z": Z}
    out["schedules"] = {
        staircase: [
            float(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.3, staircase)(t)) for t in range(STEPS)
        ]
        for staircase in (False, True)
    }
    return out


# one pytest-xdist worker for this file (with --dist loadgroup): the Keras trajectories (``keras_runs``) run once
pytestmark = pytest.mark.xdist_group("scratch_optim")


@pytest.fixture(scope="module")
def keras_runs() -> dict:
    """Every Keras result, computed once in one call of the keras-torch worker."""
    from parity.runners.pool import ImplementationUnavailable, keras_worker

    try:
        worker = keras_worker("torch")
    except ImplementationUnavailable as error:
        pytest.skip(str(error))
    runs = [(c.name, "float64") for c in CASES] + [("sgd_momentum", "float32")]
    out = worker.call("tests.test_scratch_optim:keras_runs_in_worker", runs)
    assert out["backend"] == "torch"
    return out


# Trajectories against the frameworks ---------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_trajectory_matches_torch(case):
    err, step, name = trajectory_error(torch_trajectory(case), scratch_trajectory(case, "torch"))
    assert err <= TRAJECTORY_REL, (
        f"{case.name}: Mine (scratch, torch) vs Theirs (torch.optim): {err:.2e} at step {step}, {name}"
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_trajectory_matches_keras(case, keras_runs):
    theirs = keras_runs["trajectories"][f"{case.name}@float64"]
    err, step, name = trajectory_error(theirs, scratch_trajectory(case, "keras"))
    assert err <= TRAJECTORY_REL, (
        f"{case.name}: Mine (scratch, keras) vs Theirs (Keras): {err:.2e} at step {step}, {name}"
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_frameworks_agree_or_differ(case, keras_runs):
    """Each divergence, shown twice: torch vs Keras, and scratch's two conventions."""
    frameworks = trajectory_error(torch_trajectory(case), keras_runs["trajectories"][f"{case.name}@float64"])[0]
    mine = trajectory_error(scratch_trajectory(case, "torch"), scratch_trajectory(case, "keras"))[0]
    label = f"{case.name} ({case.why}): torch vs Keras {frameworks:.2e}, scratch torch vs keras {mine:.2e}"
    if case.frameworks_agree:
        assert frameworks <= TRAJECTORY_REL and mine <= TRAJECTORY_REL, label
    else:
        assert frameworks > tolerance("float64") and mine > tolerance("float64"), label


def test_keras_float32_learning_rate(keras_runs):
    """Keras stores a float learning rate in a floatx variable (base_optimizer.py), float32 by default,
    even for float64 weights: lr=0.05 becomes float32(0.05), 1.5e-8 relative away."""
    case = BY_NAME["sgd_momentum"]
    err = trajectory_error(keras_runs["trajectories"]["sgd_momentum@float32"], scratch_trajectory(case, "keras"))[0]
    assert err > tolerance("float64"), f"float32 lr variable should show, measured {err:.2e}"


def test_defaults_match_framework_signatures(keras_runs):
    torch = pytest.importorskip("torch")
    classes = {
        "sgd": torch.optim.SGD,
        "rmsprop": torch.optim.RMSprop,
        "adam": torch.optim.Adam,
        "adamw": torch.optim.AdamW,
    }
    for key, cls in classes.items():
        theirs = {
            k: p.default for k, p in inspect.signature(cls.__init__).parameters.items() if k in DEFAULTS[key]["torch"]
        }
        assert theirs == DEFAULTS[key]["torch"], f"torch {key}"
        assert keras_runs["defaults"][key] == DEFAULTS[key]["keras"], f"keras {key}"


# Hand-computed steps: (label, optimiser, w0, gradients, w after each step) ----------
# fmt: off
HAND = [
    ("sgd: 1 - 0.1*2", lambda: SGD(0.1), 1.0, [2.0], [0.8]),
    ("sgd momentum keras: v=-0.1, v=-0.19", lambda: SGD(0.1, momentum=0.9), 1.0, [1.0, 1.0], [0.9, 0.71]),
    ("sgd momentum torch: b=1, b=1.9", lambda: SGD(0.1, momentum=0.9, convention="torch"), 1.0, [1.0, 1.0],
     [0.9, 0.71]),
    ("sgd nesterov keras: w += 0.9*(-0.1) - 0.1", lambda: SGD(0.1, 0.9, nesterov=True), 1.0, [1.0], [0.81]),
    ("sgd nesterov torch: w -= 0.1*(1 + 0.9*1)", lambda: SGD(0.1, 0.9, True, convention="torch"), 1.0, [1.0], [0.81]),
    # the lr is read as schedule(iterations) before each update: 1, then 0.5
    ("sgd momentum keras, lr 1 then 0.5: v=-1, v=-0.9-0.5", lambda: SGD(lambda t: [1.0, 0.5][t], 0.9), 0.0,
     [1.0, 1.0], [-1.0, -2.4]),
    ("sgd momentum torch, lr 1 then 0.5: b=1, b=1.9, w=-1-0.95",
     lambda: SGD(lambda t: [1.0, 0.5][t], 0.9, convention="torch"), 0.0, [1.0, 1.0], [-1.0, -1.95]),
    ("sgd decay keras: 1*(1-0.05) - 0.1", lambda: SGD(0.1, weight_decay=0.5), 1.0, [1.0], [0.85]),
    ("sgd decay torch: 1 - 0.1*(1 + 0.5)", lambda: SGD(0.1, weight_decay=0.5, convention="torch"), 1.0, [1.0], [0.85]),
    ("sgd momentum decay keras: 0.85*0.95 - 0.19", lambda: SGD(0.1, 0.9, weight_decay=0.5), 1.0, [1.0, 1.0],
     [0.85, 0.6175]),
    ("sgd momentum decay torch: b=1.5, b=1.35+1.425", lambda: SGD(0.1, 0.9, weight_decay=0.5, convention="torch"),
     1.0, [1.0, 1.0], [0.85, 0.5725]),
    ("rmsprop keras: v=1, 0.1*2/sqrt(1+0.44)", lambda: RMSprop(0.1, rho=0.75, epsilon=0.44), 1.0, [2.0], [1 - 1 / 6]),
    ("rmsprop torch: v=1, 0.1*2/(sqrt(1)+0.2)", lambda: RMSprop(0.1, rho=0.75, epsilon=0.2, convention="torch"), 1.0,
     [2.0], [1 - 1 / 6]),
    ("rmsprop centered keras: v=1, a=0.5, sqrt(1-0.25+0.25)", lambda: RMSprop(0.1, 0.75, 0.25, centered=True), 1.0,
     [2.0], [0.8]),
    ("rmsprop centered torch: sqrt(0.75) + (1-sqrt(0.75))",
     lambda: RMSprop(0.1, 0.75, 1 - np.sqrt(0.75), centered=True, convention="torch"), 1.0, [2.0], [0.8]),
    ("adam keras, eps=0: first step is lr*sign(g)", lambda: Adam(0.1, epsilon=0.0), 1.0, [3.0], [0.9]),
    ("adam torch, eps=0: first step is lr*sign(g)", lambda: Adam(0.1, epsilon=0.0, convention="torch"), 1.0, [3.0],
     [0.9]),
    ("adam keras eps hat: lr*g/(|g| + eps/sqrt(1-b2)), eps=sqrt(0.001)", lambda: Adam(0.1, epsilon=np.sqrt(0.001)),
     1.0, [1.0], [0.95]),
    ("adam torch eps: lr*g/(|g| + eps), eps=1", lambda: Adam(0.1, epsilon=1.0, convention="torch"), 1.0, [1.0],
     [0.95]),
    ("adam keras decoupled decay: 0.95 + 0.1", lambda: Adam(0.1, epsilon=0.0, weight_decay=0.5), 1.0, [-0.25], [1.05]),
    ("adam torch coupled decay: sign(-0.25 + 0.5)",
     lambda: Adam(0.1, epsilon=0.0, weight_decay=0.5, convention="torch"), 1.0, [-0.25], [0.9]),
    ("adamw torch decoupled: 0.95 + 0.1", lambda: AdamW(0.1, epsilon=0.0, weight_decay=0.5, convention="torch"), 1.0,
     [-0.25], [1.05]),
]
# fmt: on


@pytest.mark.parametrize("label, make, w0, grads, expected", HAND, ids=[h[0] for h in HAND])
def test_by_hand(label, make, w0, grads, expected):
    opt = make()
    params = {"w": np.array([w0])}
    for t, (g, want) in enumerate(zip(grads, expected, strict=True)):
        opt.step(params, {"w": np.array([g])})
        err = relative_error(np.array([want]), params["w"])
        assert err <= TRAJECTORY_REL, f"{label}, step {t}: expected {want}, got {params['w'][0]}"
    assert opt.iterations == len(grads)


def test_step_validates_its_input():
    opt = SGD(0.1)
    with pytest.raises(KeyError):
        opt.step({"a": np.zeros(2)}, {"b": np.zeros(2)})
    with pytest.raises(ValueError, match="gradient shape"):
        opt.step({"a": np.zeros(2)}, {"a": np.zeros(3)})
    with pytest.raises(ValueError, match="convention"):
        Adam(convention="jax")
    with pytest.raises(ValueError, match="Nesterov"):
        SGD(nesterov=True, convention="torch")


# Schedules ------------------------------------------------------------------------
def test_schedules_by_hand():
    assert [StepDecay(0.1, 3, 0.5)(t) for t in range(7)] == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025]
    smooth, stairs = ExponentialDecay(0.1, 10, 0.5), ExponentialDecay(0.1, 10, 0.5, staircase=True)
    assert smooth(0) == 0.1 and smooth(10) == 0.05
    assert relative_error(np.array(0.1 / np.sqrt(2)), np.array(smooth(5))) <= TRAJECTORY_REL
    assert stairs(9) == 0.1 and stairs(19) == 0.05 and stairs(20) == 0.025


def test_schedules_match_torch_schedulers():
    """The lr torch uses for update t, with scheduler.step() after every update."""
    torch = pytest.importorskip("torch")
    for make_scheduler, schedule in [
        (lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=5, gamma=0.5), StepDecay(0.1, 5, 0.5)),
        (
            lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=ExponentialDecay(0.1, 10, 0.3).torch_gamma()),
            ExponentialDecay(0.1, 10, 0.3),
        ),
    ]:
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        scheduler = make_scheduler(opt)
        theirs = []
        for _ in range(STEPS):
            theirs.append(opt.param_groups[0]["lr"])
            opt.step()
            scheduler.step()
        mine = [schedule(t) for t in range(STEPS)]
        assert relative_error(np.array(theirs), np.array(mine)) <= TRAJECTORY_REL, type(scheduler).__name__


def test_exponential_decay_matches_keras(keras_runs):
    for staircase, theirs in keras_runs["schedules"].items():
        mine = [ExponentialDecay(0.1, 10, 0.3, staircase)(t) for t in range(STEPS)]
        assert relative_error(np.array(theirs), np.array(mine)) <= TRAJECTORY_REL, f"staircase={staircase}"


# L2 -------------------------------------------------------------------------------
def test_l2_matches_keras(keras_runs):
    ref = keras_runs["l2"]
    assert relative_error(np.array(ref["penalty"]), np.array(L2(0.03).penalty(ref["W"]))) <= TRAJECTORY_REL
    assert relative_error(ref["gradient"], L2(0.03).gradient(ref["W"])) <= TRAJECTORY_REL


def test_l2_by_hand():
    W = np.array([[1.0, -2.0], [0.0, 3.0]])
    assert L2(0.5).penalty(W) == 7.0 and L2(0.5)(W) == 7.0
    assert np.array_equal(L2(0.5).gradient(W), W)


def test_torch_weight_decay_is_l2_of_half_the_decay():
    """torch SGD(weight_decay=wd) takes the step of plain SGD on L + L2(wd/2)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(zlib.crc32(b"l2-weight-decay"))
    W, G, wd, lr = rng.standard_normal((3, 2)), rng.standard_normal((3, 2)), 0.2, 0.1
    Wt = torch.tensor(W, requires_grad=True)
    Wt.grad = torch.from_numpy(G)
    torch.optim.SGD([Wt], lr=lr, weight_decay=wd).step()
    params = {"W": W.copy()}
    SGD(lr).step(params, {"W": G + L2.from_torch_weight_decay(wd).gradient(W)})
    assert relative_error(Wt.detach().numpy(), params["W"]) <= TRAJECTORY_REL


# Dropout --------------------------------------------------------------------------
def test_dropout_with_given_mask_by_hand():
    layer = Dropout(0.5)
    layer.training = True
    layer.mask = np.array([[1.0, 0.0], [0.0, 1.0]])
    Z = layer.forward(np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert np.array_equal(Z, [[2.0, 0.0], [0.0, 8.0]])
    assert np.array_equal(layer.backward(np.array([[1.0, 1.0], [1.0, 1.0]])), [[2.0, 0.0], [0.0, 2.0]])


def test_dropout_inference_is_identity():
    layer = Dropout(0.3, rng=np.random.default_rng(0))
    X, dZ = np.arange(6.0).reshape(2, 3), np.ones((2, 3))
    assert layer.forward(X) is X and layer.backward(dZ) is dZ


def test_dropout_expected_scale():
    """E[Z] = X: with N = 200_000 ones, the kept fraction and mean(Z) sit within 5 binomial sigmas."""
    rate, N = 0.3, 200_000
    layer = Dropout(rate, rng=np.random.default_rng(zlib.crc32(b"dropout-scale")))
    layer.training = True
    Z = layer.forward(np.ones(N))
    sigma = np.sqrt(rate * (1 - rate) / N)
    assert abs((Z == 0).mean() - rate) < 5 * sigma
    assert abs(Z.mean() - 1) < 5 * sigma / (1 - rate)
    assert set(np.unique(Z)) == {0.0, 1 / (1 - rate)}


def test_dropout_matches_framework_masks(keras_runs):
    """Given the mask a framework drew (Z != 0 for an X without zeros), scratch computes its Z."""
    torch = pytest.importorskip("torch")
    X = keras_runs["dropout"]["X"]
    Z_torch = torch.nn.functional.dropout(torch.from_numpy(X), p=0.25, training=True).numpy()
    for framework, theirs in [("torch", Z_torch), ("keras", keras_runs["dropout"]["Z"])]:
        layer = Dropout(0.25)
        layer.training, layer.mask = True, theirs != 0
        assert relative_error(theirs, layer.forward(X)) <= tolerance("float64"), framework


def dtype_policy_name(set_to: str | None = None) -> str:
    """In a Keras worker: its global dtype policy, after setting it to ``set_to`` (what an earlier call may
    leave: keras_runner sets one per request)."""
    import keras

    if set_to is not None:
        keras.config.set_dtype_policy(set_to)
    return keras.config.dtype_policy().name


def test_keras_runs_do_not_take_a_policy_an_earlier_call_left():
    """The Keras results of ``keras_runs`` are float64 whatever the shared worker ran before (a float32 run
    left its policy: under pytest-xdist this file's Dropout output came out float32, 6e-8 from scratch),
    and the worker's policy is put back."""
    from parity.runners.pool import ImplementationUnavailable, keras_worker

    try:
        worker = keras_worker("torch")
    except ImplementationUnavailable as error:
        pytest.skip(str(error))
    original = worker.call("tests.test_scratch_optim:dtype_policy_name")
    try:
        assert worker.call("tests.test_scratch_optim:dtype_policy_name", "float32") == "float32"
        out = worker.call("tests.test_scratch_optim:keras_runs_in_worker", [("sgd_momentum", "float64")])
        after = worker.call("tests.test_scratch_optim:dtype_policy_name")
    finally:
        worker.call("tests.test_scratch_optim:dtype_policy_name", original)
    assert out["dropout"]["Z"].dtype == np.float64
    assert after == "float32"


def test_dropout_gradient_by_finite_differences():
    rng = np.random.default_rng(zlib.crc32(b"dropout-gradcheck"))
    layer = Dropout(0.4, rng=rng)
    layer.training = True
    X = rng.standard_normal((4, 5))
    layer.mask = rng.random(X.shape) >= 0.4  # fixed, so every finite-difference forward sees it
    for result in check_gradients(layer, X, rng):
        assert result.passed, f"{result.name}: {result.max_rel_err:.2e}"


def test_dropout_rejects_bad_use():
    with pytest.raises(ValueError, match="rate"):
        Dropout(1.0)
    layer = Dropout(0.5)
    layer.training = True
    with pytest.raises(ValueError, match="rng or layer.mask"):
        layer.forward(np.ones(3))
