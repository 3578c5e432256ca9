"""Shared by the benchmark scripts: a recipe's config or a shipped preset, on the binarized-MNIST .npz."""

from __future__ import annotations

import tensorflow as tf

from keraszoo.data import load_split
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
