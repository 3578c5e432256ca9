"""VAEs with discrete latents (Jang et al. 2017, "Categorical Reparameterization with
Gumbel-Softmax"; Maddison et al. 2017, "The Concrete Distribution").

    categorical_vae:  z = N independent one-hot vectors of M classes; q = Π_n Cat(softmax l_n),
                      p = uniform; KL = Σ_n Σ_i q_ni log(q_ni M)
    bernoulli_vae:    z ∈ {0, 1}^M;  q = Π_i Bern(σ(l_i)), p = Bern(1/2)^M;
                      KL = Σ_i q_i log 2q_i + (1 − q_i) log 2(1 − q_i)

Encoder gradient, by name (`estimator`, any of `keraszoo.estimators.estimator_names(kind)` for
the family's latent kind), e.g.:
    straight_through      exact sample forward, ∂ softmax(l) / ∂ σ(l) backward (Bengio et al. 2013)
    gumbel_softmax        relaxed samples in training, τ annealed by a TemperatureSchedule
    gumbel_softmax_hard   ST Gumbel-softmax: exact sample forward, relaxed gradient
    reinforce             score function with the baselines of keraszoo.estimators
The family offers the estimators its samplers from logits and uniform noise (`draw_latents`
with `exact_sample`, `straight_through_sample` or `relaxed_sample`).

KL: both families have the closed form above, so `kl="auto"` and `kl="analytic"` both use it
(`uses_analytic_kl()` is True). Its gradient is taken directly, and REINFORCE's learning signal
is log p(x|z) alone:
    ∇_φ ELBO = E_q[log p(x|z) ∇_φ log q_φ(z|x)] − ∇_φ KL(q_φ ‖ p)
(the −KL in the signal would be a constant in z: zero in expectation, but added variance).

Training metrics of `gumbel_softmax` are computed at the relaxed sample (the objective that is
optimised); evaluation (`evaluate`, `elbo`, `log_likelihood`, validation metrics) uses exact
discrete samples, so the reported −ELBO and NLL are true bounds. `elbo(x, relaxed=True)` gives
the relaxed-sample figure Jang et al. (2017) report, at the trained τ.
"""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from keraszoo._checks import check_positive
from keraszoo.distributions import bernoulli_kl_uniform, categorical_kl_uniform
from keraszoo.estimators import (
    bernoulli_sample,
    categorical_sample,
    gumbel_softmax,
    relaxed_bernoulli,
    straight_through_bernoulli,
    straight_through_categorical,
)
from keraszoo.layers import GumbelSigmoid, GumbelSoftmax
from keraszoo.models.base import VAE, check_batch
from keraszoo.models.registry import register_model

tfd = tfp.distributions

DEFAULT_TEMPERATURE = {"initial": 1.0, "minimum": 0.5, "rate": 1e-4, "every": 500}


class DiscreteVAE(VAE):
    """Shared machinery of the discrete-latent VAEs. Subclasses set the latent layout."""

    kl_choices = ("auto", "analytic")
    default_estimator = "gumbel_softmax"
    sampler_class: type = GumbelSoftmax

    def __init__(self, data_shape, latent_dim, temperature=None, seed=None, **kwargs):
        # The sampler holds τ (annealed in training) and draws the noise; which sample the
        # estimator makes of it (exact, straight-through, relaxed, hard) is the estimator's choice.
        self.sampler = self.sampler_class(
            temperature=DEFAULT_TEMPERATURE if temperature is None else temperature,
            # Inside the model the sampler always receives the model's step seed; its own
            # generator only serves standalone calls.
            seed=seed,
            name="sampler",
        )
        super().__init__(data_shape, latent_dim=latent_dim, seed=seed, **kwargs)

    def annealed(self):
        return self.sampler if self.relaxes_latents else None

    @property
    def relaxes_latents(self):
        return self.estimator.relaxed

    # Subclass layout: logits shape per example and the samplers from (logits, noise): the noise
    # is the sampler's (Gumbel for categorical, logistic for Bernoulli latents).
    logits_shape: tuple[int, ...] = ()
    exact_sample = None  # (logits, noise) → an exact sample, no gradient
    straight_through_sample = None  # (logits, noise) → the exact sample, ∂ of its mean
    relaxed_sample = None  # (logits, noise, τ, hard) → the Concrete sample (or its ST version)

    def num_posterior_params(self):
        return self.latent_dim

    def _logits(self, raw):
        return tf.reshape(raw, tf.concat([tf.shape(raw)[:1], self.logits_shape], axis=0))

    latent_logits = _logits

    def draw_latents(self, raw, seed, num_samples, sample):
        """`sample(logits, noise)` at `num_samples` draws of the noise per example: [K, batch, ...]."""
        logits = self._logits(raw)
        # [batch, K, ...]: the noise is sliced per replica along the batch axis.
        tiled = tf.repeat(logits[:, None], num_samples, axis=1)
        z = sample(tiled, self.sampler.noise(tf.shape(tiled), seed))
        return tf.experimental.numpy.moveaxis(z, 1, 0)

    def sample_posterior(self, q, raw, seed, num_samples):
        return self.draw_latents(raw, seed, num_samples, self.exact_sample)

    def get_config(self):
        return {**super().get_config(), "temperature": self.sampler.schedule.get_config()}


@register_model("categorical_vae")
@keras.saving.register_keras_serializable(package="keraszoo")
class CategoricalVAE(DiscreteVAE):
    """N independent categorical latents of M classes each (Jang et al. 2017: N=20, M=10).

    Args:
        num_variables: N.
        num_classes: M.
        temperature: τ for the Gumbel-softmax estimators: a float or a `TemperatureSchedule`
            config (default: τ = max(0.5, exp(−1e-4·t)), updated every 500 steps).
        estimator: see the module docstring; baselines as in `keraszoo.models.base.VAE`.
        **kwargs: see `keraszoo.models.base.VAE`.

    `encode` returns `probs` [batch, N, M] and `codes` [batch, N] (argmax); `decode` takes
    integer `codes` [batch, N].
    """

    latent_kind = "categorical"
    exact_sample = staticmethod(categorical_sample)
    straight_through_sample = staticmethod(straight_through_categorical)
    relaxed_sample = staticmethod(gumbel_softmax)

    def __init__(self, data_shape, num_variables: int = 20, num_classes: int = 10, **kwargs):
        check_positive("num_variables", num_variables, integer=True)
        check_positive("num_classes", num_classes, integer=True)
        if num_classes < 2:
            raise ValueError(f"Expected `num_classes` >= 2. Received: num_classes={num_classes}")
        # Derived: N·M. Saved configs carry it; any other value would be ignored, so it is an error.
        latent_dim = kwargs.pop("latent_dim", num_variables * num_classes)
        if latent_dim != num_variables * num_classes:
            raise ValueError(
                "`categorical_vae` derives latent_dim = num_variables × num_classes "
                f"= {num_variables * num_classes}; set those instead. Received: latent_dim={latent_dim!r}"
            )
        self.num_variables, self.num_classes = num_variables, num_classes
        self.logits_shape = (num_variables, num_classes)
        super().__init__(data_shape, latent_dim=num_variables * num_classes, **kwargs)

    def posterior(self, raw):
        return tfd.Independent(tfd.OneHotCategorical(logits=self._logits(raw), dtype=raw.dtype), 1)

    def prior(self):
        logits = tf.zeros(self.logits_shape, self.compute_dtype)
        return tfd.Independent(tfd.OneHotCategorical(logits=logits, dtype=self.compute_dtype), 1)

    def uses_analytic_kl(self):
        return True  # `kl_terms` is the closed form for "auto" and "analytic" alike

    def kl_terms(self, q, p, z, raw):
        kl = tf.reduce_sum(categorical_kl_uniform(self._logits(raw)), axis=-1)  # over the N variables
        return kl, kl

    def posterior_mode(self, q, raw):
        logits = self._logits(raw)
        return tf.one_hot(tf.argmax(logits, axis=-1), self.num_classes, dtype=logits.dtype)

    def encode_outputs(self, q, raw):
        logits = self._logits(raw)
        return {"probs": tf.nn.softmax(logits), "codes": tf.argmax(logits, axis=-1, output_type=tf.int32)}

    def decode(self, codes):
        """E[x | z] for integer codes [batch, N] in [0, M)."""
        codes = check_batch("codes", tf.convert_to_tensor(codes), (self.num_variables,))
        return self.decode_latent(tf.one_hot(tf.cast(codes, tf.int32), self.num_classes))

    def decode_spec(self):
        return tf.TensorSpec([None, self.num_variables], tf.int32, name="codes")

    def _sample(self, n, seed):
        out = super()._sample(n, seed)
        return {"codes": tf.argmax(out.pop("z"), axis=-1, output_type=tf.int32), **out}

    @classmethod
    def example_config(cls):
        config = {**super().example_config(), "num_variables": 3, "num_classes": 4}
        config.pop("latent_dim")  # derived: N·M
        return config

    def get_config(self):
        return {**super().get_config(), "num_variables": self.num_variables, "num_classes": self.num_classes}


class BinaryLatents:
    """M independent binary latents with a uniform Bernoulli prior (shared by `bernoulli_vae` and `dvae`)."""

    def posterior(self, raw):
        return tfd.Independent(tfd.Bernoulli(logits=raw, dtype=raw.dtype), 1)

    def prior(self):
        logits = tf.zeros([self.latent_dim], self.compute_dtype)
        return tfd.Independent(tfd.Bernoulli(logits=logits, dtype=self.compute_dtype), 1)

    def uses_analytic_kl(self):
        return True  # `kl_terms` is the closed form for "auto" and "analytic" alike

    def kl_terms(self, q, p, z, raw):
        kl = bernoulli_kl_uniform(raw)
        return kl, kl

    def posterior_mode(self, q, raw):
        return tf.cast(raw > 0, raw.dtype)

    def encode_outputs(self, q, raw):
        return {"probs": tf.sigmoid(raw), "codes": tf.cast(raw > 0, tf.int32)}

    def decode(self, codes):
        """E[x | z] for binary codes [batch, M]."""
        return self.decode_latent(check_batch("codes", tf.convert_to_tensor(codes), (self.latent_dim,)))

    def decode_spec(self):
        return tf.TensorSpec([None, self.latent_dim], tf.int32, name="codes")


@register_model("bernoulli_vae")
@keras.saving.register_keras_serializable(package="keraszoo")
class BernoulliVAE(BinaryLatents, DiscreteVAE):
    """M independent binary latents with a uniform Bernoulli prior.

    Args:
        latent_dim: M.
        temperature, estimator, **kwargs: as `CategoricalVAE` (the relaxation is the binary
            Concrete, `GumbelSigmoid`).

    `encode` returns `probs` [batch, M] and `codes` [batch, M] in {0, 1}; `decode` takes codes.
    """

    latent_kind = "bernoulli"
    sampler_class = GumbelSigmoid
    exact_sample = staticmethod(bernoulli_sample)
    straight_through_sample = staticmethod(straight_through_bernoulli)
    relaxed_sample = staticmethod(relaxed_bernoulli)

    def __init__(self, data_shape, latent_dim: int = 200, **kwargs):
        check_positive("latent_dim", latent_dim, integer=True)
        self.logits_shape = (latent_dim,)
        super().__init__(data_shape, latent_dim=latent_dim, **kwargs)

    def _sample(self, n, seed):
        out = super()._sample(n, seed)
        return {"codes": tf.cast(out.pop("z"), tf.int32), **out}
