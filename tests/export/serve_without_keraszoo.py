"""Loads SavedModels and calls every signature with TensorFlow alone.

Run as `python serve_without_keraszoo.py`: each line of stdin, `EXPORT_DIR<TAB>INPUTS.npz<TAB>
OUTPUTS.npz`, is one request, answered by one JSON line on stdout ({"ok": [output names]} or
{"error": traceback}), so that one process (one TensorFlow import) serves a whole test session.
The tests run it where keraszoo, keras, tensorflow_probability and tf_keras are not installed,
the way a TF Serving host has none of them; the script checks that first and after every request.
"""

import importlib.util
import json
import sys
import traceback

BLOCKED = ("keraszoo", "keras", "tensorflow_probability", "tf_keras")
missing = [name for name in BLOCKED if importlib.util.find_spec(name) is None]
assert missing == list(BLOCKED), (
    f"expected none of {BLOCKED} to be importable; found {set(BLOCKED) - set(missing)}"
)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def serve(export_dir, inputs_path, outputs_path):
    inputs = dict(np.load(inputs_path))
    loaded = tf.saved_model.load(export_dir)

    def feed(signature):
        """Inputs by the signature's own names: batches from the .npz, scalars as 0-d tensors."""
        specs = signature.structured_input_signature[1]
        return {name: tf.constant(inputs[name], dtype=spec.dtype) for name, spec in specs.items()}

    calls = {name: feed(signature) for name, signature in loaded.signatures.items()}
    outputs = {}
    for signature, kwargs in calls.items():
        for key, value in loaded.signatures[signature](**kwargs).items():
            outputs[f"{signature}/{key}"] = value.numpy()
    assert not any(name.split(".")[0] in BLOCKED for name in sys.modules)
    np.savez(outputs_path, **outputs)
    return sorted(outputs)


for line in sys.stdin:
    try:
        answer = {"ok": serve(*line.rstrip("\n").split("\t"))}
    except Exception:
        answer = {"error": traceback.format_exc()}
    print(json.dumps(answer), flush=True)
