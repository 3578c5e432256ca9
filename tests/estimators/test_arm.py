"""ARM (Yin & Zhou 2019) and DisARM (Dong, Mnih & Tucker 2020) as formulas, for one Bernoulli
variable z ~ Bern(σ(α)) and any f: the exact gradient is

    ∂/∂α E[f(z)] = σ(α) σ(−α) (f(1) − f(0)),

and each estimator's expectation over u ~ U(0, 1) is computed here by midpoint quadrature on a
fine grid (the estimators are step functions of u, so the quadrature is exact up to the grid
cells where b or b̃ switch)."""

import numpy as np
import pytest
import tensorflow as tf

from keraszoo.estimators import bernoulli_sample, get_estimator
from keraszoo.estimators.arm import disarm_weights

GRID = 200_000


@pytest.mark.parametrize("name", ["arm", "disarm"])
@pytest.mark.parametrize("alpha", [-3.0, -0.4, 0.0, 1.3, 6.0])
def test_expectation_over_u_is_the_exact_gradient(name, alpha):
    f0, f1 = -1.7, 2.4
    u = (np.arange(GRID) + 0.5) / GRID
    logistic = tf.constant(np.log(u) - np.log1p(-u))[:, None]  # [GRID, 1]: one variable
    logits = tf.constant([alpha], tf.float64)
    b, b_tilde = bernoulli_sample(logits, logistic), bernoulli_sample(logits, -logistic)
    # b = 1[1 − u < σ(α)], b̃ = 1[u < σ(α)]: the pair of the papers.
    p = 1.0 / (1.0 + np.exp(-alpha))
    np.testing.assert_array_equal(b.numpy()[:, 0], (1.0 - u < p).astype(float))
    np.testing.assert_array_equal(b_tilde.numpy()[:, 0], (u < p).astype(float))
    f = lambda z: f0 + (f1 - f0) * z  # noqa: E731
    difference = f(b) - f(b_tilde)
    estimate = get_estimator(name).factor(logits, logistic, b, b_tilde, difference).numpy()
    exact = p * (1.0 - p) * (f1 - f0)
    np.testing.assert_allclose(estimate.mean(), exact, atol=1e-4)


def test_disarm_is_zero_where_the_pair_agrees_and_its_weights_by_hand():
    logits = tf.constant([2.0, -1.0, 0.5])
    b = tf.constant([1.0, 0.0, 1.0])
    b_tilde = tf.constant([0.0, 1.0, 1.0])
    # (−1)^{b̃} 1[b ≠ b̃] σ(|α|): σ(2), −σ(1), 0
    expected = [1.0 / (1.0 + np.exp(-2.0)), -1.0 / (1.0 + np.exp(-1.0)), 0.0]
    np.testing.assert_allclose(disarm_weights(logits, b, b_tilde).numpy(), expected, rtol=1e-6)


def test_arm_and_disarm_refuse_categorical_latents():
    from keraszoo import CategoricalVAE

    with pytest.raises(ValueError, match="Received: estimator='disarm'"):
        CategoricalVAE(data_shape=(4,), num_variables=2, num_classes=3, estimator="disarm")
