"""A preset version directory as a Keras model or a SavedModel.

A version directory stores each weight once, in the SavedModel's `variables/` (TF Serving
reads them there). The trainable Keras model is rebuilt from the manifest: the class is the
registered zoo model the manifest names (`keraszoo.get_model_class`; no other class can be
constructed), its config is deserialized by `keras.saving.deserialize_keras_object` with
`safe_mode=True` (a config that would run code, such as a serialized lambda, is refused),
and its variables are read from the SavedModel's checkpoint. `keras.export.ExportArchive`
(which `keraszoo.export.export_model` uses, after `track(model)`) saves the model's
`model.variables`, in order, as the list `variables` of the SavedModel's root object, so a
model rebuilt from the same config restores them with
`tf.train.Checkpoint(variables=model.variables).read(...)`, matched by position and checked
by shape. Variables that are not weights (the random-seed state of
`keras.random.SeedGenerator`, which `fit` draws from) keep their initial values, as in the
former `model.keras` files (written from `model.get_weights()`); every weight is the trained
one.
"""

from __future__ import annotations

import os

from keraszoo.presets.archive import missing_files
from keraszoo.presets.lookup import preset_dir, read_manifest


def _checkpoint_list_length(prefix: str) -> int | None:
    """How many entries the root's `variables` list has in the SavedModel checkpoint `prefix`."""
    import tensorflow as tf
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(tf.train.load_checkpoint(prefix).get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    for child in graph.nodes[0].children:
        if child.local_name == "variables":
            return len(graph.nodes[child.node_id].children)
    return None


def load_keras_model(version_dir: str, name: str | None = None):
    """The trainable Keras model of an export's version directory (see the module docstring)."""
    import keras
    import tensorflow as tf

    from keraszoo.models import get_model_class

    name = name or os.path.basename(os.path.dirname(os.path.abspath(version_dir)))
    manifest = read_manifest(name, version_dir, export_only=True)
    missing = missing_files(version_dir)
    if missing:
        raise FileNotFoundError(
            f"Preset {name!r}: {', '.join(os.path.join(version_dir, f) for f in missing)} is missing."
        )
    cls = get_model_class(manifest["model"])
    serialized = {"module": cls.__module__, "class_name": cls.__name__, "config": manifest["config"],
                  "registered_name": keras.saving.get_registered_name(cls)}  # fmt: skip
    try:
        model = keras.saving.deserialize_keras_object(serialized, safe_mode=True)
    except Exception as err:
        raise ValueError(
            f"Preset {name!r}: the model config of {os.path.join(version_dir, 'keraszoo_manifest.json')} "
            f"does not build a {cls.__name__} ({type(err).__name__}: {err})."
        ) from err
    prefix = os.path.join(version_dir, "variables", "variables")
    weights = {id(w) for w in model.weights}
    initial = [(v, v.numpy()) for v in model.variables if id(v) not in weights]  # the seed state
    try:
        saved = _checkpoint_list_length(prefix)
        if saved != len(model.variables):
            raise ValueError(
                f"it holds {saved} model variables, the {cls.__name__} has {len(model.variables)}"
            )
        status = tf.train.Checkpoint(variables=list(model.variables)).read(prefix)
        status.assert_existing_objects_matched().expect_partial()  # the rest: signatures, other lists
    except Exception as err:  # truncated or corrupted shards, or weights of another model
        raise ValueError(
            f"Preset {name!r}: cannot load the weights in {os.path.join(version_dir, 'variables')} "
            f"({type(err).__name__}: {err})."
        ) from err
    for variable, value in initial:
        variable.assign(value)
    return model


def from_preset(
    name: str, version: int | None = None, expected_class: type | None = None, base_url: str | None = None
):
    """The preset's Keras model (trainable; compile it to fine-tune) with its trained weights.

    Args:
        name: the preset's name (`keraszoo.list_presets()`).
        version: an integer version; default: the newest local one, else the indexed one.
        expected_class: if given, the model must be an instance of this class.
        base_url: where to download the preset's archive if it is neither local nor cached;
            default `$KERASZOO_PRESET_URL` (see `keraszoo.presets.lookup`).
    """
    from keraszoo.models import get_model_class

    version_dir = preset_dir(name, version, base_url)
    model_name = read_manifest(name, version_dir)["model"]
    if expected_class is not None and not issubclass(get_model_class(model_name), expected_class):
        raise ValueError(
            f"Preset {name!r} is a {model_name!r} model, not a {expected_class.__name__}. "
            f"Use keraszoo.from_preset({name!r}) or the matching class."
        )
    return load_keras_model(version_dir, name)


def load_serving(name: str, version: int | None = None, base_url: str | None = None):
    """The preset's SavedModel (`tf.saved_model.load`), with its named signatures."""
    import tensorflow as tf

    version_dir = preset_dir(name, version, base_url)
    read_manifest(name, version_dir)
    try:
        return tf.saved_model.load(version_dir)
    except Exception as err:
        raise ValueError(
            f"Preset {name!r}: cannot load the SavedModel in {version_dir} ({type(err).__name__}: {err})."
        ) from err
