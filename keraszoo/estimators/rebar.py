"""REBAR (Tucker et al. 2017) and RELAX (Grathwohl et al. 2018): unbiased gradients for Bernoulli
and categorical latents with the relaxed sample as a learned control variate.

For z ~ Π_m Bern(θ_m), θ = σ(α) (α the encoder's logits), write the exact sample through its
logistic noise, u ~ U(0, 1)^M:

    z = α + log u − log(1 − u),    b = H(z) = 1[z > 0]  (an exact Bern(σ(α)) sample)

and draw a second, *conditional* logistic sample z̃ ~ p(z | b) from fresh v ~ U(0, 1): with
u' = (1 − θ) + vθ if b = 1 and u' = v(1 − θ) if b = 0 (u' is u conditioned on b), z̃ = α + logit u'.
In log space (no division by θ or 1 − θ, finite for every α and v ∈ (0, 1)):

    b = 1:  z̃ = softplus(α + log v) − log(1 − v)   (≥ 0)
    b = 0:  z̃ = log v − softplus(log(1 − v) − α)    (≤ 0)

Both z and z̃ are reparameterized in α (u, v fixed; b held fixed in z̃). For any control
variate c on the relaxed space, with f(b) = log p(x|b) (the analytic KL's gradient is taken
directly, as for REINFORCE and ARM), Tucker et al. (2017, eq. 5) and Grathwohl et al. (2018,
eq. 8) give

    ĝ = [f(b) − c(z̃)] ∇_α log q(b) + ∇_α c(z) − ∇_α c(z̃),      ∇_α log q(b) = b − σ(α)

with E[ĝ] = ∇_α E_q[f(b)] for *every* c: the first term is REINFORCE with c(z̃) as a sample-
dependent baseline, the last two remove that baseline's bias (E_z[∇c(z)] = ∇E_z[c(z)], and
E_b[ E_{z̃|b}[c(z̃)] ∇log q(b) + ∇_α E_{z̃|b}[c(z̃)] ] is the same gradient written through b).

    REBAR:  c(z) = η f(σ(z/λ)),                 η and the temperature λ (as log λ) learned
    RELAX:  c(z) = f(σ(z/λ)) + r_ψ(σ(z/λ)),     λ and a small network r_ψ learned

f(σ(z/λ)) is the decoder's log-likelihood of x at the binary-Concrete relaxation of z (Maddison
et al. 2017). r_ψ is an MLP (one tanh layer of `RELAX_HIDDEN_UNITS` units) on the relaxed sample;
its output layer starts at zero, so RELAX starts as REBAR with η = 1. Initial values: η = 1,
λ = 0.5 (the values of Tucker et al.'s code). With K = `num_samples` > 1 the estimate is the mean
of K independent ĝ (each with its own u, v).

Tuning the control variate. The control-variate parameters ω (η, log λ, ψ) are trained to
minimise the estimator's variance, Var ĝ = E[ĝ²] − (∇E f)², whose ω-gradient is ∂E[ĝ²]/∂ω since
the mean does not depend on ω (Tucker et al. 2017, §3.3; Grathwohl et al. 2018, §3.3): a single-
sample estimate of it is ∂(ĝ²)/∂ω, a second-order gradient through ĝ. The variance here is that
of the gradient in the logits, per example,

    V(ω) = (1/B) Σ_x Σ_m ĝ_{x,m}(ω)²       (ĝ averaged over the K samples)

rather than that of the gradient in the encoder weights (the papers' choice): V is a mean over
examples, so it is a per-example loss. Each step computes ∂V/∂ω inside the model's forward pass
(a nested `GradientTape`: the inner one gives ĝ, the outer one differentiates ĝ² in ω) and adds
the zero-valued term Σ_ω sg(∂V/∂ω)·ω to the training objective: the optimizer's gradient for ω is
then exactly ∂V/∂ω, the encoder gets ĝ and the decoder the gradient of log p(x|b), and nothing
else changes in `train_step`. Under tf.distribute this term goes through `add_loss` like the rest
of the objective (scaled by 1/replicas, summed across replicas), so the update of ω is ∂V/∂ω of
the *global* batch's per-example mean: the same on 1 and on N replicas for the same global batch
and seed (each replica draws its slice of the global batch's noise). It is not the variance of
the all-reduced gradient in the encoder weights, which is not a sum over examples.

Categorical latents (one-hot b over the last axis, θ = softmax(α)): the same estimator with the
Gumbel-max sample z = log θ + g, b = one_hot(argmax z), the conditional Gumbel sample z̃ | b of
`conditional_gumbel`, the Concrete relaxation softmax(z/λ) (Maddison et al. 2017; Jang et al.
2017) and ∇_α log q(b) = b − softmax(α) (Tucker et al. 2017, appendix).

Cost per training example and sample: three decoder passes (at b and at the relaxations of z and
z̃), their gradient in α, and (in training) its gradient in ω.
"""

from __future__ import annotations

import functools
import math

import keras
import tensorflow as tf

from keraszoo.estimators.estimator import Estimate, Estimator, register_estimator, zero_valued

RELAX_HIDDEN_UNITS = 32
INITIAL_ETA = 1.0
INITIAL_TEMPERATURE = 0.5


def conditional_logistic(logits: tf.Tensor, b: tf.Tensor, logistic_v: tf.Tensor) -> tf.Tensor:
    """z̃ ~ p(z | b) for z = α + Logistic(0, 1), from the logistic noise of v, L_v = logit v
    (Tucker et al. 2017, appendix): softplus(α + log v) − log(1 − v) where b = 1, and
    log v − softplus(log(1 − v) − α) where b = 0. Differentiable in α (v and b fixed)."""
    log_v = -tf.nn.softplus(-logistic_v)  # log σ(L_v)
    log_1mv = -tf.nn.softplus(logistic_v)  # log σ(−L_v) = log(1 − v)
    one = tf.nn.softplus(logits + log_v) - log_1mv
    zero = log_v - tf.nn.softplus(log_1mv - logits)
    return tf.where(b > 0.5, one, zero)


def conditional_gumbel(logits: tf.Tensor, b: tf.Tensor, gumbel_v: tf.Tensor) -> tf.Tensor:
    """z̃ ~ p(z | b) for z = log θ + Gumbel(0, 1) noise over the last axis, θ = softmax(α), b one-hot
    (Tucker et al. 2017, appendix), from the Gumbel noise of v, g = −log(−log v):

        z̃_b = g_b,    z̃_k = −log(−log v_k / θ_k − log v_b) = −logaddexp(−g_k − log θ_k, −g_b)  (k ≠ b)

    (the maximum of the Gumbels is Gumbel(log Σθ = 0) at g_b, and each other coordinate is its
    Gumbel conditioned to lie below it). Differentiable in α (v and b fixed)."""
    log_theta = tf.nn.log_softmax(logits)
    g_b = tf.reduce_sum(b * gumbel_v, axis=-1, keepdims=True)
    others = -tf.math.reduce_logsumexp(
        tf.stack([-gumbel_v - log_theta, tf.broadcast_to(-g_b, tf.shape(gumbel_v))]), 0
    )
    return tf.where(b > 0.5, tf.broadcast_to(g_b, tf.shape(gumbel_v)), others)


@keras.saving.register_keras_serializable(package="keraszoo")
class RelaxedControlVariate(keras.layers.Layer):
    """The learned part of REBAR's and RELAX's control variate c(z) (module docstring):
    `log_temperature` (log λ), and `eta` (REBAR) or the network r_ψ (RELAX, `hidden_units` > 0).

    Call arguments: `relaxed_log_px` f(σ(z/λ)) [K, batch] and `relaxed` σ(z/λ) [K, batch, M].
    Returns c(z) [K, batch]."""

    def __init__(self, latent_dim: int, hidden_units: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim, self.hidden_units = int(latent_dim), int(hidden_units)
        self.log_temperature = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(math.log(INITIAL_TEMPERATURE)),
            name="log_temperature",
        )  # fmt: skip
        if self.hidden_units:
            self.hidden = keras.layers.Dense(
                self.hidden_units, activation="tanh", name="hidden", dtype=self.dtype
            )
            self.out = keras.layers.Dense(1, kernel_initializer="zeros", name="out", dtype=self.dtype)
            self.hidden.build((None, self.latent_dim))
            self.out.build((None, self.hidden_units))
        else:
            self.eta = self.add_weight(
                shape=(), initializer=keras.initializers.Constant(INITIAL_ETA), name="eta"
            )
        self.built = True

    @property
    def temperature(self):
        return tf.exp(tf.cast(self.log_temperature, self.compute_dtype))

    def call(self, relaxed_log_px, relaxed):
        if not self.hidden_units:
            return tf.cast(self.eta, relaxed_log_px.dtype) * relaxed_log_px
        flat = tf.reshape(relaxed, [-1, self.latent_dim])
        r = tf.reshape(self.out(self.hidden(flat)), tf.shape(relaxed_log_px))
        return relaxed_log_px + r

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim, "hidden_units": self.hidden_units}


def _per_example(t: tf.Tensor) -> tf.Tensor:
    """[batch, ...] → [batch, P]."""
    return tf.reshape(t, [tf.shape(t)[0], -1])


class _RelaxedControl(Estimator):
    """Shared estimate of REBAR and RELAX (module docstring), Bernoulli and categorical; subclasses
    size r_ψ."""

    latents = ("bernoulli", "categorical")
    hidden_units = 0

    def control_variate(self, model):
        return RelaxedControlVariate(
            model.latent_dim, self.hidden_units, name="control_variate", dtype=model.dtype_policy
        )

    # The latent kind's reparameterized noise, relaxation, conditional sample and score.
    @staticmethod
    def _categorical(model):
        return model.latent_kind == "categorical"

    def unconditional(self, model, alpha, noise):
        """z: α + L (Bernoulli) or log softmax(α) + g (categorical)."""
        return (tf.nn.log_softmax(alpha) if self._categorical(model) else alpha) + noise

    def conditional(self, model, alpha, b, noise_v):
        return (conditional_gumbel if self._categorical(model) else conditional_logistic)(alpha, b, noise_v)

    def relax(self, model, z, temperature):
        """σ(z/λ) (binary Concrete) or softmax(z/λ) (Concrete; Maddison et al. 2017)."""
        return tf.nn.softmax(z / temperature) if self._categorical(model) else tf.sigmoid(z / temperature)

    def score(self, model, alpha, b):
        """∇_α log q(b): b − σ(α) or b − softmax(α)."""
        return b - (tf.nn.softmax(alpha) if self._categorical(model) else tf.sigmoid(alpha))

    def control(self, model, x, z):
        """c(z) [K, batch] at relaxation-space samples z [K, batch, ...]."""
        cv = model.control_variate
        relaxed = self.relax(model, z, cv.temperature)
        return cv(model.log_px(model.decode_samples(relaxed), x), relaxed)

    def gradient_estimate(self, model, x, logits, noise_u, noise_v, b, f_b):
        """ĝ [K, batch, ...] (module docstring): the estimate of ∇_α E_q[f(b)] per sample, a
        differentiable function of the control-variate parameters."""
        alpha = tf.broadcast_to(tf.stop_gradient(logits), tf.shape(noise_u))
        with tf.GradientTape() as tape:
            tape.watch(alpha)
            c_z = self.control(model, x, self.unconditional(model, alpha, noise_u))
            c_z_tilde = self.control(model, x, self.conditional(model, alpha, b, noise_v))
            difference = tf.reduce_sum(c_z - c_z_tilde)
        pathwise = tape.gradient(difference, alpha)  # ∇c(z) − ∇c(z̃), per sample and example
        coefficient = tf.reshape(
            f_b - c_z_tilde, tf.concat([tf.shape(f_b), tf.ones_like(tf.shape(b)[2:])], 0)
        )
        return coefficient * self.score(model, alpha, b) + pathwise

    def estimate(self, model, x, params, seed, training=False):
        q = model.posterior(params)
        k = model.num_samples
        logits = model.latent_logits(params)  # [batch, M] or [batch, N, M]
        noise_u = model.draw_latents(params, seed, k, lambda _, noise: noise)  # [K, batch, ...]
        v_seed = tf.random.experimental.stateless_fold_in(seed, 1)
        noise_v = model.draw_latents(params, v_seed, k, lambda _, noise: noise)
        b = tf.stop_gradient(model.exact_sample(logits, noise_u))
        samples = model.evaluate_samples(x, q, params, b, training=training)  # KL warm-up weight
        f_b = tf.stop_gradient(samples.log_px)  # [K, batch]
        # −ELBO (θ-gradient at b; the analytic KL's own gradient) plus the zero-valued −Σ sg(ĝ) α.
        objective = tf.reduce_mean(-samples.log_px + samples.regularizer, axis=0)
        estimate = functools.partial(self.gradient_estimate, model, x, logits, noise_u, noise_v, b, f_b)
        if not training:  # ĝ alone (evaluation, gradient diagnostics)
            grad = tf.reduce_mean(estimate(), axis=0)  # [batch, ...]
        else:
            # The backend's variables (a Keras `Variable` is not a tape-watchable tf.Variable).
            variables = [v.value for v in model.control_variate.trainable_variables]
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(variables)
                grad = tf.reduce_mean(estimate(), axis=0)
                variance = tf.reduce_mean(tf.reduce_sum(_per_example(tf.square(grad)), axis=-1))
            # Σ_ω sg(∂V/∂ω)·ω, zero-valued: the optimizer's gradient for ω is ∂V/∂ω.
            tuning = tape.gradient(variance, variables)
            term = tf.add_n(
                [
                    tf.reduce_sum(tf.stop_gradient(g) * tf.cast(v, g.dtype))
                    for g, v in zip(tuning, variables, strict=True)
                ]
            )
            objective += zero_valued(tf.cast(term, objective.dtype))
        objective += zero_valued(-tf.reduce_sum(_per_example(tf.stop_gradient(grad) * logits), axis=-1))
        return Estimate(samples, objective)


@register_estimator("rebar")
class REBAR(_RelaxedControl):
    """REBAR (Tucker et al. 2017): c(z) = η f(σ(z/λ)), η and log λ tuned on the variance."""


@register_estimator("relax")
class RELAX(_RelaxedControl):
    """RELAX (Grathwohl et al. 2018): c(z) = f(σ(z/λ)) + r_ψ(σ(z/λ)), λ and ψ tuned on the variance."""

    hidden_units = RELAX_HIDDEN_UNITS
