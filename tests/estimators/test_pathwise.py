"""STL (Roeder, Wu & Duvenaud 2017) and DReG (Tucker, Lawson, Gu & Maddison 2019) on a
linear-Gaussian VAE, whose exact posterior is a diagonal Gaussian (in the family):

    p(z) = N(0, I_L),  p(x|z) = N(x; zK + c, s² I_D)  (the decoder: one affine layer, K [L, D]),
    p(z|x) = N(m(x), P⁻¹),  P = I + K Kᵀ/s²,  m(x) = (x − c) Kᵀ P⁻¹ / s²

K has orthogonal rows, so P is diagonal and the encoder (one affine layer, [µ, log σ]) can be
set to the exact posterior: µ = m(x), log σ = −½ log diag P. Everything here is written out in
numpy from that algebra, independently of the model's code.
"""

import numpy as np
import pytest
import tensorflow as tf

from keraszoo import GaussianVAE
from keraszoo.estimators import get_estimator

D, L, S = 4, 2, 0.7
K = np.array([[1.0, 0.5, -0.5, 0.2], [-0.5, 1.0, 0.2, 0.5]])  # rows orthogonal: K Kᵀ diagonal
C = np.array([0.1, -0.2, 0.3, 0.0])
X = np.array([[0.5, -1.0, 0.3, 1.2], [-0.4, 0.2, 0.9, -0.3]], "float32")


def _model(estimator, num_samples=1, objective=None, posterior_offset=0.0):
    model = GaussianVAE(
        data_shape=(D,),
        latent_dim=L,
        encoder={"name": "mlp", "hidden_units": []},
        likelihood={"name": "gaussian", "scale": S},
        estimator=estimator,
        num_samples=num_samples,
        objective=objective,
        kl="monte_carlo" if estimator == "reparameterization" and objective != "iwae" else "auto",
        seed=1,
    )
    assert np.allclose(K @ K.T, np.diag(np.diag(K @ K.T)))
    precision = 1.0 + np.diag(K @ K.T) / S**2  # diagonal of P
    loc_kernel = K.T / S**2 / precision  # x ↦ x Kᵀ P⁻¹ / s²: [D, L]
    loc_bias = -(C @ K.T) / S**2 / precision
    kernel = np.concatenate([loc_kernel, np.zeros((D, L))], axis=1)
    bias = np.concatenate([loc_bias + posterior_offset, -0.5 * np.log(precision)])
    model.encoder.set_weights([kernel.astype("float32"), bias.astype("float32")])
    model.decoder.set_weights([K.astype("float32"), C.astype("float32")])
    return model


def _encoder_and_decoder_gradients(model, x, seed):
    with tf.GradientTape(persistent=True) as tape:
        loss = tf.reduce_mean(model.forward(tf.constant(x), tf.constant(seed))["objective"])
    enc = np.concatenate([g.numpy().ravel() for g in tape.gradient(loss, model.encoder.trainable_weights)])
    dec = np.concatenate([g.numpy().ravel() for g in tape.gradient(loss, model.decoder.trainable_weights)])
    return enc, dec


def test_the_encoder_is_the_exact_posterior():
    # Independent check of the algebra above: µ, σ against the posterior of the joint Gaussian
    # of (z, x), Σ_zx Σ_xx⁻¹ (x − c) and Σ_zz − Σ_zx Σ_xx⁻¹ Σ_xz.
    model = _model("stl")
    sigma_xx = K.T @ K + S**2 * np.eye(D)
    mean = (X - C) @ np.linalg.solve(sigma_xx, K.T)
    cov = np.eye(L) - K @ np.linalg.solve(sigma_xx, K.T)
    encoded = model.encode(X)
    np.testing.assert_allclose(encoded["mean"], mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        np.exp(2 * encoded["log_scale"]), np.broadcast_to(np.diag(cov), (2, L)), rtol=1e-5
    )
    assert np.allclose(cov, np.diag(np.diag(cov)))


def test_stl_encoder_gradient_has_zero_variance_at_the_exact_posterior():
    # log p(x, z) − log q(z|x) = log p(x) for every z: its path derivative is 0 for every sample.
    stl = _model("stl")
    reparameterized = _model("reparameterization")
    for seed in ([1, 2], [3, 4], [5, 6]):
        g_stl, _ = _encoder_and_decoder_gradients(stl, X, seed)
        g_rep, _ = _encoder_and_decoder_gradients(reparameterized, X, seed)
        np.testing.assert_allclose(g_stl, 0.0, atol=1e-5)
        assert np.abs(g_rep).max() > 0.05  # the score term's noise, which STL drops
    # Away from the posterior STL's gradient is not 0, and is unbiased: its mean over samples is
    # the reparameterized gradient's (the score term has expectation 0).
    stl, reparameterized = (
        _model("stl", posterior_offset=0.5),
        _model("reparameterization", posterior_offset=0.5),
    )
    x = np.tile(X, (20_000, 1))
    g_stl, _ = _encoder_and_decoder_gradients(stl, x, [7, 8])
    g_rep, _ = _encoder_and_decoder_gradients(reparameterized, x, [7, 8])
    assert np.abs(g_stl).max() > 0.1
    np.testing.assert_allclose(g_stl, g_rep, atol=0.03 * np.abs(g_rep).max())


def _per_row_gradients(model, x, seed):
    """∂Σ objective/∂(encoder output) per row (rows are independent) and the decoder gradient."""
    params = model.encoder(tf.constant(x))
    encoder = model.encoder
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(params)
        object.__setattr__(model, "encoder", lambda _: params)
        try:
            total = tf.reduce_sum(model.forward(tf.constant(x), tf.constant(seed))["objective"])
        finally:
            object.__setattr__(model, "encoder", encoder)
    rows = tape.gradient(total, params).numpy().astype("float64")
    dec = np.concatenate([g.numpy().ravel() for g in tape.gradient(total, model.decoder.trainable_weights)])
    return rows, dec


@pytest.mark.parametrize("num_samples", [1, 5])
def test_dreg_matches_the_iwae_gradient(num_samples):
    replicas = 40_000
    iwae = _model("reparameterization", num_samples, "iwae", posterior_offset=0.7)
    dreg = _model("dreg", num_samples, posterior_offset=0.7)
    assert dreg.objective == "iwae"
    x = np.tile(X, (replicas, 1))
    g_iwae, dec_iwae = _per_row_gradients(iwae, x, [1, 2])
    g_dreg, dec_dreg = _per_row_gradients(dreg, x, [1, 2])
    # The same samples: the value (−L_K) and the decoder's gradient are the IWAE ones exactly.
    np.testing.assert_allclose(
        dreg.forward(tf.constant(X), tf.constant([3, 4]))["objective"],
        iwae.forward(tf.constant(X), tf.constant([3, 4]))["objective"],
        rtol=1e-6,
    )
    np.testing.assert_allclose(dec_dreg, dec_iwae, rtol=1e-4, atol=1e-3)
    # The encoder's: equal in expectation, per example and coordinate (4 standard errors),
    # though not sample by sample; DReG's variance is smaller.
    g_iwae, g_dreg = g_iwae.reshape(replicas, len(X), -1), g_dreg.reshape(replicas, len(X), -1)
    diff = g_dreg - g_iwae  # paired: the same samples, so the difference has a small spread
    z = diff.mean(0) / (diff.std(0, ddof=1) / np.sqrt(replicas))
    np.testing.assert_array_less(np.abs(z), 4.0)
    assert np.abs(diff).max() > 1e-3  # not the same estimator
    assert g_dreg.var(0).sum() < g_iwae.var(0).sum()
    # Decisive: the mean gradient is far outside the band (an estimator missing a term would show).
    assert np.abs(g_iwae.mean(0)).max() > 20 * (diff.std(0, ddof=1) / np.sqrt(replicas)).max()


def test_dreg_and_stl_refuse_what_they_cannot_estimate():
    with pytest.raises(ValueError, match="Received: objective='elbo' with GaussianVAE, estimator='dreg'"):
        GaussianVAE(data_shape=(4,), latent_dim=2, estimator="dreg", objective="elbo")
    with pytest.raises(ValueError, match="Received: objective='iwae' with GaussianVAE, estimator='stl'"):
        GaussianVAE(data_shape=(4,), latent_dim=2, estimator="stl", objective="iwae")
    with pytest.raises(ValueError, match="Received: kl='param_l2', estimator='stl'"):
        GaussianVAE(data_shape=(4,), latent_dim=2, estimator="stl", kl="param_l2")
    assert get_estimator("stl").objectives == ("elbo",) and get_estimator("dreg").objectives == ("iwae",)
