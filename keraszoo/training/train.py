"""`train_and_evaluate(config, workdir)`: data → fit under tf.distribute → evaluate → pictures → export.

The work directory holds everything a run writes, and running again on the same directory
resumes from the last completed epoch:

    <workdir>/backup/          BackupAndRestore checkpoint (model, optimizer, epoch; kept)
    <workdir>/history.csv      per-epoch metrics (appended across restarts)
    <workdir>/tensorboard/     scalars per epoch, sample and reconstruction images
    <workdir>/model.keras      the trained model
    <workdir>/pictures/        samples.png, reconstructions.png, curves.png
    <workdir>/results.json     config, test metrics, export path
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import sys
import tempfile

import keras
import numpy as np
import tensorflow as tf

from keraszoo.data import as_numpy, evaluation_binarize, load_split, make_pipeline
from keraszoo.export import export_model
from keraszoo.export.manifest import git_commit, machine_description, sha256_of
from keraszoo.models import build_model
from keraszoo.optimizers import FusedAdam
from keraszoo.presets import from_preset, load_manifest, split_spec
from keraszoo.schedules import make_learning_rate
from keraszoo.training.best import KeepBest, TrainingClock, ValidateAveraged
from keraszoo.training.config import TrainConfig
from keraszoo.training.evaluation import evaluate_bounds, reseed, to_float_dict
from keraszoo.training.multi_worker import evaluate_loop, fit_loop, is_chief, writable_dir


def make_strategy(config: TrainConfig) -> tf.distribute.Strategy:
    """The config's tf.distribute strategy (see `TrainConfig.strategy`)."""
    if config.strategy == "multi_worker":
        return multi_worker_strategy()
    devices = config.devices or [d.name for d in tf.config.list_logical_devices("GPU")] or ["/cpu:0"]
    _check_devices(devices)
    if config.strategy == "default" or (config.strategy == "auto" and len(devices) < 2):
        return tf.distribute.get_strategy()
    return mirrored_strategy(devices)


def _check_devices(devices: list[str]) -> None:
    """Raises a ValueError naming `devices` if one of them is not a device of this process (else
    TensorFlow fails later, mid-`fit`, with an unrelated placeholder error)."""

    def key(name):
        spec = tf.DeviceSpec.from_string(name)
        return (spec.device_type or "").upper(), spec.device_index or 0

    local = [d.name for d in tf.config.list_logical_devices()]
    available = {key(n) for n in local}
    try:
        missing = [d for d in devices if key(d) not in available]
    except ValueError:  # not a device name at all
        missing = list(devices)
    if missing:
        raise ValueError(
            f"Unknown devices {missing}; this process has {local}. Received: devices={devices!r}"
        )


def multi_worker_strategy() -> tf.distribute.MultiWorkerMirroredStrategy:
    """MultiWorkerMirroredStrategy from the TF_CONFIG environment variable (which must name this
    task). Create it before any other TensorFlow work in the process (TensorFlow's rule)."""
    raw = os.environ.get("TF_CONFIG")
    try:
        task = json.loads(raw)["task"] if raw else None
    except (ValueError, KeyError, TypeError):
        task = None
    if not task or "type" not in task:
        raise ValueError(
            "strategy='multi_worker' reads the cluster from the TF_CONFIG environment variable, "
            'e.g. {"cluster": {"worker": ["host1:2222", "host2:2222"]}, "task": {"type": '
            f'"worker", "index": 0}}}}. Received: TF_CONFIG={raw!r}'
        )
    return tf.distribute.MultiWorkerMirroredStrategy()


def mirrored_strategy(devices) -> tf.distribute.MirroredStrategy:
    """MirroredStrategy over `devices`. On CPU devices, reductions go through one device rather
    than collective ops: several CPU strategies in one process otherwise share collective
    instance keys and abort with "Shape mismatch in the collective instance"."""
    on_cpu = all("cpu" in d.lower() for d in devices)
    cross_device_ops = tf.distribute.ReductionToOneDevice() if on_cpu else None
    return tf.distribute.MirroredStrategy(devices, cross_device_ops=cross_device_ops)


def build_and_compile(config: TrainConfig, data_shape, strategy, steps_per_epoch: int = 1) -> keras.Model:
    """Builds the zoo model and its optimizer (with the config's learning-rate schedule, whose
    epochs are `steps_per_epoch` optimizer steps) inside `strategy.scope()`."""
    with strategy.scope():
        model = build_model(config.model, data_shape=data_shape, seed=config.seed, **config.model_config)
        model.compile(
            optimizer=FusedAdam(
                make_learning_rate(config.learning_rate, steps_per_epoch),
                **config.adam,
                **({"use_ema": True, "ema_momentum": config.ema_momentum} if config.ema_momentum else {}),
            ),
            jit_compile=config.jit_compile,
            steps_per_execution=config.steps_per_execution,
        )
    return model


def evaluation_pipeline(config: TrainConfig, test_split) -> tf.data.Dataset:
    """The batches `train_and_evaluate` scores on the test split (with `evaluate_bounds(...,
    seed=config.seed)`, the figures of a run's manifest)."""
    if config.eval_max_examples:
        # A fixed random subset, not the first examples: the binarized MNIST test split is ordered
        # (its first 2000 images score ~28 nats better than the rest).
        subset = test_split.dataset.shuffle(
            test_split.num_examples or 10_000, seed=0, reshuffle_each_iteration=False
        )
        test_split = dataclasses.replace(
            test_split, dataset=subset.take(config.eval_max_examples), num_examples=config.eval_max_examples
        )
    binarize = evaluation_binarize(config.binarize)
    return make_pipeline(test_split, config.eval_batch_size, binarize=binarize, seed=config.seed + 1)


def _load(config: TrainConfig, split: str):
    return load_split(
        config.dataset,
        split,
        data_dir=config.data_dir,
        download=config.download,
        path=config.data_file,
    )


def _check_data_fits_likelihood(config, model, split):
    if model.likelihood.binary_data and not split.binary and config.binarize == "none":
        raise ValueError(
            f"The {model.likelihood.name!r} likelihood needs binary data, but dataset "
            f"{config.dataset!r} has intensities and binarize='none'. Choose binarize='static' "
            "or 'dynamic', or a likelihood for intensities ('gaussian', 'continuous_bernoulli')."
        )


def train_and_evaluate(
    config: TrainConfig | dict, workdir: str, callbacks=(), verbose: int = 1, command: str | None = None
) -> dict:
    """Trains `config.model` on `config.dataset`, evaluates on the test split, exports.

    Args:
        config: a `TrainConfig` (or its dict form).
        workdir: the run directory; an existing one is resumed from its last epoch.
        callbacks: extra Keras callbacks for `fit`.
        verbose: Keras verbosity: 1 a progress bar, or one line per epoch when standard output
            is not a terminal (a log file); 2 one line per epoch; 0 silent.
        command: the command line that reproduces the run, for the export manifest (default:
            this process's arguments).

    Returns:
        The results dict also written to `<workdir>/results.json`.
    """
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    if verbose == 1 and not sys.stdout.isatty():
        verbose = 2  # a bar redrawn with control codes is noise in a log: one line per epoch
    strategy = make_strategy(config)  # first: MultiWorkerMirroredStrategy precedes other TF work
    chief = is_chief(strategy)  # writes the run's files; other workers write temporary ones
    if chief:  # refuse early, but write nothing until the data loads and the model builds
        check_resume(config, workdir, record=False)
        if config.export_dir:
            check_writable("export_dir", config.export_dir)
    keras.utils.set_random_seed(config.seed)

    train_split, val_split, test_split = (_load(config, s) for s in ("train", "validation", "test"))
    pipeline = dict(binarize=config.binarize, seed=config.seed)
    train_ds = make_pipeline(train_split, config.batch_size, shuffle=True, drop_remainder=True, **pipeline)
    eval_binarize = evaluation_binarize(config.binarize)
    val_ds = make_pipeline(val_split, config.batch_size, **{**pipeline, "binarize": eval_binarize})
    test_ds = evaluation_pipeline(config, test_split)

    steps_per_epoch = max(1, int(train_ds.cardinality()))  # unknown (< 0) or empty: schedules count steps
    model = build_and_compile(config, train_split.data_shape, strategy, steps_per_epoch)
    _check_data_fits_likelihood(config, model, train_split)
    init_from = _init_from_preset(model, config.init_from_preset) if config.init_from_preset else None
    if chief:  # the config is valid: record it (a typo or an offline download left nothing behind)
        os.makedirs(workdir, exist_ok=True)
        check_resume(config, workdir)

    history_csv = os.path.join(workdir, "history.csv")
    best_dir = os.path.join(workdir, "best")
    clock = TrainingClock(os.path.join(workdir, "clock.json") if chief else None)
    with writable_dir(strategy, best_dir) as best_writes:
        best = KeepBest(best_writes, "val_" + model.selection_metric, config.patience, source=best_dir)
        if not best.state["stopped"]:  # an early-stopped run is finished: resuming does not train on
            _fit(config, model, strategy, train_ds, val_ds, best, workdir, history_csv, [clock, *callbacks],
                 verbose)  # fmt: skip
        elif verbose:
            print(
                f"Stopped early at epoch {best.state['last_epoch']} "
                f"(patience {config.patience}): not training."
            )
        # The evaluated and exported model is the best validation epoch's (static binarization
        # overfits).
        with strategy.scope():  # the optimizer is built in scope if this run trained nothing
            best_epoch = best.restore(model) if config.keep_best else None
    if config.prior_epochs and model.second_stage:
        with strategy.scope():
            model.fit_second_stage(train_ds, config.prior_epochs, verbose=verbose if chief else 0,
                                   fit=_fit_function(config, strategy))  # fmt: skip
    clock.save()  # with the second stage's time
    train_seconds = clock.seconds()
    # The family's own figures (reconstruction term, KL, τ or β, perplexity and codes used, ...),
    # from a fixed point of the noise stream: re-evaluating the same weights gives the same figures.
    with strategy.scope():
        reseed(model, config.seed + 1)
    own = evaluate_loop(model, strategy, test_ds) if config.strategy == "multi_worker" else (
        model.evaluate(test_ds, verbose=0, return_dict=True))  # fmt: skip
    if not chief:  # the chief evaluates and writes; nothing below is collective
        return {
            "chief": False,
            "num_replicas": strategy.num_replicas_in_sync,
            "workdir": os.path.abspath(workdir),
        }
    model.save(os.path.join(workdir, "model.keras"))

    if verbose:
        print(f"Evaluating on the test split (importance-weighted NLL, k={config.eval_num_samples}) ...")
    metrics = to_float_dict(
        evaluate_bounds(model, test_ds, config.eval_num_samples, seed=config.seed, verbose=verbose)
    )
    metrics["metrics"] = {k: float(v) for k, v in own.items() if k not in ("loss", "neg_elbo")}
    results = {
        "config": config.to_dict(),
        "test": metrics,
        "train_seconds": train_seconds,  # every session of a resumed run
        "train_seconds_this_run": train_seconds - clock.before,
        "best_epoch": best_epoch,
        "selected_on": best.monitor if config.keep_best else None,
        "init_from": init_from,
        "num_replicas": strategy.num_replicas_in_sync,
        "chief": True,
        "workdir": os.path.abspath(workdir),
    }
    if config.pictures:
        results["pictures"] = write_pictures(model, test_split, history_csv, workdir, config.seed)
    if config.export_dir:
        results["export"] = export_model(
            model,
            config.export_dir,
            config.export_name,
            metadata=_manifest_metadata(config, model, results, command),
        )
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump(results, f, indent=2, default=str)
    return results


def _fit(config, model, strategy, train_ds, val_ds, best, workdir, history_csv, callbacks, verbose):
    """`Model.fit` on one host; our loop of the model's own train step under multi-worker."""
    keep = [best] if config.keep_best else []
    if config.strategy == "multi_worker":
        chief_only = (
            [keras.callbacks.TensorBoard(os.path.join(workdir, "tensorboard"))] if is_chief(strategy) else []
        )
        fit_loop(model, strategy, train_ds, config.epochs, validation_data=val_ds,
                 callbacks=[*keep, *chief_only, *callbacks], verbose=verbose,
                 backup_dir=os.path.join(workdir, "backup"), history_csv=history_csv,
                 steps_per_execution=config.steps_per_execution)  # fmt: skip
        return
    # The pipeline shuffles; `shuffle=False` only stops Keras warning that it cannot.
    model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=config.epochs,
        callbacks=[
            ValidateAveraged(),  # validation scores the averaged weights (if `ema_momentum`)
            *keep,  # before the backup: an epoch is kept, then backed up
            keras.callbacks.BackupAndRestore(os.path.join(workdir, "backup"), delete_checkpoint=False),
            keras.callbacks.CSVLogger(history_csv, append=True),
            keras.callbacks.TensorBoard(os.path.join(workdir, "tensorboard")),
            *callbacks,
        ],
        verbose=verbose,
        shuffle=False,
    )


def _fit_function(config, strategy):
    """How a second stage fits its compiled model: `Model.fit`, or our loop under multi-worker."""
    if config.strategy != "multi_worker":
        return None
    return lambda model, dataset, epochs, verbose: fit_loop(model, strategy, dataset, epochs, verbose=verbose)


# What may change when a work directory is resumed: budget, evaluation, export and devices.
# Everything else defines the run, and resuming with another value would mix two runs.
RESUMABLE_CHANGES = {
    "epochs", "patience", "prior_epochs", "eval_num_samples", "eval_batch_size", "eval_max_examples",
    "export_dir", "export_name", "pictures", "description", "published", "strategy", "devices",
    "jit_compile", "steps_per_execution", "download", "data_dir", "data_file",
}  # fmt: skip


def check_resume(config: TrainConfig, workdir: str, record: bool = True) -> None:
    """Records the config in a new work directory; refuses to resume one made by another config.

    `record=False` only checks: `train_and_evaluate` calls it so before loading data and
    building the model, and records the config once both have worked, so that a config that
    fails (an unknown estimator, a dataset that cannot be downloaded) leaves the work directory
    usable by the corrected command.

    Raises:
        ValueError: listing every field that differs from the run being resumed.
    """
    path = os.path.join(workdir, "config.json")
    current = json.loads(json.dumps(config.to_dict()))  # as it reads back from JSON
    if not os.path.exists(path):
        if record:
            with open(path, "w") as f:
                json.dump(current, f, indent=2)
        return
    with open(path) as f:  # a field the saved config predates has its default value
        saved = {**json.loads(json.dumps(TrainConfig().to_dict())), **json.load(f)}
    differences = [
        f"{key}: {saved.get(key)!r} (saved) != {current.get(key)!r} (given)"
        for key in sorted(set(saved) | set(current))
        if key not in RESUMABLE_CHANGES and saved.get(key) != current.get(key)
    ]
    if differences:
        raise ValueError(
            f"The work directory {workdir!r} holds a run of another config; resuming would mix the "
            f"two. Use a new --workdir, or the same config (more epochs are allowed). Differences: "
            + "; ".join(differences)
        )


def check_writable(argument: str, directory: str) -> None:
    """Raises ValueError, before any work, if `directory` cannot be created or written."""
    try:
        os.makedirs(directory, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory):
            pass
    except OSError as err:
        raise ValueError(
            f"Cannot write to `{argument}` ({err.strerror}). Received: {argument}={directory!r}"
        ) from None


def _init_from_preset(model, spec: str) -> dict:
    """Copies the weights of preset `spec` ("NAME", its newest version, or "NAME:VERSION") into
    `model` (same architecture), before training; returns which version that was and where it was
    trained, for the manifest."""
    name, version = split_spec(spec)
    manifest = load_manifest(name, version)
    source = from_preset(name, manifest["version"])
    mismatch = [
        (a.path, tuple(a.shape), tuple(b.shape))
        for a, b in zip(model.weights, source.weights, strict=False)
        if tuple(a.shape) != tuple(b.shape)
    ]
    if type(source) is not type(model) or len(source.weights) != len(model.weights) or mismatch:
        raise ValueError(
            f"Preset {name!r} ({type(source).__name__}, {len(source.weights)} weights) does not fit "
            f"this {type(model).__name__} ({len(model.weights)} weights); first differences: {mismatch[:3]}"
        )
    model.set_weights(source.get_weights())
    return {"preset": name, "version": manifest["version"], "git_commit": manifest["training"]["git_commit"]}


def _manifest_metadata(config: TrainConfig, model, results: dict, command: str | None) -> dict:
    """What the export manifest says beyond the model itself (keraszoo.export.manifest)."""
    return {
        "dataset": {
            "name": config.dataset,
            "file": os.path.basename(config.data_file) if config.data_file else None,
            "sha256": sha256_of(config.data_file) if config.data_file else None,
        },
        "training": {
            "epochs": config.epochs,
            "steps": int(model.optimizer.iterations.numpy()),
            "batch_size": config.batch_size,
            "learning_rate": config.learning_rate,
            "adam": config.adam,
            "ema_momentum": config.ema_momentum,
            "best_epoch": results["best_epoch"],
            "selected_on": results["selected_on"],
            "init_from": results["init_from"],
            "wall_seconds": results["train_seconds"],
            "machine": machine_description(),
            "command": command or shlex.join([os.path.basename(sys.executable), *sys.argv]),
            "git_commit": git_commit(),
            "config": config.to_dict(),
        },
        "test": results["test"],
        "published": config.published,
        "description": config.description or f"{model.registry_name} trained on {config.dataset}",
    }


def write_pictures(model, test_split, history_csv, workdir, seed) -> dict:
    """Samples, reconstructions and curves as PNGs, and the images in TensorBoard."""
    from keraszoo import viz  # imported here: `python -m keraszoo.viz` runs it as __main__

    out = os.path.join(workdir, "pictures")
    factor = max(1, 64 // model.data_shape[0])
    samples = model.sample(64, seed=seed)["x_mean"].numpy()
    inputs = as_numpy(test_split, limit=32)
    recons = model.reconstruct(inputs).numpy()
    grids = {
        "samples": viz.image_grid(samples, ncols=8),
        "reconstructions": viz.pairs_grid(inputs, recons),
    }
    paths = {
        name: viz.save_png(os.path.join(out, f"{name}.png"), viz.upscale(g, factor))
        for name, g in grids.items()
    }
    # The selection metric first: an IWAE's −L_K (its loss), else the −ELBO.
    curves = tuple(dict.fromkeys((model.selection_metric, "neg_elbo", "recon_nll", "kl")))
    if "perplexity" in model.trackers:  # a quantizer's code usage says more than a constant KL
        curves = (*curves[:-1], "perplexity", "codes_used")
    paths["curves"] = viz.plot_history(history_csv, os.path.join(out, "curves.png"), curves)
    with tf.summary.create_file_writer(os.path.join(workdir, "tensorboard", "images")).as_default():
        for name, grid in grids.items():
            tf.summary.image(name, grid[None].astype(np.float32) / 255.0, step=0)
    return paths
