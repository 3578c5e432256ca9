"""Variational bounds on log p_θ(x).

    ELBO:        L(x)   = E_q[log p_θ(x|z)] − KL(q_φ(z|x) ‖ p(z))          ≤ log p_θ(x)
    IWAE (k):    L_k(x) = E[ log (1/k) Σ_i p_θ(x, z_i) / q_φ(z_i|x) ],  z_i ~ q   (Burda et al. 2016)

L_1 = ELBO ≤ L_k ≤ L_{k+1} → log p_θ(x) as k → ∞; L_k with large k (5000) is the
standard test-set "NLL" estimate. log-mean-exp is computed as logsumexp − log k, which
subtracts the maximum before exponentiating.
"""

from __future__ import annotations

import math

import tensorflow as tf


def log_mean_exp(values: tf.Tensor, axis: int = 0) -> tf.Tensor:
    """log (1/k) Σ_i exp(values_i) along `axis`, computed stably."""
    k = tf.cast(tf.shape(values)[axis], values.dtype)
    return tf.reduce_logsumexp(values, axis=axis) - tf.math.log(k)


def combine_log_mean_exp(chunk_lse: list[tf.Tensor], num_samples: int) -> tf.Tensor:
    """log-mean-exp over all samples from per-chunk logsumexps (each of shape [batch])."""
    return tf.reduce_logsumexp(tf.stack(chunk_lse), axis=0) - math.log(num_samples)


def nats_to_bits_per_dim(nats_per_example: float, data_shape) -> float:
    """Nats per example → bits per dimension: nats / (D · ln 2)."""
    return float(nats_per_example) / (math.prod(data_shape) * math.log(2.0))
