"""The reported bounds against an exact log p(x), for every registered model.

On models small enough that log p(x) is computable exactly (a 4-pixel binary x, a handful of
latent configurations or one continuous latent), the figures every model reports must obey
the inequalities that define them (Kingma & Welling 2014; Burda et al. 2016, Theorem 1):

    ELBO = E_q[log p(x|z)] − KL(q ‖ p) ≤ log p(x)
    L_k = E[log (1/k) Σ_i p(x, z_i)/q(z_i|x)]:  ELBO = L_1 ≤ L_k ≤ log p(x),  L_k → log p(x)
    −ELBO ≥ 0 and −L_k ≥ 0 for a Bernoulli likelihood (then p(x) ≤ 1)

`model.elbo` and `model.log_likelihood` are Monte Carlo estimates, so each inequality is
checked within `SIGMAS` standard errors, estimated from `REPLICAS` independent copies of
every example in one batch (each batch row draws its own noise). The exact log p(x) comes
from a routine per registered model (`EXACT_LOG_PX`), and `test_every_model_has_an_exact_log_px`
fails when a model is registered without one, so a new family cannot skip these checks:

    bernoulli_vae, categorical_vae   enumeration of every z: log Σ_z p(x|z) p(z)
    continuous_vae, gaussian_vae     quadrature of ∫ p(x|z) p(z) dz over one latent (the
                                     Dirichlet's 2-simplex), in a coordinate t where the prior
                                     mass decays exponentially (z = sinh t on R, e^t on R+,
                                     sigmoid t on (0, 1)); the rule integrates the prior to 1
    dvae                             p(x) = ∫_0^1 p(x | ζ = f(β, ½, ε)) dε: ζ drawn from the
                                     prior mixture Σ_z p(z) r(ζ|z) by its smoothing function
                                     (Rolfe 2017), by tanh-sinh quadrature on each side of the
                                     kink ε = ½
    vqvae                            enumeration of every code grid: log Σ_k p(x|e_k) p(k)
                                     (uniform p before the code prior is fitted, the
                                     transformer's after); q is one-hot, so −ELBO ≥ −log p(x)

Every model is checked at its initial weights and at the extremes of its parameters: the
encoder's last layer set to a constant output (kernel 0) that drives each posterior
parameter to its floor or to a large value, β of the DVAE small and large, and a confident
decoder (its last layer ×`CONFIDENT`).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math

import numpy as np
import pytest
import tensorflow as tf
from scipy.special import expit, logsumexp

from keraszoo.distributions import FAMILIES, has_analytic_kl, make_prior
from keraszoo.distributions.smoothing import SMOOTHING_FUNCTIONS, smooth
from keraszoo.models import available_models, build_model, get_model_class
from keraszoo.random import as_seed

# Four-pixel binary examples: all-zero, all-one and two mixed ones.
X = np.array([[0, 0, 0, 0], [1, 1, 1, 1], [1, 0, 1, 1], [0, 1, 0, 0]], "float32")
DATA_SHAPE = (X.shape[1],)
ALL_X = np.array(list(itertools.product([0.0, 1.0], repeat=X.shape[1])), "float32")  # for Σ_x p(x) = 1
BACKBONE = {"name": "mlp", "hidden_units": [8], "activation": "tanh"}  # smooth in z: quadrature converges
# The estimators whose evaluation samples these cases check (a new estimator changes gradients,
# not what the evaluation samples; its own tests check its estimates).
ESTIMATORS = ("reparameterization", "reinforce")
DISCRETE_ESTIMATORS = ("straight_through", "gumbel_softmax", "gumbel_softmax_hard", "reinforce")
REPLICAS = 32  # independent copies of each example: standard errors from their spread
ELBO_SAMPLES = 32  # K of the models: each ELBO replicate averages K samples
IW_SAMPLES = 512  # k of L_k
SIGMAS = 4.0
# float32 arithmetic of the model: a bound may be exceeded by rounding, never by more.
ATOL, RTOL = 2e-3, 1e-5
# L_512 at the initial weights (q broad, the decoder mild) is within this of log p(x).
CONVERGENCE_TOL = 0.02
CONFIDENT = 10.0  # the confident decoder's last layer, times this; the sharp decoder's logit scale
SHARP_EDGE, SHARP_SLOPE = 1e-3, 3e3  # the sharp decoder's steps: at z = 1e-3 (and 1 − 1e-3), 3e-4 wide
RAW_EXTREMES = (-12.0, 10.0)  # constant raw encoder outputs of the continuous families
LOGIT_EXTREMES = (-30.0, 30.0)  # constant logits of the discrete families
DVAE_BETAS = (0.1, 100.0)  # and 1.0, the model's
MODERATE_LOGITS = (-2.0, 2.0)  # the DVAE's q away from p(z) = ½ but broad: L_k still converges
ELBO_SEED, IW_SEED = 11, 12


# ---------------------------------------------------------------- numpy references
def bernoulli_log_prob(logits, x):
    """log p(x | logits) of independent Bernoulli pixels in float64: [n, D] × [B, D] → [n, B]."""
    logits = np.asarray(logits, np.float64).reshape(len(logits), 1, -1)
    x = np.asarray(x, np.float64)[None]
    # log σ(l) = −softplus(−l), log σ(−l) = −softplus(l)
    return -(x * np.logaddexp(0.0, -logits) + (1.0 - x) * np.logaddexp(0.0, logits)).sum(axis=-1)


def decoder_log_px(model, latents, x):
    """log p(x | z) [n, B] for n decoder inputs `latents` (as the decoder sees them)."""
    logits = model.decoder(tf.constant(np.asarray(latents), tf.float32)).numpy()
    return bernoulli_log_prob(logits.reshape(len(logits), -1), x)


def log_marginal(log_px_given_z, log_weight):
    """log Σ_i w_i p(x | z_i), [n, B] and [n] → [B]."""
    return logsumexp(log_px_given_z + np.asarray(log_weight, np.float64)[:, None], axis=0)


# Substitutions z = g(t) over a truncated t range where the prior mass decays exponentially at
# both ends, so that the trapezoid rule in t converges exponentially (Trefethen & Weideman 2014):
# (t range, z from t as columns of one or more branches, log |dz/dt|). The real line is split
# at 0, the kink of the Laplace density, into z = −e^t and z = e^t. The truncation is checked
# by integrating the prior to 1.
def _sigmoid(t):
    return 1 / (1 + np.exp(-t))


SUBSTITUTIONS = {
    "real": ((-60.0, 12.0), lambda t: np.concatenate([-np.exp(t), np.exp(t)]), lambda t: np.tile(t, 2)),
    "positive": ((-60.0, 8.0), np.exp, lambda t: t),
    "unit": ((-35.0, 35.0), _sigmoid, lambda t: -np.logaddexp(0, t) - np.logaddexp(0, -t)),
}
QUADRATURE_STEP = 0.0025  # of t; the rules are also run at twice the step and must agree
# nats: the decoder sees float32 z, spaced 6e-8 apart near z = 1, so the integrand is a staircase
# at that scale (~1e-5 nats of the sharp decoder's step at 1 − 1e-3); well below `ATOL`.
QUADRATURE_TOL = 1e-4


def converged(integrate, step):
    """integrate(step), after checking that integrate(2 · step) agrees with it to `QUADRATURE_TOL`:
    both rules here converge exponentially in 1/step, so the error at `step` is far smaller."""
    value = integrate(step)
    np.testing.assert_allclose(integrate(2 * step), value, atol=QUADRATURE_TOL, err_msg="quadrature error")
    return value


def prior_quadrature(model, step=QUADRATURE_STEP):
    """(decoder inputs z [n, L], log(weight · p(z)) [n]): the trapezoid rule in t for ∫ · p(z) dz
    over the model's prior, whose density comes from the model's prior in float64."""
    return _prior_quadrature(model.family.support, model.prior_name, model.latent_dim, step)


@functools.cache  # the rule depends on the prior alone, not on the weights: one per prior and step
def _prior_quadrature(family_support, prior_name, latent_dim, step):
    support = "unit" if family_support == "simplex" else family_support
    (low, high), forward, log_jacobian = SUBSTITUTIONS[support]
    t = np.arange(low, high + step / 2, step)
    z = forward(t)[:, None]
    if family_support == "simplex":  # (z_1, 1 − z_1): the density is w.r.t. z_1
        assert latent_dim == 2, latent_dim
        z = np.concatenate([z, _sigmoid(-t)[:, None]], axis=1)
    else:
        assert latent_dim == 1, latent_dim
    log_prior = make_prior(prior_name, latent_dim, "float64").log_prob(z).numpy()
    log_weight = np.log(step) + log_jacobian(t) + log_prior
    for shared in (z, log_weight):
        shared.setflags(write=False)
    return z, log_weight


def tanh_sinh(low, high, step=1 / 64, extent=3.5):
    """Nodes and weights of the tanh-sinh rule on (low, high) (Takahasi & Mori 1974): exact to
    rounding for analytic integrands, and still fast for integrable endpoint singularities."""
    s = np.arange(-extent, extent + step / 2, step)
    y = np.pi / 2 * np.sinh(s)
    weights = step * np.pi / 2 * np.cosh(s) / np.cosh(y) ** 2
    # (1 + tanh y)/2 = σ(2y): the nodes' distance to `low` does not round to 0 near it.
    return low + (high - low) * expit(2 * y), (high - low) / 2 * weights


def exact_discrete(configurations, log_prior):
    def routine(model, x):
        return log_marginal(decoder_log_px(model, configurations(model), x), log_prior(model))

    return routine


def _binary_configurations(model):
    return np.array(list(itertools.product([0.0, 1.0], repeat=model.latent_dim)))


def _categorical_configurations(model):
    n, m = model.num_variables, model.num_classes
    codes = np.array(list(itertools.product(range(m), repeat=n)))
    return np.eye(m)[codes].reshape(len(codes), n * m)  # one-hot per variable, flattened like the model's z


def exact_continuous(model, x):
    return converged(
        lambda step: log_marginal(*_decoded(model, prior_quadrature(model, step), x)), QUADRATURE_STEP
    )


def _decoded(model, rule, x):
    nodes, log_weight = rule
    return decoder_log_px(model, nodes, x), log_weight


def limit_continuous(model, x):
    """log ∫_{q(z|x) > 0} p(x, z) dz, the limit of L_k as k → ∞ (the mean of the weights
    p(x, z)/q(z|x), z ~ q, is this integral): log p(x) unless q's support is smaller than the
    prior's (the uniform and triangular posteriors), read from q's closed-form density over z.
    The cut at the edges of q's support makes the rule converge only as O(step): good to ~1e-3
    here (nodes whose float32 z rounds onto an edge carry ~1e-7 of the mass)."""
    z, log_weight = prior_quadrature(model)
    q = model.family.closed(model.posterior_params(model.encoder(tf.constant(x))))
    log_q = q.log_prob(tf.constant(z[:, None, :], tf.float32)).numpy()  # [n, B]
    inside = np.where(log_q > -np.inf, log_weight[:, None], -np.inf)
    return logsumexp(decoder_log_px(model, z, x) + inside, axis=0)


DVAE_STEP = 1 / 256  # of the tanh-sinh rule


def dvae_quadrature(model, step=DVAE_STEP):
    """(ζ [n, 1], log weights [n]): p(x) = ∫_0^1 p(x | f(β, ½, ε)) dε on each side of ε = ½."""
    assert model.latent_dim == 1, model.latent_dim
    halves = zip(tanh_sinh(0.0, 0.5, step), tanh_sinh(0.5, 1.0, step), strict=True)
    eps, weights = (np.concatenate(a) for a in halves)
    beta = float(model.sampler.beta.numpy())
    zeta = smooth(model.sampler.function, beta, tf.constant(0.5, tf.float64), eps, model.sampler.base)
    return zeta.numpy()[:, None], np.log(weights)


def exact_dvae(model, x):
    return converged(lambda step: log_marginal(*_decoded(model, dvae_quadrature(model, step), x)), DVAE_STEP)


def vqvae_code_grids(model):
    codes = np.array(list(itertools.product(range(model.num_codes), repeat=math.prod(model.grid))), "int32")
    if float(model.prior_fitted.numpy()) > 0:
        log_prior = model.code_prior.log_prob(tf.constant(codes)).numpy().astype(np.float64)
    else:
        log_prior = np.full(len(codes), -len(codes[0]) * np.log(model.num_codes))
    return codes, log_prior


def exact_vqvae(model, x):
    codes, log_prior = vqvae_code_grids(model)
    quantized = model.quantizer.lookup(tf.constant(codes.reshape((len(codes),) + model.grid))).numpy()
    return log_marginal(decoder_log_px(model, quantized, x), log_prior)


# registry name → exact log p(x) [B] of `model` at a batch x [B, D], in float64.
EXACT_LOG_PX = {
    "bernoulli_vae": exact_discrete(
        _binary_configurations, lambda m: np.full(2**m.latent_dim, -m.latent_dim * np.log(2))
    ),
    "categorical_vae": exact_discrete(
        _categorical_configurations,
        lambda m: np.full(m.num_classes**m.num_variables, -m.num_variables * np.log(m.num_classes)),
    ),
    "continuous_vae": exact_continuous,
    "gaussian_vae": exact_continuous,
    "dvae": exact_dvae,
    "vqvae": exact_vqvae,
}
# registry name → lim_{k→∞} L_k where it is not log p(x) (q's support smaller than the prior's).
LIMIT_OF_L_K = {"continuous_vae": limit_continuous, "gaussian_vae": limit_continuous}


# ---------------------------------------------------------------- cases and settings
@dataclasses.dataclass(frozen=True)
class Case:
    """A tiny model (`name`, `config`) and the parameter settings its bounds are checked at."""

    id: str
    name: str
    config: dict
    settings: tuple[str, ...]
    stochastic: bool = True  # False: q is deterministic (VQ-VAE): L_k = ELBO, no convergence

    def build(self):
        return build_model(self.name, data_shape=DATA_SHAPE, encoder=BACKBONE, seed=1, **self.config)


def _continuous_cases(name, families):
    """Per family: every setting with the reparameterization estimator and the analytic KL where
    TFP has one ("auto"); where it has one, the Monte Carlo KL too, at the initial weights and
    the extremes; REINFORCE, which changes the gradient only (the same samples and values), at
    the initial weights."""
    cases = []
    for family_name in families:
        family = FAMILIES[family_name]
        extremes = tuple(f"{p}={v:+g},sharp" for p in family.params for v in RAW_EXTREMES)
        kls = ("auto", "monte_carlo") if has_analytic_kl(family, family.default_prior) else ("auto",)
        variants = [(ESTIMATORS[0], "auto", ("init", "confident", "sharp") + extremes)]
        variants += [(ESTIMATORS[0], kl, ("init",) + extremes) for kl in kls[1:]]
        variants += [(estimator, "auto", ("init",)) for estimator in ESTIMATORS[1:]]
        for estimator, kl, settings in variants:
            config = dict(
                latent_dim=2 if family.support == "simplex" else 1,
                estimator=estimator,
                kl=kl,
                num_samples=ELBO_SAMPLES,
            )
            if name == "continuous_vae":
                config["posterior"] = family_name
            cases.append(Case(f"{name}-{family_name}-{estimator}-{kl}", name, config, settings))
    return cases


def _discrete_cases(name, config):
    """Every setting with every estimator: each samples its own way (exact, straight-through or
    relaxed in training, exact in evaluation)."""
    settings = ("init", "confident") + tuple(f"logits={v:+g},confident" for v in LOGIT_EXTREMES)
    return [
        Case(
            f"{name}-{estimator}", name, dict(config, estimator=estimator, num_samples=ELBO_SAMPLES), settings
        )
        for estimator in DISCRETE_ESTIMATORS
    ]


def _dvae_cases():
    settings = ("init", "confident") + tuple(f"logits={v:+g}" for v in MODERATE_LOGITS)
    for beta in DVAE_BETAS:
        settings += (f"beta={beta:g}",) + tuple(
            f"beta={beta:g},logits={v:+g},confident" for v in LOGIT_EXTREMES
        )
    return [
        Case(
            f"dvae-{f}", "dvae", dict(latent_dim=1, smoothing=f, beta=1.0, num_samples=ELBO_SAMPLES), settings
        )
        for f in SMOOTHING_FUNCTIONS
    ]


def _vqvae_cases():
    settings = tuple(
        f"prior={p},{s}"
        for p in ("uniform", "fitted")
        for s in ("init", "confident", "raw=-12,confident", "raw=+10,confident")
    )
    return [
        Case(
            f"vqvae-ema={ema}",
            "vqvae",
            dict(num_codes=3, code_dim=2, num_latents=2, ema=ema),
            settings,
            False,
        )
        for ema in (True, False)
    ]


# registry name → its cases.
CASES = {
    "bernoulli_vae": _discrete_cases("bernoulli_vae", dict(latent_dim=3)),
    "categorical_vae": _discrete_cases("categorical_vae", dict(num_variables=2, num_classes=3)),
    "continuous_vae": _continuous_cases("continuous_vae", FAMILIES),
    "gaussian_vae": _continuous_cases("gaussian_vae", ["gaussian"]),
    "dvae": _dvae_cases(),
    "vqvae": _vqvae_cases(),
}
ALL_CASES = {case.id: case for cases in CASES.values() for case in cases}

_MODELS: dict[str, tuple] = {}


def model_at(case: Case, setting: str):
    """The case's model (built once per process, its initial weights kept), set to `setting`."""
    if case.id not in _MODELS:
        model = case.build()
        _MODELS[case.id] = (model, [w.numpy().copy() for w in model.weights])
    model, initial = _MODELS[case.id]
    for variable, value in zip(model.weights, initial, strict=True):
        variable.assign(value)
    for part in setting.split(","):
        apply_setting(model, part)
    return model


def _set_encoder_output(model, raw):
    """The encoder's last layer outputs the constant `raw` for every x (kernel 0, bias raw)."""
    head = model.encoder.get_layer(model.encoder_head)
    head.kernel.assign(tf.zeros_like(head.kernel))
    head.bias.assign(tf.constant(np.broadcast_to(raw, head.bias.shape), head.bias.dtype))


def _sharp_decoder(model):
    """A confident decoder that explains x* = X[2] only near the edges of a bounded support:
    for z_1 < 1e-3 (and z_1 > 1 − 1e-3 on the unit interval and the simplex), where the prior
    has mass ~1e-3, and the complement of x* elsewhere, with logits ±`CONFIDENT`:

        logits = C (2x* − 1)(h_1 − h_0 + 1),  h_0 = tanh(s (z_1 − 1e-3)),  h_1 = tanh(s (z_1 − 1 + 1e-3))

    Then log p(x*) ≈ log(prior mass near the edges), and a posterior whose density is
    misjudged at samples there (e.g. clipped onto the edge) shows as a bound above log p(x*)."""
    first, head = model.decoder.get_layer("dec_dense_0"), model.decoder.get_layer("outputs")
    kernel, bias = np.zeros(first.kernel.shape, "float32"), np.zeros(first.bias.shape, "float32")
    kernel[0, 0], bias[0] = SHARP_SLOPE, -SHARP_SLOPE * SHARP_EDGE
    if model.family.support in ("unit", "simplex"):
        kernel[0, 1], bias[1] = SHARP_SLOPE, -SHARP_SLOPE * (1 - SHARP_EDGE)
    else:  # no upper edge: h_1 = −1
        bias[1] = -30.0
    sign = CONFIDENT * (2 * X[2] - 1)
    out_kernel = np.zeros(head.kernel.shape, "float32")
    out_kernel[0], out_kernel[1] = -sign, sign
    for variable, value in (
        (first.kernel, kernel),
        (first.bias, bias),
        (head.kernel, out_kernel),
        (head.bias, sign),
    ):
        variable.assign(value)


def apply_setting(model, setting: str):
    if setting in ("init", "logits=init", "prior=uniform"):
        return
    if setting == "confident":
        head = model.decoder.get_layer("outputs")
        head.kernel.assign(head.kernel * CONFIDENT)
        head.bias.assign(head.bias * CONFIDENT)
        return
    if setting == "sharp":
        _sharp_decoder(model)
        return
    if setting == "prior=fitted":  # the (untrained) transformer prior: a normalised p(codes)
        model.prior_fitted.assign(1.0)
        return
    key, value = setting.split("=")
    value = float(value)
    if key == "beta":
        model.sampler.state.assign(value)
    elif key == "raw":  # VQ-VAE: every coordinate of the encoder output z_e
        _set_encoder_output(model, value)
    elif key == "logits":
        if hasattr(model, "num_classes"):  # class 0 of every variable at `value`, the others at 0
            raw = np.zeros((model.num_variables, model.num_classes), "float32")
            raw[:, 0] = value
            _set_encoder_output(model, raw.reshape(-1))
        else:
            _set_encoder_output(model, value)
    else:  # a continuous family's raw parameter `key` at `value`, the others at 0
        params = model.family.params
        raw = np.zeros((len(params), model.latent_dim), "float32")
        raw[params.index(key)] = value
        _set_encoder_output(model, raw.reshape(-1))


# ---------------------------------------------------------------- the tests
def test_every_model_has_an_exact_log_px():
    """A registered model without an exact log p(x) and cases would skip every check here."""
    assert set(available_models()) <= set(EXACT_LOG_PX), sorted(set(available_models()) - set(EXACT_LOG_PX))
    assert set(available_models()) <= set(CASES), sorted(set(available_models()) - set(CASES))
    for name, cases in CASES.items():
        assert cases and all(get_model_class(c.name).registry_name == name for c in cases), name


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_quadrature_integrates_the_prior_to_one(family):
    model = model_at(ALL_CASES[f"continuous_vae-{family}-reparameterization-auto"], "init")
    _, log_weight = prior_quadrature(model)
    np.testing.assert_allclose(logsumexp(log_weight), 0.0, atol=1e-9)


@pytest.mark.parametrize("power", [-0.5, 0.1, 1.0, 7.0])
def test_tanh_sinh_integrates_powers(power):
    """∫_0^1 ε^a dε = 1/(a + 1), with the endpoint singularity of a < 0 and the steep start of
    small a, split at ½ as the DVAE rule is."""
    nodes, weights = (np.concatenate(a) for a in zip(tanh_sinh(0.0, 0.5), tanh_sinh(0.5, 1.0), strict=True))
    np.testing.assert_allclose(np.sum(weights * nodes**power), 1 / (power + 1), rtol=1e-7)


def _encoder_part(part):
    """Whether a part of a setting changes the encoder alone (see `apply_setting`)."""
    return part.split("=")[0] not in ("init", "confident", "sharp", "prior", "beta")


def _encoder_untouched(setting):
    return not any(_encoder_part(part) for part in setting.split(","))


_NORMALISATION_CASES = [cases[0].id for cases in CASES.values()] + [
    f"continuous_vae-{f}-reparameterization-auto" for f in ("laplace", "beta", "dirichlet", "gamma")
]


@pytest.mark.parametrize(
    "case_id,setting",
    [(c, s) for c in _NORMALISATION_CASES for s in ALL_CASES[c].settings if _encoder_untouched(s)],
    ids=lambda v: v,
)
def test_exact_log_px_is_a_distribution_over_x(case_id, setting):
    """Σ_x p(x) = 1 over all 16 binary x: the reference is normalised (decoder likelihood, prior
    weights and the rule's total weight together); the rules' accuracy on p(x|z) is checked
    inside them by halving the step."""
    model = model_at(ALL_CASES[case_id], setting)
    log_px = EXACT_LOG_PX[ALL_CASES[case_id].name](model, ALL_X)
    np.testing.assert_allclose(logsumexp(log_px), 0.0, atol=1e-6)


_EXACT: dict[tuple, np.ndarray] = {}


def exact_log_px(case: Case, setting: str, model):
    """EXACT_LOG_PX at X, computed once per case and decoder: log p(x) = log ∫ p(x|z) p(z) dz does
    not read the encoder, so the settings that differ only in the encoder's output share it."""
    key = (case.id,) + tuple(p for p in setting.split(",") if not _encoder_part(p))
    if key not in _EXACT:
        _EXACT[key] = EXACT_LOG_PX[case.name](model, X)
    return _EXACT[key]


def _replicated(values):
    """(mean, standard error) per example of [REPLICAS · B] values laid out replica-major."""
    values = np.asarray(values, np.float64).reshape(REPLICAS, -1)
    return values.mean(axis=0), values.std(axis=0, ddof=1) / np.sqrt(REPLICAS)


def broad_posterior(setting: str) -> bool:
    """Whether L_k at k = `IW_SAMPLES` is expected near its limit: q not at an extreme of its
    parameters (a q with a point-like or far-off mass needs astronomically many samples), and
    the decoder not confident (a peaked posterior)."""
    if "confident" in setting or "sharp" in setting:
        return False
    values = [part.split("=") for part in setting.split(",") if "=" in part]
    # Not at β ≠ 1 either: f3_root's density of ζ has an integrable singularity at ζ = 1 − p, so
    # where q's p ≠ ½ the weights p(ζ)/q(ζ) ~ |ζ − ½|^(β − 1) have infinite variance at β ≤ ½.
    return all(
        key == "prior" or value == "init" or abs(float(value)) < 10 for key, value in values
    ) and not any(key == "beta" for key, _ in values)


def importance_weighted_bound(model, x, num_samples, seed):
    """L_k per row of x from the model's log importance weights, log-mean-exp in float64 (what
    `log_likelihood` computes; `test_log_likelihood_is_the_log_mean_of_the_weights` checks that)."""
    log_w = model.log_importance_weights(model.prepare_inputs(tf.constant(x)), as_seed(seed), num_samples)
    return logsumexp(log_w.numpy().astype(np.float64), axis=0) - np.log(num_samples)


@pytest.mark.parametrize("name", available_models())
def test_log_likelihood_is_the_log_mean_of_the_weights(name):
    """`log_likelihood` over chunks (k = 10 in chunks of 4: seeds fold_in(seed, i)) is the
    log-mean-exp of all the importance weights, so the bounds checked on the weights below hold
    for it."""
    model = model_at(CASES[name][0], "init")
    sizes = (4, 4, 2)
    ll = model.log_likelihood(X, num_samples=sum(sizes), chunk_size=sizes[0], seed=IW_SEED).numpy()
    x, seed = model.prepare_inputs(tf.constant(X)), as_seed(IW_SEED)
    fold_in = tf.random.experimental.stateless_fold_in
    log_w = np.concatenate(
        [model.log_importance_weights(x, fold_in(seed, i), k).numpy() for i, k in enumerate(sizes)]
    )
    np.testing.assert_allclose(ll, logsumexp(log_w, axis=0) - np.log(sum(sizes)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "case_id,setting", [(c.id, s) for c in ALL_CASES.values() for s in c.settings], ids=lambda v: v
)
def test_bounds_against_exact_log_px(case_id, setting):
    """ELBO ≤ L_k ≤ log p(x), −ELBO ≥ 0, −L_k ≥ 0 within Monte Carlo error, and L_k near its limit
    at the initial weights, where q is broad."""
    case = ALL_CASES[case_id]
    model = model_at(case, setting)
    log_px = exact_log_px(case, setting, model)
    x = np.tile(X, (REPLICAS, 1))
    elbo_rows = model.elbo(x, seed=ELBO_SEED)["elbo"].numpy()
    iw_rows = importance_weighted_bound(model, x, IW_SAMPLES, IW_SEED)
    elbo, elbo_se = _replicated(elbo_rows)
    l_k, l_k_se = _replicated(iw_rows)
    slack = ATOL + RTOL * np.abs(log_px)
    both_se = np.hypot(elbo_se, l_k_se)
    # name → (amount by which the inequality is violated, > 0 when it is)
    excess = {
        "ELBO > log p(x)": elbo - log_px - SIGMAS * elbo_se - slack,
        "−ELBO < 0": elbo - SIGMAS * elbo_se - ATOL,
        "L_k < ELBO": elbo - l_k - SIGMAS * both_se - slack,
        "L_k > log p(x)": l_k - log_px - SIGMAS * l_k_se - slack,
        "−L_k < 0": l_k - SIGMAS * l_k_se - ATOL,
        "log p(x) > 0": log_px,
    }
    if not case.stochastic:  # q(z|x) one-hot: every importance weight is the ELBO's
        excess["L_k ≠ ELBO"] = np.abs(iw_rows - elbo_rows).reshape(REPLICAS, -1).max(axis=0) - slack
    elif broad_posterior(setting):  # L_k → its limit: near it for a large k where q is broad
        limit = LIMIT_OF_L_K[case.name](model, X) if case.name in LIMIT_OF_L_K else log_px
        excess["L_k far below its limit"] = limit - l_k - CONVERGENCE_TOL - SIGMAS * l_k_se
    failed = {name: v for name, v in excess.items() if not np.all(v <= 0)}  # NaN fails too
    assert not failed, (
        f"{sorted(failed)} by { ({k: np.round(v, 4).tolist() for k, v in failed.items()}) }"
        f"\nlog p(x) {np.round(log_px, 4)}\nELBO     {np.round(elbo, 4)} ± {np.round(elbo_se, 4)}"
        f"\nL_{IW_SAMPLES}    {np.round(l_k, 4)} ± {np.round(l_k_se, 4)}"
    )
