"""Pure functions and small classes over TFP distributions: likelihoods, posteriors, priors, KLs."""

from keraszoo.distributions.kl import (
    analytic_kl,
    bernoulli_kl_uniform,
    categorical_kl_uniform,
    gaussian_param_l2,
    monte_carlo_kl,
)
from keraszoo.distributions.likelihoods import Likelihood, get_likelihood
from keraszoo.distributions.posteriors import (
    FAMILIES,
    PRIORS,
    CoordinateDensity,
    PosteriorFamily,
    check_support,
    get_family,
    has_analytic_kl,
    make_latent_prior,
    make_prior,
)

__all__ = [
    "FAMILIES",
    "PRIORS",
    "CoordinateDensity",
    "Likelihood",
    "PosteriorFamily",
    "analytic_kl",
    "bernoulli_kl_uniform",
    "categorical_kl_uniform",
    "check_support",
    "gaussian_param_l2",
    "get_family",
    "get_likelihood",
    "has_analytic_kl",
    "make_latent_prior",
    "make_prior",
    "monte_carlo_kl",
]
