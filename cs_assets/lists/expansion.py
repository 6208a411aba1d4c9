"""Expansion revenue (the spec's "Expansion Revenue Strategies"): upsell candidates, the upsell
funnel and cross-sell opportunities. Counts of activity come from the validated
`activity_events` by canonical `event_kind`, in windows ending strictly before `T`.

**Upsell candidates** (`identifyUpsellCandidates`): Free at `T` (plan from the subscription
history), active, `days_since_signup >= upsell.signup_days_at_least` (30) and
`health_score >= upsell.health_at_least` (70), with an *intent signal*: at least one of these
counts over the `signal_window_days` (30) before `T` reaching its `at_least`: recurring tasks
created (3), photos uploaded (8), analytics viewed (1), Premium page viewed (1), Premium
feature clicks (3). Households sent an upsell campaign in the `recontact_after_days` (90)
before `T` (the platform's `upsell_sent`) are left out (ours: otherwise the same top 50 fill
the list every day). `upsell_angle`: the first fired signal with an angle in the spec's order
(recurring tasks, photos, analytics), else `general_premium_value`. Top `top_n` (50) by
health score, then Premium feature clicks, both descending, then household_id.

**Upsell funnel** (`trackUpsellFunnel`), over the `funnel.window_days` (90) before `T`:
* Population: households that were Free at some instant of the window `[W, T)`: existing at
  `W` or signed up in the window, not churned before `W`, and on Free at `max(W, signup)`
  (changes at that instant included; no history at all is Free, as in the features) or moved
  to Free in the window. The spec filters on the *current* plan, which drops every household
  that purchased: its purchase count would always be 0.
* Stages are ordered in time, as in funnel analytics: awareness = the first upsell campaign
  sent in the window (platform state, not an event); consideration = the first
  `premium_page_viewed` at or after awareness; trial = the first `trial_started` at or after
  consideration; purchase = the first upgrade from Free (a `subscription_changes` row; the
  contract has no purchase event, the plan history is the source of truth) at or after the
  trial. A household is counted in every stage it reached, so the counts never increase
  down the funnel and each rate is at most 100% (the spec's independent flags can pass 100%
  when a purchase skipped the trial). Purchases by any path are reported beside it.
* Rates are percentages rounded to 2 decimals, null when the earlier stage is 0 (the spec's
  NULLIF).

**Cross-sell opportunities** (`identifyCrossSellOpportunities`), per active household:
* `additional_household`: `active_pets >= 3`. The spec also needs "not already several
  households"; the contract links no households together, so none is known to have several.
* `calendar_sync`: recurring tasks created in the `recurring_window_days` (90) before `T`
  `>= 5` (the spec's "users creating lots of recurring tasks"; the contract records creations,
  not deletions, so an all-history count would only grow), calendar sync never set up, on a
  `calendar_sync.plans` plan (Free: Premium includes calendar sync, War story 3, so its gap
  is adoption, not a sale).
* `pet_health_tracking`: a current pet that is senior (`senior_age_years`, 7, reached on or
  before the as-of day; unknown birth date is not senior) or, as the spec's comment says, has
  medical needs; and no health observation of its pets in the `tracking_within_days` (90)
  before `T` (the contract's `pet_health_observations` is the tracking).
* `priority_support_upgrade`: `tickets_90d >= 3` on a `priority_support_upgrade.plans` plan
  (the spec: not Enterprise).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl

from cs_assets.contract.events import EventKind as K
from cs_assets.contract.product import PRODUCT
from cs_assets.contract.tables import plan_history_order
from cs_assets.lists import (
    CrossSell,
    Frame,
    ListsConfig,
    before,
    is_active,
    one_day,
    sent_before,
    top,
)
from cs_assets.vocabulary import HH, UTC_TS, instant

FREE = PRODUCT.first_plan  # the plan an upsell moves a household from
SIGNAL_KINDS: dict[str, K] = {
    "recurring_tasks_created": K.RECURRING_TASK_CREATED,
    "photos_uploaded": K.PHOTO_UPLOADED,
    "analytics_views": K.ANALYTICS_VIEWED,
    "premium_page_views": K.PREMIUM_PAGE_VIEWED,
    "premium_feature_clicks": K.PREMIUM_FEATURE_CLICKED,
}
UPSELL_COLUMNS = [HH, "as_of", "rank", "health_score", "days_since_signup", "upsell_angle",
                  "signals", *SIGNAL_KINDS]
STAGES = ("aware_at", "considered_at", "trial_at", "purchased_at")
FUNNEL_HOUSEHOLD_COLUMNS = [HH, "as_of", *STAGES, "upgraded_at"]
FUNNEL_COLUMNS = ["as_of", "free_households", "awareness_count", "consideration_count",
                  "trial_count", "purchase_count", "purchases_any_path",
                  "awareness_to_consideration", "consideration_to_trial", "trial_to_purchase",
                  "overall_conversion"]
CROSS_SELL_COLUMNS = [HH, "as_of", "opportunity", "plan", "health_score"]


def kind_counts(events: pl.LazyFrame, kinds: dict[str, K]) -> pl.LazyFrame:
    """Per household, the number of events of each kind (one column per name)."""
    kind = pl.col("event_kind")
    return (
        events.filter(kind.is_in([k.value for k in kinds.values()]))
        .group_by(HH)
        .agg(**{name: (kind == k.value).sum().cast(pl.Int64) for name, k in kinds.items()})
    )


# ---------------------------------------------------------------- upsell candidates


def upsell_candidates(
    as_of: date,
    scores: Frame,
    *,
    activity_events: Frame,
    upsell_sent: Frame | None = None,
    config: ListsConfig | None = None,
) -> pl.DataFrame:
    """Free households ready for a Premium pitch on `as_of` (columns: UPSELL_COLUMNS, in rank
    order). `signals` lists the fired signals in the spec's order."""
    config = config or ListsConfig()
    cfg = config.upsell
    at = instant(as_of)
    window = before(activity_events, "occurred_at", at).filter(
        pl.col("occurred_at") >= at - timedelta(days=cfg.signal_window_days))
    recently_sent = sent_before(upsell_sent, at).filter(
        pl.col("sent_at") >= at - timedelta(days=cfg.recontact_after_days))
    signals = dict(cfg.signals)
    fired = {name: pl.col(name) >= signal.at_least for name, signal in signals.items()}
    angle = pl.coalesce(
        *(pl.when(fired[name]).then(pl.lit(s.angle)) for name, s in signals.items() if s.angle),
        pl.lit(cfg.default_angle),
    )
    candidates = (
        one_day(scores, as_of)
        .filter((pl.col("plan") == FREE) & is_active(config.active)
                & (pl.col("days_since_signup") >= cfg.signup_days_at_least)
                & (pl.col("health_score") >= cfg.health_at_least))
        .join(kind_counts(window, SIGNAL_KINDS), on=HH, how="left")
        .with_columns(pl.col(*SIGNAL_KINDS).fill_null(0))
        .filter(pl.any_horizontal(*fired.values()))
        .join(recently_sent, on=HH, how="anti")
        .with_columns(
            upsell_angle=angle,
            signals=pl.concat_list([pl.when(f).then(pl.lit(n)) for n, f in fired.items()])
            .list.drop_nulls(),
        )
    )
    ranked = top(candidates, ["health_score", "premium_feature_clicks"], cfg.top_n)
    return ranked.select(UPSELL_COLUMNS).collect()


# ---------------------------------------------------------------- upsell funnel


def _free_in_window(households: pl.LazyFrame, changes: pl.LazyFrame,
                    start: datetime) -> pl.LazyFrame:
    """household_id of households on Free at some instant of `[start, at)`."""
    churned = pl.col("churned_at")
    present = households.filter(churned.is_null() | (churned >= start)).select(
        HH, _from=pl.max_horizontal(pl.col("created_at"), pl.lit(start, UTC_TS)))
    plan_at_start = present.sort("_from").join_asof(
        changes.sort(plan_history_order()).select(HH, "changed_at", "to_plan"),
        left_on="_from", right_on="changed_at", by=HH, strategy="backward",
        check_sortedness=False,
    ).filter(pl.col("to_plan").fill_null(FREE) == FREE).select(HH)
    moved_to_free = changes.filter((pl.col("changed_at") >= start)
                                   & (pl.col("to_plan") == FREE)).select(HH)
    return pl.concat([plan_at_start, moved_to_free.join(present, on=HH, how="semi")]).unique()


def _first_after(previous: pl.LazyFrame, prev: str, events: pl.LazyFrame,
                 name: str) -> pl.LazyFrame:
    """(household_id, name): the first `events` time at or after each household's `prev`."""
    return (
        previous.join(events, on=HH)
        .filter(pl.col("at") >= pl.col(prev))
        .group_by(HH)
        .agg(pl.col("at").min().alias(name))
    )


def upsell_funnel_households(
    as_of: date,
    *,
    households: Frame,
    subscription_changes: Frame,
    activity_events: Frame,
    upsell_sent: Frame | None = None,
    config: ListsConfig | None = None,
) -> pl.DataFrame:
    """One row per household of the funnel population with the time it reached each stage
    (null: not reached) and `upgraded_at`, its first upgrade from Free in the window by any
    path (columns: FUNNEL_HOUSEHOLD_COLUMNS, by household_id)."""
    cfg = (config or ListsConfig()).funnel
    at = instant(as_of)
    start = at - timedelta(days=cfg.window_days)

    def in_window(frame: Frame, column: str) -> pl.LazyFrame:
        return before(frame, column, at).filter(pl.col(column) >= start)

    changes = before(subscription_changes, "changed_at", at)
    population = _free_in_window(before(households, "created_at", at), changes, start)
    events = in_window(activity_events, "occurred_at")

    def kind(k: K) -> pl.LazyFrame:
        return events.filter(pl.col("event_kind") == k.value).select(HH, at="occurred_at")

    upgrades = in_window(changes, "changed_at").filter(
        (pl.col("change_type") == "upgrade") & (pl.col("from_plan") == FREE)
    ).select(HH, at="changed_at")
    sent = sent_before(upsell_sent, at).filter(pl.col("sent_at") >= start)
    aware = population.join(sent, on=HH).group_by(HH).agg(aware_at=pl.col("sent_at").min())
    considered = _first_after(aware, "aware_at", kind(K.PREMIUM_PAGE_VIEWED), "considered_at")
    trial = _first_after(considered, "considered_at", kind(K.TRIAL_STARTED), "trial_at")
    purchased = _first_after(trial, "trial_at", upgrades, "purchased_at")
    upgraded = upgrades.group_by(HH).agg(upgraded_at=pl.col("at").min())
    frame = population
    for stage in (aware, considered, trial, purchased, upgraded):
        frame = frame.join(stage, on=HH, how="left")
    return frame.with_columns(as_of=pl.lit(as_of)).sort(HH).select(
        FUNNEL_HOUSEHOLD_COLUMNS).collect()


def _rate(reached: str, of: str) -> pl.Expr:
    """100 * reached / of, 2 decimals; null when `of` is 0 (no division by zero)."""
    return pl.when(pl.col(of) > 0).then(
        (100 * pl.col(reached) / pl.col(of)).round(2))


def upsell_funnel(as_of: date, funnel_households: pl.DataFrame) -> pl.DataFrame:
    """The funnel's one-row summary (columns: FUNNEL_COLUMNS) from
    `upsell_funnel_households`: stage counts and conversion rates in percent."""
    counts = funnel_households.select(
        free_households=pl.len().cast(pl.Int64),
        awareness_count=pl.col("aware_at").count().cast(pl.Int64),
        consideration_count=pl.col("considered_at").count().cast(pl.Int64),
        trial_count=pl.col("trial_at").count().cast(pl.Int64),
        purchase_count=pl.col("purchased_at").count().cast(pl.Int64),
        purchases_any_path=pl.col("upgraded_at").count().cast(pl.Int64),
    )
    return counts.with_columns(
        as_of=pl.lit(as_of),
        awareness_to_consideration=_rate("consideration_count", "awareness_count"),
        consideration_to_trial=_rate("trial_count", "consideration_count"),
        trial_to_purchase=_rate("purchase_count", "trial_count"),
        overall_conversion=_rate("purchase_count", "awareness_count"),
    ).select(FUNNEL_COLUMNS)


# ---------------------------------------------------------------- cross-sell


def _pets_needing_tracking(pets: Frame, observations: Frame, as_of: date,
                           cfg: CrossSell) -> pl.LazyFrame:
    """household_id of households with a senior (or medical-needs) pet and no recent
    health observation of any of its pets."""
    rule = cfg.pet_health_tracking
    at = instant(as_of)
    removed = pl.col("removed_at")
    current = before(pets, "added_at", at).filter(removed.is_null() | (removed >= at))
    senior = pl.col("birth_date").dt.offset_by(f"{rule.senior_age_years}y") <= as_of
    needs = senior.fill_null(False) | (pl.col("has_medical_needs") & rule.medical_needs)
    tracked = before(observations, "observed_at", at).filter(
        pl.col("observed_at") >= at - timedelta(days=rule.tracking_within_days)
    ).join(pets.lazy().select("pet_id", HH), on="pet_id").select(HH)
    return current.filter(needs).select(HH).unique().join(tracked, on=HH, how="anti")


def cross_sell_opportunities(
    as_of: date,
    scores: Frame,
    *,
    pets: Frame,
    pet_health_observations: Frame,
    activity_events: Frame,
    config: ListsConfig | None = None,
) -> pl.DataFrame:
    """One row per active household and add-on it qualifies for on `as_of` (columns:
    CROSS_SELL_COLUMNS, by household_id then the spec's order of add-ons)."""
    config = config or ListsConfig()
    cfg = config.cross_sell
    at = instant(as_of)
    recent = before(activity_events, "occurred_at", at).filter(
        pl.col("occurred_at") >= at - timedelta(days=cfg.calendar_sync.recurring_window_days))
    recurring = kind_counts(recent, {"_recurring": K.RECURRING_TASK_CREATED})
    tracking = _pets_needing_tracking(pets, pet_health_observations, as_of, cfg).with_columns(
        _needs_tracking=pl.lit(True))
    plan = pl.col("plan")
    rules = {
        "additional_household":
            pl.col("active_pets") >= cfg.additional_household.pets_at_least,
        "calendar_sync": plan.is_in(cfg.calendar_sync.plans)
        & (pl.col("_recurring") >= cfg.calendar_sync.recurring_tasks_at_least)
        & ~pl.col("calendar_sync_setup").fill_null(False),
        "pet_health_tracking": pl.col("_needs_tracking"),
        "priority_support_upgrade": plan.is_in(cfg.priority_support_upgrade.plans)
        & (pl.col("tickets_90d") >= cfg.priority_support_upgrade.tickets_90d_at_least),
    }
    return (
        one_day(scores, as_of)
        .filter(is_active(config.active))
        .join(recurring, on=HH, how="left")
        .join(tracking, on=HH, how="left")
        .with_columns(pl.col("_recurring").fill_null(0),
                      pl.col("_needs_tracking").fill_null(False))
        .with_columns(opportunity=pl.concat_list(
            [pl.when(rule.fill_null(False)).then(pl.lit(name)) for name, rule in rules.items()]
        ).list.drop_nulls())
        .explode("opportunity")
        .filter(pl.col("opportunity").is_not_null())
        .sort(HH, maintain_order=True)
        .select(CROSS_SELL_COLUMNS)
        .collect()
    )
