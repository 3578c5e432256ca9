"""`FusedAdam`: Keras's Adam with TensorFlow's fused update kernel.

Keras 3's `Adam.update_step` writes the update as about a dozen elementwise ops per variable
(two moment updates, a square root, a division, three assignments). On a CPU with small batches
they cost about as much as the model's matmuls (benchmarks/profile_step.py: ~40 % of a step's
busy time for the 784-512-512-2×50 VAE at batch 128). `ResourceApplyAdam` does the same update in
one pass over each variable:

    lr_t = lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ),  m ← β₁m + (1 − β₁)g,  v ← β₂v + (1 − β₂)g²,
    θ ← θ − lr_t·m/(√v + ε)

which is Keras's formula (Kingma & Ba 2015, Algorithm 1 with ε outside the square root, "ε̂").
AMSGrad and sparse (IndexedSlices) gradients use Keras's own update.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def _handle(variable):
    return (variable.value if isinstance(variable, keras.Variable) else variable).handle


@keras.saving.register_keras_serializable(package="keraszoo")
class FusedAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` (same arguments and state) with a fused dense update."""

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        index = self._get_variable_index(variable)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable),
            m=_handle(self._momentums[index]),
            v=_handle(self._velocities[index]),
            beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
        )
