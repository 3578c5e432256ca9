"""Zoo models, one file per family, resolved by name through the registry.

Every module of this package is imported here, so a new family registers itself
(`@register_model`) by being a file in this folder: nothing else needs an edit.
"""

import importlib as _importlib
import pkgutil as _pkgutil

from keraszoo.models.base import VAE, ZooModel
from keraszoo.models.continuous_vae import ContinuousVAE
from keraszoo.models.discrete_vae import BernoulliVAE, CategoricalVAE, DiscreteVAE
from keraszoo.models.dvae import DVAE
from keraszoo.models.gaussian_vae import GaussianVAE
from keraszoo.models.registry import available_models, build_model, get_model_class, register_model
from keraszoo.models.vqvae import VQVAE, CodePrior

for _module in _pkgutil.iter_modules(__path__):
    _importlib.import_module(f"{__name__}.{_module.name}")

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
