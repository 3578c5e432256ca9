"""The `Smoothing` layer: binary latents z and their smoothed relaxation ζ.

Smoothing transformations of Rolfe (2017) "Discrete Variational Autoencoders" and of Vahdat
et al. (2018), DVAE++ and DVAE#; the functions are in keraszoo.distributions.smoothing.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from keraszoo._checks import check_one_of
from keraszoo.distributions.smoothing import SMOOTHING_FUNCTIONS, smooth
from keraszoo.layers.annealed import AnnealedSampler
from keraszoo.random import as_seed
from keraszoo.schedules import BetaSchedule


@keras.saving.register_keras_serializable(package="keraszoo")
class Smoothing(AnnealedSampler):
    """ζ = f(β, p, ε), z = 1[ε ≥ 1 − p] with p = σ(logits), ε ~ U(0, 1).

    Args:
        function: one of `SMOOTHING_FUNCTIONS` ("f1" spike-and-exponential, "f2", "f2_root",
            "f2_hyperbolic", "f3" power-function, "f3_root"); see keraszoo.distributions.smoothing.
        beta: β, a float or a `BetaSchedule` (or its config) annealed towards β → ∞.
        base: the base a of f1 (e or 2); must be > 1.
        seed: seed of the noise stream when `call` gets no seed.

    Call arguments:
        logits: [batch, ..., M] logits of q(z = 1 | x).
        seed: optional stateless seed.

    Returns:
        `(zeta, z)`, both of the shape of `logits`; ζ is differentiable in the logits.

    Example:

    >>> layer = Smoothing("f1", beta={"initial": 1.0, "maximum": 10.0, "rate": 2e-4, "every": 100})
    >>> zeta, z = layer(tf.zeros([4, 200]))
    """

    state_name = "beta"
    schedule_class = BetaSchedule

    def __init__(
        self, function: str = "f1", beta=5.0, base: float = math.e, seed: int | None = None, **kwargs
    ):
        check_one_of("function", function, SMOOTHING_FUNCTIONS)
        if not base > 1:
            raise ValueError(f"Expected `base` > 1. Received: base={base!r}")
        super().__init__(beta, seed=seed, **kwargs)
        self.function, self.base = function, float(base)

    @property
    def beta(self):
        return self.state

    def smooth(self, logits, eps):
        return smooth(self.function, tf.cast(self.beta, logits.dtype), tf.sigmoid(logits), eps, self.base)

    def call(self, logits, seed=None):
        seed = self.seed_generator.next() if seed is None else as_seed(seed)
        eps = self.uniform(tf.shape(logits), seed)
        z = tf.cast(eps >= tf.sigmoid(-logits), logits.dtype)  # ε ≥ 1 − p, with 1 − p = σ(−l)
        return self.smooth(logits, eps), z

    def get_config(self):
        return {**super().get_config(), "function": self.function, "base": self.base}
