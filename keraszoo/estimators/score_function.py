"""Gradient estimators as surrogate losses: REINFORCE (Williams 1992) and reparameterization
(Kingma & Welling 2014).

All estimators here are written as *surrogates*: tensors whose value is what the model
reports and whose gradient is the estimator's. They therefore compose with `model.fit`,
`add_loss` and tf.distribute like any other loss.

Reparameterization (pathwise): z = g(φ, x, ε) keeps its gradient path; nothing to add.

Score function / REINFORCE (Williams 1992):
    ∇_φ E_q[f(z)] = E_q[ f(z) ∇_φ log q_φ(z|x) ]               (z drawn with stop_gradient)
  with a baseline b that does not depend on z (it leaves the estimator unbiased):
    ∇_φ E_q[f(z)] ≈ (f(z) − b) ∇_φ log q_φ(z|x)
  Baselines: a moving average of f (b ← γ b + (1 − γ) mean f), or leave-one-out over K
  samples of the same x (RLOO, Kool et al. 2019): b_k = (Σ_{j≠k} f_j)/(K − 1).
"""

from __future__ import annotations

import tensorflow as tf

from keraszoo.estimators.estimator import Estimator, register_estimator, zero_valued

BASELINES = ("none", "moving_average", "rloo")


def score_function_surrogate(
    signal: tf.Tensor, log_q: tf.Tensor, baseline: tf.Tensor | float = 0.0
) -> tf.Tensor:
    """A zero-valued loss whose gradient is −(f − b) ∇ log q, the REINFORCE estimate of −∇ E_q[f].

    Args:
        signal: f(z) per sample, any shape; treated as a constant.
        log_q: log q_φ(z|x) at the (stop-gradient) samples, same shape, differentiable in φ.
        baseline: b, broadcastable to `signal`; treated as a constant.

    Returns:
        A tensor of the shape of `signal`, all zeros, to be added to a minimized loss.
    """
    advantage = tf.stop_gradient(signal - baseline)
    return zero_valued(-advantage * log_q)


def leave_one_out_baseline(signal: tf.Tensor, axis: int = 0) -> tf.Tensor:
    """b_k = mean of the other K − 1 samples along `axis` (needs K ≥ 2)."""
    k = tf.cast(tf.shape(signal)[axis], signal.dtype)
    total = tf.reduce_sum(signal, axis=axis, keepdims=True)
    return (total - signal) / (k - 1.0)


@register_estimator("reinforce")
class Reinforce(Estimator):
    """REINFORCE (Williams 1992) on the ELBO with the model's baseline (`ScoreFunctionBaseline`):
    z is a constant, and the zero-valued surrogate −(f − b) log q_φ(z|x) carries the gradient."""

    latents = ("continuous", "bernoulli", "categorical")
    uses_baseline = True

    def sample(self, model, q, params, seed, training):
        return tf.stop_gradient(super().sample(model, q, params, seed, training))

    def surrogate(self, model, x, q, params, samples, training):
        objective = -samples.log_px + samples.regularizer
        # The learning signal of the terms whose gradient reaches φ only through z.
        signal = samples.log_px if model.uses_analytic_kl() else samples.log_px - samples.kl
        objective += score_function_surrogate(
            signal, q.log_prob(samples.z), model.baseline(signal, training=training)
        )
        return tf.reduce_mean(objective, axis=0)
