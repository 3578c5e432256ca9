"""Model-level check of the discrete-latent gradient estimators against the exact gradient.

On a tiny VAE (3 binary pixels; 3 binary latents, or one categorical latent of 3 classes) the
negative ELBO of a batch X,

    J(φ) = (1/B) Σ_x [ Σ_z q_φ(z|x) (−log p_θ(x|z)) + Σ_z q_φ(z|x) (log q_φ(z|x) − log p(z)) ],

is a finite sum over every z, so its gradient w.r.t. the encoder weights φ is computed exactly
here, by enumeration, from the model's encoder and decoder used as plain functions (q, p(z) and
the Bernoulli pixel likelihood are written out below, independently of the model's code).

The estimate under test is the gradient of the model's own training objective
(`forward(...)["objective"]`, what `fit` minimises) for one step on X. The batch is X tiled R
times, so one forward pass draws R independent single-step estimates; one backward pass gives
∂objective/∂logits for every row, and since the encoder maps each row separately, the encoder-
weight gradient of replica r is (1/B) Σ_x (∂logits_x/∂φ)ᵀ ∂objective_{r,x}/∂logits_{r,x}.
REINFORCE (Williams 1992) with no baseline, leave-one-out (Kool et al. 2019) or the moving
average must match the exact gradient within 4 standard errors in every coordinate.
Straight-through (Bengio et al. 2013) and Gumbel-softmax (Jang et al. 2017; Maddison et al.
2017) are biased estimators of this gradient: the same comparison rejects them.
"""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from keraszoo import BernoulliVAE, CategoricalVAE

X = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]], "float32")  # B = 3 examples
REPLICAS = 50_000
SEED = tf.constant([3, 4])


def _model(cls, estimator="reinforce", baseline="none", num_samples=1):
    config = dict(
        data_shape=(3,),
        encoder={"name": "mlp", "hidden_units": [4], "activation": "tanh"},
        likelihood="bernoulli",
        estimator=estimator,
        baseline=baseline,
        num_samples=num_samples,
        temperature=1.0,
        seed=1,
    )
    if cls is CategoricalVAE:
        return CategoricalVAE(num_variables=1, num_classes=3, **config)
    return BernoulliVAE(latent_dim=3, **config)


def _flat(tensors):
    return np.concatenate([np.asarray(t).ravel() for t in tensors])


def exact_gradient(model, x=X):
    """∇_φ J by enumeration over every z (see the module docstring): (J, flat gradient of J, flat
    gradient of its KL part alone)."""
    if isinstance(model, CategoricalVAE):
        z = np.eye(3, dtype="float32")  # one categorical variable: the 3 one-hot vectors
        log_prior = -np.log(3.0)
    else:
        z = np.array(list(itertools.product([0.0, 1.0], repeat=3)), "float32")  # all 8 codes
        log_prior = -3 * np.log(2.0)
    pixel_logits = model.decoder(tf.constant(z)).numpy().astype("float64").reshape(len(z), -1)
    # log p(x|z) = Σ_pixels x·d − log(1 + e^d), for every (x, z): [B, |z|]
    log_px = (x[:, None, :] * pixel_logits[None] - np.logaddexp(0.0, pixel_logits)[None]).sum(-1)
    weights = model.encoder.trainable_weights
    with tf.GradientTape(persistent=True) as tape:
        logits = tf.cast(model.encoder(tf.constant(x)), tf.float64)
        if isinstance(model, CategoricalVAE):
            log_q = tf.nn.log_softmax(logits)  # [B, 3]: log q(e_k | x)
        else:  # log q(z|x) = Σ_i z_i log σ(l_i) + (1 − z_i) log σ(−l_i): [B, 8]
            log_q = tf.math.log_sigmoid(logits) @ z.T.astype("float64")
            log_q += tf.math.log_sigmoid(-logits) @ (1.0 - z.T).astype("float64")
        q = tf.exp(log_q)
        kl = tf.reduce_mean(tf.reduce_sum(q * (log_q - log_prior), axis=-1))
        neg_elbo = tf.reduce_mean(tf.reduce_sum(q * -log_px, axis=-1)) + kl
    return float(neg_elbo), _flat(tape.gradient(neg_elbo, weights)), _flat(tape.gradient(kl, weights))


def logit_gradients(model, x, seed, training=True):
    """∂Σ objective/∂logits per row, and the forward terms, for the model's training objective.

    The encoder's output is fed to `forward` as a watched tensor (its own encoder is swapped for
    a function returning it, bypassing Keras' attribute tracking, and put back): rows are
    independent, so the gradient of the sum is every row's own gradient."""
    logits = model.encoder(x)
    encoder = model.encoder
    with tf.GradientTape() as tape:
        tape.watch(logits)
        object.__setattr__(model, "encoder", lambda _: logits)
        try:
            terms = model.forward(x, seed, training=training)
        finally:
            object.__setattr__(model, "encoder", encoder)
        total = tf.reduce_sum(terms["objective"])
    return tape.gradient(total, logits).numpy().astype("float64"), terms


def single_step_gradients(model, replicas=REPLICAS, seed=SEED):
    """[replicas, P]: the encoder-weight gradients of `replicas` independent training steps on X."""
    b = len(X)
    x = tf.constant(np.tile(X, (replicas, 1)))
    g_logits, _ = logit_gradients(model, x, seed)
    g_logits = g_logits.reshape(replicas, b, -1)  # rows are replica-major
    with tf.GradientTape() as tape:
        out = model.encoder(tf.constant(X))
    jac = tape.jacobian(out, model.encoder.trainable_weights)  # per weight: [B, L, *shape]
    per_weight = [np.einsum("rbl,bl...->r...", g_logits, j.numpy()).reshape(replicas, -1) / b for j in jac]
    return np.concatenate(per_weight, axis=1)


def _z_scores(model, warmup_steps=0, replicas=REPLICAS):
    for step in range(warmup_steps):  # earlier training steps on other data set the moving average
        model.forward(tf.constant(np.tile(X[::-1], (50, 1))), tf.constant([9, step]), training=True)
    baseline = model.baseline.average.value().numpy() if model.baseline.kind == "moving_average" else 0.0
    _, exact, kl_part = exact_gradient(model)
    grads = single_step_gradients(model, replicas)
    stderr = grads.std(0, ddof=1) / np.sqrt(len(grads))
    return (grads.mean(0) - exact) / stderr, exact, kl_part, stderr, baseline


def test_the_chain_rule_shortcut_is_the_models_own_encoder_gradient():
    # Σ_r of the per-replica gradients = the gradient of the model's objective, computed the
    # ordinary way (same seed, so the same samples).
    model = _model(BernoulliVAE)
    x = tf.constant(np.tile(X, (5, 1)))
    grads = single_step_gradients(model, replicas=5)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model.forward(x, SEED, training=True)["objective"]) / len(X)
    direct = _flat(tape.gradient(loss, model.encoder.trainable_weights))
    np.testing.assert_allclose(grads.sum(0), direct, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("cls", [BernoulliVAE, CategoricalVAE])
@pytest.mark.parametrize("baseline, num_samples", [("none", 1), ("rloo", 2), ("moving_average", 1)])
def test_reinforce_is_unbiased_for_the_exact_elbo_gradient(cls, baseline, num_samples):
    model = _model(cls, baseline=baseline, num_samples=num_samples)
    z, exact, kl_part, stderr, b = _z_scores(model, warmup_steps=3 if baseline == "moving_average" else 0)
    if baseline == "moving_average":
        # A real baseline from earlier steps (the signal is about −2 nats). That b must not hold
        # this step's own samples is checked in tests/layers/test_baseline.py: with 150k rows the
        # 1/n bias of a baseline that did would be far below this test's resolution.
        assert abs(b) > 1.0
    np.testing.assert_array_less(np.abs(z), 4.0)
    # Decisive: the 4-SE band is narrow against the gradient itself (a 30% error would show),
    # and an estimate that lost the KL's gradient would be rejected.
    assert 4 * np.linalg.norm(stderr) < 0.3 * np.linalg.norm(exact)
    assert np.max(np.abs(kl_part) / stderr) > 20.0


@pytest.mark.parametrize("cls", [BernoulliVAE, CategoricalVAE])
@pytest.mark.parametrize("estimator", ["straight_through", "gumbel_softmax", "gumbel_softmax_hard"])
def test_biased_estimators_are_told_apart_from_the_exact_gradient(cls, estimator):
    # Known biased (Bengio et al. 2013; Jang et al. 2017): not a defect, a property the same
    # comparison must be able to see.
    z, *_ = _z_scores(_model(cls, estimator=estimator), replicas=10_000)
    assert np.abs(z).max() > 20.0


@pytest.mark.parametrize("cls", [BernoulliVAE, CategoricalVAE])
def test_reinforce_gradient_per_sample_is_log_px_times_the_score_plus_the_kl_gradient(cls):
    """With kl="auto" the discrete KL is analytic: per sample, ∂objective/∂l is exactly
        −log p(x|z) (z − π(l)) + ∂KL/∂l,      π = σ (Bernoulli) or softmax (categorical),
    with ∂KL/∂l = π(1 − π) l (Bernoulli, KL to Bern(1/2)) or π_j (log π_j − Σ_i π_i log π_i)
    (categorical, KL to uniform): no −KL in the learning signal."""
    model = _model(cls)
    assert model.kl == "auto" and model.uses_analytic_kl()
    g, terms = logit_gradients(model, tf.constant(X), SEED)
    logits = model.encoder(tf.constant(X)).numpy().astype("float64")
    z = terms["z"].numpy().astype("float64").reshape(logits.shape)
    # An independent log p(x|z) of the sampled z.
    d = model.decoder(tf.constant(z.reshape(len(X), -1), tf.float32)).numpy().astype("float64")
    log_px = (X * d - np.logaddexp(0.0, d)).sum(-1)
    np.testing.assert_allclose(-terms["recon_nll"].numpy(), log_px, rtol=1e-5)
    if cls is CategoricalVAE:
        pi = np.exp(logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True))
        kl_grad = pi * (np.log(pi) - (pi * np.log(pi)).sum(-1, keepdims=True))
    else:
        pi = 1.0 / (1.0 + np.exp(-logits))
        kl_grad = pi * (1.0 - pi) * logits
    expected = -log_px[:, None] * (z - pi) + kl_grad
    np.testing.assert_allclose(g, expected, rtol=1e-4, atol=1e-6)


def exact_iwae_gradient(model, k, x=X):
    """∇_φ of J_K(φ) = −(1/B) Σ_x E_{z_1..z_K ~ q}[log (1/K) Σ_i w_i], w = p(x|z) p(z)/q(z|x), by
    enumeration over all |Z|^K tuples of codes (the IWAE bound of Burda et al. 2016; its
    gradient is what VIMCO estimates): (J_K, flat gradient)."""
    if isinstance(model, CategoricalVAE):
        z = np.eye(3, dtype="float32")
        log_prior = -np.log(3.0)
    else:
        z = np.array(list(itertools.product([0.0, 1.0], repeat=3)), "float32")
        log_prior = -3 * np.log(2.0)
    pixel_logits = model.decoder(tf.constant(z)).numpy().astype("float64").reshape(len(z), -1)
    log_px = (x[:, None, :] * pixel_logits[None] - np.logaddexp(0.0, pixel_logits)[None]).sum(-1)
    tuples = np.array(list(itertools.product(range(len(z)), repeat=k)))  # [|Z|^K, K]
    with tf.GradientTape() as tape:
        logits = tf.cast(model.encoder(tf.constant(x)), tf.float64)
        if isinstance(model, CategoricalVAE):
            log_q = tf.nn.log_softmax(logits)
        else:
            log_q = tf.math.log_sigmoid(logits) @ z.T.astype("float64")
            log_q += tf.math.log_sigmoid(-logits) @ (1.0 - z.T).astype("float64")
        log_w = log_px + log_prior - log_q  # [B, |Z|]
        tuple_log_w = tf.gather(log_w, tuples, axis=1)  # [B, |Z|^K, K]
        tuple_log_q = tf.reduce_sum(tf.gather(log_q, tuples, axis=1), axis=-1)
        bound = tf.reduce_logsumexp(tuple_log_w, axis=-1) - np.log(k)
        objective = -tf.reduce_mean(tf.reduce_sum(tf.exp(tuple_log_q) * bound, axis=-1))
    return float(objective), _flat(tape.gradient(objective, model.encoder.trainable_weights))


def _check_unbiased(grads, exact):
    stderr = grads.std(0, ddof=1) / np.sqrt(len(grads))
    np.testing.assert_array_less(np.abs((grads.mean(0) - exact) / stderr), 4.0)
    assert 4 * np.linalg.norm(stderr) < 0.3 * np.linalg.norm(exact)  # decisive (see above)
    return stderr


@pytest.mark.parametrize("cls", [BernoulliVAE, CategoricalVAE])
@pytest.mark.parametrize("num_samples", [2, 3])
def test_vimco_is_unbiased_for_the_exact_iwae_gradient(cls, num_samples):
    model = _model(cls, estimator="vimco", num_samples=num_samples)
    assert model.objective == "iwae"
    value, exact = exact_iwae_gradient(model, num_samples)
    # The IWAE bound is not the ELBO: its gradient differs by far more than the band.
    stderr = _check_unbiased(single_step_gradients(model, replicas=30_000), exact)
    _, elbo_exact, _ = exact_gradient(model)
    assert np.max(np.abs(elbo_exact - exact) / stderr) > 8.0
    # The value is −L̂_K of the samples: its mean over many draws is the enumerated J_K.
    terms = model.forward(tf.constant(np.tile(X, (20_000, 1))), SEED, training=True)
    objective = terms["objective"].numpy().reshape(-1, len(X)).mean(-1)
    assert abs(objective.mean() - value) < 4 * objective.std() / np.sqrt(len(objective))


@pytest.mark.parametrize("estimator", ["arm", "disarm"])
def test_arm_and_disarm_are_unbiased_for_the_exact_elbo_gradient(estimator):
    model = _model(BernoulliVAE, estimator=estimator)
    _, exact, kl_part = exact_gradient(model)
    stderr = _check_unbiased(single_step_gradients(model, replicas=20_000), exact)
    assert np.max(np.abs(kl_part) / stderr) > 20.0  # an estimate without the KL's gradient would fail


def test_disarm_has_less_variance_than_arm_and_reinforce():
    # Same weights and budget of two decoder passes per example: DisARM Rao-Blackwellizes ARM
    # (Dong et al. 2020, Theorem 1), and both beat REINFORCE with a leave-one-out baseline on two
    # samples (measured, trace of the encoder-weight gradient's covariance: 0.088, 0.117, 0.129).
    reference = _model(BernoulliVAE, estimator="disarm")
    variance = {}
    for name, kw in [("disarm", {}), ("arm", {}), ("reinforce", {"baseline": "rloo", "num_samples": 2})]:
        model = _model(BernoulliVAE, estimator=name, **kw)
        model.set_weights(reference.get_weights())
        variance[name] = single_step_gradients(model, replicas=5_000).var(0).sum()
    assert variance["disarm"] < 0.8 * variance["arm"] and variance["arm"] < variance["reinforce"], variance
