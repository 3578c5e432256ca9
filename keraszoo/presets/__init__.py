"""Trained models by name, following keras-hub's preset convention.

    keraszoo.list_presets()                 {name: {"description", "metric", "version", "path", "where"}}
    keraszoo.from_preset("gaussian_vae_mnist")        a trainable Keras model with the weights
    GaussianVAE.from_preset("gaussian_vae_mnist")     the same, checked to be a GaussianVAE
    keraszoo.load_serving("gaussian_vae_mnist")       the SavedModel, for TensorFlow-only use
    python -m keraszoo.presets                        the zoo table (`--help`: pack, index, cards)

A preset version is a directory written by `keraszoo.export.export_model`,
`<root>/<name>/<version>/`: the SavedModel (`saved_model.pb`, `variables/`, TF Serving's
warm-up requests) and `keraszoo_manifest.json`. Each weight is stored once, in `variables/`;
the Keras model is rebuilt from the manifest (`keraszoo.presets.loading`). A preset is found
in `$KERASZOO_PRESETS`, the checkout's `exports/`, the download cache, or downloaded from
`$KERASZOO_PRESET_URL` as an archive the package's index names and hashes
(`keraszoo.presets.lookup`). The newest version is used unless `version=` says otherwise.

Modules: `lookup` (finding, caching, downloading), `loading` (Keras model and SavedModel),
`archive` (packing and checking archives), `index` (the shipped index), `cards` (model
cards and the zoo table); `python -m keraszoo.presets` is the command line (`__main__`).
"""

from keraszoo.presets.cards import headline, model_card, readme_table, update_readme, zoo_table
from keraszoo.presets.loading import from_preset, load_keras_model, load_serving
from keraszoo.presets.lookup import (
    PresetDownloadError,
    list_presets,
    load_manifest,
    preset_dir,
    preset_roots,
    split_spec,
)

__all__ = [
    "PresetDownloadError",
    "from_preset",
    "headline",
    "list_presets",
    "load_keras_model",
    "load_manifest",
    "load_serving",
    "model_card",
    "preset_dir",
    "preset_roots",
    "readme_table",
    "split_spec",
    "update_readme",
    "zoo_table",
]
