"""War story 3 (Premium downgrades): who is paying without adopting, what the app shows when a
household clicks "Downgrade", and whether the save worked.

* `premium_adoption_risks`: the households `health_scores` flags (`premium_adoption_risk`:
  upgraded >= 30 days ago and adoption score < 40, scorecard `premium_adoption.risk`), with the
  features they miss; lowest score first, ties to the smaller household_id. The flag is not
  recomputed here: the scorecard owns the rule.
* `downgrade_save_offers`: per household on a `downgrade_save.plans` plan (Premium), the modal
  the spec's `handleDowngradeIntent` returns. Unused features are `missing_premium_features`
  (calendar sync not set up, analytics viewed < 2 times, no template; the spec's
  `getUnusedFeatures` is undefined, this is its `missingFeatures` list). Any unused feature:
  the `unused_features` modal (show me how / continue downgrading); none: the `alternatives`
  modal (pause, discount, talk to the team, continue). `offer_type` is the spec's logged
  offer: `onboarding_help` when upgraded fewer than `onboarding_help_days_below` (90) days ago,
  else `discount` (also when the upgrade age is unknown: the spec's else branch). As in the
  spec it does not depend on the modal. A "continue" option is always offered.
* `downgrade_saves`: each downgrade intent and its outcome. The contract has the canonical
  kind `downgrade_clicked` (mapped from the product's `downgrade_click`). A click counts only
  while the household is on a `downgrade_save.plans` plan (plan changes strictly before the
  click). An intent starts at a click; clicks in the `outcome_days` (30) after its start are
  repeats of it (one save flow, not several), and the next click after that starts a new one.
  The household *stayed Premium* if it neither downgraded nor cancelled nor churned in
  `[intent_at, intent_at + 30 days)`; an upgrade (to Enterprise) is no loss. Outcome:
  `downgraded` / `churned` when it left in the window before `T` (known early), `saved` when
  the window closed at or before `T` without a leave, else `pending`: the 30 days are not over,
  so `stayed_premium` is null and the intent must be left out of save rates (counting it as
  saved would credit the flow with households that may still leave).
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from cs_assets.contract.events import EventKind
from cs_assets.contract.tables import plan_history_order
from cs_assets.lists import DowngradeSave, Frame, ListsConfig, before, one_day
from cs_assets.vocabulary import HH, instant

RISK_COLUMNS = [HH, "as_of", "plan", "mrr", "days_since_upgrade", "premium_adoption_score",
                "missing_premium_features"]
OFFER_COLUMNS = [HH, "as_of", "plan", "days_since_upgrade", "premium_adoption_score", "modal",
                 "unused_features", "options", "offer_type"]
SAVE_COLUMNS = [HH, "as_of", "intent_at", "clicks", "plan_at_intent", "outcome_due_at",
                "left_at", "outcome", "stayed_premium"]
CONTINUE = "continue_downgrade"


def premium_adoption_risks(as_of: date, scores: Frame) -> pl.DataFrame:
    """Premium households at adoption risk on `as_of` (columns: RISK_COLUMNS)."""
    return (
        one_day(scores, as_of)
        .filter(pl.col("premium_adoption_risk").fill_null(False))
        .sort("premium_adoption_score", HH)
        .select(RISK_COLUMNS)
        .collect()
    )


def _months(n: int) -> str:
    return f"{n}_month" if n == 1 else f"{n}_months"


def alternatives(cfg: DowngradeSave) -> list[str]:
    """The spec's four options, in its order, with the configured terms in their keys."""
    return [f"pause_{_months(cfg.pause_months)}",
            f"discount_{cfg.discount_percent}pct_{_months(cfg.discount_months)}",
            "talk_to_team", CONTINUE]


def downgrade_save_offers(as_of: date, scores: Frame,
                          config: ListsConfig | None = None) -> pl.DataFrame:
    """What each household on a save plan would see on clicking "Downgrade" on `as_of`
    (columns: OFFER_COLUMNS, by household_id)."""
    cfg = (config or ListsConfig()).downgrade_save
    unused = pl.col("missing_premium_features").fill_null(pl.lit([], pl.List(pl.String)))
    has_unused = unused.list.len() > 0
    onboarding = pl.col("days_since_upgrade") < cfg.onboarding_help_days_below
    return (
        one_day(scores, as_of)
        .filter(pl.col("plan").is_in(cfg.plans))
        .with_columns(
            unused_features=unused,
            modal=pl.when(has_unused).then(pl.lit("unused_features"))
            .otherwise(pl.lit("alternatives")),
            options=pl.when(has_unused).then(pl.lit(["show_me_how", CONTINUE]))
            .otherwise(pl.lit(alternatives(cfg))),
            offer_type=pl.when(onboarding.fill_null(False)).then(pl.lit("onboarding_help"))
            .otherwise(pl.lit("discount")),
        )
        .sort(HH)
        .select(OFFER_COLUMNS)
        .collect()
    )


def _eligible_clicks(events: pl.LazyFrame, changes: pl.LazyFrame,
                     cfg: DowngradeSave) -> pl.DataFrame:
    """Downgrade clicks (household_id, occurred_at, plan) made while on a save plan."""
    clicks = events.filter(pl.col("event_kind") == EventKind.DOWNGRADE_CLICKED.value)
    return (
        clicks.select(HH, "occurred_at").sort("occurred_at")
        .join_asof(changes.sort(plan_history_order()).select(HH, "changed_at", plan="to_plan"),
                   left_on="occurred_at", right_on="changed_at", by=HH, strategy="backward",
                   allow_exact_matches=False, check_sortedness=False)
        .filter(pl.col("plan").is_in(cfg.plans))
        .select(HH, "occurred_at", "plan")
        .sort(HH, "occurred_at")
        .collect()
    )


def _intents(clicks: pl.DataFrame, window: timedelta) -> pl.DataFrame:
    """(household_id, intent_at, plan_at_intent, clicks): each intent starts at the first click
    at or after the previous intent's start + `window`; the clicks before that repeat it."""
    starts, rest = [], clicks
    while rest.height:  # one pass per intent of the household with the most: a handful
        first = rest.group_by(HH).agg(intent_at=pl.col("occurred_at").first(),
                                      plan_at_intent=pl.col("plan").first())
        starts.append(first)
        rest = rest.join(first, on=HH).filter(
            pl.col("occurred_at") >= pl.col("intent_at") + window
        ).select(clicks.columns)
    intents = pl.concat(starts) if starts else pl.DataFrame(
        schema={HH: pl.String, "intent_at": clicks.schema["occurred_at"],
                "plan_at_intent": pl.String})
    counts = (
        clicks.join_asof(intents.sort("intent_at").select(HH, "intent_at"),
                         left_on="occurred_at", right_on="intent_at", by=HH,
                         strategy="backward", check_sortedness=False)
        .group_by(HH, "intent_at").agg(clicks=pl.len().cast(pl.Int64))
    )
    return intents.join(counts, on=[HH, "intent_at"], how="left")


def _leaves(changes: pl.LazyFrame, households: pl.LazyFrame) -> pl.LazyFrame:
    """(household_id, left_at, how): downgrades, cancellations and churns before `T`."""
    kind = pl.col("change_type")
    moves = changes.filter(kind.is_in(["downgrade", "cancel"])).select(
        HH, left_at="changed_at",
        how=pl.when(kind == "downgrade").then(pl.lit("downgraded")).otherwise(pl.lit("churned")))
    churns = households.filter(pl.col("churned_at").is_not_null()).select(
        HH, left_at="churned_at", how=pl.lit("churned"))
    return pl.concat([moves, churns]).sort("left_at")


def downgrade_saves(
    as_of: date,
    *,
    activity_events: Frame,
    subscription_changes: Frame,
    households: Frame,
    config: ListsConfig | None = None,
) -> pl.DataFrame:
    """Every downgrade intent before `as_of` and whether the household stayed (columns:
    SAVE_COLUMNS, by household_id and intent_at). `activity_events` is the validated table
    with its canonical `event_kind`."""
    cfg = (config or ListsConfig()).downgrade_save
    at = instant(as_of)
    window = timedelta(days=cfg.outcome_days)
    changes = before(subscription_changes, "changed_at", at)
    clicks = _eligible_clicks(before(activity_events, "occurred_at", at), changes, cfg)
    due = pl.col("intent_at") + window
    left = pl.col("left_at").is_not_null() & (pl.col("left_at") < due)
    outcome = (pl.when(left).then(pl.col("how"))
               .when(due <= at).then(pl.lit("saved"))
               .otherwise(pl.lit("pending")))
    return (
        _intents(clicks, window).lazy().sort("intent_at")
        .join_asof(_leaves(changes, before(households, "churned_at", at)),
                   left_on="intent_at", right_on="left_at", by=HH, strategy="forward",
                   check_sortedness=False)
        .with_columns(
            as_of=pl.lit(as_of),
            outcome_due_at=due,
            left_at=pl.when(left).then(pl.col("left_at")),
            outcome=outcome,
        )
        .with_columns(stayed_premium=pl.when(pl.col("outcome") != "pending")
                      .then(pl.col("outcome") == "saved"))
        .sort(HH, "intent_at")
        .select(SAVE_COLUMNS)
        .collect()
    )
