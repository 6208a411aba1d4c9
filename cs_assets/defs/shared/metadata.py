"""Materialization metadata of the daily assets: each day's materialization describes that
day's rows, however many days the run covers."""

from collections.abc import Callable

import polars as pl
from dagster import AssetExecutionContext, MetadataValue, Output

from cs_assets.defs.shared.partitions import days_of
from cs_assets.display import markdown_table
from cs_assets.vocabulary import AS_OF

PREVIEW = 15  # rows of a list shown in its materialization


def counts_table(day: pl.DataFrame, column: str, label: str = "households") -> MetadataValue:
    """Rows per value of `column`, largest first."""
    counts = day.group_by(column).len(label).sort(label, column, descending=[True, False])
    return MetadataValue.md(markdown_table(counts))


def per_day(context: AssetExecutionContext, frame: pl.DataFrame,
            describe: Callable[[pl.DataFrame], dict], asset_key: str | None = None) -> None:
    """Attach `describe(rows of the day)` to each day's materialization: a backfill of 180 days
    in one run shows each partition its own figures, not the run's last day."""
    days = frame.partition_by(AS_OF, as_dict=True, maintain_order=False)
    empty = frame.clear()
    for day in days_of(context):
        context.add_asset_metadata(describe(days.get((day,), empty)),
                                   asset_key=asset_key, partition_key=day.isoformat())


def list_output(context: AssetExecutionContext, frame: pl.DataFrame, columns: list[str],
                describe: Callable[[pl.DataFrame], dict] | None = None) -> Output:
    """The days' rows, one file per partition; each day's materialization shows its size, a
    preview and whatever else `describe` says about that day."""
    per_day(context, frame, lambda day: {
        "rows": day.height,
        "preview": MetadataValue.md(markdown_table(day.head(PREVIEW).select(columns))),
        **(describe(day) if describe else {}),
    })
    return Output(frame, metadata={"dagster/row_count": frame.height})
