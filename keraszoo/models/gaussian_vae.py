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

from keraszoo.distributions import gaussian_param_l2
from keraszoo.models.continuous_vae import ContinuousVAE
from keraszoo.models.registry import register_model


@register_model("gaussian_vae")
@keras.saving.register_keras_serializable(package="keraszoo")
class GaussianVAE(ContinuousVAE):
    """VAE with a diagonal Gaussian posterior and a standard normal prior.

    Args: see `keraszoo.models.base.VAE`; `kl` may also be `"param_l2"`.

    Example:

    >>> model = GaussianVAE(data_shape=(8, 8, 1), latent_dim=4, encoder={"name": "mlp", "hidden_units": [32]})
    >>> model.compile(keras.optimizers.Adam(1e-3))
    >>> model.fit(dataset, epochs=1)          # dataset yields float batches in {0, 1}
    >>> model.sample(16, seed=0)["x_mean"].shape
    TensorShape([16, 8, 8, 1])
    """

    kl_choices = ("auto", "analytic", "monte_carlo", "param_l2")

    def __init__(self, data_shape, posterior: str = "gaussian", prior: str = "normal", **kwargs):
        # Saved configs carry posterior="gaussian", prior="normal"; any other value would be
        # silently ignored, so it is an error.
        for name, value, fixed in (("posterior", posterior, "gaussian"), ("prior", prior, "normal")):
            if value != fixed:
                raise ValueError(
                    f"`gaussian_vae` fixes the {name} to {fixed!r}; use `continuous_vae` to choose it. "
                    f"Received: {name}={value!r}"
                )
        super().__init__(data_shape, posterior="gaussian", prior="normal", **kwargs)

    def uses_analytic_kl(self):
        return self.kl != "monte_carlo"

    def encode_outputs(self, q, raw):
        loc, log_scale = tf.split(raw, 2, axis=-1)
        return {"mean": loc, "log_scale": log_scale}

    def kl_terms(self, q, p, z, raw):
        kl, _ = super().kl_terms(q, p, z, raw)
        if self.kl != "param_l2":
            return kl, kl
        params = self.posterior_params(raw)
        return kl, gaussian_param_l2(params["loc"], params["scale"])
