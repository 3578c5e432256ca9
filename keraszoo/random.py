"""Replica-aware stateless noise, and uniform noise on the open interval (`open_uniform`).

`keras.random.SeedGenerator` yields the same seed on every replica of a tf.distribute
strategy (keras PR #20612), so naive sampling gives every replica the same noise. Instead, each
replica draws the noise of the *whole global batch* from the step seed and keeps its own
contiguous slice. Replicas then see different noise, and a run on N replicas sees exactly
the noise a 1-replica run sees on the same global batch: results do not depend on the
number of devices. Latent noise is small next to the decoder's work, so drawing it N times
costs little.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf


def replica_slice_noise(
    draw: Callable[[tf.Tensor, tf.Tensor], tf.Tensor], local_shape: tf.Tensor, seed: tf.Tensor
) -> tf.Tensor:
    """Draws noise of `local_shape` (batch first) for this replica's slice of the global batch.

    Args:
        draw: `draw(shape, seed)`, a stateless sampler such as `tf.random.stateless_normal`.
        local_shape: 1-D int tensor, the per-replica shape; its first entry is the batch.
        seed: shape-[2] integer stateless seed, identical on every replica.

    Returns:
        A tensor of `local_shape`.
    """
    ctx = tf.distribute.get_replica_context()
    num_replicas = ctx.num_replicas_in_sync if ctx is not None else 1
    if num_replicas == 1:
        return draw(local_shape, seed)
    replica = tf.cast(ctx.replica_id_in_sync_group, tf.int32)
    local_shape = tf.cast(local_shape, tf.int32)
    batch = local_shape[0]
    global_shape = tf.concat([[batch * num_replicas], local_shape[1:]], axis=0)
    return draw(global_shape, seed)[replica * batch : (replica + 1) * batch]


def as_seed(seed) -> tf.Tensor:
    """An integer or a shape-[2] seed as a stateless seed tensor of dtype int32."""
    seed = tf.convert_to_tensor(seed)
    if seed.shape.rank == 0:
        seed = tf.stack([seed, tf.zeros_like(seed)])
    return tf.cast(seed, tf.int32)


def open_uniform(shape, seed, dtype=tf.float32) -> tf.Tensor:
    """U(tiny, 1): never 0 or 1, so −log(−log u) and log u − log(1 − u) are finite."""
    dtype = tf.as_dtype(dtype)
    return tf.random.stateless_uniform(shape, seed, minval=np.finfo(dtype.as_numpy_dtype).tiny, dtype=dtype)
