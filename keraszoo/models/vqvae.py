"""VQ-VAE (van den Oord et al. 2017) with a learned autoregressive prior over codes.

    z_e = E_φ(x) [h, w, D],  k = argmin_k ‖z_e − e_k‖² per position,  z_q = z_e + sg(e_k − z_e)
    L = −log p_θ(x | z_q) + ‖sg[z_e] − e‖² + β ‖z_e − sg[e]‖²     (or EMA codebook, no 2nd term)

q(z|x) is one-hot and deterministic, so KL(q(z|x) ‖ p(z)) = −log p(z_q) and the ELBO is
log p(x|z_q) + log p(z_q), a lower bound on log p(x) since p(x) = Σ_z p(x|z) p(z) ≥ p(x|z_q) p(z_q).
The importance-weighted bound equals it for any k. While the VQ-VAE trains, p is uniform and
KL = (h·w) log M: a constant that is reported (`kl`, included in `neg_elbo`) but not optimised.
To *sample*, a small causal transformer over the h·w code sequence (raster order) is then trained
on the codes of the training set (the declared second stage, `fit_second_stage`, run by
`train_and_evaluate` when `prior_epochs` > 0); from then on p is that learned prior, so `kl` =
−log p_prior(z_q) and `neg_elbo` = −log p(x|z_q) − log p_prior(z_q) is an upper bound on the NLL
−log p(x) (the figure van den Oord et al. 2017 report is the reconstruction term alone).

Backbones (keraszoo.layers.backbones): `resnet` is the paper's encoder/decoder, for images
whose sides are divisible by 4 (codes on an (H/4, W/4) grid); `mlp` and `conv` map the image
to `num_latents` code vectors and back.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from keraszoo._checks import check_positive
from keraszoo.layers import normalize_backbone, spatial_grid
from keraszoo.layers.vector_quantizer import VectorQuantizer, VectorQuantizerEMA, usage_perplexity
from keraszoo.models.base import OptimizerBuiltFirst, ZooModel, check_batch
from keraszoo.models.registry import register_model
from keraszoo.optimizers import FusedAdam
from keraszoo.random import as_seed


class CodeUsage(keras.metrics.Metric):
    """Fraction of codes used at least once since the last reset (per epoch in `fit`)."""

    def __init__(self, num_codes: int, name="codes_used", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_codes = num_codes
        self.counts = self.add_variable(
            shape=(num_codes,), initializer="zeros", aggregation="sum", name="counts"
        )

    def update_state(self, indices):
        flat = tf.reshape(tf.cast(indices, tf.int32), [-1])
        self.counts.assign_add(
            tf.math.bincount(flat, minlength=self.num_codes, maxlength=self.num_codes, dtype=self.dtype)
        )

    def used(self):
        return tf.reduce_sum(tf.cast(self.counts > 0, self.dtype))

    def result(self):
        return self.used() / self.num_codes


class CodePerplexity(CodeUsage):
    """exp(entropy) of the code usage pooled since the last reset (per epoch in `fit`): the counts
    of every batch and replica are summed first, so the figure is the epoch's, not an average of
    per-batch perplexities (which is smaller, and depends on the batch size and replica count)."""

    def __init__(self, num_codes: int, name="perplexity", **kwargs):
        super().__init__(num_codes, name=name, **kwargs)

    def result(self):
        return usage_perplexity(self.counts / tf.maximum(tf.reduce_sum(self.counts), 1.0))


class DeadCodes(CodeUsage):
    """Number of codes never used since the last reset."""

    def __init__(self, num_codes: int, name="dead_codes", **kwargs):
        super().__init__(num_codes, name=name, **kwargs)

    def result(self):
        return self.num_codes - self.used()


@keras.saving.register_keras_serializable(package="keraszoo")
class CodePrior(OptimizerBuiltFirst):
    """A small causal transformer p(k_1..k_L) = Π_t p(k_t | k_<t) over code indices (raster order)."""

    def __init__(
        self, num_codes: int, length: int, dim: int = 128, heads: int = 4, layers: int = 2, **kwargs
    ):
        kwargs.setdefault("dtype", "float32")  # its log-probabilities are the VQ-VAE KL terms
        super().__init__(**kwargs)
        self.num_codes, self.length, self.dim = num_codes, length, dim
        self.heads, self.num_layers = heads, layers
        self.embed = keras.layers.Embedding(num_codes + 1, dim)  # + a start token
        self.position = keras.layers.Embedding(length, dim)
        self.blocks = [
            (
                keras.layers.LayerNormalization(),
                keras.layers.MultiHeadAttention(heads, dim // heads),
                keras.layers.LayerNormalization(),
                keras.layers.Dense(4 * dim, activation="gelu"),
                keras.layers.Dense(dim),
            )
            for _ in range(layers)
        ]
        self.norm = keras.layers.LayerNormalization()
        self.head = keras.layers.Dense(num_codes)

    def call(self, tokens):
        """tokens [batch, T] (start token = num_codes) → logits [batch, T, num_codes] for the next code."""
        t = tf.shape(tokens)[1]
        h = self.embed(tokens) + self.position(tf.range(t))[None]
        for norm1, attention, norm2, up, down in self.blocks:
            a = norm1(h)
            h = h + attention(a, a, use_causal_mask=True)
            h = h + down(up(norm2(h)))
        return self.head(self.norm(h))

    def inputs_for(self, codes):
        """Teacher forcing: [start, k_1, …, k_{L−1}]."""
        start = tf.fill([tf.shape(codes)[0], 1], self.num_codes)
        return tf.concat([start, codes[:, :-1]], axis=1)

    def log_prob(self, codes):
        """log p(k_1..k_L) = Σ_t log p(k_t | k_<t) of code sequences [batch, L] → [batch]."""
        logits = self(self.inputs_for(codes))
        return -tf.reduce_sum(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=codes, logits=logits), axis=-1
        )

    def sample(self, n, seed):
        """`n` code sequences [n, L], drawn step by step with stateless seeds (seed, t).

        A `tf.while_loop`, so a traced graph (the export's `sample` signature) holds one step,
        not L unrolled transformer calls; eagerly it runs as the Python loop it replaces."""

        def step(t, tokens):
            logits = self(tokens)[:, -1]
            step_seed = tf.random.experimental.stateless_fold_in(seed, t)
            nxt = tf.random.stateless_categorical(logits, 1, step_seed, dtype=tf.int32)
            return t + 1, tf.concat([tokens, nxt], axis=1)

        start = tf.fill([n, 1], self.num_codes)
        _, tokens = tf.while_loop(
            lambda t, _: t < self.length,
            step,
            (tf.constant(0), start),
            shape_invariants=(tf.TensorShape([]), tf.TensorShape([start.shape[0], None])),
        )
        return tf.ensure_shape(tokens[:, 1:], [start.shape[0], self.length])

    def get_config(self):
        return {**super().get_config(), "num_codes": self.num_codes, "length": self.length, "dim": self.dim,
                "heads": self.heads, "layers": self.num_layers}  # fmt: skip


@register_model("vqvae")
@keras.saving.register_keras_serializable(package="keraszoo")
class VQVAE(ZooModel):
    """VQ-VAE with a codebook learned by gradient or by EMA, and a code prior for sampling.

    Args:
        data_shape, encoder, decoder, likelihood, validate_inputs, seed: see `ZooModel`; the
            default backbone is the paper's `"resnet"` (codes on an (H/4, W/4) grid); `"mlp"`
            and `"conv"` map the image to `num_latents` code vectors.
        num_codes: M (paper: 512).
        code_dim: D (paper: 64).
        num_latents: number of code vectors of the flattening backbones (default 16); an error
            with `resnet`, whose grid is (H/4, W/4).
        ema: EMA codebook updates (`VectorQuantizerEMA`) instead of the codebook loss.
        decay: γ of the EMA.
        commitment_cost: β (0.25).
        restart_threshold: EMA only: restart codes whose EMA count falls below this (0: off;
            see `VectorQuantizerEMA`).
        prior: options of the `CodePrior` transformer (dim, heads, layers).

    `encode` returns code `indices` [batch, *grid]; `decode` takes them; the `quantize`
    signature returns the codebook vectors the decoder sees. The model is deterministic, so
    `seed` only matters to `sample` (the code prior) and to restarts.
    """

    default_encoder = "resnet"
    encoder_head = "pre_quantization"
    second_stage = "code_prior"

    def __init__(self, data_shape, num_codes: int = 512, code_dim: int = 64, num_latents: int | None = None,
                 ema: bool = True, decay: float = 0.99, commitment_cost: float = 0.25,
                 restart_threshold: float = 0.0, prior=None, **kwargs):  # fmt: skip
        check_positive("num_codes", num_codes, integer=True)
        check_positive("code_dim", code_dim, integer=True)
        if not ema and decay != 0.99:  # it would be silently ignored
            raise ValueError(
                f"`decay` is the EMA codebook's (ema=True). Received: decay={decay!r}, ema={ema}"
            )
        if restart_threshold and not ema:
            raise ValueError(
                "Dead-code restarts need the EMA codebook (ema=True). "
                f"Received: restart_threshold={restart_threshold}, ema={ema}"
            )
        data_shape = tuple(int(d) for d in data_shape)
        encoder = normalize_backbone(kwargs.get("encoder") or self.default_encoder)
        grid = spatial_grid(encoder, data_shape)
        if grid is not None and num_latents is not None:  # it would be silently ignored
            raise ValueError(
                "The `resnet` backbone sets the code grid from the image (H/4, W/4); `num_latents` "
                f"is for the flattening backbones. Received: num_latents={num_latents!r}"
            )
        if grid is None:
            num_latents = 16 if num_latents is None else num_latents
            check_positive("num_latents", num_latents, integer=True)
        self.num_codes, self.code_dim, self.num_latents = num_codes, code_dim, num_latents
        self.grid = grid or (num_latents,)
        vq_kwargs = dict(decay=decay, restart_threshold=restart_threshold, seed=kwargs.get("seed"))
        self.quantizer = (VectorQuantizerEMA if ema else VectorQuantizer)(
            num_codes, code_dim, commitment_cost, name="quantizer", **(vq_kwargs if ema else {})
        )
        self.ema, self.decay, self.restart_threshold = bool(ema), float(decay), float(restart_threshold)
        self.commitment_cost = float(commitment_cost)
        self.prior_config = dict(prior or {})
        self.code_prior = CodePrior(num_codes, math.prod(self.grid), name="code_prior", **self.prior_config)
        self.code_prior(tf.zeros([1, 1], tf.int32))
        self.code_prior.trainable = False  # trained by `fit_second_stage`, after the VQ-VAE
        self.kl_constant = math.prod(self.grid) * math.log(num_codes)
        super().__init__(data_shape, **kwargs)
        # 1 once `fit_second_stage` has trained the prior: then p(z) is the prior, else uniform.
        self.prior_fitted = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="prior_fitted"
        )

    # ------------------------------------------------------------------ ZooModel hooks
    def encoder_output_shape(self):
        return self.grid + (self.code_dim,)

    latent_shape = encoder_output_shape  # the decoder sees code vectors on the same grid

    def decode_spec(self):
        return tf.TensorSpec((None,) + self.grid, tf.int32, name="indices")

    def metric_specs(self):
        return {
            **super().metric_specs(),
            "perplexity": (CodePerplexity(self.num_codes), "indices"),
            "codes_used": (CodeUsage(self.num_codes), "indices"),
            "dead_codes": (DeadCodes(self.num_codes), "indices"),
        }

    def forward(self, x, seed, training=False):
        out = self.quantizer(self.encoder(x), training=training)
        outputs = self.decoder(out["quantized"])
        recon_nll = -self.log_px(outputs, x)
        kl = tf.cond(
            self.prior_fitted > 0,
            lambda: -self.code_prior.log_prob(tf.reshape(out["indices"], [tf.shape(x)[0], -1])),
            lambda: tf.fill(tf.shape(recon_nll), tf.constant(self.kl_constant, recon_nll.dtype)),
        )
        return {
            "neg_elbo": recon_nll + kl,
            "recon_nll": recon_nll,
            "kl": kl,
            # The codebook and commitment losses are the quantizer's own (`add_loss`).
            "objective": recon_nll,
            "indices": out["indices"],
            "outputs": outputs,
        }

    def log_importance_weights(self, x, seed, num_samples):
        # q(z|x) is one-hot (deterministic), so every importance weight is p(x|z_q) p(z_q):
        # the importance-weighted bound equals the ELBO for every k.
        log_w = -self.forward(x, seed)["neg_elbo"]
        return tf.broadcast_to(log_w[None], tf.stack([num_samples, tf.shape(log_w)[0]]))

    @classmethod
    def example_config(cls) -> dict:
        return dict(
            data_shape=(8, 8, 1),
            num_codes=12,
            code_dim=4,
            encoder={"name": "resnet", "filters": 16, "residual_units": 8, "num_residual": 1},
            prior={"dim": 16, "heads": 2, "layers": 1},
            seed=1,
        )

    # ------------------------------------------------------------------ public API
    def _indices(self, x):
        z_e = self.encoder(self._check_batch(x))
        _, indices, _ = self.quantizer.assign(z_e)
        return tf.reshape(indices, tf.shape(z_e)[:-1])

    def encode(self, x) -> dict:
        """Code indices [batch, *grid] of the nearest codebook vectors."""
        return {"indices": self._indices(x)}

    def quantized_vectors(self, x) -> dict:
        """The codebook vectors z_q the decoder sees (the `quantize` endpoint; Keras reserves
        `Model.quantize` for weight quantization)."""
        return {"quantized": self.quantizer.lookup(self._indices(x))}

    def decode(self, indices) -> tf.Tensor:
        """E[x | codes] for integer indices [batch, *grid]."""
        indices = check_batch("indices", tf.convert_to_tensor(indices), self.grid)
        return self.likelihood.mean(self.decoder(self.quantizer.lookup(indices)))

    def reconstruct(self, x) -> tf.Tensor:
        return self.decode(self._indices(x))

    def _sample(self, n, seed) -> dict:
        """`n` code grids from the learned prior and their decoded means."""
        codes = self.code_prior.sample(n, as_seed(seed))
        indices = tf.reshape(codes, tf.concat([[n], self.grid], axis=0))
        return {"indices": indices, "x_mean": self.decode(indices)}

    def fit_second_stage(self, dataset, epochs: int, verbose: int = 1, learning_rate: float = 1e-3, fit=None):
        """Trains the code prior on the codes of `dataset` (the VQ-VAE stays fixed); from then
        on `kl` and `neg_elbo` use it as p(z)."""
        length = math.prod(self.grid)
        # The VQ-VAE is fixed, so each image is encoded once: the codes are cached and reshuffled
        # every epoch into batches of the dataset's size (encoding every epoch cost ~10x the prior).
        batch = dataset.element_spec.shape[0]
        codes = dataset.map(lambda x: tf.reshape(self.encode(x)["indices"], [-1, length])).unbatch().cache()
        codes = codes.shuffle(10_000, seed=self.seed, reshuffle_each_iteration=True)
        codes = codes.batch(batch or 64, drop_remainder=batch is not None)
        pairs = codes.map(lambda c: (self.code_prior.inputs_for(c), c))
        self.code_prior.trainable = True
        try:
            self.code_prior.compile(
                FusedAdam(learning_rate),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            )
            if fit is None:
                history = self.code_prior.fit(pairs, epochs=epochs, verbose=verbose, shuffle=False)
            else:
                history = fit(self.code_prior, pairs, epochs=epochs, verbose=verbose)
            self.prior_fitted.assign(1.0)
            return history
        finally:
            self.code_prior.trainable = False

    def serving_endpoints(self):
        x_spec = tf.TensorSpec((None,) + self.data_shape, tf.float32, name="x")
        return {**super().serving_endpoints(), "quantize": (self.quantized_vectors, [x_spec])}

    def get_config(self):
        return {
            **super().get_config(),
            "num_codes": self.num_codes,
            "code_dim": self.code_dim,
            "num_latents": self.num_latents,
            "ema": self.ema,
            "decay": self.decay,
            "commitment_cost": self.commitment_cost,
            "restart_threshold": self.restart_threshold,
            "prior": self.prior_config,
        }
