"""Every shipped preset loads as the model it was: `from_preset` against outputs recorded from
the preset's former `model.keras` (tools/record_preset_outputs.py wrote
tests/presets/reference_outputs.json from those files before they were removed)."""

import importlib.util
import json
import os

import numpy as np
import pytest

from keraszoo.presets import from_preset

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
_spec = importlib.util.spec_from_file_location(
    "record_preset_outputs", os.path.join(ROOT, "tools", "record_preset_outputs.py")
)
record = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(record)
with open(record.REFERENCE) as _f:
    REFERENCE = json.load(_f)


@pytest.fixture(autouse=True)
def _shipped_presets(monkeypatch):
    monkeypatch.setenv("KERASZOO_PRESETS", os.path.join(ROOT, "exports"))


def _assert_close(actual, expected, where):
    if isinstance(expected, dict):
        assert set(actual) == set(expected), where
        for key in expected:
            _assert_close(actual[key], expected[key], f"{where}.{key}")
    else:
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5, err_msg=where)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_preset_computes_what_its_model_keras_computed(name):
    expected = REFERENCE[name]
    model = from_preset(name, expected["version"])
    _assert_close(record.outputs(model), {k: v for k, v in expected.items() if k != "version"}, name)


def test_the_reference_covers_every_shipped_preset():
    from keraszoo.export import list_versions

    exports = os.path.join(ROOT, "exports")
    shipped = {n: list_versions(exports, n)[-1] for n in os.listdir(exports) if list_versions(exports, n)}
    assert {n: e["version"] for n, e in REFERENCE.items()} == shipped
