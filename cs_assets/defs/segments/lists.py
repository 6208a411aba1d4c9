"""The CS team's daily lists as assets: check-ins, Premium risk and save flow, expansion."""

import polars as pl
from dagster import AssetExecutionContext, AssetIn, asset

from cs_assets.defs.shared.metadata import list_output
from cs_assets.defs.shared.partitions import DAILY, daily_frames
from cs_assets.defs.shared.resources import ListsResource, PlaybooksResource, StateResource
from cs_assets.defs.shared.state_keys import reads
from cs_assets.lists import SENT_SCHEMA
from cs_assets.lists.checkins import proactive_checkin_candidates
from cs_assets.lists.expansion import (
    cross_sell_opportunities,
    upsell_candidates,
    upsell_funnel,
    upsell_funnel_households,
)
from cs_assets.lists.premium import downgrade_save_offers, downgrade_saves, premium_adoption_risks
from cs_assets.state import schema as state_tables
from cs_assets.state.day_rows import read_rows
from cs_assets.state.delivery import sends_of
from cs_assets.vocabulary import KEYS

SCORED = {"features": AssetIn("household_features"), "scores": AssetIn("health_scores")}


def _scored(features, scores) -> pl.DataFrame:
    """The day's features with every score (the frame the list rules read)."""
    return features.join(scores, on=list(KEYS), how="inner")


@asset(name="proactive_checkin_candidates", **DAILY, ins=SCORED, deps=reads("checkins"),
       description="War story 2: active, health >= 70, signed up 60+ days ago, no ticket and "
       "no check-in in 90 days; the top 50 by health.")
def proactive_checkin_candidates_asset(
    context: AssetExecutionContext, features, scores, support_tickets: pl.DataFrame,
    lists: ListsResource, state: StateResource,
):
    scored, config = _scored(features, scores), lists.load()
    # check-ins the platform made (its state database); each day sees only those before it
    made = read_rows(state.engine(), state_tables.checkins, SENT_SCHEMA)
    out = daily_frames(context, lambda day: proactive_checkin_candidates(
        day, scored, support_tickets=support_tickets, checkins_sent=made, config=config))
    return list_output(context, out, ["rank", "household_id", "health_score", "plan"])


@asset(name="premium_adoption_risk", **DAILY, ins=SCORED,
       description="War story 3: Premium households upgraded 30+ days ago with an adoption "
       "score under 40, and the features they are not using.")
def premium_adoption_risk_asset(context: AssetExecutionContext, features, scores):
    scored = _scored(features, scores)
    out = daily_frames(context, lambda day: premium_adoption_risks(day, scored))
    return list_output(context, out, ["household_id", "premium_adoption_score",
                                       "missing_premium_features"])


@asset(name="downgrade_save_offers", **DAILY, ins=SCORED,
       description="What the app shows a Premium household that clicks downgrade: its unused "
       "features first, otherwise pause / 50% off for 3 months / talk to the team / continue; "
       "onboarding help under 90 days since upgrade, a discount after.")
def downgrade_save_offers_asset(
    context: AssetExecutionContext, features, scores, lists: ListsResource
):
    scored, config = _scored(features, scores), lists.load()
    out = daily_frames(context, lambda day: downgrade_save_offers(day, scored, config))
    return list_output(context, out, ["household_id", "modal", "offer_type"])


@asset(name="downgrade_saves", **DAILY,
       description="Downgrade intents (clicks) and whether the household was still Premium "
       "30 days later; `pending` until the 30 days are over.")
def downgrade_saves_asset(
    context: AssetExecutionContext, activity_events: pl.DataFrame,
    subscription_changes: pl.DataFrame, households: pl.DataFrame, lists: ListsResource,
):
    config = lists.load()
    out = daily_frames(context, lambda day: downgrade_saves(
        day, activity_events=activity_events, subscription_changes=subscription_changes,
        households=households, config=config))
    return list_output(context, out, ["household_id", "intent_at", "outcome"])


def upsell_sends(state: StateResource, playbooks: PlaybooksResource) -> pl.DataFrame:
    """What the upsell campaign (the playbooks `upsell_candidates` enrols into) sent: who
    was pitched when, for the recontact gap and the funnel's awareness stage."""
    rows = sends_of(state.engine(), playbooks.load().triggered_by("upsell_candidates"))
    return pl.DataFrame(rows, schema=SENT_SCHEMA, orient="row")


@asset(name="upsell_candidates", **DAILY, ins=SCORED,
       deps=reads("enrolments", "step_executions"),
       description="Free, active, 30+ days, health >= 70 and an intent signal in 30 days; the "
       "upsell angle; the top 50 by health.")
def upsell_candidates_asset(
    context: AssetExecutionContext, features, scores, activity_events: pl.DataFrame,
    lists: ListsResource, playbooks: PlaybooksResource, state: StateResource,
):
    scored, config = _scored(features, scores), lists.load()
    sent = upsell_sends(state, playbooks)
    out = daily_frames(context, lambda day: upsell_candidates(
        day, scored, activity_events=activity_events, upsell_sent=sent, config=config))
    return list_output(context, out, ["rank", "household_id", "health_score", "upsell_angle"])


@asset(name="upsell_funnel", **DAILY, deps=reads("enrolments", "step_executions"),
       description="Awareness -> consideration -> trial -> purchase over the 90 days before "
       "the as-of instant, stages in time order, with conversion rates (null, not a division "
       "by zero, when a stage is empty).")
def upsell_funnel_asset(
    context: AssetExecutionContext, households: pl.DataFrame,
    subscription_changes: pl.DataFrame, activity_events: pl.DataFrame, lists: ListsResource,
    playbooks: PlaybooksResource, state: StateResource,
):
    config, sent = lists.load(), upsell_sends(state, playbooks)
    out = daily_frames(context, lambda day: upsell_funnel(day, upsell_funnel_households(
        day, households=households, subscription_changes=subscription_changes,
        activity_events=activity_events, upsell_sent=sent, config=config)))
    return list_output(context, out, ["free_households", "awareness_count",
                                       "consideration_count", "trial_count", "purchase_count",
                                       "purchases_any_path"])


@asset(name="cross_sell_opportunities", **DAILY, ins=SCORED,
       description="Add-on opportunities per active household: additional household, calendar "
       "sync, pet health tracking, priority support.")
def cross_sell_opportunities_asset(
    context: AssetExecutionContext, features, scores, pets: pl.DataFrame,
    pet_health_observations: pl.DataFrame, activity_events: pl.DataFrame,
    lists: ListsResource,
):
    scored, config = _scored(features, scores), lists.load()
    out = daily_frames(context, lambda day: cross_sell_opportunities(
        day, scored, pets=pets, pet_health_observations=pet_health_observations,
        activity_events=activity_events, config=config))
    return list_output(context, out, ["household_id", "opportunity", "plan"])


list_assets = [
    proactive_checkin_candidates_asset, premium_adoption_risk_asset, downgrade_save_offers_asset,
    downgrade_saves_asset, upsell_candidates_asset, upsell_funnel_asset,
    cross_sell_opportunities_asset,
]
