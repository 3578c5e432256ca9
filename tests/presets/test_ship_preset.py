"""tools/ship_preset.py ships a run's export into the one-copy layout with portable provenance."""

import json
import os
import sys

import numpy as np

from keraszoo import GaussianVAE
from keraszoo.export import MANIFEST, WARMUP_DIR, WARMUP_FILE, export_model
from keraszoo.presets import load_keras_model
from tests.conftest import small_vae_config

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from tools.ship_preset import ship  # noqa: E402


def test_ship_copies_the_next_version_without_a_keras_copy(tmp_path, binary_batch):
    model = GaussianVAE(**small_vae_config())
    command = "python -m keraszoo.recipes.train x --workdir /tmp/w --data-file /d/m.npz"
    metadata = {
        "dataset": {"name": "npz", "file": "m.npz", "sha256": "0" * 64},
        "training": {"epochs": 1, "steps": 1, "batch_size": 1, "learning_rate": 1e-3, "wall_seconds": 1.0,
                     "machine": "test", "command": command, "git_commit": None,
                     "config": {"data_file": "/d/m.npz", "export_dir": "/tmp/e"}},
        "test": {"neg_elbo": 1.0, "nll": 1.0, "num_samples": 1, "num_examples": 1},
        "published": None,
        "description": "a tiny test preset",
    }  # fmt: skip
    export = export_model(model, str(tmp_path / "run_exports"), "tiny", metadata=metadata)
    manifest_path = os.path.join(export, MANIFEST)
    manifest = json.load(open(manifest_path))
    assert manifest["training"]["command"] == (
        "python -m keraszoo.recipes.train x --workdir WORKDIR --data-file m.npz"
    )  # export_model already records portable provenance
    # An export from before: a model.keras copy, machine paths, no warm-up requests.
    model.save(os.path.join(export, "model.keras"))
    manifest["training"]["command"] = "train --export-dir /srv/exports"
    json.dump(manifest, open(manifest_path, "w"))
    os.remove(os.path.join(export, WARMUP_DIR, WARMUP_FILE))
    exports = tmp_path / "exports"
    os.makedirs(exports / "tiny" / "3")  # numbers keep counting after older versions left
    (tmp_path / "run" / "pictures").mkdir(parents=True)
    (tmp_path / "run" / "pictures" / "samples.png").write_bytes(b"png")

    target = ship(str(tmp_path / "run"), export, str(exports), description="a corrected description")
    assert target == str(exports / "tiny" / "4")
    shipped = json.load(open(os.path.join(target, MANIFEST)))
    assert shipped["version"] == 4 and shipped["shipped_from_version"] == 1
    assert shipped["description"] == shipped["training"]["config"]["description"] == "a corrected description"
    assert shipped["description_at_training"] == "a tiny test preset"
    assert shipped["test"] == manifest["test"]  # nothing measured is touched
    assert shipped["training"]["command"] == "train --export-dir EXPORT_DIR"
    assert not os.path.exists(os.path.join(target, "model.keras"))
    assert os.path.exists(os.path.join(target, WARMUP_DIR, WARMUP_FILE))
    assert (exports / "tiny" / "samples.png").read_bytes() == b"png"
    np.testing.assert_array_equal(
        load_keras_model(target).elbo(binary_batch, seed=1)["elbo"], model.elbo(binary_batch, seed=1)["elbo"]
    )
