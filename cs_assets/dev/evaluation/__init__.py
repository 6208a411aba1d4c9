"""Offline evaluation of the health scores against simulator ground truth."""

from cs_assets.churn.early_warning import (
    early_warning_by_mechanism,
    early_warning_rates,
    evaluable_churners,
    flag_lowest,
    flag_quota,
)
from cs_assets.dev.evaluation.raw_folder import (
    churn_frame,
    evaluate_raw_folder,
    load_feature_inputs,
    score_days,
)

__all__ = [
    "churn_frame",
    "early_warning_by_mechanism",
    "early_warning_rates",
    "evaluable_churners",
    "evaluate_raw_folder",
    "flag_lowest",
    "flag_quota",
    "load_feature_inputs",
    "score_days",
]
