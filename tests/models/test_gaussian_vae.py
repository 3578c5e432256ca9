import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

import keraszoo
from keraszoo import GaussianVAE, build_model
from keraszoo.models import available_models
from tests.conftest import small_vae_config


def _dataset(x, batch=8):
    return tf.data.Dataset.from_tensor_slices(x).batch(batch)


def test_call_returns_per_example_terms(binary_batch):
    model = GaussianVAE(**small_vae_config())
    out = model(binary_batch)
    for name in ("neg_elbo", "recon_nll", "kl"):
        assert out[name].shape == (16,)
    assert out["z"].shape == (16, 4) and out["outputs"].shape == (16, 8, 8, 1)
    # Each term against an independent float64 reference: the closed-form Gaussian KL from the
    # encoder's (µ, σ), and −log Bern(x; σ(logits)) of the decoder at the returned sample z.
    enc = model.encode(binary_batch)
    mu, sigma = enc["mean"].numpy().astype("float64"), np.exp(enc["log_scale"].numpy().astype("float64"))
    kl = np.sum(-np.log(sigma) + (sigma**2 + mu**2) / 2 - 0.5, axis=1)
    np.testing.assert_allclose(out["kl"], kl, rtol=1e-5)
    logits = model.decoder(out["z"]).numpy().astype("float64").reshape(16, -1)
    x = binary_batch.reshape(16, -1)
    recon_nll = (np.logaddexp(0.0, logits) - x * logits).sum(1)
    np.testing.assert_allclose(out["recon_nll"], recon_nll, rtol=1e-5)
    np.testing.assert_allclose(out["neg_elbo"], recon_nll + kl, rtol=1e-5)
    predicted = model.predict(binary_batch, batch_size=8, verbose=0)  # Keras predict: per-example terms
    assert predicted["neg_elbo"].shape == (16,) and np.all(np.isfinite(predicted["neg_elbo"]))


def test_public_api_shapes_and_seeded_sampling(binary_batch):
    model = GaussianVAE(**small_vae_config())
    enc = model.encode(binary_batch)
    assert enc["mean"].shape == (16, 4) and enc["log_scale"].shape == (16, 4)
    assert model.decode(np.zeros((3, 4))).shape == (3, 8, 8, 1)
    recon = model.reconstruct(binary_batch).numpy()
    assert recon.shape == binary_batch.shape and (0 <= recon).all() and (recon <= 1).all()
    a, b, c = (model.sample(5, seed=s)["x_mean"].numpy() for s in (7, 7, 8))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_registry_and_clear_errors():
    assert "gaussian_vae" in available_models()
    assert isinstance(build_model("gaussian_vae", **small_vae_config()), GaussianVAE)
    with pytest.raises(ValueError, match="Received: model='nope'"):
        build_model("nope")
    with pytest.raises(ValueError, match="Received: latent_dim=-1"):
        GaussianVAE(**small_vae_config(latent_dim=-1))
    with pytest.raises(ValueError, match="Received: kl='exact'"):
        GaussianVAE(**small_vae_config(kl="exact"))
    with pytest.raises(ValueError, match="divisible by 4"):
        GaussianVAE(**small_vae_config(data_shape=(7, 7, 1), encoder="conv"))
    model = GaussianVAE(**small_vae_config())
    with pytest.raises(ValueError, match=r"Received: x.shape=\(2, 9\)"):
        model.encode(np.zeros((2, 9), "float32"))
    with pytest.raises(ValueError, match=r"Received: z.shape=\(2, 5\)"):
        model.decode(np.zeros((2, 5), "float32"))


def test_config_and_keras_file_round_trip(tmp_path, binary_batch):
    model = GaussianVAE(**small_vae_config(encoder="conv", likelihood={"name": "gaussian", "scale": 0.5}))
    restored = GaussianVAE.from_config(model.get_config())
    assert restored.get_config() == model.get_config()
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_allclose(loaded.reconstruct(binary_batch), model.reconstruct(binary_batch), atol=1e-6)
    np.testing.assert_allclose(
        loaded.elbo(binary_batch, 3)["elbo"], model.elbo(binary_batch, 3)["elbo"], atol=1e-5
    )


def test_fit_changes_weights_and_evaluate_does_not(binary_batch):
    model = GaussianVAE(**small_vae_config())
    model.compile(keras.optimizers.Adam(1e-2))
    before = [w.numpy().copy() for w in model.trainable_weights]
    model.evaluate(_dataset(binary_batch), verbose=0)
    for w, b in zip(model.trainable_weights, before, strict=True):
        np.testing.assert_array_equal(w.numpy(), b)
    history = model.fit(_dataset(binary_batch), epochs=3, verbose=0).history
    assert set(history) >= {"loss", "neg_elbo", "recon_nll", "kl"}
    assert history["neg_elbo"][-1] < history["neg_elbo"][0]
    assert any(not np.array_equal(w.numpy(), b) for w, b in zip(model.trainable_weights, before, strict=True))


@pytest.mark.parametrize("bad, match", [(0.5, "needs binary data"), (np.nan, "NaN or Inf")])
def test_fit_rejects_bad_data(binary_batch, bad, match):
    model = GaussianVAE(**small_vae_config())
    model.compile(keras.optimizers.Adam())
    x = binary_batch.copy()
    x[3, 2, 2, 0] = bad
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        model.fit(_dataset(x, 16), epochs=1, verbose=0)


def test_param_l2_trains_with_the_regularizer_but_reports_the_true_kl(binary_batch):
    model = GaussianVAE(**small_vae_config(kl="param_l2"))
    terms = model.forward(binary_batch, tf.constant([0, 0]))
    enc = model.encode(binary_batch)
    mu, sigma = enc["mean"].numpy(), np.exp(enc["log_scale"].numpy())
    true_kl = (-np.log(sigma) + (sigma**2 + mu**2) / 2 - 0.5).sum(-1)
    np.testing.assert_allclose(terms["kl"], true_kl, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(
        terms["objective"] - terms["recon_nll"],
        (mu**2 + (sigma - 1) ** 2).sum(-1),
        rtol=1e-4,
        atol=1e-6,
    )


def test_monte_carlo_kl_averages_to_the_analytic_kl(binary_batch):
    analytic = GaussianVAE(**small_vae_config())
    mc = GaussianVAE(**small_vae_config(kl="monte_carlo"))
    mc.set_weights(analytic.get_weights())
    exact = analytic.forward(binary_batch, tf.constant([0, 0]))["kl"].numpy()
    # 400 independent draws per example in one batch: every row draws its own noise.
    copies = np.tile(binary_batch, (400, 1, 1, 1))
    draws = mc.forward(copies, tf.constant([0, 1]))["kl"].numpy().reshape(400, len(binary_batch))
    stderr = draws.std(0) / np.sqrt(len(draws))
    assert np.all(np.abs(draws.mean(0) - exact) < 5 * stderr + 1e-6)


# ---------------------------------------------------------------- known answer
D, L, SIGMA = 6, 2, 0.5


def _linear_gaussian_model(posterior_scale_factor=1.0, loc_shift=0.0, kl="analytic", **model_kwargs):
    """p(z) = N(0, I), p(x|z) = N(Wz + b, σ²I); W has orthogonal columns, so the exact
    posterior N(A(x − b), Σ) with Σ = (I + WᵀW/σ²)⁻¹, A = ΣWᵀ/σ² is diagonal."""
    rng = np.random.default_rng(0)
    w, _ = np.linalg.qr(rng.normal(size=(D, L)))
    w = w * np.array([1.5, 0.7])
    b = rng.normal(size=D) * 0.3
    cov = np.linalg.inv(np.eye(L) + w.T @ w / SIGMA**2)
    a = cov @ w.T / SIGMA**2
    model = GaussianVAE(
        data_shape=(D,),
        latent_dim=L,
        encoder={"name": "mlp", "hidden_units": []},
        likelihood={"name": "gaussian", "scale": SIGMA},
        kl=kl,
        validate_inputs=False,
        **model_kwargs,
    )
    log_sd = 0.5 * np.log(np.diag(cov)) + np.log(posterior_scale_factor)
    enc_kernel = np.concatenate([a.T, np.zeros((D, L))], axis=1)
    enc_bias = np.concatenate([-a @ b + loc_shift, log_sd])
    model.encoder.get_layer("posterior_params").set_weights([enc_kernel, enc_bias])
    model.decoder.get_layer("outputs").set_weights([w.T, b])
    marginal = stats.multivariate_normal(b, w @ w.T + SIGMA**2 * np.eye(D))
    x = marginal.rvs(size=5, random_state=1).astype("float32")
    return model, x, marginal.logpdf(x)


def test_elbo_equals_log_marginal_with_the_exact_posterior():
    # With q = p(z|x), log p(x, z) − log q(z|x) = log p(x) for every z: the single-sample
    # ELBO with the Monte Carlo KL is exact, and with the analytic KL exact on average.
    model, x, log_px = _linear_gaussian_model(kl="monte_carlo")
    for seed in range(3):
        np.testing.assert_allclose(model.elbo(x, seed)["elbo"], log_px, rtol=1e-4)
    analytic, _, _ = _linear_gaussian_model(kl="analytic")
    # 300 independent draws per example, one batch (each row draws its own noise).
    draws = analytic.elbo(np.tile(x, (300, 1)), 0)["elbo"].numpy().reshape(300, -1)
    assert np.all(np.abs(draws.mean(0) - log_px) < 5 * draws.std(0) / np.sqrt(300))


def test_elbo_below_and_iwae_approaches_log_marginal():
    model, x, log_px = _linear_gaussian_model(posterior_scale_factor=1.6, loc_shift=0.4)
    elbo = model.elbo(np.tile(x, (200, 1)), 0)["elbo"].numpy().reshape(200, -1).mean(0)  # 200 draws each
    assert np.all(elbo < log_px - 0.05)
    repeats = np.tile(x, (40, 1))  # 40 independent estimates of L_k per example, averaged
    bounds = [
        model.log_likelihood(repeats, num_samples=k, seed=k).numpy().reshape(40, -1).mean(0)
        for k in (1, 10, 100, 5000)
    ]
    gaps = [np.mean(log_px - bound) for bound in bounds]
    assert all(g1 > g2 for g1, g2 in zip(gaps, gaps[1:], strict=False))  # L_k increases with k ...
    assert abs(gaps[-1]) < 0.02  # ... towards log p(x)
    # L_1 is the ELBO (Monte Carlo KL instead of analytic): equal within Monte Carlo error.
    l1 = model.log_likelihood(np.tile(x, (1000, 1)), num_samples=1, seed=5).numpy()
    assert abs(l1.mean() - elbo.mean()) < 4 * l1.std() / np.sqrt(l1.size) + 0.02


def test_chunking_does_not_change_the_estimate():
    # Chunks use their own seeds, so compare within Monte Carlo error (the exact chunk
    # combination is tested in test_bounds_and_random.py).
    model, x, _ = _linear_gaussian_model(posterior_scale_factor=1.3)
    one_shot = model.log_likelihood(x, num_samples=3000, chunk_size=3000, seed=0).numpy()
    chunked = model.log_likelihood(x, num_samples=3000, chunk_size=7, seed=1).numpy()
    np.testing.assert_allclose(one_shot, chunked, atol=0.02)


# ---------------------------------------------------------------- the IWAE objective
def test_iwae_objective_with_one_sample_is_the_monte_carlo_elbo():
    iwae, x, _ = _linear_gaussian_model(1.6, 0.4, kl="monte_carlo", objective="iwae", num_samples=1)
    elbo, _, _ = _linear_gaussian_model(1.6, 0.4, kl="monte_carlo", num_samples=1)
    for seed in range(3):
        a = iwae.forward(x, tf.constant([seed, 0]))
        b = elbo.forward(x, tf.constant([seed, 0]))
        np.testing.assert_allclose(a["objective"], b["objective"], rtol=1e-5)
        np.testing.assert_allclose(a["objective"], b["neg_elbo"], rtol=1e-5)


def test_iwae_objective_bounds_the_elbo_and_approaches_log_marginal():
    bounds = {}
    for k in (1, 10, 100, 5000):
        model, x, log_px = _linear_gaussian_model(1.6, 0.4, kl="monte_carlo", objective="iwae", num_samples=k)
        terms = [model.forward(x, tf.constant([s, k])) for s in range(20)]
        # Jensen on the same samples: −L_K ≤ the K-sample −ELBO, example by example.
        for t in terms:
            assert np.all(t["objective"].numpy() <= t["neg_elbo"].numpy() + 1e-5)
        bounds[k] = -np.mean([t["objective"].numpy() for t in terms], axis=0)
    gaps = [np.mean(log_px - bounds[k]) for k in (1, 10, 100, 5000)]
    assert all(g1 > g2 for g1, g2 in zip(gaps, gaps[1:], strict=False)) and abs(gaps[-1]) < 0.02, gaps


def test_iwae_objective_trains_and_round_trips(binary_batch, tmp_path):
    model = GaussianVAE(**small_vae_config(objective="iwae", num_samples=5))
    model.compile(keras.optimizers.Adam(1e-2))
    loss = model.fit(tf.data.Dataset.from_tensor_slices(binary_batch).batch(8), epochs=5, verbose=0).history[
        "loss"
    ]
    assert loss[-1] < loss[0] and np.all(np.isfinite(loss))
    assert GaussianVAE.from_config(model.get_config()).objective == "iwae"
    assert (model.selection_metric, GaussianVAE(**small_vae_config()).selection_metric) == (
        "loss",
        "neg_elbo",
    )
    with pytest.raises(
        ValueError, match="Received: objective='iwae' with GaussianVAE, estimator='reinforce'"
    ):
        GaussianVAE(**small_vae_config(objective="iwae", estimator="reinforce"))
    with pytest.raises(ValueError, match="Received: objective='iwae' with CategoricalVAE"):
        keraszoo.CategoricalVAE(
            **{k: v for k, v in small_vae_config(objective="iwae").items() if k != "latent_dim"}
        )
    with pytest.raises(ValueError, match="Received: objective='elbow'"):
        GaussianVAE(**small_vae_config(objective="elbow"))
