"""Exponential moving averages: one primitive for the REINFORCE baseline and the EMA codebook.

    a_t = γ a_{t−1} + (1 − γ) x_t                         (the stored average)
    â_t = a_t / (1 − γ^t)       with `debias`, a_0 = 0     (Kingma & Ba 2015, §3)

Debiasing removes the pull towards the zero start in the first ~1/(1 − γ) updates; it is what
Sonnet's `ExponentialMovingAverage` does. Without it the average starts at `initializer`,
which is what the EMA codebook needs (van den Oord et al. 2017, App. A.1: counts start at 1 and
sums at the initial codebook, so an unused code keeps its vector).

The state is non-trainable and changes only through `update`. Under tf.distribute every
replica must update with the same value (callers all-reduce their statistics first), so the
variables keep the first replica's copy.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keraszoo._checks import check_positive


@keras.saving.register_keras_serializable(package="keraszoo")
class MovingAverage(keras.layers.Layer):
    """An exponential moving average of tensors of a fixed shape.

    Args:
        decay: γ in (0, 1).
        shape: the shape of the averaged values (scalar by default).
        initializer: the start a_0 (`"zeros"` when debiased).
        debias: read the average divided by 1 − γ^t.

    Example:

    >>> ema = MovingAverage(decay=0.5, debias=True)
    >>> ema.update(3.0); float(ema.value())   # 0.5·3 / (1 − 0.5)
    3.0
    """

    def __init__(self, decay: float, shape=(), initializer="zeros", debias: bool = False, **kwargs):
        kwargs.setdefault("dtype", "float32")  # float32 arithmetic whatever the global policy
        super().__init__(**kwargs)
        if not 0.0 < decay < 1.0:
            raise ValueError(f"Expected `decay` in (0, 1). Received: decay={decay!r}")
        self.decay, self.shape, self.debias = float(decay), tuple(shape), bool(debias)
        for d in self.shape:
            check_positive("shape", d, integer=True)
        if self.debias and initializer != "zeros":
            raise ValueError(f"A debiased average starts at zero. Received: initializer={initializer!r}")
        self.initializer = initializer
        state = dict(trainable=False, aggregation="only_first_replica")
        self.average = self.add_weight(shape=self.shape, initializer=initializer, name="average", **state)
        self.count = self.add_weight(shape=(), initializer="zeros", name="count", **state)
        self.built = True  # all state is created above

    def update(self, value) -> tf.Tensor:
        """a ← γ a + (1 − γ) value; returns the new stored average."""
        new = self.decay * self.average + (1.0 - self.decay) * tf.cast(value, self.average.dtype)
        self.average.assign(new)
        self.count.assign_add(1.0)
        return new

    def overwrite(self, mask, value) -> None:
        """Sets the stored average to `value` where `mask` is true (e.g. restarted codes)."""
        self.average.assign(tf.where(mask, tf.cast(value, self.average.dtype), self.average))

    def value(self) -> tf.Tensor:
        """The (debiased) average; before the first update a debiased average reads 0."""
        if not self.debias:
            return tf.convert_to_tensor(self.average)
        # 1 − γ^0 = 0 before the first update: guard the division (the stored average is 0 then).
        return self.average / tf.maximum(1.0 - self.decay**self.count, 1e-12)

    def call(self, value, training=False):
        """Updates with `value` when training; returns the (debiased) average."""
        if training:
            self.update(value)
        return self.value()

    def get_config(self):
        return {
            **super().get_config(),
            "decay": self.decay,
            "shape": list(self.shape),
            "initializer": self.initializer,
            "debias": self.debias,
        }
