import numpy as np
import tensorflow as tf
from scipy import special

from keraszoo.losses import combine_log_mean_exp, log_mean_exp, nats_to_bits_per_dim
from keraszoo.random import replica_slice_noise
from keraszoo.training import mirrored_strategy


def test_log_mean_exp_matches_scipy_and_is_stable():
    values = np.array([[1000.0, -1000.0], [1001.0, -999.0], [999.0, -1001.0]])
    expected = special.logsumexp(values, axis=0) - np.log(3)
    np.testing.assert_allclose(log_mean_exp(tf.constant(values)).numpy(), expected, rtol=1e-12)


def test_chunked_log_mean_exp_equals_one_shot():
    values = np.random.default_rng(0).normal(size=(10, 4)) * 30
    chunks = [tf.reduce_logsumexp(values[i : i + 3], axis=0) for i in range(0, 10, 3)]
    np.testing.assert_allclose(
        combine_log_mean_exp(chunks, 10).numpy(),
        log_mean_exp(tf.constant(values)).numpy(),
        rtol=1e-12,
    )


def test_replicas_draw_their_slice_of_the_global_noise():
    seed = tf.constant([3, 4], tf.int32)
    draw = tf.random.stateless_normal
    one_replica = draw([8, 5], seed).numpy()
    strategy = mirrored_strategy(["/cpu:0", "/cpu:1"])
    per_replica = strategy.run(tf.function(lambda: replica_slice_noise(draw, tf.constant([4, 5]), seed)))
    parts = [t.numpy() for t in strategy.experimental_local_results(per_replica)]
    assert not np.allclose(parts[0], parts[1])  # replicas see different noise ...
    np.testing.assert_array_equal(np.concatenate(parts), one_replica)  # ... and together the 1-replica noise


def test_bits_per_dim_by_hand():
    assert nats_to_bits_per_dim(784 * np.log(2.0) * 1.5, (28, 28, 1)) == 1.5
