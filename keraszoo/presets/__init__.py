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

import importlib as _importlib

# Names load on first use (PEP 562), so `python -m keraszoo.presets --help` answers before
# TensorFlow is imported.
_PUBLIC = {
    **dict.fromkeys(("headline", "model_card", "readme_table", "update_readme", "zoo_table"), "cards"),
    **dict.fromkeys(("from_preset", "load_keras_model", "load_serving"), "loading"),
    **dict.fromkeys(
        ("PresetDownloadError", "list_presets", "load_manifest", "preset_dir", "preset_roots", "split_spec"),
        "lookup",
    ),
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(_importlib.import_module(f"keraszoo.presets.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module 'keraszoo.presets' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_PUBLIC})
