"""Trend alerts (War story 1's detectNegativeTrends): a metric that fell too far against the
previous 30 days, even while absolute values still look healthy."""

from __future__ import annotations

import polars as pl

from cs_assets.scoring.config import Scorecard
from cs_assets.scoring.trend import trend
from cs_assets.vocabulary import KEYS

# metric -> (current window column, previous window column)
ALERT_METRICS = {
    "task_completion": ("tasks_completed_30d", "tasks_completed_prev_30d"),
    "active_users": ("active_users_30d", "active_users_prev_30d"),
    "session_duration": ("avg_session_minutes_30d", "avg_session_minutes_prev_30d"),
}


def trend_alerts(features: pl.DataFrame | pl.LazyFrame, scorecard: Scorecard) -> pl.DataFrame:
    """One row per alert: household_id, as_of, metric, current_value, previous_value,
    percent_change (-62.0 for a 62% fall), severity.

    Inequalities are strict as in the spec (a change of exactly -30% does not alert; 10 current
    tasks do not, 11 do). A zero or missing previous value never alerts: there is nothing to
    decline from. No session in the current window (null average) is no *duration* alert either;
    the fall in logins and active days is what the usage score sees.
    """
    lazy = features.lazy()
    frames = []
    for metric, (current, previous) in ALERT_METRICS.items():
        rule = getattr(scorecard.trend_alerts, metric)
        change = trend(current, previous)
        fires = change < rule.change_below
        if rule.current_above is not None:
            fires = fires & (pl.col(current) > rule.current_above)
        frames.append(
            lazy.filter(fires.fill_null(False)).select(
                *KEYS,
                pl.lit(metric).alias("metric"),
                pl.col(current).cast(pl.Float64).alias("current_value"),
                pl.col(previous).cast(pl.Float64).alias("previous_value"),
                (change * 100).alias("percent_change"),
                pl.lit(rule.severity).alias("severity"),
            )
        )
    return pl.concat(frames).sort(*KEYS, maintain_order=True).collect()
