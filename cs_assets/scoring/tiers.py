"""Health tiers (the spec's runDailyHealthChecks): a low score or enough trend alerts."""

from __future__ import annotations

import polars as pl

from cs_assets.scoring.config import Scorecard
from cs_assets.vocabulary import KEYS


def health_tiers(scores: pl.DataFrame, alerts: pl.DataFrame, scorecard: Scorecard) -> pl.DataFrame:
    """household_id, as_of, health_score, alert_count, tier, by `scorecard.tiers.rule()`.

    The comparisons are strict: a score exactly at a cut-off is in the better tier.
    """
    cfg = scorecard.tiers
    counts = alerts.group_by(*KEYS).agg(pl.len().cast(pl.Int64).alias("alert_count"))
    health = pl.col("health_score")
    alert_count = pl.col("alert_count")
    tier = (
        pl.when((health < cfg.critical_below) | (alert_count >= cfg.critical_min_alerts))
        .then(pl.lit("critical"))
        .when((health < cfg.at_risk_below) | (alert_count >= cfg.at_risk_min_alerts))
        .then(pl.lit("at_risk"))
        .otherwise(pl.lit("healthy"))
    )
    return (
        scores.lazy()
        .select(*KEYS, "health_score")
        .join(counts.lazy(), on=list(KEYS), how="left", maintain_order="left")
        .with_columns(alert_count.fill_null(0))
        .with_columns(tier.alias("tier"))
        .collect()
    )
