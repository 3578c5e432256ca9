"""Every preset shipped in exports/ is verified, not asserted.

For each preset: the manifest follows the schema and names the data file whose sha256 it
records; the Keras model (`from_preset`) recomputes the test −ELBO on a fixed random subset of
the test split that agrees with the manifest's full-test-split figure within 4 standard errors
(the subset mean of per-example −ELBO estimates has standard error σ/√n, σ their spread, so a
model that is not the one measured, or a changed estimator, is caught while sampling noise is
not); the SavedModel answers every signature in a process without keraszoo, Keras or TFP and
agrees with Keras on the same inputs and seeds.
"""

import os

import numpy as np
import pytest

from keraszoo.data import evaluation_binarize, load_split, make_pipeline
from keraszoo.export import list_versions, read_warmup_requests
from keraszoo.export.manifest import sha256_of, validate_manifest
from keraszoo.presets import from_preset, load_manifest, preset_dir, readme_table, zoo_table
from keraszoo.recipes import available_recipes, get_config
from keraszoo.training import TrainConfig
from tests.conftest import SHARED_NPZ
from tests.harness import serve_without_keraszoo, serving_inputs

SHIPPED = os.path.join(os.path.dirname(__file__), "..", "..", "exports")
NAMES = sorted(n for n in os.listdir(SHIPPED) if list_versions(SHIPPED, n))
SUBSET = 500


def _test_subset(manifest):
    """A fixed random subset of the preset's test split (the binarized MNIST test split is ordered)."""
    config = manifest["training"]["config"]
    if manifest["dataset"]["file"]:
        if not os.path.exists(SHARED_NPZ):
            pytest.skip(f"the preset's data file is not here: {SHARED_NPZ}")
        assert sha256_of(SHARED_NPZ) == manifest["dataset"]["sha256"], (
            "not the data the preset was trained on"
        )
        split = load_split("npz", "test", path=SHARED_NPZ)
    else:
        split = load_split(manifest["dataset"]["name"], "test", download=False)
    # The test images exactly as the training run evaluated them (static binarization included).
    binarize = evaluation_binarize(config["binarize"])
    x = np.concatenate(list(make_pipeline(split, 100, binarize=binarize, seed=config["seed"] + 1)))
    pick = np.random.default_rng(0).permutation(len(x))[: min(SUBSET, len(x))]
    return x[pick]


@pytest.fixture(autouse=True)
def _shipped_presets(monkeypatch):
    monkeypatch.setenv("KERASZOO_PRESETS", SHIPPED)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_shipped_preset_matches_its_manifest(name, tmp_path):
    manifest = validate_manifest(load_manifest(name))
    x = _test_subset(manifest)
    model = from_preset(name)
    neg_elbo = np.concatenate(
        [-model.elbo(x[i : i + 100], seed=[i, 0])["elbo"].numpy() for i in range(0, len(x), 100)]
    )
    stderr = neg_elbo.std() / np.sqrt(len(neg_elbo))
    assert abs(neg_elbo.mean() - manifest["test"]["neg_elbo"]) < 4 * stderr, (neg_elbo.mean(), stderr)

    warmed = {request.model_spec.signature_name for request in read_warmup_requests(preset_dir(name))}
    assert warmed == set(manifest["signatures"])  # TF Serving warm-up requests for every signature

    inputs = serving_inputs(model, x[:8])
    out = serve_without_keraszoo(preset_dir(name), inputs, tmp_path)
    assert {k.split("/")[0] for k in out} == set(manifest["signatures"])
    # bfloat16 backbones (8-bit mantissa) round differently in the SavedModel's fused kernels than
    # in Keras's: the same model to bfloat16's precision, not to float32's.
    bf16 = manifest["config"].get("backbone_dtype") == "mixed_bfloat16"
    np.testing.assert_allclose(
        out["elbo/elbo"],
        model.elbo(x[:8], seed=inputs["seed"])["elbo"],
        rtol=1e-2 if bf16 else 1e-4,
        atol=1e-4,
    )


@pytest.mark.parametrize("name", [n for n in NAMES if n in available_recipes()])
def test_recipe_replays_its_newest_preset(name):
    # `python -m keraszoo.recipes.train NAME --data-file ...` trains what the newest version was
    # trained with. Two keys may differ: the dataset (the shipped runs read the .npz, so the
    # manifest says "npz") and `init_from_preset`, which the recipe pins to the version the run
    # started from (the manifest's `init_from`), so that a later version of that preset changes
    # nothing.
    manifest = load_manifest(name)
    # A field the manifest predates was trained with its default (as a resumed work directory reads it).
    trained = {**TrainConfig().to_dict(), **manifest["training"]["config"]}
    for key, value in get_config(name).items():
        if key == "dataset" and trained[key] == "npz":
            continue
        if key == "init_from_preset":
            init_from = manifest["training"]["init_from"]
            assert value == f"{init_from['preset']}:{init_from['version']}", (name, value, init_from)
            continue
        assert trained[key] == value, (name, key, trained[key], value)


def test_readme_zoo_table_comes_from_the_manifests():
    readme = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")
    with open(readme) as f:
        assert readme_table(f.read()) == zoo_table(), (
            "run: python -m keraszoo.presets --update-readme README.md"
        )
