"""Early warning at a fixed alert budget: does a health score flag churners weeks before they go?

Each as-of day, every score flags the same share of the households active that day (the
lowest-scoring `budget`, e.g. 10 %), so two scores are compared at equal cost to the CS team
and "flag everyone" is not a way to win. A churner counts as warned when it was flagged on at
least one as-of day 30 to 60 days before its churn day: early enough to act, late enough that
the score saw the decline.

Definitions (all days are UTC calendar days):

* *as-of day* `d`: features and scores use data strictly before midnight UTC starting `d`;
  the households scored on `d` are the ones active then (the rows of `scores` for `d`).
* *churn day* `c`: the UTC date of `churned_at`. The *lead window* of a churner is the
  as-of days `d` with `lead_min <= c - d <= lead_max` (both ends included: 30 and 60 count,
  29 and 61 do not).
* *evaluable churner*: its whole lead window lies inside the scored range
  (`first scored day <= c - lead_max` and `c - lead_min <= last scored day`), at least one
  scored as-of day falls in it, and the household has a score row on *every* scored as-of
  day of the window (it was active the whole window; a household that signed up during it
  is left out). Every evaluable churner therefore had the same number of chances to be
  flagged. Churners whose window sticks out of the scored range are not counted at all.
* *non-churner*: a household with a score row and no churn date; churners (evaluable or
  not) are left out of the false alarms.
* *false-alarm rate*: the like-for-like counterpart of the churner rate, the share of
  non-churner windows (`lead_max - lead_min + 1` = 31 consecutive days, inside the scored
  range, the household scored on every scored day of it; one window ending on each scored
  day) with at least one flag. It exposes a score that catches churners "at least once" only
  by jumping around from day to day. `non_churner_day_share` is the plain share of
  non-churner household-days flagged, which is close to the budget by construction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta

import polars as pl

from cs_assets.vocabulary import AS_OF, HH

FLAGGED = "flagged"
SILENT = "silent_decline"
SCORE_COLS = ("health_score", "health_score_old")
LEAD_DAYS = (30, 60)

# The raw tables the features read, in an order where every parent comes before its children,
# and the validated tables each one's row rules look up (as the ingestion assets do).
def _check_budget(budget: float) -> None:
    if not 0 < budget <= 1:
        raise ValueError(f"budget must be a share in (0, 1], got {budget!r}")


def flag_quota(active: int, budget: float) -> int:
    """How many of `active` households a day's budget flags: ceil(budget × active).

    Rounded to 9 decimals first, so float noise cannot add a household (0.1 × 30 is
    3.0000000000000004 in binary floating point, and ceil of that would be 4)."""
    _check_budget(budget)
    return math.ceil(round(budget * active, 9))


def _quota_expr(budget: float) -> pl.Expr:
    """`flag_quota` per as-of day, as an expression."""
    active = pl.len().over(AS_OF).cast(pl.Float64)
    return (active * budget).round(9).ceil().cast(pl.Int64)


def flag_lowest(scores: pl.DataFrame, score_col: str, budget: float) -> pl.DataFrame:
    """Per as-of day, flag exactly the lowest-scoring `ceil(budget × households that day)`.

    `scores` has one row per (household_id, as_of) for the households active that day and a
    numeric `score_col`. Ties are broken by `household_id` (ascending), so the count flagged is
    exactly the quota, whatever the ties; a null score sorts after every real score. Returns
    `household_id, as_of, <score_col>, flag_rank` (1 = lowest that day) and `flagged`, sorted
    by as-of day and rank.
    """
    _check_budget(budget)
    frame = scores.select(HH, AS_OF, score_col)
    if frame.select(pl.struct(HH, AS_OF).is_duplicated().any()).item():
        raise ValueError("scores must have one row per (household_id, as_of)")
    return (
        frame.sort([AS_OF, score_col, HH], nulls_last=True)
        .with_columns(flag_rank=(pl.int_range(pl.len()).over(AS_OF) + 1).cast(pl.Int64))
        .with_columns((pl.col("flag_rank") <= _quota_expr(budget)).alias(FLAGGED))
    )


def _churn_days(churn: pl.DataFrame) -> pl.DataFrame:
    """(household_id, churn_day, mechanism) of the households that churned."""
    at = pl.col("churned_at")
    day = at if churn.schema["churned_at"] == pl.Date else at.dt.date()
    mechanism = pl.col("mechanism") if "mechanism" in churn.columns else pl.lit(None, pl.String)
    return (
        churn.filter(at.is_not_null())
        .select(HH, day.alias("churn_day"), mechanism.cast(pl.String).alias("mechanism"))
        .unique(HH, keep="first", maintain_order=True)
    )


def evaluable_churners(
    scores: pl.DataFrame, churn: pl.DataFrame, lead_days: tuple[int, int] = LEAD_DAYS
) -> pl.DataFrame:
    """The churners the rates count (see the module docstring), one row each:
    `household_id, churn_day, mechanism, window_days` (scored as-of days in the lead window)."""
    lead_min, lead_max = lead_days
    if not 0 <= lead_min <= lead_max:
        raise ValueError(f"lead_days must be (min, max) with 0 <= min <= max, got {lead_days!r}")
    days = scores.select(pl.col(AS_OF).unique().sort())
    if days.is_empty():
        return pl.DataFrame(
            schema={
                HH: pl.String,
                "churn_day": pl.Date,
                "mechanism": pl.String,
                "window_days": pl.UInt32,
            }
        )
    first, last = days[AS_OF].min(), days[AS_OF].max()
    lo = pl.col("churn_day") - timedelta(days=lead_max)
    hi = pl.col("churn_day") - timedelta(days=lead_min)
    inside = _churn_days(churn).filter((lo >= first) & (hi <= last))
    in_window = (pl.col(AS_OF) >= lo) & (pl.col(AS_OF) <= hi)
    expected = (
        inside.join(days, how="cross").filter(in_window).group_by(HH).agg(window_days=pl.len())
    )
    present = (
        scores.select(HH, AS_OF)
        .join(inside, on=HH)
        .filter(in_window)
        .group_by(HH)
        .agg(present=pl.col(AS_OF).n_unique())
    )
    return (
        inside.join(expected, on=HH)
        .join(present, on=HH)
        .filter(pl.col("present") == pl.col("window_days"))
        .select(HH, "churn_day", "mechanism", "window_days")
        .sort(HH)
    )


def _warned(
    flags: pl.DataFrame, churners: pl.DataFrame, lead_days: tuple[int, int]
) -> pl.DataFrame:
    """Each evaluable churner with `warned`: flagged on some as-of day of its lead window."""
    lead = (pl.col("churn_day") - pl.col(AS_OF)).dt.total_days()
    hits = (
        flags.filter(pl.col(FLAGGED))
        .select(HH, AS_OF)
        .join(churners.select(HH, "churn_day"), on=HH)
        .filter(lead.is_between(*lead_days))
        .select(HH)
        .unique()
        .with_columns(warned=pl.lit(True))
    )
    return churners.join(hits, on=HH, how="left").with_columns(pl.col("warned").fill_null(False))


def _non_churner_windows(flags: pl.DataFrame, span: int) -> pl.DataFrame:
    """Each non-churner day `d` with `window_hit` (flagged on some scored day of `d - span + 1`
    .. `d`) and `full_window` (that window lies inside the scored range and the household has a
    row on every scored day of it): the non-churner counterpart of a churner's lead window."""
    window = f"{span}d"
    days = flags.select(pl.col(AS_OF).unique().sort())
    first = days[AS_OF].min()
    one = pl.col(AS_OF).is_not_null().cast(pl.Int64)
    expected = days.with_columns(expected=one.rolling_sum_by(AS_OF, window))
    return (
        flags.sort(HH, AS_OF)
        .with_columns(
            window_hit=pl.col(FLAGGED).cast(pl.Int64).rolling_max_by(AS_OF, window).over(HH) > 0,
            present=one.rolling_sum_by(AS_OF, window).over(HH),
        )
        .join(expected, on=AS_OF, how="left")
        .with_columns(
            full_window=(pl.col(AS_OF) - timedelta(days=span - 1) >= first)
            & (pl.col("present") == pl.col("expected"))
        )
    )


def _share(hit: pl.Expr) -> pl.Expr:
    return pl.when(pl.len() > 0).then(hit.cast(pl.Float64).mean())


def early_warning_by_mechanism(
    scores: pl.DataFrame,
    churn: pl.DataFrame,
    score_cols: Sequence[str] = SCORE_COLS,
    budget: float = 0.10,
    lead_days: tuple[int, int] = LEAD_DAYS,
) -> pl.DataFrame:
    """Per score and churn mechanism: evaluable churners, how many were warned and the share."""
    churners = evaluable_churners(scores, churn, lead_days)
    parts = [
        _warned(flag_lowest(scores, col, budget), churners, lead_days)
        .group_by(pl.col("mechanism").fill_null("unknown"))
        .agg(
            evaluated=pl.len().cast(pl.Int64),
            warned=pl.col("warned").sum().cast(pl.Int64),
            rate=_share(pl.col("warned")),
        )
        .select(pl.lit(col).alias("score"), pl.all())
        for col in score_cols
    ]
    schema = {
        "score": pl.String,
        "mechanism": pl.String,
        "evaluated": pl.Int64,
        "warned": pl.Int64,
        "rate": pl.Float64,
    }
    if not parts:
        return pl.DataFrame(schema=schema)
    return pl.concat(parts).cast(schema).sort("score", "mechanism")


def early_warning_rates(
    scores: pl.DataFrame,
    churn: pl.DataFrame,
    score_cols: Sequence[str] = SCORE_COLS,
    budget: float = 0.10,
    lead_days: tuple[int, int] = LEAD_DAYS,
) -> pl.DataFrame:
    """One row per score: the share of evaluable churners (and of the silent-decline ones)
    flagged at least once 30–60 days before churn, and the false-alarm rate, at `budget`.

    `scores`: one row per (household_id, as_of) for each active household, with `score_cols`.
    `churn`: `household_id, churned_at` (Datetime or Date; null = did not churn) and
    optionally `mechanism` (`silent_decline` marks the planted silent churners). Rates are
    null when nobody is evaluable. Which churners count is in the module docstring.
    """
    lead_min, lead_max = lead_days
    churners = evaluable_churners(scores, churn, lead_days)
    all_churners = _churn_days(churn).select(HH)
    silent = pl.col("mechanism") == SILENT
    rows = []
    for col in score_cols:
        flags = flag_lowest(scores, col, budget)
        warned = _warned(flags, churners, lead_days)
        stats = warned.select(
            churners_evaluated=pl.len().cast(pl.Int64),
            churners_warned=pl.col("warned").sum().cast(pl.Int64),
            churner_rate=_share(pl.col("warned")),
            silent_evaluated=silent.sum().cast(pl.Int64),
            silent_warned=(silent & pl.col("warned")).sum().cast(pl.Int64),
            silent_rate=pl.when(silent.sum() > 0).then(
                (silent & pl.col("warned")).sum() / silent.sum()
            ),
        ).row(0, named=True)
        quiet = (
            _non_churner_windows(
                flags.join(all_churners, on=HH, how="anti"), lead_max - lead_min + 1
            )
            .select(
                non_churners=pl.col(HH).n_unique().cast(pl.Int64),
                non_churner_days=pl.len().cast(pl.Int64),
                non_churner_day_share=_share(pl.col(FLAGGED)),
                non_churner_windows=pl.col("full_window").sum().cast(pl.Int64),
                false_alarm_rate=_share(pl.col("window_hit").filter(pl.col("full_window"))),
            )
            .row(0, named=True)
        )
        rows.append(
            {
                "score": col,
                "budget": budget,
                "lead_min_days": lead_min,
                "lead_max_days": lead_max,
                "as_of_days": flags[AS_OF].n_unique(),
                "flagged_per_day": flags[FLAGGED].sum() / max(flags[AS_OF].n_unique(), 1),
                **stats,
                **quiet,
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "score": pl.String,
            "budget": pl.Float64,
            "lead_min_days": pl.Int64,
            "lead_max_days": pl.Int64,
            "as_of_days": pl.Int64,
            "flagged_per_day": pl.Float64,
            "churners_evaluated": pl.Int64,
            "churners_warned": pl.Int64,
            "churner_rate": pl.Float64,
            "silent_evaluated": pl.Int64,
            "silent_warned": pl.Int64,
            "silent_rate": pl.Float64,
            "non_churners": pl.Int64,
            "non_churner_days": pl.Int64,
            "non_churner_day_share": pl.Float64,
            "non_churner_windows": pl.Int64,
            "false_alarm_rate": pl.Float64,
        },
    )
