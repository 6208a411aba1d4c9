"""The reports as assets: the weekly CS report (Monday-start weeks) and the EBR decks
(quarters), written as files under $CS_HOME/reports for people to open, print and send.

Both read the daily partitions inside their window (Dagster's default time-window mapping) and
skip days that were never materialized (`allow_missing_partitions`), so a report of a partly
computed week still renders, saying which days it saw. They return no frame: the files are the
output, and the metadata holds their paths and a summary without names. Their jobs and
schedules are here too (`report_jobs`, `report_schedules`), for `Definitions`.
"""

from datetime import date
from pathlib import Path
from urllib.parse import quote

import polars as pl
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetSelection,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    TimeWindowPartitionsDefinition,
    WeeklyPartitionsDefinition,
    asset,
    build_schedule_from_partitioned_job,
    define_asset_job,
    schedule,
)

from cs_assets.defs.shared.partitions import OPTIONAL_INPUT, daily_partitions
from cs_assets.defs.shared.resources import ListsResource, RawSourceResource, StateResource
from cs_assets.defs.shared.state_keys import reads
from cs_assets.reports.ebr import (
    add_quarters,
    deck_html,
    deck_markdown,
    ebr_decks,
    quarter_label,
    quarter_of,
)
from cs_assets.reports.weekly import (
    ENROLMENT_SCHEMA,
    INPUT_SCHEMAS,
    STEP_SCHEMA,
    weekly_html,
    weekly_markdown,
    weekly_report,
)
from cs_assets.settings import cs_home
from cs_assets.state import schema as state_tables
from cs_assets.state.day_rows import read_rows
from cs_assets.vocabulary import utc_now

START = daily_partitions.start.strftime("%Y-%m-%d")
# Monday 00:00 UTC to Monday 00:00 UTC; the latest partition is the last complete week.
weekly_partitions = WeeklyPartitionsDefinition(start_date=START, day_offset=1, timezone="UTC")
# Calendar quarters, keyed by their first day; the latest is the last complete quarter.
quarterly_partitions = TimeWindowPartitionsDefinition(
    cron_schedule="0 0 1 1,4,7,10 *", start=START, fmt="%Y-%m-%d", timezone="UTC")
HEALTH_COLUMNS = {"household_id": pl.String, "as_of": pl.Date, "health_score": pl.Float64,
                  "top_reasons": pl.String}


def _days(asset_name: str) -> AssetIn:
    return AssetIn(asset_name, metadata=OPTIONAL_INPUT)


def _stacked(loaded, name: str) -> pl.DataFrame:
    """The days that were loaded; INPUT_SCHEMAS[name] when none was."""
    return pl.DataFrame(schema=INPUT_SCHEMAS[name]) if loaded is None else loaded


def reports_dir() -> Path:
    return cs_home() / "reports"


@asset(
    name="weekly_cs_report",
    deps=reads("enrolments", "step_executions"),
    partitions_def=weekly_partitions,
    kinds={"polars", "html"},
    ins={name: _days(key) for name, key in (
        ("tiers", "health_tiers"), ("alerts", "trend_alerts"),
        ("assignments", "csm_assignments"), ("themes", "nps_themes"),
        ("funnel", "upsell_funnel"), ("transitions", "journey_transitions"))},
    description="The weekly CS report as one printable HTML file ($CS_HOME/reports/weekly/"
    "<monday>.html): health tiers and their trend, churn rate, GRR and NRR, top at-risk "
    "households with reasons and CSM, alerts by type, playbook activity and churn effect, "
    "NPS and themes, the upsell funnel and journey-stage flow.",
)
def weekly_cs_report_asset(
    context: AssetExecutionContext, tiers, alerts, assignments, themes, funnel, transitions,
    households: pl.DataFrame, subscription_changes: pl.DataFrame, nps_responses: pl.DataFrame,
    state: StateResource, raw_source: RawSourceResource,
) -> MaterializeResult:
    week = date.fromisoformat(context.partition_key)
    engine = state.engine()
    loaded = dict(tiers=tiers, alerts=alerts, assignments=assignments, themes=themes,
                  funnel=funnel, transitions=transitions)
    report = weekly_report(
        week, **{name: _stacked(frames, name) for name, frames in loaded.items()},
        households=households, subscription_changes=subscription_changes,
        nps_responses=nps_responses,
        enrolments=read_rows(engine, state_tables.enrolments, ENROLMENT_SCHEMA),
        steps=read_rows(engine, state_tables.step_executions, STEP_SCHEMA),
        nps_available="nps_responses" not in raw_source.absent_tables(),
    )
    path = reports_dir() / "weekly" / f"{week}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    now = utc_now()
    path.write_text(weekly_html(report, now), encoding="utf-8")
    if len(report.days) < 7:
        context.log.warning(f"week {week}: health tiers for {len(report.days)} of 7 days")
    return MaterializeResult(metadata={
        "path": MetadataValue.path(str(path)),
        "as_of_days_with_data": len(report.days),
        "churn_rate_pct": report.retention.churn_rate,
        "grr_pct": report.retention.grr,
        "nrr_pct": report.retention.nrr,
        "summary": MetadataValue.md(weekly_markdown(report, now, str(path))),
    })


@asset(
    name="ebr_decks",
    partitions_def=quarterly_partitions,
    kinds={"polars", "html"},
    ins={"scores": _days("health_scores")},
    description="A quarterly Executive Business Review deck per household on a plan with "
    "`executive_reviews` (product.yaml; PetForce's Enterprise), eight "
    "slides (summary, usage with quarter-over-quarter change, business value, goals, feature "
    "adoption, support, next quarter, growth) as HTML (one slide per printed page) and "
    "Markdown under $CS_HOME/reports/ebr/<YYYY-Qn>/.",
)
def ebr_decks_asset(
    context: AssetExecutionContext, scores: pl.LazyFrame | None, households: pl.DataFrame,
    members: pl.DataFrame, pets: pl.DataFrame, activity_events: pl.LazyFrame,
    support_tickets: pl.DataFrame, subscription_changes: pl.DataFrame, payments: pl.DataFrame,
    nps_responses: pl.DataFrame, success_plans: pl.DataFrame, lists: ListsResource,
) -> MaterializeResult:
    quarter = date.fromisoformat(context.partition_key)
    # only the quarter's latest scored day is read: the partitions are lazy scans
    health = (pl.DataFrame(schema=HEALTH_COLUMNS) if scores is None else
              scores.filter(pl.col("as_of") == pl.col("as_of").max())
              .select(list(HEALTH_COLUMNS)).collect())
    decks = ebr_decks(
        quarter, households=households, members=members, pets=pets,
        activity_events=activity_events, support_tickets=support_tickets,
        subscription_changes=subscription_changes, payments=payments,
        nps_responses=nps_responses, success_plans=success_plans, health=health,
        pets_for_additional_household=lists.load().cross_sell.additional_household.pets_at_least,
    )
    folder = reports_dir() / "ebr" / quarter_label(quarter)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for deck in decks:
        name = quote(deck.household_id, safe="")  # an id is a file name, never a path
        (folder / f"{name}.html").write_text(deck_html(deck), encoding="utf-8")
        (folder / f"{name}.md").write_text(deck_markdown(deck), encoding="utf-8")
        paths.append(str(folder / f"{name}.html"))
    context.log.info(f"{quarter_label(quarter)}: {len(decks)} EBR decks in {folder}")
    return MaterializeResult(metadata={
        "decks": len(decks),
        "folder": MetadataValue.path(str(folder)),
        "paths": MetadataValue.json(paths),
        "health_as_of": str(health["as_of"].max()) if health.height else "none",
        # the first deck, by household id only: names stay in the files
        "preview": MetadataValue.md(deck_markdown(decks[0], with_name=False) if decks
                                    else "No household on a plan with executive reviews at "
                                    "the quarter's end."),
    })


report_assets = [weekly_cs_report_asset, ebr_decks_asset]

weekly_report_job = define_asset_job(
    "weekly_report_job", selection=AssetSelection.assets(weekly_cs_report_asset),
    description="The weekly CS report of the week just ended.")
ebr_job = define_asset_job(
    "ebr_job", selection=AssetSelection.assets(ebr_decks_asset),
    description="The EBR decks of the quarter just ended.")
# Mondays 08:00 UTC: after the daily job (06:00) has computed Sunday's partition.
weekly_report_schedule = build_schedule_from_partitioned_job(
    weekly_report_job, hour_of_day=8, day_of_week=1,
    description="The weekly CS report of the week just ended, Mondays 08:00 UTC.")


@schedule(job=ebr_job, cron_schedule="0 8 1 1,4,7,10 *", execution_timezone="UTC",
          description="The EBR decks of the quarter just ended, 08:00 UTC on a quarter's "
          "first day.")
def ebr_schedule(context: ScheduleEvaluationContext):
    """08:00 UTC on a quarter's first day, after the daily job re-ingested the raw tables: the
    quarter just ended (a cron partition set takes no hour offset, hence a plain schedule)."""
    day = context.scheduled_execution_time.date()
    key = add_quarters(quarter_of(day), -1).isoformat()
    if key < START:
        return SkipReason(f"the quarter before {day} starts before the partitions ({START})")
    return RunRequest(run_key=key, partition_key=key)


report_jobs = [weekly_report_job, ebr_job]
report_schedules = [weekly_report_schedule, ebr_schedule]
