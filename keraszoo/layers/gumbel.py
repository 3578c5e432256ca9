"""Gumbel-softmax (Concrete) layers and their temperature schedule.

Jang et al. (2017) "Categorical Reparameterization with Gumbel-Softmax"; Maddison et al. (2017)
"The Concrete Distribution" (the binary Concrete is `GumbelSigmoid`).

    GumbelSoftmax:  relaxed one-hot y = softmax((log_softmax(l) + g)/τ), g ~ Gumbel(0, 1)
    GumbelSigmoid:  relaxed binary  y = σ((l + L)/τ),                     L ~ Logistic(0, 1)

In training (`training=True`) the layers return relaxed samples (with `hard=True`: the exact
one-hot / binary sample in the forward pass and the relaxed sample's gradient, "ST
Gumbel-softmax"); in inference they return exact samples (Gumbel-max; 1[l + L > 0]). τ is
non-trainable layer state set by `anneal(step)` from a `TemperatureSchedule`
(keraszoo.schedules), so that τ is a function of the optimizer step and resumes exactly
with it. Noise comes from stateless seeds,
with each tf.distribute replica taking its slice of the global batch's noise
(keraszoo.random).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keraszoo.estimators.discrete import (
    bernoulli_sample,
    categorical_sample,
    gumbel_from_uniform,
    gumbel_softmax,
    logistic_from_uniform,
    relaxed_bernoulli,
)
from keraszoo.layers.annealed import AnnealedSampler
from keraszoo.random import as_seed
from keraszoo.schedules import TemperatureSchedule


class _Relaxation(AnnealedSampler):
    """Shared call of the relaxed samplers."""

    state_name = "temperature"
    schedule_class = TemperatureSchedule

    def __init__(self, temperature=1.0, hard: bool = False, seed: int | None = None, **kwargs):
        super().__init__(temperature, seed=seed, **kwargs)
        self.hard = bool(hard)

    @property
    def temperature(self):
        return self.state

    def noise(self, shape, seed) -> tf.Tensor:
        return self._from_uniform(self.uniform(shape, seed))

    def call(self, logits, training=False, seed=None):
        seed = self.seed_generator.next() if seed is None else as_seed(seed)
        noise = self.noise(tf.shape(logits), seed)
        if training:
            return self._relaxed(logits, noise, tf.cast(self.temperature, logits.dtype), self.hard)
        return self._exact(logits, noise)

    def get_config(self):
        return {**super().get_config(), "hard": self.hard}


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
