"""The simulated calendar: integer day indices, UTC microseconds and local time of day.

Day `d` is the `d`-th calendar day after `first_date`; a household's local date is
taken to be that day, so weekday patterns and the hour of an event are local and
the UTC instant is local time minus the zone's offset on that day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from cs_assets.vocabulary import UTC_TS

DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
NEVER = np.int64(2**62)  # an instant that never comes (sentinel for "did not happen")


@dataclass(frozen=True)
class Calendar:
    """Day grid of one simulation: `end_index` is the reference day (end_date)."""

    first_date: dt.date
    end_index: int  # grid index of end_date: observed days are 0 .. end_index - 1
    window_start: int  # first day with activity events and pet observations
    horizon: int  # latent days after end_date (the 30-day oracle looks past the end)

    @classmethod
    def build(
        cls, end_date: dt.date, spread_days: int, activity_days: int, horizon: int
    ) -> Calendar:
        span = max(spread_days, activity_days)
        return cls(end_date - dt.timedelta(days=span), span, span - activity_days, horizon)

    @property
    def n_days(self) -> int:
        return self.end_index + self.horizon

    @property
    def epoch_day(self) -> int:
        return (self.first_date - dt.date(1970, 1, 1)).days

    @property
    def end_us(self) -> int:
        return self.day_us(self.end_index)

    def day_us(self, d):
        """UTC midnight of grid day `d` in microseconds (scalar or array)."""
        return (np.asarray(d, dtype=np.int64) + self.epoch_day) * DAY_US

    def day_of(self, us: np.ndarray) -> np.ndarray:
        """Grid day containing each UTC instant; NEVER maps far past the grid."""
        return us // DAY_US - self.epoch_day

    def weekend(self, d: np.ndarray) -> np.ndarray:
        """Saturday or Sunday (1970-01-01 was a Thursday)."""
        return (np.asarray(d) + self.epoch_day + 3) % 7 >= 5


def utc_offsets_us(cal: Calendar, zones: tuple[str, ...]) -> np.ndarray:
    """Offset (local - UTC) of each zone at local noon of each grid day; last row is UTC.

    One row per zone, so converting an event is a table lookup rather than a
    per-event time-zone computation; noon avoids the ambiguous DST night hours.
    """
    noon = pl.Series(cal.day_us(np.arange(cal.n_days)) + 12 * HOUR_US).cast(pl.Datetime("us"))
    rows = [
        (noon - noon.dt.replace_time_zone(z).dt.convert_time_zone("UTC").dt.replace_time_zone(None))
        .dt.total_microseconds()
        .to_numpy()
        for z in zones
    ]
    rows.append(np.zeros(cal.n_days, dtype=np.int64))
    return np.vstack(rows).astype(np.int64)


def local_time_us(rng: np.random.Generator, weekend: np.ndarray) -> np.ndarray:
    """Microseconds after local midnight: a morning and an evening peak, daytime between.

    Weekend mornings start an hour later. Times wrap within the day.
    """
    n = weekend.shape[0]
    part = rng.choice(3, size=n, p=(0.35, 0.20, 0.45))
    hours = np.where(
        part == 0,
        rng.normal(7.5, 1.0, n) + weekend,
        np.where(part == 1, rng.uniform(9.0, 17.0, n), rng.normal(19.5, 1.5, n)),
    )
    return (np.mod(hours, 24.0) * HOUR_US).astype(np.int64)


def to_datetime(name: str, us: np.ndarray, valid: np.ndarray | None = None) -> pl.Series:
    """UTC Datetime("us") series from microseconds; null where not `valid`."""
    s = pl.Series(name, us, dtype=pl.Int64)
    if valid is not None:
        s = s.scatter(np.flatnonzero(~valid), None)
    return s.cast(UTC_TS)


@dataclass(frozen=True)
class ChunkGrid:
    """Columns of one chunk's household x day arrays: global days `first` .. n_days - 1.

    A chunk starts at its earliest signup, so later (younger) chunks carry fewer days.
    """

    first: int
    ncols: int

    @property
    def days(self) -> np.ndarray:
        return self.first + np.arange(self.ncols)

    def cover(self, rows: int, row: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """How many of the day intervals [start, stop) of each row cover each column."""
        width = self.ncols + 1
        lo = np.clip(start - self.first, 0, self.ncols)
        hi = np.clip(stop - self.first, 0, self.ncols)
        keep = hi > lo
        diff = np.bincount(row[keep] * width + lo[keep], minlength=rows * width) - np.bincount(
            row[keep] * width + hi[keep], minlength=rows * width
        )
        return np.cumsum(diff.reshape(rows, width), axis=1)[:, : self.ncols]


def expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of every unit in a grid of counts: one entry per event."""
    flat = np.flatnonzero(counts)
    cells = np.repeat(flat, counts.ravel()[flat])
    return cells // counts.shape[1], cells % counts.shape[1]
