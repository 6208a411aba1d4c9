"""Support scores: the War story 2 engagement rule that replaced "more tickets = unhealthy",
and that old rule, kept so old and new health scores can be compared."""

from __future__ import annotations

import polars as pl

from cs_assets.scoring.component import Component, Rule, count
from cs_assets.scoring.config import Scorecard
from cs_assets.scoring.text import counted, number


def _tickets_in(scorecard: Scorecard) -> pl.Expr:
    tickets = count("tickets_90d")
    return pl.format("{} in {} days", counted(tickets, "ticket", "tickets"),
                     pl.lit(scorecard.windows.lookback_days))


def _unresolved_critical_reason() -> pl.Expr:
    unresolved = count("critical_tickets_unresolved")
    return counted(unresolved, "unresolved critical ticket", "unresolved critical tickets")


def support_engagement(scorecard: Scorecard) -> Component:
    """Baseline 70. 1–3 tickets score by CSAT (an unrated set scores `unrated_points`, 0: no
    evidence either way); no tickets is +10 with proactive outreach, else −5; 4–5 tickets get
    nothing (as in the spec); more than 5 lose 3 each, at most 30; then unresolved critical
    tickets and slow resolution (a null average, nothing resolved, is not slow)."""
    cfg = scorecard.support_engagement
    moderate = cfg.moderate_volume
    high = cfg.high_volume
    tickets = count("tickets_90d")
    csat = pl.col("avg_csat_90d")
    outreach = count("proactive_outreach_90d")
    resolution = pl.col("avg_resolution_hours_90d")
    lookback = scorecard.windows.lookback_days

    csat_points = (
        pl.when(~tickets.is_between(moderate.min_tickets, moderate.max_tickets)).then(0.0)
        .when(csat.is_null()).then(moderate.unrated_points)
        .when(csat >= moderate.csat_great_at_least).then(moderate.great_points)
        .when(csat >= moderate.csat_good_at_least).then(moderate.good_points)
        .otherwise(moderate.poor_points)
    )
    csat_reason = pl.format(
        "{}, {}", _tickets_in(scorecard),
        pl.when(csat.is_null()).then(pl.lit("none rated"))
        .otherwise(pl.format("CSAT {}", number(csat, 2))),
    )
    silence_points = (
        pl.when(tickets != 0).then(0.0)
        .when(outreach > 0).then(cfg.no_tickets.outreach_points)
        .otherwise(cfg.no_tickets.silent_points)
    )
    silence_reason = (
        pl.when(outreach > 0)
        .then(pl.lit(f"no tickets but proactive outreach in {lookback} days"))
        .otherwise(pl.lit(f"no tickets and no proactive outreach in {lookback} days"))
    )
    volume_points = (
        pl.when(tickets > high.above_tickets)
        .then((tickets * high.points_per_ticket).clip(lower_bound=high.floor_points))
        .otherwise(0.0)
    )
    slow = cfg.slow_resolution
    return Component(
        name="support_engagement",
        score_column="support_engagement_score",
        label="support",
        baseline=cfg.baseline,
        rules=(
            Rule("ticket_csat", csat_points, csat_reason),
            Rule("no_tickets", silence_points, silence_reason),
            Rule("high_volume", volume_points, _tickets_in(scorecard)),
            Rule(
                "unresolved_critical",
                count("critical_tickets_unresolved") * cfg.unresolved_critical_points,
                _unresolved_critical_reason(),
            ),
            Rule(
                "slow_resolution",
                pl.when(resolution > slow.above_hours).then(slow.points).otherwise(0.0),
                pl.format("average resolution {} h (over {} h)", number(resolution),
                          pl.lit(f"{slow.above_hours:g}")),
            ),
        ),
    )


def support_health_old(scorecard: Scorecard) -> Component:
    """The replaced rule, defined here because the spec only names it: 100, minus (by default)
    15 per ticket in 90 days and 25 per unresolved critical ticket. Zero tickets scores 100, as
    the silent churners' support_health_score did."""
    cfg = scorecard.support_health_old
    return Component(
        name="support_health_old",
        score_column="support_health_score_old",
        label="support (old rule)",
        baseline=100.0,
        rules=(
            Rule("tickets", count("tickets_90d") * cfg.points_per_ticket, _tickets_in(scorecard)),
            Rule(
                "unresolved_critical",
                count("critical_tickets_unresolved") * cfg.unresolved_critical_points,
                _unresolved_critical_reason(),
            ),
        ),
    )
