"""Bernoulli VAE of Jang et al. (2017), Table 1: 200 binary latents (the same 200 dimensions as
the categorical 20×10; our reading of the paper), encoder 784-512-256, decoder mirrored,
Bernoulli likelihood, uniform prior, the categorical recipe's τ schedule, optimiser and budget
(250 passes, early stopping after 30 without improvement).
Published −ELBO: 112.2 (score function), 116.0 (ST), 105.0 (Gumbel-softmax), 111.5 (ST Gumbel).
"""

from keraszoo.recipes.categorical_vae_mnist import get_config as _categorical


def get_config(smoke: bool = False) -> dict:
    config = _categorical(smoke)
    model_config = {
        k: v for k, v in config["model_config"].items() if k not in ("num_variables", "num_classes")
    }
    return {**config, "model": "bernoulli_vae", "model_config": {**model_config, "latent_dim": 200}}
