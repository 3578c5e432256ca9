"""Encoder-gradient estimators as objects that own their surrogate loss (`Estimator`), chosen once
by name (`get_estimator`), and the stateless ops they are built from.

Every estimator module is imported here, so that its `@register_estimator` runs.
"""

from keraszoo.estimators import arm as _arm  # noqa: F401  (registers)
from keraszoo.estimators import pathwise as _pathwise  # noqa: F401  (registers)
from keraszoo.estimators import rebar as _rebar  # noqa: F401  (registers)
from keraszoo.estimators import score_function as _score_function  # noqa: F401  (registers)
from keraszoo.estimators.discrete import (
    bernoulli_sample,
    categorical_sample,
    gumbel_from_uniform,
    gumbel_softmax,
    logistic_from_uniform,
    open_uniform,
    relaxed_bernoulli,
    straight_through,
    straight_through_bernoulli,
    straight_through_categorical,
)
from keraszoo.estimators.estimator import (
    LATENT_KINDS,
    OBJECTIVES,
    Estimate,
    Estimator,
    Samples,
    estimator_names,
    get_estimator,
    log_weights,
    register_estimator,
    zero_valued,
)
from keraszoo.estimators.score_function import BASELINES, leave_one_out_baseline, score_function_surrogate

__all__ = [
    "BASELINES",
    "LATENT_KINDS",
    "OBJECTIVES",
    "Estimate",
    "Estimator",
    "Samples",
    "bernoulli_sample",
    "categorical_sample",
    "estimator_names",
    "get_estimator",
    "gumbel_from_uniform",
    "gumbel_softmax",
    "leave_one_out_baseline",
    "log_weights",
    "logistic_from_uniform",
    "open_uniform",
    "register_estimator",
    "relaxed_bernoulli",
    "score_function_surrogate",
    "straight_through",
    "straight_through_bernoulli",
    "straight_through_categorical",
    "zero_valued",
]
