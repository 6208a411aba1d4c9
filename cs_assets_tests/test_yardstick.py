"""The evaluation's yardstick: 28-day counts before the as-of instant, and a paired household
bootstrap of the ROC-AUC difference."""

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from cs_assets.dev.evaluation.yardstick import (
    TENURE,
    _auc,
    event_counts,
    fit_and_score,
    paired_bootstrap,
)

AS_OF = date(2026, 5, 1)
MIDNIGHT = datetime(2026, 5, 1, tzinfo=UTC)


def test_counts_see_the_28_days_before_the_as_of_instant_only():
    at = [MIDNIGHT - timedelta(seconds=1), MIDNIGHT - timedelta(days=28),
          MIDNIGHT - timedelta(days=28, seconds=1), MIDNIGHT, MIDNIGHT + timedelta(days=2)]
    events = pl.LazyFrame({"household_id": ["a"] * 5, "occurred_at": at,
                           "event_type": ["x", "x", "x", "x", "y"]})
    households = pl.LazyFrame({"household_id": ["a", "b"],
                               "created_at": [MIDNIGHT - timedelta(days=100)] * 2})
    rows = pl.DataFrame({"household_id": ["a", "b"], "as_of": [AS_OF, AS_OF]})
    out = event_counts(events, households, rows).sort("household_id")
    assert out["n_x"].to_list() == pytest.approx([np.log1p(2), 0.0])  # the two inside
    assert out["n_y"].to_list() == [0.0, 0.0]  # after the instant: a column, never counted
    assert out[TENURE].to_list() == pytest.approx([100.0, 100.0])


def test_the_weighted_auc_is_sklearns():
    rng = np.random.default_rng(1)
    y, p = rng.integers(0, 2, 300), rng.random(300).round(2)  # ties included
    weight = rng.integers(0, 3, 300).astype(float)
    levels, codes = np.unique(p, return_inverse=True)
    assert _auc(y, codes, levels.size, weight) == pytest.approx(
        roc_auc_score(y, p, sample_weight=weight))


def test_the_paired_interval_is_zero_for_the_same_scores_and_above_it_for_a_better_one():
    rng = np.random.default_rng(2)
    households = np.repeat(np.arange(200), 3)
    y = (rng.random(households.size) < 0.3).astype(int)
    noise = rng.random(households.size)
    same = paired_bootstrap(y, noise, noise, households, resamples=200)
    assert (same.difference, same.low, same.high) == (0.0, 0.0, 0.0)
    better = paired_bootstrap(y, y + noise, noise, households, resamples=200)
    assert better.difference > 0.3 and better.low > 0


def test_the_baseline_learns_from_the_counts():
    rng = np.random.default_rng(3)
    n = 600
    signal = rng.poisson(3, n)
    y = (rng.random(n) < 1 / (1 + np.exp(signal - 3))).astype(int)  # fewer events, more churn
    frame = pl.DataFrame({"n_x": np.log1p(signal), "n_z": rng.random(n), TENURE: rng.random(n),
                          "churned_30d": y.astype(bool)})
    p = fit_and_score(frame[:400], frame[400:], "churned_30d")
    assert roc_auc_score(y[400:], p) > 0.65
