"""Asset checks more than one group runs on its output."""

import polars as pl
from dagster import AssetCheckResult, AssetCheckSeverity


def unique_per_household_day(frame: pl.DataFrame) -> AssetCheckResult:
    """A household-day grain output has one row per (household, as-of day)."""
    duplicates = frame.height - frame.select("household_id", "as_of").n_unique()
    return AssetCheckResult(
        check_name="one_row_per_household_per_day",
        passed=duplicates == 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={"duplicate_rows": duplicates},
    )
