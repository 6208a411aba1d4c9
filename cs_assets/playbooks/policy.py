"""The contact policy's rules as pure functions of times: when a household may next get a
marketing message (its caps), whether it is a decent hour where the household lives (the
send window), and whether a step has waited too long to be worth sending (stale).

The sender (cs_assets.playbooks.sender) gathers the times from the state database and turns
a wait into a deferral with its reason; the limits are `playbooks.yaml: contact_policy`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from cs_assets.playbooks.config import ContactPolicy, SendWindow

DAY = timedelta(days=1)
WEEK = timedelta(days=7)


@cache
def zone(name: str | None) -> ZoneInfo:
    """A household's time zone; UTC when the product does not know it."""
    return ZoneInfo(name or "UTC")


def cap_wait(
    sent: Sequence[datetime], held: Sequence[datetime], now: datetime, policy: ContactPolicy
) -> tuple[datetime, str] | None:
    """When the household may get its next marketing message, and why it must wait; None
    when it may now. `sent`: its marketing messages sent in the last 7 days; `held`: the
    lease ends of those another dispatcher is sending right now (they count as sent, and
    their outcome is known by the lease's end)."""
    waits = []
    for limit, span, words in ((policy.per_day, DAY, "24 hours"), (policy.per_7_days, WEEK,
                                                                    "7 days")):
        if limit is None:
            continue
        recent = sorted(t for t in sent if t > now - span)
        if len(recent) + len(held) < limit:
            continue
        reason = f"{len(recent)} marketing messages in the last {words} (cap {limit})"
        if len(recent) >= limit:
            waits.append((recent[len(recent) - limit] + span, reason))
        else:
            waits.append((min(held), f"{reason}, {len(held)} being sent by another dispatcher"))
    return max(waits) if waits else None


def window_wait(now: datetime, tz: ZoneInfo, window: SendWindow) -> datetime | None:
    """The next opening of the send window in `tz` when `now` is outside it, else None."""
    local = now.astimezone(tz)
    if window.start <= local.time() < window.end:
        return None
    day = local.date() if local.time() < window.start else local.date() + DAY
    return datetime.combine(day, window.start, tzinfo=tz).astimezone(UTC)


def budget_wait(sent_today: int, now: datetime, policy: ContactPolicy) -> datetime | None:
    """Next UTC midnight when the day's marketing budget is spent, else None."""
    if policy.daily_budget is None or sent_today < policy.daily_budget:
        return None
    return datetime.combine(now.astimezone(UTC).date() + DAY, datetime.min.time(), tzinfo=UTC)


def stale_reason(due_at: datetime, now: datetime, policy: ContactPolicy) -> str | None:
    """Why a marketing step due at `due_at` is no longer worth sending at `now` (None: it
    is): a catch-up of a missed day must not send a month of messages in one burst."""
    if policy.stale_after_hours is None:
        return None
    late = now - due_at
    if late <= timedelta(hours=policy.stale_after_hours):
        return None
    return (f"stale: due {due_at:%Y-%m-%d %H:%M} UTC, {late.total_seconds() / 3600:.0f} hours "
            f"ago (stale_after_hours {policy.stale_after_hours})")
