"""Shared by the benchmark scripts: a recipe's config on the local binarized-MNIST .npz."""

from __future__ import annotations

from keraszoo.recipes import get_config
from keraszoo.training import TrainConfig


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
