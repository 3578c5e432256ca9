"""Training throughput of 1 and 2 workers (MultiWorkerMirroredStrategy on 127.0.0.1).

    python benchmarks/multi_worker.py --data-file ../shared/data/binarized_mnist.npz --epochs 4

Starts the `gaussian_vae_mnist` recipe with `--strategy multi_worker` once per worker (TF_CONFIG
on free loopback ports), reads the per-epoch times the chief prints, and reports training
examples/s (validation included) as the median over the epochs after the first. On one machine
the workers share its cores: the point of the comparison is the overhead of the collective
all-reduce, not a speed-up.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

from keraszoo.training.multi_worker import local_tf_configs


def run(workers: int, args, scratch: str) -> list[float]:
    """Seconds per epoch that the chief printed."""
    configs = local_tf_configs(workers)
    workdir = os.path.join(scratch, f"{workers}-workers")
    procs = []
    for config in configs:
        env = {**os.environ, "TF_CONFIG": config}
        command = [sys.executable, "-m", "keraszoo.recipes.train", args.recipe, "--data-file", args.data_file,
                   "--workdir", workdir, "--strategy", "multi_worker", "--epochs", str(args.epochs),
                   "--no-export", "--eval-num-samples", "1", "--set", "pictures=false"]  # fmt: skip
        procs.append(
            subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        )
    outputs = [p.communicate(timeout=3600)[0] for p in procs]
    if any(p.returncode for p in procs):
        raise RuntimeError(outputs[0][-3000:])
    return [float(s) for s in re.findall(r"^Epoch \d+/\d+ - ([\d.]+)s", outputs[0], re.MULTILINE)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-file", required=True)
    parser.add_argument("--recipe", default="gaussian_vae_mnist")
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    examples = int(np.load(args.data_file)["train"].shape[0])
    with tempfile.TemporaryDirectory() as scratch:
        for workers in (1, 2):
            seconds = run(workers, args, scratch)
            rate = examples / np.median(seconds[1:] or seconds)
            print(f"{workers} worker(s): epoch seconds {seconds}, {rate:,.0f} training examples/s (median)")


if __name__ == "__main__":
    main()
