"""The training loop chosen once from the strategy; the evaluation step traced once; the warning
for a Polyak average longer than the run."""

import warnings

import numpy as np
import pytest
import tensorflow as tf

from keraszoo import GaussianVAE
from keraszoo.training import TrainConfig
from keraszoo.training.multi_worker import evaluate_loop, traced_test_step
from keraszoo.training.train import (
    KerasLoop,
    MultiWorkerLoop,
    _warn_if_average_outlasts_training,
    training_loop,
)
from tests.conftest import small_vae_config


@pytest.mark.parametrize(
    "strategy, loop", [("auto", KerasLoop), ("mirrored", KerasLoop), ("default", KerasLoop),
                       ("multi_worker", MultiWorkerLoop)]
)  # fmt: skip
def test_the_loop_is_chosen_from_the_strategy(strategy, loop):
    chosen = training_loop(TrainConfig(strategy=strategy), tf.distribute.get_strategy())
    assert type(chosen) is loop and (chosen.second_stage_fit is None) == (loop is KerasLoop)


def test_evaluate_loop_traces_its_step_once(binary_batch):
    """Three evaluations (as three epochs' validation): one traced step, reused; a last, smaller
    batch adds at most one trace (reduce_retracing), not one per call. The mean is the metric's."""
    model = GaussianVAE(**small_vae_config())
    model.compile("adam")
    model(binary_batch)
    strategy = tf.distribute.get_strategy()
    dataset = tf.data.Dataset.from_tensor_slices(np.concatenate([binary_batch, binary_batch[:5]])).batch(8)
    results = [evaluate_loop(model, strategy, dataset) for _ in range(3)]
    step = traced_test_step(model, strategy)
    assert step is traced_test_step(model, strategy)
    assert step.experimental_get_tracing_count() <= 2
    assert all(np.isfinite(r["neg_elbo"]) for r in results)
    # Keras's own evaluate of the same batches agrees up to the noise of the ELBO's sample.
    keras_value = model.evaluate(dataset, verbose=0, return_dict=True)["neg_elbo"]
    assert abs(results[0]["neg_elbo"] - keras_value) < 0.2 * abs(keras_value)


@pytest.mark.parametrize(
    "momentum, epochs, steps_per_epoch, warns",
    [
        (0.99, 1, 50, True),  # horizon 1/(1 − 0.99) = 100 steps > 50
        (0.99, 2, 50, False),  # 100 steps: the horizon is reached
        (0.9999, 1, 2500, True),  # gaussian_vae_mnist --epochs 1: 10 000 > 2 500
        (0.9999, 656, 2500, False),  # the recipe's own budget
        (None, 1, 1, False),  # no averaging
    ],
)
def test_a_polyak_average_longer_than_the_run_warns(momentum, epochs, steps_per_epoch, warns):
    config = TrainConfig(ema_momentum=momentum, epochs=epochs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _warn_if_average_outlasts_training(config, steps_per_epoch)
    assert bool(caught) == warns
    if warns:
        horizon = 1 / (1 - momentum)
        # After n steps from θ̄₀ = θ₀ the average still gives weight m^n to the initial weights;
        # with n < 1/(1 − m) that exceeds exp(−1/m) ≈ 0.37, since log m ≥ −(1 − m)/m.
        assert momentum ** (epochs * steps_per_epoch) > np.exp(-1 / momentum)
        assert f"≈ {horizon:.0f} steps" in str(caught[0].message)
        assert f"this run takes {epochs * steps_per_epoch}" in str(caught[0].message)
