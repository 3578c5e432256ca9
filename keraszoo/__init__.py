"""keraszoo: a Keras 3 / TensorFlow zoo of continuous and discrete variational autoencoders.

`import keraszoo` imports the models, the optimizer and the schedules, which registers their
classes with Keras (so that `keras.models.load_model` finds them). One exception keeps the
command lines quick: `python -m keraszoo.<command> --help` (or `--list`, or a `keraszoo-*`
console script so called) answers from its argument parser without importing TensorFlow
(≈ 5 s); the public names below are then imported on first use.
"""

from __future__ import annotations

import importlib as _importlib
import os as _os
import sys as _sys

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


def _answering_help_only() -> bool:
    """Whether this process is one of our command lines asked only for `--help` or `--list`:
    `python -m keraszoo.X` (runpy sets argv[0] to "-m" while it imports the parent packages)
    or a `keraszoo-*` console script."""
    argv = _sys.argv if isinstance(getattr(_sys, "argv", None), list) else []
    ours = bool(argv) and (argv[0] == "-m" or _os.path.basename(argv[0]).startswith("keraszoo-"))
    return ours and any(a in ("-h", "--help", "--list") for a in argv[1:])


if not _answering_help_only():
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
