"""Team assets: CSM assignments, referral conversions and rewards, review requests."""

from datetime import UTC

import polars as pl
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetOut,
    MetadataValue,
    Output,
    asset,
    multi_asset,
)

from cs_assets.defs.shared.metadata import PREVIEW, counts_table, list_output, per_day
from cs_assets.defs.shared.partitions import DAILY, daily_frames, days_of
from cs_assets.defs.shared.resources import SegmentsResource, StateResource, TeamResource
from cs_assets.defs.shared.state_keys import reads
from cs_assets.display import markdown_table
from cs_assets.segments.micro import nps_advocates
from cs_assets.state import schema as state_tables
from cs_assets.state.day_rows import latest_before, read_rows, replace_day, rows_before
from cs_assets.team.assignments import PREVIOUS_SCHEMA, assign_csms
from cs_assets.team.referrals import (
    CODE_COLUMNS,
    CODE_SCHEMA,
    issue_referral_codes,
    leaderboard,
    referral_conversions,
    rewards_ledger,
)
from cs_assets.team.reviews import review_request_candidates, review_rewards

REQUEST_SCHEMA = {"household_id": pl.String, "requested_at": pl.Datetime("us", UTC)}


@asset(name="csm_assignments", **DAILY, ins={"features": AssetIn("household_features")},
       deps=reads("csm_assignments"),
       description="Enterprise and Premium households to a CSM of that specialization, region "
       "and spare capacity (least loaded first), Free ones to automated CS, the rest to the CS "
       "Ops queue; one summary warning with the overflow count. Yesterday's assignments (the "
       "platform's state database) stay unless the CSM or the household no longer fits.")
def csm_assignments_asset(
    context: AssetExecutionContext, features, households: pl.DataFrame, team: TeamResource,
    state: StateResource,
):
    config = team.load().assignments
    engine, table = state.engine(), state_tables.csm_assignments
    parts, overflow = [], 0
    for day in days_of(context):  # in order: each day keeps the assignments before it
        today = features.filter(pl.col("as_of") == day).select("household_id", "plan").join(
            households.select("household_id", "region"), on="household_id", how="left")
        previous = latest_before(engine, table, "household_id", "as_of", day,
                                 {**PREVIOUS_SCHEMA, "as_of": pl.Date}).drop("as_of")
        frame, overflow = assign_csms(today, config, previous, day)
        frame = frame.with_columns(as_of=pl.lit(day))
        replace_day(engine, table, "as_of", day, frame)
        parts.append(frame)
    out = pl.concat(parts, rechunk=True)
    if overflow:
        context.log.warning(f"{overflow} paid households on {day} have no CSM with spare "
                            "capacity in their region: queued for CS Ops")
    return list_output(context, out, ["household_id", "plan", "region", "csm_id", "route"],
                       lambda rows: {"households_per_route": counts_table(rows, "route")})


@asset(name="issued_referral_codes", **DAILY, ins={"stages": AssetIn("journey_stages")},
       deps=reads("referral_codes_issued"),
       description="Referral codes the platform issues to the households it may invite to "
       "refer (the advocacy stage; every household not churned whose latest NPS makes it an "
       "Advocate) that hold none: REF- and 8 readable symbols derived from a secret (unique, "
       "not guessable from the household); kept in the platform's state database.")
def issued_referral_codes_asset(
    context: AssetExecutionContext, stages, referral_codes: pl.DataFrame,
    nps_responses: pl.DataFrame, team: TeamResource, state: StateResource,
    segments: SegmentsResource,
):
    config = segments.load()
    engine, secret = state.engine(), team.secret()
    table = state_tables.referral_codes_issued
    issued_schema = {**CODE_SCHEMA, "issued_on": pl.Date}
    parts = []
    for day in days_of(context):  # in order: a day's codes are taken for the next days
        earlier = rows_before(engine, table, "issued_on", day, issued_schema).select(CODE_COLUMNS)
        today = stages.filter(pl.col("as_of") == day)
        advocates = pl.concat([
            today.filter(pl.col("stage") == "advocacy").select("household_id"),
            # the value perception micro_segments gives them (the segment playbook's audience)
            nps_advocates(nps_responses, day, config).join(
                today.filter(pl.col("stage") != "churned"), on="household_id", how="semi"),
        ])
        new = issue_referral_codes(advocates, referral_codes.select(CODE_COLUMNS), earlier, day,
                                   secret=secret).with_columns(issued_on=pl.lit(day))
        replace_day(engine, table, "issued_on", day, new)
        parts.append(new.rename({"issued_on": "as_of"}))
    out = pl.concat(parts, rechunk=True)
    # the codes themselves stay out of the metadata: they are what a referee types in
    per_day(context, out, lambda rows: {"issued": rows.height})
    return Output(out, metadata={"dagster/row_count": out.height})


@multi_asset(
    outs={"referral_conversions": AssetOut(), "invalid_referral_codes": AssetOut()},
    deps=["issued_referral_codes", *reads("referral_codes_issued")],
    **{k: v for k, v in DAILY.items() if k != "kinds"},
    description="Signups that used a referral code the product or the platform issued (before "
    "the signup), and "
    "the codes that could not be honoured with the reason (unknown, self-referral, issued "
    "after the signup).",
)
def referral_conversions_asset(
    context: AssetExecutionContext, households: pl.DataFrame, referral_codes: pl.DataFrame,
    subscription_changes: pl.DataFrame, state: StateResource,
):
    # every code the platform issued; each day honours only those issued before it
    platform = read_rows(state.engine(), state_tables.referral_codes_issued, CODE_SCHEMA)
    pairs = [referral_conversions(households, referral_codes.select(CODE_COLUMNS), platform,
                                  subscription_changes, day) for day in days_of(context)]
    days = days_of(context)
    conversions = pl.concat([c.with_columns(as_of=pl.lit(d)) for (c, _), d in zip(pairs, days,
                                                                               strict=True)])
    invalid = pl.concat([i.with_columns(as_of=pl.lit(d)) for (_, i), d in zip(pairs, days,
                                                                           strict=True)])
    per_day(context, conversions, lambda rows: {"latest": MetadataValue.md(markdown_table(
        rows.sort("converted_at", descending=True).head(PREVIEW)
        .select("referee_id", "referrer_id", "converted_at", "referee_plan")))},
        asset_key="referral_conversions")
    per_day(context, invalid, lambda rows: {"reasons": counts_table(rows, "reason", "codes")},
            asset_key="invalid_referral_codes")
    yield Output(conversions, "referral_conversions",
                 metadata={"dagster/row_count": conversions.height})
    yield Output(invalid, "invalid_referral_codes", metadata={"dagster/row_count": invalid.height})


@asset(name="referral_leaderboard", **DAILY, ins={"conversions": AssetIn("referral_conversions")},
       description="Referrers over the 365 days before the as-of instant with the spec's "
       "top-advocate tiers (1st, top 3, top 10).")
def referral_leaderboard_asset(context: AssetExecutionContext, conversions, team: TeamResource):
    config = team.load().leaderboard
    out = daily_frames(context, lambda day: leaderboard(
        conversions.filter(pl.col("as_of") == day).drop("as_of"), day, config)
        .with_columns(as_of=pl.lit(day)))
    return list_output(context, out, ["place", "referrer_id", "successful_referrals", "tier"])


@asset(name="review_request_candidates", **DAILY, deps=reads("review_requests"),
       description="Promoters (latest NPS >= 9) not asked for a review in 90 days.")
def review_request_candidates_asset(
    context: AssetExecutionContext, nps_responses: pl.DataFrame, households: pl.DataFrame,
    team: TeamResource, state: StateResource,
):
    config = team.load().review_requests
    # review requests the platform sent (each day reads only those before it)
    asked = read_rows(state.engine(), state_tables.review_requests, REQUEST_SCHEMA)
    out = daily_frames(context, lambda day: review_request_candidates(
        nps_responses, asked, day, households=households, config=config)
        .with_columns(as_of=pl.lit(day)))
    return list_output(context, out, ["household_id", "nps_score"])


@asset(name="rewards_ledger", **DAILY, ins={"conversions": AssetIn("referral_conversions")},
       description="Every reward granted up to the day: referrer credits (expiring after a "
       "year), referee Premium months, review credits, leaderboard tier awards.")
def rewards_ledger_asset(
    context: AssetExecutionContext, conversions, reviews: pl.DataFrame, team: TeamResource
):
    config = team.load()

    def ledger(day):
        reviewed = review_rewards(reviews, day, config.rewards)
        today = conversions.filter(pl.col("as_of") == day).drop("as_of")
        return rewards_ledger(today, reviewed, day, config.rewards,
                              config.leaderboard).with_columns(as_of=pl.lit(day))

    out = daily_frames(context, ledger)
    return list_output(context, out, ["reward_id", "reason", "credit_usd", "premium_months"])


team_assets = [csm_assignments_asset, issued_referral_codes_asset, referral_conversions_asset,
               referral_leaderboard_asset, review_request_candidates_asset, rewards_ledger_asset]
