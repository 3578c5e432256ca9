"""Discrete VAE with smoothing transformations (Rolfe 2017; Vahdat et al. 2018, DVAE++ and DVAE#).

    z ∈ {0,1}^M, q(z|x) = Π_i Bern(p_i),  p = σ(EncoderNet_φ(x)),   p(z) = Bern(1/2)^M
    ζ_i = f(β, p_i, ε_i), ε_i ~ U(0, 1)      (the decoder sees ζ; z_i = 1[ε_i ≥ 1 − p_i])
    ELBO = E_q[log p_θ(x|ζ)] − KL(q(z|x) ‖ p(z))          (analytic, factorial Bernoulli)

ζ is differentiable in p, so the encoder gets the reconstruction gradient by
reparameterization through the smoothing function; β is annealed towards ∞ by a
`BetaSchedule` of the optimizer step (reported as the per-epoch metric `beta`). The
importance-weighted bound uses log w = log p(x|ζ) + log p(z) − log q(z|x) at joint samples.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from keraszoo._checks import check_one_of
from keraszoo.distributions.smoothing import SMOOTHING_FUNCTIONS
from keraszoo.layers import Smoothing
from keraszoo.models.base import VAE
from keraszoo.models.discrete_vae import BinaryLatents
from keraszoo.models.registry import register_model

DEFAULT_BETA = {"initial": 1.0, "maximum": 10.0, "rate": 2e-4, "every": 100}


@register_model("dvae")
@keras.saving.register_keras_serializable(package="keraszoo")
class DVAE(BinaryLatents, VAE):
    """Binary-latent VAE whose decoder sees smoothed latents ζ = f(β, p, ε).

    Args:
        latent_dim: M binary latents (200 as in the DVAE# "1-layer" structures).
        smoothing: "f1" (spike-and-exponential), "f2", "f2_root", "f2_hyperbolic", "f3"
            (power-function), "f3_root"; see keraszoo.distributions.smoothing.
        beta: a float or a `BetaSchedule` config (default: 1 → 10, ×e every 5000 steps).
        base: a of f1.
        **kwargs: see `keraszoo.models.base.VAE` (likelihood, encoder, decoder, ...).

    `encode` returns `probs` and `codes` [batch, M]; `decode` takes binary codes (ζ = z, the
    β → ∞ limit); `sample` draws z and ζ from the prior.
    """

    kl_choices = ("auto", "analytic")
    estimator_choices = ("reparameterization",)

    def __init__(
        self,
        data_shape,
        latent_dim: int = 200,
        smoothing: str = "f1",
        beta=None,
        base: float = math.e,
        seed: int | None = None,
        **kwargs,
    ):
        check_one_of("smoothing", smoothing, SMOOTHING_FUNCTIONS)  # `latent_dim` is checked by `VAE`
        if smoothing != "f1" and base != math.e:  # it would be silently ignored
            raise ValueError(
                f"`base` is the base a of f1 only. Received: base={base!r}, smoothing={smoothing!r}"
            )
        self.sampler = Smoothing(
            smoothing,
            beta=DEFAULT_BETA if beta is None else beta,
            base=base,
            # Inside the model the smoothing layer always receives the model's step seed.
            seed=seed,
            name="smoothing",
        )
        super().__init__(data_shape, latent_dim=latent_dim, seed=seed, **kwargs)

    def num_posterior_params(self):
        return self.latent_dim

    def annealed(self):
        return self.sampler

    def _draw(self, raw, seed, num_samples):
        tiled = tf.repeat(raw[:, None], num_samples, axis=1)  # [batch, K, M]: noise sliced per replica
        zeta, z = self.sampler(tiled, seed=seed)
        return tf.experimental.numpy.moveaxis(zeta, 1, 0), tf.experimental.numpy.moveaxis(z, 1, 0)

    def sample_posterior(self, q, raw, seed, num_samples, training=False):
        return self._draw(raw, seed, num_samples)[0]

    def importance_sample(self, q, raw, seed, num_samples):
        zeta, z = self._draw(raw, seed, num_samples)
        return zeta, self.prior().log_prob(z) - q.log_prob(z)

    def _sample(self, n, seed):
        """`n` draws (z, ζ) from the prior and the decoded means of ζ."""
        zeta, z = self.sampler(tf.zeros([n, self.latent_dim], self.compute_dtype), seed=seed)
        return {"codes": tf.cast(z, tf.int32), "x_mean": self.decode_latent(zeta)}

    def get_config(self):
        return {
            **super().get_config(),
            "smoothing": self.sampler.function,
            "beta": self.sampler.schedule.get_config(),
            "base": self.sampler.base,
        }
