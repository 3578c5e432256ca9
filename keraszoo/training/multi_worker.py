"""Training on several workers: `tf.distribute.MultiWorkerMirroredStrategy` (TF_CONFIG, collective
all-reduce), with the same models and recipes as on one device.

Keras 3.15's `Model.fit` and `Model.evaluate` fail under this strategy (keras-team/keras#20585:
the scalar logs of a step are reduced along a batch axis they do not have, "Invalid reduction
dimension 0 for input with 0 dimensions"; the maintainers state that Keras 3 does not support
the strategy). The fix here is the narrowest one that does not patch Keras:
`fit_loop` runs the model's *own* `train_step` / `test_step` under `strategy.run` over
`strategy.experimental_distribute_dataset(...)`. The step is Keras's: the loss scaled by
1/replicas, the optimizer's cross-replica gradient sum, the metric trackers (mirrored variables
whose updates are all-reduced) and every layer's own replica logic (the EMA codebook's summed
statistics, the REINFORCE baseline, global-batch noise slices) are unchanged, so 1 device,
N GPUs and N workers train the same model on the same global batch.
A test (`test_upstream_fit_still_fails_under_multi_worker`) fails when upstream `fit` starts to
work, so we learn when this loop can go.

Data: every worker builds the same pipeline (same seed, so the same shuffles and binarization
noise) and the auto-shard policy is set to DATA: each global batch is split across all replicas
of all workers (the FILE policy would need one file per worker; our data is one array). Each
worker therefore reads the whole input pipeline, which is cheap next to the model.

Files: only the chief (`strategy.extended.should_checkpoint`) writes the real checkpoint, the
history, pictures, results and the export. The other workers write their checkpoints to a
temporary directory (one fixed path per work directory and task, so a restarted worker reuses
and then removes it) and read the chief's when they resume: as with tf_keras's
`BackupAndRestore`, the work directory must be visible to every worker (a shared or network file
system). A run killed on any worker resumes from the last completed epoch when all workers are
started again with the same command; the history keeps each epoch once (rows of epochs that were
not checkpointed are dropped on resume).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time
import weakref

import keras
import tensorflow as tf

from keraszoo.training.best import averaged_weights


def local_tf_configs(num_workers: int) -> list[str]:
    """TF_CONFIG values of a cluster of `num_workers` workers on 127.0.0.1, on ports free now
    (for tests and benchmarks on one machine): element i is worker i's."""
    sockets = [socket.socket() for _ in range(num_workers)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    cluster = {"worker": [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]}
    for s in sockets:
        s.close()
    return [
        json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}) for i in range(num_workers)
    ]


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files (always, for single-host strategies)."""
    return bool(strategy.extended.should_checkpoint)


def task_id(strategy: tf.distribute.Strategy) -> int:
    resolver = getattr(strategy, "cluster_resolver", None)
    return int(resolver.task_id or 0) if resolver is not None else 0


@contextlib.contextmanager
def writable_dir(strategy: tf.distribute.Strategy, path: str):
    """`path` on the chief; elsewhere a per-task temporary directory, removed on exit. Its name is
    fixed per `path` and task, so a killed worker's leftovers are reused and removed on restart."""
    if is_chief(strategy):
        os.makedirs(path, exist_ok=True)
        yield path
        return
    digest = hashlib.sha256(os.path.abspath(path).encode()).hexdigest()[:12]
    temporary = os.path.join(tempfile.gettempdir(), f"keraszoo-worker{task_id(strategy)}-{digest}")
    os.makedirs(temporary, exist_ok=True)
    try:
        yield temporary
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def distribute(strategy: tf.distribute.Strategy, dataset: tf.data.Dataset):
    """The dataset split across all replicas (DATA sharding: each global batch is shared out)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(dataset.with_options(options))


def barrier(strategy: tf.distribute.Strategy) -> None:
    """Returns when every worker has reached it (an all-reduce of a constant)."""
    tf.function(lambda: strategy.run(lambda: tf.distribute.get_replica_context().all_reduce("sum", 1.0)))()


# One traced test step per (model, strategy): a new `tf.function` per call would be traced again
# at every call (every epoch's validation, then the test split).
_TEST_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def traced_test_step(model: keras.Model, strategy: tf.distribute.Strategy):
    """The `tf.function` running `model.test_step` under `strategy`, made once and reused (with
    `reduce_retracing`: a last, smaller batch does not add a trace per shape)."""
    steps = _TEST_STEPS.setdefault(model, {})
    if id(strategy) not in steps:
        model_ref = weakref.ref(model)  # the cache must not keep its key alive

        def step(batch):
            return strategy.run(model_ref().test_step, args=(batch,))

        # The strategy is kept with its function, so that its id is not reused while cached.
        steps[id(strategy)] = (strategy, tf.function(step, reduce_retracing=True))
    return steps[id(strategy)][1]


def evaluate_loop(model: keras.Model, strategy: tf.distribute.Strategy, dataset) -> dict:
    """`Model.evaluate` for any strategy: the mean of each metric over `dataset`."""
    step = traced_test_step(model, strategy)
    model.reset_metrics()
    for batch in distribute(strategy, dataset):
        step(batch)
    return {k: float(v) for k, v in model.get_metrics_result().items()}


def fit_loop(
    model: keras.Model,
    strategy: tf.distribute.Strategy,
    dataset: tf.data.Dataset,
    epochs: int,
    validation_data: tf.data.Dataset | None = None,
    callbacks=(),
    verbose: int = 1,
    backup_dir: str | None = None,
    history_csv: str | None = None,
    steps_per_execution: int = 1,
) -> list[dict]:
    """`Model.fit` for any strategy, multi-worker included, resumable from `backup_dir`.

    Args:
        model: a compiled Keras model, built under `strategy.scope()`.
        dataset: batches of the global batch size (their count must be known).
        epochs, validation_data, callbacks, verbose: as in `fit` (callbacks run on every worker;
            the chief alone shows progress).
        backup_dir: the chief's checkpoint directory (model, optimizer, epoch), saved after every
            epoch and restored from at the start; None: no checkpoints.
        history_csv: per-epoch logs, written by the chief (like `CSVLogger(append=True)`).
        steps_per_execution: train steps per `tf.function` call.

    Returns:
        The logs of the epochs trained by this call.
    """
    chief = is_chief(strategy)
    show = chief and verbose  # progress: the chief's alone
    steps = int(dataset.cardinality())
    if steps <= 0:
        raise ValueError(f"Expected a dataset with a known, positive number of batches. Received {steps}.")
    with strategy.scope():
        model.optimizer.build(model.trainable_variables)
        epoch_counter = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer, epoch=epoch_counter)
    if backup_dir and tf.train.latest_checkpoint(backup_dir):
        checkpoint.restore(tf.train.latest_checkpoint(backup_dir)).assert_existing_objects_matched()
    initial_epoch = int(epoch_counter.numpy())
    if history_csv and chief:
        _keep_history_before(history_csv, initial_epoch)

    @tf.function
    def train_function(iterator, count):
        for _ in tf.range(count):
            strategy.run(model.train_step, args=(next(iterator),))

    callback_list = keras.callbacks.CallbackList(list(callbacks), model=model)
    model.stop_training = False
    history = []
    with contextlib.ExitStack() as stack:
        manager = None
        if backup_dir:
            directory = stack.enter_context(writable_dir(strategy, backup_dir))
            manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=1)
        callback_list.on_train_begin()
        distributed = distribute(strategy, dataset)
        for epoch in range(initial_epoch, epochs):
            start = time.perf_counter()
            callback_list.on_epoch_begin(epoch)
            model.reset_metrics()
            bar = keras.utils.Progbar(steps, verbose=1 if show and verbose == 1 else 0)
            iterator = iter(distributed)  # as `fit`: the next reshuffle and binarization noise
            for done in range(0, steps, steps_per_execution):
                count = min(steps_per_execution, steps - done)
                train_function(iterator, tf.constant(count))
                bar.update(done + count)
            logs = {k: float(v) for k, v in model.get_metrics_result().items()}
            if validation_data is not None:
                with averaged_weights(model):  # as ValidateAveraged in `fit`
                    val = evaluate_loop(model, strategy, validation_data)
                logs.update({f"val_{k}": v for k, v in val.items()})
            callback_list.on_epoch_end(epoch, logs)
            if show:
                text = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
                print(f"Epoch {epoch + 1}/{epochs} - {time.perf_counter() - start:.1f}s - {text}", flush=True)
            if history_csv and chief:
                _append_history(history_csv, epoch, logs)
            epoch_counter.assign(epoch + 1)
            if manager is not None:
                manager.save(checkpoint_number=epoch + 1)
            history.append(logs)
            if model.stop_training:
                break
        if int(model.optimizer.iterations.numpy()) > 0:  # as `fit`: Polyak averaging ends averaged
            model.optimizer.finalize_variable_values(model.trainable_variables)
        callback_list.on_train_end()
        barrier(strategy)  # the chief's files are complete before any worker reads them
    return history


def _append_history(path: str, epoch: int, logs: dict) -> None:
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["epoch", *logs])
        if new:
            writer.writeheader()
        writer.writerow({"epoch": epoch, **logs})


def _keep_history_before(path: str, epoch: int) -> None:
    """Drops the rows of epochs ≥ `epoch` (logged, then lost with a worker before their checkpoint)."""
    if not os.path.exists(path):
        return
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, [r for r in reader if int(r["epoch"]) < epoch]
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
