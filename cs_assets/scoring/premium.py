"""Premium adoption (War story 3): are paying households using what they pay for?"""

from __future__ import annotations

import polars as pl

from cs_assets.scoring.component import count
from cs_assets.scoring.config import Scorecard, Tiered
from cs_assets.vocabulary import KEYS


def _tiered(value: pl.Expr, tiers: Tiered) -> pl.Expr:
    return (
        pl.when(value >= tiers.high_at_least).then(tiers.high_points)
        .when(value >= tiers.some_at_least).then(tiers.some_points)
        .otherwise(0.0)
    )


def premium_adoption_points(scorecard: Scorecard) -> dict[str, pl.Expr]:
    """Points per Premium feature, named `premium_adoption__<feature>`."""
    cfg = scorecard.premium_adoption
    calendar = pl.col("calendar_sync_setup").fill_null(False)
    onboarded = pl.col("premium_onboarding_completed").fill_null(False)
    return {
        "premium_adoption__calendar_sync": pl.when(calendar)
        .then(cfg.calendar_sync_points).otherwise(0.0),
        "premium_adoption__analytics": _tiered(count("analytics_views"), cfg.analytics),
        "premium_adoption__custom_templates": _tiered(count("templates_created"), cfg.templates),
        "premium_adoption__priority_support": pl.when(
            count("priority_support_used") >= cfg.priority_support.at_least
        ).then(cfg.priority_support.points).otherwise(0.0),
        "premium_adoption__onboarding": pl.when(onboarded)
        .then(cfg.onboarding_points).otherwise(0.0),
    }


def missing_premium_features(scorecard: Scorecard) -> pl.Expr:
    """The spec's list: calendar sync not set up, analytics and custom templates below the
    threshold that earns points. Priority support is left out, as in the spec: it is used when
    something goes wrong, so not having used it is no adoption gap to coach on."""
    cfg = scorecard.premium_adoption
    missing = {
        "calendar_sync": ~pl.col("calendar_sync_setup").fill_null(False),
        "analytics": count("analytics_views") < cfg.analytics.some_at_least,
        "custom_templates": count("templates_created") < cfg.templates.some_at_least,
    }
    flags = [pl.when(is_missing).then(pl.lit(name)) for name, is_missing in missing.items()]
    return pl.concat_list(flags).list.drop_nulls()


def premium_adoption(features: pl.DataFrame | pl.LazyFrame, scorecard: Scorecard) -> pl.DataFrame:
    """`premium_adoption_score` (0–100), `premium_adoption_risk` (upgraded >= 30 days ago and
    score < 40; unknown upgrade age is no risk), `missing_premium_features` and the per-feature
    points. All null for households not on a `premium_adoption.plans` plan."""
    cfg = scorecard.premium_adoption
    on_plan = pl.col("plan").is_in(cfg.plans)
    points = premium_adoption_points(scorecard)
    score = pl.sum_horizontal(*points.values()).clip(0, 100)
    risk = (pl.col("days_since_upgrade") >= cfg.risk.min_days_since_upgrade).fill_null(False) & (
        score < cfg.risk.score_below
    )
    columns = {
        "premium_adoption_score": score,
        "premium_adoption_risk": risk,
        "missing_premium_features": missing_premium_features(scorecard),
        **points,
    }
    return (
        features.lazy()
        .select(*KEYS, *(pl.when(on_plan).then(expr).alias(name) for name, expr in columns.items()))
        .collect()
    )
