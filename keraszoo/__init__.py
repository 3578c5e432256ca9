"""keraszoo: a Keras 3 / TensorFlow zoo of continuous and discrete variational autoencoders.

`import keraszoo` imports the models, the optimizer and the schedules, which registers their
classes with Keras (so that `keras.models.load_model` finds them). When the process is one of
our command lines (`python -m keraszoo.<command>` or a `keraszoo-*` console script), TensorFlow
is first imported without its C++ start-up lines (`--verbose` shows them), and `--help` or
`--list` answers from the argument parser without importing TensorFlow (≈ 5 s) at all: the
public names below are then imported on first use.
"""

from __future__ import annotations

import importlib as _importlib

from keraszoo import _cli
from keraszoo._version import __version__ as __version__

# Public name -> the module that defines it (imported on first use in the fast case).
_PUBLIC = {
    **dict.fromkeys(
        (
            "BernoulliVAE",
            "CategoricalVAE",
            "ContinuousVAE",
            "DVAE",
            "GaussianVAE",
            "VQVAE",
            "available_models",
            "build_model",
            "get_model_class",
        ),
        "keraszoo.models",
    ),
    "FusedAdam": "keraszoo.optimizers",
    **dict.fromkeys(("from_preset", "list_presets", "load_serving"), "keraszoo.presets"),
}

__all__ = sorted([*_PUBLIC, "__version__"])


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(_importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'keraszoo' has no attribute {name!r}")


if _cli.invoked_as_command():  # quiet TensorFlow's C++ start-up lines, before anything imports it
    if not _cli.answering_help_only():
        _cli.import_tensorflow(verbose=_cli.verbose_requested())
if not _cli.answering_help_only():
    from keraszoo import schedules as _schedules  # noqa: F401  (registers StagedDecay for load_model)
    from keraszoo.models import (  # noqa: F401  (registers the models for load_model)
        DVAE,
        VQVAE,
        BernoulliVAE,
        CategoricalVAE,
        ContinuousVAE,
        GaussianVAE,
        available_models,
        build_model,
        get_model_class,
    )
    from keraszoo.optimizers import FusedAdam  # noqa: F401  (registered for load_model)
    from keraszoo.presets import from_preset, list_presets, load_serving  # noqa: F401
