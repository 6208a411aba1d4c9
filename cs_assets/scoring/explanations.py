"""Why a household scored what it did: every rule that moved a component score of the new health
model, with its points, ranked by its effect on the overall health score (points × weight).

Built from the same rule expressions as the scores. Vectorized across households: each rule is
one filtered select over all rows, and the selects are stacked into long format (a melt that
drops zero points before it formats any reason text, which is where the time would go).
"""

from __future__ import annotations

import polars as pl

from cs_assets.scoring.config import Scorecard
from cs_assets.scoring.health import health_components, redistributed
from cs_assets.scoring.text import signed
from cs_assets.vocabulary import KEYS


def rule_contributions(
    features: pl.DataFrame | pl.LazyFrame, scorecard: Scorecard,
    unavailable: frozenset[str] = frozenset(),
) -> pl.DataFrame:
    """Long format, one row per household, day and rule that moved a score: component, rule,
    points (on the component, before clipping), health_effect (points × the component's weight),
    reason (`task completions −62% vs prior 30 days: value delivery −30`), rank (1 = largest
    absolute health effect; ties keep the order components and rules are defined in)."""
    lazy = features.lazy()
    components = health_components(scorecard, unavailable)
    weights = redistributed(scorecard.health_weights, components)
    per_rule = []
    for order, (key, component) in enumerate(components.items()):
        weight = weights[key]
        for position, rule in enumerate(component.rules):
            points = rule.points.cast(pl.Float64)
            per_rule.append(
                lazy.filter(points != 0).select(
                    *KEYS,
                    pl.lit(component.name).alias("component"),
                    pl.lit(rule.name).alias("rule"),
                    points.alias("points"),
                    (points * weight).alias("health_effect"),
                    pl.format("{}: {} {}", rule.reason, pl.lit(component.label), signed(points))
                    .alias("reason"),
                    pl.lit(order * 100 + position).alias("_order"),
                )
            )
    return (
        pl.concat(per_rule)
        .sort(
            *KEYS, pl.col("health_effect").abs(), "_order",
            descending=[False, False, True, False],
        )
        .with_columns(pl.int_range(1, pl.len() + 1).over(list(KEYS)).alias("rank"))
        .drop("_order")
        .collect()
    )


def explain_health(features: pl.DataFrame | pl.LazyFrame, scorecard: Scorecard,
                   unavailable: frozenset[str] = frozenset()) -> pl.DataFrame:
    """household_id, as_of, reasons (list[str], largest health effect first; empty when no rule
    moved a score; then a note per component the product cannot score) and top_reasons (the
    first `explanations.top_reasons` rules, joined by "; ")."""
    ranked = rule_contributions(features, scorecard, unavailable)
    reasons = ranked.group_by(*KEYS).agg(pl.col("reason").sort_by("rank").alias("reasons"))
    top = scorecard.explanations.top_reasons
    notes = pl.lit(not_scored(scorecard, unavailable), dtype=pl.List(pl.String))
    return (
        features.lazy()
        .select(*KEYS)
        .join(reasons.lazy(), on=list(KEYS), how="left", maintain_order="left")
        .with_columns(pl.col("reasons").fill_null(pl.lit([], dtype=pl.List(pl.String))))
        .with_columns(pl.col("reasons").list.head(top).list.join("; ").alias("top_reasons"),
                      pl.col("reasons").list.concat(notes))
        .collect()
    )


def not_scored(scorecard: Scorecard, unavailable: frozenset[str]) -> list[str]:
    """One line per component of the health score the product cannot score."""
    every, kept = health_components(scorecard), health_components(scorecard, unavailable)
    return [f"{every[key].label} not available for this product: its weight "
            f"{weight:g} is shared by the other components"
            for key, weight in scorecard.health_weights if key not in kept and weight > 0]
