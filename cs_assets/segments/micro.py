"""Behavioral micro-segments (the spec's "Advanced Customer Segmentation"): six labels per
household and day, the segment they form together, the spec's recommended action, and a
per-segment summary with the mean churn probability.

Input: one day's household_features (active households only, like the spec's `is_active`)
left-joined with `latest_nps` and, optionally, churn_predictions' `churn_probability`.
Spec input -> what is used:

* dau_wau_ratio -> `dau_wau_ratio`.
* active_members / total_members -> `active_members_ratio` (members active in 30 days over
  current members, capped at 1), with `active_members_30d` and `total_members`.
* premium_features_count -> Premium features in use: calendar sync set up, analytics viewed,
  a template created, priority support used (0–4).
* advanced_features_count -> `features_used_90d` (distinct named features used in 90 days).
* days_since_signup -> `days_since_signup` (whole days).
* nps_score -> `nps_score`, the latest NPS answer before the as-of instant (`latest_nps`).
* tickets_per_month -> `tickets_90d` per month of tenure in that window: tickets_90d over
  clip(days_since_signup, 30, 90) / 30, so a new household is not diluted over 3 months.

Decisions where the spec is ambiguous or wrong:

* Every band is `>=` its cut-off, checked top-down as in the spec: a value exactly on a
  cut-off takes the higher label (dau_wau 0.8 is Power User, NPS 9 Advocate).
* A missing NPS is "No Response", not "Detractor" (the SQL's ELSE catches NULL): no answer is
  not a bad answer, so it gets no "Executive escalation" either.
* A one-member household whose member is active is "Solo User": the spec's ratio (1/1 = 1.0)
  would call it "Full Household", and "Encourage inviting household members" could never reach
  it. Otherwise the spec's order stands: 1 of 2 active (0.5) is Partial, and 2+ active but under
  half is "Inactive Household" (the spec's ELSE; its TypeScript type forgets that label).
* Support: BETWEEN 1 AND 3 is inclusive, so exactly 3 tickets a month is Medium, above 3 High,
  below 1 (fractions included) Low.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from cs_assets.segments import SegmentConfig
from cs_assets.vocabulary import HH, instant

NOT_AVAILABLE = "Not available"  # a dimension the product's data cannot give
DIMENSIONS = ("usage_intensity", "collaboration_level", "feature_sophistication",
              "lifecycle_stage", "value_perception", "support_dependency")
SEGMENT_SEPARATOR = " / "
MONTH_DAYS = 30
TICKET_WINDOW_DAYS = 90  # the window of `tickets_90d`


def latest_nps(nps_responses: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """household_id, nps_score: each household's last answer before the as-of instant."""
    return (
        nps_responses.lazy()
        .filter(pl.col("responded_at") < instant(as_of))
        .sort("responded_at", "response_id")
        .group_by(HH)
        .agg(nps_score=pl.col("score").last())
        .collect()
    )


def nps_advocates(nps_responses: pl.DataFrame, as_of: date, config: SegmentConfig) -> pl.DataFrame:
    """household_id of every household whose value perception is "Advocate" on `as_of` (its
    latest NPS answer before the instant), whether or not it is active."""
    return latest_nps(nps_responses, as_of).filter(
        _value_perception(config) == "Advocate").select(HH)


def _usage_intensity(config: SegmentConfig) -> pl.Expr:
    cfg = config.micro.usage_intensity
    ratio = pl.col("dau_wau_ratio").fill_null(0.0)
    return (
        pl.when(ratio >= cfg.power_at_least).then(pl.lit("Power User"))
        .when(ratio >= cfg.regular_at_least).then(pl.lit("Regular User"))
        .when(ratio >= cfg.casual_at_least).then(pl.lit("Casual User"))
        .otherwise(pl.lit("Dormant User"))
    )


def _collaboration_level(config: SegmentConfig) -> pl.Expr:
    cfg = config.micro.collaboration
    active = pl.col("active_members_30d").fill_null(0)
    ratio = pl.col("active_members_ratio").fill_null(0.0)
    return (
        # no members table: a product with one user per account is not a household to grow
        pl.when(pl.col("total_members").is_null()).then(pl.lit(NOT_AVAILABLE))
        .when((active == 1) & (pl.col("total_members") <= 1))
        .then(pl.lit("Solo User"))
        .when(ratio >= cfg.full_at_least).then(pl.lit("Full Household"))
        .when(ratio >= cfg.partial_at_least).then(pl.lit("Partial Household"))
        .when(active == 1).then(pl.lit("Solo User"))
        .otherwise(pl.lit("Inactive Household"))
    )


def premium_features_in_use() -> pl.Expr:
    """How many of the four Premium features the household uses (the spec's
    premium_features_count)."""
    used = [
        pl.col("calendar_sync_setup").fill_null(False),
        pl.col("analytics_views").fill_null(0) > 0,
        pl.col("templates_created").fill_null(0) > 0,
        pl.col("priority_support_used").fill_null(0) > 0,
    ]
    return pl.sum_horizontal(*(flag.cast(pl.Int64) for flag in used))


def _feature_sophistication(config: SegmentConfig) -> pl.Expr:
    cfg = config.micro.feature_sophistication
    return (
        pl.when(premium_features_in_use() >= cfg.advanced_premium_features_at_least)
        .then(pl.lit("Advanced"))
        .when(pl.col("features_used_90d").fill_null(0) >= cfg.intermediate_features_at_least)
        .then(pl.lit("Intermediate"))
        .otherwise(pl.lit("Basic"))
    )


def _lifecycle_stage(config: SegmentConfig) -> pl.Expr:
    cfg = config.lifecycle
    days = pl.col("days_since_signup")
    return (
        pl.when(days <= cfg.onboarding_days_at_most).then(pl.lit("Onboarding"))
        .when(days <= cfg.adoption_days_at_most).then(pl.lit("Adoption"))
        .when(days <= cfg.growth_days_at_most).then(pl.lit("Growth"))
        .otherwise(pl.lit("Mature"))
    )


def _value_perception(config: SegmentConfig) -> pl.Expr:
    cfg = config.micro.value_perception
    nps = pl.col("nps_score")
    return (
        pl.when(nps.is_null()).then(pl.lit("No Response"))
        .when(nps >= cfg.advocate_at_least).then(pl.lit("Advocate"))
        .when(nps >= cfg.satisfied_at_least).then(pl.lit("Satisfied"))
        .when(nps >= cfg.neutral_at_least).then(pl.lit("Neutral"))
        .otherwise(pl.lit("Detractor"))
    )


def tickets_per_month() -> pl.Expr:
    """Tickets in the 90-day window per month of it the household has lived (at least one)."""
    months = pl.col("days_since_signup").clip(MONTH_DAYS, TICKET_WINDOW_DAYS) / MONTH_DAYS
    return pl.col("tickets_90d").fill_null(0) / months


def _support_dependency(config: SegmentConfig) -> pl.Expr:
    cfg = config.micro.support_dependency
    rate = tickets_per_month()
    return (
        pl.when(rate > cfg.high_above).then(pl.lit("High Touch"))
        .when(rate >= cfg.medium_at_least).then(pl.lit("Medium Touch"))
        .otherwise(pl.lit("Low Touch"))
    )


def _recommended_action() -> pl.Expr:
    """The spec's CASE, first match wins."""
    c = pl.col
    return (
        pl.when((c("usage_intensity") == "Power User") & (c("value_perception") == "Advocate"))
        .then(pl.lit("Solicit testimonials, case studies, referrals"))
        .when(c("usage_intensity") == "Dormant User")
        .then(pl.lit("Automated re-engagement email series"))
        .when((c("collaboration_level") == "Solo User") & (c("feature_sophistication") == "Basic"))
        .then(pl.lit("Encourage inviting household members"))
        .when((c("lifecycle_stage") == "Onboarding") & (c("support_dependency") == "High Touch"))
        .then(pl.lit("Proactive onboarding assistance"))
        .when(c("value_perception") == "Detractor")
        .then(pl.lit("Executive escalation or graceful churn"))
        .otherwise(pl.lit("Monitor and nurture"))
    )


def micro_segments(frame: pl.DataFrame | pl.LazyFrame, config: SegmentConfig) -> pl.DataFrame:
    """household_id, as_of, the six dimension labels, `segment` (the six joined in the spec's
    order), `recommended_action` and `churn_probability` (null when not given)."""
    lazy = frame.lazy()
    has_probability = "churn_probability" in lazy.collect_schema().names()
    probability = pl.col("churn_probability") if has_probability else pl.lit(None)
    return (
        lazy.with_columns(
            usage_intensity=_usage_intensity(config),
            collaboration_level=_collaboration_level(config),
            feature_sophistication=_feature_sophistication(config),
            lifecycle_stage=_lifecycle_stage(config),
            value_perception=_value_perception(config),
            support_dependency=_support_dependency(config),
        )
        .with_columns(
            segment=pl.concat_str(DIMENSIONS, separator=SEGMENT_SEPARATOR),
            recommended_action=_recommended_action(),
        )
        .select(HH, "as_of", *DIMENSIONS, "segment", "recommended_action",
                probability.cast(pl.Float64).alias("churn_probability"))
        .sort("as_of", HH)
        .collect()
    )


def segment_summary(segments: pl.DataFrame) -> pl.DataFrame:
    """Per day and segment (the spec's GROUP BY): its labels and action, `households`, `share`
    of the day's households (0–1) and `mean_churn_probability` over households with a
    prediction (null when none has one). Largest segments first, then by name."""
    return (
        segments.group_by("as_of", "segment", *DIMENSIONS, "recommended_action")
        .agg(households=pl.len().cast(pl.Int64),
             mean_churn_probability=pl.col("churn_probability").mean())
        .with_columns(share=pl.col("households") / pl.col("households").sum().over("as_of"))
        .select("as_of", "segment", *DIMENSIONS, "recommended_action", "households", "share",
                "mean_churn_probability")
        .sort("as_of", "households", "segment", descending=[False, True, False])
    )
