"""Zoo models, one file per family, resolved by name through the registry."""

from keraszoo.models.base import VAE, ZooModel
from keraszoo.models.continuous_vae import ContinuousVAE
from keraszoo.models.discrete_vae import BernoulliVAE, CategoricalVAE, DiscreteVAE
from keraszoo.models.dvae import DVAE
from keraszoo.models.gaussian_vae import GaussianVAE
from keraszoo.models.registry import available_models, build_model, get_model_class, register_model
from keraszoo.models.vqvae import VQVAE, CodePrior

__all__ = [
    "DVAE",
    "VAE",
    "VQVAE",
    "ZooModel",
    "CodePrior",
    "BernoulliVAE",
    "CategoricalVAE",
    "DiscreteVAE",
    "ContinuousVAE",
    "GaussianVAE",
    "available_models",
    "build_model",
    "get_model_class",
    "register_model",
]
