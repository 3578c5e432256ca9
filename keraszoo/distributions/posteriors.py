"""Posterior families q_φ(z|x) and priors p(z) for continuous latents, chosen by name.

Reparameterization as in Kingma & Welling (2014) "Auto-Encoding Variational Bayes"; implicit
reparameterization gradients from Figurnov et al. (2018) "Implicit Reparameterization Gradients".

Three ways to reparameterize z = g(φ, x, ε) with parameter-free noise ε:

    location-scale:      z = loc + scale·ε             gaussian, laplace, logistic, student_t,
                                                       uniform, triangular
    transformation:      z = exp(loc + scale·ε)         lognormal
                         implicit reparameterization    gamma, beta, dirichlet, chi2 (TFP's
                         gradients (Figurnov et al.)   implicit gradients; no explicit ε)
    inverse CDF:         z = F⁻¹(ε), ε ~ U(0, 1)        kumaraswamy, weibull, gumbel, exponential

For the explicit families q is built as a TFP `TransformedDistribution` of the noise
distribution through the bijector g, so log q(z|x) is computed by change of variables,
    log q(z|x) = log p(ε) − log |det ∂z/∂ε|,   ε = g⁻¹(z),
and the tests compare it with the closed-form density (`closed_form`) of the same family.

Every family has a matching default prior; any prior whose support contains the posterior's
support can be chosen (`check_support`). The KL is analytic where TFP registers one for the
closed-form pair, Monte Carlo otherwise.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import tensorflow as tf
import tensorflow_probability as tfp

from keraszoo._checks import check_one_of
from keraszoo.random import open_uniform

tfd, tfb = tfp.distributions, tfp.bijectors

STUDENT_T_DF = 3.0
DEFAULT_FLOOR = 1e-4
# KL(Weibull(k, λ) ‖ Weibull(1, 1)) contains λ·Γ(1 + 1/k), the posterior mean: Γ(21) ≈ 2·10¹⁸ at
# k = 0.05, where its gradient squared (Adam's second moment) overflows float32, and a random
# initialisation of a small encoder reaches k = 0.05. At k ≥ 0.1 the term is at most λ·Γ(11)
# ≈ 3.6·10⁶·λ.
WEIBULL_MIN_CONCENTRATION = 0.1
# A support is contained in these prior supports.
_CONTAINED_IN = {
    "real": {"real"},
    "positive": {"positive", "real"},
    "unit": {"unit", "positive", "real"},
    "simplex": {"simplex"},
}


def _inside_simplex(z):
    z = tf.maximum(z, 1e-6)
    return z / tf.reduce_sum(z, axis=-1, keepdims=True)


# Float32 samples of bounded families can round onto the boundary (a Kumaraswamy sample with a
# small concentration rounds to 1.0 for ~1 % of the noise), where log q(z) is infinite. These
# move them strictly inside, by less than 1e-6; unbounded supports need nothing.
_INSIDE_SUPPORT: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "real": lambda z: z,
    "positive": lambda z: tf.maximum(z, 1e-30),
    "unit": lambda z: tf.clip_by_value(z, 1e-6, 1.0 - 1e-6),
    "simplex": _inside_simplex,
}


@dataclasses.dataclass(frozen=True)
class PosteriorFamily:
    """A posterior family: parameter heads, closed form, and how to reparameterize it.

    Attributes:
        name: registry name.
        params: names of the per-dimension parameters, in encoder-output order; every one but
            `loc` is constrained to be > 0.
        support: "real", "positive", "unit" or "simplex".
        default_prior: name in `PRIORS`.
        closed_form: `closed_form(**params)` → the family's TFP distribution (batch [.., L],
            or event [L] for the simplex).
        noise_dist: `noise_dist(dtype)` → the distribution of the parameter-free noise ε (None:
            implicit reparameterization via `closed_form(...).sample`).
        bijector: `bijector(**params)` → g with z = g(ε).
        log_scale: positive parameters as exp(raw) (an encoder's log σ) instead of softplus.
        noise_quantile: the inverse CDF of a bounded, non-uniform noise distribution. Its noise
            is drawn as `noise_quantile(u)` with u uniform on the open interval (0, 1), so ε never
            lands on an edge of the support, where log q(z|x) is −∞ (a float32 draw from
            `tfd.Triangular` is exactly ±1 about once in 10⁶). Uniform noise needs none.
        floors: lower bounds of positive parameters, p = softplus(raw) + floor (default 1e-4,
            which keeps log q finite). A family sets a larger one where the KL to the prior
            grows too fast as the parameter goes to 0 for float32 (the Weibull concentration).
    """

    name: str
    params: tuple[str, ...]
    support: str
    default_prior: str
    closed_form: Callable[..., tfd.Distribution]
    noise_dist: Callable[[tf.DType], tfd.Distribution] | None = None
    bijector: Callable[..., tfb.Bijector] | None = None
    log_scale: bool = False
    noise_quantile: Callable[[tf.Tensor], tf.Tensor] | None = None
    floors: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def explicit(self) -> bool:
        return self.bijector is not None

    @property
    def vector_event(self) -> bool:
        return self.support == "simplex"

    def constrain(self, raw: tf.Tensor) -> dict[str, tf.Tensor]:
        """Encoder output [..., len(params)·L] → named parameters, each [..., L]."""
        params = dict(zip(self.params, tf.split(raw, len(self.params), axis=-1), strict=True))
        for name in self.params:
            if name == "loc":
                continue
            if self.log_scale:
                params[name] = tf.exp(params[name])
            else:  # softplus + floor keeps scales and concentrations away from 0
                params[name] = tf.nn.softplus(params[name]) + self.floors.get(name, DEFAULT_FLOOR)
        return params

    def noise(self, shape, seed, dtype) -> tf.Tensor:
        """Draws ε ~ `noise_dist`; bounded noise from u uniform on the open interval (0, 1), where
        inverse CDFs such as Gumbel's −log(−log u) are finite: low + (high − low)·u for uniform
        noise, `noise_quantile(u)` otherwise."""
        dist = self.noise_dist(dtype)
        if self.noise_quantile is not None:
            return self.noise_quantile(open_uniform(shape, seed, dtype))
        if isinstance(dist, tfd.Uniform):
            return dist.low + (dist.high - dist.low) * open_uniform(shape, seed, dtype)
        return dist.sample(shape, seed=seed)

    def _one_event(self, dist: tfd.Distribution) -> tfd.Distribution:
        return dist if self.vector_event else tfd.Independent(dist, 1)

    def closed(self, params: dict[str, tf.Tensor]) -> tfd.Distribution:
        return self._one_event(self.closed_form(**params))

    def distribution(self, params: dict[str, tf.Tensor]) -> tfd.Distribution:
        """q(z|x) with one event of L per example; log_prob by change of variables when explicit."""
        if not self.explicit:
            return self.closed(params)
        ref = next(iter(params.values()))
        base = tfd.BatchBroadcast(self.noise_dist(ref.dtype), tf.shape(ref))
        return self._one_event(tfd.TransformedDistribution(base, self.bijector(**params)))

    def sample_from_noise(self, q: tfd.Distribution, eps: tf.Tensor) -> tf.Tensor:
        """The reparameterized sample z = g(ε) of an explicit family, differentiable in its parameters.

        z is computed by q's own bijector, whose cache then hands `q.log_prob(z)` the exact ε
        instead of inverting g in floating point. The inversion can round out of the support:
        (z − loc)/half_width of a uniform posterior with |loc|/half_width up to 10⁵ fell outside
        [−1, 1] in 0.1 % of 50-dimensional samples of a compiled step, and log q(z|x) = −∞ there.

        Args:
            q: the posterior from `distribution(params)`.
            eps: noise from `noise`, broadcastable against the parameters.

        Returns:
            z, of the broadcast shape of the parameters and `eps`.
        """
        if not self.explicit:
            raise ValueError(
                f"The {self.name!r} posterior has no explicit reparameterization z = g(ε) (it uses "
                f"implicit gradients): sample it with `distribution(params).sample`. "
                f"Received: posterior={self.name!r}"
            )
        return q.distribution.bijector.forward(eps)  # q is Independent(TransformedDistribution)

    def sample_implicit(self, params: dict[str, tf.Tensor], num_samples, seed) -> tf.Tensor:
        """`num_samples` draws from `closed(params)` with TFP's implicit reparameterization
        gradients, made finite where a sample rounded onto the edge of the support
        (`_finite_sampling_gradient`), shape [num_samples, ...]."""
        guarded = {name: _finite_sampling_gradient(value) for name, value in params.items()}
        return self.closed(guarded).sample(num_samples, seed=seed)

    def keep_inside_support(self, z: tf.Tensor) -> tf.Tensor:
        """Moves samples that rounded onto the boundary of a bounded support strictly inside.

        Unit-interval samples are clipped to [1e-6, 1 − 1e-6], positive ones raised to 1e-30,
        simplex ones floored at 1e-6 and renormalized; real ones are returned unchanged.
        """
        return _INSIDE_SUPPORT[self.support](z)


def _standard(cls, *args):
    """`noise_dist` of the parameter-free distribution cls(*args)."""
    return lambda dtype: cls(*(tf.constant(a, dtype) for a in args))


def _affine(loc, scale):
    return tfb.Chain([tfb.Shift(loc), tfb.Scale(scale)])


def _affine_half_width(loc, half_width):
    return _affine(loc, half_width)


def _inverse_cdf(cdf):
    return lambda **p: tfb.Invert(cdf(**p))


class _KumaraswamyCDF(tfb.KumaraswamyCDF):
    """TFP's Kumaraswamy CDF with log(1 − x^a) computed as log(−expm1(a·log x)).

    TFP computes log1p(−x^a): for a small concentration a, x^a rounds to 1 in float32 at a
    sample kept 1e-6 below 1 (x^a ≈ 1 − a·10⁻⁶), and log q(z|x) = −∞ + ∞. a·log x keeps the
    distance from 1: at a = 0.018, log(1 − x^a) = −17.8 instead of −∞. (Not tfp.math.log1mexp:
    the branch its tf.where discards is −∞ here and makes the gradient NaN.)
    """

    def _log1m_x_pow_a(self, x):
        return tf.math.log(-tf.math.expm1(self.concentration1 * tf.math.log(x)))

    def _forward(self, x):
        return -tf.math.expm1(self.concentration0 * self._log1m_x_pow_a(x))

    def _forward_log_det_jacobian(self, x):
        a, b = tf.convert_to_tensor(self.concentration1), tf.convert_to_tensor(self.concentration0)
        return tf.math.log(a) + tf.math.log(b) + tf.math.xlogy(a - 1, x) + (b - 1) * self._log1m_x_pow_a(x)


@tf.custom_gradient
def _finite_sampling_gradient(param):
    """Identity whose gradient is zeroed where it is not finite.

    TFP's implicit reparameterization gradient dz/dα = −(∂F(z; α)/∂α)/q(z; α) is 0/0 = NaN at a
    float32 sample that rounded onto the edge of its support (a Beta sample at 0 or 1: 2.5 % of
    them at concentration 0.05), and one NaN spreads to every weight. The limit of dz/dα as z
    reaches the edge is 0 (F and ∂F/∂α vanish faster than q), so 0 is its value there.
    """
    return tf.identity(param), lambda dy: tf.where(tf.math.is_finite(dy), dy, tf.zeros_like(dy))


def _triangular_quantile(u):
    """F⁻¹(u) of the triangular distribution on (−1, 1) with mode 0: −1 + √(2u) below the mode,
    1 − √(2(1 − u)) above it."""
    return tf.where(u < 0.5, -1.0 + tf.sqrt(2.0 * u), 1.0 - tf.sqrt(2.0 * (1.0 - u)))


_NORMAL, _UNIT = _standard(tfd.Normal, 0.0, 1.0), _standard(tfd.Uniform, 0.0, 1.0)

# name, params, support, default prior, closed form, noise distribution, bijector g (z = g(ε))
FAMILIES: dict[str, PosteriorFamily] = {
    f.name: f
    for f in [
        # location-scale: z = loc + scale·ε
        PosteriorFamily("gaussian", ("loc", "scale"), "real", "normal", tfd.Normal, _NORMAL, _affine,
                        log_scale=True),
        PosteriorFamily("laplace", ("loc", "scale"), "real", "laplace", tfd.Laplace,
                        _standard(tfd.Laplace, 0.0, 1.0), _affine),
        PosteriorFamily("logistic", ("loc", "scale"), "real", "logistic", tfd.Logistic,
                        _standard(tfd.Logistic, 0.0, 1.0), _affine),
        PosteriorFamily("student_t", ("loc", "scale"), "real", "student_t",
                        functools.partial(tfd.StudentT, STUDENT_T_DF),
                        _standard(tfd.StudentT, STUDENT_T_DF, 0.0, 1.0), _affine),
        PosteriorFamily("uniform", ("loc", "half_width"), "real", "normal",
                        lambda loc, half_width: tfd.Uniform(loc - half_width, loc + half_width),
                        _standard(tfd.Uniform, -1.0, 1.0), _affine_half_width),
        PosteriorFamily("triangular", ("loc", "half_width"), "real", "normal",
                        lambda loc, half_width: tfd.Triangular(loc - half_width, loc + half_width, loc),
                        _standard(tfd.Triangular, -1.0, 1.0, 0.0), _affine_half_width,
                        noise_quantile=_triangular_quantile),
        # transformation: z = exp(loc + scale·ε)
        PosteriorFamily("lognormal", ("loc", "scale"), "positive", "lognormal", tfd.LogNormal, _NORMAL,
                        lambda loc, scale: tfb.Chain([tfb.Exp(), _affine(loc, scale)]), log_scale=True),
        # implicit reparameterization gradients
        PosteriorFamily("gamma", ("concentration", "rate"), "positive", "gamma", tfd.Gamma),
        PosteriorFamily("beta", ("concentration1", "concentration0"), "unit", "beta", tfd.Beta),
        PosteriorFamily("dirichlet", ("concentration",), "simplex", "dirichlet", tfd.Dirichlet),
        PosteriorFamily("chi2", ("df",), "positive", "chi2", tfd.Chi2),
        # inverse CDF: z = F⁻¹(ε), ε ~ U(0, 1)
        PosteriorFamily("kumaraswamy", ("concentration1", "concentration0"), "unit", "beta", tfd.Kumaraswamy,
                        _UNIT, _inverse_cdf(_KumaraswamyCDF)),
        PosteriorFamily("weibull", ("concentration", "scale"), "positive", "weibull", tfd.Weibull,
                        _UNIT, _inverse_cdf(tfb.WeibullCDF),
                        floors={"concentration": WEIBULL_MIN_CONCENTRATION}),
        PosteriorFamily("gumbel", ("loc", "scale"), "real", "gumbel", tfd.Gumbel,
                        _UNIT, _inverse_cdf(tfb.GumbelCDF)),
        # F⁻¹(u) = −log(1 − u)/rate: the Weibull inverse CDF with concentration 1.
        PosteriorFamily("exponential", ("rate",), "positive", "exponential", tfd.Exponential,
                        _UNIT, _inverse_cdf(lambda rate: tfb.WeibullCDF(1.0 / rate, tf.ones_like(rate)))),
    ]
}  # fmt: skip

# name: (support, per-dimension distribution from a dtype and the latent size)
PRIORS: dict[str, tuple[str, Callable]] = {
    "normal": ("real", lambda z: tfd.Normal(z, 1.0)),
    "laplace": ("real", lambda z: tfd.Laplace(z, 1.0)),
    "logistic": ("real", lambda z: tfd.Logistic(z, 1.0)),
    "student_t": ("real", lambda z: tfd.StudentT(STUDENT_T_DF, z, 1.0)),
    "gumbel": ("real", lambda z: tfd.Gumbel(z, 1.0)),
    "lognormal": ("positive", lambda z: tfd.LogNormal(z, 1.0)),
    "gamma": ("positive", lambda z: tfd.Gamma(z + 1.0, 1.0)),
    "exponential": ("positive", lambda z: tfd.Exponential(z + 1.0)),
    "weibull": ("positive", lambda z: tfd.Weibull(z + 1.0, 1.0)),
    "chi2": ("positive", lambda z: tfd.Chi2(z + 2.0)),
    "beta": ("unit", lambda z: tfd.Beta(z + 1.0, 1.0)),
    "kumaraswamy": ("unit", lambda z: tfd.Kumaraswamy(z + 1.0, 1.0)),
    "dirichlet": ("simplex", lambda z: tfd.Dirichlet(z + 1.0)),
}


def get_family(name: str) -> PosteriorFamily:
    check_one_of("posterior", name, FAMILIES)
    return FAMILIES[name]


def make_prior(name: str, latent_dim: int, dtype="float32") -> tfd.Distribution:
    """The prior `name` over R^L (or the simplex), one event of `latent_dim`."""
    check_one_of("prior", name, PRIORS)
    support, build = PRIORS[name]
    dist = build(tf.zeros([latent_dim], dtype))
    return dist if support == "simplex" else tfd.Independent(dist, 1)


def check_support(family: PosteriorFamily, prior: str) -> None:
    """Raises ValueError when q's support is not inside p's (the KL would be infinite)."""
    check_one_of("prior", prior, PRIORS)
    prior_support = PRIORS[prior][0]
    if prior_support not in _CONTAINED_IN[family.support]:
        compatible = sorted(n for n, (s, _) in PRIORS.items() if s in _CONTAINED_IN[family.support])
        raise ValueError(
            f"The {family.name!r} posterior has {family.support} support, the {prior!r} prior "
            f"{prior_support} support: KL(q ‖ p) would be infinite. Choose a prior from {compatible}. "
            f"Received: posterior={family.name!r}, prior={prior!r}"
        )


def has_analytic_kl(family: PosteriorFamily, prior: str, latent_dim: int = 2) -> bool:
    """Whether TFP registers a closed-form KL between the family and the prior."""
    ones = tf.ones([latent_dim])
    q = family.closed_form(**{p: ones for p in family.params})
    p = make_prior(prior, latent_dim)
    p = p if family.vector_event else p.distribution
    try:
        tfd.kl_divergence(q, p)
    except NotImplementedError:
        return False
    return True
