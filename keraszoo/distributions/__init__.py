"""Pure functions and small classes over TFP distributions: likelihoods and KL terms."""

from keraszoo.distributions.kl import (
    KL_ESTIMATORS,
    analytic_kl,
    gaussian_param_l2,
    monte_carlo_kl,
)
from keraszoo.distributions.likelihoods import Likelihood, get_likelihood

__all__ = [
    "KL_ESTIMATORS",
    "Likelihood",
    "analytic_kl",
    "gaussian_param_l2",
    "get_likelihood",
    "monte_carlo_kl",
]
