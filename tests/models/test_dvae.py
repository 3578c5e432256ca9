import keras
import numpy as np
import pytest
import tensorflow as tf

from keraszoo import DVAE
from keraszoo.distributions.smoothing import SMOOTHING_FUNCTIONS, SPIKE_FUNCTIONS
from tests.conftest import small_vae_config


def _model(**overrides):
    config = small_vae_config(beta={"initial": 1.0, "maximum": 10.0, "rate": 0.1, "every": 2}, **overrides)
    return DVAE(**{**config, "latent_dim": 6})


@pytest.mark.parametrize("smoothing", SMOOTHING_FUNCTIONS)
def test_every_smoothing_function_trains_through_fit(smoothing, binary_batch):
    model = _model(smoothing=smoothing)
    model.compile(keras.optimizers.Adam(1e-2))
    before = [w.numpy().copy() for w in model.encoder.trainable_weights]
    history = model.fit(
        tf.data.Dataset.from_tensor_slices(binary_batch).batch(4), epochs=2, verbose=0
    ).history
    assert np.all(np.isfinite(history["neg_elbo"])) and np.all(np.isfinite(history["kl"]))
    # Spike smoothings report the analytic KL(q(z|x) ‖ p(z)) ≥ 0; f3 and f3' a one-sample Monte Carlo
    # estimate of KL(q(ζ|x) ‖ p(ζ)), which is near 0 at β ≈ 1 (both smoothings are the identity at β = 1).
    assert min(history["kl"]) >= (0 if smoothing in SPIKE_FUNCTIONS else -0.05)
    assert history["beta"][1] > history["beta"][0] >= 1.0  # β is annealed upwards
    assert any(
        not np.array_equal(w.numpy(), b) for w, b in zip(model.encoder.trainable_weights, before, strict=True)
    )


def test_api_round_trip_and_bounds(binary_batch, tmp_path):
    model = _model(smoothing="f3")
    codes = model.encode(binary_batch)["codes"]
    assert codes.shape == (16, 6) and model.decode(codes).shape == (16, 8, 8, 1)
    sample = model.sample(4, seed=1)
    assert sample["codes"].shape == (4, 6) and sample["x_mean"].shape == (4, 8, 8, 1)
    ll = model.log_likelihood(binary_batch, num_samples=300).numpy()
    elbo = np.mean([model.elbo(binary_batch, s)["elbo"].numpy() for s in range(30)], axis=0)
    assert np.all(np.isfinite(ll)) and ll.mean() > elbo.mean()
    path = str(tmp_path / "dvae.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_allclose(
        loaded.elbo(binary_batch, 2)["elbo"], model.elbo(binary_batch, 2)["elbo"], rtol=1e-5
    )


def test_kl_is_the_factorial_bernoulli_kl(binary_batch):
    model = _model()
    raw = tf.constant([[0.0, 2.0, -1.0, 0.5, 3.0, -3.0]])
    q = 1 / (1 + np.exp(-raw.numpy()))
    expected = (q * np.log(2 * q) + (1 - q) * np.log(2 * (1 - q))).sum()
    np.testing.assert_allclose(model.kl_terms(None, None, None, raw)[0].numpy(), [expected], rtol=1e-5)


def test_dvae_argument_errors():
    with pytest.raises(ValueError, match="Received: smoothing='f7'"):
        _model(smoothing="f7")
    with pytest.raises(ValueError, match="Received: estimator='reinforce'"):
        _model(estimator="reinforce")
