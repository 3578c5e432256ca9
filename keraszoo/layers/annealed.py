"""Base of the samplers whose sharpness is annealed: Gumbel-softmax (τ) and smoothing (β).

Holds the annealed value as a non-trainable weight set by `anneal(step)` from a schedule
(keraszoo.schedules), a seed generator, and replica-aware open-interval uniform noise
(each tf.distribute replica takes its slice of the global batch's noise, keraszoo.random).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keraszoo.random import open_uniform, replica_slice_noise
from keraszoo.schedules import as_schedule


class AnnealedSampler(keras.layers.Layer):
    """Subclasses set `state_name` ("temperature", "beta") and `schedule_class`."""

    state_name = ""
    schedule_class: type = None

    def __init__(self, schedule, seed: int | None = None, **kwargs):
        kwargs.setdefault("dtype", "float32")  # float32 arithmetic whatever the global policy
        super().__init__(**kwargs)
        self.schedule = as_schedule(schedule, self.schedule_class)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.state = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(self.schedule.initial),
            trainable=False,
            aggregation="only_first_replica",  # every replica computes the same value
            name=self.state_name,
        )
        self.built = True  # all state is created here (and in subclasses' __init__)

    def anneal(self, step) -> tf.Tensor:
        """Sets the state to schedule(step) and returns it."""
        value = tf.cast(self.schedule(step), self.state.dtype)
        self.state.assign(value)
        return value

    def uniform(self, shape, seed) -> tf.Tensor:
        """U(tiny, 1) noise of `shape` (batch first), this replica's slice of the global batch."""
        return replica_slice_noise(lambda s, sd: open_uniform(s, sd, self.compute_dtype), shape, seed)

    def get_config(self):
        return {**super().get_config(), self.state_name: self.schedule.get_config(), "seed": self.seed}
