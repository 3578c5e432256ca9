"""VQ-VAE (van den Oord et al. 2017; SPEC §2.4) with a learned autoregressive prior over codes.

    z_e = E_φ(x) [h, w, D],  k = argmin_k ‖z_e − e_k‖² per position,  z_q = z_e + sg(e_k − z_e)
    L = −log p_θ(x | z_q) + ‖sg[z_e] − e‖² + β ‖z_e − sg[e]‖²     (or EMA codebook, no 2nd term)

q(z|x) is one-hot and deterministic, so with a uniform prior KL = (h·w) log M: a constant that
is reported (`kl`, included in `neg_elbo`) but not optimised, and the importance-weighted bound
equals the ELBO for any k. To *sample*, a small causal transformer over the h·w code sequence
(raster order) is trained on the codes of the training set after the VQ-VAE
(`fit_prior`, run by `train_and_evaluate` when `prior_epochs` > 0).

Architectures: `conv` is the paper's encoder/decoder (two stride-2 4×4 convolutions, a 3×3
convolution and residual blocks ReLU-3×3-ReLU-1×1; the decoder mirrors it with transposed
convolutions), for images whose sides are divisible by 4; `mlp` maps flattened images to
`num_latents` code vectors and back.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from keraszoo._checks import check_one_of, check_positive
from keraszoo.distributions import get_likelihood
from keraszoo.layers.vector_quantizer import VectorQuantizer, VectorQuantizerEMA
from keraszoo.models.base import check_batch
from keraszoo.models.registry import register_model
from keraszoo.random import as_seed

METRICS = ("neg_elbo", "recon_nll", "kl", "perplexity")


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

    def reset_state(self):
        self.counts.assign(tf.zeros_like(self.counts))


class DeadCodes(CodeUsage):
    """Number of codes never used since the last reset."""

    def __init__(self, num_codes: int, name="dead_codes", **kwargs):
        super().__init__(num_codes, name=name, **kwargs)

    def result(self):
        return self.num_codes - self.used()


def _residual_stack(h, filters, residual_units, count, prefix):
    for i in range(count):
        r = keras.layers.ReLU()(h)
        r = keras.layers.Conv2D(
            residual_units, 3, padding="same", activation="relu", name=f"{prefix}_res{i}_3x3"
        )(r)
        r = keras.layers.Conv2D(filters, 1, name=f"{prefix}_res{i}_1x1")(r)
        h = keras.layers.Add()([h, r])
    return keras.layers.ReLU()(h)


def build_vq_networks(arch: dict, data_shape, code_dim):
    """(encoder x → [h, w, D] or [L, D], decoder back, latent grid shape)."""
    if arch["name"] == "conv":
        if len(data_shape) != 3 or data_shape[0] % 4 or data_shape[1] % 4:
            raise ValueError(
                "The `conv` VQ-VAE needs images (H, W, C) with H and W divisible by 4. "
                f"Received: data_shape={tuple(data_shape)}"
            )
        f, r, n = arch["filters"], arch["residual_units"], arch["num_residual"]
        x = keras.Input(data_shape)
        h = keras.layers.Conv2D(f // 2, 4, 2, padding="same", activation="relu", name="enc_down0")(x)
        h = keras.layers.Conv2D(f, 4, 2, padding="same", activation="relu", name="enc_down1")(h)
        h = keras.layers.Conv2D(f, 3, padding="same", name="enc_conv")(h)
        h = _residual_stack(h, f, r, n, "enc")
        encoder = keras.Model(x, keras.layers.Conv2D(code_dim, 1, name="pre_quantization")(h), name="encoder")
        grid = (data_shape[0] // 4, data_shape[1] // 4)
        z = keras.Input((*grid, code_dim))
        h = keras.layers.Conv2D(f, 3, padding="same", name="dec_conv")(z)
        h = _residual_stack(h, f, r, n, "dec")
        h = keras.layers.Conv2DTranspose(f // 2, 4, 2, padding="same", activation="relu", name="dec_up0")(h)
        out = keras.layers.Conv2DTranspose(data_shape[-1], 4, 2, padding="same", name="outputs")(h)
        return encoder, keras.Model(z, out, name="decoder"), grid
    units, latents = arch["hidden_units"], arch["num_latents"]
    encoder = keras.Sequential(
        [keras.Input(data_shape), keras.layers.Flatten()]
        + [keras.layers.Dense(u, activation="relu") for u in units]
        + [keras.layers.Dense(latents * code_dim), keras.layers.Reshape((latents, code_dim))],
        name="encoder",
    )
    decoder = keras.Sequential(
        [keras.Input((latents, code_dim)), keras.layers.Flatten()]
        + [keras.layers.Dense(u, activation="relu") for u in reversed(units)]
        + [keras.layers.Dense(math.prod(data_shape)), keras.layers.Reshape(data_shape)],
        name="decoder",
    )
    return encoder, decoder, (latents,)


_ARCH_DEFAULTS = {
    "conv": {"filters": 128, "residual_units": 32, "num_residual": 2},
    "mlp": {"hidden_units": [512, 256], "num_latents": 16},
}


def _normalize_arch(arch):
    arch = {"name": arch} if isinstance(arch, str) else dict(arch or {"name": "conv"})
    check_one_of("architecture", arch.get("name"), _ARCH_DEFAULTS)
    return {"name": arch["name"], **_ARCH_DEFAULTS[arch["name"]], **arch}


@keras.saving.register_keras_serializable(package="keraszoo")
class CodePrior(keras.Model):
    """A small causal transformer p(k_1..k_L) = Π_t p(k_t | k_<t) over code indices (raster order)."""

    def __init__(
        self, num_codes: int, length: int, dim: int = 128, heads: int = 4, layers: int = 2, **kwargs
    ):
        super().__init__(**kwargs)
        self.num_codes, self.length, self.dim, self.heads, self.num_layers = (
            num_codes,
            length,
            dim,
            heads,
            layers,
        )
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

    def sample(self, n, seed):
        """`n` code sequences [n, L], drawn step by step with stateless seeds (seed, t)."""
        tokens = tf.fill([n, 1], self.num_codes)
        for step in range(self.length):
            logits = self(tokens)[:, -1]
            step_seed = tf.random.experimental.stateless_fold_in(seed, step)
            nxt = tf.random.stateless_categorical(logits, 1, step_seed, dtype=tf.int32)
            tokens = tf.concat([tokens, nxt], axis=1)
        return tokens[:, 1:]

    def get_config(self):
        return {**super().get_config(), "num_codes": self.num_codes, "length": self.length, "dim": self.dim,
                "heads": self.heads, "layers": self.num_layers}  # fmt: skip


@register_model("vqvae")
@keras.saving.register_keras_serializable(package="keraszoo")
class VQVAE(keras.Model):
    """VQ-VAE with a codebook learned by gradient or by EMA, and a code prior for sampling.

    Args:
        data_shape: shape of one example.
        num_codes: M (paper: 512).
        code_dim: D (paper: 64).
        architecture: "conv" (paper) or "mlp", or a dict with their options.
        likelihood: as `keraszoo.models.base.VAE` ("bernoulli", "gaussian", "l2", ...).
        ema: EMA codebook updates (`VectorQuantizerEMA`) instead of the codebook loss.
        decay: γ of the EMA.
        commitment_cost: β (0.25).
        restart_threshold: EMA only: restart codes whose EMA count falls below this (0: off;
            see `VectorQuantizerEMA`).
        prior: options of the `CodePrior` transformer (dim, heads, layers).
        validate_inputs: check batches for NaN and (Bernoulli) non-binary values.
        seed: unused by the (deterministic) model; kept for a uniform config.
    """

    def __init__(self, data_shape, num_codes: int = 512, code_dim: int = 64, architecture=None,
                 likelihood="bernoulli", ema: bool = True, decay: float = 0.99, commitment_cost: float = 0.25,
                 restart_threshold: float = 0.0, prior=None, validate_inputs: bool = True,
                 seed: int | None = None, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.data_shape = tuple(int(d) for d in data_shape)
        check_positive("num_codes", num_codes, integer=True)
        check_positive("code_dim", code_dim, integer=True)
        self.num_codes, self.code_dim, self.ema, self.decay = num_codes, code_dim, bool(ema), float(decay)
        self.commitment_cost, self.validate_inputs, self.seed = (
            float(commitment_cost),
            bool(validate_inputs),
            seed,
        )
        self.architecture = _normalize_arch(architecture)
        self.likelihood = get_likelihood(likelihood)
        self.encoder, self.decoder, self.grid = build_vq_networks(
            self.architecture, self.data_shape, code_dim
        )
        if restart_threshold and not ema:
            raise ValueError(
                "Dead-code restarts need the EMA codebook (ema=True). "
                f"Received: restart_threshold={restart_threshold}, ema={ema}"
            )
        self.restart_threshold = float(restart_threshold)
        vq_kwargs = {"decay": decay, "restart_threshold": restart_threshold, "seed": seed} if ema else {}
        self.quantizer = (VectorQuantizerEMA if ema else VectorQuantizer)(
            num_codes, code_dim, commitment_cost, name="quantizer", **vq_kwargs
        )
        self.prior_config = dict(prior or {})
        self.code_prior = CodePrior(num_codes, math.prod(self.grid), name="code_prior", **self.prior_config)
        self.code_prior(tf.zeros([1, 1], tf.int32))
        self.code_prior.trainable = False  # trained by `fit_prior`, after the VQ-VAE
        self.trackers = {name: keras.metrics.Mean(name=name) for name in METRICS}
        self.usage, self.dead = CodeUsage(num_codes), DeadCodes(num_codes)
        self.kl_constant = math.prod(self.grid) * math.log(num_codes)
        self.built = True  # every sub-network is built with its input shape above

    registry_name = "vqvae"

    def forward(self, x, training=False):
        x = tf.cast(x, self.compute_dtype)
        if self.validate_inputs:
            x = self.likelihood.validate(x)
        out = self.quantizer(self.encoder(x), training=training)
        outputs = self.decoder(out["quantized"])
        recon_nll = -self.likelihood.distribution(outputs, len(self.data_shape)).log_prob(x)
        kl = tf.fill(tf.shape(recon_nll), tf.constant(self.kl_constant, recon_nll.dtype))
        return {
            "neg_elbo": recon_nll + kl,
            "recon_nll": recon_nll,
            "kl": kl,
            "perplexity": tf.fill(tf.shape(recon_nll), out["perplexity"]),
            "indices": out["indices"],
            "outputs": outputs,
        }

    def call(self, x, training=False):
        terms = self.forward(x, training=training)
        self.add_loss(tf.reduce_mean(terms["recon_nll"]))
        return terms

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        for name, tracker in self.trackers.items():
            tracker.update_state(y_pred[name])
        self.usage.update_state(y_pred["indices"])
        self.dead.update_state(y_pred["indices"])
        return super().compute_metrics(x, y, y_pred, sample_weight)

    # ------------------------------------------------------------------ public API
    def encode(self, x) -> dict:
        """Code indices [batch, *grid] and the pre-quantization encoder outputs."""
        z_e = self.encoder(tf.convert_to_tensor(x, self.compute_dtype))
        _, indices, _ = self.quantizer.assign(z_e)
        return {"indices": tf.reshape(indices, tf.shape(z_e)[:-1])}

    def quantized_vectors(self, x) -> dict:
        """The codebook vectors z_q the decoder sees (the `quantize` endpoint; Keras reserves
        `Model.quantize` for weight quantization)."""
        z_e = self.encoder(tf.convert_to_tensor(x, self.compute_dtype))
        _, indices, _ = self.quantizer.assign(z_e)
        return {"quantized": self.quantizer.lookup(tf.reshape(indices, tf.shape(z_e)[:-1]))}

    def decode(self, indices) -> tf.Tensor:
        """E[x | codes] for integer indices [batch, *grid]."""
        indices = check_batch("indices", tf.convert_to_tensor(indices), self.grid)
        return self.likelihood.mean(self.decoder(self.quantizer.lookup(indices)))

    def reconstruct(self, x) -> tf.Tensor:
        return self.decode(self.encode(x)["indices"])

    def sample(self, n, seed=0) -> dict:
        """`n` code grids from the learned prior and their decoded means."""
        codes = self.code_prior.sample(n, as_seed(seed))
        indices = tf.reshape(codes, tf.concat([[n], self.grid], axis=0))
        return {"indices": indices, "x_mean": self.decode(indices)}

    def elbo(self, x, seed=0) -> dict:
        terms = self.forward(x)
        return {"elbo": -terms["neg_elbo"], "reconstruction_log_prob": -terms["recon_nll"], "kl": terms["kl"]}

    def log_likelihood(self, x, num_samples: int = 1, chunk_size=None, seed=0) -> tf.Tensor:
        """The importance-weighted bound; q is one-hot, so it equals the ELBO for every k."""
        return self.elbo(x)["elbo"]

    def fit_prior(self, dataset, epochs: int, learning_rate: float = 1e-3, verbose: int = 1):
        """Trains the code prior on the codes of `dataset` (the VQ-VAE stays fixed)."""
        length = math.prod(self.grid)
        codes = dataset.map(lambda x: tf.reshape(self.encode(x)["indices"], [-1, length]))
        pairs = codes.map(lambda c: (self.code_prior.inputs_for(c), c))
        self.code_prior.trainable = True
        try:
            self.code_prior.compile(
                keras.optimizers.Adam(learning_rate),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            )
            return self.code_prior.fit(pairs, epochs=epochs, verbose=verbose)
        finally:
            self.code_prior.trainable = False

    def serving_endpoints(self):
        x_spec = tf.TensorSpec((None,) + self.data_shape, tf.float32, name="x")
        seed_spec = tf.TensorSpec([], tf.int32, name="seed")
        indices = tf.TensorSpec((None,) + self.grid, tf.int32, name="indices")
        return {
            "serving_default": (lambda x: {"x_mean": self.reconstruct(x)}, [x_spec]),
            "encode": (self.encode, [x_spec]),
            "quantize": (self.quantized_vectors, [x_spec]),
            "decode": (lambda indices: {"x_mean": self.decode(indices)}, [indices]),
            "sample": (self.sample, [tf.TensorSpec([], tf.int32, name="n"), seed_spec]),
            "elbo": (lambda x, seed: self.elbo(x, seed), [x_spec, seed_spec]),
        }

    def get_config(self):
        return {
            **super().get_config(),
            "data_shape": list(self.data_shape),
            "num_codes": self.num_codes,
            "code_dim": self.code_dim,
            "architecture": self.architecture,
            "likelihood": self.likelihood.get_config(),
            "ema": self.ema,
            "decay": self.decay,
            "commitment_cost": self.commitment_cost,
            "restart_threshold": self.restart_threshold,
            "prior": self.prior_config,
            "validate_inputs": self.validate_inputs,
            "seed": self.seed,
        }
