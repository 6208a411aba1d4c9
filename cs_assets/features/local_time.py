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


def with_local_time(
    frame: pl.DataFrame | pl.LazyFrame,
    time_col: str,
    tz_col: str,
    *,
    zones: list[str | None] | None = None,
    span: tuple[datetime, datetime] | None = None,
) -> pl.DataFrame | pl.LazyFrame:
    """Add `local_hour` (0-23) and `local_weekday` (1=Mon..7=Sun); null zone means UTC.

    A LazyFrame stays lazy when the caller knows the time `zones` present and the `span`
    [start, end) the instants fall in; otherwise they are read from the frame.
    """
    lazy = isinstance(frame, pl.LazyFrame)
    if zones is None or span is None:
        bounds = frame.lazy().select(
            _zones=pl.col(tz_col).fill_null("UTC").unique().sort().implode(),
            _start=pl.col(time_col).min(),
            _end=pl.col(time_col).max(),
        ).collect().row(0, named=True)
        if bounds["_start"] is None:  # no rows
            return frame.with_columns(local_hour=pl.lit(None, pl.Int8),
                                      local_weekday=pl.lit(None, pl.Int8))
        zones = bounds["_zones"] if zones is None else zones
        span = (bounds["_start"], bounds["_end"]) if span is None else span
    names = sorted({zone or "UTC" for zone in zones})
    start = span[0].replace(minute=0, second=0, microsecond=0)
    end = span[1] + timedelta(hours=1)
    offsets = _offsets(names, start, end)
    local = (
        frame.with_columns(_tz=pl.col(tz_col).fill_null("UTC"),
                           _utc_hour=pl.col(time_col).dt.truncate("1h"))
        .join(offsets.lazy() if lazy else offsets, on=["_tz", "_utc_hour"], how="left")
        .with_columns(
            _local=pl.col(time_col).dt.replace_time_zone(None)
            + pl.duration(minutes=pl.col("_offset_minutes"))
        )
    )
    return local.with_columns(
        local_hour=pl.col("_local").dt.hour().cast(pl.Int8),
        local_weekday=pl.col("_local").dt.weekday().cast(pl.Int8),
    ).drop("_tz", "_utc_hour", "_offset_minutes", "_local")
