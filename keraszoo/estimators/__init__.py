"""Gradient estimators as stateless surrogate-loss ops."""

from keraszoo.estimators.score_function import (
    BASELINES,
    ESTIMATORS,
    leave_one_out_baseline,
    score_function_surrogate,
    zero_valued,
)

__all__ = ["BASELINES", "ESTIMATORS", "leave_one_out_baseline", "score_function_surrogate", "zero_valued"]
