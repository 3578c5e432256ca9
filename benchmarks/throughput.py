"""Training throughput: keraszoo's Gaussian VAE against a keras-io-style baseline, same run.

The baseline is written the way the keras-io VAE example is (a `Sampling` layer, functional
encoder/decoder, a custom `train_step` with a hand-written loss and `GradientTape`). Both use
the same MLP, 784-512-512-2×50 with a mirrored decoder, the same batch size, Adam, and
random binary 28×28 data held in memory (the input pipeline is not what is measured).

    python benchmarks/throughput.py --batch-sizes 128 1024 --rounds 2

Every variant runs in its own process, in interleaved rounds; prints the median examples/s after
warm-up, the range over rounds and the ratio to the baseline's median, and the fp32 limit: the
examples/s the model's matmuls alone allow on this machine (measured in the same run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from keraszoo import GaussianVAE, build_model
from keraszoo.optimizers import FusedAdam
from keraszoo.recipes import get_config
from keraszoo.training import TrainConfig, make_strategy

LATENT, HIDDEN, SHAPE = 50, [512, 512], (28, 28, 1)


class Sampling(layers.Layer):
    """keras-io: z = mean + exp(0.5 log_var) ε."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        eps = keras.random.normal(shape=ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps


class KerasIoVAE(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        inputs = keras.Input(SHAPE)
        h = layers.Flatten()(inputs)
        for units in HIDDEN:
            h = layers.Dense(units, activation="relu")(h)
        z_mean, z_log_var = layers.Dense(LATENT)(h), layers.Dense(LATENT)(h)
        self.encoder = keras.Model(inputs, [z_mean, z_log_var, Sampling()([z_mean, z_log_var])])
        z_in = keras.Input((LATENT,))
        h = z_in
        for units in reversed(HIDDEN):
            h = layers.Dense(units, activation="relu")(h)
        self.decoder = keras.Model(z_in, layers.Reshape(SHAPE)(layers.Dense(784, activation="sigmoid")(h)))
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker]

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            reconstruction_loss = ops.mean(
                ops.sum(keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2))
            )
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            total_loss = reconstruction_loss + ops.mean(ops.sum(kl_loss, axis=1))
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
        self.total_loss_tracker.update_state(total_loss)
        return {"loss": self.total_loss_tracker.result()}


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


class _Timer(keras.callbacks.Callback):
    """Wall time after warm-up, and the cores the process kept busy meanwhile (CPU s / wall s)."""

    def __init__(self, warmup_batches):
        self.warmup, self.start, self.batches = warmup_batches, None, 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        if self.batches == self.warmup:
            self.start, self.cpu_start = time.perf_counter(), _cpu_seconds()

    def on_train_end(self, logs=None):
        self.seconds = time.perf_counter() - self.start
        self.cores = (_cpu_seconds() - self.cpu_start) / self.seconds


WARMUP_EXAMPLES = 4 * 1024  # untimed, after the first 20 steps, before every measurement

# Each variant runs in a fresh process (thread pools are fixed at TensorFlow's start-up).
VARIANTS = {
    "keras-io baseline": dict(model="keras-io"),
    "keraszoo, fit (spe 1), Keras Adam": dict(model="keraszoo"),
    "keraszoo, spe 10, Keras Adam": dict(model="keraszoo", spe=10),
    "keraszoo, spe 10, inter-op 1": dict(model="keraszoo", spe=10, inter_op=1),
    "keraszoo, spe 10, XLA": dict(model="keraszoo", spe=10, jit=True),
    "keraszoo, spe 10, FusedAdam": dict(model="keraszoo", spe=10, fused=True),
    "keraszoo, spe 10, FusedAdam, MirroredStrategy on the CPU": dict(
        model="keraszoo", spe=10, fused=True, strategy="mirrored"
    ),
    # TrainConfig's defaults: strategy "auto" (none on one device), FusedAdam, spe 10.
    "keraszoo, TrainConfig defaults": dict(model="keraszoo", spe=10, fused=True, strategy="auto"),
    "keraszoo, TrainConfig defaults + mixed_bfloat16": dict(
        model="keraszoo", spe=10, fused=True, strategy="auto", policy="mixed_bfloat16"
    ),
    "fp32 limit (matmuls alone)": dict(model="matmuls"),
    # The other two workloads of the issue (run them with --batch-sizes 100):
    "vqvae_mnist recipe model, FusedAdam, spe 10": dict(model="vqvae", spe=10, fused=True),
    "vqvae_mnist recipe model, FusedAdam, spe 10, mixed_bfloat16": dict(
        model="vqvae", spe=10, fused=True, policy="mixed_bfloat16"
    ),
    "NLL evaluation, Burda VAE, k=5000": dict(model="evaluation"),
    "NLL evaluation, Burda VAE, k=5000, mixed_bfloat16": dict(model="evaluation", policy="mixed_bfloat16"),
}


def _data(n):
    return (np.random.default_rng(0).random((n, *SHAPE)) < 0.13).astype("float32")


def run_variant(spec: dict, batch_size: int, examples: int) -> tuple[float, float | None]:
    """(examples/s after warm-up, cores busy meanwhile, for the training variants) of one variant,
    in this process."""
    if spec.get("inter_op"):
        tf.config.threading.set_inter_op_parallelism_threads(spec["inter_op"])
    if spec["model"] == "matmuls":
        return matmul_limit(batch_size, examples), None
    keras.utils.set_random_seed(0)
    if spec["model"] == "evaluation":
        return evaluation_rate(batch_size, examples, spec.get("policy")), None
    strategy = make_strategy(TrainConfig(strategy=spec.get("strategy", "default")))
    spe = spec.get("spe", 1)
    with strategy.scope():
        if spec["model"] == "vqvae":
            config = get_config("vqvae_mnist")["model_config"]
            model = build_model("vqvae", data_shape=SHAPE, **{**config, "backbone_dtype": spec.get("policy")})
        else:
            model = KerasIoVAE() if spec["model"] == "keras-io" else _ours(backbone_dtype=spec.get("policy"))
        optimizer = (FusedAdam if spec.get("fused") else keras.optimizers.Adam)(1e-3)
        model.compile(optimizer, jit_compile=spec.get("jit", False), steps_per_execution=spe)
    data = _data(max(batch_size * 20, 10_000))
    ds = tf.data.Dataset.from_tensor_slices(data).batch(batch_size, drop_remainder=True).repeat().prefetch(8)
    warmup = max(1, 20 // spe, -(-WARMUP_EXAMPLES // (batch_size * spe)))
    timed = max(1, examples // (batch_size * spe))
    timer = _Timer(warmup)  # Keras calls on_train_batch_end once per `spe` steps
    model.fit(ds, steps_per_epoch=(warmup + timed) * spe, epochs=1, verbose=0, callbacks=[timer])
    return timed * spe * batch_size / timer.seconds, timer.cores


def evaluation_rate(batch_size: int, examples: int, policy) -> float:
    """Test examples/s of the importance-weighted NLL (k = 5000, as the presets are evaluated)
    with the `gaussian_vae_mnist` recipe's model (Burda et al.'s 784-200-200-50 tanh), on
    `examples` // 50 examples (k = 5000 costs 5000 decoder passes per example)."""
    config = get_config("gaussian_vae_mnist")["model_config"]
    model = build_model("gaussian_vae", data_shape=SHAPE, **{**config, "backbone_dtype": policy})
    data = tf.constant(_data(batch_size))
    model.log_likelihood(data[:2], num_samples=5000, seed=0)  # warm-up (tracing)
    batches = max(1, examples // 50 // batch_size)
    start = time.perf_counter()
    for b in range(batches):
        model.log_likelihood(data, num_samples=5000, seed=b).numpy()
    return batches * batch_size / (time.perf_counter() - start)


def matmul_limit(batch_size: int, examples: int) -> float:
    """Examples/s if a training step cost only its matmuls: per dense layer [B, in]·[in, out]
    forward, and the two products of its backward pass (the weight gradient, and the input
    gradient except for the data's), on this machine, in float32."""
    dims = [784, *HIDDEN, 2 * LATENT]
    layers_ = list(zip(dims[:-1], dims[1:], strict=True))
    layers_ += (
        [(LATENT, HIDDEN[-1])]
        + list(zip(HIDDEN[::-1][:-1], HIDDEN[::-1][1:], strict=True))
        + [(HIDDEN[0], 784)]
    )
    rng = np.random.default_rng(0)
    xs = [tf.constant(rng.random((batch_size, i)), tf.float32) for i, _ in layers_]
    ws = [tf.constant(rng.random((i, o)), tf.float32) for i, o in layers_]
    gs = [tf.constant(rng.random((batch_size, o)), tf.float32) for _, o in layers_]

    @tf.function
    def step():
        total = 0.0
        for n, (x, w, g) in enumerate(zip(xs, ws, gs, strict=True)):
            total += tf.reduce_sum(tf.matmul(x, w)[:1, :1])
            total += tf.reduce_sum(tf.matmul(x, g, transpose_a=True)[:1, :1])
            if n:  # every input gradient but the data's (z's flows back to the encoder)
                total += tf.reduce_sum(tf.matmul(g, w, transpose_b=True)[:1, :1])
        return total

    for _ in range(5):
        step().numpy()
    reps = max(5, examples // batch_size)
    start = time.perf_counter()
    for _ in range(reps):
        step().numpy()
    return reps * batch_size / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 1024])
    parser.add_argument("--examples", type=int, default=60_000, help="timed examples per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved repeats of every variant")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), help="a subset of the variants")
    parser.add_argument("--out", default=None, help="also write the results as JSON here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: one measurement
    args = parser.parse_args()
    if args.worker:
        spec = json.loads(args.worker)
        print(json.dumps(run_variant(spec, args.batch_sizes[0], args.examples)))
        return
    results = {(v, b): [] for v in args.variants for b in args.batch_sizes}
    cores = {(v, b): [] for v in args.variants for b in args.batch_sizes}
    for _ in range(args.rounds):
        for b in args.batch_sizes:
            for v in args.variants:
                command = [sys.executable, __file__, "--worker", json.dumps(VARIANTS[v]),
                           "--batch-sizes", str(b), "--examples", str(args.examples)]  # fmt: skip
                out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
                rate, busy = json.loads(out.strip().splitlines()[-1])
                results[(v, b)].append(rate)
                if busy is not None:
                    cores[(v, b)].append(busy)
                print(f"  batch {b:5d}  {v:55s} {rate:9.0f}", file=sys.stderr)
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, TF {tf.__version__}, Keras {keras.__version__}"
    print(f"machine: {machine}; {args.examples} timed examples per measurement; {args.rounds} rounds")
    rows = []
    for b in args.batch_sizes:
        base = np.median(results[("keras-io baseline", b)]) if "keras-io baseline" in args.variants else None
        print(
            f"\nbatch {b}: {'variant':55s} {'median':>8s} {'range':>15s} {'vs baseline':>11s} "
            f"{'cores busy':>10s}"
        )
        for v in args.variants:
            values = results[(v, b)]
            median = float(np.median(values))
            ratio = median / base if base else float("nan")
            busy = float(np.median(cores[(v, b)])) if cores[(v, b)] else None
            shown = f"{busy:10.2f}" if busy is not None else f"{'—':>10s}"
            print(
                f"{'':10s}{v:55s} {median:8.0f} {min(values):7.0f}–{max(values):<7.0f} {ratio:11.2f} {shown}"
            )
            rows.append(
                {"variant": v, "batch_size": b, "examples_per_s": values, "median": median, "ratio": ratio,
                 "cores_busy": cores[(v, b)]}
            )  # fmt: skip
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"machine": machine, "rows": rows}, f, indent=2)


def _ours(**overrides):
    return GaussianVAE(
        data_shape=SHAPE,
        latent_dim=LATENT,
        encoder={"name": "mlp", "hidden_units": HIDDEN, "activation": "relu"},
        likelihood="bernoulli",
        seed=0,
        **overrides,
    )


if __name__ == "__main__":
    main()
