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
        signal = (
            samples.log_px if model.uses_analytic_kl() else samples.log_px - samples.kl_weight * samples.kl
        )
        objective += score_function_surrogate(
            signal, q.log_prob(samples.z), model.baseline(signal, training=training)
        )
        return tf.reduce_mean(objective, axis=0)


def vimco_signals(log_w: tf.Tensor) -> tf.Tensor:
    """The per-sample learning signals of VIMCO (Mnih & Rezende 2016, eq. 10), [K, batch]:

        L̂_K − log (1/K) (Σ_{j≠i} w_j + exp f̂_{−i}),   f̂_{−i} = (1/(K − 1)) Σ_{j≠i} log w_j

    sample i's weight replaced by the geometric mean of the others (needs K ≥ 2). Computed in
    log space: a logsumexp over the K weights with entry i replaced."""
    k = tf.shape(log_w)[0]
    kf = tf.cast(k, log_w.dtype)
    bound = tf.reduce_logsumexp(log_w, axis=0) - tf.math.log(kf)  # L̂_K, [batch]
    others_mean = (tf.reduce_sum(log_w, axis=0, keepdims=True) - log_w) / (kf - 1.0)  # f̂_{−i}, [K, batch]
    eye = tf.eye(k, dtype=log_w.dtype)[:, :, None]  # [i, j, 1]
    replaced = log_w[None] * (1.0 - eye) + others_mean[:, None] * eye  # [i, j, batch]
    # Where eye is 0 the product with a finite f̂ is 0; log_w is finite (a log density ratio).
    return bound[None] - (tf.reduce_logsumexp(replaced, axis=1) - tf.math.log(kf))


@register_estimator("vimco")
class VIMCO(Estimator):
    """VIMCO (Mnih & Rezende 2016): the K-sample importance-weighted bound's gradient with a
    leave-one-out learning signal per sample (`vimco_signals`). With z_1..z_K ~ q fixed
    (no gradient path) and f_i = log w_i = log p(x, z_i) − log q_φ(z_i|x):

        ∇_φ L̂_K = Σ_i ℓ_i ∇_φ log q_φ(z_i|x) + Σ_i w̃_i ∇_φ f_i,    ∇_θ L̂_K = Σ_i w̃_i ∇_θ log p_θ(x|z_i)

    The signal ℓ_i does not depend on z_i beyond what the leave-one-out removes, so the score
    term stays unbiased; the second sum is L̂_K's own gradient at the fixed samples. Surrogate:
    −L̂_K plus the zero-valued −Σ_i sg(ℓ_i) log q_φ(z_i|x). Any latent with exact samples and a
    density; the objective is the IWAE bound (K = `num_samples` ≥ 2)."""

    latents = ("continuous", "bernoulli", "categorical")
    objectives = ("iwae",)

    def check(self, model):
        super().check(model)
        if model.num_samples < 2:
            raise ValueError(
                "VIMCO's leave-one-out signals need `num_samples` >= 2. "
                f"Received: num_samples={model.num_samples}, estimator={self.name!r}"
            )

    def sample(self, model, q, params, seed, training):
        return tf.stop_gradient(super().sample(model, q, params, seed, training))

    def surrogate(self, model, x, q, params, samples, training):
        log_q = q.log_prob(samples.z)
        log_w = samples.log_px + samples.kl_weight * (model.latent_prior().log_prob(samples.z) - log_q)
        k = tf.cast(tf.shape(log_w)[0], log_w.dtype)
        bound = tf.reduce_logsumexp(log_w, axis=0) - tf.math.log(k)
        scores = score_function_surrogate(vimco_signals(log_w), log_q)  # [K, batch], zero-valued
        return -bound + tf.reduce_sum(scores, axis=0)
