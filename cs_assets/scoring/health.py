"""Overall health: the weighted component scores, new (War story 1) and old side by side."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from cs_assets.scoring.component import Component
from cs_assets.scoring.config import HealthWeights, Scorecard
from cs_assets.scoring.payment import payment_health
from cs_assets.scoring.support import support_engagement, support_health_old
from cs_assets.scoring.usage import engagement, feature_adoption, product_usage
from cs_assets.scoring.value_delivery import value_delivery
from cs_assets.vocabulary import KEYS


def health_components(scorecard: Scorecard) -> dict[str, Component]:
    """The new model's components, keyed like `HealthWeights`."""
    return {
        "product_usage": product_usage(scorecard),
        "feature_adoption": feature_adoption(scorecard),
        "support": support_engagement(scorecard),
        "engagement": engagement(scorecard),
        "payment": payment_health(scorecard),
        "value_delivery": value_delivery(scorecard),
    }


def health_components_old(scorecard: Scorecard) -> dict[str, Component]:
    """The model before the war stories: the same components with the old support rule (its
    weights give value delivery 0)."""
    return {**health_components(scorecard), "support": support_health_old(scorecard)}


def weighted_health(scores: Mapping[str, pl.Expr], weights: HealthWeights) -> pl.Expr:
    """round(sum of weight × component score), rounding halves up like the spec's Math.round."""
    total = pl.sum_horizontal(*(scores[key] * weight for key, weight in weights))
    return total.round(0, mode="half_away_from_zero").cast(pl.Int64)


def health_scores(features: pl.DataFrame | pl.LazyFrame, scorecard: Scorecard) -> pl.DataFrame:
    """Per household and day: every component score (0–100), `health_score` with the new weights
    and `health_score_old` with the old weights and old support rule."""
    new = health_components(scorecard)
    old = health_components_old(scorecard)
    components = {c.score_column: c for c in (*new.values(), *old.values())}

    def scores(model: dict[str, Component]) -> dict[str, pl.Expr]:
        return {key: pl.col(c.score_column) for key, c in model.items()}

    return (
        features.lazy()
        .select(*KEYS, *(c.score() for c in components.values()))
        .with_columns(
            weighted_health(scores(new), scorecard.health_weights).alias("health_score"),
            weighted_health(scores(old), scorecard.health_weights_old).alias("health_score_old"),
        )
        .collect()
    )
