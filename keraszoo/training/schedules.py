"""Learning-rate schedules of the papers, as Keras `LearningRateSchedule`s of the optimizer step.

`TrainConfig.learning_rate` is a float (constant) or a dict, serialized with the config:

    {"name": "staged", "initial": 1e-3, "stages": 8, "epoch_scale": 1.0}
        Burda et al. (2016, §5): stage i = 0 … stages−1 lasts 3^i passes over the data at
        lr = initial · 10^(−i/7); 8 stages are 3280 passes. `epoch_scale` shrinks (or
        stretches) every stage by the same factor, e.g. 0.1 → 328 passes.
    {"name": "exponential", "initial": 1e-3, "decay_steps": 1000, "decay_rate": 0.9}
        lr = initial · decay_rate^⌊step / decay_steps⌋ (Jang et al. 2017's code): a staircase.
        With "staircase": False, lr = initial · decay_rate^(step / decay_steps), a smooth decay.

A schedule is a function of the optimizer's step, which checkpoints restore, so a resumed run
continues on exactly the learning rate it stopped at.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from keraszoo._checks import check_one_of, check_positive

SCHEDULES = ("staged", "exponential")


def staged_boundaries(stages: int, epoch_scale: float = 1.0) -> list[float]:
    """Epochs at which stages 1 … stages−1 start: Σ_{j<i} 3^j · epoch_scale = (3^i − 1)/2 · scale."""
    return [(3**i - 1) / 2 * epoch_scale for i in range(1, stages)]


@keras.saving.register_keras_serializable(package="keraszoo")
class StagedDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Burda et al.'s schedule: stage i lasts 3^i·`epoch_scale` epochs at `initial`·10^(−i/7).

    Args:
        initial: the learning rate of stage 0.
        steps_per_epoch: optimizer steps in one pass over the training data.
        stages: number of stages (8 in the paper: 3280 passes at epoch_scale 1).
        epoch_scale: factor on every stage's length.
    """

    def __init__(self, initial: float, steps_per_epoch: int, stages: int = 8, epoch_scale: float = 1.0):
        check_positive("initial", initial)
        check_positive("steps_per_epoch", steps_per_epoch, integer=True)
        check_positive("stages", stages, integer=True)
        check_positive("epoch_scale", epoch_scale)
        self.initial, self.steps_per_epoch = float(initial), int(steps_per_epoch)
        self.stages, self.epoch_scale = int(stages), float(epoch_scale)

    @property
    def total_epochs(self) -> int:
        """Passes over the data that the stages cover."""
        return math.ceil((3**self.stages - 1) / 2 * self.epoch_scale)

    def __call__(self, step):
        epoch = tf.cast(step, tf.float32) / self.steps_per_epoch
        boundaries = tf.constant(staged_boundaries(self.stages, self.epoch_scale) or [math.inf], tf.float32)
        stage = tf.reduce_sum(tf.cast(epoch >= boundaries, tf.float32))
        return self.initial * tf.pow(10.0, -stage / 7.0)

    def get_config(self):
        return {
            "initial": self.initial,
            "steps_per_epoch": self.steps_per_epoch,
            "stages": self.stages,
            "epoch_scale": self.epoch_scale,
        }


def check_learning_rate(spec) -> None:
    """Raises ValueError for a learning-rate spec that `make_learning_rate` would not accept."""
    make_learning_rate(spec, steps_per_epoch=1)


def make_learning_rate(spec, steps_per_epoch: int):
    """A float, or the schedule a dict spec names (see the module docstring)."""
    if isinstance(spec, int | float) and not isinstance(spec, bool):
        check_positive("learning_rate", spec)
        return float(spec)
    if not isinstance(spec, dict):
        raise ValueError(
            f"Expected `learning_rate` to be a number or a schedule dict. Received: learning_rate={spec!r}"
        )
    spec = dict(spec)
    name = spec.pop("name", None)
    check_one_of("learning_rate name", name, SCHEDULES)
    allowed = {
        "staged": {"initial", "stages", "epoch_scale"},
        "exponential": {"initial", "decay_steps", "decay_rate", "staircase"},
    }
    unknown = set(spec) - allowed[name]
    if unknown or "initial" not in spec:
        raise ValueError(
            f"The {name!r} schedule takes {sorted(allowed[name])} ('initial' required). "
            f"Received: learning_rate={ {'name': name, **spec} }"
        )
    if name == "staged":
        return StagedDecay(steps_per_epoch=steps_per_epoch, **spec)
    check_positive("initial", spec["initial"])
    check_positive("decay_steps", spec.get("decay_steps", 1000), integer=True)
    rate = spec.get("decay_rate", 0.9)
    if not 0 < rate <= 1:
        raise ValueError(f"Expected `decay_rate` in (0, 1]. Received: decay_rate={rate!r}")
    staircase = spec.get("staircase", True)
    if not isinstance(staircase, bool):
        raise ValueError(f"Expected `staircase` to be True or False. Received: staircase={staircase!r}")
    return keras.optimizers.schedules.ExponentialDecay(
        spec["initial"], spec.get("decay_steps", 1000), rate, staircase=staircase
    )
