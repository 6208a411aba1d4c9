"""Local hour and weekday of UTC instants, per household time zone, without a per-row loop.

polars converts a whole column to one time zone; households have many. A `LocalClock` holds
the UTC offset of every zone in every quarter hour (UTC) of a span, zone after zone, so an
event's offset is one gather at (zone index x slots + slot index): no join and no per-event
lookup of the zone's name (that happens once per household). Exact wherever offsets change
on a quarter hour, which covers every IANA zone in use, including those whose change falls
on a half hour of UTC (Newfoundland, Lord Howe Island).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
SLOT_MINUTES = 15
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
THURSDAY = 4  # the ISO weekday (Monday = 1) of EPOCH, day 0 of `epoch` days


@dataclass(frozen=True)
class LocalClock:
    zones: list[str]  # IANA names, sorted; a household without one is read in UTC
    start: datetime  # the first quarter hour covered
    slots: int  # quarter hours covered from `start`
    offsets: pl.Series  # microseconds east of UTC, `slots` per zone in `zones` order

    @classmethod
    def covering(cls, zones: Iterable[str | None], start: datetime, end: datetime) -> LocalClock:
        """A clock for instants in [start, end] in any of `zones` (None = UTC)."""
        names = sorted({zone or "UTC" for zone in zones} | {"UTC"})
        first = start.replace(minute=0, second=0, microsecond=0)
        slots = pl.datetime_range(
            first, end, f"{SLOT_MINUTES}m", time_unit="us", time_zone="UTC", eager=True
        )
        utc = slots.dt.replace_time_zone(None)
        offsets = pl.concat([
            (slots.dt.convert_time_zone(zone).dt.replace_time_zone(None) - utc)
            .dt.total_microseconds()
            for zone in names
        ])
        return cls(names, first, len(slots), offsets)

    def zone_index(self, zone: pl.Expr) -> pl.Expr:
        """The position of each zone name in `zones` (null = UTC)."""
        return zone.fill_null("UTC").replace_strict(
            self.zones, range(len(self.zones)), return_dtype=pl.Int64
        )

    def local(self, instant: pl.Expr, zone_index: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
        """(local hour 0-23, local ISO weekday 1=Mon..7=Sun) of UTC instants in the span."""
        slot = (instant - pl.lit(self.start)).dt.total_minutes() // SLOT_MINUTES
        local_us = instant.dt.epoch("us") + pl.lit(self.offsets).gather(
            zone_index * self.slots + slot
        )
        local_hour = (local_us // HOUR_US) % 24
        weekday = (local_us // DAY_US + THURSDAY - 1) % 7 + 1
        return local_hour.cast(pl.Int8), weekday.cast(pl.Int8)


def span_of(frame: pl.LazyFrame, column: str) -> tuple[datetime, datetime]:
    """The first and last instant of `column` (any one instant when the frame is empty)."""
    low, high = frame.select(low=pl.col(column).min(), high=pl.col(column).max()).collect().row(0)
    if low is None:
        return EPOCH, EPOCH
    return low, high
