"""REBAR (Tucker et al. 2017) and RELAX (Grathwohl et al. 2018) for Bernoulli latents.

References: the exact ELBO gradient by enumeration of the tiny model of `test_unbiased` (every
code z of 3 binary latents), the conditional logistic sample written from its definition
(u' = (1 − θ) + vθ or v(1 − θ), z̃ = α + logit u'), and REINFORCE (Williams 1992), which REBAR
must reduce to at η = 0. Defining properties: unbiased for any control-variate parameters; the
variance objective's gradient lowers the measured variance; its update is the same on 1 and 2
replicas of the same global batch.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keraszoo import BernoulliVAE, CategoricalVAE
from keraszoo.estimators.rebar import conditional_gumbel, conditional_logistic
from keraszoo.training import mirrored_strategy
from tests.estimators.test_unbiased import (
    SEED,
    X,
    _check_unbiased,
    _model,
    exact_gradient,
    logit_gradients,
    single_step_gradients,
)


def _set(model, eta=None, temperature=None, relax_scale=None):
    cv = model.control_variate
    if eta is not None and not cv.hidden_units:
        cv.eta.assign(eta)
    if temperature is not None:
        cv.log_temperature.assign(np.log(temperature))
    if relax_scale is not None and cv.hidden_units:  # a non-trivial r_ψ (its output layer starts at zero)
        rng = np.random.default_rng(0)
        cv.out.kernel.assign(relax_scale * rng.standard_normal(cv.out.kernel.shape).astype("float32"))
        cv.out.bias.assign([0.3 * relax_scale])
    return model


@pytest.mark.parametrize("alpha", [-4.0, -0.7, 0.0, 2.5])
def test_conditional_sample_is_z_given_b_and_its_marginal_is_logistic(alpha):
    rng = np.random.default_rng(1)
    n = 200_000
    u, v = rng.random(n), rng.random(n)
    b = (alpha + np.log(u) - np.log1p(-u) > 0).astype("float64")
    z_tilde = conditional_logistic(
        tf.constant(alpha, tf.float64), tf.constant(b), tf.constant(np.log(v) - np.log1p(-v))
    ).numpy()
    # By hand, from the definition (Tucker et al. 2017, appendix).
    theta = 1.0 / (1.0 + np.exp(-alpha))
    u_prime = np.where(b > 0, (1.0 - theta) + v * theta, v * (1.0 - theta))
    np.testing.assert_allclose(z_tilde, alpha + np.log(u_prime) - np.log1p(-u_prime), rtol=1e-6, atol=1e-6)
    assert np.all((z_tilde > 0) == (b > 0))  # H(z̃) = b
    # Marginally over b, z̃ ~ Logistic(α, 1): its CDF at t is σ(t − α), within 4 standard errors.
    for t in (-3.0, -1.0, 0.0, 0.5, 2.0):
        p = 1.0 / (1.0 + np.exp(-(t - alpha)))
        assert abs(np.mean(z_tilde <= t) - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-12


def test_conditional_sample_is_finite_at_extreme_logits_and_noise():
    alpha = tf.constant([[-80.0, 80.0, -80.0, 80.0, 0.0]])
    b = tf.constant([[0.0, 1.0, 1.0, 0.0, 1.0]])
    logistic_v = tf.constant([[-30.0, 30.0, 30.0, -30.0, -30.0]])
    with tf.GradientTape() as tape:
        tape.watch(alpha)
        z = conditional_logistic(alpha, b, logistic_v)
    assert np.all(np.isfinite(z.numpy())) and np.all(np.isfinite(tape.gradient(z, alpha).numpy()))


@pytest.mark.parametrize("logits", [[0.0, 0.0, 0.0], [2.0, -1.0, 0.3], [-6.0, 4.0, 1.0]])
def test_conditional_gumbel_sample_is_z_given_b_and_its_marginal_is_gumbel(logits):
    rng = np.random.default_rng(2)
    n = 200_000
    log_theta = np.asarray(logits) - np.logaddexp.reduce(logits)
    u, v = rng.random((n, 3)), rng.random((n, 3))
    b = np.eye(3)[np.argmax(log_theta - np.log(-np.log(u)), axis=-1)]
    z_tilde = conditional_gumbel(
        tf.constant(logits, tf.float64), tf.constant(b), tf.constant(-np.log(-np.log(v)))
    ).numpy()
    # By hand, from the definition (Tucker et al. 2017, appendix): z̃_b = −log(−log v_b),
    # z̃_k = −log(−log v_k / θ_k − log v_b).
    v_b = (v * b).sum(-1, keepdims=True)
    by_hand = np.where(b > 0, -np.log(-np.log(v_b)), -np.log(-np.log(v) / np.exp(log_theta) - np.log(v_b)))
    np.testing.assert_allclose(z_tilde, by_hand, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(np.argmax(z_tilde, -1), np.argmax(b, -1))  # argmax z̃ = b
    # Marginally over b, z̃_k ~ Gumbel(log θ_k): CDF exp(−exp(−(t − log θ_k))), within 4 SE.
    for t in (-2.0, 0.0, 1.5):
        p = np.exp(-np.exp(-(t - log_theta)))
        assert np.all(np.abs(np.mean(z_tilde <= t, axis=0) - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-12)


@pytest.mark.parametrize("cls", [BernoulliVAE, CategoricalVAE])
def test_rebar_at_eta_zero_is_reinforce_with_the_same_samples(cls):
    """ĝ = f(b) (b − π(α)) at η = 0: the same per-sample logit gradient as REINFORCE (no
    baseline) at the same seed, which draws the same b."""
    rebar, reinforce = _set(_model(cls, "rebar"), eta=0.0), _model(cls, "reinforce")
    reinforce.set_weights([w for w in rebar.get_weights()[: len(reinforce.get_weights())]])
    x = tf.constant(np.tile(X, (4, 1)))
    g_rebar, t_rebar = logit_gradients(rebar, x, SEED)
    g_reinforce, t_reinforce = logit_gradients(reinforce, x, SEED)
    np.testing.assert_array_equal(t_rebar["z"].numpy(), t_reinforce["z"].numpy())
    np.testing.assert_allclose(g_rebar, g_reinforce, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", [BernoulliVAE, CategoricalVAE])
@pytest.mark.parametrize("estimator", ["rebar", "relax"])
def test_the_decoder_gets_the_gradient_of_log_px_at_b_alone(cls, estimator):
    """The relaxed evaluations of the control variate only shape the encoder's and ω's gradients:
    the decoder's is that of −log p(x|b) at the exact samples, as for REINFORCE at the same seed."""
    model, reinforce = _set(_model(cls, estimator), 1.7, 0.3, 0.8), _model(cls, "reinforce")
    reinforce.set_weights(model.get_weights()[: len(reinforce.get_weights())])
    x = tf.constant(np.tile(X, (4, 1)))
    grads = []
    for m in (model, reinforce):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(m.forward(x, SEED, training=True)["objective"])
        grads.append(tape.gradient(loss, m.decoder.trainable_weights))
    for a, b in zip(*grads, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "cls, estimator, eta, temperature, relax_scale",
    [
        (BernoulliVAE, "rebar", 0.0, 0.5, None),  # REINFORCE
        (BernoulliVAE, "rebar", 1.7, 0.3, None),
        (BernoulliVAE, "relax", None, 2.0, 0.8),
        (CategoricalVAE, "rebar", 1.3, 0.4, None),
        (CategoricalVAE, "relax", None, 0.7, 0.8),
    ],
)
def test_unbiased_for_the_exact_elbo_gradient_at_fixed_control_parameters(
    cls, estimator, eta, temperature, relax_scale
):
    model = _set(_model(cls, estimator), eta, temperature, relax_scale)
    _, exact, kl_part = exact_gradient(model)
    stderr = _check_unbiased(single_step_gradients(model, replicas=25_000), exact)
    assert np.max(np.abs(kl_part) / stderr) > 20.0  # an estimate without the KL's gradient would fail


def _control_step(model, x, seed, learning_rate):
    """One SGD step on the control-variate parameters alone, with the gradient `fit` gives them."""
    variables = model.control_variate.trainable_variables
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model.forward(x, seed, training=True)["objective"])
    for v, g in zip(variables, tape.gradient(loss, variables), strict=True):
        v.assign_sub(learning_rate * g)


@pytest.mark.parametrize("estimator", ["rebar", "relax"])
def test_the_variance_objective_lowers_the_measured_variance(estimator):
    model = _model(BernoulliVAE, estimator)
    if estimator == "rebar":
        _set(model, eta=0.0)  # start from REINFORCE
    else:
        _set(model, relax_scale=2.0)  # start from a poor r_ψ
    before = single_step_gradients(model, replicas=3_000, seed=tf.constant([5, 6])).var(0).sum()
    start = [v.numpy().copy() for v in model.control_variate.trainable_variables]
    x = tf.constant(np.tile(X, (200, 1)))
    for step in range(15):
        _control_step(model, x, tf.constant([7, step]), learning_rate=0.1 if estimator == "rebar" else 0.003)
    after = single_step_gradients(model, replicas=3_000, seed=tf.constant([5, 6])).var(0).sum()
    moved = [
        not np.allclose(a, v.numpy())
        for a, v in zip(start, model.control_variate.trainable_variables, strict=True)
    ]
    assert any(moved)
    if estimator == "rebar":
        assert model.control_variate.eta.numpy() > 0.2  # η = 0 (REINFORCE) is not the minimum
    assert after < 0.8 * before, (before, after)


def test_two_replicas_give_the_same_control_variate_update_as_one():
    """Same global batch and seed: each replica draws its slice of the global batch's noise and
    ∂V/∂ω goes through `add_loss` (1/replicas, summed), so ω's update (and every other weight's)
    is that of one device. RELAX: its λ and network r_ψ (REBAR's η takes the same code path)."""
    estimator = "relax"
    x = (np.random.default_rng(0).random((16, 3)) > 0.5).astype("float32")
    weights, initial = {}, None
    for devices in (["/cpu:0"], ["/cpu:0", "/cpu:1"]):
        with mirrored_strategy(devices).scope():
            model = _model(BernoulliVAE, estimator)
            model.compile(optimizer=keras.optimizers.SGD(0.5), run_eagerly=True)  # no tracing: fast
        if initial is None:
            initial = model.get_weights()
        model.set_weights(initial)
        model.fit(tf.data.Dataset.from_tensor_slices(x).batch(8), epochs=1, verbose=0, shuffle=False)
        weights[len(devices)] = [v.numpy() for v in model.control_variate.trainable_variables]
        weights[(len(devices), "all")] = model.get_weights()
    start = initial[-len(weights[1]) :]
    assert any(not np.allclose(a, b) for a, b in zip(weights[1], start, strict=True))  # it learned
    for a, b in zip(weights[1], weights[2], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    for a, b in zip(weights[(1, "all")], weights[(2, "all")], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("estimator", ["rebar", "relax"])
def test_control_variate_is_trained_by_fit_and_saved(estimator, tmp_path):
    model = _model(BernoulliVAE, estimator)
    model.compile(keras.optimizers.Adam(1e-2))
    before = [v.numpy().copy() for v in model.control_variate.trainable_variables]
    model.fit(np.tile(X, (4, 1)), epochs=1, batch_size=6, verbose=0)
    after = [v.numpy() for v in model.control_variate.trainable_variables]
    assert all(not np.allclose(a, b) for a, b in zip(before, after, strict=True) if a.ndim == 0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.get_config()["estimator"] == estimator
    for a, b in zip(after, [v.numpy() for v in loaded.control_variate.trainable_variables], strict=True):
        np.testing.assert_array_equal(a, b)
