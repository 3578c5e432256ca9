import keras
import numpy as np
import pytest
import tensorflow as tf

from keraszoo import BernoulliVAE, CategoricalVAE
from keraszoo.estimators import DISCRETE_ESTIMATORS
from tests.conftest import small_vae_config

SCHEDULE = {"initial": 1.0, "minimum": 0.5, "rate": 0.1, "every": 2}


def _model(cls, **overrides):
    config = small_vae_config(temperature=SCHEDULE, **overrides)
    config.pop("latent_dim")
    if cls is CategoricalVAE:
        config.update(num_variables=3, num_classes=4)
    else:
        config.update(latent_dim=6)
    return cls(**config)


@pytest.mark.parametrize("cls", [CategoricalVAE, BernoulliVAE])
@pytest.mark.parametrize("estimator", DISCRETE_ESTIMATORS)
def test_every_estimator_trains_through_fit(cls, estimator, binary_batch):
    model = _model(cls, estimator=estimator)
    model.compile(keras.optimizers.Adam(1e-2))
    before = [w.numpy().copy() for w in model.encoder.trainable_weights]
    history = model.fit(
        tf.data.Dataset.from_tensor_slices(binary_batch).batch(4), epochs=2, verbose=0
    ).history
    assert np.all(np.isfinite(history["neg_elbo"])) and min(history["kl"]) >= 0
    assert any(
        not np.array_equal(w.numpy(), b) for w, b in zip(model.encoder.trainable_weights, before, strict=True)
    )
    if estimator.startswith("gumbel"):
        # 8 steps with τ = max(0.5, exp(−0.1·2⌊t/2⌋)): the per-epoch mean moves.
        assert history["temperature"][1] < history["temperature"][0] < 1.0
        assert float(model.sampler.temperature.numpy()) == pytest.approx(max(0.5, np.exp(-0.1 * 6)))
    else:
        assert "temperature" not in history


@pytest.mark.parametrize("cls", [CategoricalVAE, BernoulliVAE])
def test_api_shapes_codes_and_round_trip(cls, binary_batch, tmp_path):
    model = _model(cls)
    enc = model.encode(binary_batch)
    n_codes = 3 if cls is CategoricalVAE else 6
    assert enc["codes"].shape == (16, n_codes) and enc["codes"].dtype == tf.int32
    assert model.decode(enc["codes"]).shape == (16, 8, 8, 1)
    sample = model.sample(5, seed=2)
    assert sample["codes"].shape == (5, n_codes) and sample["x_mean"].shape == (5, 8, 8, 1)
    np.testing.assert_array_equal(sample["codes"], model.sample(5, seed=2)["codes"])
    # Evaluation uses exact discrete samples: the ELBO is a true bound below the IWAE estimate.
    elbo = np.mean([model.elbo(binary_batch, s)["elbo"].numpy() for s in range(20)], axis=0)
    assert np.mean(model.log_likelihood(binary_batch, num_samples=200).numpy()) > np.mean(elbo)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_allclose(
        loaded.elbo(binary_batch, 3)["elbo"], model.elbo(binary_batch, 3)["elbo"], rtol=1e-5
    )
    with pytest.raises(ValueError, match="codes.shape"):
        model.decode(np.zeros((2, n_codes + 1), "int32"))


def test_categorical_kl_is_sum_over_groups_and_zero_for_uniform_logits(binary_batch):
    model = _model(CategoricalVAE)
    raw = tf.zeros([2, 12])
    kl, _ = model.kl_terms(None, None, None, raw)
    np.testing.assert_allclose(kl.numpy(), 0.0, atol=1e-6)
    raw = tf.constant(np.log([[0.7, 0.1, 0.1, 0.1] * 3]), tf.float32)
    expected = 3 * sum(q * np.log(q * 4) for q in (0.7, 0.1, 0.1, 0.1))
    np.testing.assert_allclose(model.kl_terms(None, None, None, raw)[0].numpy(), [expected], rtol=1e-5)


def test_discrete_argument_errors():
    with pytest.raises(ValueError, match="Received: estimator='reparameterization'"):
        _model(CategoricalVAE, estimator="reparameterization")
    with pytest.raises(ValueError, match="Received: num_classes=1"):
        CategoricalVAE(data_shape=(8, 8, 1), num_classes=1)
    with pytest.raises(ValueError, match="Received: kl='monte_carlo'"):
        _model(BernoulliVAE, kl="monte_carlo")
    with pytest.raises(ValueError, match="never anneals"):
        CategoricalVAE(data_shape=(8, 8, 1), temperature={"initial": 0.5, "minimum": 0.5, "rate": 1e-3})
