import numpy as np
import pytest
import tensorflow as tf

from keraszoo.layers import BetaSchedule, Smoothing


def test_layer_outputs_z_and_zeta_consistently():
    layer = Smoothing("f1", beta=4.0, seed=0)
    logits = tf.fill([20_000, 3], tf.math.log(0.3 / 0.7))  # p = 0.3
    zeta, z = layer(logits)
    zeta, z = zeta.numpy(), z.numpy()
    assert set(np.unique(z)) <= {0.0, 1.0}
    assert abs(z.mean() - 0.3) < 0.01
    np.testing.assert_array_equal(zeta == 0.0, z == 0.0)  # the spike: ζ = 0 exactly when z = 0
    assert np.all((zeta >= 0) & (zeta <= 1))


def test_gradient_reaches_the_logits_through_zeta():
    layer = Smoothing("f3", beta=2.0, seed=1)
    logits = tf.Variable(tf.zeros([8, 4]))
    with tf.GradientTape() as tape:
        zeta, _ = layer(logits)
        loss = tf.reduce_sum(tf.square(zeta - 0.9))
    grad = tape.gradient(loss, logits).numpy()
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)


def test_beta_schedule_state_and_config():
    layer = Smoothing(
        "f2_root", beta={"initial": 1.0, "maximum": 8.0, "rate": 0.01, "every": 10}, base=2.0, seed=3
    )
    assert float(layer.beta.numpy()) == 1.0
    layer.anneal(100)
    assert float(layer.beta.numpy()) == pytest.approx(np.exp(1.0))
    layer.anneal(10**6)
    assert float(layer.beta.numpy()) == 8.0
    assert BetaSchedule(1.0, 8.0, 0.01, 10).steps_to_limit() == 210
    clone = Smoothing.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="Received: function='f9'"):
        Smoothing("f9")
    with pytest.raises(ValueError, match="Received: base=1.0"):
        Smoothing("f1", base=1.0)
    with pytest.raises(ValueError, match="Received: maximum=0.5"):
        BetaSchedule(initial=1.0, maximum=0.5)
