"""Training throughput: keraszoo's Gaussian VAE against a keras-io-style baseline, same run.

The baseline is written the way the keras-io VAE example is (a `Sampling` layer, functional
encoder/decoder, a custom `train_step` with a hand-written loss and `GradientTape`). Both use
the same MLP, 784-512-512-2×50 with a mirrored decoder, the same batch size, Adam, and
random binary 28×28 data held in memory (the input pipeline is not what is measured).

    python benchmarks/throughput.py --batch-size 100 --steps 300

Prints examples/s after warm-up for each variant and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from keraszoo import GaussianVAE

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


class _Timer(keras.callbacks.Callback):
    def __init__(self, warmup_batches):
        self.warmup, self.start, self.batches = warmup_batches, None, 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        if self.batches == self.warmup:
            self.start = time.perf_counter()

    def on_train_end(self, logs=None):
        self.seconds = time.perf_counter() - self.start


def measure(model, data, batch_size, steps, steps_per_execution, jit_compile):
    model.compile(
        keras.optimizers.Adam(1e-3),
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    ds = tf.data.Dataset.from_tensor_slices(data).batch(batch_size, drop_remainder=True).repeat().prefetch(8)
    warmup = max(1, 20 // steps_per_execution)
    timer = _Timer(warmup)
    # Keras calls on_train_batch_end once per execution of `steps_per_execution` steps.
    executions = steps // steps_per_execution + warmup
    model.fit(ds, steps_per_epoch=executions * steps_per_execution, epochs=1, verbose=0, callbacks=[timer])
    timed_steps = (executions - warmup) * steps_per_execution
    return timed_steps * batch_size / timer.seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", default=None, help="also write the results as JSON here")
    args = parser.parse_args()
    data = (np.random.default_rng(0).random((10_000, *SHAPE)) < 0.13).astype("float32")
    variants = [
        ("keras-io baseline", KerasIoVAE, 1, False),
        ("keraszoo", _ours, 1, False),
        ("keraszoo validate_inputs=False", lambda: _ours(validate_inputs=False), 1, False),
        ("keraszoo steps_per_execution=10", _ours, 10, False),
        ("keraszoo steps_per_execution=10, no validation", lambda: _ours(validate_inputs=False), 10, False),
        ("keras-io baseline steps_per_execution=10", KerasIoVAE, 10, False),
        ("keraszoo steps_per_execution=10 + XLA", lambda: _ours(validate_inputs=False), 10, True),
    ]
    rows = []
    for name, build, spe, jit in variants:
        keras.utils.set_random_seed(0)
        rate = measure(build(), data, args.batch_size, args.steps, spe, jit)
        rows.append(
            {
                "variant": name,
                "steps_per_execution": spe,
                "jit_compile": jit,
                "examples_per_s": rate,
            }
        )
    base = rows[0]["examples_per_s"]
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, TF {tf.__version__}, Keras {keras.__version__}"
    gpus = tf.config.list_physical_devices("GPU")
    print(f"machine: {machine}; GPUs: {len(gpus)}; batch size {args.batch_size}; {args.steps} timed steps")
    print(f"{'variant':48s} {'examples/s':>12s} {'vs baseline':>12s}")
    for row in rows:
        row["ratio"] = row["examples_per_s"] / base
        print(f"{row['variant']:48s} {row['examples_per_s']:12.0f} {row['ratio']:12.2f}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"machine": machine, "batch_size": args.batch_size, "rows": rows}, f, indent=2)


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
