"""The zoo-model interface (`ZooModel`) and the base of the latent-variable VAEs (`VAE`).

Every zoo model is a `ZooModel`: training (`train_and_evaluate`), export, diagnostics and
presets talk to nothing else. It owns what all families share, once:

    data shape, likelihood and input validation      encoder / decoder from backbone specs
    `forward(x, seed, training)` → per-example terms   `call` → `add_loss(objective)` for `fit`
    per-epoch metric trackers                          `elbo`, `log_likelihood` (importance-weighted)
    `encode` / `decode` / `reconstruct` / `sample`     serving signatures, config
    an optional declared second training stage        `example_config()` for the generic tests

Seeds: every random public method takes `seed`, an integer or a shape-[2] stateless seed
(`keraszoo.random.as_seed`); the same seed gives the same result in Keras and in an exported
SavedModel. Derived seeds are made with `tf.random.experimental.stateless_fold_in`, never by
adding offsets. In `fit`, each step draws its seed from the model's `SeedGenerator`.

Training integration: the objective is registered with `add_loss`, which Keras scales by
1/num_replicas under tf.distribute, so gradients summed across replicas are the gradients of
the global-batch mean. Metrics are `keras.metrics` trackers, which all-reduce across replicas.
"""

from __future__ import annotations

import math
import warnings

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from keraszoo._checks import check_count, check_one_of, check_positive
from keraszoo.distributions import analytic_kl, get_likelihood, monte_carlo_kl
from keraszoo.estimators import OBJECTIVES, Samples, estimator_names, get_estimator
from keraszoo.layers import ScoreFunctionBaseline, build_decoder, build_encoder, normalize_backbone
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


DECODER_BIAS_INITS = ("data_mean",)  # or None


def data_mean(data, data_shape: tuple[int, ...]) -> tf.Tensor:
    """The mean example of `data` (an array, or a `tf.data.Dataset` of examples or batches of
    them), shape `data_shape`, accumulated in float64."""
    if not isinstance(data, tf.data.Dataset):
        data = tf.data.Dataset.from_tensor_slices(tf.convert_to_tensor(data))
    total, count = tf.zeros(data_shape, tf.float64), 0
    for x in data.batch(1024) if tuple(data.element_spec.shape) == tuple(data_shape) else data:
        x = tf.cast(check_batch("data", x, data_shape), tf.float64)
        total, count = total + tf.reduce_sum(x, axis=0), count + int(x.shape[0])
    if not count:
        raise ValueError("Expected `data` with at least one example. Received: an empty dataset")
    return total / count


class OptimizerBuiltFirst(keras.Model):
    """A Keras model whose first `fit` traces its train step once. Keras (TF backend, no
    distribution strategy) leaves the optimizer unbuilt until the train step is traced; the slot
    variables it then creates make tf.function trace the step a second time. Built before the
    train function is made (as Keras does under a strategy), when every layer is already built."""

    def make_train_function(self, force=False):
        if (
            self.optimizer is not None
            and not self.optimizer.built
            and all(layer.built for layer in self._flatten_layers())
        ):
            self.optimizer.build(self.trainable_variables)
        return super().make_train_function(force)


class ZooModel(OptimizerBuiltFirst):
    """Base class of every zoo model: one interface for training, export and serving.

    Args:
        data_shape: shape of one example, e.g. `(28, 28, 1)`.
        encoder: backbone spec of the encoder (`"mlp"`, `"conv"`, `"resnet"` or a dict, see
            `keraszoo.layers.backbones`).
        decoder: backbone spec of the decoder; defaults to the encoder's, mirrored.
        likelihood: `"bernoulli"` (binary x, logits), `"gaussian"`, `"l2"` or
            `"continuous_bernoulli"`, or a dict such as `{"name": "gaussian", "scale": 0.1}`.
        validate_inputs: check every batch for NaN/Inf and, for a binary likelihood, for
            values outside {0, 1}; a bad batch raises `InvalidArgumentError` with the reason.
        seed: integer seed of the model's noise stream in `fit` (`None`: random).
        backbone_dtype: dtype policy of the encoder and decoder networks, e.g.
            `"mixed_bfloat16"` (bfloat16 matmuls/convolutions, float32 weights; None: the global
            policy). Everything else (likelihoods, KLs, losses, estimators, baselines, EMA
            codebooks and VQ distances, the code prior) computes in the model's own `dtype`
            (float32 unless given, whatever the global policy).
        decoder_bias_init: `None` (Keras's zeros) or `"data_mean"`: the decoder's output bias
            starts where the decoder's mean is the training set's mean image (for a Bernoulli
            likelihood its logit), as in the IWAE authors' code (Burda et al. 2016): the first
            steps then learn structure rather than the average brightness. The training
            recipes apply it from the training split; a library user calls
            `initialize_output_bias(train_data)` before `fit`.

    Call arguments:
        x: a batch of examples, shape `(batch,) + data_shape`.
        training: True in `fit`: stateful parts update (baselines, temperatures, EMA codebooks)
            and relaxing estimators sample relaxed latents; False: exact samples, so the
            ELBO is a true bound.

    Returns (from `call`):
        A dict of per-example tensors: `neg_elbo`, `recon_nll` (−log p(x|z)), `kl`, and the
        family's own outputs (decoder `outputs`, latent `z` or code `indices`, ...).

    A family implements: `encoder_output_shape`, `latent_shape`, `forward`, `encode`,
    `decode`, `decode_spec`, `sample`, `log_importance_weights`, `example_config`, and
    `get_config` for its own arguments.
    """

    registry_name = ""
    default_encoder = "mlp"
    second_stage: str | None = None  # name of a stage trained after `fit` (`fit_second_stage`)

    def __init__(
        self,
        data_shape,
        encoder=None,
        decoder=None,
        likelihood="bernoulli",
        validate_inputs: bool = True,
        seed: int | None = None,
        backbone_dtype: str | None = None,
        decoder_bias_init: str | None = None,
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float32")  # only the backbones follow a mixed policy (`backbone_dtype`)
        super().__init__(**kwargs)
        self.data_shape = tuple(int(d) for d in data_shape)
        for d in self.data_shape:
            check_positive("data_shape", d, integer=True)
        self.likelihood = get_likelihood(likelihood)
        self.validate_inputs = bool(validate_inputs)
        self.seed = seed
        if decoder_bias_init is not None:
            check_one_of("decoder_bias_init", decoder_bias_init, DECODER_BIAS_INITS)
        self.decoder_bias_init = decoder_bias_init
        self.encoder_spec = normalize_backbone(encoder if encoder is not None else self.default_encoder)
        self.decoder_spec = normalize_backbone(decoder if decoder is not None else self.encoder_spec)
        try:
            self.backbone_dtype = keras.dtype_policies.get(backbone_dtype or keras.config.dtype_policy()).name
        except (ValueError, TypeError):
            raise ValueError(
                "Expected `backbone_dtype` to be a Keras dtype policy such as 'float32' or "
                f"'mixed_bfloat16'. Received: backbone_dtype={backbone_dtype!r}"
            ) from None
        self.encoder = build_encoder(self.encoder_spec, self.data_shape, self.encoder_output_shape(),
                                     head=self.encoder_head, dtype=self.backbone_dtype)  # fmt: skip
        self.decoder = build_decoder(
            self.decoder_spec, self.latent_shape(), self.data_shape, dtype=self.backbone_dtype
        )
        self.seed_generator = keras.random.SeedGenerator(seed, name="noise")
        specs = self.metric_specs()
        self.trackers = {name: metric for name, (metric, _) in specs.items()}
        self.metric_inputs = {name: key for name, (_, key) in specs.items()}
        self.built = True  # the sub-networks are built from their input shapes above

    encoder_head = "encoder_outputs"

    # ------------------------------------------------------------------ family hooks
    def encoder_output_shape(self) -> tuple[int, ...]:
        """Shape of the raw encoder output for one example."""
        raise NotImplementedError

    def latent_shape(self) -> tuple[int, ...]:
        """Shape of the decoder input for one example."""
        raise NotImplementedError

    def metric_names(self) -> tuple[str, ...]:
        """Per-example outputs of `forward` averaged into per-epoch metrics."""
        return METRIC_NAMES

    @property
    def selection_metric(self) -> str:
        """The logged quantity that model selection minimises on validation data (`KeepBest`):
        the −ELBO, the bound every family reports."""
        return "neg_elbo"

    def metric_specs(self) -> dict[str, tuple[keras.metrics.Metric, str]]:
        """metric name → (metric, the `forward` output it is updated with)."""
        return {name: (keras.metrics.Mean(name=name), name) for name in self.metric_names()}

    def forward(self, x: tf.Tensor, seed: tf.Tensor, training: bool = False) -> dict[str, tf.Tensor]:
        """Per-example terms of a validated batch with a stateless seed: `neg_elbo`, `recon_nll`,
        `kl`, the training `objective` (its gradient is the model's estimator), and the family's
        own outputs."""
        raise NotImplementedError

    def log_importance_weights(self, x: tf.Tensor, seed: tf.Tensor, num_samples) -> tf.Tensor:
        """log p(x, z) − log q(z|x) at `num_samples` samples z ~ q(z|x): shape [k, batch]."""
        raise NotImplementedError

    def decode_spec(self) -> tf.TensorSpec:
        """The named input of the `decode` signature."""
        raise NotImplementedError

    @classmethod
    def example_config(cls) -> dict:
        """A small config (8×8×1 binary images) that builds and trains in well under a second."""
        raise NotImplementedError

    @classmethod
    def from_preset(cls, name: str, version: int | None = None):
        """A trained model of this class by preset name (see `keraszoo.presets`)."""
        from keraszoo.presets import from_preset

        return from_preset(name, version, expected_class=None if cls is ZooModel else cls)

    def fit_second_stage(self, dataset: tf.data.Dataset, epochs: int, verbose: int = 1, fit=None):
        """Trains the declared `second_stage` on `dataset` after `fit` (the model stays fixed).
        `fit(model, dataset, epochs=, verbose=)` fits the stage's compiled Keras model (None:
        `Model.fit`; multi-worker training passes `keraszoo.training.multi_worker.fit_loop`)."""
        raise NotImplementedError(f"{type(self).__name__} declares no second training stage.")

    def log_px(self, outputs: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
        """log p(x | z) from the decoder outputs, one number per example."""
        return self.likelihood.log_prob(outputs, x, len(self.data_shape))

    def annealed(self):
        """The `AnnealedSampler` whose state (τ, β) training anneals and reports, if any."""
        return None

    def training_step(self):
        """The optimizer's step (0 before `compile`): what annealing schedules are functions of."""
        optimizer = getattr(self, "optimizer", None)
        return optimizer.iterations if optimizer is not None else 0

    @property
    def relaxes_latents(self) -> bool:
        """Whether training scores relaxed samples of discrete latents (Gumbel-softmax), so that
        `elbo(x, relaxed=True)` is a figure of its own."""
        return False

    # ------------------------------------------------------------------ Keras integration
    def prepare_inputs(self, x: tf.Tensor) -> tf.Tensor:
        """x in the compute dtype, checked for NaN/Inf and the likelihood's support."""
        x = tf.cast(x, self.compute_dtype)
        return self.likelihood.validate(x) if self.validate_inputs else x

    def call(self, x, training=False):
        sampler = self.annealed()
        if training and sampler is not None:  # τ or β follows the optimizer step, in training only
            sampler.anneal(self.training_step())
        terms = self.forward(self.prepare_inputs(x), self.seed_generator.next(), training=bool(training))
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
            tracker.update_state(y_pred[self.metric_inputs[name]])
        return super().compute_metrics(x, y, y_pred, sample_weight)

    # ------------------------------------------------------------------ public API
    def initialize_output_bias(self, data) -> tf.Tensor:
        """Sets the decoder's output bias to the likelihood's output for the mean example of
        `data` (`decoder_bias_init="data_mean"`; call it before training), and returns the mean.

        A dense output layer gets one bias per pixel; a convolutional one (conv and resnet
        backbones) one per channel, from the channel's mean over pixels. `data`: an array or a
        `tf.data.Dataset` of examples (or of batches) of `data_shape`.
        """
        mean = data_mean(data, self.data_shape)
        bias = self.decoder.get_layer("outputs").bias
        if bias.shape[0] != math.prod(self.data_shape):  # one bias per channel
            mean = tf.reduce_mean(tf.reshape(mean, [-1, self.data_shape[-1]]), axis=0)
        outputs = self.likelihood.outputs_for_mean(tf.cast(mean, tf.float32))
        bias.assign(tf.cast(tf.reshape(outputs, [-1]), bias.dtype))
        return mean

    def _check_batch(self, x, argument="x"):
        return check_batch(argument, tf.convert_to_tensor(x, self.compute_dtype), self.data_shape)

    def encode(self, x) -> dict[str, tf.Tensor]:
        """The family's named encoding of a batch (posterior parameters or code indices)."""
        raise NotImplementedError

    def decode(self, codes) -> tf.Tensor:
        """E[x | codes] for a batch of the `decode_spec` input."""
        raise NotImplementedError

    def reconstruct(self, x) -> tf.Tensor:
        """E[x | z] at a deterministic code of x: the reconstruction."""
        raise NotImplementedError

    def sample(self, n: int, seed=0) -> dict[str, tf.Tensor]:
        """`n` draws from the prior, decoded (`x_mean`); the same seed gives the same samples.

        Raises:
            ValueError: when `n` is not a non-negative integer (a tensor `n`, as in the serving
                signature, is passed through).
        """
        check_count("n", n)
        return self._sample(n, seed)

    def _sample(self, n, seed) -> dict[str, tf.Tensor]:
        """The family's `sample`, for a checked `n`."""
        raise NotImplementedError

    def elbo(self, x, seed=0, relaxed: bool = False) -> dict[str, tf.Tensor]:
        """Per-example ELBO and its terms for a stateless seed.

        With exact samples of q(z|x) (the default) the ELBO is a lower bound on log p(x). With
        `relaxed=True`, a model trained with the Gumbel-softmax estimator is scored at the
        samples its training objective uses, at its current temperature τ (left as it is):
        E_{y ~ Concrete(q, τ)}[log p(x | y)] − KL(q ‖ p). That is what Jang et al. (2017) report
        for their Gumbel-softmax rows (their code evaluates the loss it trains on); it is not a
        bound on log p(x), since the decoder sees points off the discrete latent space.
        """
        if relaxed and not self.relaxes_latents:
            relaxing = " or ".join(repr(n) for n in estimator_names() if get_estimator(n).relaxed)
            raise ValueError(
                f"`relaxed=True` scores the relaxed samples of a model trained on them (estimator "
                f"{relaxing}); this {type(self).__name__} samples its latents exactly. "
                f"Received: relaxed={relaxed!r}"
            )
        x = self.prepare_inputs(self._check_batch(x))
        terms = self.forward(x, as_seed(seed), training=bool(relaxed))
        return {
            "elbo": -terms["neg_elbo"],
            "reconstruction_log_prob": -terms["recon_nll"],
            "kl": terms["kl"],
        }

    # autograph=False: the weights are straight-line tensor code, and converting it (with every
    # function it calls) costs about a second of CPU at each process's first evaluation.
    @tf.function(reduce_retracing=True, autograph=False)
    def _log_mean_weight_chunk(self, x, num_samples, seed):
        return tf.reduce_logsumexp(self.log_importance_weights(x, seed, num_samples), axis=0)

    def log_likelihood(self, x, num_samples: int = 5000, chunk_size: int | None = None, seed=0) -> tf.Tensor:
        """Importance-weighted estimate L_k of log p(x) per example (Burda et al. 2016).

            L_k = log (1/k) Σ_i p(x, z_i) / q(z_i|x),   z_i ~ q(z|x)

        Args:
            x: a batch of examples.
            num_samples: k; L_1 is the ELBO and L_k increases towards log p(x) with k.
            chunk_size: samples evaluated at once; bounds memory to about
                chunk_size × batch decoder outputs. Default: about 2^16 decoder rows.
            seed: integer or shape-[2] seed; chunk i uses fold_in(seed, i).

        Returns:
            A tensor of shape (batch,) in nats.
        """
        check_positive("num_samples", num_samples, integer=True)
        x = self.prepare_inputs(self._check_batch(x))
        if chunk_size is None:
            chunk_size = max(1, min(num_samples, 65536 // max(1, int(x.shape[0]))))
        check_positive("chunk_size", chunk_size, integer=True)
        seed = as_seed(seed)
        chunks = []
        for i, start in enumerate(range(0, num_samples, chunk_size)):
            k = min(chunk_size, num_samples - start)
            chunk_seed = tf.random.experimental.stateless_fold_in(seed, i)
            chunks.append(self._log_mean_weight_chunk(x, tf.constant(k), chunk_seed))
        return combine_log_mean_exp(chunks, num_samples)

    # ------------------------------------------------------------------ serving
    def serving_endpoints(self) -> dict:
        """name → (function, input signature) for `keraszoo.export`. Inputs and outputs are named."""
        x_spec = tf.TensorSpec((None,) + self.data_shape, tf.float32, name="x")
        seed_spec = tf.TensorSpec([], tf.int32, name="seed")
        return {
            "serving_default": (lambda x: {"x_mean": self.reconstruct(x)}, [x_spec]),
            "encode": (self.encode, [x_spec]),
            "decode": (lambda codes: {"x_mean": self.decode(codes)}, [self.decode_spec()]),
            "sample": (self.sample, [tf.TensorSpec([], tf.int32, name="n"), seed_spec]),
            "elbo": (self.elbo, [x_spec, seed_spec]),
        }

    def get_config(self):
        return {
            **super().get_config(),
            "data_shape": list(self.data_shape),
            "encoder": self.encoder_spec,
            "decoder": self.decoder_spec,
            "likelihood": self.likelihood.get_config(),
            "validate_inputs": self.validate_inputs,
            "seed": self.seed,
            "backbone_dtype": self.backbone_dtype,
            "decoder_bias_init": self.decoder_bias_init,
        }


class VAE(ZooModel):
    """Base of the latent-variable VAEs: encoder → q_φ(z|x) → z → decoder → p_θ(x|z).

        ELBO(x) = E_q[log p_θ(x|z)] − KL(q_φ(z|x) ‖ p(z)),  estimated with K samples of z

    Args:
        data_shape, encoder, decoder, likelihood, validate_inputs, seed: see `ZooModel`.
        latent_dim: number of latent dimensions.
        kl: how the KL term is estimated: `"auto"` (analytic where TFP has it, else Monte
            Carlo), `"analytic"`, `"monte_carlo"`, or a family-specific regularizer (the
            Gaussian's `"param_l2"`).
        estimator: the encoder-gradient estimator, by name (`keraszoo.estimators.get_estimator`):
            the object that turns the K samples into the training objective. The ones that
            apply to the family's `latent_kind` are accepted (`estimator_names(latent_kind)`).
        baseline: REINFORCE baseline, `"none"`, `"moving_average"` or `"rloo"` (leave-one-out
            over `num_samples` ≥ 2 samples per example); see `ScoreFunctionBaseline`. Only for
            estimators that use one.
        num_samples: K latent samples per example in training; the ELBO estimate is their mean.
        baseline_decay: γ of the moving-average baseline.
        objective: the training loss: `"elbo"` (−ELBO averaged over the K samples) or `"iwae"`
            (the importance-weighted bound of Burda et al. 2016 over the K samples,
            L_K = log (1/K) Σ_k p(x, z_k)/q(z_k|x)), among those the estimator estimates the
            gradient of; None (default): the estimator's first ("elbo", or "iwae" for the
            estimators that only exist for it). L_1 is the single-sample ELBO with the Monte
            Carlo KL; L_K ≥ the K-sample ELBO and increases towards log p(x) with K. The
            reported `neg_elbo` is the ELBO either way.
        kl_warmup_steps: 0 (default) or N > 0: training multiplies the KL term by
            w = min(1, t/N) at optimizer step t (a linear "warm-up", Bowman et al. 2016;
            Sønderby et al. 2016), so the first steps fit the decoder before the prior pulls
            the posterior in; with the IWAE objective, log w_k = log p(x|z_k) + w (log p(z_k) −
            log q(z_k|x)). Reported figures (`neg_elbo`, `kl`, bounds) are always at w = 1; the
            training `loss` is the warmed objective until step N.

    A family sets `latent_kind` (which estimators apply) and implements: `num_posterior_params`,
    `posterior`, `prior`, `sample_posterior`, `encode_outputs`, and optionally `posterior_mode`,
    `kl_terms`, `importance_sample`, `annealed` (a sampler whose τ or β is annealed and reported).
    """

    kl_choices: tuple[str, ...] = ("auto", "analytic", "monte_carlo")
    latent_kind = "continuous"  # which estimators apply (`keraszoo.estimators.LATENT_KINDS`)
    default_estimator = "reparameterization"
    encoder_head = "posterior_params"
    supports_iwae = False  # whether log p(z) − log q(z|x) is a density ratio at the decoder's input

    def __init__(
        self,
        data_shape,
        latent_dim: int = 50,
        kl: str = "auto",
        estimator: str | None = None,
        baseline: str = "none",
        num_samples: int = 1,
        baseline_decay: float = 0.99,
        objective: str | None = None,
        kl_warmup_steps: int = 0,
        **kwargs,
    ):
        check_positive("latent_dim", latent_dim, integer=True)
        check_count("kl_warmup_steps", kl_warmup_steps)
        check_one_of("kl", kl, self.kl_choices)
        check_positive("num_samples", num_samples, integer=True)
        self.estimator = get_estimator(estimator or self.default_estimator, self.latent_kind)
        objective = self.estimator.objectives[0] if objective is None else objective
        check_one_of("objective", objective, OBJECTIVES)
        if baseline != "none" and not self.estimator.uses_baseline:
            users = " or ".join(repr(n) for n in estimator_names() if get_estimator(n).uses_baseline)
            raise ValueError(
                f"A baseline only applies to estimator={users}. Received: baseline={baseline!r}, "
                f"estimator={self.estimator.name!r}"
            )
        if baseline == "rloo" and num_samples < 2:
            raise ValueError(
                f"The leave-one-out baseline needs `num_samples` >= 2. Received: num_samples={num_samples}"
            )
        self.latent_dim, self.kl, self.num_samples, self.objective = latent_dim, kl, num_samples, objective
        self.kl_warmup_steps = int(kl_warmup_steps)
        self.estimator.check(self)
        self.baseline = ScoreFunctionBaseline(baseline, baseline_decay, name="baseline")
        super().__init__(data_shape, **kwargs)
        # Learned estimator state (REBAR/RELAX control variates), trained and saved with the model.
        self.control_variate = self.estimator.control_variate(self)

    # ------------------------------------------------------------------ family hooks
    def encoder_output_shape(self):
        return (self.num_posterior_params(),)

    def latent_shape(self):
        return (self.latent_dim,)

    def decode_spec(self):
        return tf.TensorSpec([None, self.latent_dim], tf.float32, name="z")

    @property
    def selection_metric(self) -> str:
        # An IWAE is selected on the bound it trains, −L_K (the loss), not on the ELBO: its
        # posterior is broader than an ELBO-trained one, so its ELBO can worsen while L_K improves.
        return "loss" if self.objective == "iwae" else "neg_elbo"

    def metric_names(self) -> tuple[str, ...]:
        sampler = self.annealed()
        return METRIC_NAMES + ((sampler.state_name,) if sampler is not None else ())

    def importance_sample(self, q, params, seed, num_samples):
        """(decoder inputs [K, batch, ...], log p(z) − log q(z|x) [K, batch]) for the IWAE bound."""
        z = self.sample_posterior(q, params, seed, num_samples)
        return z, self.latent_prior().log_prob(z) - q.log_prob(z)

    def num_posterior_params(self) -> int:
        """Size of the encoder output that parameterises q(z|x)."""
        raise NotImplementedError

    def posterior(self, params: tf.Tensor) -> tfd.Distribution:
        """q(z|x) from the encoder output, one event of `latent_dim` per example."""
        raise NotImplementedError

    def prior(self) -> tfd.Distribution:
        """p(z). Built on each call, never cached: a distribution built once from a variable
        captures a snapshot, and a learnable prior would silently stop learning."""
        raise NotImplementedError

    def latent_prior(self):
        """p as a density of the latent in the coordinate `sample_posterior` draws and `posterior`
        scores, for the Monte Carlo KL and the importance weights: `prior()` unless a family
        samples in another coordinate (`ContinuousVAE` with a bounded support)."""
        return self.prior()

    def sample_posterior(
        self,
        q: tfd.Distribution,
        params: tf.Tensor,
        seed: tf.Tensor,
        num_samples,
    ) -> tf.Tensor:
        """`num_samples` samples z ~ q per example, shape [K, batch, ...], reparameterized where
        the family allows it (exact, without a gradient path, for discrete latents),
        replica-aware (keraszoo.random). `decode_samples` reads them."""
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
    def decode_samples(self, z: tf.Tensor) -> tf.Tensor:
        """Decoder outputs for z of shape [K, batch, latent] → [K, batch, *data_shape]."""
        outputs = self.decoder(tf.reshape(z, [-1, self.latent_dim]))
        return tf.reshape(outputs, tf.concat([tf.shape(z)[:2], self.data_shape], axis=0))

    def kl_weight(self, training: bool):
        """The KL term's weight in the training objective: min(1, t/N) at optimizer step t while
        training with `kl_warmup_steps` N > 0, else 1."""
        if not training or not self.kl_warmup_steps:
            return 1.0
        step = tf.cast(self.training_step(), self.compute_dtype)
        return tf.minimum(1.0, step / float(self.kl_warmup_steps))

    def evaluate_samples(self, x, q, params, z, training: bool = False) -> Samples:
        """Decoder outputs, log p(x|z) and the KL terms (broadcast to [K, batch]) at samples z;
        in training the regularizer carries the KL warm-up weight (`kl_weight`)."""
        outputs = self.decode_samples(z)
        log_px = self.log_px(outputs, x)  # [K, batch]
        kl, regularizer = self.kl_terms(q, self.latent_prior(), z, params)
        kl, regularizer = (tf.broadcast_to(t, tf.shape(log_px)) for t in (kl, regularizer))
        weight = self.kl_weight(training)
        return Samples(z=z, outputs=outputs, log_px=log_px, kl=kl, regularizer=weight * regularizer,
                       kl_weight=weight)  # fmt: skip

    def forward(self, x: tf.Tensor, seed: tf.Tensor, training: bool = False) -> dict[str, tf.Tensor]:
        """Per-example `neg_elbo`, `recon_nll`, `kl` (means over the estimator's samples), the
        training `objective` (the estimator's, `keraszoo.estimators`), the decoder `outputs` and
        latent `z` of the first sample, and the annealed τ or β."""
        estimate = self.estimator.estimate(self, x, self.encoder(x), as_seed(seed), training=training)
        s = estimate.samples
        terms = {
            "neg_elbo": tf.reduce_mean(-s.log_px + s.kl, axis=0),
            "recon_nll": tf.reduce_mean(-s.log_px, axis=0),
            "kl": tf.reduce_mean(s.kl, axis=0),
            "objective": estimate.objective,
            "outputs": s.outputs[0],
            "z": s.z[0],
        }
        sampler = self.annealed()
        if sampler is not None:
            terms[sampler.state_name] = tf.fill(
                tf.shape(terms["kl"]), tf.cast(sampler.state, terms["kl"].dtype)
            )
        return terms

    def log_importance_weights(self, x, seed, num_samples):
        params = self.encoder(x)
        q = self.posterior(params)
        z, log_prior_ratio = self.importance_sample(q, params, seed, num_samples)  # [k, batch, ...]
        return self.log_px(self.decode_samples(z), x) + log_prior_ratio

    # ------------------------------------------------------------------ public API
    def encode(self, x) -> dict[str, tf.Tensor]:
        """Posterior parameters of q(z|x) for a batch (family-specific names)."""
        params = self.encoder(self._check_batch(x))
        return self.encode_outputs(self.posterior(params), params)

    def decode(self, z) -> tf.Tensor:
        """E[x | z]: pixel means (probabilities for Bernoulli) for a batch of latents."""
        return self.decode_latent(
            check_batch("z", tf.convert_to_tensor(z, self.compute_dtype), (self.latent_dim,))
        )

    def decode_latent(self, z: tf.Tensor) -> tf.Tensor:
        """E[x | z] for latent vectors z of shape [batch, ...] as the decoder sees them."""
        z = tf.reshape(tf.cast(z, self.compute_dtype), [-1, self.latent_dim])
        return self.likelihood.mean(self.decoder(z))

    def reconstruct(self, x) -> tf.Tensor:
        """E[x | z = mode of q(z|x)]: the deterministic reconstruction."""
        params = self.encoder(self._check_batch(x))
        return self.decode_latent(self.posterior_mode(self.posterior(params), params))

    def _sample(self, n, seed):
        """`n` draws z ~ p(z) and their decoded means."""
        z = self.prior().sample(n, seed=as_seed(seed))
        return {"z": z, "x_mean": self.decode_latent(z)}

    @classmethod
    def example_config(cls) -> dict:
        return dict(
            data_shape=(8, 8, 1),
            latent_dim=4,
            encoder={"name": "mlp", "hidden_units": [16]},
            likelihood="bernoulli",
            seed=1,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "latent_dim": self.latent_dim,
            "kl": self.kl,
            "estimator": self.estimator.name,
            "baseline": self.baseline.kind,
            "num_samples": self.num_samples,
            "baseline_decay": self.baseline.decay,
            "objective": self.objective,
            "kl_warmup_steps": self.kl_warmup_steps,
        }
