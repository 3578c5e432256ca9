import keras
import numpy as np
import pytest
import tensorflow as tf

from keraszoo import GaussianVAE
from keraszoo.optimizers import FusedAdam
from keraszoo.schedules import make_learning_rate
from keraszoo.training import TrainConfig
from keraszoo.training.train import build_and_compile, mirrored_strategy
from tests.conftest import small_vae_config


def test_fused_adam_matches_the_adam_formula_by_hand():
    # Two steps of Kingma & Ba's Algorithm 1 (ε outside the square root), in float64 numpy.
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-7
    theta = keras.Variable(np.array([1.0, -2.0, 3.0], "float32"))
    optimizer = FusedAdam(lr, beta_1=b1, beta_2=b2, epsilon=eps)
    grads = [np.array([0.5, -1.0, 0.0]), np.array([0.25, 2.0, -3.0])]
    expected, m, v = np.array([1.0, -2.0, 3.0]), 0.0, 0.0
    for t, g in enumerate(grads, start=1):
        optimizer.apply_gradients([(tf.constant(g, tf.float32), theta)])
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g**2
        expected = expected - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
    np.testing.assert_allclose(theta.numpy(), expected, rtol=1e-6)
    assert int(optimizer.iterations.numpy()) == 2


def _train(optimizer, strategy, binary_batch, steps=15):
    keras.utils.set_random_seed(0)  # the same initial weights
    with strategy.scope():
        model = GaussianVAE(**small_vae_config())
        model.compile(optimizer(make_learning_rate({"name": "staged", "initial": 1e-2, "stages": 3}, 5)))
    data = tf.data.Dataset.from_tensor_slices(binary_batch).repeat().batch(8)
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    return model


@pytest.mark.parametrize("devices", [None, ["/cpu:0", "/cpu:1"]])
def test_fused_adam_trains_like_keras_adam(binary_batch, devices):
    """Same model, data and learning-rate schedule: the same weights after 15 steps, on one
    device and under MirroredStrategy (where the update runs per replica in `extended.update`)."""
    strategy = mirrored_strategy(devices) if devices else tf.distribute.get_strategy()
    fused = _train(FusedAdam, strategy, binary_batch)
    reference = _train(keras.optimizers.Adam, strategy, binary_batch)
    for a, b in zip(fused.weights, reference.weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6, err_msg=a.path)
    keras.utils.set_random_seed(0)
    initial = GaussianVAE(**small_vae_config()).weights[0].numpy()
    assert not np.allclose(fused.weights[0].numpy(), initial)  # it trained


def test_fused_adam_serializes_and_falls_back_for_sparse_gradients():
    optimizer = FusedAdam(1e-3, amsgrad=False)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(restored, FusedAdam) and restored.get_config() == optimizer.get_config()
    table = keras.Variable(np.ones((4, 2), "float32"))
    sparse = tf.IndexedSlices(tf.constant([[1.0, 1.0]]), tf.constant([2]), tf.constant([4, 2]))
    optimizer.apply_gradients([(sparse, table)])
    changed = ~np.isclose(table.numpy(), 1.0).all(axis=1)
    assert changed.tolist() == [False, False, True, False]


def test_config_adam_reaches_the_optimizer_by_hand():
    """`TrainConfig.adam` sets β₁ and ε of the compiled optimizer: one step of Burda et al.'s
    settings (β₁ 0.99, ε 1e-4) against the formula, where ε is large enough to matter."""
    config = TrainConfig(adam={"beta_1": 0.99, "epsilon": 1e-4}, learning_rate=0.1)
    model = build_and_compile(config, (8, 8, 1), tf.distribute.get_strategy())
    optimizer = model.optimizer
    assert (optimizer.beta_1, optimizer.beta_2, optimizer.epsilon) == (0.99, 0.999, 1e-4)
    theta = keras.Variable(np.array([1.0, -2.0], "float32"))
    optimizer.build([theta])
    g = np.array([1e-3, -2e-4])
    optimizer.apply_gradients([(tf.constant(g, tf.float32), theta)])
    m, v = (1 - 0.99) * g, (1 - 0.999) * g**2
    expected = np.array([1.0, -2.0]) - 0.1 * np.sqrt(1 - 0.999) / (1 - 0.99) * m / (np.sqrt(v) + 1e-4)
    np.testing.assert_allclose(theta.numpy(), expected, rtol=1e-5)
    default = build_and_compile(TrainConfig(), (8, 8, 1), tf.distribute.get_strategy()).optimizer
    assert (default.beta_1, default.beta_2, default.epsilon) == (0.9, 0.999, 1e-7)  # Keras's


def test_weight_decay_is_decoupled_by_hand():
    """`adam={"weight_decay": λ}`: AdamW (Loshchilov & Hutter 2019). Each step shrinks θ by
    η_t·λ·θ at that step's learning rate η_t, then takes the Adam step of the gradient taken at
    the unshrunk θ; the decay never enters the moments. Two steps of a staircase schedule
    (η 0.1 then 0.01), in float64 numpy."""
    lr = {"name": "exponential", "initial": 0.1, "decay_steps": 1, "decay_rate": 0.1}
    config = TrainConfig(adam={"weight_decay": 0.5}, learning_rate=lr)
    optimizer = build_and_compile(config, (8, 8, 1), tf.distribute.get_strategy()).optimizer
    theta = keras.Variable(np.array([1.0, -2.0, 3.0], "float32"))
    optimizer.build([theta])
    expected, m, v = np.array([1.0, -2.0, 3.0]), 0.0, 0.0
    for t, (eta, g) in enumerate([(0.1, np.array([0.5, -1.0, 0.0])), (0.01, np.array([0.25, 2.0, -3.0]))], 1):
        optimizer.apply_gradients([(tf.constant(g, tf.float32), theta)])
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g**2
        step = eta * np.sqrt(1 - 0.999**t) / (1 - 0.9**t) * m / (np.sqrt(v) + 1e-7)
        expected = expected * (1 - eta * 0.5) - step
    np.testing.assert_allclose(theta.numpy(), expected, rtol=1e-6)
    # The defining property: from fresh moments a zero gradient moves nothing but the decay,
    # θ ← (1 − ηλ)·θ exactly.
    fresh = build_and_compile(config, (8, 8, 1), tf.distribute.get_strategy()).optimizer
    fresh.build([theta])
    fresh.apply_gradients([(tf.zeros(3), theta)])
    np.testing.assert_allclose(theta.numpy(), expected * (1 - 0.1 * 0.5), rtol=1e-6)


@pytest.mark.parametrize(
    "adam, message",
    [
        (
            {"beta1": 0.9},
            "keys among \\['beta_1', 'beta_2', 'epsilon', 'weight_decay'\\]. Received: adam={'beta1': 0.9}",
        ),
        ({"beta_2": 1.0}, "Expected `adam\\['beta_2'\\]` in \\[0, 1\\). Received: adam={'beta_2': 1.0}"),
        ({"epsilon": 0}, "Received: adam\\['epsilon'\\]=0"),
        ([0.9], "Received: adam=\\[0.9\\]"),
        ({"weight_decay": -0.1}, "`adam\\['weight_decay'\\]` >= 0. Received: adam={'weight_decay': -0.1}"),
    ],
)
def test_config_adam_errors_name_the_value(adam, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(adam=adam)
