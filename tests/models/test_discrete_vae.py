import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from keraszoo import BernoulliVAE, CategoricalVAE
from keraszoo.estimators import estimator_names
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


def _exact_terms(model, x):
    """Per example, by enumeration over every z (4³ or 2⁶ = 64 codes), in float64 numpy:
    E_q[−log p(x|z)], its variance under q, and KL(q ‖ p) = E_q[log q(z|x) − log p(z)]."""
    from scipy.special import log_expit, log_softmax

    logits = model._logits(model.encoder(x)).numpy().astype("float64")
    if isinstance(model, CategoricalVAE):
        n, m = logits.shape[1:]
        codes = np.array(list(itertools.product(range(m), repeat=n)))
        z = np.eye(m)[codes]  # [64, N, M] one-hot
        log_q = np.einsum("bnm,cnm->bc", log_softmax(logits, axis=-1), z)
        log_prior = -n * np.log(m)
    else:
        z = np.array(list(itertools.product([0.0, 1.0], repeat=logits.shape[-1])))  # [64, M]
        log_q = log_expit(logits) @ z.T + log_expit(-logits) @ (1.0 - z.T)
        log_prior = -logits.shape[-1] * np.log(2.0)
    d = model.decoder(tf.constant(z.reshape(len(z), -1), tf.float32)).numpy().astype("float64")
    d = d.reshape(len(z), -1)
    log_px = x.reshape(len(x), -1) @ d.T - np.logaddexp(0.0, d).sum(-1)  # Bernoulli pixels: [B, 64]
    q = np.exp(log_q)
    recon = -(q * log_px).sum(-1)
    return recon, (q * log_px**2).sum(-1) - recon**2, (q * (log_q - log_prior)).sum(-1)


# Every ELBO estimator of the two discrete families (test_registry.py trains these eagerly: their
# traced train step is run here).
ELBO_CASES = [
    (cls, name) for cls in (CategoricalVAE, BernoulliVAE) for name in estimator_names(cls.latent_kind, "elbo")
]


@pytest.mark.parametrize("cls, estimator", ELBO_CASES)
def test_every_estimator_trains_through_fit(cls, estimator, binary_batch):
    model = _model(cls, estimator=estimator)
    model.compile(keras.optimizers.Adam(1e-2))
    data = tf.data.Dataset.from_tensor_slices(binary_batch).batch(4)
    recon, _, kl = _exact_terms(model, binary_batch)
    neg_elbo_before = np.mean(recon + kl)
    before = [w.numpy().copy() for w in model.encoder.trainable_weights]
    history = model.fit(data, epochs=2, verbose=0).history
    assert np.all(np.isfinite(history["neg_elbo"])) and min(history["kl"]) >= 0
    # Every estimator's objective is the −ELBO estimate itself (the REINFORCE surrogate is zero-valued).
    np.testing.assert_allclose(history["loss"], history["neg_elbo"], rtol=1e-5)
    assert any(
        not np.array_equal(w.numpy(), b) for w, b in zip(model.encoder.trainable_weights, before, strict=True)
    )
    # Training lowers the exact −ELBO of the data (enumerated: no sampling noise).
    recon, var, kl = _exact_terms(model, binary_batch)
    assert np.mean(recon + kl) < neg_elbo_before - 0.1
    # The reported figures match the enumeration: the KL is analytic (no noise), the
    # reconstruction term is a one-sample estimate per example (within 4 standard errors).
    # Eagerly: evaluation samples exactly whatever the estimator, so the family's traced test step
    # is the same for all of them, and tests/models/test_zoo_models.py runs it.
    model.run_eagerly = True
    results = model.evaluate(data, verbose=0, return_dict=True)
    np.testing.assert_allclose(results["kl"], np.mean(kl), rtol=1e-5)
    stderr = np.sqrt(var.sum()) / len(var)
    assert abs(results["recon_nll"] - np.mean(recon)) < 4 * stderr
    assert abs(results["neg_elbo"] - np.mean(recon + kl)) < 4 * stderr
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


@pytest.mark.parametrize("cls", [CategoricalVAE, BernoulliVAE])
@pytest.mark.parametrize("kl", ["auto", "analytic"])
def test_kl_auto_is_the_closed_form_and_equals_the_enumerated_kl(cls, kl, binary_batch):
    # "auto" is analytic for both families, so REINFORCE's learning signal is log p(x|z) alone
    # (tests/estimators/test_unbiased.py checks the per-sample gradient).
    model = _model(cls, kl=kl, estimator="reinforce")
    assert model.uses_analytic_kl()
    _, _, expected = _exact_terms(model, binary_batch)
    np.testing.assert_allclose(model.elbo(binary_batch, seed=0)["kl"].numpy(), expected, rtol=1e-5)


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


def _relaxed_reference(model, x, seed, temperature):
    """(log p(x | y), KL) at a relaxed sample, by hand (scipy): y = softmax((log_softmax l + g)/τ)
    (categorical) or σ((l + L)/τ) (Bernoulli), log p(x | y) for Bernoulli pixels, the analytic KL
    to uniform."""
    from scipy.special import expit, log_softmax, softmax

    from keraszoo.random import as_seed

    logits = model._logits(model.encoder(x)).numpy().astype("float64")
    noise = model.sampler.noise(tf.shape(logits[:, None]), as_seed(seed)).numpy()[:, 0].astype("float64")
    if isinstance(model, CategoricalVAE):
        y = softmax((log_softmax(logits, axis=-1) + noise) / temperature, axis=-1)
        q = softmax(logits, axis=-1)
        kl = np.sum(q * np.log(q * logits.shape[-1]), axis=(1, 2))
    else:
        y = expit((logits + noise) / temperature)
        q = expit(logits)
        kl = np.sum(q * np.log(2 * q) + (1 - q) * np.log(2 * (1 - q)), axis=-1)
    pixel_logits = model.decoder(tf.constant(y.reshape(len(y), -1), tf.float32)).numpy().reshape(len(y), -1)
    xs = x.reshape(len(x), -1)
    log_px = np.sum(xs * pixel_logits - np.logaddexp(0.0, pixel_logits), axis=-1)
    return log_px, kl


@pytest.mark.parametrize("cls", [CategoricalVAE, BernoulliVAE])
def test_relaxed_elbo_is_the_gumbel_softmax_objective_at_the_trained_temperature(cls, binary_batch):
    model = _model(cls, estimator="gumbel_softmax")
    model.compile(keras.optimizers.Adam(1e-3))
    model.optimizer.iterations.assign(10_000)  # the schedule would give τ = 0.5: it is not consulted
    model.sampler.state.assign(0.7)
    relaxed = model.elbo(binary_batch, seed=4, relaxed=True)
    assert float(model.sampler.temperature.numpy()) == pytest.approx(0.7)  # τ left as it is
    log_px, kl = _relaxed_reference(model, binary_batch, 4, 0.7)
    np.testing.assert_allclose(relaxed["reconstruction_log_prob"].numpy(), log_px, rtol=2e-5, atol=1e-3)
    np.testing.assert_allclose(relaxed["kl"].numpy(), kl, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(relaxed["elbo"].numpy(), log_px - kl, rtol=2e-5, atol=1e-3)
    # The same noise as the exact sample (argmax / threshold of l + noise): as τ → 0 they agree.
    exact = model.elbo(binary_batch, seed=4)["elbo"].numpy()
    assert not np.allclose(relaxed["elbo"].numpy(), exact, rtol=1e-3)
    model.sampler.state.assign(1e-4)
    np.testing.assert_allclose(model.elbo(binary_batch, seed=4, relaxed=True)["elbo"], exact, rtol=1e-3)


@pytest.mark.parametrize("cls", [CategoricalVAE, BernoulliVAE])
def test_relaxed_elbo_of_st_gumbel_softmax_is_the_exact_elbo_and_other_estimators_refuse_it(
    cls, binary_batch
):
    # ST Gumbel-softmax trains on the exact sample's value: its relaxed figure is the bound itself.
    model = _model(cls, estimator="gumbel_softmax_hard")
    np.testing.assert_allclose(
        model.elbo(binary_batch, seed=2, relaxed=True)["elbo"],
        model.elbo(binary_batch, seed=2)["elbo"],
        rtol=1e-5,
    )
    for estimator in ("straight_through", "reinforce"):
        with pytest.raises(ValueError, match="Received: relaxed=True"):
            _model(cls, estimator=estimator).elbo(binary_batch, relaxed=True)


def test_evaluation_reports_the_relaxed_figure_beside_the_bound(binary_batch):
    from keraszoo.training.evaluation import evaluate_bounds

    data = tf.data.Dataset.from_tensor_slices(binary_batch).batch(8)
    model = _model(CategoricalVAE, estimator="gumbel_softmax")
    results = evaluate_bounds(model, data, num_samples=4, seed=3, verbose=0)
    seeds = [tf.random.experimental.stateless_fold_in(tf.constant([3, 0]), 2 * b) for b in range(2)]
    relaxed = [model.elbo(x, seed=s, relaxed=True)["elbo"].numpy() for x, s in zip(data, seeds, strict=True)]
    exact = [model.elbo(x, seed=s)["elbo"].numpy() for x, s in zip(data, seeds, strict=True)]
    assert results["neg_elbo_relaxed"] == pytest.approx(-np.mean(np.concatenate(relaxed)), rel=1e-6)
    assert results["neg_elbo"] == pytest.approx(-np.mean(np.concatenate(exact)), rel=1e-6)
    assert results["neg_elbo_relaxed"] != pytest.approx(results["neg_elbo"], rel=1e-3)
    bound_only = evaluate_bounds(_model(CategoricalVAE, estimator="straight_through"), data, 4, verbose=0)
    assert "neg_elbo_relaxed" not in bound_only
