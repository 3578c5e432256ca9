"""Vector quantization (van den Oord et al. 2017, "Neural Discrete Representation Learning").

    k(x) = argmin_k ‖E(x) − e_k‖²          per position of any leading shape [..., D]
    quantized = E + sg(e_k − E)            (straight-through: forward e_k, gradient to E)
    codebook loss    ‖sg[E(x)] − e‖²       (VectorQuantizer only; trains the codebook)
    commitment loss  β ‖E(x) − sg[e]‖²     (both; trains the encoder)

The squared norms are those of the paper's loss L = −log p(x|z_q) + ‖sg[E(x)] − e‖² + β‖E(x) − sg[e]‖²:
over the whole latent grid of one example (every position and every one of the D components), so
the two terms are in the units of the reconstruction term −log p(x|z_q), which is also a sum over
one example. The first axis of the inputs is the example axis: each loss is summed over every
other axis and averaged over it (the batch mean, like the reconstruction term).

`VectorQuantizerEMA` replaces the codebook loss by exponential moving averages with decay γ,
applied after the step's lookup (the step quantizes with the codebook it started with, as in
Sonnet's `VectorQuantizerEMA`):
    N_i ← γ N_i + (1 − γ) n_i,   m_i ← γ m_i + (1 − γ) s_i,   e_i = m_i / Ñ_i
(two `MovingAverage`s) where n_i counts the encoder outputs assigned to code i in the step and
s_i sums them, and
Ñ_i = (N_i + ε)/(Σ_j N_j + M ε) · Σ_j N_j is Laplace-smoothed so that e_i stays finite. N
starts at 1 and m at the initial codebook, so unused codes keep their vectors. Under
tf.distribute n and s are summed over all replicas before the update, so every replica ends
each step with the same codebook.

Distances use ‖x‖² − 2 x·e + ‖e‖², never materialising [positions, M, D]. Both layers compute
in float32 whatever the dtype policy, add their losses with `add_loss` (scaled correctly under
tf.distribute), and return named outputs.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keraszoo._checks import check_positive
from keraszoo.layers.moving_average import MovingAverage


def nearest_codes(flat: tf.Tensor, codebook: tf.Tensor) -> tf.Tensor:
    """Index of the nearest codebook row for each row of `flat` [N, D] (codebook [M, D])."""
    distances = (
        tf.reduce_sum(tf.square(flat), axis=1, keepdims=True)
        - 2.0 * tf.matmul(flat, codebook, transpose_b=True)
        + tf.reduce_sum(tf.square(codebook), axis=1)[None, :]
    )
    return tf.argmin(distances, axis=1, output_type=tf.int32)


def usage_perplexity(usage) -> tf.Tensor:
    """exp(entropy) of a code-usage distribution [M] (M when uniform, 1 when one code is used)."""
    usage = tf.convert_to_tensor(usage, tf.float32)
    return tf.exp(-tf.reduce_sum(tf.math.multiply_no_nan(tf.math.log(usage), usage)))


def per_example_sum(squares: tf.Tensor, inputs: tf.Tensor) -> tf.Tensor:
    """The batch mean of per-example sums of `squares` (any shape): their total over the number of
    examples, the first axis of `inputs` (one example when `inputs` is a single vector [D])."""
    examples = tf.shape(inputs)[0] if inputs.shape.rank > 1 else 1
    return tf.reduce_sum(squares) / tf.cast(examples, squares.dtype)


def perplexity(one_hot: tf.Tensor) -> tf.Tensor:
    """exp(entropy) of the average code usage of a batch of one-hot assignments [N, M]."""
    return usage_perplexity(tf.reduce_mean(one_hot, axis=0))


@keras.saving.register_keras_serializable(package="keraszoo")
class VectorQuantizer(keras.layers.Layer):
    """Nearest-neighbour quantization with a learned codebook (codebook + commitment losses).

    Args:
        num_codes: M, the codebook size (≥ 1).
        code_dim: D, the last dimension of the inputs.
        commitment_cost: β of the commitment loss (paper: 0.25).

    Call arguments:
        inputs: encoder outputs [..., D].
        training: whether losses are added (they are always returned).

    Returns:
        A dict: `quantized` [..., D] (straight-through), `indices` [...] int32, `encodings`
        one-hot [..., M], `codebook_loss` and `commitment_loss` (scalars: the batch mean over the
        first axis of the squared norms summed over the other axes) and `perplexity` (of this
        call's code usage).

    Example:

    >>> layer = VectorQuantizer(num_codes=128, code_dim=32)
    >>> out = layer(tf.zeros([8, 7, 7, 32]))     # 8 examples, a 7×7 grid of 32-d vectors
    >>> out["indices"].shape, out["commitment_loss"].shape
    (TensorShape([8, 7, 7]), TensorShape([]))
    """

    def __init__(self, num_codes: int, code_dim: int, commitment_cost: float = 0.25, **kwargs):
        kwargs["dtype"] = "float32"  # quantizer arithmetic stays in float32 under mixed precision
        super().__init__(**kwargs)
        check_positive("num_codes", num_codes, integer=True)
        check_positive("code_dim", code_dim, integer=True)
        if not commitment_cost >= 0:
            raise ValueError(
                f"Expected `commitment_cost` >= 0. Received: commitment_cost={commitment_cost!r}"
            )
        self.num_codes, self.code_dim, self.commitment_cost = num_codes, code_dim, float(commitment_cost)
        self.codebook = self.add_weight(
            shape=(num_codes, code_dim),
            initializer=keras.initializers.VarianceScaling(distribution="uniform"),
            trainable=self.learns_codebook_by_gradient,
            name="codebook",
        )
        self.built = True  # all state is created here (and in subclasses' __init__)

    learns_codebook_by_gradient = True

    def _check(self, inputs):
        if inputs.shape[-1] != self.code_dim:
            raise ValueError(
                f"Expected inputs with last dimension `code_dim`={self.code_dim}. "
                f"Received: inputs.shape={tuple(inputs.shape)}"
            )
        return tf.cast(inputs, tf.float32)

    def assign(self, inputs):
        """(flat inputs [N, D], indices [N], one-hot [N, M]) — no losses, no state change."""
        flat = tf.reshape(self._check(inputs), [-1, self.code_dim])
        indices = nearest_codes(flat, self.codebook)
        return flat, indices, tf.one_hot(indices, self.num_codes, dtype=flat.dtype)

    def lookup(self, indices):
        """Codebook vectors for integer indices of any shape → [..., D]."""
        return tf.gather(tf.convert_to_tensor(self.codebook), tf.cast(indices, tf.int32))

    def call(self, inputs, training=False):
        flat, indices, one_hot = self.assign(inputs)
        codes = self.lookup(indices)  # read before an EMA update (ordered: same resource)
        if training:
            self.update_codebook(flat, one_hot)
        commitment = self.commitment_cost * per_example_sum(tf.square(flat - tf.stop_gradient(codes)), inputs)
        codebook_loss = per_example_sum(tf.square(tf.stop_gradient(flat) - codes), inputs)
        self.add_loss(commitment + (codebook_loss if self.learns_codebook_by_gradient else 0.0))
        quantized = flat + tf.stop_gradient(codes - flat)  # straight-through
        shape = tf.shape(inputs)
        return {
            "quantized": tf.reshape(quantized, shape),
            "indices": tf.reshape(indices, shape[:-1]),
            "encodings": tf.reshape(one_hot, tf.concat([shape[:-1], [self.num_codes]], axis=0)),
            "codebook_loss": codebook_loss,
            "commitment_loss": commitment,
            "perplexity": perplexity(one_hot),
        }

    def update_codebook(self, flat, one_hot):
        """Gradient-trained codebook: nothing to do here."""

    def get_config(self):
        config = super().get_config()
        config.pop("dtype", None)
        return {
            **config,
            "num_codes": self.num_codes,
            "code_dim": self.code_dim,
            "commitment_cost": self.commitment_cost,
        }


@keras.saving.register_keras_serializable(package="keraszoo")
class VectorQuantizerEMA(VectorQuantizer):
    """Vector quantization whose codebook follows exponential moving averages (no codebook loss).

    Args:
        num_codes, code_dim, commitment_cost: as `VectorQuantizer`.
        decay: γ ∈ (0, 1) (e.g. 0.99).
        epsilon: Laplace smoothing ε of the counts.
        restart_threshold: dead-code restarts (beyond the paper; 0, the default, turns them off):
            after an update, every code whose EMA count N_i is below this threshold is moved to
            an encoder output of the current global batch drawn at random, with N_i = 1 and
            m_i = that output. All replicas draw from the all-gathered batch with the same
            seed, so they restart to the same vectors.
        seed: seed of the restart draws.

    The state (`codebook`, `ema_cluster_size` N, `ema_sum` m) is non-trainable and changes only
    when the layer is called with `training=True`.
    """

    learns_codebook_by_gradient = False

    def __init__(
        self,
        num_codes,
        code_dim,
        commitment_cost=0.25,
        decay: float = 0.99,
        epsilon: float = 1e-5,
        restart_threshold: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ):
        check_positive("epsilon", epsilon)  # `decay` is checked by `MovingAverage`
        if not restart_threshold >= 0:
            raise ValueError(
                f"Expected `restart_threshold` >= 0. Received: restart_threshold={restart_threshold!r}"
            )
        super().__init__(num_codes, code_dim, commitment_cost, **kwargs)
        self.decay, self.epsilon = float(decay), float(epsilon)
        self.restart_threshold, self.seed = float(restart_threshold), seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        # N = 1 and m = e at the start (not debiased): e = m/Ñ is the initial codebook, and a
        # code that is never assigned keeps its vector (N and m decay together) instead of
        # collapsing or blowing up.
        self.cluster_size = MovingAverage(decay, (num_codes,), initializer="ones", name="cluster_size")
        self.code_sum = MovingAverage(decay, (num_codes, code_dim), name="code_sum")
        self.code_sum.average.assign(self.codebook)

    @property
    def ema_cluster_size(self):
        """N, the EMA of the per-code assignment counts."""
        return self.cluster_size.average

    @property
    def ema_sum(self):
        """m, the EMA of the per-code sums of assigned encoder outputs."""
        return self.code_sum.average

    def update_codebook(self, flat, one_hot):
        counts = tf.reduce_sum(one_hot, axis=0)  # n_i
        sums = tf.matmul(one_hot, flat, transpose_a=True)  # s_i
        ctx = tf.distribute.get_replica_context()
        distributed = ctx is not None and ctx.num_replicas_in_sync > 1
        if distributed:
            counts, sums = ctx.all_reduce(tf.distribute.ReduceOp.SUM, [counts, sums])
        size = self.cluster_size.update(counts)
        total = self.code_sum.update(sums)
        if self.restart_threshold > 0:
            pool = ctx.all_gather(flat, axis=0) if distributed else flat
            pick = tf.random.stateless_uniform(
                [self.num_codes], self.seed_generator.next(), 0, tf.shape(pool)[0], dtype=tf.int32
            )
            dead = size < self.restart_threshold
            self.cluster_size.overwrite(dead, tf.ones_like(size))
            self.code_sum.overwrite(dead[:, None], tf.gather(pool, pick))
            size, total = self.ema_cluster_size, self.ema_sum
        n = tf.reduce_sum(size)
        smoothed = (size + self.epsilon) / (n + self.num_codes * self.epsilon) * n
        self.codebook.assign(total / smoothed[:, None])

    def get_config(self):
        return {
            **super().get_config(),
            "decay": self.decay,
            "epsilon": self.epsilon,
            "restart_threshold": self.restart_threshold,
            "seed": self.seed,
        }
