"""keraszoo: a Keras 3 / TensorFlow zoo of continuous and discrete variational autoencoders."""

__version__ = "0.1.0"

from keraszoo.models import (
    DVAE,
    VQVAE,
    BernoulliVAE,
    CategoricalVAE,
    ContinuousVAE,
    GaussianVAE,
    available_models,
    build_model,
    get_model_class,
)  # noqa: E402
from keraszoo.optimizers import FusedAdam  # noqa: E402  (registered for load_model)
from keraszoo.presets import from_preset, list_presets, load_serving  # noqa: E402
from keraszoo.training import schedules as _schedules  # noqa: E402, F401  (registers StagedDecay for load_model)

__all__ = [
    "BernoulliVAE",
    "CategoricalVAE",
    "ContinuousVAE",
    "DVAE",
    "FusedAdam",
    "GaussianVAE",
    "VQVAE",
    "__version__",
    "available_models",
    "build_model",
    "from_preset",
    "list_presets",
    "load_serving",
    "get_model_class",
]
