"""Customer journey stages (the spec's `determineJourneyStage`) and the history of transitions
between them (its `trackJourneyStageTransition`).

Stage rules, first match wins (spec order; day cut-offs from `SegmentConfig.lifecycle`):
churned (churned_at before the as-of instant) > onboarding (<= 30 days) > advocacy (>= 2
referrals in 90 days, or >= 1 review, or NPS >= 9 after 180 days) > retention (> 365 days and
DAU/WAU >= 0.4) > growth (> 90 days and a pet or member added in 90 days) > adoption.

Spec input -> what is used: days since signup, DAU/WAU, pets added in 90 days: the household
features; loginsLast7Days: `logins_30d` as a weekly rate (x 7 / 30); NPS: the latest answer
before the as-of instant; referrals: households that signed up in the 90 days with a code this
household was issued; reviews: reviews submitted before the as-of instant; members added:
members who joined in the 90 days; churned: `households.churned_at` (the daily features hold
only active households, so churned ones are added from there).

Decisions where the spec is ambiguous or wrong:

* Its explicit adoption branch (<= 90 days and 3+ logins a week) returns what the default
  returns, so it cannot change the stage; it names the trigger instead: `regular_usage` vs
  `low_engagement`. Households past 90 days with no expansion, and past 365 with low DAU/WAU,
  are in adoption, as the spec says ("still in adoption phase but low engagement"): stages are
  recomputed daily, so a household can move back, e.g. retention -> adoption.
* Reviews count from 4 stars (`review_min_rating`): a 1-star review is no advocacy.
* A missing NPS never makes an advocate. Churned is final: `churned_at` is authoritative.
* Transition triggers: the spec's names for its five forward moves (`signup_completed`,
  `onboarding_completed`, `expansion_activity`, `reached_1_year`, `became_advocate`); any other
  move gets the rule that placed the household in its new stage instead of the spec's
  `unknown_transition`, which says nothing.
* A household seen for the first time comes from `awareness` with 0 days in it (the spec) only
  when it is onboarding; otherwise it signed up before the history began, so its earlier stage
  is unknown: from_stage and days_in_previous_stage are null, the trigger `first_observed`.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import NamedTuple

import polars as pl

from cs_assets.segments import SegmentConfig
from cs_assets.segments.micro import latest_nps
from cs_assets.vocabulary import HH, instant

WINDOW = timedelta(days=90)
SPEC_TRIGGERS = {
    "awareness_onboarding": "signup_completed",
    "onboarding_adoption": "onboarding_completed",
    "adoption_growth": "expansion_activity",
    "growth_retention": "reached_1_year",
    "retention_advocacy": "became_advocate",
}
TRANSITION_SCHEMA = {
    HH: pl.String,
    "from_stage": pl.String,
    "to_stage": pl.String,
    "date": pl.Date,
    "days_in_previous_stage": pl.Int64,
    "trigger": pl.String,
}
COUNTS = ("pets_added_90d", "members_added_90d", "referrals_90d", "reviews_written")


def _count_by_household(frame: pl.LazyFrame, name: str) -> pl.LazyFrame:
    return frame.group_by(HH).agg(pl.len().cast(pl.Int64).alias(name))


def _referrals_90d(households: pl.DataFrame, referral_codes: pl.DataFrame,
                   as_of: date) -> pl.LazyFrame:
    """Signups in the 90 days that used a code the household was issued (unknown codes and
    codes of no household do not count)."""
    at = instant(as_of)
    referees = households.lazy().filter(
        (pl.col("created_at") >= at - WINDOW) & (pl.col("created_at") < at)
    ).select(code=pl.col("referral_code_used"))
    return _count_by_household(
        referees.join(referral_codes.lazy().select("code", HH), on="code"), "referrals_90d"
    )


def _reviews_written(reviews: pl.DataFrame, as_of: date, config: SegmentConfig) -> pl.LazyFrame:
    good = (pl.col("submitted_at") < instant(as_of)) & (
        pl.col("rating") >= config.journey.advocacy.review_min_rating
    )
    return _count_by_household(reviews.lazy().filter(good), "reviews_written")


def _members_added_90d(members: pl.DataFrame, as_of: date) -> pl.LazyFrame:
    at = instant(as_of)
    joined = pl.col("joined_at")
    return _count_by_household(
        members.lazy().filter((joined >= at - WINDOW) & (joined < at)), "members_added_90d"
    )


def journey_inputs(
    features: pl.DataFrame, as_of: date, config: SegmentConfig, *, households: pl.DataFrame,
    members: pl.DataFrame, nps_responses: pl.DataFrame, reviews: pl.DataFrame,
    referral_codes: pl.DataFrame,
) -> pl.DataFrame:
    """One row per household signed up before the as-of instant: the active ones from the day's
    features, the churned ones from `households.churned_at`, with what the stage rules read."""
    at = instant(as_of)
    active = features.lazy().filter(pl.col("as_of") == as_of).select(
        HH, "as_of", "days_since_signup", "dau_wau_ratio", "logins_30d", "pets_added_90d",
        churned=pl.lit(False),
    )
    churned = households.lazy().filter(pl.col("churned_at") < at).select(
        HH, as_of=pl.lit(as_of), churned=pl.lit(True)
    )
    frame = pl.concat([active, churned], how="diagonal")
    for part in (latest_nps(nps_responses, as_of).lazy(), _members_added_90d(members, as_of),
                 _referrals_90d(households, referral_codes, as_of),
                 _reviews_written(reviews, as_of, config)):
        frame = frame.join(part, on=HH, how="left")
    return frame.with_columns(pl.col(COUNTS).fill_null(0)).sort(HH).collect()


class _Rule(NamedTuple):
    stage: str
    trigger: str
    applies: pl.Expr


def _rules(config: SegmentConfig) -> list[_Rule]:
    """The spec's rules in its order; the default (adoption, low_engagement) follows them."""
    life, journey = config.lifecycle, config.journey
    advocacy = journey.advocacy
    days = pl.col("days_since_signup")
    logins_per_week = pl.col("logins_30d") * 7 / 30
    expanded = (pl.col("pets_added_90d") > 0) | (pl.col("members_added_90d") > 0)
    return [
        _Rule("churned", "churned", pl.col("churned")),
        _Rule("onboarding", "new_signup", days <= life.onboarding_days_at_most),
        _Rule("advocacy", "referrals", pl.col("referrals_90d") >= advocacy.referrals_90d_at_least),
        _Rule("advocacy", "review_written", pl.col("reviews_written") >= advocacy.reviews_at_least),
        _Rule("advocacy", "promoter_nps", (pl.col("nps_score") >= advocacy.nps_at_least)
              & (days > advocacy.nps_days_above)),
        _Rule("retention", "consistent_usage", (days > life.growth_days_at_most)
              & (pl.col("dau_wau_ratio") >= journey.retention_dau_wau_at_least)),
        _Rule("growth", "expansion_activity", expanded & (days > life.adoption_days_at_most)),
        _Rule("adoption", "regular_usage", (days <= life.adoption_days_at_most)
              & (logins_per_week >= journey.adoption_logins_per_week_at_least)),
    ]


def _first_match(rules: list[_Rule], field: str, default: str) -> pl.Expr:
    """`field` of the first rule that applies (a null condition does not apply)."""
    expr = pl.when(rules[0].applies).then(pl.lit(getattr(rules[0], field)))
    for rule in rules[1:]:
        expr = expr.when(rule.applies).then(pl.lit(getattr(rule, field)))
    return expr.otherwise(pl.lit(default))


def journey_stage(frame: pl.DataFrame | pl.LazyFrame, config: SegmentConfig) -> pl.DataFrame:
    """household_id, as_of, stage, trigger (the rule that placed the household there), from
    `journey_inputs`."""
    rules = _rules(config)
    return (
        frame.lazy()
        .select(HH, "as_of", stage=_first_match(rules, "stage", "adoption"),
                trigger=_first_match(rules, "trigger", "low_engagement"))
        .sort("as_of", HH)
        .collect()
    )


def _only_day(frame: pl.DataFrame, name: str) -> date | None:
    days = frame.get_column("as_of").unique()
    if days.len() > 1:
        raise ValueError(f"{name} must hold one as-of day, got {days.len()}")
    return days.item() if days.len() else None


def _last_known(earlier: pl.DataFrame, previous_stages: pl.DataFrame | None,
                day: date) -> pl.LazyFrame:
    """Per household: `_last` known stage before `day` (the previous day's stage when given,
    else the last recorded one) and `_since`, the day it was entered if the history says (not
    when the household was first observed in it: it may have been there for long)."""
    entered = pl.when(pl.col("from_stage").is_not_null()).then(pl.col("date"))
    recorded = earlier.lazy().group_by(HH).agg(
        _recorded=pl.col("to_stage").sort_by("date").last(),
        _entered=entered.sort_by("date").last(),  # unknown if only first observed there
    )
    previous = None if previous_stages is None else _only_day(previous_stages, "previous_stages")
    if previous is not None and previous >= day:
        raise ValueError(f"previous_stages is of {previous}, not before {day}")
    if previous is None:
        known = recorded.with_columns(_last=pl.col("_recorded"))
    else:
        known = recorded.join(
            previous_stages.lazy().select(HH, _previous=pl.col("stage")), on=HH, how="full",
            coalesce=True,
        ).with_columns(_last=pl.coalesce("_previous", "_recorded"))
    since = pl.when(pl.col("_recorded") == pl.col("_last")).then(pl.col("_entered"))
    return known.select(HH, "_last", _since=since)


def append_transitions(history: pl.DataFrame, previous_stages: pl.DataFrame | None,
                       today: pl.DataFrame) -> pl.DataFrame:
    """`history` (TRANSITION_SCHEMA) with today's transitions: a row for each household whose
    stage differs from its last known one, or that is seen for the first time.

    Rows are keyed by (household, date): the rows dated today are replaced, rows of other days
    kept, and the last known stage is read only from rows before today (and `previous_stages`,
    the stage frame of the day before, when given). So re-running a day gives the same history,
    and re-running an earlier day after later ones leaves theirs as they were. A daily asset can
    store the whole history in each partition and read its own previous partition as `history`.
    """
    day = _only_day(today, "today")
    if day is None:
        return history
    first_seen = pl.col("_last").is_null()
    onboarding = pl.col("stage") == "onboarding"
    changes = (
        today.lazy()
        .join(_last_known(history.filter(pl.col("date") < day), previous_stages, day), on=HH,
              how="left")
        .filter(first_seen | (pl.col("_last") != pl.col("stage")))
        .with_columns(
            from_stage=pl.when(~first_seen).then(pl.col("_last"))
            .when(onboarding).then(pl.lit("awareness")),
            days_in_previous_stage=pl.when(~first_seen)
            .then((pl.lit(day) - pl.col("_since")).dt.total_days())
            .when(onboarding).then(0),
        )
        .select(
            HH, "from_stage", pl.col("stage").alias("to_stage"), pl.lit(day).alias("date"),
            "days_in_previous_stage",
            trigger=pl.coalesce(
                pl.concat_str("from_stage", "stage", separator="_")
                .replace_strict(SPEC_TRIGGERS, default=None),
                pl.when(first_seen).then(pl.lit("first_observed")).otherwise(pl.col("trigger")),
            ),
        )
        .cast(TRANSITION_SCHEMA)
        .collect()
    )
    kept = history.filter(pl.col("date") != day).cast(TRANSITION_SCHEMA)
    return pl.concat([kept, changes]).sort("date", HH)
