"""Shared by the benchmark scripts: a recipe's config or a shipped preset, on the binarized-MNIST .npz."""

from __future__ import annotations

import os

import keras
import tensorflow as tf

from keraszoo.data import load_split, make_pipeline
from keraszoo.diagnostics.gradients import gradient_statistics
from keraszoo.presets import from_preset, load_manifest
from keraszoo.recipes import get_config
from keraszoo.training import TrainConfig
from keraszoo.training.train import evaluation_pipeline


def npz_config(recipe: str, data_file: str, epochs: int, k: int, **model_changes) -> TrainConfig:
    """`recipe` trained on `data_file` for `epochs`, evaluated with k importance samples, no export or
    pictures, with `model_changes` applied to its model config."""
    base = TrainConfig.from_dict(get_config(recipe))
    return base.replace(
        dataset="npz",
        data_file=data_file,
        epochs=epochs,
        eval_num_samples=k,
        export_dir=None,
        pictures=False,
        model_config={**base.model_config, **model_changes},
    )


def shipped(name: str, version: int | None, **config_changes) -> tuple[dict, TrainConfig, object]:
    """A shipped preset's manifest, the training config in it (with `config_changes`), and its model."""
    manifest = load_manifest(name, version)
    config = TrainConfig.from_dict({**manifest["training"]["config"], **config_changes})
    return manifest, config, from_preset(name, version)


def npz_evaluation_data(config: TrainConfig, data_file: str, split: str = "test") -> tf.data.Dataset:
    """The batches a run with `config` scores (`evaluation_pipeline`), on `split` of `data_file`."""
    return evaluation_pipeline(config, load_split("npz", split, path=data_file))


def gradient_test_batch(data_file: str, size: int = 100) -> tf.Tensor:
    """The first `size` test images of `data_file`: the batch the gradient statistics use."""
    return next(iter(make_pipeline(load_split("npz", "test", path=data_file), size)))


def own_gradient_statistics(workdir: str, x, row: tuple, repeats: int) -> dict:
    """`keraszoo.diagnostics.gradients` for the estimator `row` (estimator, baseline, K[,
    objective]) on the model a run saved in `workdir`, at the batch `x`."""
    model = keras.models.load_model(os.path.join(workdir, "model.keras"))
    (stats,) = gradient_statistics(model, x, [row], repeats=repeats)
    return stats
