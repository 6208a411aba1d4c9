"""`survey_eligibility`: which household gets which survey on an as-of day.

The six triggers are the spec's `vocTriggers`, named by its `triggerType`. As-of day `D` sees
only what happened strictly before its instant `T` (midnight UTC starting `D`), including the
platform's own `surveys_sent`, so a re-run of a day gives the same list.

* Event triggers are due at `trigger_at` = the event + `delay_days` and are eligible while
  `T - grace_days <= trigger_at < T`: they fire on the first as-of day after they fall due
  and stay eligible `grace_days` days, so a missed run does not lose them. A survey of the
  same type sent at or after `trigger_at` has already served the trigger.
  - `downgrade_or_churn` (Exit): a `downgrade` plan change, or the churn (`churned_at`).
  - `support_ticket_resolved` (CSAT): a ticket's `resolved_at`.
  - `days_since_signup` (NPS): the signup (`created_at`), 30 days later.
  - `feature_first_used` (Feature): a household's first use of a feature, 7 days later, for
    early adopters only: first use before the feature's launch + `early_adopter_days`. The
    launch is the configured date, else the feature's first use by any household.
* Cadence triggers (active customers: an activity event in the `active_within_days` before
  `T`) fall due `every_days` after the last contact: `quarterly_cadence` (NPS) 90 days after
  the last NPS survey sent or answered (signup if none), `annual_cadence` (Product) 365 days
  after the last Product survey sent
  (signup if none). Spread (`spread`, the default): then due on the household's slot day of
  each period (a stable hash) and the `fatigue_days` after it, so fatigue only defers it and
  switching the platform on for an existing base asks about 1/`every_days` of it a day, not
  everyone at once. Not spread: due from `trigger_at` until a survey of the type is sent.

Every trigger but Exit needs the household not churned at `T`. Fatigue: nothing for a
household sent a survey less than `fatigue_days` calendar days before `D` (with 14, a survey
sent on `D - 13` blocks, one sent on `D - 14` does not). Then at most one survey per
household: the first trigger in `priority` (ties: the latest `trigger_at`, then `subject`).
Email opt-out does not remove a household (surveys also go in-app): `channel` is `in_app`
for households refusing email, `email` otherwise; a household refusing both gets no survey.
Refusals are the raw `email_opt_out` flag and every opt-out the platform recorded before `T`
(an unsubscribe link, a support request: `opt_outs`, per channel or `all`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Literal, Self

import polars as pl
from pydantic import Field, model_validator

from cs_assets.contract.events import EventKind
from cs_assets.state.schema import ALL_CHANNELS
from cs_assets.validated_config import StrictModel, Violation
from cs_assets.vocabulary import HH, UTC_TS, instant, stable_draw

Trigger = Literal["downgrade_or_churn", "support_ticket_resolved", "days_since_signup",
                  "feature_first_used", "annual_cadence", "quarterly_cadence"]
# Trigger -> survey type, in the default priority order.
SURVEY_TYPES: dict[str, str] = {
    "downgrade_or_churn": "Exit",
    "support_ticket_resolved": "CSAT",
    "days_since_signup": "NPS",
    "feature_first_used": "Feature",
    "annual_cadence": "Product",
    "quarterly_cadence": "NPS",
}
# Exit first (one chance, the customer is leaving); then surveys about a fresh, specific
# experience (a ticket, the first month, a new feature); the recurring cadences last, as they
# stay due and are only deferred.
DEFAULT_PRIORITY = list(SURVEY_TYPES)
SURVEY_COLUMNS = [HH, "as_of", "survey_type", "trigger", "subject", "trigger_at", "priority",
                  "channel"]


class EventRule(StrictModel):
    """Due `delay_days` after the event; eligible for `grace_days` as-of days from then."""

    delay_days: int = Field(ge=0)
    grace_days: int = Field(3, ge=1)


class FeatureRule(EventRule):
    """Early adopters: first use before launch + `early_adopter_days`. `launches` maps feature
    names to launch dates; other features launch at their first use by anyone."""

    early_adopter_days: int = Field(30, ge=1)
    launches: dict[str, date] = Field(default_factory=dict)


class CadenceRule(StrictModel):
    every_days: int = Field(ge=1)
    # Each household gets a slot day in every period (a hash of its id): it is due on its slot
    # (and for `fatigue_days` after, so fatigue only defers it) once its `every_days` are over.
    # Switching the platform on for an existing base then asks about 1/every_days of it a
    # day, not everyone on day one. False: due as soon as the `every_days` are over.
    spread: bool = True


class SurveyConfig(StrictModel):
    fatigue_days: int = Field(14, ge=1)
    active_within_days: int = Field(30, ge=1)
    priority: list[Trigger] = DEFAULT_PRIORITY
    downgrade_or_churn: EventRule = EventRule(delay_days=0)
    support_ticket_resolved: EventRule = EventRule(delay_days=0)
    days_since_signup: EventRule = EventRule(delay_days=30)
    feature_first_used: FeatureRule = FeatureRule(delay_days=7)
    annual_cadence: CadenceRule = CadenceRule(every_days=365)
    quarterly_cadence: CadenceRule = CadenceRule(every_days=90)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if sorted(self.priority) != sorted(SURVEY_TYPES):
            raise Violation("priority", f"must list each of {sorted(SURVEY_TYPES)} once, "
                             f"got {self.priority}")
        return self


def _due(events: pl.LazyFrame, trigger: str, rule: EventRule, at: datetime) -> pl.LazyFrame:
    """Events (household_id, subject, _event_at) whose trigger is eligible at instant `at`."""
    due = pl.col("_event_at") + timedelta(days=rule.delay_days)
    return events.select(HH, trigger=pl.lit(trigger), subject="subject", trigger_at=due).filter(
        (pl.col("trigger_at") >= at - timedelta(days=rule.grace_days))
        & (pl.col("trigger_at") < at)
    )


def _exits(households, subscription_changes, rule: EventRule, at: datetime) -> pl.LazyFrame:
    downgrades = subscription_changes.filter(pl.col("change_type") == "downgrade").select(
        HH, subject=pl.lit("downgrade"), _event_at=pl.col("changed_at")
    )
    churns = households.filter(pl.col("churned_at").is_not_null()).select(
        HH, subject=pl.lit("churn"), _event_at=pl.col("churned_at")
    )
    return _due(pl.concat([downgrades, churns]), "downgrade_or_churn", rule, at)


def _resolved_tickets(support_tickets, rule: EventRule, at: datetime) -> pl.LazyFrame:
    tickets = support_tickets.select(HH, subject=pl.col("ticket_id"),
                                     _event_at=pl.col("resolved_at"))
    return _due(tickets, "support_ticket_resolved", rule, at)


def _signups(households, rule: EventRule, at: datetime) -> pl.LazyFrame:
    signups = households.select(HH, subject=pl.lit(None, pl.String),
                                _event_at=pl.col("created_at"))
    return _due(signups, "days_since_signup", rule, at)


def _first_feature_uses(events, rule: FeatureRule, at: datetime) -> pl.LazyFrame:
    """First uses by early adopters: before the feature's launch + `early_adopter_days`."""
    first = (
        events.filter((pl.col("event_kind") == EventKind.FEATURE_USED.value)
                      & pl.col("feature_name").is_not_null())
        .group_by(HH, "feature_name").agg(_event_at=pl.col("occurred_at").min())
    )
    configured = pl.LazyFrame(
        {"feature_name": list(rule.launches),
         "_configured": [instant(day) for day in rule.launches.values()]},
        schema={"feature_name": pl.String, "_configured": UTC_TS},
    )
    launches = first.group_by("feature_name").agg(_observed=pl.col("_event_at").min()).join(
        configured, on="feature_name", how="left"
    ).select("feature_name", _launch=pl.coalesce("_configured", "_observed"))
    early = pl.col("_event_at") < pl.col("_launch") + timedelta(days=rule.early_adopter_days)
    adopters = first.join(launches, on="feature_name").filter(early)
    return _due(adopters.rename({"feature_name": "subject"}), "feature_first_used", rule, at)


SLOT_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _cadence(active, last_contacts: list[pl.LazyFrame], trigger: str, rule: CadenceRule,
             at: datetime, window_days: int) -> pl.LazyFrame:
    """Due `every_days` after the latest of the last contacts (signup if none) until sent; with
    `spread`, on the household's slot day of the period once they are over, for
    `window_days` (`spread_slot`)."""
    frame = active.select(HH, "created_at")
    for contacts in last_contacts:
        frame = frame.join(contacts, on=HH, how="left")
    earliest = pl.max_horizontal(pl.exclude(HH)) + timedelta(days=rule.every_days)
    frame = frame.select(HH, trigger=pl.lit(trigger), subject=pl.lit(None, pl.String),
                         _earliest=earliest)
    if not rule.spread:
        return frame.rename({"_earliest": "trigger_at"}).filter(pl.col("trigger_at") < at)
    slot = spread_slot(pl.col(HH), trigger, rule.every_days, at)
    return frame.with_columns(trigger_at=slot).filter(
        pl.col("trigger_at") >= pl.col("_earliest"),
        pl.col("trigger_at") >= at - timedelta(days=window_days),
    ).drop("_earliest")


def spread_slot(household: pl.Expr, cadence: str, every_days: int, at: datetime) -> pl.Expr:
    """Each household's latest slot instant before `at`: slots recur every `every_days` days
    from 2000-01-01, shifted by a stable draw of the cadence and the household (two cadences
    do not share a household's slot), so a base is spread evenly over the period."""
    phase = household.map_elements(lambda h: stable_draw(cadence, h) % every_days,
                                   return_dtype=pl.Int64)
    today = (at - SLOT_EPOCH).days  # days from the epoch to the as-of day
    back = (today - 1 - phase) % every_days  # days from the slot to the day before `at`
    return pl.lit(at) - pl.duration(days=back + 1)



def _last(frame: pl.LazyFrame, column: str, name: str) -> pl.LazyFrame:
    return frame.group_by(HH).agg(pl.col(column).max().alias(name))


def _candidates(at: datetime, config: SurveyConfig, *, households, support_tickets, nps_responses,
                subscription_changes, activity_events, sent) -> pl.LazyFrame:
    """Every trigger eligible at `at`, before fatigue and priority."""
    churned = pl.col("churned_at")
    present = households.filter(churned.is_null() | (churned >= at))
    recent = activity_events.filter(
        pl.col("occurred_at") >= at - timedelta(days=config.active_within_days)
    ).select(HH).unique()
    active = present.join(recent, on=HH, how="semi")
    last_sent = {kind: _last(sent.filter(pl.col("survey_type") == kind), "sent_at", f"_{kind}")
                 for kind in ("NPS", "Product")}
    for_present = pl.concat([
        _resolved_tickets(support_tickets, config.support_ticket_resolved, at),
        _signups(present, config.days_since_signup, at),
        _first_feature_uses(activity_events, config.feature_first_used, at),
    ]).join(present, on=HH, how="semi")
    return pl.concat([
        _exits(households, subscription_changes, config.downgrade_or_churn, at),
        for_present,
        _cadence(active, [last_sent["NPS"], _last(nps_responses, "responded_at", "_answered")],
                 "quarterly_cadence", config.quarterly_cadence, at, config.fatigue_days),
        _cadence(active, [last_sent["Product"]], "annual_cadence", config.annual_cadence, at,
                 config.fatigue_days),
    ]).with_columns(survey_type=pl.col("trigger").replace_strict(SURVEY_TYPES))


def _unserved(candidates: pl.LazyFrame, sent: pl.LazyFrame) -> pl.LazyFrame:
    """Drop triggers a survey of their type, sent at or after `trigger_at`, already served."""
    last = sent.group_by(HH, "survey_type").agg(_last_sent=pl.col("sent_at").max())
    return candidates.join(last, on=[HH, "survey_type"], how="left").filter(
        pl.col("_last_sent").is_null() | (pl.col("_last_sent") < pl.col("trigger_at"))
    ).drop("_last_sent")


def _fatigued(sent: pl.LazyFrame, as_of: date, fatigue_days: int) -> pl.LazyFrame:
    """Households sent a survey less than `fatigue_days` calendar days before `as_of`."""
    since = instant(as_of - timedelta(days=fatigue_days - 1))
    return sent.filter(pl.col("sent_at") >= since).select(HH).unique()


def survey_eligibility(
    as_of: date,
    *,
    households: pl.DataFrame | pl.LazyFrame,
    support_tickets: pl.DataFrame | pl.LazyFrame,
    nps_responses: pl.DataFrame | pl.LazyFrame,
    subscription_changes: pl.DataFrame | pl.LazyFrame,
    activity_events: pl.DataFrame | pl.LazyFrame,
    surveys_sent: pl.DataFrame | pl.LazyFrame | None = None,
    opt_outs: pl.DataFrame | pl.LazyFrame | None = None,
    config: SurveyConfig | None = None,
) -> pl.DataFrame:
    """At most one survey per household for as-of day `as_of` (columns: SURVEY_COLUMNS).

    Raw tables are the validated contract tables (`activity_events` with its canonical
    `event_kind`); `surveys_sent` is the platform's own state (household_id, survey_type,
    sent_at), None before anything was sent; `opt_outs` the platform's recorded refusals
    (household_id, channel, at), None when there are none. `priority` is 1 for the first
    trigger in
    `config.priority`. Sorted by household_id. No PII beyond household_id.
    """
    config = config or SurveyConfig()
    at = instant(as_of)

    def before(frame, column: str) -> pl.LazyFrame:
        return frame.lazy().filter(pl.col(column) < at)

    if surveys_sent is None:
        surveys_sent = pl.DataFrame(schema={HH: pl.String, "survey_type": pl.String,
                                            "sent_at": UTC_TS})
    sent = before(surveys_sent, "sent_at")
    households = before(households, "created_at")
    candidates = _candidates(
        at, config, households=households, sent=sent,
        support_tickets=support_tickets.lazy(),
        nps_responses=before(nps_responses, "responded_at"),
        subscription_changes=before(subscription_changes, "changed_at"),
        activity_events=before(activity_events, "occurred_at"),
    )
    rank = {trigger: position for position, trigger in enumerate(config.priority, start=1)}
    chosen = (
        _unserved(candidates, sent)
        .join(_fatigued(sent, as_of, config.fatigue_days), on=HH, how="anti")
        .with_columns(priority=pl.col("trigger").replace_strict(rank, return_dtype=pl.Int64))
        .sort(HH, "priority", "trigger_at", "subject", descending=[False, False, True, False],
              nulls_last=True)
        .unique(HH, keep="first", maintain_order=True)
    )
    refused = _refused(opt_outs, at)
    no_email = pl.col("email_opt_out").fill_null(False) | pl.col(HH).is_in(refused["email"])
    return chosen.join(households.select(HH, "email_opt_out"), on=HH).with_columns(
        as_of=pl.lit(as_of),
        channel=pl.when(no_email).then(pl.lit("in_app")).otherwise(pl.lit("email")),
    ).filter(~(no_email & pl.col(HH).is_in(refused["in_app"]))
             ).select(SURVEY_COLUMNS).sort(HH).collect()


def _refused(opt_outs: pl.DataFrame | pl.LazyFrame | None, at: datetime) -> dict[str, pl.Series]:
    """Per survey channel, the households whose recorded opt-out (that channel or `all`)
    came before `at`."""
    if opt_outs is None:
        opt_outs = pl.DataFrame(schema={HH: pl.String, "channel": pl.String, "at": UTC_TS})
    known = opt_outs.lazy().filter(pl.col("at") < at).collect()
    return {channel: known.filter(pl.col("channel").is_in([channel, ALL_CHANNELS]))[HH].unique()
            for channel in ("email", "in_app")}
