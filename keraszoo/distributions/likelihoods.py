"""Likelihoods p_θ(x|z): the decoder's output distribution, chosen by name.

Every likelihood maps the decoder's raw output (same shape as x) to a TFP distribution
whose event covers the whole example, so `log_prob(x)` is one number per example:

    bernoulli:              log p = Σ_i x_i log σ(l_i) + (1 − x_i) log σ(−l_i)   (from logits l)
    gaussian (alias l2):    log p = Σ_i log N(x_i; m_i, s²)      (fixed s; s² = 1/2 gives −‖x − m‖²)
    continuous_bernoulli:   log p = Σ_i log CB(x_i; λ = σ(l_i))  (Loaiza-Ganem & Cunningham 2019)

`log_prob(outputs, x, event_ndims)` is what the models call. For the Bernoulli it is
−[max(l, 0) − l·x + log(1 + e^(−|l|))] (the sigmoid cross-entropy's stable form), the same value
and gradient as TFP's −softplus(−l)·x − softplus(l)·(1 − x) in fewer elementwise passes over
the image (profiled: benchmarks/profile_step.py), with x broadcast over the K samples without a
copy; finite for every logit, so p ∈ {0, 1} never produces NaN.
"""

from __future__ import annotations

import math

import tensorflow as tf
import tensorflow_probability as tfp

from keraszoo._checks import check_one_of, check_positive

tfd = tfp.distributions


class Likelihood:
    """Base class. Subclasses set `name`, `binary_data` and implement `distribution`."""

    name = ""
    binary_data = False  # True: x must lie in {0, 1}

    def distribution(self, outputs: tf.Tensor, event_ndims: int) -> tfd.Distribution:
        raise NotImplementedError

    def log_prob(self, outputs: tf.Tensor, x: tf.Tensor, event_ndims: int) -> tf.Tensor:
        """log p(x | decoder outputs), summed over the last `event_ndims` axes."""
        return self.distribution(outputs, event_ndims).log_prob(x)

    def mean(self, outputs: tf.Tensor) -> tf.Tensor:
        """E[x | z] from the decoder output, the picture users look at."""
        raise NotImplementedError

    def validate(self, x: tf.Tensor) -> tf.Tensor:
        """Returns `x` after checking it is finite (and binary for a binary likelihood).

        Works eagerly and inside `tf.function`; the check costs one elementwise pass and one
        reduction per batch (x·(1 − x) = 0 holds exactly for x ∈ {0, 1} and fails for NaN and
        Inf, so one test covers both for binary data).
        """
        if not self.binary_data:
            check = tf.debugging.assert_all_finite(x, "Input data `x` contains NaN or Inf.")
        else:
            check = tf.debugging.Assert(
                tf.reduce_all(tf.equal(x * (1.0 - x), 0.0)),
                [
                    f"The `{self.name}` likelihood needs binary data x in {{0, 1}}; found other "
                    "values, NaN or Inf. Binarize the data (keraszoo.data: binarize='static' or "
                    "'dynamic') or choose likelihood='gaussian' or 'continuous_bernoulli'. min/max of x:",
                    tf.reduce_min(x),
                    tf.reduce_max(x),
                ],
                summarize=2,
            )
        with tf.control_dependencies([check]):
            return tf.identity(x)

    def outputs_for_mean(self, mean: tf.Tensor) -> tf.Tensor:
        """The decoder output whose mean is `mean` (the inverse of `mean`), used to start the
        decoder's output bias at the data's mean (`decoder_bias_init="data_mean"`)."""
        raise ValueError(
            f"The {self.name!r} likelihood has no closed-form inverse of its mean, so "
            "decoder_bias_init='data_mean' cannot set its output bias; use 'bernoulli' or 'gaussian'."
        )

    def get_config(self) -> dict:
        return {"name": self.name}


class Bernoulli(Likelihood):
    name = "bernoulli"
    binary_data = True

    def distribution(self, outputs, event_ndims):
        return tfd.Independent(tfd.Bernoulli(logits=outputs, dtype=outputs.dtype), event_ndims)

    def log_prob(self, outputs, x, event_ndims):
        x = tf.cast(x, outputs.dtype)  # [batch, ...], broadcast against outputs [K, batch, ...]
        positive = outputs >= 0  # `where`, not relu/abs: their gradient at l = 0 would be 0, not ½
        relu, neg_abs = tf.where(positive, outputs, 0.0), tf.where(positive, -outputs, outputs)
        cross_entropy = relu - outputs * x + tf.math.log1p(tf.exp(neg_abs))
        return -tf.reduce_sum(cross_entropy, axis=list(range(-event_ndims, 0)))

    def mean(self, outputs):
        return tf.sigmoid(outputs)

    def outputs_for_mean(self, mean):
        """logit(mean), with the mean clipped to [1e-3, 1 − 1e-3], so that a pixel never (always)
        on in the data starts at a finite logit (∓6.9)."""
        mean = tf.clip_by_value(tf.convert_to_tensor(mean, tf.float32), 1e-3, 1.0 - 1e-3)
        return tf.math.log(mean) - tf.math.log1p(-mean)


class Gaussian(Likelihood):
    """N(x; m, scale²) with a fixed scale. With scale² = 1/2 the log density is −‖x − m‖² + const."""

    name = "gaussian"

    def __init__(self, scale: float = 1.0):
        check_positive("scale", scale)
        self.scale = float(scale)

    def distribution(self, outputs, event_ndims):
        return tfd.Independent(tfd.Normal(outputs, tf.cast(self.scale, outputs.dtype)), event_ndims)

    def mean(self, outputs):
        return outputs

    def outputs_for_mean(self, mean):
        return tf.convert_to_tensor(mean, tf.float32)

    def get_config(self):
        return {"name": self.name, "scale": self.scale}


class ContinuousBernoulli(Likelihood):
    """The continuous Bernoulli: the properly normalised Bernoulli density for x ∈ [0, 1]."""

    name = "continuous_bernoulli"

    def distribution(self, outputs, event_ndims):
        return tfd.Independent(tfd.ContinuousBernoulli(logits=outputs), event_ndims)

    def mean(self, outputs):
        return tfd.ContinuousBernoulli(logits=outputs).mean()


_L2_SCALE = math.sqrt(0.5)  # N(x; m, ½I): log p = −‖x − m‖² − (D/2) log π

_LIKELIHOODS = {
    "bernoulli": Bernoulli,
    "gaussian": Gaussian,
    "l2": lambda scale=_L2_SCALE: Gaussian(scale),
    "continuous_bernoulli": ContinuousBernoulli,
}


def get_likelihood(spec: str | dict | Likelihood) -> Likelihood:
    """Returns a likelihood from a name (`"bernoulli"`), a config dict or an instance."""
    if isinstance(spec, Likelihood):
        return spec
    spec = {"name": spec} if isinstance(spec, str) else dict(spec)
    name = spec.pop("name", None)
    check_one_of("likelihood", name, _LIKELIHOODS)
    return _LIKELIHOODS[name](**spec)
