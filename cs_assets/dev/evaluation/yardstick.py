"""The book-style baseline a churn champion must beat, on exactly the champion's split.

An L1 logistic regression (`LogisticRegressionCV`, saga, 5 folds, chosen by ROC-AUC) on the
log1p count of every raw event type in the 28 days before each as-of instant plus tenure in
days, standardized: what a data scientist would fit in an afternoon from the events alone.
The champion earns its complexity only if the paired bootstrap interval of the ROC-AUC
difference lies above 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegressionCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from cs_assets.vocabulary import AS_OF, HH

WINDOW_DAYS = 28
TENURE = "tenure_days"


def event_counts(events: pl.LazyFrame, households: pl.LazyFrame,
                 rows: pl.DataFrame) -> pl.DataFrame:
    """`rows` (household_id, as_of) with the log1p count of every event type in the
    `WINDOW_DAYS` before the as-of instant (midnight UTC) and the tenure in days.

    Events are reduced to daily counts once; each as-of day then sums its window."""
    day = pl.col("occurred_at").dt.date().alias("day")
    daily = (events.group_by(HH, day, "event_type").agg(n=pl.len())
             .collect(engine="streaming"))
    types = sorted(daily["event_type"].unique().to_list())
    parts = []
    for as_of in rows[AS_OF].unique().sort():
        window = daily.filter(pl.col("day").is_between(
            as_of - timedelta(days=WINDOW_DAYS), as_of, closed="left"))
        parts.append(window.group_by(HH, "event_type").agg(pl.col("n").sum())
                     .with_columns(pl.lit(as_of).alias(AS_OF)))
    counts = (pl.concat(parts).pivot(on="event_type", index=[HH, AS_OF], values="n")
              if parts else pl.DataFrame(schema={HH: pl.String, AS_OF: pl.Date}))
    named = {t: f"n_{t}" for t in types if t in counts.columns}
    created = households.select(HH, "created_at").collect()
    out = (rows.select(HH, AS_OF)
           .join(counts.rename(named), on=[HH, AS_OF], how="left")
           .join(created, on=HH, how="left"))
    return out.with_columns(
        *[pl.col(c).fill_null(0).log1p().alias(c) for c in named.values()],
        *[pl.lit(0.0).alias(f"n_{t}") for t in types if t not in named],
        ((pl.col(AS_OF).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")  # its instant
          - pl.col("created_at")).dt.total_seconds() / 86_400).clip(lower_bound=0).alias(TENURE),
    ).drop("created_at")


def baseline() -> Pipeline:
    # penalty="l1" as scikit-learn 1.8 spells it: an L1 share of 1 (`penalty` is deprecated)
    return make_pipeline(StandardScaler(), LogisticRegressionCV(
        l1_ratios=(1.0,), solver="saga", cv=5, scoring="roc_auc", max_iter=2000,
        use_legacy_attributes=False, random_state=0))


def fit_and_score(train: pl.DataFrame, test: pl.DataFrame, label: str) -> np.ndarray:
    """The baseline fitted on `train`'s counts and tenure, its probabilities on `test`."""
    features = [c for c in train.columns if c.startswith("n_")] + [TENURE]
    model = baseline().fit(train.select(features).to_numpy(),
                           train[label].cast(pl.Int8).to_numpy())
    return model.predict_proba(test.select(features).to_numpy())[:, 1]


def _auc(y: np.ndarray, codes: np.ndarray, levels: int, weight: np.ndarray) -> float:
    """Weighted ROC-AUC from scores already ranked into `codes` (ties share a code)."""
    pos = np.bincount(codes, weights=weight * y, minlength=levels)
    neg = np.bincount(codes, weights=weight * (1 - y), minlength=levels)
    below = np.cumsum(neg) - neg
    return float((pos * (below + 0.5 * neg)).sum() / (pos.sum() * neg.sum()))


@dataclass(frozen=True)
class PairedInterval:
    difference: float  # champion - baseline ROC-AUC on the holdout
    low: float
    high: float
    resamples: int


def paired_bootstrap(y: np.ndarray, champion: np.ndarray, baseline_p: np.ndarray,
                     households: np.ndarray, *, resamples: int = 2000,
                     seed: int = 0) -> PairedInterval:
    """95% percentile interval of ROC-AUC(champion) - ROC-AUC(baseline), both scored on the
    same resampled rows. Households are resampled, not rows: a household's weekly rows are
    not independent, so a row bootstrap would make the interval too narrow."""
    y = np.asarray(y, dtype=float)
    _, group = np.unique(households, return_inverse=True)
    ranked = [np.unique(np.asarray(p), return_inverse=True) for p in (champion, baseline_p)]
    codes = [(inverse, levels.size) for levels, inverse in ranked]
    ones = np.ones_like(y)
    observed = [_auc(y, c, n, ones) for c, n in codes]
    rng = np.random.default_rng(seed)
    groups = group.max() + 1
    diffs = np.empty(resamples)
    for i in range(resamples):
        weight = np.bincount(rng.integers(0, groups, groups), minlength=groups)[group]
        a, b = (_auc(y, c, n, weight) for c, n in codes)
        diffs[i] = a - b
    low, high = np.percentile(diffs, [2.5, 97.5])
    return PairedInterval(observed[0] - observed[1], float(low), float(high), resamples)
