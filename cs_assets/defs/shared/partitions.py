"""The daily as-of partitions shared by every analytical asset, and how an asset body moves
between a run's partitions and one frame.

Partition `2026-11-01` is the as-of instant 2026-11-01 00:00 UTC: it uses data strictly
before that midnight, so today's partition can run early in the morning (`end_offset=1`).
`CS_PARTITIONS_START` sets the first day (default 2025-01-01; `make demo` keeps its first
scored day under $CS_HOME).
"""

import os
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

import polars as pl
from dagster import AssetExecutionContext, BackfillPolicy, DailyPartitionsDefinition

from cs_assets.settings import (
    ConfigError,
    home_setting,
    parse_reference_time,
    reference_setting,
)

DEFAULT_START = "2025-01-01"


def partitions_start(env: Mapping[str, str]) -> date:
    """CS_PARTITIONS_START as a date, no later than CS_REFERENCE_TIME (unset: today, UTC): a
    later start leaves no day to run, and Dagster would not say why."""
    value = home_setting("CS_PARTITIONS_START", env) or DEFAULT_START
    try:
        start = date.fromisoformat(value)
    except ValueError as exc:
        raise ConfigError(f"CS_PARTITIONS_START: not an ISO date (YYYY-MM-DD): {value!r}") from exc
    if reference := reference_setting(env):
        latest, name = parse_reference_time(reference).date(), "CS_REFERENCE_TIME"
    else:
        latest, name = datetime.now(UTC).date(), "today"
    if start > latest:
        raise ConfigError(f"CS_PARTITIONS_START: {value} is after {name} ({latest})")
    return start


def daily_partitions_definition(env: Mapping[str, str]) -> DailyPartitionsDefinition:
    """Days from CS_PARTITIONS_START to the platform clock's day: the reference day when one
    is set (the demo's), else today (wall clock, UTC) including the day in progress."""
    start = partitions_start(env).isoformat()
    if reference := reference_setting(env):
        end = parse_reference_time(reference).date() + timedelta(days=1)
        return DailyPartitionsDefinition(start_date=start, end_date=end.isoformat(),
                                         timezone="UTC")
    return DailyPartitionsDefinition(start_date=start, end_offset=1, timezone="UTC")


daily_partitions = daily_partitions_definition(os.environ)
FRAME_KINDS = {"polars", "parquet"}
# A daily asset whose backfill of any range is one run (it reads its inputs once).
DAILY = dict(partitions_def=daily_partitions, backfill_policy=BackfillPolicy.single_run(),
             kinds=FRAME_KINDS)


def days_of(context: AssetExecutionContext) -> list[date]:
    return [date.fromisoformat(k) for k in context.partition_keys]


def daily_frames(context: AssetExecutionContext, build) -> pl.DataFrame:
    """`build(day)` for each day of the run, stacked."""
    return pl.concat([build(day) for day in days_of(context)], how="vertical_relaxed",
                     rechunk=True)


# An input's metadata for a day that may not exist: it is read as absent, not as an error.
OPTIONAL_INPUT = {"allow_missing_partitions": True}

