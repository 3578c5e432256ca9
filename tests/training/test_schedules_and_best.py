"""Learning-rate schedules (by hand, serialized, exact on resume) and keeping the best epoch."""

import json
import os

import keras
import numpy as np
import pytest

from keraszoo.recipes import get_config
from keraszoo.schedules import StagedDecay, make_learning_rate, staged_boundaries
from keraszoo.training import TrainConfig, train_and_evaluate
from keraszoo.training.best import KeepBest


def test_staged_decay_by_hand():
    schedule = StagedDecay(1e-3, steps_per_epoch=10, stages=3)
    # stage 0: epoch [0, 1), stage 1: [1, 4), stage 2: from 4 on (3^0 and 3^1 epochs, then the rest)
    expected = {0: 0, 9: 0, 10: 1, 39: 1, 40: 2, 10_000: 2}
    for step, stage in expected.items():
        assert float(schedule(step)) == pytest.approx(1e-3 * 10 ** (-stage / 7), rel=1e-6), step
    assert staged_boundaries(8) == [1, 4, 13, 40, 121, 364, 1093]
    assert StagedDecay(1e-3, 500).total_epochs == 3280  # Burda et al.'s 3280 passes
    assert StagedDecay(1e-3, 500, epoch_scale=0.1).total_epochs == 328
    half = StagedDecay(1e-3, steps_per_epoch=10, stages=3, epoch_scale=0.5)
    assert float(half(4)) == pytest.approx(1e-3) and float(half(5)) == pytest.approx(1e-3 * 10 ** (-1 / 7))


def test_exponential_staircase_and_errors():
    schedule = make_learning_rate({"name": "exponential", "initial": 1e-3, "decay_steps": 1000}, 500)
    for step, value in {0: 1e-3, 999: 1e-3, 1000: 9e-4, 2500: 8.1e-4}.items():
        assert float(schedule(step)) == pytest.approx(value, rel=1e-6)
    smooth = make_learning_rate(
        {"name": "exponential", "initial": 1e-3, "decay_steps": 1000, "staircase": False}, 500
    )
    for step in (0, 500, 1000, 2500):  # initial · 0.9^(t / 1000), by hand
        assert float(smooth(step)) == pytest.approx(1e-3 * 0.9 ** (step / 1000), rel=1e-6)
    with pytest.raises(ValueError, match="Received: staircase='no'"):
        make_learning_rate({"name": "exponential", "initial": 1e-3, "staircase": "no"}, 10)
    assert make_learning_rate(3e-4, 10) == 3e-4
    with pytest.raises(ValueError, match="Received: learning_rate name='cosine'"):
        make_learning_rate({"name": "cosine", "initial": 1e-3}, 10)
    with pytest.raises(ValueError, match="takes .*'initial' required"):
        make_learning_rate({"name": "staged", "start": 1e-3}, 10)
    with pytest.raises(ValueError, match="Received: learning_rate=-1"):
        TrainConfig(learning_rate=-1)
    with pytest.raises(ValueError, match="Received: patience=0"):
        TrainConfig(patience=0)


def test_schedules_serialize_with_the_optimizer_and_the_config():
    optimizer = keras.optimizers.Adam(StagedDecay(1e-3, steps_per_epoch=7, stages=4, epoch_scale=0.5))
    restored = keras.optimizers.Adam.from_config(optimizer.get_config())
    assert restored.get_config()["learning_rate"] == optimizer.get_config()["learning_rate"]
    assert float(restored.learning_rate) == pytest.approx(1e-3)
    spec = {"name": "staged", "initial": 1e-3, "stages": 8, "epoch_scale": 0.1}
    config = TrainConfig(learning_rate=spec)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))).learning_rate == spec


class _Model(keras.Model):
    def __init__(self):
        super().__init__()
        self.w = self.add_weight(shape=(), initializer="zeros")
        self.built, self.stop_training = True, False


def _epochs(callback, model, values, start=0):
    callback.set_model(model)
    for epoch, value in enumerate(values, start):
        model.w.assign(float(epoch))  # the weights of epoch e are e
        callback.on_epoch_end(epoch, {"val_neg_elbo": value})


def test_keep_best_saves_restores_and_stops(tmp_path):
    model = _Model()
    best = KeepBest(str(tmp_path / "best"), patience=2)
    _epochs(best, model, [5.0, 3.0, 4.0])
    assert best.state["best_epoch"] == 1 and not model.stop_training
    # A restart reads the state; the repeated epoch 2 is not counted twice.
    again = KeepBest(str(tmp_path / "best"), patience=2)
    _epochs(again, model, [4.0, 4.5], start=2)
    assert again.state["wait"] == 2 and again.state["stopped"] and model.stop_training
    assert again.restore(model) == 1 and float(model.w.numpy()) == 1.0
    assert KeepBest(str(tmp_path / "empty")).restore(model) is None
    with pytest.raises(ValueError, match="monitors 'val_neg_elbo', which the epoch did not log"):
        KeepBest(str(tmp_path / "x")).on_epoch_end(0, {"neg_elbo": 1.0})


@pytest.mark.slow
@pytest.mark.parametrize("objective, monitor", [("elbo", "val_neg_elbo"), ("iwae", "val_loss")])
def test_the_evaluated_model_is_the_best_epoch_and_early_stopping_is_final(tmp_path, objective, monitor):
    recipe = get_config("gaussian_vae_digits", smoke=True)
    recipe["model_config"].update(objective=objective, num_samples=3)
    config = TrainConfig.from_dict(recipe).replace(
        epochs=4,
        pictures=False,
        export_dir=str(tmp_path / "exports"),
        learning_rate={"name": "staged", "initial": 0.01, "stages": 3},
        patience=1,
    )
    workdir = str(tmp_path / "run")
    results = train_and_evaluate(config, workdir, verbose=0)
    with open(os.path.join(workdir, "history.csv")) as f:
        rows = f.read().splitlines()[1:]
    header = open(os.path.join(workdir, "history.csv")).readline().strip().split(",")
    val = [float(r.split(",")[header.index(monitor)]) for r in rows]  # an IWAE is selected on −L_K
    assert results["best_epoch"] == int(np.argmin(val))
    manifest = json.load(open(os.path.join(results["export"], "keraszoo_manifest.json")))
    assert manifest["training"]["best_epoch"] == results["best_epoch"]
    assert manifest["training"]["learning_rate"]["name"] == "staged"
    state = KeepBest.read_state(os.path.join(workdir, "best"))
    if state["stopped"]:  # a stopped run is final: running it again trains nothing more
        train_and_evaluate(config.replace(export_dir=None), workdir, verbose=0)
        assert open(os.path.join(workdir, "history.csv")).read().splitlines()[1:] == rows


def test_a_model_saved_with_a_schedule_loads_after_import_keraszoo(tmp_path):
    import subprocess
    import sys

    from keraszoo import GaussianVAE

    model = GaussianVAE(**GaussianVAE.example_config())
    model.compile(keras.optimizers.Adam(StagedDecay(1e-3, steps_per_epoch=5)))
    path = str(tmp_path / "m.keras")
    model.save(path)
    code = f"import keras, keraszoo; print(type(keras.models.load_model({path!r}).optimizer.learning_rate))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]


def _averaging_model(momentum):
    from keraszoo import GaussianVAE
    from keraszoo.optimizers import FusedAdam

    model = GaussianVAE(**GaussianVAE.example_config())
    model.compile(FusedAdam(1e-2, use_ema=True, ema_momentum=momentum))
    return model


def test_polyak_averaging_is_the_moving_average_and_is_what_is_validated_and_kept(tmp_path):
    """θ̄₁ = θ₁, θ̄ₜ = m·θ̄ₜ₋₁ + (1 − m)·θₜ by hand from the trained weights of every step;
    `averaged_weights`, `ValidateAveraged` and `KeepBest` all see θ̄, and training continues
    from θ."""
    from keraszoo.training.best import ValidateAveraged, averaged_weights
    from keraszoo.training.evaluation import reseed

    m = 0.6
    model = _averaging_model(m)
    x = (np.random.default_rng(0).random((8, *model.data_shape)) > 0.5).astype("float32")
    average = None
    for _ in range(4):
        model.train_on_batch(x)
        trained = [v.numpy() for v in model.trainable_variables]
        average = (
            trained
            if average is None
            else [m * a + (1 - m) * t for a, t in zip(average, trained, strict=True)]
        )
    with averaged_weights(model):
        for v, expected in zip(model.trainable_variables, average, strict=True):
            np.testing.assert_allclose(v.numpy(), expected, rtol=1e-5, atol=1e-6)
        reseed(model, 3)  # the same noise for both evaluations
        by_hand = model.evaluate(x, verbose=0, return_dict=True)
    assert not np.allclose(model.trainable_variables[0].numpy(), average[0])  # θ back after the block
    np.testing.assert_array_equal(model.trainable_variables[0].numpy(), trained[0])
    reseed(model, 3)
    validated = model.evaluate(x, verbose=0, return_dict=True, callbacks=[ValidateAveraged()])
    assert validated == pytest.approx(by_hand, rel=1e-6)
    np.testing.assert_array_equal(model.trainable_variables[0].numpy(), trained[0])

    best = KeepBest(str(tmp_path / "best"))
    best.set_model(model)
    best.on_epoch_end(0, {"val_neg_elbo": 1.0})
    np.testing.assert_array_equal(model.trainable_variables[0].numpy(), trained[0])  # training goes on from θ
    kept = _averaging_model(m)
    kept.train_on_batch(x)  # built, as a resumed run's model
    assert best.restore(kept) == 0
    for v, expected in zip(kept.trainable_variables, average, strict=True):
        np.testing.assert_allclose(v.numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("momentum", [0, 1, 1.5, True, "0.9"])
def test_ema_momentum_errors_name_the_value(momentum):
    with pytest.raises(ValueError, match=f"Received: ema_momentum={momentum!r}"):
        TrainConfig(ema_momentum=momentum)
