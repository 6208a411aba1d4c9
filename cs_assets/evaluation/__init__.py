"""Offline evaluation of the health scores against simulator ground truth."""

from cs_assets.evaluation.early_warning import (
    churn_frame,
    early_warning_by_mechanism,
    early_warning_rates,
    evaluable_churners,
    evaluate_raw_folder,
    flag_lowest,
    flag_quota,
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
