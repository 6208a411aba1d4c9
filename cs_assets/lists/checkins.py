"""`proactive_checkin_candidates`: War story 2's daily pick of healthy, silent households.

Customers who never open a ticket churn more than those who do and are heard, so CS reaches
out first. A household qualifies on as-of day `D` (instant `T`) when it is:

* active (see `cs_assets.lists`), with `health_score >= checkins.health_at_least` (70);
* past onboarding: `days_since_signup >= checkins.signup_days_at_least` (60), i.e. signed up
  at or before `T - 60 days`, the spec's `created_at <= CURRENT_DATE - INTERVAL '60 days'`;
* without a support ticket created in `[T - no_ticket_days, T)` (90): a ticket exactly 90 days
  before `T` still counts, as the spec's `created_at >= CURRENT_DATE - 90 days`;
* without a check-in sent in `[T - no_checkin_days, T)` (90), from the platform's own
  `checkins_sent` (household_id, sent_at). The spec's `HAVING MAX(check_in_date) < ... OR
  NULL` is implied by its join condition; check-ins sent at or after `T` are not seen.

Then the top `checkins.top_n` (50) by health score, ties to the smaller household_id.
Opt-outs are not removed here: consent and channel are the delivery layer's (DESIGN).
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from cs_assets.lists import Frame, ListsConfig, before, is_active, one_day, sent_before, top
from cs_assets.vocabulary import HH, instant

CHECKIN_COLUMNS = [HH, "as_of", "rank", "health_score", "plan", "days_since_signup",
                   "last_ticket_at", "last_checkin_at"]


def proactive_checkin_candidates(
    as_of: date,
    scores: Frame,
    *,
    support_tickets: Frame,
    checkins_sent: Frame | None = None,
    config: ListsConfig | None = None,
) -> pl.DataFrame:
    """Who gets a proactive check-in on `as_of` (columns: CHECKIN_COLUMNS, in rank order).

    `last_ticket_at` / `last_checkin_at` are the latest before the as-of instant (older than
    the quiet windows by construction, or null: never)."""
    config = config or ListsConfig()
    cfg = config.checkins
    at = instant(as_of)
    last_ticket = before(support_tickets, "created_at", at).group_by(HH).agg(
        last_ticket_at=pl.col("created_at").max())
    last_checkin = sent_before(checkins_sent, at).group_by(HH).agg(
        last_checkin_at=pl.col("sent_at").max())
    quiet = (
        pl.col("last_ticket_at").is_null()
        | (pl.col("last_ticket_at") < at - timedelta(days=cfg.no_ticket_days))
    ) & (
        pl.col("last_checkin_at").is_null()
        | (pl.col("last_checkin_at") < at - timedelta(days=cfg.no_checkin_days))
    )
    eligible = (
        one_day(scores, as_of)
        .filter(is_active(config.active)
                & (pl.col("health_score") >= cfg.health_at_least)
                & (pl.col("days_since_signup") >= cfg.signup_days_at_least))
        .join(last_ticket, on=HH, how="left")
        .join(last_checkin, on=HH, how="left")
        .filter(quiet)
    )
    return top(eligible, ["health_score"], cfg.top_n).select(CHECKIN_COLUMNS).collect()
