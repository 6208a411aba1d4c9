"""Materialization metadata the daily list assets share: a last-day preview and counts."""

import polars as pl
from dagster import AssetExecutionContext, MetadataValue, Output

from cs_assets.defs.shared.partitions import days_of
from cs_assets.display import markdown_table

PREVIEW = 15  # rows of a list shown in its materialization


def counts_table(frame: pl.DataFrame, column: str) -> MetadataValue:
    """Households per value of `column` on the last day, largest first."""
    last = frame.filter(pl.col("as_of") == pl.col("as_of").max())
    counts = last.group_by(column).len("households").sort("households", column,
                                                           descending=[True, False])
    return MetadataValue.md(markdown_table(counts))


def list_output(context: AssetExecutionContext, frame: pl.DataFrame, columns: list[str],
                **metadata):
    """The days' rows, one file per partition, with the last day's size and a preview."""
    last = frame.filter(pl.col("as_of") == max(days_of(context)))
    return Output(frame, metadata={
        "dagster/row_count": frame.height,
        "rows_last_day": last.height,
        "preview_last_day": MetadataValue.md(markdown_table(last.head(PREVIEW).select(columns))),
        **metadata,
    })
