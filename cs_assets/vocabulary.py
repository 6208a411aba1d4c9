"""The words every table shares: the household key, the as-of instant, the household-day grain
and the one timestamp type, so that a join or a cast means the same thing everywhere."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime

import polars as pl

from cs_assets.settings import platform_now

HH = "household_id"
"""The household key: the customer every table is about."""

AS_OF = "as_of"
"""The day a row describes (a date): scores, features and lists hold what was known then."""

KEYS = (HH, AS_OF)
"""The household-day grain of features, scores, alerts, tiers and predictions."""

UTC_TS = pl.Datetime("us", "UTC")
"""Every instant is stored as microseconds in UTC; local times are derived for display only."""


def instant(day: date) -> datetime:
    """Midnight UTC starting `day`: `occurred_at >= instant(d)` is `day >= d`, without
    converting every event's time to a date first."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def utc_now() -> datetime:
    """Now on the platform clock (`settings.platform_now`): every time the platform writes,
    a send, a task, an email's Date header, a state row, comes from here."""
    return platform_now()


def stable_draw(*parts: str) -> int:
    """A 64-bit number drawn from `parts` (a salt, a playbook, a household id): the same on
    every run and machine, unlike Python's `hash`. Holdouts and survey slots both draw here."""
    token = json.dumps(list(parts)).encode()
    return int.from_bytes(hashlib.sha256(token).digest()[:8], "big")
