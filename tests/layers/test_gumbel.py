import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from keraszoo.layers import GumbelSigmoid, GumbelSoftmax, TemperatureSchedule


def test_schedule_values_by_hand_and_it_moves():
    schedule = TemperatureSchedule(initial=1.0, minimum=0.5, rate=1e-4, every=500)
    assert float(schedule(0)) == 1.0 and float(schedule(499)) == 1.0  # updated every 500 steps
    assert float(schedule(500)) == pytest.approx(math.exp(-0.05))
    assert float(schedule(10**6)) == 0.5
    assert schedule.steps_to_limit() == 7000  # first multiple of 500 with exp(−1e-4 t) ≤ 0.5
    assert float(schedule(6999)) > 0.5 and float(schedule(7000)) == 0.5
    assert TemperatureSchedule.from_config(schedule.get_config()).get_config() == schedule.get_config()


def test_schedule_that_never_moves_is_an_error():
    with pytest.raises(ValueError, match="never anneals"):
        TemperatureSchedule(initial=0.5, minimum=0.5, rate=1e-4)
    with pytest.raises(ValueError, match="Received: minimum=2.0"):
        TemperatureSchedule(initial=1.0, minimum=2.0)
    with pytest.raises(ValueError, match="Received: every=0"):
        TemperatureSchedule(every=0)


@pytest.mark.parametrize("cls", [GumbelSoftmax, GumbelSigmoid])
def test_layer_training_inference_state_and_config(cls):
    layer = cls(temperature={"initial": 2.0, "minimum": 0.1, "rate": 1e-3, "every": 10}, seed=3)
    logits = tf.zeros([4, 6, 5])
    relaxed = layer(logits, training=True).numpy()
    exact = layer(logits, training=False).numpy()
    assert relaxed.shape == exact.shape == (4, 6, 5)
    assert set(np.unique(exact)) <= {0.0, 1.0}
    assert np.any((relaxed > 0) & (relaxed < 1))
    if cls is GumbelSoftmax:
        np.testing.assert_allclose(relaxed.sum(-1), 1.0, rtol=1e-5)
        np.testing.assert_array_equal(exact.sum(-1), 1.0)
    assert float(layer.temperature.numpy()) == 2.0
    layer.anneal(1000)
    assert float(layer.temperature.numpy()) == pytest.approx(2.0 * math.exp(-1.0))
    assert not layer.trainable_weights
    clone = cls.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    np.testing.assert_array_equal(layer(logits, seed=7), layer(logits, seed=7))  # explicit seeds repeat


def test_hard_layer_is_one_hot_in_training():
    layer = GumbelSoftmax(temperature=0.5, hard=True, seed=0)
    y = layer(tf.random.normal([8, 3, 4]), training=True).numpy()
    np.testing.assert_array_equal(y.sum(-1), 1.0)
    assert set(np.unique(y)) <= {0.0, 1.0}


def test_layer_in_a_functional_model():
    inputs = keras.Input((10,))
    outputs = GumbelSoftmax(temperature=1.0, seed=0)(keras.layers.Reshape((2, 5))(inputs), training=True)
    model = keras.Model(inputs, outputs)
    assert model(np.zeros((3, 10), "float32")).shape == (3, 2, 5)
