"""Predicted remaining lifetime and revenue of each active household from a fitted Cox model.

A household with tenure t and partial hazard r (exp of its centred linear predictor) has,
under the Cox model with Breslow baseline cumulative hazard H0 (a step function of tenure),
the conditional survival S(u | t) = exp(-r (H0(t + u) - H0(t))): the chance of still being
a customer u days from now given it is one today. From it, per household:

* `median_remaining_days`: the smallest u with S(u | t) <= 0.5; `median_lifetime_days` is
  t plus that. When the curve stays above 0.5 up to the longest tenure the data has seen
  (H0 is flat beyond it: no extrapolation), both are null and `median_reached` is false.
* `churn_probability`: 1 - S(risk_days | t), the chance of churning within `risk_days`.
* `revenue_at_risk` = MRR x 12 x churn_probability: the annual recurring revenue expected
  to be lost within `risk_days` (one year by default).
* `expected_remaining_revenue` = MRR x sum over u = 1..horizon_days of S(u | t) / DAYS_PER_MONTH:
  MRR times the expected months still subscribed within the horizon (the restricted mean
  of the conditional survival, day by day). At the current MRR: plan changes are not
  forecast.
* `beyond_follow_up`: t + max(horizon_days, risk_days) exceeds the longest tenure in the
  fitting data; survival beyond it is held at its last value, so the revenue is an upper
  bound and the churn probability a lower one.
* `before_landmark`: the model was fitted from a landmark (`fit_cox(landmark_days=...)`)
  the household has not reached; its baseline has no hazard before the landmark, so its
  figures assume it reaches the landmark (and its early covariates are still incomplete).

Households with a null covariate are predicted with the fitting rows' median of that design
column and flagged `covariates_imputed`.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from cs_assets.survival.cox import CoxResult

DAYS_PER_MONTH = 365.25 / 12
# 12 months: the demo data holds two years of tenure, and a horizon past the longest tenure
# seen only adds months of flat, extrapolated survival (`beyond_follow_up`).
HORIZON_DAYS = 365
RISK_DAYS = 365
BLOCK = 4096  # households per block of the (households x days) survival grid


def cumulative_hazard_at(times: np.ndarray, cumulative: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The step function H0 (value of the last time <= `at`; 0 before the first time)."""
    idx = np.searchsorted(times, at, side="right") - 1
    return np.where(idx >= 0, cumulative[np.maximum(idx, 0)], 0.0)


def _median_remaining(times, cumulative, tenure, partial_hazard) -> np.ndarray:
    """Days until S(u | t) <= 0.5 (NaN when it never gets there within the baseline)."""
    target = cumulative_hazard_at(times, cumulative, tenure) + np.log(2.0) / partial_hazard
    idx = np.searchsorted(cumulative, target, side="left")
    reached = idx < times.size
    return np.where(reached, times[np.minimum(idx, times.size - 1)] - tenure, np.nan)


def _restricted_mean_days(times, cumulative, tenure, partial_hazard, horizon_days) -> np.ndarray:
    """Sum over u = 1..horizon_days of S(u | t), BLOCK households at a time."""
    out = np.empty(tenure.size)
    days = np.arange(1, horizon_days + 1, dtype=np.float64)
    for lo in range(0, tenure.size, BLOCK):
        t, r = tenure[lo : lo + BLOCK, None], partial_hazard[lo : lo + BLOCK, None]
        h = cumulative_hazard_at(times, cumulative, t + days) - cumulative_hazard_at(
            times, cumulative, t
        )
        out[lo : lo + BLOCK] = np.exp(-r * h).sum(axis=1)
    return out


def remaining_value(
    times: np.ndarray,
    cumulative: np.ndarray,
    tenure: np.ndarray,
    partial_hazard: np.ndarray,
    mrr: np.ndarray,
    *,
    horizon_days: int = HORIZON_DAYS,
    risk_days: int = RISK_DAYS,
) -> pl.DataFrame:
    """The module docstring's quantities from a baseline (`times` ascending, `cumulative` H0
    at them) for households with `tenure` days, `partial_hazard` r and `mrr`."""
    tenure = np.asarray(tenure, dtype=np.float64)
    r = np.asarray(partial_hazard, dtype=np.float64)
    mrr = np.asarray(mrr, dtype=np.float64)
    median = _median_remaining(times, cumulative, tenure, r)
    gone = cumulative_hazard_at(times, cumulative, tenure + risk_days) - cumulative_hazard_at(
        times, cumulative, tenure
    )
    churn_probability = -np.expm1(-r * gone)
    months = _restricted_mean_days(times, cumulative, tenure, r, horizon_days) / DAYS_PER_MONTH
    reached = np.isfinite(median)
    return pl.DataFrame(
        {
            "median_remaining_days": pl.Series(median).fill_nan(None),
            "median_lifetime_days": pl.Series(tenure + median).fill_nan(None),
            "median_reached": reached,
            "churn_probability": churn_probability,
            "expected_remaining_revenue": mrr * months,
            "revenue_at_risk": mrr * 12.0 * churn_probability,
            "beyond_follow_up": tenure + max(horizon_days, risk_days) > times[-1],
        }
    )


def lifetime_table(
    result: CoxResult,
    frame: pl.DataFrame,
    *,
    duration_col: str = "tenure_days",
    event_col: str = "churned",
    mrr_col: str = "mrr",
    horizon_days: int = HORIZON_DAYS,
    risk_days: int = RISK_DAYS,
) -> pl.DataFrame:
    """Per active household of `frame` (`event_col` == 0): household_id, tenure, MRR,
    `before_landmark`, `covariates_imputed` and `remaining_value`'s columns under the model
    of `result`."""
    active = frame.filter(pl.col(event_col) == 0)
    x = result.design.encode(active).select(result.kept)
    imputed = x.select(pl.any_horizontal(pl.all().is_null())).to_series()
    x = x.with_columns(pl.col(c).fill_null(v) for c, v in result.medians.items())
    partial = result.model.predict_partial_hazard(x.to_pandas()).to_numpy()
    baseline = result.model.baseline_cumulative_hazard_
    value = remaining_value(
        baseline.index.to_numpy(dtype=np.float64),
        baseline.iloc[:, 0].to_numpy(),
        active[duration_col].to_numpy(),
        partial,
        active[mrr_col].to_numpy(),
        horizon_days=horizon_days,
        risk_days=risk_days,
    )
    return pl.concat(
        [
            active.select(
                "household_id",
                duration_col,
                mrr_col,
                before_landmark=pl.col(duration_col) < result.landmark_days,
            ),
            pl.DataFrame({"covariates_imputed": imputed}),
            value,
        ],
        how="horizontal",
    )
