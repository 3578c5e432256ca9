"""Discrete VAE with smoothing transformations (Rolfe 2017; Vahdat et al. 2018, DVAE++ and DVAE#).

    z ∈ {0,1}^M, q(z|x) = Π_i Bern(p_i),  p = σ(EncoderNet_φ(x)),   p(z) = Bern(1/2)^M
    ζ_i = f(β, p_i, ε_i), ε_i ~ U(0, 1)      (the decoder sees ζ; z_i = 1[ε_i ≥ 1 − p_i])

The decoder sees ζ only, so the model is the marginal p(x) = ∫ p_θ(x|ζ) p(ζ) dζ, with the
generative ζ_i = f(β, 1/2, ε_i): the smoothing at the prior's p = 1/2. Writing the smoothing
as r(ζ|z, p) (the law of ζ given z when q(z = 1) = p), the joint laws are

    generative  p(z) · r(ζ|z, 1/2)        variational  q(z|x) · r(ζ|z, p)

Spike smoothings (f1, f2, f2', f2''): given z = 1, u = (ε + p − 1)/p is U(0, 1) whatever p and
ζ = g_β(u); given z = 0, ζ = 0. So r(ζ|z, p) = r(ζ|z) does not depend on p, it cancels in
p(z, ζ)/q(z, ζ|x), and (Rolfe 2017)

    ELBO = E_q[log p_θ(x|ζ)] − KL(q(z|x) ‖ p(z))      (analytic, factorial Bernoulli)
    log w = log p_θ(x|ζ) + log p(z) − log q(z|x)       (importance weights at joint samples)

Overlapping smoothings (f3, f3'): ζ has a density on (0, 1) and r(ζ|z, p) depends on p (z is
the side of 1 − p that ζ falls on), so it does not cancel: the z-space terms above then
estimate neither a bound nor log p(x). Both are computed in ζ-space instead, with the
marginal densities q(ζ_i|x) of f(β, p_i, ε) and p(ζ_i) of f(β, 1/2, ε)
(`keraszoo.distributions.smoothing.log_density`):

    ELBO = E_q[log p_θ(x|ζ)] − KL(q(ζ|x) ‖ p(ζ)),  the KL estimated at the sample ζ:
           log q(ζ|x) − log p(ζ), reparameterized through ζ (also the training regularizer;
           the entropy of q(ζ|x) is closed-form, the cross-entropy E_q[−log p(ζ)] is not)
    log w = log p_θ(x|ζ) + log p(ζ) − log q(ζ|x)

a lower bound and the importance-weighted bound of Burda et al. (2016) on log p(x).

ζ is differentiable in p, so the encoder gets the reconstruction gradient by
reparameterization through the smoothing function; β is annealed towards ∞ by a
`BetaSchedule` of the optimizer step (reported as the per-epoch metric `beta`).
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from keraszoo._checks import check_one_of
from keraszoo.distributions.smoothing import OVERLAPPING_FUNCTIONS, SMOOTHING_FUNCTIONS, log_density
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

    The KL term is the analytic KL(q(z|x) ‖ p(z)) for the spike smoothings and the Monte Carlo
    ζ-space KL for f3 and f3' (`kl="auto"`; `kl="analytic"` is refused for them): see the
    module docstring for why.
    """

    kl_choices = ("auto", "analytic")
    latent_kind = "smoothed"

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
        if smoothing in OVERLAPPING_FUNCTIONS and kwargs.get("kl") == "analytic":
            raise ValueError(
                f"The KL of smoothing {smoothing!r} is KL(q(ζ|x) ‖ p(ζ)), estimated by Monte Carlo "
                f"(kl='auto'); it has no closed form. Received: kl='analytic', smoothing={smoothing!r}"
            )
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

    def sample_posterior(self, q, raw, seed, num_samples):
        return self._draw(raw, seed, num_samples)[0]

    @property
    def overlapping(self) -> bool:
        """Whether ζ has a p-dependent density given z (f3, f3'): then KL and weights are in ζ-space."""
        return self.sampler.function in OVERLAPPING_FUNCTIONS

    def zeta_log_ratio(self, zeta, raw):
        """log q(ζ|x) − log p(ζ), summed over the M latents: [K, batch] for ζ [K, batch, M]."""
        beta = tf.cast(self.sampler.beta, zeta.dtype)
        log_q = log_density(self.sampler.function, beta, tf.sigmoid(raw), zeta)
        log_p = log_density(self.sampler.function, beta, tf.fill(tf.shape(raw)[-1:], 0.5), zeta)
        return tf.reduce_sum(log_q - log_p, axis=-1)

    def kl_terms(self, q, p, z, raw):
        if not self.overlapping:
            return super().kl_terms(q, p, z, raw)
        kl = self.zeta_log_ratio(z, raw)  # `z` is the decoder's input, ζ [K, batch, M]
        return kl, kl

    def importance_sample(self, q, raw, seed, num_samples):
        zeta, z = self._draw(raw, seed, num_samples)
        if self.overlapping:
            return zeta, -self.zeta_log_ratio(zeta, raw)
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
