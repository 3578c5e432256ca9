"""Training: config, `train_and_evaluate` under tf.distribute, evaluation."""

from keraszoo.training.config import TrainConfig
from keraszoo.training.evaluation import evaluate_bounds
from keraszoo.training.train import build_and_compile, make_strategy, mirrored_strategy, train_and_evaluate

__all__ = [
    "TrainConfig",
    "build_and_compile",
    "evaluate_bounds",
    "make_strategy",
    "mirrored_strategy",
    "train_and_evaluate",
]
