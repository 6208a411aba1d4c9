"""One dispatcher pass as the platform runs it: end expired claims, bring CSM tasks up to date
(reassigned to the household's current CSM, snoozes that ended open again), then send the
steps due by the end of `day` (never after now) under the contact policy. The `playbook_deliveries`
asset runs one every 15 minutes; the demo runs one at each quarter hour of its last day.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import polars as pl
import sqlalchemy as sa

from cs_assets.channels.email import EmailChannel, Recipient
from cs_assets.channels.tables import CsmTaskChannel
from cs_assets.playbooks.config import PlaybookCatalog
from cs_assets.playbooks.sender import Sender
from cs_assets.state.delivery import dispatch, expire_leases
from cs_assets.state.tasks import reassign_tasks, wake_snoozed
from cs_assets.vocabulary import HH, instant, utc_now


@dataclass(frozen=True)
class Pass:
    outcomes: Counter[str]
    expired: dict[str, int]  # leases ended: into in_doubt, back to the queue
    cutoff: datetime  # steps due before it were looked at
    reassigned: int  # CSM tasks moved to the household's current CSM
    woken: int  # snoozed CSM tasks open again


def recipients(households: pl.DataFrame) -> dict[str, Recipient]:
    """Where each household's email goes, from the raw households table."""
    return {
        row[HH]: Recipient(row[HH], row["email"] or "", row["owner_name"],
                           bool(row["email_opt_out"]))
        for row in households.select(
            HH, "email", "owner_name", "email_opt_out").iter_rows(named=True)
    }


def dispatch_pass(
    engine: sa.Engine,
    email: EmailChannel,
    households: pl.DataFrame,
    catalog: PlaybookCatalog,
    owner: str,
    day: date,
    now: Callable[[], datetime] = utc_now,
) -> Pass:
    """`households`: the raw table (addresses, names, opt-out flags, time zones)."""
    at = now()
    expired = expire_leases(engine, at)
    # the tasks as they stand today, whichever day this pass sends
    reassigned, woken = reassign_tasks(engine, at.date(), at), wake_snoozed(engine, at.date(), at)
    sender = Sender(email, recipients(households), catalog.contact_policy,
                    zones=dict(households.select(HH, "timezone").iter_rows()),
                    modes=catalog.modes(), now=now,
                    tasks=CsmTaskChannel(now, quiet_days=catalog.csm_task_quiet_days))
    cutoff = min(at, instant(day + timedelta(days=1)))  # a backfilled day sends its own steps
    outcomes = dispatch(engine, owner, sender, now, due_before=cutoff)
    return Pass(outcomes, expired, cutoff, reassigned, woken)
