"""Does a playbook change churn? Treated against held-out households, with confidence intervals:
the number the spec claims ("prevented churn") but cannot measure.

The holdout is drawn at random per playbook and household (`enrolment.is_holdout`), so the two
arms differ only by the playbook. The comparison is by intention to treat: treated means
enrolled and not held out, whether or not every step went out or the enrolment exited early
(dropping those would compare the responsive with everyone). A household counts once per
playbook, from its first enrolment, so a re-enrolled household does not weigh twice.

Metrics (difference = treated - holdout):

* `churn_{N}d` for each window N (60, 90): the share churned in [enrolment day 00:00 UTC,
  + N days). Only enrolments whose N days are over at the as-of instant count: an unfinished
  window would count future churners as stayers. A household churned before it was enrolled
  (win-back) is no churn candidate and is left out.
* `value_delivery_change_{N}d`: value_delivery_score on the enrolment day + N minus on the
  enrolment day, for households scored on both days: survivors only, read it beside churn.

Intervals: Newcombe's hybrid score interval (from each arm's Wilson interval) for a difference
of proportions, which stays inside [-1, 1] and behaves at rates near 0; p from the pooled
two-proportion z-test. For the mean change, Welch's t (unequal variances, Satterthwaite
degrees of freedom). Arms too small for a statistic give nulls.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import polars as pl
from scipy import stats

from cs_assets.vocabulary import HH, UTC_TS, instant

EFFECT_SCHEMA = {
    "playbook": pl.String,
    "metric": pl.String,
    "treated_n": pl.Int64,
    "holdout_n": pl.Int64,
    "treated_value": pl.Float64,
    "holdout_value": pl.Float64,
    "difference": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "p_value": pl.Float64,
}


def playbook_effectiveness(
    enrolments: pl.DataFrame,
    churn: pl.DataFrame,
    value_delivery: pl.DataFrame,
    as_of: date,
    *,
    churn_windows: tuple[int, ...] = (60, 90),
    value_window: int = 60,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """EFFECT_SCHEMA per playbook and metric.

    enrolments: household_id, playbook, holdout, enrolled_on; churn: household_id, churned_at
    (UTC; null or absent: not churned); value_delivery: household_id, as_of,
    value_delivery_score (the daily health scores)."""
    first = (
        enrolments.sort("enrolled_on")
        .group_by("playbook", HH, maintain_order=True)
        .agg(pl.col("enrolled_on", "holdout").first())
    )
    playbooks = first["playbook"].unique().sort().to_list()
    start = pl.col("enrolled_on").cast(UTC_TS)
    churned_at = pl.col("churned_at")
    with_churn = first.join(churn.select(HH, "churned_at"), on=HH, how="left")
    parts = []
    for days in churn_windows:
        end = start + timedelta(days=days)
        outcomes = with_churn.filter(
            end <= instant(as_of), churned_at.is_null() | (churned_at >= start)
        ).select("playbook", "holdout", outcome=(churned_at < end).fill_null(False))
        parts.append(_compare(outcomes, playbooks, f"churn_{days}d", confidence, _proportions))
    score = value_delivery.select(HH, "as_of", "value_delivery_score")
    changes = (
        first.filter(pl.col("enrolled_on") + timedelta(days=value_window) <= as_of)
        .join(
            score.rename({"as_of": "enrolled_on", "value_delivery_score": "_before"}),
            on=[HH, "enrolled_on"],
        )
        .with_columns(_after_day=pl.col("enrolled_on") + timedelta(days=value_window))
        .join(
            score.rename({"as_of": "_after_day", "value_delivery_score": "_after"}),
            on=[HH, "_after_day"],
        )
        .select("playbook", "holdout", outcome=pl.col("_after") - pl.col("_before"))
        .drop_nulls("outcome")
    )
    parts.append(
        _compare(changes, playbooks, f"value_delivery_change_{value_window}d", confidence, _welch)
    )
    return pl.DataFrame(
        [row for part in parts for row in part], schema=EFFECT_SCHEMA, orient="row"
    ).sort("playbook", maintain_order=True)


def _compare(
    outcomes: pl.DataFrame, playbooks: list[str], metric: str, confidence: float, estimate
) -> list[tuple]:
    """One row per playbook: each arm's outcomes handed to `estimate`."""
    arms = {
        key: group["outcome"].to_list() for key, group in outcomes.group_by("playbook", "holdout")
    }
    rows = []
    for playbook in playbooks:
        treated = [float(v) for v in arms.get((playbook, False), [])]
        held = [float(v) for v in arms.get((playbook, True), [])]
        rows.append(
            (playbook, metric, len(treated), len(held), *estimate(treated, held, confidence))
        )
    return rows


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _wilson(successes: float, n: int, z: float) -> tuple[float, float]:
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return centre - half, centre + half


def _proportions(treated: list[float], held: list[float], confidence: float) -> tuple:
    """treated rate, holdout rate, difference, Newcombe interval, two-sided p."""
    p1, p0 = _mean(treated), _mean(held)
    if p1 is None or p0 is None:
        return p1, p0, None, None, None, None
    n1, n0 = len(treated), len(held)
    z = stats.norm.ppf(0.5 + confidence / 2)
    low1, high1 = _wilson(sum(treated), n1, z)
    low0, high0 = _wilson(sum(held), n0, z)
    difference = p1 - p0
    ci_low = difference - math.hypot(p1 - low1, high0 - p0)
    ci_high = difference + math.hypot(high1 - p1, p0 - low0)
    pooled = (sum(treated) + sum(held)) / (n1 + n0)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    p_value = 2 * stats.norm.sf(abs(difference) / se) if se > 0 else 1.0
    return p1, p0, difference, ci_low, ci_high, p_value


def _welch(treated: list[float], held: list[float], confidence: float) -> tuple:
    """treated mean, holdout mean, difference, Welch interval, two-sided p."""
    m1, m0 = _mean(treated), _mean(held)
    if len(treated) < 2 or len(held) < 2:
        return m1, m0, None if m1 is None or m0 is None else m1 - m0, None, None, None
    v1 = sum((x - m1) ** 2 for x in treated) / (len(treated) - 1) / len(treated)
    v0 = sum((x - m0) ** 2 for x in held) / (len(held) - 1) / len(held)
    difference, se = m1 - m0, math.sqrt(v1 + v0)
    if se == 0:
        return m1, m0, difference, difference, difference, float(difference == 0)
    df = (v1 + v0) ** 2 / (v1 * v1 / (len(treated) - 1) + v0 * v0 / (len(held) - 1))
    half = stats.t.ppf(0.5 + confidence / 2, df) * se
    p_value = 2 * stats.t.sf(abs(difference) / se, df)
    return m1, m0, difference, difference - half, difference + half, p_value
