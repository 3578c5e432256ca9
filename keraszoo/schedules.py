"""Schedules: serializable Keras `LearningRateSchedule`s, functions of the optimizer step.

Because every value is a function of the step, which checkpoints restore, a resumed run
continues on exactly the value it stopped at.

Annealing of a model's hyperparameters (updated every K = `every` steps):

    ExponentialSchedule:  v_t = clip(initial · exp(∓rate · K⌊t/K⌋), limit)   (towards `limit`)
    TemperatureSchedule:  τ_t = max(minimum, τ_0 · exp(−r · K⌊t/K⌋))          (Jang et al. 2017)
    BetaSchedule:         β_t = min(maximum, β_0 · exp(+r · K⌊t/K⌋))          (smoothing β → ∞)

Learning rates of the papers. `TrainConfig.learning_rate` is a float (constant) or a dict,
serialized with the config:

    {"name": "staged", "initial": 1e-3, "stages": 8, "epoch_scale": 1.0}
        Burda et al. (2016, §5): stage i = 0 … stages−1 lasts 3^i passes over the data at
        lr = initial · 10^(−i/7); 8 stages are 3280 passes. `epoch_scale` shrinks (or
        stretches) every stage by the same factor, e.g. 0.1 → 328 passes.
    {"name": "exponential", "initial": 1e-3, "decay_steps": 1000, "decay_rate": 0.9}
        lr = initial · decay_rate^⌊step / decay_steps⌋ (Jang et al. 2017's code): a staircase.
        With "staircase": False, lr = initial · decay_rate^(step / decay_steps), a smooth decay.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import keras
import tensorflow as tf

from keraszoo._checks import check_one_of, check_positive


@keras.saving.register_keras_serializable(package="keraszoo")
class ExponentialSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Exponential annealing from `initial` towards `limit`, updated every `every` steps."""

    limit_name = "limit"  # the name of `limit` in the constructor and the config

    def __init__(self, initial: float, limit: float, rate: float, every: int = 1):
        for name, value in (("initial", initial), ("limit", limit)):
            if not value > 0:
                raise ValueError(f"Expected `{name}` > 0. Received: {name}={value!r}")
        if not rate >= 0:
            raise ValueError(f"Expected `rate` >= 0. Received: rate={rate!r}")
        if rate > 0 and limit == initial:
            # A schedule whose start equals its limit never moves (a known peer bug): say so.
            raise ValueError(
                f"The limit equals `initial` ({initial}), so the schedule never anneals although "
                f"rate={rate}. Move the limit or set rate=0 for a constant value."
            )
        if not (isinstance(every, int) and every >= 1):
            raise ValueError(f"Expected `every` to be a positive integer. Received: every={every!r}")
        self.initial, self.limit, self.rate, self.every = float(initial), float(limit), float(rate), every
        self.sign = -1.0 if limit < initial else 1.0

    def __call__(self, step):
        updated_at = tf.floor(tf.cast(step, tf.float32) / self.every) * self.every
        value = self.initial * tf.exp(self.sign * self.rate * updated_at)
        return tf.maximum(value, self.limit) if self.sign < 0 else tf.minimum(value, self.limit)

    def steps_to_limit(self) -> int:
        """The first step at which the value reaches its limit."""
        if self.rate == 0 or self.limit == self.initial:
            return 0
        return math.ceil(abs(math.log(self.limit / self.initial)) / self.rate / self.every) * self.every

    def get_config(self):
        return {"initial": self.initial, self.limit_name: self.limit, "rate": self.rate, "every": self.every}


@keras.saving.register_keras_serializable(package="keraszoo")
class TemperatureSchedule(ExponentialSchedule):
    """τ_t = max(minimum, initial · exp(−rate · K⌊t/K⌋)), K = `every` (Jang et al. 2017)."""

    limit_name = "minimum"

    def __init__(self, initial: float = 1.0, minimum: float = 0.5, rate: float = 1e-4, every: int = 500):
        if minimum > initial:
            raise ValueError(f"Expected `minimum` <= initial={initial}. Received: minimum={minimum!r}")
        super().__init__(initial, minimum, rate, every)


@keras.saving.register_keras_serializable(package="keraszoo")
class BetaSchedule(ExponentialSchedule):
    """β_t = min(maximum, initial · exp(rate · K⌊t/K⌋)): sharpens smoothing towards β → ∞."""

    limit_name = "maximum"

    def __init__(self, initial: float = 1.0, maximum: float = 10.0, rate: float = 2e-4, every: int = 100):
        if maximum < initial:
            raise ValueError(f"Expected `maximum` >= initial={initial}. Received: maximum={maximum!r}")
        super().__init__(initial, maximum, rate, every)


def as_schedule(value, cls: type[ExponentialSchedule]) -> ExponentialSchedule:
    """A float (constant), a config dict of `cls`, or a schedule."""
    if isinstance(value, ExponentialSchedule):
        return value
    if isinstance(value, dict):
        return cls(**value)
    return cls(float(value), float(value), 0.0, 1)


SCHEDULES = ("staged", "exponential")


def staged_boundaries(stages: int, epoch_scale: float = 1.0) -> list[float]:
    """Epochs at which stages 1 … stages−1 start: Σ_{j<i} 3^j · epoch_scale = (3^i − 1)/2 · scale."""
    return [(3**i - 1) / 2 * epoch_scale for i in range(1, stages)]


@keras.saving.register_keras_serializable(package="keraszoo")
class StagedDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Burda et al.'s schedule: stage i lasts 3^i·`epoch_scale` epochs at `initial`·10^(−i/7).

    Args:
        initial: the learning rate of stage 0.
        steps_per_epoch: optimizer steps in one pass over the training data.
        stages: number of stages (8 in the paper: 3280 passes at epoch_scale 1).
        epoch_scale: factor on every stage's length.
    """

    def __init__(self, initial: float, steps_per_epoch: int, stages: int = 8, epoch_scale: float = 1.0):
        check_positive("initial", initial)
        check_positive("steps_per_epoch", steps_per_epoch, integer=True)
        check_positive("stages", stages, integer=True)
        check_positive("epoch_scale", epoch_scale)
        self.initial, self.steps_per_epoch = float(initial), int(steps_per_epoch)
        self.stages, self.epoch_scale = int(stages), float(epoch_scale)

    @property
    def total_epochs(self) -> int:
        """Passes over the data that the stages cover."""
        return math.ceil((3**self.stages - 1) / 2 * self.epoch_scale)

    def __call__(self, step):
        epoch = tf.cast(step, tf.float32) / self.steps_per_epoch
        boundaries = tf.constant(staged_boundaries(self.stages, self.epoch_scale) or [math.inf], tf.float32)
        stage = tf.reduce_sum(tf.cast(epoch >= boundaries, tf.float32))
        return self.initial * tf.pow(10.0, -stage / 7.0)

    def get_config(self):
        return {
            "initial": self.initial,
            "steps_per_epoch": self.steps_per_epoch,
            "stages": self.stages,
            "epoch_scale": self.epoch_scale,
        }


def parse_learning_rate(spec) -> Callable[[int], float | keras.optimizers.schedules.LearningRateSchedule]:
    """Validates a learning-rate spec (a float, or a schedule dict: see the module docstring) once,
    and returns the function of `steps_per_epoch` that makes it: the float itself, or the
    schedule counting optimizer steps (an epoch's steps are known only once the data is loaded).

    Raises:
        ValueError: naming the argument and its value, for anything the schedule would refuse.
    """
    if isinstance(spec, int | float) and not isinstance(spec, bool):
        check_positive("learning_rate", spec)
        return lambda steps_per_epoch: float(spec)
    if not isinstance(spec, dict):
        raise ValueError(
            f"Expected `learning_rate` to be a number or a schedule dict. Received: learning_rate={spec!r}"
        )
    spec = dict(spec)
    name = spec.pop("name", None)
    check_one_of("learning_rate name", name, SCHEDULES)
    allowed = {
        "staged": {"initial", "stages", "epoch_scale"},
        "exponential": {"initial", "decay_steps", "decay_rate", "staircase"},
    }
    unknown = set(spec) - allowed[name]
    if unknown or "initial" not in spec:
        raise ValueError(
            f"The {name!r} schedule takes {sorted(allowed[name])} ('initial' required). "
            f"Received: learning_rate={ {'name': name, **spec} }"
        )
    if name == "staged":
        StagedDecay(steps_per_epoch=1, **spec)  # validates its arguments now
        return lambda steps_per_epoch: StagedDecay(steps_per_epoch=steps_per_epoch, **spec)
    check_positive("initial", spec["initial"])
    check_positive("decay_steps", spec.get("decay_steps", 1000), integer=True)
    rate = spec.get("decay_rate", 0.9)
    if not 0 < rate <= 1:
        raise ValueError(f"Expected `decay_rate` in (0, 1]. Received: decay_rate={rate!r}")
    staircase = spec.get("staircase", True)
    if not isinstance(staircase, bool):
        raise ValueError(f"Expected `staircase` to be True or False. Received: staircase={staircase!r}")
    return lambda steps_per_epoch: keras.optimizers.schedules.ExponentialDecay(
        spec["initial"], spec.get("decay_steps", 1000), rate, staircase=staircase
    )


def make_learning_rate(spec, steps_per_epoch: int):
    """A float, or the schedule a dict spec names (see the module docstring)."""
    return parse_learning_rate(spec)(steps_per_epoch)
