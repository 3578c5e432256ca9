"""Gumbel-softmax (Concrete) layers and their temperature schedule (SPEC §2.2).

    GumbelSoftmax:  relaxed one-hot y = softmax((log_softmax(l) + g)/τ), g ~ Gumbel(0, 1)
    GumbelSigmoid:  relaxed binary  y = σ((l + L)/τ),                     L ~ Logistic(0, 1)

In training (`training=True`) the layers return relaxed samples (with `hard=True`: the exact
one-hot / binary sample in the forward pass and the relaxed sample's gradient, "ST
Gumbel-softmax"); in inference they return exact samples (Gumbel-max; 1[l + L > 0]). τ is
non-trainable layer state set by `anneal(step)` from a `TemperatureSchedule`, so that τ is a
function of the optimizer step and resumes exactly with it. Noise comes from stateless seeds,
with each tf.distribute replica taking its slice of the global batch's noise
(keraszoo.random).
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from keraszoo.estimators.discrete import (
    bernoulli_sample,
    categorical_sample,
    gumbel_from_uniform,
    gumbel_softmax,
    logistic_from_uniform,
    open_uniform,
    relaxed_bernoulli,
)
from keraszoo.random import as_seed, replica_slice_noise


@keras.saving.register_keras_serializable(package="keraszoo")
class TemperatureSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """τ_t = max(minimum, initial · exp(−rate · K⌊t/K⌋)): Jang et al. (2017), updated every K steps.

    Args:
        initial: τ_0 > 0.
        minimum: the floor, 0 < minimum ≤ initial.
        rate: r ≥ 0; 0 keeps τ constant.
        every: K, steps between updates.
    """

    def __init__(self, initial: float = 1.0, minimum: float = 0.5, rate: float = 1e-4, every: int = 500):
        if not initial > 0:
            raise ValueError(f"Expected `initial` > 0. Received: initial={initial!r}")
        if not 0 < minimum <= initial:
            raise ValueError(f"Expected 0 < `minimum` <= initial={initial}. Received: minimum={minimum!r}")
        if not rate >= 0:
            raise ValueError(f"Expected `rate` >= 0. Received: rate={rate!r}")
        if rate > 0 and minimum == initial:
            # A schedule whose start equals its floor never moves (a known peer bug): say so.
            raise ValueError(
                f"`minimum` equals `initial` ({initial}), so the schedule never anneals although "
                f"rate={rate}. Lower `minimum` or set rate=0 for a constant temperature."
            )
        if not (isinstance(every, int) and every >= 1):
            raise ValueError(f"Expected `every` to be a positive integer. Received: every={every!r}")
        self.initial, self.minimum, self.rate, self.every = float(initial), float(minimum), float(rate), every

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        updated_at = tf.floor(step / self.every) * self.every
        return tf.maximum(self.minimum, self.initial * tf.exp(-self.rate * updated_at))

    def steps_to_minimum(self) -> int:
        """The first step at which τ reaches its floor."""
        if self.rate == 0:
            return 0
        return math.ceil(math.log(self.initial / self.minimum) / self.rate / self.every) * self.every

    def get_config(self):
        return {"initial": self.initial, "minimum": self.minimum, "rate": self.rate, "every": self.every}


def as_schedule(temperature) -> TemperatureSchedule:
    """A float (constant τ), a config dict or a schedule."""
    if isinstance(temperature, TemperatureSchedule):
        return temperature
    if isinstance(temperature, dict):
        return TemperatureSchedule(**temperature)
    return TemperatureSchedule(initial=float(temperature), minimum=float(temperature), rate=0.0)


class _Relaxation(keras.layers.Layer):
    """Shared state and noise of the relaxed samplers."""

    def __init__(self, temperature=1.0, hard: bool = False, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.schedule = as_schedule(temperature)
        self.hard = bool(hard)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.temperature = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(self.schedule.initial),
            trainable=False,
            aggregation="only_first_replica",  # every replica computes the same value
            name="temperature",
        )

    def anneal(self, step) -> tf.Tensor:
        """Sets τ = schedule(step) and returns it."""
        tau = tf.cast(self.schedule(step), self.temperature.dtype)
        self.temperature.assign(tau)
        return tau

    def noise(self, shape, seed) -> tf.Tensor:
        """Noise for `shape` (batch first), this replica's slice of the global batch's noise."""
        uniform = replica_slice_noise(lambda s, sd: open_uniform(s, sd, self.compute_dtype), shape, seed)
        return self._from_uniform(uniform)

    def call(self, logits, training=False, seed=None):
        seed = self.seed_generator.next() if seed is None else as_seed(seed)
        noise = self.noise(tf.shape(logits), seed)
        if training:
            return self._relaxed(logits, noise, tf.cast(self.temperature, logits.dtype), self.hard)
        return self._exact(logits, noise)

    def get_config(self):
        return {
            **super().get_config(),
            "temperature": self.schedule.get_config(),
            "hard": self.hard,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="keraszoo")
class GumbelSoftmax(_Relaxation):
    """Relaxed one-hot samples over the last axis (Jang et al. 2017; Maddison et al. 2017).

    Args:
        temperature: a float (constant τ), a `TemperatureSchedule` or its config dict.
        hard: straight-through Gumbel-softmax (one-hot forward, relaxed gradient).
        seed: seed of the layer's noise stream when `call` gets no seed.

    Call arguments:
        logits: [batch, ..., M] unnormalised log-probabilities.
        training: relaxed (True) or exact one-hot (False) samples.
        seed: optional stateless seed (an int or shape-[2] tensor).

    Returns:
        A tensor of the shape of `logits` on the simplex (one-hot when not training or `hard`).

    Example:

    >>> layer = GumbelSoftmax(temperature={"initial": 1.0, "minimum": 0.5, "rate": 1e-4, "every": 500})
    >>> layer(tf.zeros([2, 20, 10]), training=True).shape
    TensorShape([2, 20, 10])
    """

    _from_uniform = staticmethod(gumbel_from_uniform)
    _relaxed = staticmethod(gumbel_softmax)
    _exact = staticmethod(categorical_sample)


@keras.saving.register_keras_serializable(package="keraszoo")
class GumbelSigmoid(_Relaxation):
    """Relaxed Bernoulli samples σ((l + L)/τ) (binary Concrete). Arguments as `GumbelSoftmax`;
    outputs lie in (0, 1), and in {0, 1} when not training or `hard`."""

    _from_uniform = staticmethod(logistic_from_uniform)
    _relaxed = staticmethod(relaxed_bernoulli)
    _exact = staticmethod(bernoulli_sample)
