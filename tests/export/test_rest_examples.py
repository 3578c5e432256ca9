"""The README's TF Serving REST examples run against the shipped preset as TF Serving would run them.

Each example in README.md's "Exports and TF Serving" section is a pair of fenced ```json blocks,
marked `<!-- rest-request: SIGNATURE FORM -->` and `<!-- rest-response: SIGNATURE FORM -->`.
The request runs through the SavedModel loaded with TensorFlow only, decoded the way TF
Serving's REST API decodes it (https://www.tensorflow.org/tfx/serving/api_rest):

- `instances` (row form): a list with one item per example, each an object of named inputs or,
  for a signature with a single input, the value itself; every input is stacked along a new
  batch dimension. The response is `{"predictions": [...]}`, one item per example.
- `inputs` (columnar form): an object of named inputs as whole tensors (or, for a single
  input, the value itself). The response is `{"outputs": ...}`.

A single output is returned without its name, several as an object keyed by output name. The
README writes each array of a response as "dtype [shape]"; the test builds the same skeleton
from the actual outputs and compares.
"""

import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
EXPORT = os.path.join(ROOT, "exports", "gaussian_vae_digits", "1")
SECTION = "## Exports and TF Serving"
BLOCK = re.compile(r"<!-- rest-(request|response): (\w+) (instances|inputs) -->\s*```json\n(.*?)\n```", re.S)


def _section():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    start = readme.index(SECTION + "\n")
    end = readme.find("\n## ", start + len(SECTION))
    return readme[start : end if end != -1 else len(readme)]


def _examples():
    """(signature, form) → {"request": dict, "response": dict}, in README order."""
    examples = {}
    for kind, signature, form, text in BLOCK.findall(_section()):
        entry = examples.setdefault((signature, form), {})
        assert kind not in entry, f"two rest-{kind} blocks for {signature} {form}"
        entry[kind] = json.loads(text)
    return examples


EXAMPLES = _examples()


@pytest.fixture(scope="module")
def served():
    return tf.saved_model.load(EXPORT)


def _tensor(value, spec, where):
    tensor = tf.constant(value, dtype=spec.dtype)
    assert spec.shape.is_compatible_with(tensor.shape), f"{where}: shape {tensor.shape} vs {spec.shape}"
    return tensor


def _decode_request(body, specs):
    """Named input tensors from a REST request body, as TF Serving builds them."""
    names = sorted(specs)
    assert ("instances" in body) != ("inputs" in body), "exactly one of instances / inputs"
    if "instances" in body:
        rows = body["instances"]
        assert isinstance(rows, list) and rows, "instances is a non-empty list"
        if all(isinstance(row, dict) for row in rows):
            assert all(sorted(row) == names for row in rows), f"each instance names {names}"
            columns = {name: [row[name] for row in rows] for name in names}
        else:
            assert len(names) == 1, "plain instances need a signature with one input"
            columns = {names[0]: rows}
    else:
        inputs = body["inputs"]
        if isinstance(inputs, dict) and sorted(inputs) == names:
            columns = inputs
        else:
            assert len(names) == 1, "a bare inputs value needs a signature with one input"
            columns = {names[0]: inputs}
    return {name: _tensor(columns[name], specs[name], name) for name in names}


def _skeleton(tensor):
    return f"{tensor.dtype.name} {list(tensor.shape)}"


def _encode_response(outputs, form):
    """The response's structure with each array written as "dtype [shape]"."""
    if form == "instances":
        batch = {int(t.shape[0]) for t in outputs.values()}
        assert len(batch) == 1, "row-form responses need outputs that share the batch dimension"
        rows = range(batch.pop())
        if len(outputs) == 1:
            (value,) = outputs.values()
            return {"predictions": [_skeleton(value[i]) for i in rows]}
        return {"predictions": [{k: _skeleton(v[i]) for k, v in outputs.items()} for i in rows]}
    if len(outputs) == 1:
        (value,) = outputs.values()
        return {"outputs": _skeleton(value)}
    return {"outputs": {k: _skeleton(v) for k, v in outputs.items()}}


def test_readme_has_both_forms_for_every_signature(served):
    expected = set()
    for name, signature in served.signatures.items():
        scalar_inputs = any(s.shape.rank == 0 for s in signature.structured_input_signature[1].values())
        expected |= {(name, "inputs")} | (set() if scalar_inputs else {(name, "instances")})
    assert set(EXAMPLES) == expected
    assert {"serving_default", "encode", "decode", "sample", "elbo"} <= {s for s, _ in EXAMPLES}
    for key, entry in EXAMPLES.items():
        assert set(entry) == {"request", "response"}, key


@pytest.mark.parametrize("signature,form", sorted(EXAMPLES), ids=lambda v: str(v))
def test_readme_request_gives_the_readme_response(served, signature, form):
    request, response = EXAMPLES[signature, form]["request"], EXAMPLES[signature, form]["response"]
    assert request.get("signature_name") == signature and form in request
    fn = served.signatures[signature]
    outputs = fn(**_decode_request(request, fn.structured_input_signature[1]))
    for name, value in outputs.items():
        assert np.all(np.isfinite(value.numpy())), name
        json.dumps(value.numpy().tolist())  # what the server would send
    assert _encode_response(outputs, form) == response
