"""Review requests and review rewards (the spec's "Review & Testimonial Collection").

As-of day `D` (instant `T`, midnight UTC starting `D`) reads NPS answers, reviews and the
platform's own `review_requests_sent` strictly before `T`, so a re-run gives the same list.

* `review_request_candidates`: households present at `T` whose latest NPS answer is a
  promoter's (>= `min_nps`, spec 9) and who were not asked on any of the `every_days - 1`
  days before `D` (with 90: asked on `D - 89` blocks, asked on `D - 90` does not), so requests
  are at most every 90 days. The spec's `requestedAt >= now - 90 days` would, with a daily run
  at midnight, also block a request made on `D - 90`; we read "in the last 90 days" as the
  survey fatigue does (`voc.surveys`).
* `review_rewards`: the spec credits every submitted review ($20) whatever its rating; the
  request promises it for "your review" on "one of these platforms". We credit a household's
  first review and then the first one at least `review_reward_every_days` (90, the request
  cadence) after the last credited one: one reward per request window, never conditional on
  the rating (rewarding only good reviews would buy ratings). Reviews count whether or not the
  platform asked for them, so reviews the product already collected are rewarded too.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
from pydantic import Field

from cs_assets.team.referrals import RewardConfig
from cs_assets.validated_config import StrictModel
from cs_assets.vocabulary import HH, UTC_TS, instant

CANDIDATE_COLUMNS = [HH, "nps_score", "nps_responded_at", "last_requested_at"]
REVIEW_REWARD_COLUMNS = ["review_id", HH, "platform", "submitted_at", "credit_usd"]


class ReviewRequestConfig(StrictModel):
    min_nps: int = Field(9, ge=0, le=10)
    every_days: int = Field(90, ge=1)


def _latest_nps(nps_responses: pl.DataFrame, at: datetime) -> pl.LazyFrame:
    return (
        nps_responses.lazy().filter(pl.col("responded_at") < at)
        .sort("responded_at", "response_id")
        .group_by(HH).agg(nps_score=pl.col("score").last(),
                          nps_responded_at=pl.col("responded_at").last())
    )


def review_request_candidates(
    nps_responses: pl.DataFrame,
    review_requests_sent: pl.DataFrame | None,
    as_of: date,
    *,
    households: pl.DataFrame,
    config: ReviewRequestConfig | None = None,
) -> pl.DataFrame:
    """Promoters to ask for a review on `as_of` (CANDIDATE_COLUMNS), freshest answer first
    (then household_id). `review_requests_sent` (household_id, requested_at) is the platform's
    state, None before any request; `households` is the contract table (churn, signup)."""
    config = config or ReviewRequestConfig()
    at = instant(as_of)
    if review_requests_sent is None:
        review_requests_sent = pl.DataFrame(schema={HH: pl.String, "requested_at": UTC_TS})
    churned = pl.col("churned_at")
    present = households.lazy().filter(
        (pl.col("created_at") < at) & (churned.is_null() | (churned >= at))
    ).select(HH)
    requests = review_requests_sent.lazy().filter(pl.col("requested_at") < at)
    recent = requests.filter(
        pl.col("requested_at") >= instant(as_of - timedelta(days=config.every_days - 1))
    ).select(HH)
    last = requests.group_by(HH).agg(last_requested_at=pl.col("requested_at").max())
    return (
        _latest_nps(nps_responses, at)
        .filter(pl.col("nps_score") >= config.min_nps)
        .join(present, on=HH, how="semi")
        .join(recent, on=HH, how="anti")
        .join(last, on=HH, how="left")
        .select(CANDIDATE_COLUMNS)
        .sort("nps_responded_at", HH, descending=[True, False])
        .collect()
    )


def review_rewards(reviews: pl.DataFrame, as_of: date,
                   config: RewardConfig | None = None) -> pl.DataFrame:
    """Reviews before the as-of instant that earn a credit (REVIEW_REWARD_COLUMNS, by
    submitted_at, review_id)."""
    config = config or RewardConfig()
    gap = timedelta(days=config.review_reward_every_days)
    ordered = (
        reviews.lazy().filter(pl.col("submitted_at") < instant(as_of))
        .sort(HH, "submitted_at", "review_id")
        .select("review_id", HH, "platform", "submitted_at")
        .collect()
    )
    last_credited: dict[str, datetime] = {}
    credited = []
    for household_id, submitted_at in ordered.select(HH, "submitted_at").iter_rows():
        previous = last_credited.get(household_id)
        earns = previous is None or submitted_at - previous >= gap
        if earns:
            last_credited[household_id] = submitted_at
        credited.append(earns)
    return (
        ordered.filter(pl.Series(credited, dtype=pl.Boolean))
        .with_columns(credit_usd=pl.lit(config.review_credit_usd))
        .select(REVIEW_REWARD_COLUMNS)
        .sort("submitted_at", "review_id")
    )
