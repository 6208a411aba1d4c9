"""Reductions of the events the household features are computed from.

Two shapes, one per use; both feed the same formulas in `household.py` and give identical
features:

* **Daily** (a backfill of many as-of days): household-day, member-day and feature-day rows
  over the windows those days look at. Each day's window features are then group-bys over
  these small tables, so the raw events are scanned once per reduction, not once per day
  (see DESIGN: keyed rolling windows per household blow up memory; aggregating to
  household-day first does not).
* **Point** (exactly one as-of day, e.g. today's partition): the window sums, distinct active
  days and members, and the last login go straight to one row per household and member in
  one pass over the 60-day window. Distinct days are a 64-bit mask per member (bit *i* = the
  *i*-th day of the window), OR-ed in the group-by and counted with a popcount, so no
  household-day or member-day table is built. Feature adoption is one small group-by of the
  feature events (first and last use of each feature).

Shared by both: Premium usage and calendar sync days over all history (`rare_days`), and the
weekend / peak-hour counts of the sessions, converted to local time only in the windows read.

Each reduction is one streaming pass over the (lazily scanned) events that reads only the
columns and rows it needs, so at the bench scale (about 70M events) no pass holds the events
in memory. Deliberately not `pl.collect_all` over one shared scan: polars then caches the
whole projected scan in memory (measured: 3.5 GB and more instead of < 0.5 GB). Event kinds
are tested on the stored text (`event_kind`, or the product's `event_type` through the
mapping): comparing short strings is cheaper than casting 70M of them to an enum first, and
windows are tested on `occurred_at` against midnight instants, not on a derived date.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, timedelta

import polars as pl

from cs_assets.contract.events import EventKind as K
from cs_assets.vocabulary import HH, instant

KindTest = Callable[..., pl.Expr]

# Household-day counters over the recent windows: column name -> the kind it counts.
COUNTED_KINDS: dict[str, K] = {
    "tasks": K.TASK_COMPLETED,
    "logins": K.LOGIN,
    "sessions": K.SESSION,
}
# Premium usage counters, summed from the day a household became paid, which can be long
# before any window, and calendar sync set-ups ("ever"): kept per household-day for all
# history (they are rare events).
RARE_KINDS: dict[str, K] = {
    "analytics_views": K.ANALYTICS_VIEWED,
    "templates_created": K.TEMPLATE_CREATED,
    "priority_support_used": K.PRIORITY_SUPPORT_USED,
    "premium_onboardings": K.PREMIUM_ONBOARDING_COMPLETED,
    "calendar_sync_setups": K.CALENDAR_SYNC_SETUP,
}

# Peak usage hours in the household's local time: mornings and evenings around pet care.
PEAK_HOURS = (7, 8, 18, 19, 20, 21)

# The point reduction's day mask: bit i is day (as_of - MASK_DAYS + i).
MASK_DAYS = 60



def _collect(frame: pl.LazyFrame) -> pl.DataFrame:
    return frame.collect(engine="streaming")


def kind_test(mapping: Mapping[str, K] | None = None) -> KindTest:
    """`is_kind(K.LOGIN, ...)`: true for events of those canonical kinds.

    Without a mapping it reads the `event_kind` column the ingestion adds; with the product's
    event mapping it tests `event_type` directly (raw events, no per-row lookup).
    """
    def is_kind(*kinds: K) -> pl.Expr:
        if mapping is None:
            column, values = pl.col("event_kind"), [k.value for k in kinds]
        else:
            column, values = pl.col("event_type"), [n for n, k in mapping.items() if k in kinds]
        if not values:  # the product has no event of these kinds
            return pl.lit(False)
        return column == values[0] if len(values) == 1 else column.is_in(values)

    return is_kind


def prepare_events(events: pl.DataFrame | pl.LazyFrame, kind_column: str) -> pl.LazyFrame:
    """The columns the features read plus the UTC `day` of each event."""
    kinds = [kind_column] if kind_column == "event_type" else [kind_column, "event_type"]
    return events.lazy().select(
        HH, "user_id", "occurred_at", "session_minutes", "feature_name", *kinds,
        day=pl.col("occurred_at").dt.date(),
    )


# ---------------------------------------------------------------- daily reductions


def household_days(events: pl.LazyFrame, is_kind: KindTest,
                   timing: pl.DataFrame) -> pl.DataFrame:
    """One row per household and UTC day with any event: event counts and session minutes.

    `timing` is `session_timing(..., by_day=True)` of the session events (weekend / peak-hour
    counts per household-day in local time); days it lacks count zero.
    """
    session = is_kind(K.SESSION)
    counts = _collect(
        events.select(
            HH, "day",
            *[is_kind(k).cast(pl.Int64).alias(name) for name, k in COUNTED_KINDS.items()],
            session_minutes=pl.when(session).then(pl.col("session_minutes")),
        )
        .group_by(HH, "day")
        .agg(pl.col(*COUNTED_KINDS).sum(), pl.col("session_minutes").sum())
    )
    return counts.join(timing, on=[HH, "day"], how="left").with_columns(
        pl.col("weekend_sessions", "peak_sessions").fill_null(0)
    )


def member_days(events: pl.LazyFrame, is_kind: KindTest) -> pl.DataFrame:
    """Which members were active on which day, and how many tasks each completed."""
    return _collect(
        events.filter(pl.col("user_id").is_not_null())
        .group_by(HH, "user_id", "day")
        .agg(tasks=is_kind(K.TASK_COMPLETED).sum().cast(pl.Int64))
    )


def feature_days(events: pl.LazyFrame, is_kind: KindTest) -> pl.DataFrame:
    """Distinct (household, core feature, day) uses."""
    return _collect(
        events.filter(is_kind(K.FEATURE_USED)).select(HH, "feature_name", "day").unique()
    )


def last_day_of(events: pl.LazyFrame, kind_expr: pl.Expr, name: str,
                before: date | None) -> pl.DataFrame:
    """Per household, the last day before `before` an event matching `kind_expr` happened
    (none when `before` is None: there is no history before the reduced window)."""
    if before is None:
        return pl.DataFrame(schema={HH: pl.String, name: pl.Date})
    return _collect(
        events.filter(kind_expr & (pl.col("occurred_at") < instant(before)))
        .group_by(HH).agg(pl.col("occurred_at").max())
    ).select(HH, pl.col("occurred_at").dt.date().alias(name))


# ---------------------------------------------------------------- shared by both shapes


def rare_days(events: pl.LazyFrame, is_kind: KindTest) -> pl.DataFrame:
    """Household-days with Premium usage or a calendar sync set-up, counted per kind (only
    days with any), over all history."""
    return _collect(
        events.filter(is_kind(*RARE_KINDS.values()))
        .select(HH, "day", *[is_kind(k).cast(pl.Int64).alias(n) for n, k in RARE_KINDS.items()])
        .group_by(HH, "day")
        .agg(pl.col(*RARE_KINDS).sum())
    )


def session_timing(local_sessions: pl.LazyFrame, *, by_day: bool) -> pl.DataFrame:
    """Weekend and peak-hour session counts per household (and UTC day when `by_day`), from
    sessions with `local_weekday` / `local_hour` (`local_time.LocalClock.local`)."""
    keys = [HH, "day"] if by_day else [HH]
    return _collect(
        local_sessions.group_by(*keys).agg(
            weekend_sessions=(pl.col("local_weekday") >= 6).sum().cast(pl.Int64),
            peak_sessions=pl.col("local_hour").is_in(PEAK_HOURS).sum().cast(pl.Int64),
        )
    )


# ---------------------------------------------------------------- point reduction


def _day_bits(first: int, stop: int) -> pl.Expr:
    """The mask of window days [first, stop) (0 = the window's first day)."""
    return pl.lit(sum(1 << i for i in range(first, stop)), pl.UInt64)


_BITS = pl.Series([1 << i for i in range(64)], dtype=pl.UInt64)


def point_activity(events: pl.LazyFrame, is_kind: KindTest, as_of: date) -> pl.DataFrame:
    """Everything the activity windows, last login and members give for one as-of day, per
    household: one pass over the 60-day window grouped by household and member (null for
    events without one), and the last login of households with none in the window
    (`events` cut before `as_of`).

    Columns are those `household._activity`, `_last_login` and `_member_activity` produce.
    """
    ts = pl.col("occurred_at")
    start = as_of - timedelta(days=MASK_DAYS)
    cur = ts >= instant(as_of - timedelta(days=30))
    prev = ~cur
    task, login, session = is_kind(K.TASK_COMPLETED), is_kind(K.LOGIN), is_kind(K.SESSION)
    minutes = pl.col("session_minutes")
    counters = {
        "tasks_completed_30d": task & cur, "tasks_completed_prev_30d": task & prev,
        "logins_30d": login & cur, "logins_prev_30d": login & prev,
        "_sessions_30d": session & cur, "_sessions_prev": session & prev,
    }
    per_member = _collect(
        events.filter(ts >= instant(start))
        .select(
            HH, "user_id", *[flag.alias(name) for name, flag in counters.items()],
            _minutes_30d=pl.when(session & cur).then(minutes),
            _minutes_prev=pl.when(session & prev).then(minutes),
            _last_login_day=pl.when(login).then(ts),
            _days=pl.lit(_BITS).gather((ts - instant(start)).dt.total_days()),
        )
        .group_by(HH, "user_id")
        .agg(
            pl.col(*counters).sum().cast(pl.Int64),
            pl.col("_minutes_30d", "_minutes_prev").sum(),
            pl.col("_last_login_day").max(),
            pl.col("_days").bitwise_or(),
        )
    )
    older_login = last_day_of(events, login, "_login_before", start)
    cur_bits, prev_bits = _day_bits(30, MASK_DAYS), _day_bits(0, 30)
    week_bits = _day_bits(MASK_DAYS - 7, MASK_DAYS)
    member = pl.col("user_id").is_not_null()
    days = pl.col("_days")

    def active_in(bits: pl.Expr) -> pl.Expr:
        return member & ((days & bits) != 0)

    member_tasks = pl.when(member).then(pl.col("tasks_completed_30d")).otherwise(0)
    flags = {"active_users_30d": cur_bits, "active_users_prev_30d": prev_bits, "_wau": week_bits}
    per_member = per_member.with_columns(
        *[active_in(bits).alias(name) for name, bits in flags.items()],
        _cur_days=days & cur_bits,
        _member_days_7d=pl.when(member).then((days & week_bits).bitwise_count_ones()),
        _tasks_by_members=member_tasks,
        _tasks_squared=member_tasks**2,
    )
    return per_member.group_by(HH).agg(
        pl.col(*counters, *flags).sum().cast(pl.Int64),
        pl.col("_minutes_30d", "_minutes_prev", "_member_days_7d", "_tasks_by_members",
               "_tasks_squared").sum(),
        pl.col("_last_login_day").max(),
        pl.col("_cur_days").bitwise_or(),
    ).join(older_login, on=HH, how="full", coalesce=True).with_columns(
        pl.col(*counters).fill_null(0),
        active_days_30d=pl.col("_cur_days").bitwise_count_ones().cast(pl.Int64),
        # How evenly tasks spread across members: the sum of squared task shares (1 = one
        # person does everything), as sum(tasks^2) / sum(tasks)^2.
        _task_concentration=pl.col("_tasks_squared") / pl.col("_tasks_by_members") ** 2,
        _last_login_day=pl.coalesce(pl.col("_last_login_day").dt.date(), "_login_before"),
    ).drop("_cur_days", "_tasks_squared", "_login_before")


def point_features(events: pl.LazyFrame, is_kind: KindTest, as_of: date) -> pl.DataFrame:
    """Core feature adoption for one as-of day: first and last use of each feature."""
    ts = pl.col("occurred_at")
    uses = _collect(
        events.filter(is_kind(K.FEATURE_USED))
        .group_by(HH, "feature_name")
        .agg(_first=ts.min(), _last=ts.max())
    )
    recent = instant(as_of - timedelta(days=90))
    return uses.group_by(HH).agg(
        features_used_ever=pl.len().cast(pl.Int64),
        new_features_adopted_90d=(pl.col("_first") >= recent).sum().cast(pl.Int64),
        features_used_90d=(pl.col("_last") >= recent).sum().cast(pl.Int64),
    )
