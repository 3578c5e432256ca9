import keras
import numpy as np
import pytest
import tensorflow as tf

from keraszoo import VQVAE
from keraszoo.models.vqvae import CodePrior

SMALL_CONV = {"name": "resnet", "filters": 16, "residual_units": 8, "num_residual": 1}
SMALL_PRIOR = {"dim": 16, "heads": 2, "layers": 1}


def _bernoulli_nll(logits, x):
    """−log Bern(x; σ(logits)) summed over each example's pixels, in float64."""
    logits, x = np.asarray(logits, "float64"), np.asarray(x, "float64")
    return (np.logaddexp(0.0, logits) - x * logits).reshape(len(x), -1).sum(1)


def _nearest(z_e, codebook):
    return np.argmin(((z_e[..., None, :] - codebook) ** 2).sum(-1), axis=-1)


def _model(**overrides):
    config = dict(data_shape=(8, 8, 1), num_codes=12, code_dim=4, encoder=SMALL_CONV, prior=SMALL_PRIOR)
    return VQVAE(**{**config, **overrides})


@pytest.mark.parametrize("ema", [True, False])
@pytest.mark.parametrize("backbone", [SMALL_CONV, {"name": "mlp", "hidden_units": [32]}])
def test_fit_trains_and_reports_code_usage(ema, backbone, binary_batch):
    model = _model(ema=ema, encoder=backbone, **({"num_latents": 3} if backbone["name"] == "mlp" else {}))
    # The traced train step of the EMA codebook with the resnet backbone is
    # tests/models/test_zoo_models.py::test_zoo_model_contract[vqvae]'s (VQVAE.example_config); one
    # case here traces the gradient codebook's, and the others train eagerly (tracing is most of
    # their cost).
    model.compile(keras.optimizers.Adam(1e-2), run_eagerly=ema or backbone["name"] != "mlp")
    codebook = model.quantizer.codebook.numpy().copy()
    encoder = [w.numpy().copy() for w in model.encoder.trainable_weights]
    data = tf.data.Dataset.from_tensor_slices(binary_batch).batch(8)
    history = model.fit(data, epochs=3, verbose=0).history
    assert history["loss"][-1] < history["loss"][0], history["loss"]
    positions = 4 if backbone["name"] == "resnet" else 3
    np.testing.assert_allclose(
        history["kl"], positions * np.log(12), rtol=1e-6
    )  # the constant log M per code
    assert not np.allclose(model.quantizer.codebook.numpy(), codebook)
    assert any(
        not np.array_equal(w.numpy(), b)
        for w, b in zip(model.encoder.trainable_weights, encoder, strict=True)
    )
    assert not any("code_prior" in w.path for w in model.trainable_weights)  # the prior trains separately
    # The code-usage figures of an evaluation against the codes of every example, pooled: the
    # perplexity is exp(entropy) of the epoch's code frequencies (not a mean over batches).
    figures = model.evaluate(data, verbose=0, return_dict=True)
    indices = model.encode(binary_batch)["indices"].numpy().ravel()
    usage = np.bincount(indices, minlength=12) / indices.size
    used = usage[usage > 0]
    np.testing.assert_allclose(figures["perplexity"], np.exp(-(used * np.log(used)).sum()), rtol=1e-5)
    np.testing.assert_allclose(figures["codes_used"], len(used) / 12, rtol=1e-6)
    np.testing.assert_allclose(figures["dead_codes"], 12 - len(used), rtol=1e-6)
    per_batch = [np.unique(indices.reshape(2, -1)[i]) for i in range(2)]  # pooled ≠ mean of batches
    assert len(np.union1d(*per_batch)) == len(used)


@pytest.mark.parametrize("ema", [True, False])
def test_training_loss_is_the_papers_per_example_sum(ema, binary_batch):
    """The loss `fit` minimizes, against the formula by hand (van den Oord et al. 2017, eq. 3):
    mean over examples of −log p(x|z_q) + ‖sg[z_e] − e‖² + β‖z_e − sg[e]‖², the squared norms
    over one example's whole code grid (2×2 positions × D = 4); the EMA codebook drops the second
    term. Checked through `evaluate` (the compiled loss) on one batch of 16."""
    model = _model(ema=ema, commitment_cost=0.25)
    model.compile(keras.optimizers.Adam(1e-3))
    z_e = model.encoder(binary_batch).numpy().astype("float64")
    codebook = model.quantizer.codebook.numpy().astype("float64")
    z_q = codebook[_nearest(z_e, codebook)]
    logits = model.decoder(tf.constant(z_q, tf.float32)).numpy()
    squared = ((z_e - z_q) ** 2).reshape(16, -1).sum(1)
    expected = np.mean(
        _bernoulli_nll(logits, binary_batch) + (0.0 if ema else 1.0) * squared + 0.25 * squared
    )
    loss = model.evaluate(binary_batch, batch_size=16, verbose=0, return_dict=True)["loss"]
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    # The check tells the units apart: the terms averaged over positions × D (16 numbers per example)
    # would give a loss far outside the tolerance.
    per_position = (
        np.mean(_bernoulli_nll(logits, binary_batch)) + (0.25 if ema else 1.25) * squared.mean() / 16
    )
    assert abs(loss - per_position) > 100 * 1e-5 * expected


@pytest.fixture(scope="module")
def prior_fitted():
    """One `_model()` (the initial weights of global seed 0, as every test starts from) with its
    outputs before the second stage, then its code prior fitted on `binary_batch`'s codes: the two
    tests below read it and change nothing, so the prior is trained once for both."""
    keras.utils.set_random_seed(0)
    x = (np.random.default_rng(0).random((16, 8, 8, 1)) > 0.5).astype("float32")  # `binary_batch`
    model = _model()
    indices = model.encode(x)["indices"]
    before = {"x": x, "forward": model.forward(x, seed=0), "indices": indices,
              "decoded": model.decode(indices), "reconstructed": model.reconstruct(x)}  # fmt: skip
    loss = model.fit_second_stage(
        tf.data.Dataset.from_tensor_slices(x).batch(8), epochs=30, verbose=0, learning_rate=1e-2
    ).history["loss"]
    return model, before, loss


def test_encode_decode_sample_and_round_trip(prior_fitted, binary_batch, tmp_path):
    model, before, loss = prior_fitted
    np.testing.assert_array_equal(before["x"], binary_batch)  # the fixture's images are these
    indices = before["indices"]
    assert indices.shape == (16, 2, 2) and indices.dtype == tf.int32
    np.testing.assert_allclose(before["decoded"], before["reconstructed"], rtol=1e-6)
    # The prior learns the codes: its cross-entropy falls well below its start and below the
    # uniform prior's log M = log 12 nats per position.
    assert loss[-1] < 0.5 * loss[0] and loss[-1] < 0.5 * np.log(12), loss
    sample = model.sample(3, seed=4)
    assert sample["indices"].shape == (3, 2, 2) and sample["x_mean"].shape == (3, 8, 8, 1)
    np.testing.assert_array_equal(sample["indices"], model.sample(3, seed=4)["indices"])
    # q is deterministic: the ELBO is log p(x|z_q) + log p(z_q) with the uniform prior before the
    # prior is used, by hand from the nearest codes; every importance weight is the same, so L_k is it.
    z_e = model.encoder(binary_batch).numpy()
    codebook = model.quantizer.codebook.numpy()
    logits = model.decoder(tf.constant(codebook[_nearest(z_e, codebook)])).numpy()
    expected = -_bernoulli_nll(logits, binary_batch) - 4 * np.log(12)
    if model.prior_fitted.numpy() > 0:
        expected = -_bernoulli_nll(logits, binary_batch) - model.forward(binary_batch, 0)["kl"].numpy()
    np.testing.assert_allclose(model.elbo(binary_batch)["elbo"], expected, rtol=1e-5)
    np.testing.assert_allclose(model.log_likelihood(binary_batch, 100), expected, rtol=1e-5)
    path = str(tmp_path / "vq.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.sample(3, seed=4)["indices"], sample["indices"])
    with pytest.raises(ValueError, match=r"Received: indices.shape=\(2, 3\)"):
        model.decode(np.zeros((2, 3), "int32"))
    with pytest.raises(ValueError, match="divisible by 4"):
        _model(data_shape=(6, 6, 1))


def test_code_prior_sample_is_pinned_and_traces_one_step():
    """The samples recorded from the former unrolled Python loop at the same seed and weights: the
    `tf.while_loop` draws the same codes, eagerly and traced, and its graph holds one step."""
    prior = CodePrior(12, 9, dim=16, heads=2, layers=1)
    prior(tf.zeros([1, 1], tf.int32))
    prior.head.kernel.assign(prior.head.kernel * 4.0)  # peaked, prefix-dependent conditionals
    expected = [[2, 2, 2, 2, 2, 2, 2, 2, 2], [10, 6, 2, 2, 2, 5, 2, 5, 2],
                [10, 6, 2, 2, 2, 5, 2, 3, 5], [10, 6, 5, 2, 5, 5, 4, 4, 5]]  # fmt: skip
    seed = tf.constant([3, 7])
    np.testing.assert_array_equal(prior.sample(4, seed), expected)
    traced = tf.function(prior.sample).get_concrete_function(tf.TensorSpec([], tf.int32), seed)
    np.testing.assert_array_equal(traced(tf.constant(4), seed), expected)
    ops = [op.type for op in traced.graph.get_operations()]
    assert {"While", "StatelessWhile"} & set(ops) and "Einsum" not in ops  # attention only in the body


def test_learned_prior_makes_neg_elbo_an_nll_upper_bound(prior_fitted, binary_batch, tmp_path):
    model, before, _ = prior_fitted
    before = before["forward"]
    np.testing.assert_allclose(before["kl"], 4 * np.log(12), rtol=1e-6)  # uniform p(z) until fitted
    after = model.forward(binary_batch, seed=0)
    # Reference: the chain rule step by step, each conditional from the prefix alone (as `sample`
    # draws them), so a causal-mask leak in the teacher-forced `log_prob` would show.
    codes = tf.reshape(model.encode(binary_batch)["indices"], [16, 4]).numpy()
    prior = model.code_prior
    expected = np.zeros(16)
    for t in range(4):
        logits = prior(prior.inputs_for(codes)[:, : t + 1]).numpy()[:, -1].astype("float64")
        log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        expected += log_softmax[np.arange(16), codes[:, t]]
    np.testing.assert_allclose(after["kl"], -expected, rtol=1e-5, atol=1e-5)  # float32 vs float64
    z_e = model.encoder(binary_batch).numpy()
    codebook = model.quantizer.codebook.numpy()
    logits = model.decoder(tf.constant(codebook[_nearest(z_e, codebook)])).numpy()
    nll = _bernoulli_nll(logits, binary_batch)  # −log p(x|z_q) by hand
    np.testing.assert_allclose(after["recon_nll"], nll, rtol=1e-5)
    np.testing.assert_allclose(after["neg_elbo"], nll - expected, rtol=1e-5)
    np.testing.assert_allclose(after["recon_nll"], before["recon_nll"], rtol=1e-6)  # the VQ-VAE is fixed
    assert np.mean(after["kl"]) < 0.5 * 4 * np.log(12)  # the prior learned the codes
    np.testing.assert_allclose(model.log_likelihood(binary_batch, 10), -after["neg_elbo"], rtol=1e-6)
    path = str(tmp_path / "vq.keras")
    model.save(path)
    np.testing.assert_allclose(
        keras.models.load_model(path).forward(binary_batch, 0)["kl"], after["kl"], rtol=1e-6
    )
