"""The REINFORCE baseline layer: hand-computed moving averages and the property that makes the
score-function estimator unbiased, b independent of the samples it multiplies."""

import numpy as np
import pytest
import tensorflow as tf

from keraszoo.layers import ScoreFunctionBaseline


def test_moving_average_baseline_by_hand_over_three_steps():
    layer = ScoreFunctionBaseline("moving_average", decay=0.5)
    steps = [[[2.0, 4.0]], [[10.0, 10.0]], [[0.0, 6.0]]]  # batch means 3, 10, 3
    # Debiased EMA a_t / (1 − γ^t) of the means *before* step t (a_0 = 0, γ = 0.5):
    #   b_1 = 0                                   (no earlier step)
    #   b_2 = 0.5·3 / (1 − 0.5)             = 3
    #   b_3 = (0.25·3 + 0.5·10) / (1 − 0.25) = 5.75 / 0.75
    #   after step 3: (0.125·3 + 0.25·10 + 0.5·3) / (1 − 0.125) = 4.375 / 0.875 = 5
    expected = [0.0, 3.0, 5.75 / 0.75]
    for signal, b in zip(steps, expected, strict=True):
        out = layer(tf.constant(signal), training=True).numpy()
        np.testing.assert_allclose(out, b, rtol=1e-6)
    # Not training: reads the average after step 3 and does not update it.
    for _ in range(2):
        np.testing.assert_allclose(layer(tf.constant([[100.0, 0.0]])).numpy(), 5.0, rtol=1e-6)
    assert layer.average.count.numpy() == 3


def test_the_baseline_of_a_step_never_depends_on_that_steps_samples():
    history = [tf.constant([[2.0, -1.0, 7.0]]), tf.constant([[0.5, 3.0, 4.0]])]
    current = [tf.constant([[1e3, -1e3, 0.0]]), tf.constant([[-5.0, 2.0, 9.0]]), tf.zeros([1, 3])]
    for steps_before in range(3):  # including the first step
        values = []
        for signal in current:
            layer = ScoreFunctionBaseline("moving_average", decay=0.9)
            for past in history[:steps_before]:
                layer(past, training=True)
            values.append(layer(signal, training=True).numpy())
        np.testing.assert_array_equal(values[0], values[1])
        np.testing.assert_array_equal(values[0], values[2])


def test_rloo_baseline_leaves_each_sample_out_and_has_no_gradient():
    f = tf.constant([[1.0, 10.0], [3.0, 20.0], [8.0, 30.0]])  # [K = 3, batch = 2]
    layer = ScoreFunctionBaseline("rloo")
    np.testing.assert_allclose(layer(f).numpy(), [[5.5, 25.0], [4.5, 20.0], [2.0, 15.0]])
    # b_k does not change when f_k does (the defining property of leave-one-out).
    g = tf.tensor_scatter_nd_update(f, [[1, 0]], [-50.0])
    np.testing.assert_allclose(layer(g).numpy()[1], layer(f).numpy()[1])
    with tf.GradientTape() as tape:
        tape.watch(f)
        b = layer(f)
    assert tape.gradient(b, f) is None
    np.testing.assert_array_equal(ScoreFunctionBaseline("none")(f).numpy(), np.zeros((3, 2)))


def test_baseline_argument_errors():
    with pytest.raises(ValueError, match="Received: baseline='mean'"):
        ScoreFunctionBaseline("mean")
    with pytest.raises(ValueError, match="Received: baseline_decay=1.0"):
        ScoreFunctionBaseline("moving_average", decay=1.0)
