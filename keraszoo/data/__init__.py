"""Data: the embedded dataset, TFDS datasets by name, local .npz files, tf.data pipelines."""

from keraszoo.data.datasets import (
    BINARIZE,
    DATASETS,
    SPLITS,
    DatasetUnavailableError,
    Split,
    as_numpy,
    evaluation_binarize,
    known_data_shape,
    load_split,
    make_pipeline,
)

__all__ = [
    "BINARIZE",
    "DATASETS",
    "SPLITS",
    "DatasetUnavailableError",
    "Split",
    "as_numpy",
    "evaluation_binarize",
    "known_data_shape",
    "load_split",
    "make_pipeline",
]
