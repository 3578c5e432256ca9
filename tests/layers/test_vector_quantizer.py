import numpy as np
import pytest
import tensorflow as tf

from keraszoo.layers.vector_quantizer import VectorQuantizer, VectorQuantizerEMA, nearest_codes, perplexity
from keraszoo.training import mirrored_strategy


def test_assignment_matches_numpy_nearest_neighbour():
    rng = np.random.default_rng(0)
    x, codebook = rng.normal(size=(500, 6)).astype("float32"), rng.normal(size=(40, 6)).astype("float32")
    expected = np.argmin(((x[:, None, :] - codebook[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(nearest_codes(tf.constant(x), tf.constant(codebook)).numpy(), expected)


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("cls", [VectorQuantizer, VectorQuantizerEMA])
def test_named_outputs_and_losses_by_hand_for_any_leading_shape(cls, training):
    """Indices, one-hot codes, both losses and the perplexity of a [2, 3, 5, 4] batch (two examples
    on a 3×5 grid) against numpy; the losses are the paper's squared norms over one example's whole
    grid, averaged over the two examples. The EMA layer quantizes with its pre-update codebook."""
    layer = cls(num_codes=10, code_dim=4, commitment_cost=0.25)
    x = tf.random.stateless_normal([2, 3, 5, 4], (0, 1))
    codebook = layer.codebook.numpy().copy()
    out = layer(x, training=training)
    z = x.numpy()
    indices = np.argmin(((z[..., None, :] - codebook) ** 2).sum(-1), axis=-1)
    np.testing.assert_array_equal(out["indices"], indices)
    np.testing.assert_array_equal(out["encodings"], np.eye(10)[indices])
    np.testing.assert_allclose(out["quantized"], codebook[indices], atol=1e-6)
    squared = ((z - codebook[indices]) ** 2).reshape(2, -1).sum(1).mean()  # Σ over 3·5·4, mean over 2
    np.testing.assert_allclose(out["commitment_loss"], 0.25 * squared, rtol=1e-5)
    np.testing.assert_allclose(out["codebook_loss"], squared, rtol=1e-5)
    expected_loss = 0.25 * squared + (squared if cls is VectorQuantizer else 0.0)
    np.testing.assert_allclose(float(sum(layer.losses)), expected_loss, rtol=1e-5)
    usage = np.bincount(indices.ravel(), minlength=10) / indices.size
    used = usage[usage > 0]
    np.testing.assert_allclose(out["perplexity"], np.exp(-(used * np.log(used)).sum()), rtol=1e-5)
    with pytest.raises(ValueError, match=r"Received: inputs.shape=\(2, 3\)"):
        layer(tf.zeros([2, 3]))


def test_argument_errors():
    with pytest.raises(ValueError, match="Received: num_codes=0"):
        VectorQuantizer(0, 4)
    with pytest.raises(ValueError, match="Received: decay=1.0"):
        VectorQuantizerEMA(8, 4, decay=1.0)
    with pytest.raises(ValueError, match="Received: decay=0"):
        VectorQuantizerEMA(8, 4, decay=0)


def test_gradients_codebook_commitment_and_straight_through():
    layer = VectorQuantizer(num_codes=6, code_dim=3, commitment_cost=0.25)
    z_e = tf.Variable(tf.random.stateless_normal([8, 3], (2, 3)))
    with tf.GradientTape(persistent=True) as tape:
        out = layer(z_e)
        recon = tf.reduce_sum(tf.square(out["quantized"] - 1.0))
    codebook = layer.codebook
    g = {name: tape.gradient(out[name], [z_e, codebook]) for name in ("codebook_loss", "commitment_loss")}
    assert g["codebook_loss"][0] is None and g["codebook_loss"][1] is not None  # codebook loss: codebook only
    assert g["commitment_loss"][1] is None and g["commitment_loss"][0] is not None  # commitment: encoder only
    recon_z, recon_codebook = tape.gradient(recon, [z_e, codebook])
    assert recon_codebook is None  # reconstruction reaches the encoder, not the codebook ...
    np.testing.assert_allclose(recon_z, 2.0 * (out["quantized"] - 1.0), rtol=1e-6)  # ... straight through
    # commitment gradient by hand: 0.25 · 2 (z_e − e)/N, N = 8 examples (rows) of D = 3
    expected = 0.25 * 2.0 * (z_e - tf.gather(codebook, out["indices"])) / 8
    np.testing.assert_allclose(g["commitment_loss"][0], expected, rtol=1e-5)


@pytest.mark.parametrize("compiled", [False, True])
def test_one_ema_step_equals_the_formulas_by_hand(compiled):
    layer = VectorQuantizerEMA(num_codes=3, code_dim=2, commitment_cost=0.25, decay=0.9, epsilon=1e-5)
    e0 = np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]], np.float32)
    layer.codebook.assign(e0)
    layer.ema_sum.assign(e0)
    layer.ema_cluster_size.assign(np.ones(3, np.float32))
    x = np.array([[0.1, 0.0], [0.9, 1.2], [1.1, 0.8], [-0.2, 0.1]], np.float32)  # codes 0, 1, 1, 0; 2 unused
    call = tf.function(lambda v: layer(v, training=True)) if compiled else (lambda v: layer(v, training=True))
    out = call(tf.constant(x))
    # The step quantizes with the codebook it started with (Sonnet's VectorQuantizerEMA order):
    np.testing.assert_allclose(out["quantized"], e0[[0, 1, 1, 0]], atol=1e-7)
    np.testing.assert_allclose(
        out["commitment_loss"], 0.25 * ((x - e0[[0, 1, 1, 0]]) ** 2).sum() / 4, rtol=1e-6
    )
    n = np.array([2.0, 2.0, 0.0])
    s = np.array([[-0.1, 0.1], [2.0, 2.0], [0.0, 0.0]])
    big_n = 0.9 * 1.0 + 0.1 * n
    m = 0.9 * e0 + 0.1 * s
    smoothed = (big_n + 1e-5) / (big_n.sum() + 3 * 1e-5) * big_n.sum()
    np.testing.assert_allclose(layer.ema_cluster_size.numpy(), big_n, rtol=1e-6)
    np.testing.assert_allclose(layer.ema_sum.numpy(), m, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(layer.codebook.numpy(), m / smoothed[:, None], rtol=1e-5)
    np.testing.assert_allclose(layer.codebook.numpy()[2], e0[2], rtol=1e-4)  # an unused code keeps its vector


@pytest.mark.parametrize("compiled", [False, True])
def test_ema_changes_in_training_only(compiled):
    layer = VectorQuantizerEMA(num_codes=5, code_dim=3)
    call = tf.function(lambda x, training: layer(x, training=training)) if compiled else layer
    x = tf.random.stateless_normal([16, 3], (4, 5))
    before = layer.codebook.numpy().copy()
    call(x, training=False)
    np.testing.assert_array_equal(layer.codebook.numpy(), before)
    call(x, training=True)
    assert not np.allclose(layer.codebook.numpy(), before)
    assert not layer.trainable_weights


@pytest.mark.parametrize("restart_threshold", [0.0, 0.9])
def test_two_replicas_give_the_one_replica_codebook_and_agree(restart_threshold):
    x = tf.random.stateless_normal([16, 4], (6, 7))
    kw = dict(num_codes=6, code_dim=4, decay=0.8, restart_threshold=restart_threshold, seed=5)
    one = VectorQuantizerEMA(**kw)
    initial = one.codebook.numpy().copy()
    one(x, training=True)
    strategy = mirrored_strategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        two = VectorQuantizerEMA(**kw)
        two.codebook.assign(initial)
        two.ema_sum.assign(initial)
    dataset = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(x))
    strategy.run(tf.function(lambda batch: two(batch, training=True)["indices"]), args=(next(iter(dataset)),))
    replicas = [v.numpy() for v in strategy.experimental_local_results(two.codebook.value)]
    assert len(replicas) == 2
    np.testing.assert_allclose(replicas[0], replicas[1], rtol=0, atol=0)  # identical on both replicas
    np.testing.assert_allclose(replicas[0], one.codebook.numpy(), rtol=1e-5)  # = the 1-replica update


def test_perplexity_by_hand_and_config_round_trip():
    one_hot = tf.one_hot([0, 0, 1, 2], 4)
    usage = np.array([0.5, 0.25, 0.25])
    np.testing.assert_allclose(perplexity(one_hot).numpy(), np.exp(-(usage * np.log(usage)).sum()), rtol=1e-6)
    layer = VectorQuantizerEMA(num_codes=7, code_dim=2, decay=0.95, commitment_cost=0.5)
    assert VectorQuantizerEMA.from_config(layer.get_config()).get_config() == layer.get_config()


def test_float32_under_mixed_precision():
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        layer = VectorQuantizer(num_codes=4, code_dim=2)
        out = layer(tf.cast(tf.random.stateless_normal([3, 2], (1, 1)), tf.float16))
        assert layer.codebook.dtype == "float32" and out["quantized"].dtype == tf.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_dead_codes_restart_to_encoder_outputs():
    layer = VectorQuantizerEMA(num_codes=4, code_dim=2, decay=0.5, restart_threshold=0.9, seed=0)
    e0 = np.array([[0.0, 0.0], [1.0, 1.0], [50.0, 50.0], [-50.0, 9.0]], np.float32)
    layer.codebook.assign(e0)
    layer.ema_sum.assign(e0)
    x = np.array([[0.1, 0.0], [0.9, 1.2], [1.1, 0.8], [-0.2, 0.1]], np.float32)  # codes 2 and 3 unused
    layer(tf.constant(x), training=True)
    size = layer.ema_cluster_size.numpy()
    # live codes: N = 0.5·1 + 0.5·2 = 1.5 ≥ 0.9; dead codes: 0.5 < 0.9 → restarted with N = 1
    np.testing.assert_allclose(size, [1.5, 1.5, 1.0, 1.0])
    codebook = layer.codebook.numpy()
    for row in codebook[2:]:
        assert np.min(np.abs(x - row).sum(-1)) < 1e-4 * np.abs(row).sum() + 1e-5  # an encoder output
    assert np.abs(codebook[2:]).max() < 2.0  # no longer far from the data
    assert VectorQuantizerEMA.from_config(layer.get_config()).get_config() == layer.get_config()
    with pytest.raises(ValueError, match="Received: restart_threshold=-1"):
        VectorQuantizerEMA(4, 2, restart_threshold=-1)
