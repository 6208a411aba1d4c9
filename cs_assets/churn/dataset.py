"""Training observations: households at historical as-of days, labelled by churn in the next days.

An observation is (household, as-of day `d`) for a household active at the as-of instant
(midnight UTC starting `d`), with the features and scores of `d` (data strictly before the
instant) and the label `churned_30d`: `churned_at` in `[d, d + label_days)`. It is kept only
when that label window is over at the reference instant, so no label is a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import polars as pl

from cs_assets.vocabulary import AS_OF, HH, UTC_TS

LABEL = "churned_30d"


def snapshot_days(reference: datetime, since: date, every_days: int = 7) -> list[date]:
    """As-of days every `every_days` back from the reference day, none before `since`; ascending.

    Anchored on the reference day, so the latest snapshot is the freshest the data allows and
    successive weekly runs reuse the same weekday.
    """
    if every_days < 1:
        raise ValueError(f"every_days must be >= 1, got {every_days}")
    last = reference.date()
    count = max((last - since).days // every_days + 1, 0)
    return [last - timedelta(days=every_days * k) for k in reversed(range(count))]


def label_observations(
    snapshots: pl.DataFrame,
    churn: pl.DataFrame,
    reference: datetime,
    label_days: int = 30,
) -> pl.DataFrame:
    """`snapshots` (one row per household and as-of day) with `LABEL`, complete windows only.

    `churn` holds `household_id, churned_at` (null: has not churned). Rows whose label window
    `[d, d + label_days)` ends after `reference` are dropped.
    """
    start = pl.col(AS_OF).cast(UTC_TS)
    end = start + pl.duration(days=label_days)
    churned_at = pl.col("churned_at")
    return (
        snapshots.join(churn.select(HH, "churned_at"), on=HH, how="left")
        .filter(end <= pl.lit(reference).cast(UTC_TS))
        .with_columns(
            (churned_at.is_not_null() & (churned_at >= start) & (churned_at < end)).alias(LABEL)
        )
        .drop("churned_at")
        .sort(AS_OF, HH)
    )


@dataclass(frozen=True)
class Split:
    """Out-of-time split: train on earlier observation days, test on the latest ones."""

    train: pl.DataFrame
    test: pl.DataFrame
    test_first_day: date
    train_last_day: date


def out_of_time_split(
    observations: pl.DataFrame, *, holdout_days: int, label_days: int = 30
) -> Split:
    """Test: as-of days within `holdout_days` of the last one. Train: days whose label window
    closes before the first test day (`d + label_days <= first test day`), so no training label
    looks into the test period.
    """
    days = observations.select(pl.col(AS_OF).unique().sort())[AS_OF]
    if days.is_empty():
        raise ValueError("no observations to split")
    last = days.max()
    test_first = days.filter(days > last - timedelta(days=holdout_days)).min()
    train_last = test_first - timedelta(days=label_days)
    train = observations.filter(pl.col(AS_OF) <= train_last)
    test = observations.filter(pl.col(AS_OF) >= test_first)
    if train.is_empty():
        raise ValueError(
            f"no training observations on or before {train_last}: the history is shorter than "
            f"holdout_days ({holdout_days}) + label_days ({label_days})"
        )
    if test[LABEL].n_unique() < 2 or train[LABEL].n_unique() < 2:
        raise ValueError("the train and test periods each need churners and non-churners")
    return Split(train=train, test=test, test_first_day=test_first, train_last_day=train_last)
