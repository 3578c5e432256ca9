"""Encoder-gradient estimators as objects that own their surrogate loss, chosen once by name.

A VAE's training objective is an expectation over its latent samples, J(φ, θ) = E_{q_φ(z|x)}[…];
its gradient in the decoder's weights θ is an ordinary Monte Carlo gradient, but its gradient
in the encoder's weights φ has to pass the sampling of z. An estimator decides how (the shape of
TFP's `vi.monte_carlo_variational_loss(..., gradient_estimator=...)`):

    sample(model, q, params, seed, training)    the K latent samples z [K, batch, ...], with or
                                                without a gradient path (reparameterized,
                                                straight-through, relaxed, or constant)
    surrogate(model, x, q, params, samples, training)
                                                the per-example training objective [batch]: a
                                                tensor whose value is what training reports and
                                                whose gradient is the estimator's

The model knows nothing of which estimator it has: its `forward` asks the estimator for an
`Estimate` and reports the ELBO terms of its samples. A new estimator is one class here
(registered with `@register_estimator("name")`) plus its tests; models and training code pick
it up by name (`model_config.estimator`). This registry is the only place names are spelled.

Which estimators a model accepts follows from what each declares:

    latents       the latent kinds it applies to ("continuous": reparameterizable families;
                  "bernoulli", "categorical": discrete latents sampled exactly from logits;
                  "smoothed": binary latents read through a smoothing (DVAE))
    objectives    the training objectives whose gradient it estimates: "elbo" (the K-sample
                  ELBO) and/or "iwae" (the importance-weighted bound of Burda et al. 2016); the
                  first is the default when a model is given no `objective`
    uses_baseline whether the model's REINFORCE `baseline` option applies
    relaxed       whether training scores relaxed samples of discrete latents (Gumbel-softmax)

What an estimator may call on a model (`keraszoo.models.base.VAE` and its families):
`posterior(params)`, `sample_posterior(q, params, seed, K)` (reparameterized where the family
allows it, exact for discrete latents), `evaluate_samples(x, q, params, z)` (decoder outputs,
log p(x|z) and the KL terms at z: a `Samples`), `decode_samples`, `log_px`, `latent_prior()`,
`uses_analytic_kl()`, `num_samples`, `objective`, `baseline`; discrete families also
`latent_logits(params)`, `draw_latents(params, seed, K, sample)`, `exact_sample`,
`straight_through_sample`, `relaxed_sample` and `sampler` (the noise and the temperature τ).
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from keraszoo._checks import check_one_of

LATENT_KINDS = ("continuous", "bernoulli", "categorical", "smoothed")


@dataclasses.dataclass
class Samples:
    """Per-sample terms at K latent samples of a batch, as the model computes them.

    z:           [K, batch, ...] the samples (in the coordinate the posterior scores), with the
                 estimator's gradient path
    outputs:     [K, batch, ...] decoder outputs at z
    log_px:      [K, batch] log p(x|z)
    kl:          [K, batch] the KL term reported in the ELBO (analytic: the same for every k)
    regularizer: [K, batch] what training puts in its place (the KL, or an alternative), times
                 kl_weight
    kl_weight:   the KL warm-up weight w of training (1 otherwise): the objectives use
                 w·regularizer, and w·(log p(z) − log q(z|x)) in log importance weights
    """

    z: tf.Tensor
    outputs: tf.Tensor
    log_px: tf.Tensor
    kl: tf.Tensor
    regularizer: tf.Tensor
    kl_weight: tf.Tensor | float = 1.0


@dataclasses.dataclass
class Estimate:
    """What `forward` reports (the ELBO terms of `samples`) and what training minimises
    (`objective`, per example: its gradient is the estimator's)."""

    samples: Samples
    objective: tf.Tensor


def zero_valued(surrogate: tf.Tensor) -> tf.Tensor:
    """surrogate − sg(surrogate): value 0, gradient ∇ surrogate."""
    return surrogate - tf.stop_gradient(surrogate)


def log_weights(model, q, samples: Samples) -> tf.Tensor:
    """log w_k = log p(x|z_k) + log p(z_k) − log q(z_k|x), [K, batch] (in training with a KL
    warm-up, the prior ratio times `samples.kl_weight`)."""
    return samples.log_px + samples.kl_weight * (
        model.latent_prior().log_prob(samples.z) - q.log_prob(samples.z)
    )


def negative_elbo(model, q, samples: Samples) -> tf.Tensor:
    """−(1/K) Σ_k [log p(x|z_k) − regularizer_k]: the K-sample −ELBO estimate, [batch]."""
    return tf.reduce_mean(-samples.log_px + samples.regularizer, axis=0)


def negative_iwae(model, q, samples: Samples) -> tf.Tensor:
    """−L_K = −log (1/K) Σ_k w_k (Burda et al. 2016), [batch]."""
    log_w = log_weights(model, q, samples)
    k = tf.cast(tf.shape(log_w)[0], log_w.dtype)
    return -(tf.reduce_logsumexp(log_w, axis=0) - tf.math.log(k))


OBJECTIVES = {"elbo": negative_elbo, "iwae": negative_iwae}


class Estimator:
    """Base class: the pathwise gradient of the model's objective at the family's own samples
    (reparameterized where the family allows it). Subclasses override `sample` (how z keeps or
    loses its gradient path) and/or `surrogate` (what is minimised), or `estimate` when they need
    more decoder evaluations than the K samples (antithetic pairs, relaxed control variates)."""

    name = ""  # set by `register_estimator`
    latents: tuple[str, ...] = ()
    objectives: tuple[str, ...] = ("elbo",)
    uses_baseline = False
    relaxed = False

    # ---------------------------------------------------------------- checks
    def check(self, model) -> None:
        """Raises a ValueError naming the argument when `model` cannot use this estimator
        (`model.latent_kind`, `model.objective`, `model.num_samples`, `model.kl`)."""
        if model.objective not in self.objectives:
            raise ValueError(
                f"Estimator {self.name!r} estimates the gradient of the {' or '.join(self.objectives)} "
                f"objective. Received: objective={model.objective!r} with {type(model).__name__}, "
                f"estimator={self.name!r}"
            )

    def control_variate(self, model):
        """A layer of learned estimator state that the model owns and saves (REBAR's and RELAX's
        control variate, `model.control_variate`), built for `model`; None: the estimator has none."""
        return None

    # ---------------------------------------------------------------- the estimate
    def sample(self, model, q, params, seed, training: bool) -> tf.Tensor:
        """z [K, batch, ...] with this estimator's gradient path."""
        return model.sample_posterior(q, params, seed, model.num_samples)

    def surrogate(self, model, x, q, params, samples: Samples, training: bool) -> tf.Tensor:
        """The per-example training objective [batch] (value and gradient)."""
        return OBJECTIVES[model.objective](model, q, samples)

    def estimate(self, model, x, params, seed, training: bool = False) -> Estimate:
        """The samples of a batch and the training objective, from the encoder output `params`."""
        q = model.posterior(params)
        z = self.sample(model, q, params, seed, training)
        samples = model.evaluate_samples(x, q, params, z, training=training)
        return Estimate(samples, self.surrogate(model, x, q, params, samples, training))


_REGISTRY: dict[str, type[Estimator]] = {}


def register_estimator(name: str):
    """Class decorator: registers an `Estimator` subclass under `name`."""

    def decorator(cls):
        if name in _REGISTRY:
            raise ValueError(f"Estimator {name!r} is already registered (by {_REGISTRY[name].__name__}).")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorator


def estimator_names(latent: str | None = None, objective: str | None = None) -> tuple[str, ...]:
    """Registered names, in registration order, of the estimators for a latent kind and objective."""
    if latent is not None:
        check_one_of("latent", latent, LATENT_KINDS)
    return tuple(
        name
        for name, cls in _REGISTRY.items()
        if (latent is None or latent in cls.latents) and (objective is None or objective in cls.objectives)
    )


def get_estimator(name: str, latent: str | None = None) -> Estimator:
    """A new estimator `name`, which must apply to latents of kind `latent` (None: any)."""
    check_one_of("estimator", name, estimator_names(latent))
    return _REGISTRY[name]()
