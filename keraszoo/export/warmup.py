"""TF Serving warm-up requests: `assets.extra/tf_serving_warmup_requests` in every export.

TF Serving initializes parts of the runtime lazily, so the first request after a model loads
can be much slower than the rest. When a SavedModel carries
`assets.extra/tf_serving_warmup_requests` — a TFRecord file of `PredictionLog` records, at
most 1000 — the server replays them while loading the version and only then marks it
AVAILABLE (https://www.tensorflow.org/tfx/serving/saved_model_warmup). Each export gets a
few small `Predict` requests per signature: batches of 1 and 2 examples of zeros for
`x`/`z`, code 0 (valid for every discrete family) for integer `codes`/`indices`, `n` equal to
that batch size and `seed` 0 for `sample`.

The records are built with the protos of the `tensorflow-serving-api` package (2.21.0, the
release matching our TensorFlow 2.21.0; it requires only `tensorflow>=2.21,<3`, `grpcio` and
`protobuf`, which TensorFlow already brings, so it installs beside TensorFlow without changing
it). The package's generated classes are the server's own message definitions, so field
numbers cannot drift from what TF Serving parses; a hand-written descriptor would have to be
kept in step with `tensorflow_serving/apis/{model,predict,prediction_log}.proto` by hand.

Only `model_spec.signature_name` is set: TF Serving runs warm-up requests on the version it is
loading, whatever the model is called, so an export can be copied under another model name
(as `exports/` presets are) and its warm-up still applies.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
WARMUP_BATCH_SIZES = (1, 2)
MAX_WARMUP_RECORDS = 1000  # TF Serving reads no more (WarmupConsts::kMaxNumRecords)


def warmup_inputs(specs: Iterable[tf.TensorSpec], batch_size: int) -> dict[str, np.ndarray]:
    """Representative values for one request of a signature with input `specs` (named).

    Batched inputs are `batch_size` examples of zeros (pixels for `x`, latents for `z`, code 0
    for integer codes); scalars are 0, except a sample count `n`, which is `batch_size`.
    """
    inputs = {}
    for spec in specs:
        dtype = spec.dtype.as_numpy_dtype
        if spec.shape.rank == 0:
            inputs[spec.name] = np.asarray(batch_size if spec.name == "n" else 0, dtype)
        else:
            shape = [batch_size] + [1 if d is None else d for d in spec.shape.as_list()[1:]]
            inputs[spec.name] = np.zeros(shape, dtype)
    return inputs


def warmup_requests(
    signatures: Mapping[str, Sequence[tf.TensorSpec]], batch_sizes: Sequence[int] = WARMUP_BATCH_SIZES
) -> list[prediction_log_pb2.PredictionLog]:
    """`PredictionLog`s holding one `PredictRequest` per signature and batch size."""
    logs = []
    for name, specs in signatures.items():
        for batch_size in batch_sizes:
            request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(signature_name=name))
            for key, value in warmup_inputs(specs, batch_size).items():
                request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
            logs.append(
                prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            )
    if len(logs) > MAX_WARMUP_RECORDS:
        raise ValueError(f"TF Serving reads at most {MAX_WARMUP_RECORDS} warm-up records; built {len(logs)}.")
    return logs


def write_warmup_requests(export_dir: str, signatures: Mapping[str, Sequence[tf.TensorSpec]]) -> str:
    """Writes `<export_dir>/assets.extra/tf_serving_warmup_requests`; returns its path.

    `signatures`: signature name → its named input `tf.TensorSpec`s, as in
    `model.serving_endpoints()` (or, for an existing SavedModel,
    `list(loaded.signatures[name].structured_input_signature[1].values())`).
    """
    os.makedirs(os.path.join(export_dir, WARMUP_DIR), exist_ok=True)
    path = os.path.join(export_dir, WARMUP_DIR, WARMUP_FILE)
    with tf.io.TFRecordWriter(path) as writer:
        for log in warmup_requests(signatures):
            writer.write(log.SerializeToString())
    return path


def read_warmup_requests(export_dir: str) -> list[predict_pb2.PredictRequest]:
    """The `PredictRequest`s of an export's warm-up file, in file order."""
    path = os.path.join(export_dir, WARMUP_DIR, WARMUP_FILE)
    requests = []
    for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
        log = prediction_log_pb2.PredictionLog.FromString(record)
        kind = log.WhichOneof("log_type")
        if kind != "predict_log":
            raise ValueError(f"Expected only predict_log records in {path!r}; found {kind}.")
        requests.append(log.predict_log.request)
    return requests
