"""Learning-rate schedules: callables of the 0-based step count, returning the rate.

A scratch optimiser takes step ``t`` (t = 0, 1, 2, ...) with
``lr = schedule(optimizer.iterations)``, read before the update. That is how
Keras counts: ``BaseOptimizer._get_current_learning_rate`` calls the schedule
with ``optimizer.iterations``, the number of updates already applied
(keras/src/optimizers/base_optimizer.py); a schedule sees every update, so
``decay_steps`` is counted in batches. Only a ``LearningRateSchedule`` receives
the count; Keras calls any other callable learning rate with no argument.

torch counts differently (torch/optim/lr_scheduler.py): a scheduler owns a
counter ``last_epoch`` that only ``scheduler.step()`` advances, and writes the
rate into ``optimizer.param_groups[i]["lr"]``. The usual loop calls it once per
epoch, after the epoch's ``optimizer.step()`` calls, so ``step_size`` is counted
in epochs. Calling ``scheduler.step()`` after every ``optimizer.step()`` gives
the per-update count used here: update t then runs with schedule(t).
torch also computes the rate recursively (lr <- lr * gamma in ``get_lr``), not
in closed form, so its rates agree with these to rounding, not bit for bit.
"""

from __future__ import annotations

import math


class StepDecay:
    """Multiply the rate by gamma every ``step_size`` steps (torch's StepLR).

    Schedule::

        lr(t) = lr_0 * gamma ** floor(t / step_size)

    Equals ``torch.optim.lr_scheduler.StepLR(opt, step_size, gamma)`` with
    ``lr=lr_0`` and ``scheduler.step()`` once per update, and
    ``keras.optimizers.schedules.ExponentialDecay(lr_0, decay_steps=step_size,
    decay_rate=gamma, staircase=True)``.

    Args:
        initial_learning_rate: lr_0 >= 0.
        step_size: steps between decays, a positive integer.
        gamma: factor per decay (torch's default 0.1).
    """

    def __init__(self, initial_learning_rate: float, step_size: int, gamma: float = 0.1) -> None:
        if int(step_size) != step_size or step_size < 1:
            raise ValueError(f"StepDecay: step_size must be a positive integer, received {step_size!r}")
        if not initial_learning_rate >= 0 or not gamma >= 0:
            raise ValueError(f"StepDecay: rates must be >= 0, received {initial_learning_rate!r}, {gamma!r}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.step_size = int(step_size)
        self.gamma = float(gamma)

    def __call__(self, step: int) -> float:
        return self.initial_learning_rate * self.gamma ** (int(step) // self.step_size)


class ExponentialDecay:
    """Decay the rate by ``decay_rate`` every ``decay_steps`` steps, smoothly (Keras' ExponentialDecay).

    Schedule::

        p     = t / decay_steps              # staircase: p = floor(t / decay_steps)
        lr(t) = lr_0 * decay_rate ** p

    Equals ``keras.optimizers.schedules.ExponentialDecay(lr_0, decay_steps,
    decay_rate, staircase)`` (keras/src/optimizers/schedules/learning_rate_schedule.py),
    which Keras evaluates in the dtype of ``lr_0`` converted to a tensor: floatx,
    float32 unless changed. Without staircase it equals
    ``torch.optim.lr_scheduler.ExponentialLR(opt, gamma=decay_rate ** (1 / decay_steps))``
    stepped once per update; with staircase, torch's StepLR (see ``StepDecay``).

    Args:
        initial_learning_rate: lr_0 >= 0.
        decay_steps: steps over which the rate falls by ``decay_rate``, > 0.
        decay_rate: factor per ``decay_steps`` steps.
        staircase: decay in whole steps of ``decay_steps``.
    """

    def __init__(
        self, initial_learning_rate: float, decay_steps: float, decay_rate: float, staircase: bool = False
    ) -> None:
        if not decay_steps > 0:
            raise ValueError(f"ExponentialDecay: decay_steps must be > 0, received {decay_steps!r}")
        if not initial_learning_rate >= 0 or not decay_rate >= 0:
            raise ValueError(
                f"ExponentialDecay: rates must be >= 0, received {initial_learning_rate!r}, {decay_rate!r}"
            )
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = float(decay_steps)
        self.decay_rate = float(decay_rate)
        self.staircase = bool(staircase)

    def __call__(self, step: int) -> float:
        p = step / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate * self.decay_rate**p

    def torch_gamma(self) -> float:
        """gamma of the torch ExponentialLR with the same per-step decay: decay_rate ** (1 / decay_steps)."""
        return self.decay_rate ** (1 / self.decay_steps)
