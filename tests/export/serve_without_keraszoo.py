"""Loads a SavedModel and calls every signature with TensorFlow alone.

Run as `python serve_without_keraszoo.py EXPORT_DIR INPUTS.npz OUTPUTS.npz`. The test runs it
where keraszoo, keras, tensorflow_probability and tf_keras are not installed, the way a
TF Serving host has none of them; the script checks that first.
"""

import importlib.util
import sys

BLOCKED = ("keraszoo", "keras", "tensorflow_probability", "tf_keras")
missing = [name for name in BLOCKED if importlib.util.find_spec(name) is None]
assert missing == list(BLOCKED), (
    f"expected none of {BLOCKED} to be importable; found {set(BLOCKED) - set(missing)}"
)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

export_dir, inputs_path, outputs_path = sys.argv[1:4]
inputs = dict(np.load(inputs_path))
loaded = tf.saved_model.load(export_dir)


def _feed(signature):
    """Inputs by the signature's own names: batches from the .npz, scalars as 0-d tensors."""
    specs = signature.structured_input_signature[1]
    return {name: tf.constant(inputs[name], dtype=spec.dtype) for name, spec in specs.items()}


calls = {name: _feed(signature) for name, signature in loaded.signatures.items()}
outputs = {}
for signature, kwargs in calls.items():
    for key, value in loaded.signatures[signature](**kwargs).items():
        outputs[f"{signature}/{key}"] = value.numpy()
assert not any(name.split(".")[0] in BLOCKED for name in sys.modules)
np.savez(outputs_path, **outputs)
print("ok", sorted(outputs))
