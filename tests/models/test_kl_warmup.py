"""`kl_warmup_steps`: training weighs the KL by w = min(1, t/N) (Bowman et al. 2016; Sønderby
et al. 2016); everything reported stays at w = 1."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from keraszoo import GaussianVAE
from keraszoo.estimators import log_weights
from keraszoo.optimizers import FusedAdam

tfd = tfp.distributions
N = 8


def _x(model, n=6, seed=0):
    return (np.random.default_rng(seed).random((n, *model.data_shape)) > 0.5).astype("float32")


def _at_step(model, step):
    model.compile(FusedAdam(1e-3))
    model.optimizer.iterations.assign(step)
    return model


@pytest.mark.parametrize("step, expected", [(0, 0.0), (3, 3 / N), (N, 1.0), (5 * N, 1.0)])
def test_weight_is_linear_to_one_in_training_only(step, expected):
    model = _at_step(GaussianVAE(**GaussianVAE.example_config(), kl_warmup_steps=N), step)
    assert float(model.kl_weight(training=True)) == pytest.approx(expected)
    assert model.kl_weight(training=False) == 1.0
    assert GaussianVAE(**GaussianVAE.example_config()).kl_weight(training=True) == 1.0


@pytest.mark.parametrize("step", [0, 3, N])
def test_elbo_objective_weighs_the_kl_and_reports_the_true_elbo(step):
    model = _at_step(GaussianVAE(**GaussianVAE.example_config(), kl_warmup_steps=N, num_samples=3), step)
    x = tf.constant(_x(model))
    seed = tf.constant([4, 2])
    terms = model.forward(x, seed, training=True)
    w = min(1.0, step / N)
    # Analytic KL: the same for every sample, so the K-sample objective is recon + w·KL exactly.
    np.testing.assert_allclose(terms["objective"], terms["recon_nll"] + w * terms["kl"], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(terms["neg_elbo"], terms["recon_nll"] + terms["kl"], rtol=1e-5, atol=1e-4)
    plain = GaussianVAE(**GaussianVAE.example_config(), num_samples=3)
    plain.set_weights(model.get_weights())
    reference = plain.forward(x, seed, training=True)
    for key in ("neg_elbo", "recon_nll", "kl"):  # reported figures do not depend on the warm-up
        np.testing.assert_allclose(terms[key], reference[key], rtol=1e-6)


@pytest.mark.parametrize("step", [0, 2, N])
def test_iwae_log_weights_weigh_the_prior_ratio(step):
    model = GaussianVAE(**GaussianVAE.example_config(), kl_warmup_steps=N, num_samples=4, objective="iwae")
    model = _at_step(model, step)
    x = tf.constant(_x(model))
    params = model.encoder(x)
    q = model.posterior(params)
    z = model.sample_posterior(q, params, tf.constant([1, 2]), 4)
    samples = model.evaluate_samples(x, q, params, z, training=True)
    w = min(1.0, step / N)
    scale = model.posterior(params).stddev().numpy()
    log_q = tfd.Normal(q.mean().numpy(), scale).log_prob(z.numpy()).numpy().sum(-1)
    log_p = tfd.Normal(0.0, 1.0).log_prob(z.numpy()).numpy().sum(-1)
    expected = samples.log_px.numpy() + w * (log_p - log_q)
    np.testing.assert_allclose(log_weights(model, q, samples), expected, rtol=1e-5, atol=1e-4)
    objective = model.forward(x, tf.constant([1, 2]), training=True)["objective"].numpy()
    assert np.isfinite(objective).all()


def test_score_function_signal_uses_the_weighted_monte_carlo_kl():
    """REINFORCE with a Monte Carlo KL at w = 0: its surrogate's gradient equals that of a model
    whose learning signal is log p(x|z) alone (analytic KL, whose own gradient w·∇KL is 0)."""
    config = {**GaussianVAE.example_config(), "estimator": "reinforce", "num_samples": 4}
    warm = _at_step(GaussianVAE(**config, kl="monte_carlo", kl_warmup_steps=N), 0)
    analytic = _at_step(GaussianVAE(**config, kl="analytic", kl_warmup_steps=N), 0)
    analytic.set_weights(warm.get_weights())
    x = tf.constant(_x(warm))
    grads = []
    for model in (warm, analytic):
        with tf.GradientTape() as tape:
            objective = tf.reduce_mean(model.forward(x, tf.constant([3, 1]), training=True)["objective"])
        grads.append(tape.gradient(objective, model.encoder.trainable_variables))
    for a, b in zip(*grads, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)


def test_fit_trains_with_the_warm_up_and_round_trips(tmp_path):
    model = GaussianVAE(**GaussianVAE.example_config(), kl_warmup_steps=N)
    model.compile(FusedAdam(1e-3))
    x = _x(model, n=16)
    history = model.fit(x, epochs=1, batch_size=4, verbose=0, shuffle=False).history
    assert int(model.optimizer.iterations) == 4 and np.isfinite(history["loss"][0])
    assert history["loss"][0] < history["neg_elbo"][0]  # w < 1 over these steps: KL > 0 weighs less
    path = str(tmp_path / "m.keras")
    model.save(path)
    assert keras.models.load_model(path).kl_warmup_steps == N


@pytest.mark.parametrize("bad", [-1, 1.5, "10"])
def test_bad_warmup_is_named(bad):
    with pytest.raises((ValueError, TypeError), match="kl_warmup_steps"):
        GaussianVAE(**GaussianVAE.example_config(), kl_warmup_steps=bad)
