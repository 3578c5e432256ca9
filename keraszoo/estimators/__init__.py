"""Gradient estimators as stateless ops: score function (REINFORCE), straight-through, Gumbel-softmax."""

from keraszoo.estimators.discrete import (
    DISCRETE_ESTIMATORS,
    bernoulli_kl_uniform,
    bernoulli_sample,
    categorical_kl_uniform,
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
from keraszoo.estimators.estimator import Estimator, get_estimator
from keraszoo.estimators.score_function import (
    BASELINES,
    ESTIMATORS,
    leave_one_out_baseline,
    score_function_surrogate,
    zero_valued,
)

__all__ = [
    "BASELINES",
    "DISCRETE_ESTIMATORS",
    "ESTIMATORS",
    "Estimator",
    "bernoulli_kl_uniform",
    "bernoulli_sample",
    "categorical_kl_uniform",
    "categorical_sample",
    "gumbel_from_uniform",
    "get_estimator",
    "gumbel_softmax",
    "leave_one_out_baseline",
    "logistic_from_uniform",
    "open_uniform",
    "relaxed_bernoulli",
    "score_function_surrogate",
    "straight_through",
    "straight_through_bernoulli",
    "straight_through_categorical",
    "zero_valued",
]
