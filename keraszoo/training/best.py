"""Keep the best model on a validation metric, stop early on a patience, survive restarts.

Statically binarized MNIST overfits (training −ELBO falls while validation −ELBO rises), so
the model a run evaluates and exports is the one of its best validation epoch. Keras's
`EarlyStopping(restore_best_weights=True)` keeps that state in memory only, so a run resumed
by `BackupAndRestore` would forget it; `KeepBest` writes it to the work directory:

    <workdir>/best/best.weights.h5   the weights of the best epoch so far
    <workdir>/best/state.json        {"best", "best_epoch", "last_epoch", "wait", "stopped"}

Both are written before the epoch's backup, each through a temporary file and a rename, and
an epoch that a restart repeats is counted once. `TrainingClock` keeps the run's training time
the same way (`<workdir>/clock.json`), so a resumed run reports the time of all its sessions.

With Polyak averaging (an optimizer built with Keras's `use_ema=True`, `TrainConfig.ema_momentum`)
the model that is validated, kept and finally evaluated is the moving average of the weights,
θ̄ ← m·θ̄ + (1 − m)·θ after every step (Polyak & Juditsky 1992), while training goes on from the
trained weights θ: `averaged_weights` puts θ̄ in the model for a block, `ValidateAveraged` for
the validation of every epoch.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time

import keras

from keraszoo._checks import check_positive


def write_json(path: str, value) -> None:
    """Writes `value` as JSON through a temporary file and a rename: a crash leaves the old file."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(value, f)
    os.replace(tmp, path)


@contextlib.contextmanager
def averaged_weights(model):
    """Inside the block, `model`'s trainable weights are its optimizer's moving average of them
    (Keras's `use_ema`); after it, the trained weights again. Does nothing when the optimizer
    keeps no average, or has not taken a step yet (the average is not a weight yet)."""
    optimizer = getattr(model, "optimizer", None)
    if (
        not getattr(optimizer, "use_ema", False)
        or not optimizer.built
        or not int(optimizer.iterations.numpy())
    ):
        yield
        return
    trained = [v.numpy() for v in model.trainable_variables]
    optimizer.finalize_variable_values(model.trainable_variables)  # θ ← θ̄
    try:
        yield
    finally:
        for variable, value in zip(model.trainable_variables, trained, strict=True):
            variable.assign(value)


class ValidateAveraged(keras.callbacks.Callback):
    """Evaluates (the validation of every `fit` epoch) with the averaged weights; see
    `averaged_weights`. Keras's `SwapEMAWeights` does the same; this one shares its mechanism
    with `KeepBest` and the multi-worker loop."""

    def on_test_begin(self, logs=None):
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(averaged_weights(self.model))

    def on_test_end(self, logs=None):
        self._stack.close()


class TrainingClock(keras.callbacks.Callback):
    """Training wall time summed over the sessions of a run that was interrupted and resumed.

    Each epoch end writes the total so far to `path` ({"seconds", "last_epoch"}); a restarted
    run starts its count there. The part of an interrupted session after its last completed
    epoch is not counted (the restart repeats that work, and its time is counted then).

    Args:
        path: the clock file (`<workdir>/clock.json`); None: count without writing (a worker
            that is not the chief).
    """

    def __init__(self, path: str | None):
        super().__init__()
        self.path = path
        self.before, self.last_epoch = 0.0, -1
        if path and os.path.exists(path):
            with open(path) as f:
                saved = json.load(f)
            self.before, self.last_epoch = float(saved["seconds"]), saved["last_epoch"]
        self.start = time.perf_counter()

    def seconds(self) -> float:
        """Training seconds of the whole run: the earlier sessions' and this one's so far."""
        return self.before + time.perf_counter() - self.start

    def on_epoch_end(self, epoch, logs=None):
        self.last_epoch = epoch
        self.save()

    def save(self) -> None:
        """Writes the total so far (also after work that is not an epoch, e.g. a second stage)."""
        if self.path:
            write_json(self.path, {"seconds": self.seconds(), "last_epoch": self.last_epoch})


class KeepBest(keras.callbacks.Callback):
    """Saves the weights of the epoch with the lowest `monitor`; stops after `patience` epochs
    without improvement (None: never).

    Args:
        directory: where the weights and state live (created).
        monitor: a logged metric to minimise, e.g. "val_neg_elbo".
        patience: epochs without improvement before training stops; None: no early stopping.
        source: where a resumed run's state and the best weights are read (default:
            `directory`). A multi-worker run's other workers read the chief's and write to a
            temporary `directory`, so that every worker takes the same decisions.
    """

    def __init__(
        self,
        directory: str,
        monitor: str = "val_neg_elbo",
        patience: int | None = None,
        source: str | None = None,
    ):
        super().__init__()
        if patience is not None:
            check_positive("patience", patience, integer=True)
        self.directory, self.monitor, self.patience = directory, monitor, patience
        self.source = source or directory
        self.weights_path = os.path.join(directory, "best.weights.h5")
        self.state_path = os.path.join(directory, "state.json")
        self.state = self.read_state(self.source)

    @staticmethod
    def read_state(directory: str) -> dict:
        path = os.path.join(directory, "state.json")
        if not os.path.exists(path):
            return {"best": math.inf, "best_epoch": None, "last_epoch": -1, "wait": 0, "stopped": False}
        with open(path) as f:
            return json.load(f)

    def on_epoch_end(self, epoch, logs=None):
        if epoch <= self.state["last_epoch"]:  # repeated after a restart: already counted
            return
        if logs is None or self.monitor not in logs:
            raise ValueError(
                f"KeepBest monitors {self.monitor!r}, which the epoch did not log (is there "
                f"validation data?). Logged: {sorted(logs or {})}"
            )
        value = float(logs[self.monitor])
        state = self.state
        os.makedirs(self.directory, exist_ok=True)
        if value < state["best"]:
            tmp = self.weights_path + ".tmp.weights.h5"
            with averaged_weights(self.model):  # the weights validated: θ̄ under Polyak averaging
                self.model.save_weights(tmp)
            os.replace(tmp, self.weights_path)
            state.update(best=value, best_epoch=epoch, wait=0)
        else:
            state["wait"] += 1
        state["last_epoch"] = epoch
        if self.patience is not None and state["wait"] >= self.patience:
            state["stopped"] = True
            self.model.stop_training = True
        write_json(self.state_path, state)

    def restore(self, model) -> int | None:
        """Loads the best weights into `model`; returns the best epoch (None if none was saved)."""
        if self.state["best_epoch"] is None:
            return None
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None and not optimizer.built:  # a run that trained nothing this time
            optimizer.build(model.trainable_variables)
        model.load_weights(os.path.join(self.source, "best.weights.h5"))
        return self.state["best_epoch"]
