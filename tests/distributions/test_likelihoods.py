import math

import numpy as np
import pytest
import tensorflow as tf
from scipy import special, stats

from keraszoo.distributions import get_likelihood


def _log_prob(name, outputs, x, **kw):
    """What the models use (`Likelihood.log_prob`), checked equal to the TFP distribution's."""
    lik = get_likelihood({"name": name, **kw})
    value = lik.log_prob(tf.constant(outputs), tf.constant(x), event_ndims=1).numpy()
    tfp_value = lik.distribution(tf.constant(outputs), event_ndims=1).log_prob(tf.constant(x)).numpy()
    np.testing.assert_allclose(value, tfp_value, rtol=1e-6, atol=1e-6)
    return value


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bernoulli_matches_scipy(dtype):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 7)).astype(dtype)
    x = (rng.random((5, 7)) > 0.5).astype(dtype)
    expected = stats.bernoulli(special.expit(logits)).logpmf(x).sum(-1)
    np.testing.assert_allclose(_log_prob("bernoulli", logits, x), expected, rtol=1e-5)


def test_bernoulli_is_finite_at_saturated_logits():
    # p = sigmoid(±200) is exactly 0 or 1 in float32: computing from probabilities gives
    # log(0) = -inf; the logits form gives the exact answer.
    logits = np.array([[200.0, -200.0, 200.0, -200.0]], np.float32)
    x = np.array([[1.0, 0.0, 0.0, 1.0]], np.float32)
    np.testing.assert_allclose(_log_prob("bernoulli", logits, x), [-400.0], rtol=1e-6)


def test_gaussian_matches_scipy_and_l2_is_squared_error():
    rng = np.random.default_rng(1)
    m, x = rng.normal(size=(2, 3, 5)).astype("float64")
    expected = stats.norm(m, 0.3).logpdf(x).sum(-1)
    np.testing.assert_allclose(_log_prob("gaussian", m, x, scale=0.3), expected, rtol=1e-6)
    # l2: log p = −‖x − m‖² − (D/2) log π
    l2 = _log_prob("l2", m, x)
    np.testing.assert_allclose(l2, -((x - m) ** 2).sum(-1) - 2.5 * math.log(math.pi), rtol=1e-6)


def test_continuous_bernoulli_matches_closed_form():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(4, 6))
    x = rng.random((4, 6))
    lam = special.expit(logits)
    log_c = np.log(2 * np.arctanh(1 - 2 * lam) / (1 - 2 * lam))
    expected = (log_c + x * np.log(lam) + (1 - x) * np.log1p(-lam)).sum(-1)
    np.testing.assert_allclose(_log_prob("continuous_bernoulli", logits, x), expected, rtol=1e-5)


def test_binary_likelihood_rejects_non_binary_data():
    lik = get_likelihood("bernoulli")
    with pytest.raises(tf.errors.InvalidArgumentError, match="needs binary data"):
        lik.validate(tf.constant([[0.0, 0.5, 1.0]]))
    lik.validate(tf.constant([[0.0, 1.0]]))  # binary data passes
    get_likelihood("gaussian").validate(tf.constant([[0.5]]))  # intensities are fine there


def test_validate_rejects_nan_inside_tf_function():
    lik = get_likelihood("gaussian")
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or Inf"):
        tf.function(lik.validate)(tf.constant([[0.0, float("nan")]]))


def test_unknown_likelihood_and_bad_scale_are_named():
    with pytest.raises(ValueError, match="Received: likelihood='poisson'"):
        get_likelihood("poisson")
    with pytest.raises(ValueError, match="Received: scale=-1"):
        get_likelihood({"name": "gaussian", "scale": -1})


def test_bernoulli_log_prob_gradient_is_sigmoid_minus_x():
    # d/dl log p(x | l) = x − σ(l) for each pixel: the fused form must keep TFP's gradient.
    logits = tf.constant([[-3.0, 0.0, 2.5, 40.0]])
    x = tf.constant([[1.0, 0.0, 1.0, 0.0]])
    with tf.GradientTape() as tape:
        tape.watch(logits)
        value = get_likelihood("bernoulli").log_prob(logits, x, event_ndims=1)
    np.testing.assert_allclose(tape.gradient(value, logits), x - tf.sigmoid(logits), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["bernoulli", "gaussian", "continuous_bernoulli"])
def test_log_prob_broadcasts_x_over_samples(name):
    # Models evaluate K decoder outputs [K, batch, ...] against one x [batch, ...].
    rng = np.random.default_rng(3)
    outputs = rng.normal(size=(3, 2, 5)).astype("float32")
    x = (rng.random((2, 5)) > 0.5).astype("float32")
    lik = get_likelihood(name)
    value = lik.log_prob(tf.constant(outputs), tf.constant(x), event_ndims=1).numpy()
    assert value.shape == (3, 2)
    for k in range(3):
        np.testing.assert_allclose(value[k], _log_prob(name, outputs[k], x), rtol=1e-6, atol=1e-6)
