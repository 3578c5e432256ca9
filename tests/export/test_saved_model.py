import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from keraszoo import GaussianVAE, available_models, get_model_class
from keraszoo.export import MANIFEST, ExportExistsError, export_model, list_versions
from tests.conftest import small_vae_config
from tests.harness import serve_without_keraszoo

HERE = os.path.dirname(__file__)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = GaussianVAE(**small_vae_config(encoder="conv"))
    base = str(tmp_path_factory.mktemp("exports"))
    return model, base, export_model(model, base, metadata={"note": "test"})


def _example(name, **overrides):
    cls = get_model_class(name)
    return lambda: cls(**{**cls.example_config(), **overrides})


# Every registered model on its example config, and the continuous families whose sampling
# paths differ: explicit inverse CDF (kumaraswamy) and implicit reparameterization (gamma).
FAMILIES = {
    **{name: _example(name) for name in available_models()},
    "kumaraswamy": _example("continuous_vae", posterior="kumaraswamy"),
    "gamma": _example("continuous_vae", posterior="gamma"),
}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def exported_family(request, tmp_path_factory, example_export):
    if request.param in available_models():
        return example_export(request.param)  # shared with test_warmup
    model = FAMILIES[request.param]()
    return model, export_model(model, str(tmp_path_factory.mktemp("exports")))


@pytest.mark.slow
def test_export_serves_without_keraszoo_and_matches_keras(exported_family, tmp_path, binary_batch):
    model, path = exported_family
    inputs = dict(x=binary_batch, n=5, seed=11)
    if hasattr(model, "latent_dim"):
        inputs["z"] = np.random.default_rng(0).normal(size=(3, model.latent_dim)).astype("float32")
    for name in ("codes", "indices"):  # discrete models decode integer codes
        if name in (encoded := model.encode(binary_batch[:3])):
            inputs[name] = encoded[name].numpy()
    out = serve_without_keraszoo(path, inputs, tmp_path)
    expected = {}
    for signature, (fn, specs) in model.serving_endpoints().items():
        args = [tf.constant(inputs[spec.name], spec.dtype) for spec in specs]
        expected.update({f"{signature}/{k}": v for k, v in fn(*args).items()})
    assert {"serving_default", "encode", "decode", "sample", "elbo"} <= {k.split("/")[0] for k in expected}
    assert set(out) == set(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(out[key], np.asarray(value), rtol=1e-5, atol=1e-5, err_msg=key)


@pytest.mark.slow
def test_saved_model_cli_lists_every_signature(exported):
    _, _, path = exported
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = subprocess.run([cli, "show", "--dir", path, "--all"], capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr[-2000:]
    for name in ("serving_default", "encode", "decode", "sample", "elbo"):
        assert f"signature_def['{name}']" in shown.stdout
    for tensor in (
        "inputs['x']",
        "inputs['n']",
        "inputs['seed']",
        "outputs['x_mean']",
        "outputs['elbo']",
    ):
        assert tensor in shown.stdout


def test_versions_layout_manifest_and_no_overwrite(exported):
    model, base, path = exported
    assert path == os.path.join(base, "gaussian_vae", "1")
    assert os.path.exists(os.path.join(path, "saved_model.pb"))
    manifest = json.load(open(os.path.join(path, MANIFEST)))
    assert manifest["version"] == 1 and manifest["note"] == "test"
    assert manifest["config"]["latent_dim"] == 4 and "sample" in manifest["signatures"]
    with pytest.raises(ExportExistsError, match="never overwritten"):
        export_model(model, base, version=1)
    second = export_model(model, base)
    assert second.endswith(os.path.join("gaussian_vae", "2")) and list_versions(base, "gaussian_vae") == [
        1,
        2,
    ]
    with pytest.raises(ValueError, match="Received: version=0"):
        export_model(model, base, version=0)


def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    from keraszoo.export import saved_model

    model = GaussianVAE(**small_vae_config())

    def broken(*args, **kwargs):  # fails after the SavedModel itself was written
        raise OSError("disk full")

    monkeypatch.setattr(saved_model, "write_manifest", broken)
    with pytest.raises(OSError, match="disk full"):
        export_model(model, str(tmp_path))
    assert os.listdir(tmp_path / "gaussian_vae") == []  # neither a version nor a temporary folder
