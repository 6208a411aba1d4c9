"""Local hour and weekday of UTC instants, per household time zone, without a per-row loop.

polars converts a whole column to one time zone; households have many. We build a small
table of UTC offsets per (time zone, UTC hour) and join it, which is exact wherever
offsets change on whole UTC hours (all IANA zones in practice).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl


def _offsets(zones: list[str], start: datetime, end: datetime) -> pl.DataFrame:
    hours = pl.datetime_range(start, end, "1h", time_unit="us", time_zone="UTC", eager=True)
    frames = [
        pl.DataFrame({"_tz": zone, "_utc_hour": hours}).with_columns(
            _offset_minutes=(
                pl.col("_utc_hour").dt.convert_time_zone(zone).dt.replace_time_zone(None)
                - pl.col("_utc_hour").dt.replace_time_zone(None)
            ).dt.total_minutes()
        )
        for zone in zones
    ]
    return pl.concat(frames)


def with_local_time(frame: pl.DataFrame, time_col: str, tz_col: str) -> pl.DataFrame:
    """Add `local_hour` (0-23) and `local_weekday` (1=Mon..7=Sun); null zone means UTC."""
    if frame.is_empty():
        return frame.with_columns(local_hour=pl.lit(None, pl.Int8),
                                  local_weekday=pl.lit(None, pl.Int8))
    zones = frame.get_column(tz_col).fill_null("UTC").unique().sort().to_list()
    start = frame.get_column(time_col).min().replace(minute=0, second=0, microsecond=0)
    end = frame.get_column(time_col).max() + timedelta(hours=1)
    local = (
        frame.with_columns(_tz=pl.col(tz_col).fill_null("UTC"),
                           _utc_hour=pl.col(time_col).dt.truncate("1h"))
        .join(_offsets(zones, start, end), on=["_tz", "_utc_hour"], how="left")
        .with_columns(
            _local=pl.col(time_col).dt.replace_time_zone(None)
            + pl.duration(minutes=pl.col("_offset_minutes"))
        )
    )
    return local.with_columns(
        local_hour=pl.col("_local").dt.hour().cast(pl.Int8),
        local_weekday=pl.col("_local").dt.weekday().cast(pl.Int8),
    ).drop("_tz", "_utc_hour", "_offset_minutes", "_local")
