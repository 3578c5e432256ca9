import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from keraszoo.distributions import analytic_kl, gaussian_param_l2, monte_carlo_kl

tfd = tfp.distributions


def _gaussians(loc, scale):
    q = tfd.MultivariateNormalDiag(loc, scale)
    p = tfd.MultivariateNormalDiag(tf.zeros_like(loc), tf.ones_like(scale))
    return q, p


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_analytic_gaussian_kl_matches_formula(dtype):
    rng = np.random.default_rng(0)
    loc = rng.normal(size=(6, 3)).astype(dtype)
    scale = np.exp(rng.normal(size=(6, 3))).astype(dtype)
    # Per dimension: −log σ + (σ² + µ²)/2 − 1/2
    expected = (-np.log(scale) + (scale**2 + loc**2) / 2 - 0.5).sum(-1)
    np.testing.assert_allclose(analytic_kl(*_gaussians(loc, scale)).numpy(), expected, rtol=1e-5)


def test_analytic_kl_is_zero_only_at_the_prior():
    zero = analytic_kl(*_gaussians(np.zeros((1, 4)), np.ones((1, 4)))).numpy()
    np.testing.assert_allclose(zero, 0.0, atol=1e-12)
    other = analytic_kl(*_gaussians(np.full((1, 4), 0.1), np.full((1, 4), 1.2))).numpy()
    assert other[0] > 0


def test_monte_carlo_kl_is_unbiased():
    loc, scale = np.array([[0.5, -1.0]]), np.array([[0.7, 1.5]])
    q, p = _gaussians(loc, scale)
    z = q.sample(200_000, seed=(1, 2))
    estimates = monte_carlo_kl(q, p, z).numpy()
    stderr = estimates.std() / np.sqrt(len(estimates))
    assert abs(estimates.mean() - analytic_kl(q, p).numpy()[0]) < 4 * stderr


def test_param_l2_regularizer():
    loc, scale = np.array([[1.0, -2.0]]), np.array([[0.5, 3.0]])
    np.testing.assert_allclose(gaussian_param_l2(loc, scale).numpy(), [1 + 4 + 0.25 + 4])
    np.testing.assert_allclose(gaussian_param_l2(np.zeros((1, 2)), np.ones((1, 2))).numpy(), [0.0])
