"""Shared test harness: every keraszoo layer and every registered zoo model gets the same checks.

`run_layer_test` follows keras's `keras/src/testing/test_case.py::run_layer_test`: counts of
weights, losses and seed generators, the config round trip, eager = `tf.function`, and an
empty batch. `run_zoo_model_test` is what every model in `available_models()` must pass,
built from its own `example_config()`: a training step changes the weights (and creates no
variable while it is traced, which would make TensorFlow trace it twice) and an evaluation
step does not, metrics are finite, `sample` and `elbo` are deterministic per seed, the `.keras`
round trip gives the same model, and every serving signature runs and returns named outputs.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from keraszoo.export import export_model
from keraszoo.models import get_model_class
from keraszoo.presets import load_keras_model


def _flat(outputs):
    return [np.asarray(t) for t in tf.nest.flatten(outputs)]


def _seed_generators(layer):
    found = {id(g): g for g in getattr(layer, "_seed_generators", [])}
    for sub in layer._flatten_layers(include_self=False):
        found.update({id(g): g for g in getattr(sub, "_seed_generators", [])})
    return len(found)


def run_layer_test(
    layer_cls,
    init_kwargs: dict,
    input_data,
    *,
    call_kwargs: dict | None = None,
    expected_num_trainable_weights: int,
    expected_num_non_trainable_weights: int,
    expected_num_losses: int = 0,
    expected_num_seed_generators: int = 0,
):
    """Builds `layer_cls(**init_kwargs)`, calls it on `input_data` and checks the generic facts.

    `call_kwargs` must make the call deterministic (a fixed `seed`, `training=False`), so that
    eager and compiled calls can be compared exactly.
    """
    call_kwargs = dict(call_kwargs or {})
    layer = layer_cls(**init_kwargs)
    outputs = layer(input_data, **call_kwargs)
    assert len(layer.trainable_weights) == expected_num_trainable_weights, layer.trainable_weights
    assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights, layer.non_trainable_weights
    assert len(layer.losses) == expected_num_losses, layer.losses
    assert _seed_generators(layer) == expected_num_seed_generators
    for value in _flat(outputs):
        assert np.all(np.isfinite(value)), value

    # Serialization: the config round trip, directly and through Keras's registry.
    config = layer.get_config()
    assert layer_cls.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is layer_cls and restored.get_config() == config

    # Eager and tf.function calls agree.
    compiled = tf.function(lambda x: layer(x, **call_kwargs))
    eager_outputs, graph_outputs = _flat(layer(input_data, **call_kwargs)), _flat(compiled(input_data))
    for eager, graph in zip(eager_outputs, graph_outputs, strict=True):
        np.testing.assert_allclose(eager, graph, rtol=1e-6, atol=1e-6)

    # An empty batch runs, and every batched output comes back with batch size 0.
    batch = np.shape(input_data)[0]
    empty = tf.zeros((0,) + tuple(np.shape(input_data))[1:], tf.convert_to_tensor(input_data).dtype)
    for full, value in zip(_flat(outputs), _flat(layer(empty, **call_kwargs)), strict=True):
        if full.ndim and full.shape[0] == batch:
            assert value.shape == (0,) + full.shape[1:], (full.shape, value.shape)
    return layer


def example_batch(data_shape, n=8, seed=0):
    return (np.random.default_rng(seed).random((n,) + tuple(data_shape)) > 0.5).astype("float32")


def serving_inputs(model, x):
    """A value for every input name of the model's serving signatures."""
    inputs = {"x": x, "n": np.int32(3), "seed": np.int32(7)}
    decode_spec = model.decode_spec()
    if decode_spec.dtype.is_integer:
        encoded = model.encode(x).values()
        inputs[decode_spec.name] = next(
            v.numpy() for v in encoded if v.dtype.is_integer and v.shape[1:] == decode_spec.shape[1:]
        )
    else:
        inputs[decode_spec.name] = np.zeros((len(x),) + tuple(decode_spec.shape[1:]), "float32")
    return inputs


def run_zoo_model_test(name: str, tmp_path):
    """The contract of a registered zoo model, on its `example_config()`."""
    cls = get_model_class(name)
    config = cls.example_config()
    model = cls(**config)
    x = example_batch(model.data_shape)

    # One training step changes trainable weights; evaluation changes nothing.
    model.compile(keras.optimizers.Adam(1e-2))
    before = [w.numpy().copy() for w in model.weights]
    created_while_tracing = []  # a variable made in the traced train step makes TF trace it twice

    def record(next_creator, **kwargs):
        if not tf.executing_eagerly():
            created_while_tracing.append(kwargs.get("name"))
        return next_creator(**kwargs)

    with tf.variable_creator_scope(record):
        history = model.fit(
            tf.data.Dataset.from_tensor_slices(x).batch(4), epochs=1, verbose=0, shuffle=False
        ).history
    assert not created_while_tracing, created_while_tracing  # the optimizer is built before
    assert {"loss", "neg_elbo", "recon_nll", "kl"} <= set(history)
    assert all(np.all(np.isfinite(v)) for v in history.values()), history
    changed = [not np.array_equal(w.numpy(), b) for w, b in zip(model.weights, before, strict=True)]
    assert any(c for c, w in zip(changed, model.weights, strict=True) if w.trainable)
    after_fit = [w.numpy().copy() for w in model.weights]
    model.evaluate(tf.data.Dataset.from_tensor_slices(x).batch(4), verbose=0)
    for w, b in zip(model.weights, after_fit, strict=True):
        if "optimizer" not in w.path:
            np.testing.assert_array_equal(w.numpy(), b, err_msg=f"{w.path} changed in evaluation")

    # Deterministic per seed; the importance-weighted bound is a finite number per example.
    np.testing.assert_array_equal(model.sample(3, seed=5)["x_mean"], model.sample(3, seed=5)["x_mean"])
    for bad in (-1, 2.5, "3"):
        with pytest.raises(ValueError, match=f"Received: n={bad!r}"):
            model.sample(bad)
    elbo = model.elbo(x, seed=3)["elbo"].numpy()
    np.testing.assert_array_equal(elbo, model.elbo(x, seed=3)["elbo"].numpy())
    ll = model.log_likelihood(x, num_samples=16, seed=3).numpy()
    assert ll.shape == (len(x),) and np.all(np.isfinite(ll)) and np.all(np.isfinite(elbo))
    assert model.reconstruct(x).shape == x.shape

    # The .keras round trip gives the same model.
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is cls and loaded.get_config() == model.get_config()
    np.testing.assert_allclose(loaded.elbo(x, seed=3)["elbo"], elbo, rtol=1e-5, atol=1e-5)

    # The export's Keras model (rebuilt from the manifest and the SavedModel's variables, no
    # optimizer state) is the same model; every serving signature of its SavedModel runs and
    # returns named outputs.
    export_dir = export_model(model, str(tmp_path / "exports"))
    assert not any(f.endswith(".keras") for f in os.listdir(export_dir))  # each weight stored once
    keras_copy = load_keras_model(export_dir)
    assert type(keras_copy) is cls and getattr(keras_copy, "optimizer", None) is None
    np.testing.assert_allclose(keras_copy.elbo(x, seed=3)["elbo"], elbo, rtol=1e-5, atol=1e-5)
    loaded_export = tf.saved_model.load(export_dir)
    inputs = serving_inputs(model, x)
    assert {"serving_default", "encode", "decode", "sample", "elbo"} <= set(loaded_export.signatures)
    for signature_name, signature in loaded_export.signatures.items():
        specs = signature.structured_input_signature[1]
        outputs = signature(**{k: tf.constant(inputs[k], spec.dtype) for k, spec in specs.items()})
        assert outputs and all(np.all(np.isfinite(v.numpy())) for v in outputs.values()), signature_name
    return model


BLOCKED = ("keraszoo", "keras", "tensorflow_probability", "tf_keras")


def _site_packages_without(target, blocked):
    """A site directory of symlinks to this environment's packages, less `blocked` ones:
    a Python started with -S and this PYTHONPATH has TensorFlow but not those packages."""
    source = os.path.dirname(os.path.dirname(tf.__file__))
    os.makedirs(target)
    for entry in os.listdir(source):
        top = entry.split("-")[0].split(".")[0].lower()
        if top in blocked or entry.endswith(".pth") or top.startswith("__editable__"):
            continue
        os.symlink(os.path.join(source, entry), os.path.join(target, entry))
    return target


class _Server:
    """One Python started with -S over a site directory without the `BLOCKED` packages, serving
    every `serve_without_keraszoo` call of this test process (TensorFlow is imported once)."""

    process = None

    @classmethod
    def ask(cls, request: str, tmp_root, timeout: float = 300) -> dict:
        if cls.process is None or cls.process.poll() is not None:
            root = tempfile.mkdtemp(prefix="serve_without_keraszoo", dir=tmp_root)  # pytest cleans it up
            site = _site_packages_without(os.path.join(root, "site"), BLOCKED)
            script = os.path.join(os.path.dirname(__file__), "export", "serve_without_keraszoo.py")
            cls.log = os.path.join(root, "stderr.txt")
            with open(cls.log, "w") as log:
                cls.process = subprocess.Popen(
                    [sys.executable, "-S", script],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
                    env={**os.environ, "PYTHONPATH": site}, cwd=root,
                )  # fmt: skip
            atexit.register(cls.process.kill)
        cls.process.stdin.write(request + "\n")
        cls.process.stdin.flush()
        if select.select([cls.process.stdout], [], [], timeout)[0]:
            line = cls.process.stdout.readline()
            if line:
                return json.loads(line)
        cls.process.kill()  # timed out or died: the next call starts a fresh one
        with open(cls.log) as log:
            return {"error": log.read()[-3000:]}


def serve_without_keraszoo(export_path, inputs: dict, tmp_path) -> dict:
    """Calls every signature of a SavedModel in a Python where keraszoo, Keras, TFP and tf_keras
    are not importable (as on a TF Serving host); returns {"signature/output": array}."""
    np.savez(tmp_path / "in.npz", **inputs)
    request = "\t".join(str(p) for p in (export_path, tmp_path / "in.npz", tmp_path / "out.npz"))
    answer = _Server.ask(request, tmp_path.parent)
    assert "ok" in answer, answer["error"]
    return dict(np.load(tmp_path / "out.npz"))
