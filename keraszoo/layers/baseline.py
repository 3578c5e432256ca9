"""The REINFORCE baseline b of the score-function estimator (Williams 1992), as a layer.

    ∇_φ E_q[f(z)] ≈ (f(z) − b) ∇_φ log q_φ(z|x)

    "none"            b = 0
    "moving_average"  b_t = debiased EMA of the global-batch means of f over the steps before t,
                      read before step t's update; b_1 = 0 (no earlier step)
    "rloo"            b_k = mean of the other K − 1 samples of the same x (Kool et al. 2019)

The moving average is taken over the *global* batch (all-reduced across tf.distribute
replicas), so every replica, and a 1-replica run on the same global batch, uses and stores the
same baseline. b never depends on the sample it multiplies (the moving average of step t is
read before step t's samples enter it; the RLOO b_k leaves sample k out), so E[b ∇ log q(z)] =
b E[∇ log q(z)] = 0 and the estimator stays unbiased. (A baseline equal to the current mean of
n signals would hold f(z_k) with weight 1/n, and E[f(z_k) ∇ log q(z_k)] = ∇ E[f]: the estimate
would shrink by the factor 1 − 1/n.)
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keraszoo._checks import check_one_of
from keraszoo.estimators import BASELINES, leave_one_out_baseline
from keraszoo.layers.moving_average import MovingAverage


@keras.saving.register_keras_serializable(package="keraszoo")
class ScoreFunctionBaseline(keras.layers.Layer):
    """Computes b for a learning signal f of shape [K, batch].

    Args:
        kind: "none", "moving_average" or "rloo" (needs K ≥ 2 samples per example).
        decay: γ of the moving average.

    Call arguments:
        signal: f(z) per sample, [K, batch].
        training: the moving average updates only when True.

    Returns:
        b, broadcastable to `signal`, with no gradient.
    """

    def __init__(self, kind: str = "none", decay: float = 0.99, **kwargs):
        kwargs.setdefault("dtype", "float32")  # float32 arithmetic whatever the global policy
        super().__init__(**kwargs)
        check_one_of("baseline", kind, BASELINES)
        self.kind, self.decay = kind, float(decay)
        if not 0.0 < decay < 1.0:
            raise ValueError(f"Expected `baseline_decay` in (0, 1). Received: baseline_decay={decay!r}")
        self.average = MovingAverage(decay, debias=True, name="average") if kind == "moving_average" else None
        self.built = True  # all state is created above

    def call(self, signal, training=False):
        if self.kind == "rloo":
            return tf.stop_gradient(leave_one_out_baseline(signal, axis=0))
        if self.kind == "none":
            return tf.zeros_like(signal)
        batch_mean = tf.reduce_mean(signal)
        ctx = tf.distribute.get_replica_context()
        if ctx is not None and ctx.num_replicas_in_sync > 1:
            batch_mean = ctx.all_reduce(tf.distribute.ReduceOp.MEAN, batch_mean)
        # Read before this step's update: b depends only on earlier steps' samples (0 at the first).
        value = tf.identity(self.average.value())
        if training:
            self.average.update(batch_mean)
        return tf.stop_gradient(value)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "decay": self.decay}
