import csv
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keraszoo.recipes import get_config
from keraszoo.training import (
    TrainConfig,
    build_and_compile,
    make_strategy,
    mirrored_strategy,
    train_and_evaluate,
)


def _smoke(tmp_path, **changes):
    config = TrainConfig.from_dict(get_config("gaussian_vae_digits", smoke=True))
    return config.replace(**{"export_dir": str(tmp_path / "exports"), **changes})


def _history(workdir):
    with open(os.path.join(workdir, "history.csv")) as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_smoke_recipe_end_to_end(tmp_path):
    workdir = str(tmp_path / "run")
    results = train_and_evaluate(_smoke(tmp_path), workdir, verbose=0)
    assert results["num_replicas"] == 1
    test = results["test"]
    # Importance weighting tightens the bound: NLL ≤ −ELBO (up to Monte Carlo noise).
    assert 0 < test["nll"] <= test["neg_elbo"] + 0.5 and test["num_examples"] == 64
    assert set(test["metrics"]) == {"recon_nll", "kl"}  # the Gaussian VAE's own, from `evaluate`
    assert test["metrics"]["kl"] > 0 and test["metrics"]["recon_nll"] > 0
    for path in results["pictures"].values():
        assert os.path.getsize(path) > 0
    assert os.path.exists(os.path.join(results["export"], "saved_model.pb"))
    assert json.load(open(os.path.join(workdir, "results.json")))["test"] == test
    rows = _history(workdir)
    assert [r["epoch"] for r in rows] == ["0", "1"] and "val_neg_elbo" in rows[0]
    assert os.listdir(os.path.join(workdir, "tensorboard"))
    assert keras.models.load_model(os.path.join(workdir, "model.keras")).latent_dim == 8


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:
            raise KeyboardInterrupt("simulated preemption")


@pytest.mark.slow
def test_interrupted_training_resumes_from_last_epoch(tmp_path):
    workdir = str(tmp_path / "run")
    config = _smoke(tmp_path, epochs=3, export_dir=None, pictures=False)
    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(config, workdir, callbacks=[_Interrupt()], verbose=0)
    assert [r["epoch"] for r in _history(workdir)] == ["0", "1"]
    with open(os.path.join(workdir, "clock.json")) as f:
        first = json.load(f)
    assert first["last_epoch"] == 1 and first["seconds"] > 0
    results = train_and_evaluate(config, workdir, verbose=0)
    # The run's training time counts both sessions (the manifest's wall_seconds).
    assert results["train_seconds"] == pytest.approx(first["seconds"] + results["train_seconds_this_run"])
    assert [r["epoch"] for r in _history(workdir)] == ["0", "1", "2"]  # epochs 0-1 were not repeated
    model = keras.models.load_model(os.path.join(workdir, "model.keras"))
    steps_per_epoch = 1297 // config.batch_size
    assert int(model.optimizer.iterations.numpy()) == 3 * steps_per_epoch  # optimizer state restored
    # A finished run trains nothing more and evaluates the same weights to the same figures, the
    # family's own (`evaluate`, from a reset noise stream) included.
    again = train_and_evaluate(config, workdir, verbose=0)
    assert again["test"] == results["test"] and len(_history(workdir)) == 3


class _AverageAt(keras.callbacks.Callback):
    """Records the averaged weights at the start of epoch 1 (and interrupts there, if asked)."""

    def __init__(self, interrupt):
        super().__init__()
        self.interrupt, self.average = interrupt, None

    def on_epoch_begin(self, epoch, logs=None):
        from keraszoo.training.best import averaged_weights

        if epoch == 1:
            self.trained = [v.numpy() for v in self.model.trainable_variables]
            with averaged_weights(self.model):
                self.average = [v.numpy() for v in self.model.trainable_variables]
            if self.interrupt:
                raise KeyboardInterrupt("simulated preemption")


@pytest.mark.slow
def test_polyak_averages_survive_a_restart_and_are_what_is_evaluated(tmp_path):
    workdir = str(tmp_path / "run")
    # Under MirroredStrategy over two devices: the averages are mirrored variables.
    config = _smoke(tmp_path, epochs=2, pictures=False, ema_momentum=0.9, strategy="mirrored",
                    devices=["/cpu:0", "/cpu:1"])  # fmt: skip
    first = _AverageAt(interrupt=True)
    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(config, workdir, callbacks=[first], verbose=0)
    resumed = _AverageAt(interrupt=False)
    results = train_and_evaluate(config, workdir, callbacks=[resumed], verbose=0)
    for a, b in zip(first.average, resumed.average, strict=True):  # restored with the optimizer
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(resumed.average[0], resumed.trained[0])  # θ̄, not θ
    model = keras.models.load_model(os.path.join(workdir, "model.keras"))
    assert model.optimizer.use_ema and model.optimizer.ema_momentum == 0.9
    kept = build_and_compile(config, model.data_shape, tf.distribute.get_strategy())
    kept.optimizer.build(kept.trainable_variables)
    kept.load_weights(os.path.join(workdir, "best", "best.weights.h5"))  # the best epoch's θ̄
    for a, b in zip(model.trainable_variables, kept.trainable_variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())  # is the model evaluated and exported
    manifest = json.load(open(os.path.join(results["export"], "keraszoo_manifest.json")))
    assert manifest["training"]["ema_momentum"] == 0.9


def test_bernoulli_on_intensities_without_binarization_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="needs binary data.*binarize='none'"):
        train_and_evaluate(_smoke(tmp_path, binarize="none"), str(tmp_path / "run"), verbose=0)


def test_a_failing_config_leaves_the_work_directory_usable(tmp_path):
    """Validate, then write: a config whose model does not build (a typo in the estimator) or
    whose data does not fit writes no config.json, so the corrected command runs in the same
    work directory instead of being refused as "another config"."""
    run = str(tmp_path / "run")
    corrected = _smoke(tmp_path, pictures=False, export_dir=None, epochs=1)
    typo = corrected.replace(model_config={**corrected.model_config, "estimator": "reinfroce"})
    with pytest.raises(ValueError, match="reinfroce"):
        train_and_evaluate(typo, run, verbose=0)
    with pytest.raises(ValueError, match="needs binary data"):
        train_and_evaluate(corrected.replace(binarize="none"), run, verbose=0)
    assert not os.path.exists(os.path.join(run, "config.json"))
    results = train_and_evaluate(corrected, run, verbose=0)
    assert np.isfinite(results["test"]["neg_elbo"])
    assert os.path.exists(os.path.join(run, "config.json"))


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="Received: batch_size=0"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="Received: strategy='tpu'"):
        TrainConfig(strategy="tpu")
    with pytest.raises(ValueError, match=r"Unknown config keys \['epoch'\]"):
        TrainConfig.from_dict({"epoch": 3})


def test_auto_strategy_distributes_only_over_several_devices():
    """The default, "auto": no tf.distribute on one device (the CPU here; conftest's second
    logical CPU is not used unless named), MirroredStrategy over two or more devices."""
    replicas = {
        (name, tuple(devices or ())): (type(s).__name__, s.num_replicas_in_sync)
        for name, devices in [
            ("auto", None),
            ("auto", ["/cpu:0", "/cpu:1"]),
            ("mirrored", None),
            ("default", None),
        ]
        for s in [make_strategy(TrainConfig(strategy=name, devices=devices))]
    }
    assert TrainConfig().strategy == "auto"
    assert replicas[("auto", ())] == (type(tf.distribute.get_strategy()).__name__, 1)
    assert replicas[("auto", ("/cpu:0", "/cpu:1"))] == ("MirroredStrategy", 2)
    assert replicas[("mirrored", ())] == ("MirroredStrategy", 1)
    assert replicas[("default", ())] == replicas[("auto", ())]
    for bad in (["/gpu:0", "/gpu:1"], ["/cpu:7"], ["not a device"]):
        with pytest.raises(ValueError, match=r"Unknown devices .* Received: devices="):
            make_strategy(TrainConfig(devices=bad))


def test_two_replicas_match_one_on_the_same_global_batch():
    """Loss scaling under MirroredStrategy: the same global batch gives the same update on
    1 and 2 devices (gradients summed over replicas of a 1/N-scaled loss)."""
    x = (np.random.default_rng(0).random((32, 8, 8, 1)) > 0.5).astype("float32")
    config = TrainConfig.from_dict(get_config("gaussian_vae_digits", smoke=True)).replace(learning_rate=0.05)
    results = {}
    initial = None
    for devices in (["/cpu:0"], ["/cpu:0", "/cpu:1"]):
        strategy = mirrored_strategy(devices)
        model = build_and_compile(config.replace(devices=devices), (8, 8, 1), strategy)
        model.compile(optimizer=keras.optimizers.SGD(0.05))  # plain SGD: the update is the gradient
        if initial is None:
            initial = model.get_weights()
        model.set_weights(initial)
        history = model.fit(
            tf.data.Dataset.from_tensor_slices(x).batch(32), epochs=2, verbose=0, shuffle=False
        )
        results[len(devices)] = (model.get_weights(), history.history)
    (w1, h1), (w2, h2) = results[1], results[2]
    assert any(not np.allclose(a, b) for a, b in zip(w1, initial, strict=True))
    for a, b in zip(w1, w2, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    for name in ("loss", "neg_elbo", "kl"):
        np.testing.assert_allclose(h1[name], h2[name], rtol=1e-4)


def _annealed_config(recipe):
    # keep_best=False: the saved model is the last epoch's, whose state the test checks.
    config = TrainConfig.from_dict(get_config(recipe, smoke=True)).replace(
        epochs=3, export_dir=None, pictures=False, keep_best=False
    )
    if recipe == "dvae_mnist":  # offline: the embedded digits, and a β schedule that moves in 60 steps
        beta = {"initial": 1.0, "maximum": 10.0, "rate": 0.05, "every": 5}
        config = config.replace(dataset="digits", binarize="dynamic", batch_size=64,
                                model_config={**config.model_config, "beta": beta})  # fmt: skip
    return config


@pytest.mark.slow
@pytest.mark.parametrize("recipe, state", [("categorical_vae_digits", "temperature"), ("dvae_mnist", "beta")])
def test_annealed_state_and_its_schedule_survive_a_restart(tmp_path, recipe, state):
    config = _annealed_config(recipe)
    resumed, straight = str(tmp_path / "resumed"), str(tmp_path / "straight")
    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(config, resumed, callbacks=[_Interrupt()], verbose=0)
    train_and_evaluate(config, resumed, verbose=0)
    train_and_evaluate(config, straight, verbose=0)
    values = [[float(r[state]) for r in _history(w)] for w in (resumed, straight)]
    np.testing.assert_allclose(values[0], values[1], rtol=1e-6)
    assert values[1][-1] != values[1][0]  # the schedule moved
    models = [keras.models.load_model(os.path.join(w, "model.keras")) for w in (resumed, straight)]
    last_step = int(models[0].optimizer.iterations.numpy()) - 1
    expected = float(models[0].annealed().schedule(last_step))
    for model in models:
        assert float(model.annealed().state.numpy()) == pytest.approx(expected)


@pytest.mark.slow
def test_vqvae_cifar10_recipe_runs_on_mock_data(tmp_path):
    import tensorflow_datasets as tfds

    config = TrainConfig.from_dict(get_config("vqvae_cifar10", smoke=True)).replace(
        export_dir=str(tmp_path / "exports"), download=False
    )
    with tfds.testing.mock_data(num_examples=24):
        results = train_and_evaluate(config, str(tmp_path / "run"), verbose=0)
    test = results["test"]
    assert np.isfinite(test["neg_elbo"]) and test["num_examples"] == 16
    own = test["metrics"]
    assert {"recon_nll", "kl", "perplexity", "codes_used", "dead_codes"} <= set(own)
    # After the prior's stage, kl is −log p_prior(z_q), no longer the uniform (h·w) log M.
    assert own["kl"] != pytest.approx(8 * 8 * np.log(config.model_config["num_codes"]))
    assert os.path.exists(os.path.join(results["export"], "saved_model.pb"))
    assert os.path.getsize(results["pictures"]["samples"]) > 0
