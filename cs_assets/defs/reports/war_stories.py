"""The spec's war-story analyses as assets: a table and a chart in each materialization.

Not partitioned: each compares cohorts over windows reaching months back from the raw
source's reference time (like `survival_model`), so a row per as-of day would repeat nearly
the same answer; re-materialize them with the weekly report, and the asset's materialization
history in the Dagster UI keeps how the tables moved week to week.
"""

import polars as pl
from dagster import (
    AssetSelection,
    Config,
    MetadataValue,
    Output,
    ScheduleDefinition,
    asset,
    define_asset_job,
)
from pydantic import Field

from cs_assets.defs.shared.partitions import FRAME_KINDS
from cs_assets.defs.shared.resources import RawSourceResource
from cs_assets.display import markdown_table
from cs_assets.figures import figure_png, markdown_image
from cs_assets.reports.war_stories import (
    CHURNED,
    DOWNGRADED,
    RETAINED,
    adoption_comparison,
    adoption_figure,
    churn_by_ticket_bucket,
    premium_feature_adoption,
    ticket_bucket_figure,
    weekly_comparison,
    weekly_figure,
    weeks_before_churn,
)

DPI = 72  # metadata images live in the event log: keep them small


def _chart(fig, alt: str) -> MetadataValue:
    return MetadataValue.md(markdown_image(figure_png(fig, dpi=DPI), alt))


def _households_per_group(table: pl.DataFrame, groups: tuple[str, str]) -> dict[str, int]:
    """`<group>_households`: every row of a group repeats its household count."""
    counts = dict(table.group_by("group").agg(pl.col("households").first()).iter_rows())
    return {f"{group}_households": int(counts[group]) for group in groups}


class SilentChurnConfig(Config):
    weeks: int = Field(default=12, ge=1, description="weeks before the anchor to compare")
    lookback_days: int = Field(default=365, ge=1,
                               description="churners: churned this many days before reference")
    horizon_days: int = Field(default=30, ge=0,
                              description="retained: anchored this many days before reference")


class WindowConfig(Config):
    window_days: int = Field(default=90, ge=1, description="the spec's 90-day window")


@asset(
    kinds=FRAME_KINDS,
    description="War story 1 (silent churn): mean weekly task completions, active users and "
    "session minutes in the weeks before churn (12 by default), for households that churned "
    "in the last year, beside households still active, anchored 30 days before the reference "
    "time. Only households with all those weeks of tenure before their anchor.",
)
def war_story_silent_churn(
    config: SilentChurnConfig, raw_source: RawSourceResource, households: pl.DataFrame,
    activity_events: pl.DataFrame,
):
    reference = raw_source.reference_instant()
    table = weeks_before_churn(households, activity_events, reference, weeks=config.weeks,
                               lookback_days=config.lookback_days,
                               horizon_days=config.horizon_days)
    return Output(table, metadata={
        "dagster/row_count": table.height,
        "reference_time": reference.isoformat(),
        **_households_per_group(table, (CHURNED, RETAINED)),
        "weekly_activity": MetadataValue.md(markdown_table(weekly_comparison(table))),
        "weekly_activity_chart": _chart(weekly_figure(table),
                                        "weekly activity before churn, churned vs retained"),
    })


@asset(
    kinds=FRAME_KINDS,
    description="War story 2 (the support ticket paradox): churn rate and mean CSAT by "
    "tickets (0, 1-2, 3-5, 6+) of households active a window (90 days by default) before "
    "the reference time, tickets counted in the window before that and churn in the window "
    "after.",
)
def war_story_support_tickets(
    config: WindowConfig, raw_source: RawSourceResource, households: pl.DataFrame,
    support_tickets: pl.DataFrame,
):
    reference = raw_source.reference_instant()
    table = churn_by_ticket_bucket(households, support_tickets, reference,
                                   window_days=config.window_days)
    shown = table.with_columns((pl.col("churn_rate") * 100).round(2).alias("churn_rate_pct"),
                               pl.col("mean_csat").round(2)).drop("churn_rate")
    return Output(table, metadata={
        "dagster/row_count": table.height,
        "reference_time": reference.isoformat(),
        "households": int(table["households"].sum()),
        "churn_by_ticket_bucket": MetadataValue.md(markdown_table(shown)),
        "churn_by_ticket_bucket_chart": _chart(ticket_bucket_figure(table),
                                               "churn rate by support tickets"),
    })


@asset(
    kinds=FRAME_KINDS,
    description="War story 3 (the Premium downgrade crisis): share of households using each "
    "Premium feature (calendar sync, advanced analytics, custom templates, priority support, "
    "Premium onboarding) during their Premium period, and uses per month, for households "
    "that downgraded Premium -> Free in the window (90 days by default) before the reference "
    "time, beside Premium households retained.",
)
def war_story_premium_downgrades(
    config: WindowConfig, raw_source: RawSourceResource,
    subscription_changes: pl.DataFrame, activity_events: pl.DataFrame,
):
    reference = raw_source.reference_instant()
    table = premium_feature_adoption(subscription_changes, activity_events, reference,
                                     window_days=config.window_days)
    return Output(table, metadata={
        "dagster/row_count": table.height,
        "reference_time": reference.isoformat(),
        **_households_per_group(table, (DOWNGRADED, RETAINED)),
        "premium_feature_adoption": MetadataValue.md(markdown_table(adoption_comparison(table))),
        "premium_feature_adoption_chart": _chart(adoption_figure(table),
                                                 "Premium feature adoption, downgraded vs "
                                                 "retained"),
    })


war_story_assets = [war_story_silent_churn, war_story_support_tickets,
                    war_story_premium_downgrades]

war_stories_job = define_asset_job(
    "war_stories_job",
    selection=AssetSelection.assets(*war_story_assets),
    description="War stories 1-3: silent churn trends, the support-ticket paradox, Premium "
    "feature adoption of downgraders.",
)
# Mondays 07:00 UTC, before the weekly report.
war_stories_schedule = ScheduleDefinition(
    job=war_stories_job, cron_schedule="0 7 * * 1", execution_timezone="UTC",
    description="The war-story analyses, Mondays 07:00 UTC: before the weekly report.")
