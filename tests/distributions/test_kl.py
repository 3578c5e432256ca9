import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from keraszoo.distributions import (
    analytic_kl,
    bernoulli_kl_uniform,
    categorical_kl_uniform,
    gaussian_param_l2,
    monte_carlo_kl,
)

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


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kl_against_uniform_priors_by_hand_and_tfp(dtype):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 5, 10)).astype(dtype)
    q = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    expected = (q * np.log(q * 10)).sum(-1)
    np.testing.assert_allclose(categorical_kl_uniform(tf.constant(logits)).numpy(), expected, rtol=1e-5)
    tfp_kl = tfd.kl_divergence(
        tfd.OneHotCategorical(logits=logits), tfd.OneHotCategorical(logits=np.zeros_like(logits))
    )
    np.testing.assert_allclose(categorical_kl_uniform(tf.constant(logits)).numpy(), tfp_kl.numpy(), rtol=1e-5)
    assert np.allclose(categorical_kl_uniform(tf.zeros([2, 10], dtype)).numpy(), 0.0, atol=1e-6)

    b = rng.normal(size=(4, 7)).astype(dtype)
    p = 1 / (1 + np.exp(-b))
    expected_b = (p * np.log(2 * p) + (1 - p) * np.log(2 * (1 - p))).sum(-1)
    np.testing.assert_allclose(bernoulli_kl_uniform(tf.constant(b)).numpy(), expected_b, rtol=1e-5)
