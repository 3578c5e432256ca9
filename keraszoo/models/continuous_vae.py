"""VAE with a continuous latent from any posterior family (Kingma & Welling 2014; Figurnov et
al. 2018 for the implicitly reparameterized families).

    q_φ(z|x) = family(params = EncoderNet_φ(x)),   p(z) = the family's matching prior (or any
    prior whose support contains q's), ELBO = E_q[log p_θ(x|z)] − KL(q ‖ p)

Families (keraszoo.distributions.posteriors): on the real line location-scale (gaussian, laplace,
logistic, student_t, uniform, triangular) and gumbel; with bounded support lognormal, gamma, chi2,
weibull, exponential (positive), beta, kumaraswamy (unit interval) and dirichlet (simplex). A
bounded latent is sampled and scored in an unconstrained coordinate y (log z, logit z, or log z on
the simplex) and the decoder reads z = h(y): log q(y|x) is the exact density of what is sampled,
so the Monte Carlo KL log q(y|x) − log p(y), the importance weights and the score function are
those of the latent the decoder sees, even where float32 rounds z onto the edge of its support.
The encoder gradient comes from the reparameterization or from REINFORCE.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keraszoo.distributions import check_support, get_family, has_analytic_kl, make_latent_prior, make_prior
from keraszoo.models.base import VAE
from keraszoo.models.registry import register_model
from keraszoo.random import replica_slice_noise


@register_model("continuous_vae")
@keras.saving.register_keras_serializable(package="keraszoo")
class ContinuousVAE(VAE):
    """A VAE whose posterior family and prior are chosen by name.

    Args:
        posterior: a name in `keraszoo.distributions.FAMILIES`.
        prior: a name in `keraszoo.distributions.PRIORS`; default: the family's own.
        **kwargs: see `keraszoo.models.base.VAE` (likelihood, kl, estimator, baseline, ...).

    Example:

    >>> model = ContinuousVAE(data_shape=(8, 8, 1), latent_dim=4, posterior="kumaraswamy")
    >>> model.prior().distribution.__class__.__name__   # the matching default prior
    'Beta'
    """

    supports_iwae = True

    def __init__(self, data_shape, posterior: str = "gaussian", prior: str | None = None, **kwargs):
        self.family = get_family(posterior)
        self.prior_name = prior or self.family.default_prior
        check_support(self.family, self.prior_name)
        self.analytic_available = has_analytic_kl(self.family, self.prior_name)
        if kwargs.get("kl") == "analytic" and not self.analytic_available:
            raise ValueError(
                f"TFP has no closed-form KL between the {posterior!r} posterior and the "
                f"{self.prior_name!r} prior. Use kl='monte_carlo' or 'auto'. Received: kl='analytic'"
            )
        super().__init__(data_shape, **kwargs)

    def num_posterior_params(self):
        return len(self.family.params) * self.latent_dim

    def posterior_params(self, raw):
        return self.family.constrain(raw)

    def posterior(self, raw):
        """q(z|x) on the real line; q(y|x) of the coordinate y of a bounded latent."""
        return self.family.distribution(self.posterior_params(raw))

    def prior(self):
        return make_prior(self.prior_name, self.latent_dim, self.compute_dtype)

    def latent_prior(self):
        return make_latent_prior(self.prior_name, self.family.support, self.latent_dim, self.compute_dtype)

    def uses_analytic_kl(self):
        return self.kl == "analytic" or (self.kl == "auto" and self.analytic_available)

    def kl_terms(self, q, p, z, raw):
        if self.uses_analytic_kl():
            # TFP's KLs are registered for the closed-form family, not its transformed form.
            kl = self.family.closed(self.posterior_params(raw)).kl_divergence(self.prior())
            return kl, kl
        return super().kl_terms(q, p, z, raw)

    def sample_posterior(self, q, raw, seed, num_samples):
        """z on the real line, the coordinate y of a bounded latent (`decode_samples` reads
        h(y)); [K, batch, latent].

        Families drawn from noise ε (all but gamma, chi2, beta, dirichlet) slice the global
        batch's noise (`replica_slice_noise`), so a run on N replicas draws what a 1-replica run
        draws. Gamma, chi2, beta and dirichlet come from log-gamma variates, whose rejection
        sampler uses a shape-dependent number of uniforms and needs each example's concentration,
        so the global batch's draws cannot be sliced: each replica folds its id into the seed
        instead, and its draws are independent of the others' but depend on the replica count.
        """
        params = self.posterior_params(raw)
        if not self.family.explicit:
            # keras.random.SeedGenerator gives every tf.distribute replica the same seed.
            ctx = tf.distribute.get_replica_context()
            if ctx is not None and ctx.num_replicas_in_sync > 1:
                seed = tf.random.experimental.stateless_fold_in(seed, ctx.replica_id_in_sync_group)
            z = self.family.sample_implicit(params, num_samples, seed)
        else:
            ref = next(iter(params.values()))
            local_shape = tf.concat([tf.shape(ref)[:1], [num_samples], tf.shape(ref)[1:]], axis=0)
            draw = lambda shape, s: self.family.noise(shape, s, ref.dtype)  # noqa: E731
            eps = tf.experimental.numpy.moveaxis(replica_slice_noise(draw, local_shape, seed), 1, 0)
            z = self.family.sample_from_noise(q, eps)  # [K, batch, latent]
        return z

    def decode_samples(self, z):
        return super().decode_samples(self.family.to_support(z))

    def forward(self, x, seed, training=False):
        terms = super().forward(x, seed, training)
        terms["z"] = self.family.to_support(terms["z"])  # the decoder's input
        return terms

    def posterior_mode(self, q, raw):
        return self.family.closed(self.posterior_params(raw)).mean()

    def encode_outputs(self, q, raw):
        return self.posterior_params(raw)

    def get_config(self):
        return {**super().get_config(), "posterior": self.family.name, "prior": self.prior_name}
