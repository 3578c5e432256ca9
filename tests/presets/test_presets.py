"""Presets by name: list, load in Keras and as a SavedModel, clear errors, manifest schema.

The presets here come from a smoke training run written to a temporary root; the shipped
presets in exports/ are verified by tests/presets/test_shipped.py."""

import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

import keraszoo
from keraszoo import CategoricalVAE, GaussianVAE
from keraszoo.export import MANIFEST
from keraszoo.export.manifest import validate_manifest
from keraszoo.recipes import get_config
from keraszoo.training import TrainConfig, train_and_evaluate
from keraszoo.training.train import _init_from_preset


@pytest.fixture(scope="module")
def preset_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("presets")
    config = TrainConfig.from_dict(get_config("gaussian_vae_digits", smoke=True)).replace(
        export_dir=str(root),
        export_name="gaussian_vae_digits",
        pictures=False,
        description="Gaussian VAE on the 8x8 digits (smoke budget)",
        published={"value": 1.0, "metric": "nll", "source": "none, a test"},
    )
    results = train_and_evaluate(config, str(tmp_path_factory.mktemp("run")), verbose=0, command="test")
    return str(root), results


@pytest.fixture
def presets(preset_root, monkeypatch):
    monkeypatch.setenv("KERASZOO_PRESETS", preset_root[0])
    return preset_root


@pytest.mark.slow
def test_list_load_and_serve(presets):
    root, results = presets
    listed = keraszoo.list_presets()
    info = listed["gaussian_vae_digits"]  # $KERASZOO_PRESETS comes before the checkout's exports/
    assert info["where"] == "local" and info["path"] == os.path.join(root, "gaussian_vae_digits", "1")
    assert info["version"] == 1 and info["description"].startswith("Gaussian VAE on the 8x8")
    assert (
        info["metric"] == f"NLL {results['test']['nll']:.2f} nats (k={int(results['test']['num_samples'])})"
    )

    model = keraszoo.from_preset("gaussian_vae_digits")
    same = GaussianVAE.from_preset("gaussian_vae_digits")
    x = (np.random.default_rng(0).random((5, 8, 8, 1)) > 0.5).astype("float32")
    np.testing.assert_allclose(model.elbo(x, seed=1)["elbo"], same.elbo(x, seed=1)["elbo"])
    model.compile("adam")  # trainable: fine-tuning works from the loaded weights
    assert model.trainable_weights
    served = keraszoo.load_serving("gaussian_vae_digits")
    np.testing.assert_allclose(
        served.signatures["elbo"](x=x, seed=np.int32(1))["elbo"], model.elbo(x, seed=1)["elbo"], rtol=1e-5
    )

    manifest = json.load(open(os.path.join(root, "gaussian_vae_digits", "1", MANIFEST)))
    validate_manifest(manifest)
    assert manifest["training"]["command"] == "test" and manifest["training"]["steps"] > 0
    assert manifest["dataset"] == {"name": "digits", "file": None, "sha256": None}
    assert manifest["published"]["source"] == "none, a test"


@pytest.mark.slow
def test_clear_errors(presets, tmp_path, monkeypatch):
    with pytest.raises(
        ValueError, match=r"Expected one of \[.*'gaussian_vae_digits'.*\].*Received: preset='nope'"
    ):
        keraszoo.from_preset("nope")
    with pytest.raises(ValueError, match="is a 'gaussian_vae' model, not a CategoricalVAE"):
        CategoricalVAE.from_preset("gaussian_vae_digits")
    with pytest.raises(ValueError, match=r"has versions \[1\]. Received: version=7"):
        keraszoo.from_preset("gaussian_vae_digits", version=7)

    broken = tmp_path / "broken"
    shutil.copytree(os.path.join(presets[0], "gaussian_vae_digits"), broken / "gaussian_vae_digits")
    monkeypatch.setenv("KERASZOO_PRESETS", str(broken))
    version = broken / "gaussian_vae_digits" / "1"
    shard = next((version / "variables").glob("variables.data-*"))
    shard.write_bytes(shard.read_bytes()[:100])  # truncated: named as unreadable, not as missing
    with pytest.raises(ValueError, match=f"cannot load the weights in {version / 'variables'}"):
        keraszoo.from_preset("gaussian_vae_digits")
    os.remove(version / "variables" / "variables.index")
    with pytest.raises(FileNotFoundError, match=f"{version / 'variables' / 'variables.index'} is missing"):
        keraszoo.from_preset("gaussian_vae_digits")
    (version / MANIFEST).write_text("{")
    assert "is not valid JSON" in keraszoo.list_presets()["gaussian_vae_digits"]["error"]
    with pytest.raises(ValueError, match="is not valid JSON"):
        keraszoo.from_preset("gaussian_vae_digits")
    (version / MANIFEST).write_text(json.dumps({"model": "gaussian_vae"}))
    with pytest.raises(ValueError, match="missing 'version'.*missing 'dataset'"):
        keraszoo.load_serving("gaussian_vae_digits")


def test_manifest_schema_names_every_problem():
    with pytest.raises(ValueError, match="missing 'model'.*'version' is str"):
        validate_manifest({"version": "1"})


@pytest.mark.slow
def test_cli_prints_the_zoo_table(presets):
    out = subprocess.run(
        [sys.executable, "-m", "keraszoo.presets"],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "| `gaussian_vae_digits` | `gaussian_vae` | Gaussian VAE on the 8x8 digits" in out.stdout
    assert "RuntimeWarning" not in out.stderr  # `-m keraszoo.presets` runs the package's __main__


class _FirstWeights(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.weights = [w.numpy().copy() for w in self.model.weights]


@pytest.mark.slow
def test_fine_tuning_starts_from_the_preset(presets, tmp_path, monkeypatch):
    config = TrainConfig.from_dict(get_config("gaussian_vae_digits", smoke=True)).replace(
        export_dir=str(tmp_path / "tuned"),
        export_name="tuned_digits",
        pictures=False,
        init_from_preset="gaussian_vae_digits",
        epochs=1,
        ema_momentum=0.9,  # a fine-tune with Polyak averaging, as the card says
    )
    first = _FirstWeights()
    train_and_evaluate(config, str(tmp_path / "tune"), callbacks=[first], verbose=0)
    preset = keraszoo.from_preset("gaussian_vae_digits")
    for a, b in zip(first.weights, preset.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # The fine-tune's manifest and card name the preset version it started from.
    monkeypatch.setenv("KERASZOO_PRESETS", os.pathsep.join([presets[0], str(tmp_path / "tuned")]))
    training = keraszoo.presets.load_manifest("tuned_digits")["training"]
    source = keraszoo.presets.load_manifest("gaussian_vae_digits")
    assert training["init_from"] == {
        "preset": "gaussian_vae_digits",
        "version": 1,
        "git_commit": source["training"]["git_commit"],
    }
    assert training["selected_on"] == "val_neg_elbo"
    card = keraszoo.presets.model_card("tuned_digits")
    assert "- Started from the weights of preset `gaussian_vae_digits` version 1 (trained at `" in card
    assert "on `val_neg_elbo`" in card
    assert "Polyak averaging of the weights (momentum 0.9: the model is the average)" in card
    # "NAME:VERSION" pins a version (what a recipe names so that it replays after a new one ships).
    model = keraszoo.from_preset("gaussian_vae_digits")
    assert _init_from_preset(model, "gaussian_vae_digits:1") == training["init_from"]
    with pytest.raises(ValueError, match=r"has versions \[1\]. Received: version=2"):
        _init_from_preset(model, "gaussian_vae_digits:2")
    wider = config.replace(model_config={**config.model_config, "latent_dim": 3})
    with pytest.raises(ValueError, match="Preset 'gaussian_vae_digits' .* does not fit this GaussianVAE"):
        train_and_evaluate(wider, str(tmp_path / "wider"), verbose=0)


def test_preset_spec_names_an_optional_version():
    assert keraszoo.presets.split_spec("iwae_mnist") == ("iwae_mnist", None)
    assert keraszoo.presets.split_spec("iwae_mnist:2") == ("iwae_mnist", 2)
    with pytest.raises(ValueError, match="an integer\\). Received: preset='iwae_mnist:latest'"):
        keraszoo.presets.split_spec("iwae_mnist:latest")
