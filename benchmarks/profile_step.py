"""Where a training step's time goes: TensorFlow's profiler, self-time per op type.

    python benchmarks/profile_step.py --batch-size 1024 --model keraszoo [--policy mixed_bfloat16]

Trains the throughput benchmark's model (`benchmarks/throughput.py`: MLP 784-512-512-2×50,
Bernoulli, Adam) for 40 steps after a warm-up, under `tf.profiler.experimental`, and prints
the share of host self-time of each op type (MatMul, elementwise ops, the Adam update, ...) and
the wall time per step. The raw trace stays in --logdir for TensorBoard's profile plugin.
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import sys
import time

import keras
import tensorflow as tf
from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as profiler_plugin

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from throughput import KerasIoVAE, _data, _ours  # noqa: E402

from keraszoo.optimizers import FusedAdam  # noqa: E402

STEPS = 40


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--model", choices=["keraszoo", "kerasio"], default="keraszoo")
    parser.add_argument("--policy", default=None, help="keraszoo backbone dtype, e.g. mixed_bfloat16")
    parser.add_argument("--spe", type=int, default=10, help="steps_per_execution")
    parser.add_argument("--logdir", default="/tmp/keraszoo-profile")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    model = KerasIoVAE() if args.model == "kerasio" else _ours(backbone_dtype=args.policy)
    # keraszoo as `TrainConfig` trains it (FusedAdam); the baseline with Keras's Adam.
    optimizer = keras.optimizers.Adam(1e-3) if args.model == "kerasio" else FusedAdam(1e-3)
    model.compile(optimizer, steps_per_execution=args.spe)
    data = _data(args.batch_size * 20)
    ds = (
        tf.data.Dataset.from_tensor_slices(data)
        .batch(args.batch_size, drop_remainder=True)
        .repeat()
        .prefetch(8)
    )
    model.fit(ds, steps_per_epoch=STEPS, epochs=1, verbose=0)  # warm-up: tracing, allocations
    logdir = os.path.join(args.logdir, f"{args.model}-{args.policy or 'float32'}-{args.batch_size}")
    tf.profiler.experimental.start(logdir)
    start = time.perf_counter()
    model.fit(ds, steps_per_epoch=STEPS, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    tf.profiler.experimental.stop()
    paths = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True))[-1:]
    raw, ok = profiler_plugin.xspace_to_tools_data(paths, "framework_op_stats", {})
    if not ok:
        raise RuntimeError(f"could not read the profile {paths}")
    table = json.loads(raw)[0]
    columns = [c["id"] for c in table["cols"]]
    by_type = collections.Counter()
    for row in table["rows"]:
        values = dict(zip(columns, (cell.get("v") for cell in row["c"]), strict=True))
        if values["host_or_device"] == "Host" and values["type"] != "IDLE":  # busy time only
            by_type[values["type"]] += values["total_self_time"]
    total = sum(by_type.values())
    print(f"{args.model} ({args.policy or 'float32'}), batch {args.batch_size}, steps_per_execution "
          f"{args.spe}: {1000 * seconds / STEPS:.1f} ms/step wall, {args.batch_size * STEPS / seconds:,.0f} "
          f"examples/s (under the profiler); busy op time {total / 1000 / STEPS:.1f} ms/step "
          "summed over threads")  # fmt: skip
    for kind, us in by_type.most_common(args.top):
        print(f"  {kind:32s} {100 * us / total:5.1f} %  {us / 1000 / STEPS:7.2f} ms/step")


if __name__ == "__main__":
    main()
