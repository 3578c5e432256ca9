"""Training: config, `train_and_evaluate` under tf.distribute, evaluation.

`keraszoo.training.config` imports no TensorFlow (command lines build `--help` from it); the
other names are imported on first use.
"""

from __future__ import annotations

import importlib as _importlib

from keraszoo.training.config import TrainConfig

_LAZY = {
    "evaluate_bounds": "keraszoo.training.evaluation",
    **dict.fromkeys(
        ("build_and_compile", "make_strategy", "mirrored_strategy", "train_and_evaluate"),
        "keraszoo.training.train",
    ),
}

__all__ = ["TrainConfig", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(_importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'keraszoo.training' has no attribute {name!r}")
