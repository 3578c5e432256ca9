"""Every posterior family: log q by change of variables against scipy (in the coordinate y of a
bounded latent: scipy's density of z = h(y) plus log |dz/dy|), the law of the samples (moments,
KS against scipy's CDF), Monte Carlo KLs against exact KLs from the floor of the parameters to
large values, finite non-zero gradients, and the prior/support rules."""

import decimal
import functools

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from scipy import integrate, special, stats

from keraszoo import ContinuousVAE
from keraszoo.distributions import (
    FAMILIES,
    PRIORS,
    check_support,
    get_family,
    has_analytic_kl,
    make_latent_prior,
    make_prior,
)
from keraszoo.distributions.posteriors import (
    _CONTAINED_IN,
    PRIOR_FAMILY_PARAMS,
    STUDENT_T_DF,
    _log1m_exp_neg_exp,
    _log1mexp,
    _log_gamma,
    _log_neg_log1mexp,
    _log_neg_log_sigmoid,
)
from tests.conftest import small_vae_config

L = 3
tfd = tfp.distributions


class _Kumaraswamy:
    """Closed form by hand: p(x) = a b x^(a−1) (1 − x^a)^(b−1); E[x^n] = b B(1 + n/a, b)."""

    def __init__(self, a, b):
        self.a, self.b = a, b

    def logpdf(self, x):
        a, b = self.a, self.b
        return np.log(a) + np.log(b) + (a - 1) * np.log(x) + (b - 1) * np.log1p(-(x**a))

    def cdf(self, x):
        return 1 - (1 - x**self.a) ** self.b

    def isf(self, u):
        return (1 - u ** (1 / self.b)) ** (1 / self.a)

    def _moment(self, n):
        return self.b * special.beta(1 + n / self.a, self.b)

    def mean(self):
        return self._moment(1)

    def var(self):
        return self._moment(2) - self._moment(1) ** 2


SCIPY = {
    "gaussian": lambda p: stats.norm(p["loc"], p["scale"]),
    "laplace": lambda p: stats.laplace(p["loc"], p["scale"]),
    "logistic": lambda p: stats.logistic(p["loc"], p["scale"]),
    "student_t": lambda p: stats.t(3.0, p["loc"], p["scale"]),
    "uniform": lambda p: stats.uniform(p["loc"] - p["half_width"], 2 * p["half_width"]),
    "triangular": lambda p: stats.triang(0.5, p["loc"] - p["half_width"], 2 * p["half_width"]),
    "lognormal": lambda p: stats.lognorm(p["scale"], scale=np.exp(p["loc"])),
    "gamma": lambda p: stats.gamma(p["concentration"], scale=1 / p["rate"]),
    "beta": lambda p: stats.beta(p["concentration1"], p["concentration0"]),
    "chi2": lambda p: stats.chi2(p["df"]),
    "kumaraswamy": lambda p: _Kumaraswamy(p["concentration1"], p["concentration0"]),
    "weibull": lambda p: stats.weibull_min(p["concentration"], scale=p["scale"]),
    "gumbel": lambda p: stats.gumbel_r(p["loc"], p["scale"]),
    "exponential": lambda p: stats.expon(scale=1 / p["rate"]),
}


def _raw(family):
    # Moderate parameters, different per dimension (the student_t variance needs df > 2: fixed 3).
    base = np.array([0.3, 1.2, 2.0])
    chunks = [base + 0.4 * i for i in range(len(family.params))]
    if family.log_scale:  # the scale is exp(raw): keep the lognormal's tails moderate
        chunks[1] = np.log([0.3, 0.5, 0.7])
    return np.concatenate(chunks)[None].astype("float64")


# One model per configuration and process: the tests pass the encoder output `raw` themselves and
# use the model's posterior, prior and sampler alone, which read no weights and change no state.
@functools.cache
def _model(name, dtype="float64", **kw):
    return ContinuousVAE(
        data_shape=(4,),
        latent_dim=L,
        posterior=name,
        likelihood="gaussian",
        encoder={"name": "mlp", "hidden_units": [8]},
        dtype=dtype,
        **kw,
    )


def _params(model, raw):
    return {k: v.numpy()[0] for k, v in model.posterior_params(tf.constant(raw)).items()}


def _samples(model, raw, n=40_000, seed=(1, 2)):
    """q and n samples of its coordinate y (z itself on the real line), [n, L]."""
    q = model.posterior(tf.constant(raw))
    return q, model.sample_posterior(q, tf.constant(raw), tf.constant(seed, tf.int32), n)[:, 0]


def _to_z_and_log_jacobian(support, y):
    """z = h(y) and log |dz/dy| in float64 numpy, from the definitions (module docstring of
    keraszoo.distributions.posteriors)."""
    y = np.asarray(y, "float64")
    if support == "positive":
        return np.exp(y), y
    if support == "unit":
        return special.expit(y), -np.logaddexp(0, -y) - np.logaddexp(0, y)
    return y, np.zeros_like(y)


def test_every_family_and_prior_is_covered():
    assert set(FAMILIES) == set(SCIPY) | {"dirichlet"}
    assert {FAMILIES[n].default_prior for n in FAMILIES} <= set(PRIORS)


@pytest.mark.parametrize("name", sorted(SCIPY))
def test_log_q_by_change_of_variables_matches_scipy(name):
    # log q(y) = log q_Z(h(y)) + log |h′(y)|; on the real line y = z.
    model = _model(name)
    raw = _raw(model.family)
    q, y = _samples(model, raw, n=200)
    params = _params(model, raw)
    z, log_jacobian = _to_z_and_log_jacobian(model.family.support, y.numpy())
    expected = (SCIPY[name](params).logpdf(z) + log_jacobian).sum(-1)
    np.testing.assert_allclose(q.log_prob(y).numpy(), expected, rtol=1e-6, atol=1e-8)
    assert np.all(np.isfinite(expected))


@pytest.mark.parametrize("name", sorted(n for n in SCIPY if FAMILIES[n].support != "real"))
def test_coordinate_samples_follow_the_family_cdf(name):
    # h is increasing, so P(Y ≤ y) = F_Z(h(y)): a KS test of y against scipy's CDF of z.
    model = _model(name)
    raw = _raw(model.family)
    _, y = _samples(model, raw, n=5000, seed=(4, 5))
    params = _params(model, raw)
    for j in range(L):
        one = {k: v[j] for k, v in params.items()}

        def cdf(v, one=one):
            return SCIPY[name](one).cdf(_to_z_and_log_jacobian(model.family.support, v)[0])

        assert stats.kstest(y.numpy()[:, j], cdf).pvalue > 1e-3, (name, j)


@pytest.mark.parametrize("name", sorted(SCIPY))
def test_samples_have_the_family_moments(name):
    model = _model(name)
    raw = _raw(model.family)
    _, y = _samples(model, raw)
    ref = SCIPY[name](_params(model, raw))
    z = model.family.to_support(y).numpy()
    assert np.all(np.isfinite(z))
    sd = np.sqrt(ref.var())
    # Mean within 5 standard errors; variance within 10 % (student_t: df=3 has no 4th moment, 25 %).
    np.testing.assert_array_less(np.abs(z.mean(0) - ref.mean()), 5 * sd / np.sqrt(len(z)))
    np.testing.assert_allclose(z.var(0), ref.var(), rtol=0.25 if name == "student_t" else 0.1)


def test_dirichlet_log_q_and_moments_match_scipy():
    # y = log z: the density of the additive log-ratios y_i − y_K is the Dirichlet density of z
    # times the Jacobian Π_i z_i.
    model = _model("dirichlet")
    raw = _raw(model.family)
    q, y = _samples(model, raw)
    alpha = _params(model, raw)["concentration"]
    z = np.exp(y[:50].numpy())
    np.testing.assert_allclose(z.sum(-1), 1.0, rtol=1e-12)
    expected = stats.dirichlet(alpha).logpdf(z.T) + np.log(z).sum(-1)
    np.testing.assert_allclose(q.log_prob(y[:50]).numpy(), expected, rtol=1e-6)
    # shifting y does not move the point of the simplex nor its density
    np.testing.assert_allclose(q.log_prob(y[:50] + 3.0).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(model.family.to_support(y).numpy().mean(0), alpha / alpha.sum(), atol=0.01)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_reparameterized_gradients_are_finite_and_nonzero(name):
    model = _model(name)
    raw = tf.Variable(_raw(model.family))
    with tf.GradientTape() as tape:
        q = model.posterior(raw)
        z = model.sample_posterior(q, raw, tf.constant([3, 4], tf.int32), 64)
        loss = tf.reduce_mean(tf.square(z - 0.5))
    grad = tape.gradient(loss, raw).numpy()
    assert np.all(np.isfinite(grad)) and np.all(grad != 0)


def test_inverse_cdf_noise_avoids_the_endpoints():
    # Gumbel's F⁻¹(u) = loc − scale log(−log u) is infinite at u ∈ {0, 1}.
    model = _model("gumbel")
    _, z = _samples(model, _raw(model.family), n=200_000)
    assert np.all(np.isfinite(z.numpy()))


def test_support_rules_and_analytic_kl_errors():
    with pytest.raises(
        ValueError, match="KL\\(q ‖ p\\) would be infinite.*Received: posterior='gaussian', prior='gamma'"
    ):
        check_support(get_family("gaussian"), "gamma")
    check_support(get_family("beta"), "normal")  # (0, 1) ⊂ R: allowed
    with pytest.raises(ValueError, match="Received: posterior='dirichlet', prior='normal'"):
        _model("dirichlet", prior="normal")
    with pytest.raises(ValueError, match="no closed-form KL.*Received: kl='analytic'"):
        _model("kumaraswamy", kl="analytic")
    with pytest.raises(ValueError, match="Received: posterior='cauchy'"):
        _model("cauchy")
    assert _model("kumaraswamy").prior().distribution.__class__.__name__ == "Beta"
    assert make_prior("dirichlet", 4).event_shape == [4]


@pytest.mark.parametrize("name", ["laplace", "gamma", "weibull"])
def test_analytic_kl_where_tfp_has_it_matches_monte_carlo(name):
    model = _model(name)
    raw = _raw(model.family)
    q, z = _samples(model, raw, n=100_000)
    p = model.latent_prior()
    analytic = model.kl_terms(q, p, z[:, None], tf.constant(raw))[0].numpy()
    mc = (q.log_prob(z) - p.log_prob(z)).numpy()
    assert model.uses_analytic_kl()
    assert abs(mc.mean() - analytic[0]) < 5 * mc.std() / np.sqrt(len(mc))


def _decimal_log_density(name, params, y):
    """log q(y) = log q_Z(z) + log |dz/dy| at one y, from the textbook density of z in decimal
    arithmetic with enough digits that z, 1 − z and 1 − z^a are exact at any float32 y; the
    log-gamma normalisers come from scipy in float64."""
    ctx = decimal.Context(prec=80 + int(np.max(np.abs(y)) / 2.3), Emax=10**9, Emin=-(10**9))
    with decimal.localcontext(ctx):  # the context of + − × ÷ too
        return _decimal_log_density_in(ctx, name, params, y)


def _decimal_log_density_in(ctx, name, params, y):
    d = lambda v: ctx.create_decimal_from_float(float(v))  # noqa: E731
    ln1pexp = lambda t: ctx.ln(1 + ctx.exp(t))  # noqa: E731
    y = [d(v) for v in np.atleast_1d(y)]
    if name == "dirichlet":
        alpha = [d(a) for a in params["concentration"]]
        log_norm = ctx.ln(sum(ctx.exp(v) for v in y))
        log_z = [v - log_norm for v in y]
        log_beta = d(
            special.gammaln(params["concentration"]).sum() - special.gammaln(params["concentration"].sum())
        )
        return float(sum((a - 1) * lz for a, lz in zip(alpha, log_z, strict=True)) - log_beta + sum(log_z))
    total = d(0)
    for j, v in enumerate(y):
        p = {k: d(x[j]) for k, x in params.items()}
        if name in ("kumaraswamy", "beta"):
            log_z, log1m_z = -ln1pexp(-v), -ln1pexp(v)
            if name == "beta":
                a, b = p["concentration1"], p["concentration0"]
                log_beta = d(special.betaln(params["concentration1"][j], params["concentration0"][j]))
                log_qz = (a - 1) * log_z + (b - 1) * log1m_z - log_beta
            else:
                a, b = p["concentration1"], p["concentration0"]
                log_qz = ctx.ln(a) + ctx.ln(b) + (a - 1) * log_z + (b - 1) * ctx.ln(1 - ctx.exp(a * log_z))
            total += log_qz + log_z + log1m_z
        else:  # gamma
            c, rate = p["concentration"], p["rate"]
            log_qz = (
                (c - 1) * v
                - rate * ctx.exp(v)
                + c * ctx.ln(rate)
                - d(special.gammaln(params["concentration"][j]))
            )
            total += log_qz + v
    return float(total)


@pytest.mark.parametrize("name", ["kumaraswamy", "beta", "gamma", "dirichlet"])
def test_log_q_at_samples_matches_the_exact_density_for_extreme_float32_parameters(name):
    # Concentrations ≈ 0.05 put float32 z on the edge of the support (z = 1.0 or 0.0) for a
    # large share of the draws; the coordinate y stays finite, and log q(y) and log p(y) in
    # float32 match the density of z evaluated exactly (decimal arithmetic) at the same y.
    model = _model(name, dtype="float32")
    raw = tf.fill([1, len(model.family.params) * L], -3.0)  # concentrations ≈ 0.05
    q = model.posterior(raw)
    y = model.sample_posterior(q, raw, tf.constant([0, 9], tf.int32), 20_000)[:, 0]
    z = model.family.to_support(y).numpy()
    assert np.mean((z == 0) | (z == 1)) > 0.001  # where clipping z used to be needed
    # The 200 most extreme draws and 200 others.
    order = np.argsort(-np.abs(y.numpy()).max(-1))
    rows = np.concatenate([order[:200], order[-200:]])
    y = tf.gather(y, rows)
    params = {k: v.numpy()[0].astype("float64") for k, v in model.posterior_params(raw).items()}
    prior_family, prior_values = PRIOR_FAMILY_PARAMS[model.prior_name]
    prior_params = {k: np.full(L, v) for k, v in prior_values.items()}
    for density, family, values in ((q, name, params), (model.latent_prior(), prior_family, prior_params)):
        got = density.log_prob(y).numpy()
        expected = np.array([_decimal_log_density(family, values, v) for v in y.numpy()])
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, expected, rtol=2e-6, atol=2e-4)


@pytest.mark.parametrize("name", sorted(n for n, f in FAMILIES.items() if f.explicit))
def test_sample_from_noise_is_the_reparameterization_with_finite_log_q(name):
    family = get_family(name)
    params = family.constrain(tf.constant(_raw(family)))
    eps = family.noise(tf.constant([500, 1, L]), tf.constant([5, 6], tf.int32), tf.float64)
    q = family.distribution(params)
    z = family.sample_from_noise(q, eps)
    if family.support == "real":
        np.testing.assert_array_equal(z.numpy(), q.distribution.bijector.forward(eps).numpy())
    else:  # y of z = F⁻¹(1 − u) for uniform noise u (the survival probability); lognormal: loc + scale ε
        z_of_noise = (
            SCIPY[name](_params_of(params)).isf(eps.numpy())
            if name != "lognormal"
            else np.exp(params["loc"].numpy() + params["scale"].numpy() * eps.numpy())
        )
        np.testing.assert_allclose(family.to_support(z).numpy(), z_of_noise, rtol=1e-9)
    assert z.shape == [500, 1, L]
    assert np.all(np.isfinite(q.log_prob(z).numpy()))


def _params_of(params):
    return {k: v.numpy() for k, v in params.items()}


def test_sample_from_noise_of_the_gaussian_is_loc_plus_scale_times_eps():
    family = get_family("gaussian")
    params = family.constrain(tf.constant(_raw(family)))
    eps = tf.random.stateless_normal([64, 1, L], (7, 8), dtype=tf.float64)
    expected = params["loc"] + params["scale"] * eps
    z = family.sample_from_noise(family.distribution(params), eps)
    np.testing.assert_allclose(z.numpy(), expected.numpy(), rtol=1e-12)


def test_sample_from_noise_needs_an_explicit_family():
    family = get_family("gamma")
    params = family.constrain(tf.constant(_raw(family)))
    with pytest.raises(ValueError, match="no explicit reparameterization.*Received: posterior='gamma'"):
        family.sample_from_noise(family.distribution(params), tf.zeros([1, L], tf.float64))


def test_has_analytic_kl_means_the_closed_form_kl_computes():
    assert has_analytic_kl(get_family("gaussian"), "normal")
    assert has_analytic_kl(get_family("weibull"), "weibull")
    assert not has_analytic_kl(get_family("kumaraswamy"), "beta")
    # Both TransformedDistributions with different bijectors: TFP raises NotImplementedError.
    assert not has_analytic_kl(get_family("kumaraswamy"), "kumaraswamy")
    for family in FAMILIES.values():
        for prior, (support, _) in PRIORS.items():
            if support not in _CONTAINED_IN[family.support] or not has_analytic_kl(family, prior):
                continue
            params = family.constrain(tf.constant(_raw(family)))
            p = make_prior(prior, L, "float64")
            kl = family.closed(params).kl_divergence(p).numpy()
            assert np.all(np.isfinite(kl)), (family.name, prior)


@pytest.mark.parametrize("name", ["uniform", "triangular"])
def test_bounded_noise_never_lands_on_an_edge_and_has_the_noise_distribution(name):
    family = get_family(name)
    eps = family.noise([2_000_000], tf.constant([3, 1], tf.int32), tf.float32).numpy()
    assert np.all(np.abs(eps) < 1.0)  # log q = −∞ on the edge (tfd.Triangular draws ±1 ~once in 10⁶)
    reference = stats.uniform(-1, 2) if name == "uniform" else stats.triang(0.5, -1, 2)
    assert stats.kstest(eps[:200_000], reference.cdf).pvalue > 1e-3
    u = np.array([1e-7, 0.1, 0.5, 0.9, 1 - 6e-8], "float32")
    if family.noise_quantile is not None:
        np.testing.assert_allclose(family.noise_quantile(tf.constant(u)).numpy(), reference.ppf(u), atol=1e-6)


@pytest.mark.parametrize("name", ["uniform", "triangular"])
def test_log_q_is_exact_where_inverting_g_would_round_out_of_the_support(name):
    # With |loc|/half_width up to 10⁵, (z − loc)/half_width computed from a float32 z lands
    # outside [−1, 1] for ~0.1 % of the draws of a compiled step (log q = −∞). The sample keeps
    # its ε in q's bijector cache, so log q is evaluated at the exact noise.
    model = ContinuousVAE(data_shape=(4,), latent_dim=50, posterior=name, likelihood="gaussian")
    rng = np.random.default_rng(0)
    loc = rng.uniform(-9, 9, [1000, 50]).astype("float32")
    half_width = rng.uniform(1e-4, 1e-2, [1000, 50]).astype("float32")
    inverse_softplus = np.log(np.expm1(half_width - 1e-4))
    raw = tf.constant(np.concatenate([loc, inverse_softplus], axis=-1))

    @tf.function
    def log_q(raw):
        q = model.posterior(raw)
        return q.log_prob(model.sample_posterior(q, raw, tf.constant([1, 2], tf.int32), 20))

    values = log_q(raw).numpy()
    assert np.all(np.isfinite(values))
    if name == "uniform":  # q(z|x) = Π 1/(2 half_width) inside the support
        params = model.posterior_params(raw)
        expected = -tf.reduce_sum(tf.math.log(2.0 * params["half_width"]), axis=-1).numpy()
        np.testing.assert_allclose(values, np.broadcast_to(expected, values.shape), rtol=1e-5)


def test_weibull_concentration_has_a_floor_that_keeps_the_kl_gradient_finite_in_float32():
    # KL(Weibull(k, λ) ‖ Weibull(1, 1)) contains λ·Γ(1 + 1/k): Γ(21) ≈ 2.4e18 at k = 0.05, where
    # Adam's squared gradient overflows float32.
    family = get_family("weibull")
    raw = tf.Variable(tf.fill([1, 2 * L], -30.0))
    with tf.GradientTape() as tape:
        params = family.constrain(raw)
        kl = tf.reduce_sum(family.closed(params).kl_divergence(make_prior("weibull", L)))
    np.testing.assert_allclose(params["concentration"].numpy(), 0.1, rtol=1e-6)
    assert np.isfinite(kl.numpy()) and np.all(np.isfinite(np.square(tape.gradient(kl, raw).numpy())))
    # The bound the floor gives: the Γ(1 + 1/k)·λ term at k = 0.1 is Γ(11) = 10! times λ.
    assert kl.numpy() / L < special.gamma(11) * params["scale"].numpy().max() + 100


@pytest.mark.parametrize("bias", [-30.0, -4.0])
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_family_trains_from_the_floor_of_its_parameters(name, bias):
    # bias −30: every positive parameter at its floor; −4: concentrations ≈ 0.018. Before the
    # fixes: NaN weights for weibull (k ≈ 0.05 from a random initialisation), beta, dirichlet
    # (implicit gradients at samples on the edge) and kumaraswamy (log(1 − z^a) = −∞); then
    # a negative −ELBO of a binary pmf for kumaraswamy (samples clipped inside the support).
    x = (np.random.default_rng(0).random((16, 8, 8, 1)) < 0.5).astype("float32")
    model = ContinuousVAE(**small_vae_config(posterior=name))
    # Eager: the numerics at the floor are the subject, and tracing the train step cost 3× the
    # test; every family's traced train step is tested in test_continuous_vae.py.
    model.compile(keras.optimizers.Adam(1e-2), run_eagerly=True)
    model(x[:1])
    model.encoder.trainable_weights[-1].assign(tf.fill(model.encoder.trainable_weights[-1].shape, bias))
    # At the floor, with a Bernoulli likelihood: −log p(x) ≥ 0, so the −ELBO ≥ 0 and the
    # importance-weighted bound L_64 ≤ 0 (both ≥ −log p(x) in expectation; a density that is
    # not that of the decoder's inputs broke both).
    log_w = model.log_importance_weights(tf.constant(x), tf.constant([2, 3]), 64).numpy()
    assert np.all(np.isfinite(log_w))
    assert np.all(-log_w.mean(0) > 0) and np.all(special.logsumexp(log_w, 0) - np.log(64) < 0)
    history = model.fit(tf.data.Dataset.from_tensor_slices(x).batch(8), epochs=1, verbose=0).history
    assert np.all(np.isfinite(history["neg_elbo"])) and np.all(np.array(history["neg_elbo"]) > 0)
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


F = 1e-4  # DEFAULT_FLOOR
# Bounded families at the floor of their parameters and at large values (the Weibull's
# concentration floor is 0.1); the lognormal's scale is exp(raw), with no floor.
EXTREMES = {
    "beta": [(F, F), (F, 50.0), (50.0, F), (50.0, 50.0)],
    "kumaraswamy": [(F, F), (F, 50.0), (50.0, F), (50.0, 50.0), (1.06e-4, 10.0)],
    "gamma": [(F, 1.0), (F, 50.0), (50.0, F), (50.0, 50.0)],
    "chi2": [(F,), (50.0,)],
    "weibull": [(0.1, F), (0.1, 50.0), (50.0, F), (50.0, 50.0)],
    "exponential": [(F,), (50.0,)],
    "lognormal": [(3.0, F), (3.0, 50.0), (-50.0, 1.0)],
    "dirichlet": [(F,), (50.0,), ("mixed",)],
}


def _exact_kl(name, params):
    """KL(q ‖ default prior) per dimension (per event on the simplex), float64: TFP's closed forms
    (Gamma for χ² and the exponential), the Kumaraswamy's entropy for U(0, 1) = Beta(1, 1)."""
    p = {k: tf.constant(v, tf.float64) for k, v in params.items()}
    one = tf.constant(1.0, tf.float64)
    if name == "kumaraswamy":
        a, b = params["concentration1"], params["concentration0"]
        return (
            np.log(a) + np.log(b) + (a - 1) / a * (special.digamma(1) - special.digamma(b + 1)) - (b - 1) / b
        )
    q, prior = {
        "beta": lambda: (tfd.Beta(p["concentration1"], p["concentration0"]), tfd.Beta(one, one)),
        "gamma": lambda: (tfd.Gamma(p["concentration"], p["rate"]), tfd.Gamma(one, one)),
        "chi2": lambda: (tfd.Gamma(p["df"] / 2, 0.5 * one), tfd.Gamma(one, 0.5 * one)),
        "weibull": lambda: (tfd.Weibull(p["concentration"], p["scale"]), tfd.Weibull(one, one)),
        "exponential": lambda: (tfd.Gamma(one, p["rate"]), tfd.Gamma(one, one)),
        "lognormal": lambda: (tfd.Normal(p["loc"], p["scale"]), tfd.Normal(0 * one, one)),
        "dirichlet": lambda: (
            tfd.Dirichlet(p["concentration"]),
            tfd.Dirichlet(tf.ones_like(p["concentration"])),
        ),
    }[name]()
    return tfd.kl_divergence(q, prior).numpy()


def _extreme_raw(family, values):
    """Encoder output [1, ...] whose constrained parameters are `values` in float32."""
    if values == ("mixed",):
        values = (np.array([F, 50.0, F]),)
    chunks = []
    for name, v in zip(family.params, values, strict=True):
        v = np.broadcast_to(np.asarray(v, "float64"), [L])
        if name == "loc":
            chunks.append(v)
        elif family.log_scale:
            chunks.append(np.log(v))
        else:
            floor = family.floors.get(name, F)
            chunks.append(
                np.where(v <= floor * 1.0001, -30.0, np.log(np.expm1(np.maximum(v - floor, 1e-30))))
            )
    return tf.constant(np.concatenate(chunks)[None], tf.float32)


@pytest.mark.parametrize(
    "name, values", [(n, v) for n, settings in EXTREMES.items() for v in settings], ids=str
)
def test_monte_carlo_kl_matches_the_exact_kl_from_the_floor_to_large_parameters(name, values):
    # The float32 model's Monte Carlo KL log q(y) − log p(y) at 40 000 draws of y: within 4
    # standard errors (plus float32 rounding, 1e-5 relative) of the exact KL. Before the fix,
    # Beta(2.2e-4, 2.2e-4) gave 4.7 nats per dimension instead of 4535, Kumaraswamy(1.06e-4, 10)
    # −52 instead of 27 584.
    model = _model(name, dtype="float32", kl="monte_carlo")
    raw = _extreme_raw(model.family, values)
    q = model.posterior(raw)
    y = model.sample_posterior(q, raw, tf.constant([7, 8], tf.int32), 40_000)
    log_q = q.log_prob(y).numpy()
    params = {k: v.numpy()[0].astype("float64") for k, v in model.posterior_params(raw).items()}
    assert np.all(np.isfinite(log_q))
    if name == "weibull" and np.isclose(params["concentration"][0], 0.1):
        # The prior's term E[z] = λ Γ(1 + 1/k) has a sample mean too heavy-tailed at k = 0.1 to
        # estimate its standard error: check E[log q(y)] instead. With t = k(y − log λ) = log E,
        # E ~ Exp(1): log q(y) = log k + t − eᵗ, E[log q(y)] = log k − γ − 1.
        mc, exact = log_q, L * (np.log(0.1) - np.euler_gamma - 1)
    else:
        mc = log_q - model.latent_prior().log_prob(y).numpy()
        exact = np.sum(_exact_kl(name, params))
    se = mc.std() / np.sqrt(mc.size)
    assert abs(mc.mean() - exact) < 4 * se + 1e-5 * abs(exact), (mc.mean(), exact, se)


# The priors of a larger support than the posteriors' below, in scipy (checked against PRIORS).
PRIOR_SCIPY = {
    "normal": stats.norm(),
    "gamma": stats.gamma(1.0),
    "lognormal": stats.lognorm(1.0),
    "exponential": stats.expon(),
    "laplace": stats.laplace(),
    "student_t": stats.t(STUDENT_T_DF),
}


@pytest.mark.parametrize(
    "name, prior",
    [("beta", "normal"), ("beta", "gamma"), ("beta", "lognormal"), ("kumaraswamy", "exponential"),
     ("kumaraswamy", "laplace"), ("gamma", "normal"), ("weibull", "student_t")],
)  # fmt: skip
def test_monte_carlo_kl_to_a_prior_of_larger_support_matches_quadrature(name, prior):
    # The prior is pulled back to the posterior's coordinate through unit → positive → real.
    model = _model(name, prior=prior, kl="monte_carlo")
    raw = _raw(model.family)
    q, y = _samples(model, raw, n=40_000, seed=(3, 3))
    mc = (q.log_prob(y) - model.latent_prior().log_prob(y)).numpy()
    params = _params(model, raw)
    # The prior's density in the integrand (one point per call) is scipy's, the model's prior's
    # checked here on a grid of q's support: a TensorFlow call per point cost ~10× the test.
    upper = 1.0 if model.family.support == "unit" else np.inf
    grid = np.linspace(0.01, 0.99, 9) if upper == 1.0 else np.geomspace(1e-3, 50.0, 9)
    np.testing.assert_allclose(
        PRIOR_SCIPY[prior].logpdf(grid),
        PRIORS[prior][1](tf.zeros([], tf.float64)).log_prob(grid).numpy(),
        rtol=1e-10,
    )
    exact = 0.0
    for j in range(L):
        qz = SCIPY[name]({k: v[j] for k, v in params.items()})
        integrand = lambda z, qz=qz: np.exp(qz.logpdf(z)) * (qz.logpdf(z) - PRIOR_SCIPY[prior].logpdf(z))  # noqa: E731
        exact += integrate.quad(integrand, 0.0, upper, limit=200)[0]
    assert abs(mc.mean() - exact) < 4 * mc.std() / np.sqrt(mc.size), (mc.mean(), exact)


def test_latent_prior_is_the_prior_density_of_z_plus_the_log_jacobian():
    # log p(y) = log p_Z(h(y)) + log |h′(y)| for every prior a posterior support allows; on the
    # real line the prior itself.
    rng = np.random.default_rng(0)
    for support in ("unit", "positive", "simplex", "real"):
        y = rng.normal(0, 2, [5, L])
        for prior, (prior_support, build) in PRIORS.items():
            if prior_support not in _CONTAINED_IN[support]:
                continue
            got = make_latent_prior(prior, support, L, "float64").log_prob(tf.constant(y)).numpy()
            if support == "simplex":
                z = special.softmax(y, -1)
                expected = build(tf.zeros([L], tf.float64)).log_prob(z).numpy() + np.log(z).sum(-1)
            else:
                z, log_jacobian = _to_z_and_log_jacobian(support, y)
                expected = (build(tf.zeros([L], tf.float64)).log_prob(z).numpy() + log_jacobian).sum(-1)
            np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12, err_msg=f"{support} {prior}")
    with pytest.raises(ValueError, match="Received: prior='gamma', support='real'"):
        make_latent_prior("gamma", "real", L)


def test_prior_family_params_are_the_priors():
    z = {"positive": [0.3, 1.0, 4.0], "unit": [0.1, 0.5, 0.8], "simplex": [0.2, 0.3, 0.5]}
    for prior, (family, values) in PRIOR_FAMILY_PARAMS.items():
        support, build = PRIORS[prior]
        ones = tf.ones([L], tf.float64)
        ours = FAMILIES[family].closed_form(**{k: v * ones for k, v in values.items()})
        point = tf.constant(z[support], tf.float64)
        expected = build(tf.zeros([L], tf.float64)).log_prob(point).numpy()
        np.testing.assert_allclose(ours.log_prob(point).numpy(), expected, rtol=1e-12, err_msg=prior)


def _decimal_reference(fn, x):
    ctx = decimal.Context(prec=400, Emax=10**9, Emin=-(10**9))
    with decimal.localcontext(ctx):  # the context of + − × ÷ too
        return np.array([float(fn(ctx, ctx.create_decimal_from_float(float(v)))) for v in x])


@pytest.mark.parametrize(
    "helper, reference, grid",
    [
        (_log1mexp, lambda c, x: c.ln(1 - c.exp(x)), -np.logspace(-37, 2.4, 120)),
        (_log_neg_log1mexp, lambda c, x: c.ln(-c.ln(1 - c.exp(x))), -np.logspace(-37, 2.4, 120)),
        (_log1m_exp_neg_exp, lambda c, x: c.ln(1 - c.exp(-c.exp(x))), np.linspace(-80, 80, 161)),
        (_log_neg_log_sigmoid, lambda c, x: c.ln(c.ln(1 + c.exp(-x))), np.linspace(-200, 200, 161)),
    ],
)
def test_log_space_helpers_match_exact_values_with_finite_gradients(helper, reference, grid):
    # Across the branch points (−log 2, ±15, 30) and far beyond them, in float32 (down to
    # −1e-37: TensorFlow's CPU kernels flush subnormals to 0); the expected values come from
    # 400-digit decimal arithmetic.
    x = tf.Variable(grid.astype("float32"))
    with tf.GradientTape() as tape:
        value = helper(x)
    gradient = tape.gradient(value, x).numpy()
    expected = _decimal_reference(reference, x.numpy())
    np.testing.assert_allclose(value.numpy(), expected, rtol=2e-6, atol=1e-25)
    assert np.all(np.isfinite(gradient))


def test_log_gamma_draws_and_gradients_match_digamma_and_trigamma_at_every_concentration():
    # log G, G ~ Gamma(α): E[log G] = ψ(α) and d/dα E[log G] = ψ′(α), the mean of the pathwise
    # derivatives; finite from the floor (where G = exp(log G) underflows and TFP's own log-space
    # gradient is 0/0) to large α. One draw per copy of α, so gradients are per sample.
    alphas = np.array([1e-4, 0.05, 0.7, 1.0, 3.0, 50.0])
    concentration = tf.Variable(np.repeat(alphas[:, None], 4000, axis=1).astype("float32"))
    with tf.GradientTape() as tape:
        log_g = _log_gamma(concentration, 1, tf.constant([4, 2], tf.int32))[0]
    gradient = tape.gradient(log_g, concentration).numpy().astype("float64")
    log_g = log_g.numpy().astype("float64")
    assert np.all(np.isfinite(log_g)) and np.all(np.isfinite(gradient))
    for values, expected in ((log_g, special.digamma(alphas)), (gradient, special.polygamma(1, alphas))):
        se = values.std(1) / np.sqrt(values.shape[1])
        np.testing.assert_array_less(np.abs(values.mean(1) - expected), 4 * se + 1e-5 * np.abs(expected))


@pytest.mark.parametrize("name", ["beta", "dirichlet", "gamma", "chi2"])
def test_implicit_gradients_are_finite_at_the_floor(name):
    family = get_family(name)
    raw = tf.Variable(tf.fill([200, len(family.params) * L], -30.0))  # every parameter at 1e-4
    with tf.GradientTape() as tape:
        y = family.sample_implicit(family.constrain(raw), 4, tf.constant([1, 2], tf.int32))
        loss = tf.reduce_sum(family.distribution(family.constrain(raw)).log_prob(y))
    assert np.all(np.isfinite(y.numpy()))
    assert np.all(np.isfinite(tape.gradient(loss, raw).numpy()))


def test_decoder_input_of_a_positive_latent_is_finite_and_capped():
    """h(y) = exp(min(y, 30)): a lognormal with scale e^10 draws y = ±10^4, whose exp overflows
    float32; the decoder reads a finite, capped z (part of the decoder: q and p score y itself)."""
    family = FAMILIES["lognormal"]
    y = tf.constant([-1e4, -5.0, 0.0, 29.0, 89.0, 1e4])
    z = family.to_support(y).numpy()
    assert np.all(np.isfinite(z))
    np.testing.assert_allclose(z, np.exp(np.minimum(y.numpy().astype("float64"), 30.0)), rtol=1e-6)
