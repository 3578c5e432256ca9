"""KL terms of the ELBO (Kingma & Welling 2014) and an L2 alternative to the KL.

Closed forms against uniform priors of the discrete latents (Jang et al. 2017), from logits,
in log space (no NaN at q_i = 0 or 1):

categorical_kl_uniform:  KL(Cat(softmax l) ‖ Uniform(M)) = Σ_i q_i log(q_i M)
bernoulli_kl_uniform:    KL(Bern(σ l) ‖ Bern(1/2)) = Σ q log 2q + (1 − q) log 2(1 − q)

analytic:     KL(q ‖ p) in closed form (TFP's registered KLs), e.g. for the Gaussian
              Σ_j −log σ_j + (σ_j² + µ_j²)/2 − 1/2 against N(0, I);
monte_carlo:  log q(z|x) − log p(z) at the sampled z (unbiased, for any pair);
param_l2:     Σ_j µ_j² + (σ_j − 1)², the L2 distance between the parameters of
              q = N(µ, σ²) and p = N(0, I), used in place of the KL. It is a training
              regularizer only, not a bound: the reported ELBO keeps the true KL.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


def analytic_kl(q: tfd.Distribution, p: tfd.Distribution) -> tf.Tensor:
    """KL(q ‖ p) in closed form, one value per example."""
    return tfd.kl_divergence(q, p)


def monte_carlo_kl(q: tfd.Distribution, p: tfd.Distribution, z: tf.Tensor) -> tf.Tensor:
    """Single-sample estimate log q(z) − log p(z) at a sample z ~ q."""
    return q.log_prob(z) - p.log_prob(z)


def gaussian_param_l2(loc: tf.Tensor, scale: tf.Tensor) -> tf.Tensor:
    """Σ_j loc_j² + (scale_j − 1)²: the L2 regularizer towards N(0, I)'s parameters."""
    return tf.reduce_sum(tf.square(loc) + tf.square(scale - 1.0), axis=-1)


def categorical_kl_uniform(logits: tf.Tensor) -> tf.Tensor:
    """KL(Cat(softmax l) ‖ Uniform(M)) = Σ_i q_i log(q_i M), from logits, summed over the last axis."""
    log_q = tf.nn.log_softmax(logits)
    m = tf.cast(tf.shape(logits)[-1], logits.dtype)
    # q_i log q_i with q_i = 0 is 0: exp(−inf) · (−inf) would be NaN, so use tf.math.xlogy-style masking.
    return tf.reduce_sum(tf.math.multiply_no_nan(log_q + tf.math.log(m), tf.exp(log_q)), axis=-1)


def bernoulli_kl_uniform(logits: tf.Tensor) -> tf.Tensor:
    """KL(Bern(σ l) ‖ Bern(1/2)) = Σ q log 2q + (1 − q) log 2(1 − q), in log space, summed."""
    q = tf.sigmoid(logits)
    log2 = tf.math.log(tf.constant(2.0, logits.dtype))
    kl = q * (tf.math.log_sigmoid(logits) + log2) + (1.0 - q) * (tf.math.log_sigmoid(-logits) + log2)
    return tf.reduce_sum(kl, axis=-1)
