"""Asset checks more than one group runs on its output."""

import polars as pl
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec

UNIQUE = "one_row_per_household_per_day"


def unique_per_household_day_spec(asset: str) -> AssetCheckSpec:
    """The blocking check `unique_per_household_day` evaluates."""
    return AssetCheckSpec(UNIQUE, asset=asset, blocking=True,
                          description="One row per household and as-of day: a duplicate would "
                          "count a household twice downstream. Blocking.")


def unique_per_household_day(frame: pl.DataFrame) -> AssetCheckResult:
    """A household-day grain output has one row per (household, as-of day)."""
    duplicates = frame.height - frame.select("household_id", "as_of").n_unique()
    return AssetCheckResult(
        check_name=UNIQUE,
        passed=duplicates == 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={"duplicate_rows": duplicates},
    )
