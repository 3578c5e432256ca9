"""TF Serving warm-up requests: every export carries them, they parse, and they run."""

import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from keraszoo import available_models
from keraszoo.export import WARMUP_DIR, WARMUP_FILE, read_warmup_requests, write_warmup_requests

SHIPPED = os.path.join(os.path.dirname(__file__), "..", "..", "exports", "gaussian_vae_digits", "1")


@pytest.fixture(scope="module", params=sorted(available_models()))
def exported(request, example_export):
    return example_export(request.param)


def _input_specs(signature):
    return signature.structured_input_signature[1]


def _check_requests_run(export_dir, expected_signatures):
    """Every signature has requests whose inputs are exactly its named inputs (dtype, shape),
    and each request runs through the loaded SavedModel signature with finite outputs."""
    requests = read_warmup_requests(export_dir)
    loaded = tf.saved_model.load(export_dir)
    names = [r.model_spec.signature_name for r in requests]
    assert set(names) == set(loaded.signatures) == set(expected_signatures)
    assert all(names.count(name) >= 1 for name in expected_signatures)
    assert len(requests) <= 1000  # TF Serving reads no more
    for request in requests:
        signature = loaded.signatures[request.model_spec.signature_name]
        specs = _input_specs(signature)
        assert set(request.inputs) == set(specs), request.model_spec.signature_name
        feed = {}
        for name, proto in request.inputs.items():
            value = tf.make_ndarray(proto)
            assert tf.as_dtype(value.dtype) == specs[name].dtype, name
            assert specs[name].shape.is_compatible_with(value.shape), (name, value.shape)
            feed[name] = tf.constant(value)
        outputs = signature(**feed)
        assert outputs, request.model_spec.signature_name
        for key, value in outputs.items():
            assert np.all(np.isfinite(value.numpy())), (request.model_spec.signature_name, key)
    return requests


def test_every_export_carries_warmup_requests_that_run(exported):
    model, path = exported
    assert os.path.isfile(os.path.join(path, WARMUP_DIR, WARMUP_FILE))
    endpoints = model.serving_endpoints()
    requests = _check_requests_run(path, endpoints)
    by_signature = {}
    for r in requests:
        by_signature.setdefault(r.model_spec.signature_name, []).append(r)
    sample = by_signature["sample"]
    assert sorted(tf.make_ndarray(r.inputs["n"]) for r in sample) == [1, 2]
    assert all(tf.make_ndarray(r.inputs["seed"]) == 0 for r in sample)
    for r in by_signature["serving_default"]:
        x = tf.make_ndarray(r.inputs["x"])
        assert x.shape[0] in (1, 2) and not x.any()  # small batches of zeros


def test_warmup_file_is_a_tfrecord_of_prediction_logs(exported):
    _, path = exported
    records = list(tf.data.TFRecordDataset(os.path.join(path, WARMUP_DIR, WARMUP_FILE)).as_numpy_iterator())
    assert records
    for record in records:
        log = prediction_log_pb2.PredictionLog.FromString(record)
        assert log.WhichOneof("log_type") == "predict_log"
        assert log.predict_log.request.model_spec.signature_name
        assert not log.predict_log.request.model_spec.name  # any served model name applies


def test_write_warmup_requests_for_an_existing_saved_model(tmp_path):
    """The shipped preset predates warm-up files: one can be written from its signatures alone."""
    loaded = tf.saved_model.load(SHIPPED)
    specs = {name: list(_input_specs(s).values()) for name, s in loaded.signatures.items()}
    copy = tmp_path / "1"
    tf.io.gfile.makedirs(str(copy))
    for entry in ("saved_model.pb", "variables", "assets", "fingerprint.pb"):
        source = os.path.join(SHIPPED, entry)
        if os.path.exists(source):
            os.symlink(os.path.abspath(source), copy / entry)
    write_warmup_requests(str(copy), specs)
    _check_requests_run(str(copy), specs)
