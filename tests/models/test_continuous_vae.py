import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import integrate, stats

from keraszoo import ContinuousVAE, GaussianVAE
from keraszoo.distributions import FAMILIES, PRIORS
from keraszoo.training import mirrored_strategy
from tests.conftest import small_vae_config
from tests.distributions.test_posteriors import SCIPY


def _dataset(x):
    return tf.data.Dataset.from_tensor_slices(x).batch(8)


@pytest.mark.parametrize("posterior", sorted(FAMILIES))
def test_every_family_trains_samples_and_round_trips(posterior, binary_batch):
    model = ContinuousVAE(**small_vae_config(posterior=posterior))
    model.compile(keras.optimizers.Adam(1e-2))
    before = [w.numpy().copy() for w in model.encoder.trainable_weights]
    history = model.fit(_dataset(binary_batch), epochs=2, verbose=0, shuffle=False).history
    assert np.all(np.isfinite(history["neg_elbo"])) and np.all(np.isfinite(history["kl"]))
    if model.uses_analytic_kl():  # a Monte Carlo KL estimate can be negative on a batch
        assert np.all(np.array(history["kl"]) >= -1e-3)
    else:  # the trained posterior's Monte Carlo KL: within 4 standard errors of the exact KL
        raw = model.encoder(binary_batch[:2])
        q = model.posterior(raw)
        y = model.sample_posterior(q, raw, tf.constant([5, 6]), 20_000)
        mc = (q.log_prob(y) - model.latent_prior().log_prob(y)).numpy()  # [K, 2]
        np.testing.assert_array_less(
            np.abs(mc.mean(0) - _exact_kl_by_quadrature(model, raw)), 4 * mc.std(0) / np.sqrt(len(mc)) + 1e-4
        )
    assert any(
        not np.array_equal(w.numpy(), b) for w, b in zip(model.encoder.trainable_weights, before, strict=True)
    )
    assert model.sample(3, seed=0)["x_mean"].shape == (3, 8, 8, 1)
    assert set(model.encode(binary_batch)) == set(model.family.params)
    assert np.all(np.isfinite(model.reconstruct(binary_batch).numpy()))
    restored = ContinuousVAE.from_config(model.get_config())
    restored.set_weights(model.get_weights())
    np.testing.assert_allclose(
        restored.elbo(binary_batch, 1)["elbo"], model.elbo(binary_batch, 1)["elbo"], rtol=1e-5
    )


PRIOR_SCIPY = {
    "normal": stats.norm(),
    "logistic": stats.logistic(),
    "student_t": stats.t(3.0),
    "beta": stats.beta(1, 1),
}


def _exact_kl_by_quadrature(model, raw):
    """KL(q(z|x) ‖ p(z)) per example: Σ_j ∫ q_j (log q_j − log p_j) dz_j with scipy's densities
    of z, in float64."""
    params = {k: v.numpy().astype("float64") for k, v in model.posterior_params(raw).items()}
    prior = PRIOR_SCIPY[model.prior_name]
    z = np.linspace(0.05, 0.95, 7)  # the scipy prior is the model's
    np.testing.assert_allclose(
        prior.logpdf(z), PRIORS[model.prior_name][1](tf.zeros([], tf.float64)).log_prob(z)
    )
    kls = np.zeros(len(raw))
    for i, j in np.ndindex(len(raw), model.latent_dim):
        qz = SCIPY[model.family.name]({k: v[i, j] for k, v in params.items()})
        lower, upper = qz.support() if hasattr(qz, "support") else (0.0, 1.0)

        def integrand(z, qz=qz):
            return np.exp(qz.logpdf(z)) * (qz.logpdf(z) - prior.logpdf(z))

        with warnings.catch_warnings():  # a density singular at an edge (a < 1) makes QUADPACK
            # warn of roundoff in its extrapolation; its result is still far inside the test's
            # 4-SE tolerance, which would catch an inaccurate integral.
            warnings.simplefilter("ignore", integrate.IntegrationWarning)
            kls[i] += integrate.quad(integrand, lower, upper, limit=200)[0]
    return kls


@pytest.mark.parametrize("baseline, k", [("none", 1), ("moving_average", 1), ("rloo", 3)])
def test_reinforce_trains_through_fit(baseline, k, binary_batch):
    model = GaussianVAE(**small_vae_config(estimator="reinforce", baseline=baseline, num_samples=k))
    model.compile(keras.optimizers.Adam(1e-2))
    history = model.fit(_dataset(binary_batch), epochs=2, verbose=0, shuffle=False).history
    assert np.all(np.isfinite(history["loss"]))
    # The surrogate is zero-valued: the loss is still the −ELBO.
    np.testing.assert_allclose(history["loss"], history["neg_elbo"], rtol=1e-5)
    if baseline == "moving_average":
        assert model.baseline.average.count.numpy() == 4  # 2 epochs × 2 batches, training only
        model.evaluate(_dataset(binary_batch), verbose=0)
        assert model.baseline.average.count.numpy() == 4


@pytest.mark.parametrize("posterior", ["gamma", "kumaraswamy"])
def test_reinforce_encoder_gradient_is_finite_and_nonzero_and_reparam_has_none_through_z(
    posterior, binary_batch
):
    # Both estimators have the gradient of the −ELBO as their expectation: the score function
    # ∇ log q(y|x) needs the exact density of the sampled coordinate, as the Monte Carlo KL does.
    # Means over 12 seeds × 128 samples agree within 4 standard errors, and the REINFORCE
    # gradient reaches the encoder only through log q (z is cut from the graph).
    grads, weights = {}, None
    for estimator in ("reparameterization", "reinforce"):
        model = ContinuousVAE(
            **small_vae_config(posterior=posterior, estimator=estimator, kl="monte_carlo", num_samples=128)
        )
        weights = weights or model.get_weights()
        model.set_weights(weights)  # the same model under both estimators
        runs = []
        for seed in range(12):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(model.forward(binary_batch[:2], tf.constant([seed, 1]))["objective"])
            g = tape.gradient(loss, model.encoder.trainable_weights)
            assert all(v is not None and np.all(np.isfinite(v.numpy())) for v in g)
            assert any(np.any(v.numpy() != 0) for v in g)
            runs.append(g[-1].numpy())  # the last layer's bias: d loss / d raw parameters
        grads[estimator] = np.array(runs)
    mean = {k: v.mean(0) for k, v in grads.items()}
    se = np.sqrt(sum(v.var(0, ddof=1) / len(v) for v in grads.values()))
    np.testing.assert_array_less(np.abs(mean["reinforce"] - mean["reparameterization"]), 4 * se + 1e-4)
    assert np.any(np.abs(mean["reparameterization"]) > 4 * se)  # the comparison has power


def test_moving_average_baseline_by_hand():
    model = GaussianVAE(
        **small_vae_config(estimator="reinforce", baseline="moving_average", baseline_decay=0.5)
    )
    s1, s2 = tf.constant([[2.0, 4.0]]), tf.constant([[10.0, 10.0]])
    # First step: no earlier step, b = 0 (never the batch mean, which holds the sample itself).
    assert model.baseline(s1, training=True).numpy() == 0.0
    # ema = 0.5·3 = 1.5, bias-corrected by 1 − 0.5¹: 3.0
    assert model.baseline(s2, training=True).numpy() == pytest.approx(3.0)
    # ema = 0.5·1.5 + 0.5·10 = 5.75, corrected by 1 − 0.5² = 0.75
    assert model.baseline(s2, training=False).numpy() == pytest.approx(5.75 / 0.75)
    assert model.baseline(s2, training=False).numpy() == pytest.approx(5.75 / 0.75)  # no update


def test_estimator_argument_errors():
    with pytest.raises(ValueError, match="Received: estimator='pathwise'"):
        GaussianVAE(**small_vae_config(estimator="pathwise"))
    with pytest.raises(ValueError, match="only applies to estimator='reinforce'"):
        GaussianVAE(**small_vae_config(baseline="rloo", num_samples=2))
    with pytest.raises(ValueError, match="Received: num_samples=1"):
        GaussianVAE(**small_vae_config(estimator="reinforce", baseline="rloo"))


@pytest.mark.parametrize(
    "config, learning_rate, run_eagerly",
    [
        # A transformed family (inverse CDF). Eager: tracing its step twice cost most of this
        # file; its traced step is run in test_every_family_trains_samples_and_round_trips, and
        # a traced two-replica step in tests/training/test_train.py.
        ({"posterior": "kumaraswamy"}, 0.1, True),
        # The all-reduced moving-average baseline, traced; a small step, as REINFORCE's large
        # gradients amplify float32 summation-order differences between 1 and 2 replicas.
        ({"posterior": "gaussian", "estimator": "reinforce", "baseline": "moving_average"}, 1e-3, False),
    ],
)
def test_two_replicas_match_one(config, learning_rate, run_eagerly):
    x = (np.random.default_rng(0).random((16, 8, 8, 1)) > 0.5).astype("float32")
    weights, result = None, {}
    for devices in (["/cpu:0"], ["/cpu:0", "/cpu:1"]):
        with mirrored_strategy(devices).scope():
            model = ContinuousVAE(**small_vae_config(**config))
            model.compile(keras.optimizers.SGD(learning_rate), run_eagerly=run_eagerly)
        weights = weights or model.get_weights()
        model.set_weights(weights)
        model.fit(tf.data.Dataset.from_tensor_slices(x).batch(16), epochs=2, verbose=0, shuffle=False)
        result[len(devices)] = model.get_weights()
    for a, b in zip(result[1], result[2], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
