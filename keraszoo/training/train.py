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
import warnings

import keras
import numpy as np
import tensorflow as tf

from keraszoo.data import as_numpy, evaluation_binarize, known_data_shape, load_split, make_pipeline
from keraszoo.export import export_model
from keraszoo.export.manifest import git_commit, machine_description, sha256_of
from keraszoo.models import build_model
from keraszoo.optimizers import FusedAdam
from keraszoo.presets import from_preset, load_manifest, split_spec
from keraszoo.training.best import KeepBest, TrainingClock, ValidateAveraged
from keraszoo.training.config import TrainConfig, resumable_fields
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


def build(config: TrainConfig, data_shape, strategy) -> keras.Model:
    """The zoo model of `config` for data of `data_shape`, built inside `strategy.scope()`."""
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        return build_model(config.model, data_shape=data_shape, seed=config.seed, **config.model_config)


def compile_model(config: TrainConfig, model: keras.Model, strategy, steps_per_epoch: int = 1) -> keras.Model:
    """Compiles `model` with its optimizer (the config's learning rate, whose schedule's epochs are
    `steps_per_epoch` optimizer steps) inside `strategy.scope()`."""
    with strategy.scope():
        model.compile(
            optimizer=FusedAdam(
                config.make_learning_rate(steps_per_epoch),
                **config.adam,
                **({"use_ema": True, "ema_momentum": config.ema_momentum} if config.ema_momentum else {}),
            ),
            jit_compile=config.jit_compile,
            steps_per_execution=config.steps_per_execution,
        )
    return model


def build_and_compile(config: TrainConfig, data_shape, strategy, steps_per_epoch: int = 1) -> keras.Model:
    """`build`, then `compile_model`."""
    return compile_model(config, build(config, data_shape, strategy), strategy, steps_per_epoch)


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


# ---------------------------------------------------------------------------------------------
# The training loop, chosen once from the strategy.


class KerasLoop:
    """One host (no distribution or MirroredStrategy): Keras's own `fit` and `evaluate`."""

    def __init__(self, strategy: tf.distribute.Strategy):
        self.strategy = strategy

    def fit(self, model, train_ds, val_ds, epochs, keep, callbacks, workdir, history_csv, verbose, config):
        """Trains `epochs` (resuming from `workdir`); `keep`: KeepBest, run before the epoch's backup."""
        # Our pipeline shuffles; `shuffle=False` stops Keras warning that it cannot shuffle a Dataset.
        model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=epochs,
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

    def evaluate(self, model, dataset) -> dict:
        return model.evaluate(dataset, verbose=0, return_dict=True)

    second_stage_fit = None  # the second stage uses `Model.fit` too


class MultiWorkerLoop(KerasLoop):
    """MultiWorkerMirroredStrategy: our loop of the model's own train and test steps
    (`keraszoo.training.multi_worker`; Keras 3's `fit` fails under this strategy)."""

    def fit(self, model, train_ds, val_ds, epochs, keep, callbacks, workdir, history_csv, verbose, config):
        chief_only = (
            [keras.callbacks.TensorBoard(os.path.join(workdir, "tensorboard"))]
            if is_chief(self.strategy)
            else []
        )
        fit_loop(model, self.strategy, train_ds, epochs, validation_data=val_ds,
                 callbacks=[*keep, *chief_only, *callbacks], verbose=verbose,
                 backup_dir=os.path.join(workdir, "backup"), history_csv=history_csv,
                 steps_per_execution=config.steps_per_execution)  # fmt: skip

    def evaluate(self, model, dataset) -> dict:
        return evaluate_loop(model, self.strategy, dataset)

    def second_stage_fit(self, model, dataset, epochs, verbose):
        return fit_loop(model, self.strategy, dataset, epochs, verbose=verbose)


LOOPS = {"multi_worker": MultiWorkerLoop}  # every other strategy: KerasLoop


def training_loop(config: TrainConfig, strategy: tf.distribute.Strategy) -> KerasLoop:
    """The loop that fits and evaluates under `config.strategy`."""
    return LOOPS.get(config.strategy, KerasLoop)(strategy)


# ---------------------------------------------------------------------------------------------
# train_and_evaluate: validate -> resume check -> data -> fit -> evaluate -> export.


@dataclasses.dataclass
class Data:
    """The splits of a run and their pipelines."""

    train_split: object
    test_split: object
    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset

    @property
    def steps_per_epoch(self) -> int:
        return max(1, int(self.train.cardinality()))  # unknown (< 0) or empty: schedules count steps


def train_and_evaluate(
    config: TrainConfig | dict, workdir: str, callbacks=(), verbose: int = 1, command: str | None = None
) -> dict:
    """Trains `config.model` on `config.dataset`, evaluates on the test split, exports.

    One pass: the config and the model it builds are validated, and a resumed work directory's
    config is checked, before anything is written (a typo or an offline dataset leaves the work
    directory usable by the corrected command); then the data loads, the model trains under the
    loop of its strategy, the best epoch is evaluated, and the chief exports and writes results.

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
    config = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    if verbose == 1 and not sys.stdout.isatty():
        verbose = 2  # a bar redrawn with control codes is noise in a log: one line per epoch
    strategy = make_strategy(config)  # first: MultiWorkerMirroredStrategy precedes other TF work
    loop = training_loop(config, strategy)
    chief = is_chief(strategy)  # writes the run's files; other workers write temporary ones
    model = validate(config, workdir, strategy, chief)
    data = load_data(config)
    if model is None or tuple(model.data_shape) != tuple(data.train_split.data_shape):
        model = build(config, data.train_split.data_shape, strategy)
    _check_data_fits_likelihood(config, model, data.train_split)
    compile_model(config, model, strategy, data.steps_per_epoch)
    if model.decoder_bias_init == "data_mean":  # a resumed run's weights then replace it
        with strategy.scope():
            model.initialize_output_bias(data.train_split.dataset)
    init_from = _init_from_preset(model, config.init_from_preset) if config.init_from_preset else None
    if chief:  # everything worked so far: record the config (nothing was written before)
        os.makedirs(workdir, exist_ok=True)
        check_resume(config, workdir)
    _warn_if_average_outlasts_training(config, data.steps_per_epoch)

    best, best_epoch, clock = fit(config, model, loop, data, workdir, callbacks, verbose)
    own = evaluate(config, model, loop, data)  # collective: every worker takes part
    if not chief:  # the chief evaluates and writes; nothing below is collective
        return {
            "chief": False,
            "num_replicas": strategy.num_replicas_in_sync,
            "workdir": os.path.abspath(workdir),
        }
    model.save(os.path.join(workdir, "model.keras"))
    results = {
        "config": config.to_dict(),
        "test": test_metrics(config, model, data, own, verbose),
        "train_seconds": clock.seconds(),  # every session of a resumed run
        "train_seconds_this_run": clock.seconds() - clock.before,
        "best_epoch": best_epoch,
        "selected_on": best.monitor if config.keep_best else None,
        "init_from": init_from,
        "num_replicas": strategy.num_replicas_in_sync,
        "chief": True,
        "workdir": os.path.abspath(workdir),
    }
    export(config, model, data, results, workdir, command)
    return results


def validate(config: TrainConfig, workdir: str, strategy, chief: bool):
    """Everything that can be checked before the data loads, writing nothing: the model config
    (by building the model, when the dataset's image shape is known without reading it), a work
    directory that holds another config's run, and the export directory. Returns the model built,
    or None."""
    shape = known_data_shape(config.dataset)
    model = build(config, shape, strategy) if shape else None
    if chief:
        check_resume(config, workdir, record=False)
        if config.export_dir:
            check_writable("export_dir", config.export_dir)
    return model


def load_data(config: TrainConfig) -> Data:
    """The three splits and their pipelines (training: shuffled, binarized as configured)."""
    train_split, val_split, test_split = (
        load_split(
            config.dataset, s, data_dir=config.data_dir, download=config.download, path=config.data_file
        )
        for s in ("train", "validation", "test")
    )
    pipeline = dict(binarize=config.binarize, seed=config.seed)
    eval_binarize = evaluation_binarize(config.binarize)
    return Data(
        train_split=train_split,
        test_split=test_split,
        train=make_pipeline(train_split, config.batch_size, shuffle=True, drop_remainder=True, **pipeline),
        validation=make_pipeline(val_split, config.batch_size, **{**pipeline, "binarize": eval_binarize}),
        test=evaluation_pipeline(config, test_split),
    )  # fmt: skip


def fit(config: TrainConfig, model, loop: KerasLoop, data: Data, workdir: str, callbacks, verbose: int):
    """Trains (resuming from the work directory), then puts the best validation epoch's weights
    in the model (static binarization overfits) and trains the model's second stage, if any.
    Returns (the KeepBest callback, the best epoch or None, the training clock)."""
    chief = is_chief(loop.strategy)
    history_csv = os.path.join(workdir, "history.csv")
    best_dir = os.path.join(workdir, "best")
    clock = TrainingClock(os.path.join(workdir, "clock.json") if chief else None)
    with writable_dir(loop.strategy, best_dir) as best_writes:
        best = KeepBest(best_writes, "val_" + model.selection_metric, config.patience, source=best_dir)
        if not best.state["stopped"]:  # an early-stopped run is finished: resuming does not train on
            keep = [best] if config.keep_best else []
            loop.fit(model, data.train, data.validation, config.epochs, keep, [clock, *callbacks],
                     workdir, history_csv, verbose, config)  # fmt: skip
        elif verbose:
            stopped = best.state["last_epoch"]
            print(f"Stopped early at epoch {stopped} (patience {config.patience}): not training.")
        with loop.strategy.scope():  # the optimizer is built in scope if this run trained nothing
            best_epoch = best.restore(model) if config.keep_best else None
    if config.prior_epochs and model.second_stage:
        with loop.strategy.scope():
            model.fit_second_stage(data.train, config.prior_epochs, verbose=verbose if chief else 0,
                                   fit=loop.second_stage_fit)  # fmt: skip
    clock.save()  # with the second stage's time
    return best, best_epoch, clock


def evaluate(config: TrainConfig, model, loop: KerasLoop, data: Data) -> dict:
    """The family's own figures on the test split (reconstruction term, KL, τ or β, perplexity
    and codes used, ...), from a fixed point of the noise stream: re-evaluating the same weights
    gives the same figures. Collective under multi-worker."""
    with loop.strategy.scope():
        reseed(model, config.seed + 1)
    return loop.evaluate(model, data.test)


def test_metrics(config: TrainConfig, model, data: Data, own: dict, verbose: int) -> dict:
    """−ELBO and the importance-weighted NLL on the test split, with the model's own figures."""
    if verbose:
        print(f"Evaluating on the test split (importance-weighted NLL, k={config.eval_num_samples}) ...")
    metrics = to_float_dict(
        evaluate_bounds(model, data.test, config.eval_num_samples, seed=config.seed, verbose=verbose)
    )
    metrics["metrics"] = {k: float(v) for k, v in own.items() if k not in ("loss", "neg_elbo")}
    return metrics  # fmt: skip


def export(config: TrainConfig, model, data: Data, results: dict, workdir: str, command) -> None:
    """Pictures, the SavedModel export and `results.json` (the chief's)."""
    if config.pictures:
        history_csv = os.path.join(workdir, "history.csv")
        results["pictures"] = write_pictures(model, data.test_split, history_csv, workdir, config.seed)
    if config.export_dir:
        metadata = _manifest_metadata(config, model, results, command)
        results["export"] = export_model(model, config.export_dir, config.export_name, metadata=metadata)
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump(results, f, indent=2, default=str)


def _check_data_fits_likelihood(config, model, split):
    if model.likelihood.binary_data and not split.binary and config.binarize == "none":
        raise ValueError(
            f"The {model.likelihood.name!r} likelihood needs binary data, but dataset "
            f"{config.dataset!r} has intensities and binarize='none'. Choose binarize='static' "
            "or 'dynamic', or a likelihood for intensities ('gaussian', 'continuous_bernoulli')."
        )


def _warn_if_average_outlasts_training(config: TrainConfig, steps_per_epoch: int) -> None:
    """Polyak averaging with momentum m averages over ≈ 1/(1 − m) steps; a run of fewer steps
    exports weights still close to the initial ones (its validation and test figures look broken)."""
    if not config.ema_momentum:
        return
    horizon, steps = 1 / (1 - config.ema_momentum), config.epochs * steps_per_epoch
    if horizon > steps:
        warnings.warn(
            f"ema_momentum={config.ema_momentum} averages the weights over ≈ {horizon:.0f} steps, but "
            f"this run takes {steps} ({config.epochs} epochs of {steps_per_epoch}): the evaluated and "
            "exported average is still mostly the initial weights. Train longer, or lower it "
            "(--set ema_momentum=null switches averaging off).",
            UserWarning,
            stacklevel=2,
        )


def check_resume(config: TrainConfig, workdir: str, record: bool = True) -> None:
    """Records the config in a new work directory; refuses to resume one made by another config.

    What may differ on resume is declared on the config's fields (`resumable_fields`): budget,
    evaluation, export and devices. Everything else defines the run, and resuming with another
    value would mix two runs. `record=False` only checks (`validate` calls it so, before any
    write).

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
    resumable = resumable_fields()
    differences = [
        f"{key}: {saved.get(key)!r} (saved) != {current.get(key)!r} (given)"
        for key in sorted(set(saved) | set(current))
        if key not in resumable and saved.get(key) != current.get(key)
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
