"""Voice-of-the-customer assets: who gets which survey today, NPS themes, escalations."""

from datetime import UTC

import polars as pl
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from cs_assets.defs.shared.metadata import counts_table, list_output, per_day
from cs_assets.defs.shared.partitions import DAILY, daily_frames
from cs_assets.defs.shared.resources import RawSourceResource, StateResource, VocResource
from cs_assets.defs.shared.state_keys import reads
from cs_assets.display import markdown_table
from cs_assets.state import schema as state_tables
from cs_assets.state.day_rows import read_rows
from cs_assets.voc import feedback_escalations, nps_themes, survey_eligibility

SENT_SCHEMA = {"household_id": pl.String, "survey_type": pl.String,
               "sent_at": pl.Datetime("us", UTC)}
OPT_OUT_SCHEMA = {"household_id": pl.String, "channel": pl.String, "at": pl.Datetime("us", UTC)}


@asset(
    name="survey_eligibility",
    deps=reads("survey_sends", "opt_outs"),
    **DAILY,
    description="Households due a survey on the day (NPS 30 days after signup, CSAT on a "
    "resolved ticket, feature survey for early adopters, quarterly NPS, exit survey, annual "
    "product survey), at most one each, none within the fatigue window of the last survey.",
)
def survey_eligibility_asset(
    context: AssetExecutionContext, households: pl.DataFrame, support_tickets: pl.DataFrame,
    nps_responses: pl.DataFrame, subscription_changes: pl.DataFrame,
    activity_events: pl.DataFrame, voc: VocResource, state: StateResource,
):
    config = voc.load().surveys
    # surveys the platform sent (its state database); each day sees only those before it
    # and every opt-out it recorded (unsubscribe links, support requests): routed around
    sent = read_rows(state.engine(), state_tables.survey_sends, SENT_SCHEMA)
    refused = read_rows(state.engine(), state_tables.opt_outs, OPT_OUT_SCHEMA)
    out = daily_frames(context, lambda day: survey_eligibility(
        day, households=households, support_tickets=support_tickets,
        nps_responses=nps_responses, subscription_changes=subscription_changes,
        activity_events=activity_events, surveys_sent=sent, opt_outs=refused, config=config))
    return list_output(context, out, ["household_id", "survey_type", "trigger", "channel"],
                       lambda day: {"surveys_per_type": counts_table(day, "survey_type")})


@asset(
    name="nps_themes",
    **DAILY,
    description="Per theme of the NPS comments of the 30 days before the as-of instant: "
    "comments mentioning it, positive and negative mentions, net sentiment.",
)
def nps_themes_asset(
    context: AssetExecutionContext, nps_responses: pl.DataFrame, voc: VocResource,
    raw_source: RawSourceResource,
):
    config = voc.load().themes
    out = daily_frames(context, lambda day: nps_themes(nps_responses, day, config)
                       .with_columns(as_of=pl.lit(day)))
    per_day(context, out, lambda day: {"themes": MetadataValue.md(markdown_table(
        day.drop("as_of").with_columns(pl.col("net_sentiment").round(2))))})
    return Output(out, metadata={"dagster/row_count": out.height, **_nps_absent(raw_source)})


def _nps_absent(raw_source: RawSourceResource) -> dict[str, str]:
    """Said where a product has no NPS table, so its zero rows do not read as no comments."""
    if "nps_responses" in raw_source.absent_tables():
        return {"not_available": "this product has no nps_responses table"}
    return {}


@asset(
    name="feedback_escalations",
    **DAILY,
    description="Themes whose negative NPS mentions in the last 30 days reached the "
    "threshold, with up to three recent example comments (e-mail addresses redacted).",
)
def feedback_escalations_asset(
    context: AssetExecutionContext, nps_responses: pl.DataFrame, voc: VocResource,
    raw_source: RawSourceResource,
):
    config = voc.load().themes
    out = daily_frames(context, lambda day: feedback_escalations(nps_responses, day, config)
                       .with_columns(as_of=pl.lit(day)))
    per_day(context, out, lambda day: {
        "escalated_themes": ", ".join(day["theme"].to_list()) or "none"})
    return Output(out, metadata={"dagster/row_count": out.height, **_nps_absent(raw_source)})
