"""Samplers of discrete latents and their relaxations, the building blocks of the discrete
estimators: straight-through (Bengio et al. 2013), Gumbel-softmax / Concrete (Jang et al. 2017;
Maddison et al. 2017), REINFORCE (Williams 1992) and the ones built on these.

Categorical over M classes (last axis), from logits l, with uniform noise u ∈ (0, 1):

    Gumbel-max:       g = −log(−log u);  argmax_i(l_i + g_i) ~ Categorical(softmax(l))
    Gumbel-softmax:   y = softmax((log_softmax(l) + g)/τ)              (Jang et al. 2017)
    ST Gumbel:        forward one_hot(argmax y), backward ∂y              ("hard")
    straight-through: forward z = one_hot(argmax(l + g)) (an exact sample),
                      backward ∂ softmax(l): z + p − sg(p)                (Bengio et al. 2013)

Bernoulli (binary latents) from logits l, with the logistic noise L = log u − log(1 − u):

    sample:           z = 1[l + L > 0]   (= 1[u < σ(l)], an exact Bernoulli(σ(l)) sample)
    relaxed:          y = σ((l + L)/τ)   (binary Concrete / Gumbel-sigmoid, Maddison et al. 2017)
    straight-through: z + σ(l) − sg(σ(l))

Each relaxed or straight-through sample's forward value is exactly what its formula says;
only the backward pass changes. Uniforms are drawn from the open interval (tiny, 1), so the
Gumbel and logistic noises are finite.
"""

from __future__ import annotations

import tensorflow as tf

# Re-exported: the noise helper lives in the lowest layer (keraszoo.random).
from keraszoo.random import open_uniform as open_uniform


def gumbel_from_uniform(u: tf.Tensor) -> tf.Tensor:
    return -tf.math.log(-tf.math.log(u))


def logistic_from_uniform(u: tf.Tensor) -> tf.Tensor:
    return tf.math.log(u) - tf.math.log1p(-u)


def straight_through(hard: tf.Tensor, soft: tf.Tensor) -> tf.Tensor:
    """Forward value `hard`, gradient of `soft`: hard + soft − sg(soft)."""
    return tf.stop_gradient(hard - soft) + soft


# ---------------------------------------------------------------- categorical
def categorical_sample(logits: tf.Tensor, gumbel: tf.Tensor) -> tf.Tensor:
    """One-hot Gumbel-max sample (no gradient: argmax is piecewise constant in the logits)."""
    return tf.one_hot(tf.argmax(logits + gumbel, axis=-1), tf.shape(logits)[-1], dtype=logits.dtype)


def gumbel_softmax(logits: tf.Tensor, gumbel: tf.Tensor, temperature, hard: bool = False) -> tf.Tensor:
    """Relaxed one-hot sample softmax((log_softmax(l) + g)/τ); `hard`: straight-through one-hot."""
    y = tf.nn.softmax((tf.nn.log_softmax(logits) + gumbel) / temperature)
    if not hard:
        return y
    return straight_through(tf.one_hot(tf.argmax(y, axis=-1), tf.shape(y)[-1], dtype=y.dtype), y)


def straight_through_categorical(logits: tf.Tensor, gumbel: tf.Tensor) -> tf.Tensor:
    """An exact one-hot sample whose gradient is that of softmax(logits)."""
    return straight_through(categorical_sample(logits, gumbel), tf.nn.softmax(logits))


# ---------------------------------------------------------------- Bernoulli
def bernoulli_sample(logits: tf.Tensor, logistic: tf.Tensor) -> tf.Tensor:
    """Exact Bernoulli(σ(l)) sample 1[l + L > 0] (no gradient)."""
    return tf.cast(logits + logistic > 0, logits.dtype)


def relaxed_bernoulli(logits: tf.Tensor, logistic: tf.Tensor, temperature, hard: bool = False) -> tf.Tensor:
    """Binary Concrete sample σ((l + L)/τ); `hard`: straight-through 1[y > 1/2]."""
    y = tf.sigmoid((logits + logistic) / temperature)
    return straight_through(tf.cast(y > 0.5, y.dtype), y) if hard else y


def straight_through_bernoulli(logits: tf.Tensor, logistic: tf.Tensor) -> tf.Tensor:
    """An exact Bernoulli sample whose gradient is that of σ(logits)."""
    return straight_through(bernoulli_sample(logits, logistic), tf.sigmoid(logits))
