"""Pathwise estimators: the gradient passes through the sample z itself.

    reparameterization   z = g(φ, x, ε) keeps its gradient path (Kingma & Welling 2014); for
                         the ELBO or the IWAE bound (Burda et al. 2016)
    straight_through     discrete z: the exact sample forward, the gradient of its mean
                         (softmax(l) or σ(l)) backward (Bengio et al. 2013)
    gumbel_softmax       discrete z: relaxed samples y = softmax((log_softmax(l) + g)/τ) in training
                         (Jang et al. 2017; Maddison et al. 2017), exact samples in evaluation
    gumbel_softmax_hard  the exact sample forward, the relaxed sample's gradient backward ("ST
                         Gumbel-softmax", Jang et al. 2017)

Straight-through and Gumbel-softmax are biased estimators of the ELBO's gradient (by design);
reparameterization is unbiased.
"""

from __future__ import annotations

import tensorflow as tf

from keraszoo.estimators.estimator import Estimator, log_weights, register_estimator, zero_valued


@register_estimator("reparameterization")
class Reparameterization(Estimator):
    """The family's reparameterized sample z = g(φ, x, ε) (the smoothing's, for the DVAE)."""

    latents = ("continuous", "smoothed")
    objectives = ("elbo", "iwae")

    def check(self, model):
        super().check(model)
        if model.objective == "iwae" and not model.supports_iwae:
            raise ValueError(
                "The importance-weighted objective needs log p(z) − log q(z|x) to be a density ratio "
                f"at the decoder's input, which {type(model).__name__} does not have. Received: "
                f"objective='iwae' with {type(model).__name__}, estimator={self.name!r}"
            )


@register_estimator("straight_through")
class StraightThrough(Estimator):
    """An exact discrete sample whose gradient is that of its mean (Bengio et al. 2013)."""

    latents = ("bernoulli", "categorical")

    def sample(self, model, q, params, seed, training):
        return model.draw_latents(params, seed, model.num_samples, model.straight_through_sample)


@register_estimator("gumbel_softmax")
class GumbelSoftmax(Estimator):
    """Relaxed samples at the model's temperature τ in training; exact samples otherwise, so the
    reported ELBO of an evaluation is a bound (Jang et al. 2017; Maddison et al. 2017)."""

    latents = ("bernoulli", "categorical")
    relaxed = True
    hard = False

    def sample(self, model, q, params, seed, training):
        if not training:
            return model.sample_posterior(q, params, seed, model.num_samples)
        tau = model.sampler.temperature

        def relaxed(logits, noise):
            return model.relaxed_sample(logits, noise, tf.cast(tau, logits.dtype), self.hard)

        return model.draw_latents(params, seed, model.num_samples, relaxed)


@register_estimator("gumbel_softmax_hard")
class GumbelSoftmaxHard(GumbelSoftmax):
    """The exact sample forward, the Gumbel-softmax sample's gradient backward (Jang et al. 2017)."""

    hard = True


def _stopped_log_weights(model, params, samples):
    """log p(x|z) + log p(z) − log q_{sg(φ)}(z|x): the density ratio with q's parameters held
    fixed, so its φ-gradient is the path derivative through z(φ) alone, [K, batch]."""
    return log_weights(model, model.posterior(tf.stop_gradient(params)), samples)


class _DensityRatioPathwise(Reparameterization):
    """Pathwise estimators that differentiate log w = log p(x, z) − log q(z|x) through z with
    q's parameters held fixed: the family must score its samples (a density ratio at the
    decoder's input) and train the Monte Carlo form of the bound, whatever `kl` reports."""

    latents = ("continuous",)

    def check(self, model):
        super().check(model)
        if not model.supports_iwae:
            raise ValueError(
                f"Estimator {self.name!r} differentiates log p(x, z) − log q(z|x) through z, which "
                f"{type(model).__name__} does not score. Received: estimator={self.name!r}"
            )
        if model.kl not in ("auto", "analytic", "monte_carlo"):
            raise ValueError(
                f"Estimator {self.name!r} trains the Monte Carlo bound itself, not a regularizer in "
                f"place of the KL. Received: kl={model.kl!r}, estimator={self.name!r}"
            )


@register_estimator("stl")
class StickingTheLanding(_DensityRatioPathwise):
    """ "Sticking the landing" (Roeder, Wu & Duvenaud 2017): the path derivative of the ELBO.

        ∇_φ ELBO = E_ε[ ∂/∂z (log p(x, z) − log q_φ(z|x)) · ∂z/∂φ ] − E_q[∇_φ log q_φ(z|x)]

    The last term (the score's expectation) is zero, so dropping it leaves an unbiased estimate;
    its variance vanishes when q is the exact posterior (then log p(x, z) − log q(z|x) = log p(x)
    is constant in z). Surrogate: (1/K) Σ_k [log p(x, z_k) − log q_{sg(φ)}(z_k|x)], whose
    θ-gradient is the ordinary one. The reported value is the model's −ELBO estimate (with its
    analytic KL, if it uses one).
    """

    objectives = ("elbo",)

    def surrogate(self, model, x, q, params, samples, training):
        value = super().surrogate(model, x, q, params, samples, training)
        log_w = _stopped_log_weights(model, params, samples)
        return tf.stop_gradient(value) + zero_valued(-tf.reduce_mean(log_w, axis=0))


@register_estimator("dreg")
class DoublyReparameterized(_DensityRatioPathwise):
    """Doubly reparameterized gradients of the IWAE bound (Tucker, Lawson, Gu & Maddison 2019).

    For L_K = log (1/K) Σ_i w_i with z_i = g_φ(ε_i) and normalized weights w̃_i = w_i / Σ_j w_j,

        ∇_φ L_K = E[ Σ_i w̃_i² ∂ log w_i/∂z_i · ∂z_i/∂φ ]      (q's parameters fixed in log w_i)
        ∇_θ L_K = E[ Σ_i w̃_i ∇_θ log p_θ(x|z_i) ]             (the IWAE gradient, unchanged)

    (the score terms E[w̃_i ∇_φ log q] are rewritten by a second reparameterization, which is
    what makes the encoder gradient's signal-to-noise ratio not decay with K as plain IWAE's
    does, Rainforth et al. 2018). Surrogate, with log w^sg_i the weight with q's parameters
    stopped:

        Σ_i sg(w̃_i²) log w^sg_i(z_i) + Σ_i sg(w̃_i − w̃_i²) log p_θ(x | sg(z_i))

    The first sum's θ-gradient is Σ w̃_i² ∇_θ log p(x|z_i); the second, a decoder pass at the
    stopped samples, tops it up to Σ w̃_i ∇_θ log p(x|z_i) and sends nothing to φ. Value: −L_K.
    """

    objectives = ("iwae",)

    def surrogate(self, model, x, q, params, samples, training):
        value = super().surrogate(model, x, q, params, samples, training)  # −L_K
        log_w = _stopped_log_weights(model, params, samples)
        weights = tf.stop_gradient(tf.nn.softmax(log_w, axis=0))  # w̃ (q fixed or not: same values)
        log_px_stopped = model.log_px(model.decode_samples(tf.stop_gradient(samples.z)), x)
        dreg = tf.reduce_sum(tf.square(weights) * log_w + (weights - tf.square(weights)) * log_px_stopped, 0)
        return tf.stop_gradient(value) + zero_valued(-dreg)
