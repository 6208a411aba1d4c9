"""`survival_frame`: per household its tenure, churn flag and the spec's Cox covariates.

Every covariate is read from the raw contract tables so that it means what the simulator's
ground truth means (`_truth/households.parquet`):

* `plan_type` is the plan of the `new` subscription change, collapsed to "Premium" for any
  paid plan of the product (`product.yaml`) and "Free" otherwise: the spec's `plan_type[Premium]`
  and the simulator's `premium_at_signup`.
* `initial_pets` / `initial_members` count the pets and members (owner included) added
  within `INITIAL_WINDOW` of signup. The simulator stamps the people and pets of a new
  household within two hours of signup and later arrivals at a rate of a few a year, so a day
  separates them; later removal does not change the count.
* `avg_health_first_90d` is the mean health score over the as-of days within 90 days of
  signup; null when the household was never scored then (signed up before the scored range,
  or less than a day before a scored day).
* `premium_features_first_30d` counts the distinct Premium features (calendar sync, analytics,
  templates, priority support) first used within 30 days of first becoming paid; 0 for a
  household that never paid. The window is cut at the reference time and at churn.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from cs_assets.contract.events import EventKind as K
from cs_assets.contract.product import PRODUCT
from cs_assets.contract.tables import plan_history_order
from cs_assets.vocabulary import HH, UTC_TS

PREMIUM_FEATURE_KINDS = (
    K.CALENDAR_SYNC_SETUP,
    K.ANALYTICS_VIEWED,
    K.TEMPLATE_CREATED,
    K.PRIORITY_SUPPORT_USED,
)
INITIAL_WINDOW = timedelta(days=1)
HEALTH_WINDOW = timedelta(days=90)
FEATURE_WINDOW = timedelta(days=30)
# Fit from here (`fit_cox(landmark_days=...)`): every covariate window is complete by then.
LANDMARK_DAYS = HEALTH_WINDOW.days
COVARIATES = (
    "plan_type",
    "initial_pets",
    "initial_members",
    "avg_health_first_90d",
    "premium_features_first_30d",
)
SURVIVAL_COLUMNS = (
    HH,
    "signup_at",
    "tenure_days",
    "churned",
    *COVARIATES,
    "plan_at_signup",
    "current_plan",
    "mrr",
)


def _base(households: pl.DataFrame, reference_time: datetime) -> pl.LazyFrame:
    """Households signed up before the reference time, with whole days of tenure at exit."""
    churned = pl.col("churned_at").is_not_null() & (pl.col("churned_at") < reference_time)
    end = pl.when(churned).then(pl.col("churned_at")).otherwise(pl.lit(reference_time))
    return (
        households.lazy()
        .filter(pl.col("created_at") < reference_time)
        .select(
            HH,
            signup_at=pl.col("created_at"),
            exit_at=end,
            tenure_days=(end - pl.col("created_at")).dt.total_days().cast(pl.Int64),
            churned=churned.cast(pl.Int8),
        )
    )


def _initial_count(table: pl.DataFrame, at_column: str, name: str, base: pl.LazyFrame):
    """Rows of `table` stamped within INITIAL_WINDOW of the household's signup."""
    return (
        table.lazy()
        .join(base.select(HH, "signup_at"), on=HH)
        .filter(pl.col(at_column) < pl.col("signup_at") + INITIAL_WINDOW)
        .group_by(HH)
        .agg(pl.len().cast(pl.Int64).alias(name))
    )


def _plans(changes: pl.DataFrame, reference_time: datetime) -> pl.LazyFrame:
    """Plan at signup, first paid instant, and plan / MRR as of the reference time."""
    history = changes.lazy().filter(pl.col("changed_at") < reference_time).sort(
        plan_history_order())
    paid = pl.col("to_plan").is_in(PRODUCT.paid_plans)
    return history.group_by(HH).agg(
        # The `new` row; a history without one starts at its earliest plan.
        plan_at_signup=pl.coalesce(
            pl.col("to_plan").filter(pl.col("change_type") == "new").first(),
            pl.col("to_plan").first(),
        ),
        paid_since=pl.col("changed_at").filter(paid).first(),
        current_plan=pl.col("to_plan").last(),
        mrr=pl.col("mrr_after").last(),
    )


def _premium_features(
    activity_events: pl.DataFrame | pl.LazyFrame, plans: pl.LazyFrame, base: pl.LazyFrame
) -> pl.LazyFrame:
    """Distinct Premium features first used in [paid_since, paid_since + 30 days) before exit."""
    kinds = [k.value for k in PREMIUM_FEATURE_KINDS]
    since = plans.select(HH, "paid_since").join(base.select(HH, "exit_at"), on=HH)
    at = pl.col("occurred_at")
    return (
        activity_events.lazy()
        .filter(pl.col("event_kind").is_in(kinds))
        .select(HH, "event_kind", "occurred_at")
        .join(since, on=HH)
        .filter(
            (at >= pl.col("paid_since"))
            & (at < pl.col("paid_since") + FEATURE_WINDOW)
            & (at < pl.col("exit_at"))
        )
        .group_by(HH)
        .agg(premium_features_first_30d=pl.col("event_kind").n_unique().cast(pl.Int64))
    )


def _early_health(health: pl.DataFrame, base: pl.LazyFrame) -> pl.LazyFrame:
    """Mean health score of the as-of days whose midnight falls in the first 90 days."""
    as_of = pl.col("as_of").cast(UTC_TS)
    return (
        health.lazy()
        .select(HH, "as_of", "health_score")
        .join(base.select(HH, "signup_at", "exit_at"), on=HH)
        .filter(
            (as_of > pl.col("signup_at"))
            & (as_of <= pl.col("signup_at") + HEALTH_WINDOW)
            & (as_of <= pl.col("exit_at"))
        )
        .group_by(HH)
        .agg(avg_health_first_90d=pl.col("health_score").cast(pl.Float64).mean())
    )


def survival_frame(
    households: pl.DataFrame,
    members: pl.DataFrame,
    pets: pl.DataFrame,
    subscription_changes: pl.DataFrame,
    activity_events: pl.DataFrame | pl.LazyFrame,
    health: pl.DataFrame,
    reference_time: datetime,
) -> pl.DataFrame:
    """One row per household signed up before `reference_time` (columns: SURVIVAL_COLUMNS).

    `tenure_days` is whole days from signup to churn, or to `reference_time` for a household
    still active (then `churned` is 0): integer days keep the Cox fit in lifelines' fast tied
    mode. `activity_events` carries the canonical `event_kind` the ingestion adds (a LazyFrame
    scan is fine: only Premium-feature events are read). `health` is (household_id, as_of,
    health_score), e.g. `score_days` on weekly as-of days. `current_plan` / `mrr` are as of
    `reference_time` from the plan history (Free / 0 for a household without one); covariate
    definitions are in the module docstring.
    """
    base = _base(households, reference_time)
    plans = _plans(subscription_changes, reference_time)
    frame = (
        base.join(plans, on=HH, how="left")
        .join(_initial_count(pets, "added_at", "initial_pets", base), on=HH, how="left")
        .join(_initial_count(members, "joined_at", "initial_members", base), on=HH, how="left")
        .join(_premium_features(activity_events, plans, base), on=HH, how="left")
        .join(_early_health(health, base), on=HH, how="left")
    )
    plan_at_signup = pl.col("plan_at_signup").fill_null(PRODUCT.first_plan)
    return (
        frame.with_columns(
            pl.col("initial_pets", "initial_members", "premium_features_first_30d").fill_null(0),
            plan_at_signup=plan_at_signup,
            plan_type=pl.when(plan_at_signup.is_in(PRODUCT.paid_plans))
            .then(pl.lit("Premium"))
            .otherwise(pl.lit("Free")),
            current_plan=pl.when(pl.col("churned") == 1)
            .then(pl.lit(None, pl.String))
            .otherwise(pl.col("current_plan").fill_null(PRODUCT.first_plan)),
            mrr=pl.when(pl.col("churned") == 1).then(0.0).otherwise(pl.col("mrr").fill_null(0.0)),
        )
        .select(SURVIVAL_COLUMNS)
        .sort(HH)
        .collect()
    )
