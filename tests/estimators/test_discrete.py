import keras
import numpy as np
import tensorflow as tf
from scipy import stats

from keraszoo.distributions import bernoulli_kl_uniform, categorical_kl_uniform
from keraszoo.estimators import (
    bernoulli_sample,
    categorical_sample,
    gumbel_from_uniform,
    gumbel_softmax,
    logistic_from_uniform,
    open_uniform,
    relaxed_bernoulli,
    straight_through_bernoulli,
    straight_through_categorical,
)

PROBS = np.array([0.1, 0.2, 0.3, 0.4])


def _gumbel(shape, seed=(0, 1)):
    return gumbel_from_uniform(open_uniform(shape, seed, tf.float64))


def test_gumbel_max_samples_follow_the_categorical():
    n = 200_000
    logits = tf.constant(np.log(PROBS))
    counts = categorical_sample(tf.broadcast_to(logits, [n, 4]), _gumbel([n, 4])).numpy().sum(0)
    assert stats.chisquare(counts, PROBS * n).pvalue > 1e-3


def test_bernoulli_samples_follow_sigmoid_of_the_logits():
    n, p = 200_000, 0.3
    logits = tf.fill([n], np.log(p / (1 - p)))
    noise = logistic_from_uniform(open_uniform([n], (2, 3), tf.float64))
    ones = int(bernoulli_sample(logits, noise).numpy().sum())
    assert stats.binomtest(ones, n, p).pvalue > 1e-3


def test_relaxed_samples_approach_one_hot_as_temperature_falls():
    logits = tf.constant(np.log(PROBS))[None]
    g = _gumbel([5000, 4])
    near_one_hot = []
    for tau in (1.0, 0.1, 0.01, 0.001):
        y = gumbel_softmax(logits, g, tau).numpy()
        np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-12)
        near_one_hot.append(np.mean(y.max(-1) > 0.99))
    assert near_one_hot == sorted(near_one_hot) and near_one_hot[-1] > 0.99
    # The relaxed sample's argmax is the Gumbel-max sample.
    np.testing.assert_array_equal(
        np.argmax(gumbel_softmax(logits, g, 0.5), -1), np.argmax(categorical_sample(logits, g), -1)
    )


def test_no_nan_at_tiny_temperature_and_degenerate_probabilities():
    logits = tf.constant([[-np.inf, 0.0, 50.0, -1e30]], tf.float64)  # p = 0, ·, ≈1, ≈0
    g = _gumbel([1000, 4])
    for tau in (1.0, 1e-6):
        y = gumbel_softmax(logits, g, tau).numpy()
        assert np.all(np.isfinite(y)) and np.all(y[:, 0] == 0.0)
    assert np.all(np.isfinite(categorical_kl_uniform(logits).numpy()))
    binary = tf.constant([[-1e30, 1e30, 0.0]], tf.float64)
    noise = logistic_from_uniform(open_uniform([1000, 3], (4, 5), tf.float64))
    for tau in (1.0, 1e-6):
        assert np.all(np.isfinite(relaxed_bernoulli(binary, noise, tau).numpy()))
    assert np.all(np.isfinite(bernoulli_kl_uniform(binary).numpy()))


def test_straight_through_forward_is_exact_and_gradient_is_the_surrogates():
    logits = tf.Variable(np.log(PROBS)[None].repeat(3, 0))
    w = tf.constant([[1.0, -2.0, 0.5, 3.0]], tf.float64)
    g = _gumbel([3, 4])
    with tf.GradientTape(persistent=True) as tape:
        z = straight_through_categorical(logits, g)
        f = tf.reduce_sum(w * z)
        surrogate = tf.reduce_sum(w * tf.nn.softmax(logits))
    np.testing.assert_array_equal(z.numpy(), categorical_sample(logits, g).numpy())  # exactly one-hot
    np.testing.assert_allclose(tape.gradient(f, logits), tape.gradient(surrogate, logits), rtol=1e-12)

    b_logits = tf.Variable([[0.3, -1.0, 2.0]], dtype=tf.float64)
    noise = logistic_from_uniform(open_uniform([1, 3], (7, 8), tf.float64))
    with tf.GradientTape(persistent=True) as tape:
        zb = straight_through_bernoulli(b_logits, noise)
        fb = tf.reduce_sum(w[:, :3] * zb)
        sb = tf.reduce_sum(w[:, :3] * tf.sigmoid(b_logits))
    assert set(np.unique(zb.numpy())) <= {0.0, 1.0}
    np.testing.assert_allclose(tape.gradient(fb, b_logits), tape.gradient(sb, b_logits), rtol=1e-12)


def test_hard_gumbel_softmax_is_one_hot_forward_with_the_relaxed_gradient():
    logits = tf.Variable(np.log(PROBS)[None].repeat(3, 0))
    w = tf.constant([[1.0, -2.0, 0.5, 3.0]], tf.float64)
    g = _gumbel([3, 4])
    with tf.GradientTape(persistent=True) as tape:
        hard = gumbel_softmax(logits, g, 0.7, hard=True)
        soft = gumbel_softmax(logits, g, 0.7)
        f_hard, f_soft = tf.reduce_sum(w * hard), tf.reduce_sum(w * soft)
    np.testing.assert_array_equal(hard.numpy(), categorical_sample(logits, g).numpy())
    np.testing.assert_allclose(tape.gradient(f_hard, logits), tape.gradient(f_soft, logits), rtol=1e-12)


def test_naive_discrete_sampling_gives_the_encoder_exactly_zero_gradient():
    """Tutorial §2: z = g(φ, x, ε) piecewise constant in φ has ∇_φ z = 0, so the
    reconstruction term cannot train the encoder; straight-through can."""
    encoder = keras.layers.Dense(8)
    decoder = keras.layers.Dense(5)
    x = tf.random.stateless_normal([16, 5], (1, 2))
    g = gumbel_from_uniform(open_uniform([16, 2, 4], (3, 4)))
    noise = logistic_from_uniform(open_uniform([16, 8], (5, 6)))
    samplers = {
        "argmax": lambda lg: categorical_sample(tf.reshape(lg, [-1, 2, 4]), g),
        "inverse_cdf_step": lambda lg: bernoulli_sample(lg, noise),
        "straight_through": lambda lg: straight_through_categorical(tf.reshape(lg, [-1, 2, 4]), g),
    }
    for name, sample in samplers.items():
        with tf.GradientTape() as tape:
            z = tf.reshape(sample(encoder(x)), [16, 8])
            recon = tf.reduce_sum(tf.square(decoder(z) - x))
        grads = tape.gradient(recon, encoder.trainable_weights)  # None: no path from the loss
        total = sum(0.0 if gr is None else float(tf.reduce_sum(tf.abs(gr))) for gr in grads)
        assert (total == 0.0) == (name != "straight_through"), name
