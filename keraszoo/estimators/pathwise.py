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

from keraszoo.estimators.estimator import Estimator, register_estimator


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
