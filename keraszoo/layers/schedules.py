"""Annealing schedules of a step: serializable Keras schedules, functions of the optimizer step.

    ExponentialSchedule:  v_t = clip(initial · exp(∓rate · K⌊t/K⌋), limit)   (towards `limit`)
    TemperatureSchedule:  τ_t = max(minimum, τ_0 · exp(−r · K⌊t/K⌋))          (Jang et al. 2017)
    BetaSchedule:         β_t = min(maximum, β_0 · exp(+r · K⌊t/K⌋))          (smoothing β → ∞)

Because the value is a function of the step, it resumes exactly with the optimizer's step
counter from a checkpoint.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf


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
