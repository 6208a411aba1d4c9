"""Value delivery (War story 1): outcomes (tasks, pets, new features, shared work, pet health),
not activity. Baseline 50."""

from __future__ import annotations

import polars as pl

from cs_assets.scoring.component import Component, Rule, count
from cs_assets.scoring.config import Scorecard
from cs_assets.scoring.text import counted, number, percent_change, signed

# A zero baseline has no trend; tasks completed anyway are new activity, scored as doubling.
NEW_ACTIVITY_TREND = 1.0


def task_trend_effective() -> pl.Expr:
    """The task-completion trend value delivery scores: the observed trend, else +1.0 (new
    activity) when tasks were completed against a zero baseline, else 0 (flat: none before,
    none now)."""
    fallback = pl.when(count("tasks_completed_30d") > 0).then(NEW_ACTIVITY_TREND).otherwise(0.0)
    return pl.coalesce(pl.col("task_completion_trend"), fallback)


def value_delivery(scorecard: Scorecard) -> Component:
    """Baseline 50; task trend ±15 / ±30, pets added +20, new features +10 / +20,
    collaboration +20 / +10 / −10, improving pet health +10. Missing collaboration or pet health
    data scores 0."""
    cfg = scorecard.value_delivery
    band = cfg.task_trend
    windows = scorecard.windows
    trend = task_trend_effective()
    # The spec tests `> 0.1` before `> 0.3`, which leaves +30 unreachable; strongest band first
    # is the intent (it already does so for declines).
    task_points = (
        pl.when(trend < band.strong_decline_below).then(band.strong_decline_points)
        .when(trend < band.decline_below).then(band.decline_points)
        .when(trend > band.strong_growth_above).then(band.strong_growth_points)
        .when(trend > band.growth_above).then(band.growth_points)
        .otherwise(0.0)
    )
    task_reason = (
        pl.when(pl.col("task_completion_trend").is_null())
        .then(pl.format("{} task completions vs none in prior {} days",
                        count("tasks_completed_30d"), pl.lit(windows.trend_previous_days)))
        .otherwise(pl.format("task completions {} vs prior {} days",
                             percent_change(pl.col("task_completion_trend")),
                             pl.lit(windows.trend_previous_days)))
    )

    pets = count("pets_added_90d")
    new_features = count("new_features_adopted_90d")
    tiers = cfg.new_features
    feature_points = (
        pl.when(new_features >= tiers.high_at_least).then(tiers.high_points)
        .when(new_features >= tiers.some_at_least).then(tiers.some_points)
        .otherwise(0.0)
    )
    # A null collaboration score means no shared work was observed at all: no points either way.
    collab = pl.col("collaboration_score")
    bands = cfg.collaboration
    collab_points = (
        pl.when(collab > bands.high_above).then(bands.high_points)
        .when(collab > bands.medium_above).then(bands.medium_points)
        .when(collab < bands.low_below).then(bands.low_points)
        .otherwise(0.0)
    )
    lookback = windows.lookback_days
    return Component(
        name="value_delivery",
        score_column="value_delivery_score",
        label="value delivery",
        baseline=cfg.baseline,
        rules=(
            Rule("task_trend", task_points, task_reason),
            Rule(
                "pets_added",
                pl.when(pets > 0).then(cfg.pets_added_points).otherwise(0.0),
                pl.format("{} added in {} days", counted(pets, "pet", "pets"), pl.lit(lookback)),
            ),
            Rule(
                "new_features",
                feature_points,
                pl.format("{} adopted in {} days",
                          counted(new_features, "new feature", "new features"), pl.lit(lookback)),
            ),
            Rule(
                "collaboration",
                collab_points,
                pl.format("collaboration score {}", number(collab)),
            ),
            Rule(
                "pet_health",
                pl.when(pl.col("pet_health_trend") > 0)
                .then(cfg.pet_health_improving_points).otherwise(0.0),
                pl.format("pet health improving ({})", signed(pl.col("pet_health_trend"), 2)),
            ),
        ),
    )
