"""Reparameterization vs REINFORCE on a problem with a closed-form gradient:

    ∇_(µ,σ) E_N(µ,σ²)[z²] = ∇ (µ² + σ²) = (2µ, 2σ).

Each of N independent estimates gets its own copy of (µ, σ), so one tape gives N
per-estimate gradients at once."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from keraszoo.estimators import leave_one_out_baseline, score_function_surrogate, zero_valued
from keraszoo.estimators.score_function import vimco_signals

tfd = tfp.distributions
MU, SIGMA, N = 1.5, 0.8, 20_000
EXACT = np.array([2 * MU, 2 * SIGMA])


def _gradients(estimator, k=1, seed=0):
    """N gradient estimates of E[z²], each from k samples: array [N, 2]."""
    mu = tf.Variable(tf.fill([N], tf.constant(MU, tf.float64)))
    sigma = tf.Variable(tf.fill([N], tf.constant(SIGMA, tf.float64)))
    eps = tf.random.stateless_normal([k, N], [seed, 1], dtype=tf.float64)
    with tf.GradientTape() as tape:
        z = mu + sigma * eps
        if estimator == "reparameterization":
            loss = -tf.reduce_mean(tf.square(z), axis=0)  # minimise −E[f]
        else:
            z = tf.stop_gradient(z)
            f = tf.square(z)
            baseline = {"reinforce": 0.0, "rloo": leave_one_out_baseline(f) if k > 1 else 0.0}[estimator]
            log_q = tfd.Normal(mu, sigma).log_prob(z)
            loss = tf.reduce_mean(score_function_surrogate(f, log_q, baseline), axis=0)
            loss += -tf.reduce_mean(f, axis=0)  # the reported value; no gradient
        total = tf.reduce_sum(loss)
    grads = tape.gradient(total, [mu, sigma])
    return -np.stack([g.numpy() for g in grads], axis=1)


@pytest.mark.parametrize("estimator, k", [("reparameterization", 1), ("reinforce", 1), ("rloo", 4)])
def test_estimators_are_unbiased(estimator, k):
    g = _gradients(estimator, k)
    stderr = g.std(0) / np.sqrt(N)
    np.testing.assert_array_less(np.abs(g.mean(0) - EXACT), 4 * stderr)


def test_reinforce_variance_is_much_larger_and_baselines_reduce_it():
    var = {
        name: _gradients(name, k).var(0).sum() for name, k in [("reparameterization", 1), ("reinforce", 1)]
    }
    assert var["reinforce"] > 10 * var["reparameterization"]
    # Same budget of 4 samples per estimate: leave-one-out baseline vs none.
    plain, rloo = _gradients("reinforce", 4).var(0).sum(), _gradients("rloo", 4).var(0).sum()
    assert rloo < 0.8 * plain  # measured: 41 vs 61


def test_surrogate_has_zero_value_and_the_score_function_gradient():
    mu = tf.Variable(0.3, dtype=tf.float64)
    z, f, b = tf.constant(1.1, tf.float64), tf.constant(2.0, tf.float64), 0.5
    with tf.GradientTape() as tape:
        surrogate = score_function_surrogate(f, tfd.Normal(mu, 1.0).log_prob(z), b)
    assert surrogate.numpy() == 0.0
    # d/dµ log N(z; µ, 1) = z − µ, so the gradient is −(f − b)(z − µ).
    np.testing.assert_allclose(tape.gradient(surrogate, mu).numpy(), -(2.0 - 0.5) * (1.1 - 0.3))
    assert zero_valued(tf.constant(5.0)).numpy() == 0.0


def test_leave_one_out_baseline_by_hand():
    f = tf.constant([[1.0, 10.0], [2.0, 20.0], [6.0, 30.0]])
    np.testing.assert_allclose(leave_one_out_baseline(f).numpy(), [[4.0, 25.0], [3.5, 20.0], [1.5, 15.0]])


def test_vimco_signals_match_a_direct_leave_one_out_computation():
    # Mnih & Rezende (2016), eq. 10: L̂(z_1..K) − log (1/K)(Σ_{j≠i} w_j + exp mean_{j≠i} log w_j).
    log_w = np.random.default_rng(0).normal(size=(4, 3)) * 3.0  # K = 4 samples, batch 3
    expected = np.empty_like(log_w)
    for b in range(3):
        w = np.exp(log_w[:, b])
        bound = np.log(w.mean())
        for i in range(4):
            others = np.delete(log_w[:, b], i)
            expected[i, b] = bound - np.log((np.exp(others).sum() + np.exp(others.mean())) / 4)
    np.testing.assert_allclose(vimco_signals(tf.constant(log_w)).numpy(), expected, rtol=1e-10)
    # Finite where the weights under- or overflow in linear space.
    extreme = tf.constant([[-2000.0, 0.0], [-1990.0, 900.0], [-2010.0, 800.0]], tf.float64)
    assert np.all(np.isfinite(vimco_signals(extreme).numpy()))
