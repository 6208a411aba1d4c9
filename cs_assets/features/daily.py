"""Events reduced to household-day, member-day and feature-day rows.

Every window feature is a filtered group-by over these small tables, so a backfill of
many as-of days scans the raw events once (see DESIGN: keyed rolling windows per
household blow up memory; aggregating to household-day first does not).
"""

from __future__ import annotations

import polars as pl

from cs_assets.contract.events import EventKind as K

# Household-day counters: column name -> the canonical kind it counts.
COUNTED_KINDS: dict[str, K] = {
    "tasks": K.TASK_COMPLETED,
    "logins": K.LOGIN,
    "sessions": K.SESSION,
    "analytics_views": K.ANALYTICS_VIEWED,
    "templates_created": K.TEMPLATE_CREATED,
    "priority_support_used": K.PRIORITY_SUPPORT_USED,
    "calendar_sync_setups": K.CALENDAR_SYNC_SETUP,
    "premium_onboardings": K.PREMIUM_ONBOARDING_COMPLETED,
}

# Peak usage hours in the household's local time: mornings and evenings around pet care.
PEAK_HOURS = (7, 8, 18, 19, 20, 21)


def household_days(events: pl.DataFrame, local_sessions: pl.DataFrame) -> pl.DataFrame:
    """One row per household and UTC day with event counts and session minutes.

    `local_sessions` are the session events with `local_hour` / `local_weekday` added.
    """
    kind = pl.col("event_kind")
    counts = events.group_by("household_id", day=pl.col("occurred_at").dt.date()).agg(
        *[(kind == k.value).sum().cast(pl.Int64).alias(name) for name, k in COUNTED_KINDS.items()],
        session_minutes=pl.col("session_minutes").filter(kind == K.SESSION.value).sum(),
    )
    timing = local_sessions.group_by("household_id", day=pl.col("occurred_at").dt.date()).agg(
        weekend_sessions=(pl.col("local_weekday") >= 6).sum().cast(pl.Int64),
        peak_sessions=pl.col("local_hour").is_in(PEAK_HOURS).sum().cast(pl.Int64),
    )
    return counts.join(timing, on=["household_id", "day"], how="left").with_columns(
        pl.col("weekend_sessions", "peak_sessions").fill_null(0)
    )


def member_days(events: pl.DataFrame) -> pl.DataFrame:
    """Which members were active on which day, and how many tasks each completed."""
    return (
        events.filter(pl.col("user_id").is_not_null())
        .group_by("household_id", "user_id", day=pl.col("occurred_at").dt.date())
        .agg(tasks=(pl.col("event_kind") == K.TASK_COMPLETED.value).sum().cast(pl.Int64))
    )


def feature_days(events: pl.DataFrame) -> pl.DataFrame:
    """Distinct (household, core feature, day) uses."""
    return (
        events.filter(pl.col("event_kind") == K.FEATURE_USED.value)
        .select("household_id", "feature_name", day=pl.col("occurred_at").dt.date())
        .unique()
    )
