"""The product's own signals as features: for every event type present, mapped to a canonical
kind or not, a trailing-window count, a per-active-day rate, the current window against the
one before and the days since the last one; ratios between event types and per-user rates
when configured.

The canonical kinds say what an event means to customer success (a login, a task); these
say what the product itself measures, so one event's count rising while another's falls is
not lost in "a feature was used". Same as-of discipline as every feature: a day sees only
events before its midnight UTC. Configuration: `metrics.yaml` (or the file in `CS_METRICS`);
without one every event type present gets the defaults, nothing to write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property
from typing import Literal, Self

import polars as pl
from pydantic import Field, model_validator

from cs_assets.scoring.trend import trend
from cs_assets.settings import ConfigError
from cs_assets.validated_config import ConfigFile, StrictModel, Violation
from cs_assets.vocabulary import HH, instant

PREFIX = "ev_"
DAY_BITS = pl.Series([0] + [1 << i for i in range(63)], dtype=pl.Int64)  # a lookup beats a pow
Metric = Literal["count", "rate", "trend", "recency"]


class MetricsConfigError(ConfigError):
    """The metrics file is missing, unreadable or invalid; the message names the key path."""


class Ratio(StrictModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    numerator: str = Field(min_length=1)  # an event type, as the product names it
    denominator: str = Field(min_length=1)


class MetricsConfig(StrictModel):
    # the current window; the previous is as long (at most 63: its active days are a bit mask)
    window_days: int = Field(28, ge=7, le=63)
    per_event_type: list[Metric] = Field(
        default_factory=lambda: ["count", "rate", "trend", "recency"])
    exclude: list[str] = Field(default_factory=list)  # event types left out
    max_event_types: int = Field(40, ge=1)  # the most frequent; the rest are left out
    ratios: list[Ratio] = Field(default_factory=list)
    per_user: list[str] = Field(default_factory=list)  # counts per active user in the window

    @model_validator(mode="after")
    def _check(self) -> Self:
        if len(set(self.per_event_type)) != len(self.per_event_type):
            raise Violation("per_event_type", "names a metric twice")
        if len({r.name for r in self.ratios}) != len(self.ratios):
            raise Violation("ratios", "two ratios share a name")
        return self


METRICS_CONFIG = ConfigFile(MetricsConfig, "metrics.yaml", "CS_METRICS", MetricsConfigError,
                            "metrics config")


def column_stem(event_type: str) -> str:
    """A column-safe name for a product's event type: `ev_` + lower case, runs of other
    characters as `_`."""
    return PREFIX + (re.sub(r"[^a-z0-9]+", "_", event_type.lower()).strip("_") or "event")


@dataclass(frozen=True)
class SignalPlan:
    """Which event types become which columns, fixed once per reduction."""

    config: MetricsConfig
    event_types: tuple[str, ...]
    complete: bool = False  # every event type present is kept: no row needs filtering out

    @cached_property
    def stems(self) -> dict[str, str]:
        stems: dict[str, str] = {}
        for event_type in self.event_types:
            stem, n = column_stem(event_type), 2
            while stem in stems.values():  # `Sign-In` and `sign_in`: both kept, apart
                stem, n = f"{column_stem(event_type)}_{n}", n + 1
            stems[event_type] = stem
        return stems

    def columns(self) -> list[str]:
        w = self.config.window_days
        names = {"count": f"_{w}d", "rate": f"_per_active_day_{w}d", "trend": "_trend",
                 "recency": "_days_since_last"}
        out = [stem + names[m] for stem in self.stems.values()
               for m in self.config.per_event_type]
        out += [f"{PREFIX}ratio_{r.name}_{w}d" for r in self.config.ratios]
        out += [self.stems[e] + f"_per_user_{w}d" for e in self.config.per_user]
        return out


def plan_signals(events: pl.LazyFrame, config: MetricsConfig) -> SignalPlan:
    """The event types present in `events` (all of history: the columns do not depend on the
    days a run covers), most frequent first, without `exclude`, at most `max_event_types`.
    A ratio or per-user rate naming a type the product does not have is an error naming it."""
    present = (events.group_by("event_type").len().collect(engine="streaming")
               .sort("len", "event_type", descending=[True, False]))
    kept = [e for e in present["event_type"].to_list()
            if e is not None and e not in set(config.exclude)][:config.max_event_types]
    wanted = [(f"ratios.{i}.{side}", getattr(r, side)) for i, r in enumerate(config.ratios)
              for side in ("numerator", "denominator")]
    wanted += [(f"per_user.{i}", e) for i, e in enumerate(config.per_user)]
    for key, event_type in wanted:
        if event_type not in kept:
            raise MetricsConfigError(f"{key}: {event_type!r} is not an event type with metrics "
                                     f"(the product's: {kept[:10]}…)")
    return SignalPlan(config, tuple(kept), complete=len(kept) == present.height)


def signal_days(events: pl.LazyFrame, plan: SignalPlan, first: date | None,
                last: date | None) -> pl.DataFrame:
    """(household, day, event type, events[, users]) over the two windows before the days
    served: the one reduction every as-of day of a range reads."""
    w = plan.config.window_days
    if first is not None:
        events = events.filter(pl.col("day") >= first - timedelta(days=2 * w))
    if last is not None:
        events = events.filter(pl.col("day") < last)
    events = events.filter(pl.col("event_type").is_in(plan.event_types))
    aggs = [pl.len().cast(pl.Int64).alias("events")]
    if plan.config.per_user:
        aggs.append(pl.col("user_id").drop_nulls().unique().alias("users"))
    return events.group_by(HH, "day", "event_type").agg(aggs).collect(engine="streaming")


def _window_counts(rows: pl.LazyFrame, plan: SignalPlan, offset: pl.Expr,
                   n: pl.Expr) -> pl.LazyFrame:
    """(household, event type, events in the current window, in the previous one, the days
    of the current window with events as a bit mask, the last day with one): one pass over
    `rows` of the two windows, whether events (n = 1) or the daily reduction (n = its count).
    `offset`: the row's day counted from the first day of the previous window."""
    w = plan.config.window_days
    cur = offset >= w
    bit = pl.lit(DAY_BITS).gather((offset - w + 1).clip(lower_bound=0))  # 0 before the window
    if not plan.complete:
        rows = rows.filter(pl.col("event_type").is_in(plan.event_types))
    return (rows.select(HH, "event_type", _cur=pl.when(cur).then(n).otherwise(0),
                    _prev=pl.when(cur).then(0).otherwise(n),
                    _days=pl.when(cur).then(bit).otherwise(0), _last=offset)
            .group_by(HH, "event_type")
            .agg(pl.col("_cur", "_prev").sum(), pl.col("_days").bitwise_or(),
                 pl.col("_last").max()))


def _users(rows: pl.LazyFrame, plan: SignalPlan, as_of: date) -> pl.LazyFrame:
    """(household, distinct users with events in the current window) from rows of
    (household, day, `_user`)."""
    day = pl.col("day")
    return (rows.filter((day >= as_of - timedelta(days=plan.config.window_days))
                        & (day < as_of))
            .select(HH, "_user").drop_nulls().unique()
            .group_by(HH).agg(_users=pl.len()))


def point_signals(events: pl.LazyFrame, plan: SignalPlan, as_of: date) -> pl.DataFrame:
    """The plan's columns for one as-of day straight from the events (no daily reduction)."""
    at, start = pl.col("occurred_at"), instant(as_of - timedelta(days=2 * plan.config.window_days))
    events = events.filter((at >= start) & (at < instant(as_of)))  # the two windows' rows
    offset = (at - pl.lit(start)).dt.total_days()
    counts = _window_counts(events, plan, offset, pl.lit(1, pl.Int64)).collect(
        engine="streaming")
    users = (_users(events.with_columns(_user="user_id"), plan, as_of)
             .collect(engine="streaming") if plan.config.per_user else None)
    return _wide(counts, users, plan)


def signals_as_of(days: pl.DataFrame, plan: SignalPlan, as_of: date) -> pl.DataFrame:
    """The plan's columns for one as-of day from the daily reduction of a range."""
    day, start = pl.col("day"), as_of - timedelta(days=2 * plan.config.window_days)
    rows = days.lazy().filter((day >= start) & (day < as_of))
    counts = _window_counts(rows, plan, (day - pl.lit(start)).dt.total_days(),
                            pl.col("events")).collect()
    users = (_users(days.lazy().with_columns(_user="users").explode("_user"), plan, as_of)
             .collect() if plan.config.per_user else None)
    return _wide(counts, users, plan)


def _wide(counts: pl.DataFrame, users: pl.DataFrame | None, plan: SignalPlan) -> pl.DataFrame:
    """One row per household with events in the windows, one column per plan column."""
    w, stems = plan.config.window_days, plan.stems
    active = counts.group_by(HH).agg(
        _active_days=pl.col("_days").bitwise_or().bitwise_count_ones().cast(pl.Int64))
    wide = counts.with_columns(pl.col("event_type").replace_strict(stems)).pivot(
        on="event_type", index=HH, values=["_cur", "_prev", "_last"], aggregate_function=None)
    absent = [f"{part}_{stem}" for stem in stems.values() for part in ("_cur", "_prev")
              if f"{part}_{stem}" not in wide.columns]
    absent_last = [f"_last_{stem}" for stem in stems.values()
                   if f"_last_{stem}" not in wide.columns]
    frame = wide.join(active, on=HH, how="left").with_columns(
        *[pl.lit(0, pl.Int64).alias(c) for c in absent],
        *[pl.lit(None, pl.Int64).alias(c) for c in absent_last])
    out = []
    for stem in stems.values():
        now, before = pl.col(f"_cur_{stem}").fill_null(0), pl.col(f"_prev_{stem}").fill_null(0)
        made = {"count": now.alias(f"{stem}_{w}d"),
                "rate": (now / pl.col("_active_days").clip(lower_bound=1))
                .alias(f"{stem}_per_active_day_{w}d"),
                "trend": trend(now, before).alias(f"{stem}_trend"),
                # days from the type's last event to the as-of instant: 1 = the day before;
                # 2w + 1 = none in the two windows (a stop shows before the counts fall)
                "recency": (2 * w - pl.col(f"_last_{stem}")).fill_null(2 * w + 1)
                .alias(f"{stem}_days_since_last")}
        out += [made[m] for m in plan.config.per_event_type]
    for r in plan.config.ratios:
        den = pl.col(f"_cur_{stems[r.denominator]}").fill_null(0)
        out.append(pl.when(den > 0).then(pl.col(f"_cur_{stems[r.numerator]}").fill_null(0) / den)
                   .alias(f"{PREFIX}ratio_{r.name}_{w}d"))
    if users is not None:
        frame = frame.join(users, on=HH, how="left")
        out += [(pl.col(f"_cur_{stems[e]}").fill_null(0)
                 / pl.col("_users").fill_null(0).clip(lower_bound=1))
                .alias(f"{stems[e]}_per_user_{w}d") for e in plan.config.per_user]
    return frame.select(HH, *out)


def with_signals(frame: pl.LazyFrame, signals: pl.DataFrame, plan: SignalPlan) -> pl.LazyFrame:
    """`frame` (one row per household) with the day's `signals`; a household without events
    in the windows counts 0 (its trend and ratios stay null: no baseline) and has had no
    event for longer than the two windows."""
    columns = plan.columns()
    never = [c for c in columns if c.endswith("_days_since_last")]
    zero = [c for c in columns if not c.endswith("_trend") and c not in never
            and not c.startswith(f"{PREFIX}ratio_")]
    return frame.join(signals.lazy(), on=HH, how="left").with_columns(
        pl.col(zero).fill_null(0), pl.col(never).fill_null(2 * plan.config.window_days + 1))
