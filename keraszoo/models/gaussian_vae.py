"""The Gaussian VAE of Kingma & Welling (2014), tutorial §1 / SPEC §1.

    (µ, log σ) = EncoderNet_φ(x),   q_φ(z|x) = N(z; µ, diag σ²),   p(z) = N(0, I)
    z = µ + σ ⊙ ε,  ε ~ N(0, I)                                   (reparameterization)
    KL(q ‖ p) = Σ_j −log σ_j + (σ_j² + µ_j²)/2 − 1/2              (analytic)

`kl="param_l2"` trains with the tutorial's alternative regularizer Σ_j µ_j² + (σ_j − 1)²
(not a bound); the reported `neg_elbo` and `kl` keep the true analytic KL.
"""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from keraszoo.distributions import analytic_kl, gaussian_param_l2
from keraszoo.models.base import VAE
from keraszoo.models.registry import register_model
from keraszoo.random import replica_slice_noise

tfd = tfp.distributions


@register_model("gaussian_vae")
@keras.saving.register_keras_serializable(package="keraszoo")
class GaussianVAE(VAE):
    """VAE with a diagonal Gaussian posterior and a standard normal prior.

    Args: see `keraszoo.models.base.VAE`; `kl` may also be `"param_l2"`.

    Example:

    >>> model = GaussianVAE(data_shape=(8, 8, 1), latent_dim=4, encoder={"name": "mlp", "hidden_units": [32]})
    >>> model.compile(keras.optimizers.Adam(1e-3))
    >>> model.fit(dataset, epochs=1)          # dataset yields float batches in {0, 1}
    >>> model.sample(16, seed=0)["x_mean"].shape
    TensorShape([16, 8, 8, 1])
    """

    kl_choices = ("analytic", "monte_carlo", "param_l2")

    def num_posterior_params(self):
        return 2 * self.latent_dim

    def _loc_log_scale(self, params):
        loc, log_scale = tf.split(params, 2, axis=-1)
        return loc, log_scale

    def posterior(self, params):
        loc, log_scale = self._loc_log_scale(params)
        return tfd.MultivariateNormalDiag(loc=loc, scale_diag=tf.exp(log_scale))

    def prior(self):
        zeros = tf.zeros([self.latent_dim], self.compute_dtype)
        return tfd.MultivariateNormalDiag(loc=zeros, scale_diag=tf.ones_like(zeros))

    def sample_posterior(self, q, params, seed):
        loc, log_scale = self._loc_log_scale(params)
        eps = replica_slice_noise(
            lambda shape, s: tf.random.stateless_normal(shape, s, dtype=loc.dtype),
            tf.shape(loc),
            seed,
        )
        return loc + tf.exp(log_scale) * eps

    def posterior_mode(self, q, params):
        return self._loc_log_scale(params)[0]

    def encode_outputs(self, q, params):
        loc, log_scale = self._loc_log_scale(params)
        return {"mean": loc, "log_scale": log_scale}

    def kl_terms(self, q, p, z, params):
        if self.kl != "param_l2":
            return super().kl_terms(q, p, z, params)
        loc, log_scale = self._loc_log_scale(params)
        return analytic_kl(q, p), gaussian_param_l2(loc, tf.exp(log_scale))
