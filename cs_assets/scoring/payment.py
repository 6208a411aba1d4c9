"""Payment health, part of the base model the spec references but does not include: 100 for a
household paying on time (or owing nothing, like Free), penalties for the current status
(past due, failed) and for the 90-day history (failed and late payments, an overdue balance)."""

from __future__ import annotations

import polars as pl

from cs_assets.scoring.component import Component, Rule, count
from cs_assets.scoring.config import Scorecard
from cs_assets.scoring.text import counted, number


def payment_health(scorecard: Scorecard) -> Component:
    cfg = scorecard.payment_health
    lookback = scorecard.windows.lookback_days
    status = pl.col("payment_status")
    failed = count("failed_payments_90d")
    late = count("late_payments_90d")
    overdue = pl.col("overdue_amount").fill_null(0)
    return Component(
        name="payment_health",
        score_column="payment_health_score",
        label="payment",
        baseline=100.0,
        rules=(
            Rule(
                "status",
                pl.when(status == "past_due").then(cfg.past_due_points)
                .when(status == "failed").then(cfg.failed_points)
                .otherwise(0.0),
                pl.format("payment {}", status.str.replace_all("_", " ")),
            ),
            Rule(
                "failed_payments",
                (failed * cfg.failed_payment_points).clip(lower_bound=cfg.failed_payments_floor),
                pl.format("{} in {} days", counted(failed, "failed payment", "failed payments"),
                          pl.lit(lookback)),
            ),
            Rule(
                "late_payments",
                (late * cfg.late_payment_points).clip(lower_bound=cfg.late_payments_floor),
                pl.format("{} in {} days", counted(late, "late payment", "late payments"),
                          pl.lit(lookback)),
            ),
            Rule(
                "overdue",
                pl.when(overdue > 0).then(cfg.overdue_points).otherwise(0.0),
                pl.format("overdue balance {}", number(overdue, 2)),
            ),
        ),
    )
