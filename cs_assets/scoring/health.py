"""Overall health: the weighted component scores, new (War story 1) and old side by side."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

import polars as pl

from cs_assets.scoring.component import Component, Rule
from cs_assets.scoring.config import HealthWeights, Scorecard
from cs_assets.scoring.payment import payment_health
from cs_assets.scoring.support import support_engagement, support_health_old
from cs_assets.scoring.usage import engagement, feature_adoption, product_usage
from cs_assets.scoring.value_delivery import value_delivery
from cs_assets.vocabulary import KEYS

# What the platform itself did: a component left with only these has no product data.
PLATFORM_FEATURES = frozenset({"proactive_outreach_90d"})


def _reads(rule: Rule) -> set[str]:
    return set(rule.points.meta.root_names())


def available(components: dict[str, Component],
              unavailable: frozenset[str] = frozenset()) -> dict[str, Component]:
    """The components a product can score. A rule reading a feature the product cannot have
    (its source table is absent) gives 0 points, the scorecard's "missing: 0 points"; a
    component left with no rule on the product's own data drops out."""
    kept = {}
    for key, component in components.items():
        rules = tuple(r for r in component.rules if not _reads(r) & unavailable)
        if any(_reads(r) - PLATFORM_FEATURES for r in rules):
            kept[key] = replace(component, rules=rules)
    return kept


def redistributed(weights: HealthWeights, kept: Iterable[str]) -> dict[str, float]:
    """The weights of the components kept, rescaled to sum to 1 in the same proportions: a
    dropped component's weight goes to the others, not to a made-up score."""
    kept, every = set(kept), dict(weights)
    if kept >= set(every):
        return every  # unchanged, not divided by a sum that is 1 only up to rounding
    weights = {key: w for key, w in every.items() if key in kept}
    total = sum(weights.values())
    if total <= 0:
        raise ValueError(f"no weight left on the components this product can score: {kept}")
    return {key: w / total for key, w in weights.items()}


def health_components(scorecard: Scorecard,
                      unavailable: frozenset[str] = frozenset()) -> dict[str, Component]:
    """The new model's components, keyed like `HealthWeights`."""
    return available({
        "product_usage": product_usage(scorecard),
        "feature_adoption": feature_adoption(scorecard),
        "support": support_engagement(scorecard),
        "engagement": engagement(scorecard),
        "payment": payment_health(scorecard),
        "value_delivery": value_delivery(scorecard),
    }, unavailable)


def health_components_old(scorecard: Scorecard,
                          unavailable: frozenset[str] = frozenset()) -> dict[str, Component]:
    """The model before the war stories: the same components with the old support rule (its
    weights give value delivery 0)."""
    return available({**health_components(scorecard), "support": support_health_old(scorecard)},
                     unavailable)


def weighted_health(scores: Mapping[str, pl.Expr], weights: Mapping[str, float]) -> pl.Expr:
    """round(sum of weight × component score), rounding halves up like the spec's Math.round."""
    total = pl.sum_horizontal(*(scores[key] * weight for key, weight in weights.items()))
    return total.round(0, mode="half_away_from_zero").cast(pl.Int64)


def health_scores(features: pl.DataFrame | pl.LazyFrame, scorecard: Scorecard,
                  unavailable: frozenset[str] = frozenset()) -> pl.DataFrame:
    """Per household and day: every component score (0–100; null for a component the product
    cannot score), `health_score` with the new weights and `health_score_old` with the old
    weights and old support rule, each redistributed over the components kept."""
    new = health_components(scorecard, unavailable)
    old = health_components_old(scorecard, unavailable)
    components = {c.score_column: c for c in (*new.values(), *old.values())}
    dropped = {c.score_column for c in (*health_components(scorecard).values(),
                                        *health_components_old(scorecard).values())}
    dropped -= set(components)

    def scores(model: dict[str, Component]) -> dict[str, pl.Expr]:
        return {key: pl.col(c.score_column) for key, c in model.items()}

    return (
        features.lazy()
        .select(*KEYS, *(c.score() for c in components.values()),
                *(pl.lit(None, pl.Float64).alias(c) for c in sorted(dropped)))
        .with_columns(
            weighted_health(scores(new), redistributed(scorecard.health_weights, new))
            .alias("health_score"),
            weighted_health(scores(old), redistributed(scorecard.health_weights_old, old))
            .alias("health_score_old"),
        )
        .collect()
    )
