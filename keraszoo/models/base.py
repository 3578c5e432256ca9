"""The base VAE: encoder → q_φ(z|x) → z → decoder → p_θ(x|z), trained with `model.fit`.

A family (Gaussian, and later discrete families) subclasses `VAE` and supplies four hooks:
`num_posterior_params`, `posterior`, `prior` and `sample_posterior`, plus `encode_outputs`
for its `encode` endpoint. Everything else lives here once: the ELBO and its terms, the
Keras training integration, the importance-weighted likelihood estimate, sampling and the
serving endpoints.

Training integration (STACK.md): the objective is registered with `add_loss`, which Keras
scales by 1/num_replicas under tf.distribute, so gradients summed across replicas are the
gradients of the global-batch mean. Metrics are `keras.metrics.Mean` trackers, which
all-reduce across replicas.
"""

from __future__ import annotations

import warnings

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from keraszoo._checks import check_one_of, check_positive
from keraszoo.distributions import analytic_kl, get_likelihood, monte_carlo_kl
from keraszoo.estimators import BASELINES, ESTIMATORS, leave_one_out_baseline, score_function_surrogate
from keraszoo.layers import build_decoder, build_encoder, normalize_backbone
from keraszoo.losses import combine_log_mean_exp
from keraszoo.random import as_seed

tfd = tfp.distributions

METRIC_NAMES = ("neg_elbo", "recon_nll", "kl")


def check_batch(argument: str, value: tf.Tensor, shape: tuple[int, ...]) -> tf.Tensor:
    """Returns `value` if it is a batch of `shape`, else raises a ValueError naming the argument."""
    if tuple(value.shape[1:]) != tuple(shape):
        raise ValueError(
            f"Expected `{argument}` of shape (batch,) + {tuple(shape)}. "
            f"Received: {argument}.shape={tuple(value.shape)}"
        )
    return value


class VAE(keras.Model):
    """Base class of every zoo VAE.

    Args:
        data_shape: shape of one example, e.g. `(28, 28, 1)`.
        latent_dim: number of latent dimensions.
        encoder: backbone spec for the encoder (`"mlp"`, `"conv"` or a dict, see
            `keraszoo.layers.backbones`).
        decoder: backbone spec for the decoder; defaults to the encoder's, mirrored.
        likelihood: `"bernoulli"` (binary x, logits), `"gaussian"`, `"l2"` or
            `"continuous_bernoulli"`, or a dict such as `{"name": "gaussian", "scale": 0.1}`.
        kl: how the KL term is estimated: `"auto"` (analytic where TFP has it, else Monte
            Carlo), `"analytic"`, `"monte_carlo"`, or a family-specific regularizer (the
            Gaussian's `"param_l2"`).
        estimator: encoder gradient, `"reparameterization"` (pathwise) or `"reinforce"` (score
            function; see `keraszoo.estimators`).
        baseline: REINFORCE baseline, `"none"`, `"moving_average"` or `"rloo"` (leave-one-out
            over `num_samples` ≥ 2 samples per example).
        num_samples: K latent samples per example in training; the ELBO estimate is their mean.
        baseline_decay: γ of the moving-average baseline.
        validate_inputs: check every batch for NaN/Inf and, for a binary likelihood, for
            values outside {0, 1}; a bad batch raises `InvalidArgumentError` with the reason.
        seed: integer seed of the model's noise stream (`None`: random).

    Call arguments:
        x: a batch of examples, shape `(batch,) + data_shape`, float in [0, 1].
        training: True in `fit`: relaxing estimators (Gumbel-softmax) sample relaxed latents and
            baselines and temperatures update; False: exact samples, so the ELBO is a true bound.

    Returns (from `call`):
        A dict of per-example tensors: `neg_elbo`, `recon_nll` (−log p(x|z)), `kl`, and the
        decoder `outputs` and latent `z` of the sample used.
    """

    registry_name = ""
    kl_choices: tuple[str, ...] = ("auto", "analytic", "monte_carlo")
    estimator_choices: tuple[str, ...] = ESTIMATORS

    def __init__(
        self,
        data_shape,
        latent_dim: int = 50,
        encoder=None,
        decoder=None,
        likelihood="bernoulli",
        kl: str = "auto",
        estimator: str = "reparameterization",
        baseline: str = "none",
        num_samples: int = 1,
        baseline_decay: float = 0.99,
        validate_inputs: bool = True,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.data_shape = tuple(int(d) for d in data_shape)
        for d in self.data_shape:
            check_positive("data_shape", d, integer=True)
        check_positive("latent_dim", latent_dim, integer=True)
        check_one_of("kl", kl, self.kl_choices)
        check_one_of("estimator", estimator, self.estimator_choices)
        check_one_of("baseline", baseline, BASELINES)
        check_positive("num_samples", num_samples, integer=True)
        if baseline != "none" and estimator != "reinforce":
            raise ValueError(
                f"A baseline only applies to estimator='reinforce'. Received: baseline={baseline!r}, "
                f"estimator={estimator!r}"
            )
        if baseline == "rloo" and num_samples < 2:
            raise ValueError(
                f"The leave-one-out baseline needs `num_samples` >= 2. Received: num_samples={num_samples}"
            )
        if not 0.0 < baseline_decay < 1.0:
            raise ValueError(
                f"Expected `baseline_decay` in (0, 1). Received: baseline_decay={baseline_decay!r}"
            )
        self.estimator, self.baseline, self.num_samples = estimator, baseline, num_samples
        self.baseline_decay = float(baseline_decay)
        self.latent_dim = latent_dim
        self.encoder_spec = normalize_backbone(encoder)
        self.decoder_spec = normalize_backbone(decoder if decoder is not None else self.encoder_spec)
        self.likelihood = get_likelihood(likelihood)
        self.kl = kl
        self.validate_inputs = bool(validate_inputs)
        self.seed = seed
        self.encoder = build_encoder(self.encoder_spec, self.data_shape, self.num_posterior_params())
        self.decoder = build_decoder(self.decoder_spec, latent_dim, self.data_shape)
        self.seed_generator = keras.random.SeedGenerator(seed, name="noise")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.metric_names()}
        if baseline == "moving_average":
            # Bias-corrected EMA of the learning signal; "mean" aggregation all-reduces the
            # update under tf.distribute, so every replica holds the same baseline.
            self.baseline_ema = self.add_weight(
                shape=(), initializer="zeros", trainable=False, aggregation="mean", name="baseline_ema"
            )
            self.baseline_steps = self.add_weight(
                shape=(), initializer="zeros", trainable=False, aggregation="mean", name="baseline_steps"
            )
        self.build((None,) + self.data_shape)

    def build(self, input_shape):
        # Sub-networks are Sequential models with Input layers: already built.
        self.built = True

    # ------------------------------------------------------------------ family hooks
    def metric_names(self) -> tuple[str, ...]:
        """Per-example outputs of `forward` that are tracked as per-epoch metrics."""
        sampler = self.annealed()
        return METRIC_NAMES + ((sampler.state_name,) if sampler is not None else ())

    def annealed(self):
        """The `AnnealedSampler` whose state (τ, β) training anneals and reports, if any."""
        return None

    def training_step(self):
        """The optimizer's step (0 before `compile`): what annealing schedules are functions of."""
        optimizer = getattr(self, "optimizer", None)
        return optimizer.iterations if optimizer is not None else 0

    def importance_sample(self, q, params, seed, num_samples):
        """(decoder inputs [K, batch, ...], log p(z) − log q(z|x) [K, batch]) for the IWAE bound."""
        z = self.sample_posterior(q, params, seed, num_samples)
        return z, self.prior().log_prob(z) - q.log_prob(z)

    def num_posterior_params(self) -> int:
        """Size of the encoder output that parameterises q(z|x)."""
        raise NotImplementedError

    def posterior(self, params: tf.Tensor) -> tfd.Distribution:
        """q(z|x) from the encoder output, one event of `latent_dim` per example."""
        raise NotImplementedError

    def prior(self) -> tfd.Distribution:
        """p(z), built in `call` so that learnable priors keep learning (STACK.md)."""
        raise NotImplementedError

    def sample_posterior(
        self,
        q: tfd.Distribution,
        params: tf.Tensor,
        seed: tf.Tensor,
        num_samples: int,
        training: bool = False,
    ) -> tf.Tensor:
        """`num_samples` samples z ~ q per example, shape [K, batch, ...], reparameterized where
        the family allows it, replica-aware (keraszoo.random). `training` selects relaxed
        samples for estimators that relax discrete latents."""
        raise NotImplementedError

    def posterior_mode(self, q: tfd.Distribution, params: tf.Tensor) -> tf.Tensor:
        """A deterministic code for x (used by `reconstruct`)."""
        return q.mode()

    def encode_outputs(self, q: tfd.Distribution, params: tf.Tensor) -> dict[str, tf.Tensor]:
        """The named outputs of the `encode` endpoint."""
        raise NotImplementedError

    def uses_analytic_kl(self) -> bool:
        return self.kl == "analytic"

    def kl_terms(self, q, p, z, params) -> tuple[tf.Tensor, tf.Tensor]:
        """(true KL reported in the ELBO, regularizer used in the training objective); either
        [batch] (analytic) or [K, batch] (Monte Carlo at the samples z)."""
        kl = analytic_kl(q, p) if self.uses_analytic_kl() else monte_carlo_kl(q, p, z)
        return kl, kl

    # ------------------------------------------------------------------ the model
    def _event_ndims(self) -> int:
        return len(self.data_shape)

    def likelihood_distribution(self, outputs: tf.Tensor) -> tfd.Distribution:
        return self.likelihood.distribution(outputs, self._event_ndims())

    def decode_samples(self, z: tf.Tensor) -> tf.Tensor:
        """Decoder outputs for z of shape [K, batch, latent] → [K, batch, *data_shape]."""
        outputs = self.decoder(tf.reshape(z, [-1, self.latent_dim]))
        return tf.reshape(outputs, tf.concat([tf.shape(z)[:2], self.data_shape], axis=0))

    def forward(self, x: tf.Tensor, seed: tf.Tensor, training: bool = False) -> dict[str, tf.Tensor]:
        """ELBO terms for a batch with an explicit stateless seed (the `elbo` endpoint).

        Returns per-example `neg_elbo`, `recon_nll`, `kl` (means over the K samples), the
        training `objective` (its gradient is the chosen estimator's), the decoder `outputs`
        and latent `z` of the first sample.
        """
        x = tf.cast(x, self.compute_dtype)
        if self.validate_inputs:
            x = self.likelihood.validate(x)
        params = self.encoder(x)
        q = self.posterior(params)
        z = self.sample_posterior(q, params, as_seed(seed), self.num_samples, training)  # [K, batch, ...]
        if self.estimator == "reinforce":
            z = tf.stop_gradient(z)
        outputs = self.decode_samples(z)
        log_px = self.likelihood_distribution(outputs).log_prob(x)  # [K, batch]
        kl, regularizer = self.kl_terms(q, self.prior(), z, params)
        kl, regularizer = (tf.broadcast_to(t, tf.shape(log_px)) for t in (kl, regularizer))
        objective = -log_px + regularizer
        if self.estimator == "reinforce":
            # The learning signal of the terms whose gradient reaches φ only through z.
            signal = log_px if self.uses_analytic_kl() else log_px - kl
            objective += score_function_surrogate(signal, q.log_prob(z), self._baseline(signal, training))
        terms = {
            "neg_elbo": tf.reduce_mean(-log_px + kl, axis=0),
            "recon_nll": tf.reduce_mean(-log_px, axis=0),
            "kl": tf.reduce_mean(kl, axis=0),
            "objective": tf.reduce_mean(objective, axis=0),
            "outputs": outputs[0],
            "z": z[0],
        }
        sampler = self.annealed()
        if sampler is not None:
            terms[sampler.state_name] = tf.fill(
                tf.shape(terms["kl"]), tf.cast(sampler.state, terms["kl"].dtype)
            )
        return terms

    def _baseline(self, signal, training):
        if self.baseline == "rloo":
            return leave_one_out_baseline(signal, axis=0)
        if self.baseline != "moving_average":
            return 0.0
        gamma = self.baseline_decay
        # The mean of the learning signal over the *global* batch, so that every replica (and a
        # 1-replica run on the same global batch) uses and stores the same baseline.
        batch_mean = tf.reduce_mean(signal)
        ctx = tf.distribute.get_replica_context()
        if ctx is not None and ctx.num_replicas_in_sync > 1:
            batch_mean = ctx.all_reduce(tf.distribute.ReduceOp.MEAN, batch_mean)
        value = self.baseline_ema / tf.maximum(1.0 - gamma**self.baseline_steps, 1e-12)
        value = tf.where(self.baseline_steps > 0, value, batch_mean)
        if training:
            self.baseline_ema.assign(gamma * self.baseline_ema + (1.0 - gamma) * batch_mean)
            self.baseline_steps.assign_add(1.0)
        return tf.stop_gradient(value)

    def call(self, x, training=False):
        terms = self.forward(x, self.seed_generator.next(), training=bool(training))
        self.add_loss(tf.reduce_mean(terms.pop("objective")))
        return terms

    def make_train_function(self, force=False):
        if self.jit_compile and self.validate_inputs:
            warnings.warn(
                "XLA (jit_compile) drops assertion ops, so `validate_inputs=True` cannot reject "
                "NaN or non-binary batches inside the compiled train step. Validate the data in "
                "the input pipeline (keraszoo.data pipelines produce valid data), or compile "
                "with jit_compile=False.",
                stacklevel=2,
            )
        return super().make_train_function(force)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        for name, tracker in self.trackers.items():
            tracker.update_state(y_pred[name])
        return super().compute_metrics(x, y, y_pred, sample_weight)

    # ------------------------------------------------------------------ public API
    def _check_batch(self, x, argument="x"):
        return check_batch(argument, tf.convert_to_tensor(x, self.compute_dtype), self.data_shape)

    def encode(self, x) -> dict[str, tf.Tensor]:
        """Posterior parameters of q(z|x) for a batch (family-specific names)."""
        x = self._check_batch(x)
        params = self.encoder(x)
        return self.encode_outputs(self.posterior(params), params)

    def decode(self, z) -> tf.Tensor:
        """E[x | z]: pixel means (probabilities for Bernoulli) for a batch of codes."""
        return self.decode_latent(
            check_batch("z", tf.convert_to_tensor(z, self.compute_dtype), (self.latent_dim,))
        )

    def decode_latent(self, z: tf.Tensor) -> tf.Tensor:
        """E[x | z] for latent vectors z of shape [batch, ...] as the decoder sees them."""
        z = tf.reshape(tf.cast(z, self.compute_dtype), [-1, self.latent_dim])
        return self.likelihood.mean(self.decoder(z))

    def reconstruct(self, x) -> tf.Tensor:
        """E[x | z = mode of q(z|x)]: the deterministic reconstruction."""
        x = self._check_batch(x)
        params = self.encoder(x)
        return self.decode_latent(self.posterior_mode(self.posterior(params), params))

    def sample(self, n: int, seed=0) -> dict[str, tf.Tensor]:
        """`n` draws z ~ p(z) and their decoded means; the same seed gives the same samples."""
        z = self.prior().sample(n, seed=as_seed(seed))
        return {"z": z, "x_mean": self.decode_latent(z)}

    def elbo(self, x, seed=0) -> dict[str, tf.Tensor]:
        """Per-example ELBO and its terms with a stateless seed."""
        terms = self.forward(self._check_batch(x), seed)
        return {
            "elbo": -terms["neg_elbo"],
            "reconstruction_log_prob": -terms["recon_nll"],
            "kl": terms["kl"],
        }

    @tf.function(reduce_retracing=True)
    def _iw_chunk(self, x, num_samples, seed):
        """logsumexp over `num_samples` importance weights log p(x,z) − log q(z|x)."""
        params = self.encoder(x)
        q = self.posterior(params)
        z, log_prior_ratio = self.importance_sample(q, params, seed, num_samples)  # [k, batch, ...]
        log_w = self.likelihood_distribution(self.decode_samples(z)).log_prob(x) + log_prior_ratio
        return tf.reduce_logsumexp(log_w, axis=0)

    def log_likelihood(self, x, num_samples: int = 5000, chunk_size: int | None = None, seed=0) -> tf.Tensor:
        """Importance-weighted estimate L_k of log p(x) per example (Burda et al. 2016).

        Args:
            x: a batch of examples.
            num_samples: k; L_1 is the ELBO and L_k increases towards log p(x) with k.
            chunk_size: samples evaluated at once; bounds memory to about
                chunk_size × batch decoder outputs. Default: about 2^16 decoder rows.
            seed: integer seed; chunk i uses the stateless seed (seed, i).

        Returns:
            A tensor of shape (batch,) in nats.
        """
        check_positive("num_samples", num_samples, integer=True)
        x = self._check_batch(x)
        if self.validate_inputs:
            x = self.likelihood.validate(x)
        if chunk_size is None:
            chunk_size = max(1, min(num_samples, 65536 // max(1, int(x.shape[0]))))
        check_positive("chunk_size", chunk_size, integer=True)
        chunks = []
        for i, start in enumerate(range(0, num_samples, chunk_size)):
            k = min(chunk_size, num_samples - start)
            chunks.append(self._iw_chunk(x, tf.constant(k), tf.constant([int(seed), i], tf.int32)))
        return combine_log_mean_exp(chunks, num_samples)

    # ------------------------------------------------------------------ serving
    def serving_endpoints(self) -> dict:
        """name → (function, input signature) for `keraszoo.export`. Inputs and outputs are named."""
        x_spec = tf.TensorSpec((None,) + self.data_shape, tf.float32, name="x")
        seed_spec = tf.TensorSpec([], tf.int32, name="seed")
        return {
            "serving_default": (lambda x: {"x_mean": self.reconstruct(x)}, [x_spec]),
            "encode": (self.encode, [x_spec]),
            "decode": (
                lambda z: {"x_mean": self.decode(z)},
                [tf.TensorSpec([None, self.latent_dim], tf.float32, name="z")],
            ),
            "sample": (self.sample, [tf.TensorSpec([], tf.int32, name="n"), seed_spec]),
            "elbo": (self.elbo, [x_spec, seed_spec]),
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            data_shape=list(self.data_shape),
            latent_dim=self.latent_dim,
            encoder=self.encoder_spec,
            decoder=self.decoder_spec,
            likelihood=self.likelihood.get_config(),
            kl=self.kl,
            estimator=self.estimator,
            baseline=self.baseline,
            num_samples=self.num_samples,
            baseline_decay=self.baseline_decay,
            validate_inputs=self.validate_inputs,
            seed=self.seed,
        )
        return config
