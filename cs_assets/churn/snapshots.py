"""Features and health scores of every active household on a set of as-of days."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl

from cs_assets.features.household import FeatureInputs, features_for_days, unavailable_features
from cs_assets.scoring import Scorecard, health_scores
from cs_assets.vocabulary import KEYS


def features_and_scores(
    inputs: FeatureInputs,
    days: Sequence[date],
    scorecard: Scorecard,
    *,
    batch_days: int = 30,
    keep_features: bool = True,
) -> pl.DataFrame:
    """One row per (household, as-of day): the features (unless `keep_features` is False) and
    every health score, computed `batch_days` days at a time to bound memory."""
    days = sorted(set(days))
    if not days:
        raise ValueError("no as-of days to score")
    parts = []
    for i in range(0, len(days), batch_days):
        features = features_for_days(inputs, days[i : i + batch_days])
        scores = health_scores(features, scorecard, unavailable_features(inputs.absent))
        parts.append(features.join(scores, on=list(KEYS)) if keep_features else scores)
    return pl.concat(parts, rechunk=True)
