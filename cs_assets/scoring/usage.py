"""Activity components of the base health model, which the spec references but does not include:
product usage, feature adoption and engagement.

They measure *activity* (days active, logins, sessions, features touched, who is active, how
recently) and deliberately not task outcomes, which are value delivery's. War story 1's silent
churners were exactly households whose activity stayed high while outcomes fell, so the two
scores must be able to disagree. Each part scores 100 at its target and loses its share of the
score linearly below it; the rules report that loss.
"""

from __future__ import annotations

import polars as pl

from cs_assets.scoring.component import Component, Rule, count, shortfall
from cs_assets.scoring.config import Part, Scorecard
from cs_assets.scoring.text import counted, number


def _target(part: Part) -> pl.Expr:
    return pl.lit(f"{part.target:g}")


def product_usage(scorecard: Scorecard) -> Component:
    """Active days, logins and average session minutes in the last 30 days vs their targets."""
    cfg = scorecard.product_usage
    days = scorecard.windows.trend_days
    active_days = count("active_days_30d")
    logins = count("logins_30d")
    minutes = pl.col("avg_session_minutes_30d")
    return Component(
        name="product_usage",
        score_column="product_usage_score",
        label="product usage",
        baseline=100.0,
        rules=(
            Rule(
                "active_days",
                shortfall(active_days, cfg.active_days.weight, cfg.active_days.target),
                pl.format("{} in last {} (target {})",
                          counted(active_days, "active day", "active days"), pl.lit(days),
                          _target(cfg.active_days)),
            ),
            Rule(
                "logins",
                shortfall(logins, cfg.logins.weight, cfg.logins.target),
                pl.format("{} in last {} days (target {})", counted(logins, "login", "logins"),
                          pl.lit(days), _target(cfg.logins)),
            ),
            Rule(
                "session_minutes",
                shortfall(minutes, cfg.session_minutes.weight, cfg.session_minutes.target),
                pl.when(minutes.is_null())
                .then(pl.lit(f"no sessions in last {days} days"))
                .otherwise(pl.format("average session {} min in last {} days (target {})",
                                     number(minutes), pl.lit(days),
                                     _target(cfg.session_minutes))),
            ),
        ),
    )


def feature_adoption(scorecard: Scorecard) -> Component:
    """Distinct core features used in the last 90 days vs the target."""
    target = scorecard.feature_adoption.core_features_target
    used = count("features_used_90d")
    return Component(
        name="feature_adoption",
        score_column="feature_adoption_score",
        label="feature adoption",
        baseline=100.0,
        rules=(
            Rule(
                "core_features",
                shortfall(used, 1.0, target),
                pl.format("{} used in {} days (target {})",
                          counted(used, "core feature", "core features"),
                          pl.lit(scorecard.windows.lookback_days), pl.lit(target)),
            ),
        ),
    )


def _recency_reached(full_within: int, zero_after: int) -> pl.Expr:
    """1 up to `full_within` days since the last login, falling linearly to 0 at `zero_after`;
    0 for a household that never logged in (null)."""
    days = pl.col("days_since_last_login")
    return (1 - (days - full_within) / (zero_after - full_within)).clip(0, 1).fill_null(0)


def engagement(scorecard: Scorecard) -> Component:
    """DAU/WAU, share of members active in 30 days, and days since the last login."""
    cfg = scorecard.engagement
    recency = cfg.recency
    days = scorecard.windows.trend_days
    last_login = pl.col("days_since_last_login")
    return Component(
        name="engagement",
        score_column="engagement_score",
        label="engagement",
        baseline=100.0,
        rules=(
            Rule(
                "stickiness",
                shortfall(pl.col("dau_wau_ratio"), cfg.stickiness.weight, cfg.stickiness.target),
                pl.format("DAU/WAU {} (target {})", number(pl.col("dau_wau_ratio").fill_null(0), 2),
                          _target(cfg.stickiness)),
            ),
            Rule(
                "active_members",
                shortfall(pl.col("active_members_ratio"), cfg.active_members.weight,
                          cfg.active_members.target),
                pl.format("{} of {} members active in last {} days", count("active_members_30d"),
                          count("total_members"), pl.lit(days)),
            ),
            Rule(
                "recency",
                -100 * recency.weight
                * (1 - _recency_reached(recency.full_within_days, recency.zero_after_days)),
                pl.when(last_login.is_null()).then(pl.lit("never logged in"))
                .otherwise(pl.format("last login {} days ago", last_login)),
            ),
        ),
    )
