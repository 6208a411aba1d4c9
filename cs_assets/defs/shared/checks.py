"""Asset checks the groups share: evaluated once per run, reported per day of the run."""

from datetime import date

import polars as pl
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MetadataValue

from cs_assets.display import markdown_table
from cs_assets.vocabulary import AS_OF, HH

UNIQUE = "one_row_per_household_per_day"


def unique_per_household_day_spec(asset: str) -> AssetCheckSpec:
    """The blocking check `unique_per_household_day` evaluates."""
    return AssetCheckSpec(UNIQUE, asset=asset, blocking=True,
                          description="One row per household and as-of day: a duplicate would "
                          "count a household twice downstream. Blocking.")


def rows_check(check_name: str, offending: pl.DataFrame, days: list[date], measure: str,
               severity: AssetCheckSeverity = AssetCheckSeverity.ERROR) -> AssetCheckResult:
    """Passes when no row offends. A check runs once per run however many days the run
    covers, so its result carries one line per day: the day a problem is on is one click away.
    """
    per_day = (pl.DataFrame({AS_OF: days}, schema={AS_OF: pl.Date})
               .join(offending.group_by(AS_OF).len(measure), on=AS_OF, how="left")
               .with_columns(pl.col(measure).fill_null(0)))
    total = int(per_day[measure].sum())
    return AssetCheckResult(
        check_name=check_name,
        passed=total == 0,
        severity=severity,
        metadata={measure: total, "days_checked": len(days),
                  "by_day": MetadataValue.md(markdown_table(per_day))},
    )


def unique_per_household_day(frame: pl.DataFrame, days: list[date]) -> AssetCheckResult:
    """A household-day grain output has one row per (household, as-of day)."""
    extra = frame.filter(~pl.struct(HH, AS_OF).is_first_distinct())
    return rows_check(UNIQUE, extra, days, "duplicate_rows")
