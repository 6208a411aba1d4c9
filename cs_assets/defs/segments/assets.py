"""Segment assets: micro-segments with a summary, and journey stages, one daily partition each."""


import polars as pl
from dagster import (
    AssetExecutionContext,
    AssetIn,
    MetadataValue,
    Output,
    asset,
)

from cs_assets.defs.shared.metadata import PREVIEW, counts_table, per_day
from cs_assets.defs.shared.partitions import (
    DAILY,
    daily_frames,
    days_of,
)
from cs_assets.defs.shared.resources import SegmentsResource, StateResource
from cs_assets.defs.shared.state_keys import reads
from cs_assets.display import markdown_table
from cs_assets.segments.journey import (
    TRANSITION_SCHEMA,
    append_transitions,
    journey_inputs,
    journey_stage,
)
from cs_assets.segments.micro import latest_nps, micro_segments, segment_summary
from cs_assets.state import schema as state_tables
from cs_assets.state.day_rows import replace_day, rows_before
from cs_assets.vocabulary import KEYS


@asset(
    name="micro_segments",
    **DAILY,
    ins={"features": AssetIn("household_features"), "predictions": AssetIn("churn_predictions")},
    description="The spec's six behavioural dimensions (usage intensity, collaboration, "
    "feature sophistication, lifecycle, value perception, support dependency), the segment "
    "they make and its recommended action, per active household.",
)
def micro_segments_asset(
    context: AssetExecutionContext, features, predictions, nps_responses: pl.DataFrame,
    segments: SegmentsResource,
):
    config = segments.load()
    frame = features.join(predictions.select(*KEYS, "churn_probability"), on=list(KEYS),
                          how="left")
    out = daily_frames(context, lambda day: micro_segments(
        frame.filter(pl.col("as_of") == day)
        .join(latest_nps(nps_responses, day), on="household_id", how="left"), config))
    per_day(context, out, _segments_of_day)
    return Output(out, metadata={"dagster/row_count": out.height})


def _segments_of_day(day: pl.DataFrame) -> dict:
    summary = segment_summary(day)
    return {
        "segments": summary.height,
        "largest_segments": MetadataValue.md(markdown_table(
            summary.head(PREVIEW).select("segment", "recommended_action", "households",
                                         pl.col("share").round(3),
                                         pl.col("mean_churn_probability").round(3)))),
    }


@asset(
    name="micro_segment_summary",
    **DAILY,
    ins={"segments_frame": AssetIn("micro_segments")},
    description="Per day and segment: households, share of the day's households and mean "
    "churn probability, largest segments first.",
)
def micro_segment_summary_asset(context: AssetExecutionContext, segments_frame):
    summary = segment_summary(segments_frame)
    return Output(summary,
                  metadata={"dagster/row_count": summary.height})


@asset(
    name="journey_stages",
    **DAILY,
    ins={"features": AssetIn("household_features")},
    description="The spec's journey stage of every household that signed up before the as-of "
    "instant (onboarding, adoption, growth, retention, advocacy, churned) and the rule that "
    "put it there.",
)
def journey_stages_asset(
    context: AssetExecutionContext, features, households: pl.DataFrame,
    members: pl.DataFrame, nps_responses: pl.DataFrame, reviews: pl.DataFrame,
    referral_codes: pl.DataFrame, segments: SegmentsResource,
):
    config = segments.load()
    out = daily_frames(context, lambda day: journey_stage(journey_inputs(
        features, day, config, households=households, members=members,
        nps_responses=nps_responses, reviews=reviews, referral_codes=referral_codes), config))
    per_day(context, out, lambda day: {"households_per_stage": counts_table(day, "stage")})
    return Output(out, metadata={"dagster/row_count": out.height})


@asset(
    name="journey_transitions",
    deps=reads("journey_transitions"),
    **DAILY,
    ins={"stages": AssetIn("journey_stages")},
    description="A row (from, to, date, days in the previous stage, trigger) for each "
    "household whose journey stage changed since its last known one. The history lives in "
    "the platform's state database: a day reads only earlier days and replaces its own rows, "
    "so re-materializing a day never duplicates it.",
)
def journey_transitions_asset(context: AssetExecutionContext, stages, state: StateResource):
    engine = state.engine()
    table = state_tables.journey_transitions
    parts = []
    for day in days_of(context):  # in order: each day builds on the one before
        history = rows_before(engine, table, "date", day, TRANSITION_SCHEMA)
        rows = append_transitions(history, None, stages.filter(pl.col("as_of") == day)).filter(
            pl.col("date") == day)
        replace_day(engine, table, "date", day, rows)
        parts.append(rows.with_columns(as_of=pl.lit(day)))
    out = pl.concat(parts, rechunk=True)
    per_day(context, out, lambda day: {"transitions": MetadataValue.md(markdown_table(
        day.group_by("from_stage", "to_stage").len("households")
        .sort("households", "from_stage", "to_stage", descending=[True, False, False])
        .head(PREVIEW)))})
    return Output(out, metadata={"dagster/row_count": out.height})
