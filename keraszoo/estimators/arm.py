"""ARM and DisARM: antithetic, unbiased gradients for Bernoulli latents.

For z ~ Π_m Bern(σ(α_m)) (α the encoder's logits) and u ~ U(0, 1)^M, the antithetic pair

    b = 1[1 − u < σ(α)] = 1[α + L > 0],   b̃ = 1[u < σ(α)] = 1[α − L > 0],   L = log u − log(1 − u)

are both exact Bern(σ(α)) samples (u ↔ 1 − u). With f(z) = log p(x|z) (the ELBO's terms that
reach α only through z; the analytic KL's gradient is taken directly, as for REINFORCE):

    ARM (Yin & Zhou 2019):                 ∇_α E[f(z)] = E_u[ (f(b) − f(b̃)) (u − ½) ]
    DisARM (Dong, Mnih & Tucker 2020):     ∇_α E[f(z)] = E_u[ ½ (f(b) − f(b̃)) (−1)^{b̃} 1[b ≠ b̃] σ(|α|) ]

DisARM is ARM with u integrated out given (b, b̃): the same expectation with lower variance
(Rao-Blackwellized; Dong et al. 2020, Theorem 1), and it is exactly 0 in every coordinate where
the pair agrees. Per example, each of the K = `num_samples` pairs costs two decoder passes; the
decoder gets the average of the 2K samples' gradients and the reported ELBO is their mean.

Categorical latents: not implemented. Yin et al.'s ARS/ARSM (2019) and Dong, Mnih & Tucker's
(2021) coupled categorical estimators are unbiased, but they need up to M(M − 1)/2 decoder
passes per variable (ARSM's swap set) or a stick-breaking coupling that does not reduce to a
pair of samples, so they are not a drop-in of the pair above.
"""

from __future__ import annotations

import tensorflow as tf

from keraszoo.estimators.estimator import Estimate, Estimator, register_estimator, zero_valued


def disarm_weights(logits: tf.Tensor, b: tf.Tensor, b_tilde: tf.Tensor) -> tf.Tensor:
    """(−1)^{b̃} 1[b ≠ b̃] σ(|α|) (Dong et al. 2020): the per-coordinate factor of ½ (f(b) − f(b̃))."""
    sign = 1.0 - 2.0 * b_tilde
    return sign * tf.cast(tf.not_equal(b, b_tilde), logits.dtype) * tf.sigmoid(tf.abs(logits))


class _Antithetic(Estimator):
    """Shared estimate of ARM and DisARM; subclasses give the per-coordinate gradient factor."""

    latents = ("bernoulli",)

    def factor(self, logits, logistic, b, b_tilde, difference):
        """∂E[f]/∂α per pair, [K, batch, M], from f(b) − f(b̃) [K, batch, 1]."""
        raise NotImplementedError

    def estimate(self, model, x, params, seed, training=False):
        q = model.posterior(params)
        k = model.num_samples
        logits = model.latent_logits(params)  # [batch, M]
        logistic = model.draw_latents(params, seed, k, lambda _, noise: noise)  # L, [K, batch, M]
        b = model.exact_sample(logits, logistic)
        b_tilde = model.exact_sample(logits, -logistic)
        samples = model.evaluate_samples(
            x, q, params, tf.stop_gradient(tf.concat([b, b_tilde], axis=0)), training=training
        )
        signal = (
            samples.log_px if model.uses_analytic_kl() else samples.log_px - samples.kl_weight * samples.kl
        )
        difference = (signal[:k] - signal[k:])[..., None]  # f(b) − f(b̃), [K, batch, 1]
        grad = tf.reduce_mean(self.factor(logits, logistic, b, b_tilde, difference), axis=0)  # [batch, M]
        # −ELBO over the 2K samples (θ-gradient: their average; the KL's own gradient), plus the
        # zero-valued −Σ_m sg(ĝ_m) α_m that carries the estimate of −∇_α E[f(z)].
        objective = tf.reduce_mean(-samples.log_px + samples.regularizer, axis=0)
        objective += zero_valued(-tf.reduce_sum(tf.stop_gradient(grad) * logits, axis=-1))
        return Estimate(samples, objective)


@register_estimator("arm")
class ARM(_Antithetic):
    """Augment-REINFORCE-merge (Yin & Zhou 2019): (f(b) − f(b̃)) (u − ½), u = σ(L)."""

    def factor(self, logits, logistic, b, b_tilde, difference):
        return difference * (tf.sigmoid(logistic) - 0.5)


@register_estimator("disarm")
class DisARM(_Antithetic):
    """DisARM (Dong, Mnih & Tucker 2020): ½ (f(b) − f(b̃)) (−1)^{b̃} 1[b ≠ b̃] σ(|α|)."""

    def factor(self, logits, logistic, b, b_tilde, difference):
        return 0.5 * difference * disarm_weights(logits, b, b_tilde)
