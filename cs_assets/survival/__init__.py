"""Survival analysis (time to churn): the spec's Cox model, Kaplan-Meier curves, lifetimes.

Pure functions over polars frames (pandas only at the lifelines boundary), no Dagster:
`survival_frame` builds the per-household covariates from the raw tables, `fit_cox` fits
the Cox model without crashing on degenerate covariates (from the LANDMARK_DAYS landmark
for the spec's covariates, whose windows run 90 days past signup), `kaplan_meier` and
`survival_plot_png` give the curves by group, and `lifetime_table` the remaining lifetime
and revenue of each active household.
"""

from cs_assets.survival.covariates import COVARIATES, LANDMARK_DAYS, survival_frame
from cs_assets.survival.cox import CoxResult, fit_cox
from cs_assets.survival.curves import (
    SurvivalByGroup,
    health_segment,
    kaplan_meier,
    survival_plot_png,
)
from cs_assets.survival.lifetime import lifetime_table, remaining_value

__all__ = [
    "COVARIATES",
    "LANDMARK_DAYS",
    "CoxResult",
    "SurvivalByGroup",
    "fit_cox",
    "health_segment",
    "kaplan_meier",
    "lifetime_table",
    "remaining_value",
    "survival_frame",
    "survival_plot_png",
]
