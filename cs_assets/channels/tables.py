"""CSM tasks and in-app notifications: channels that write a row for the CSM's task list or
the app to read, keyed on the step's Message-ID so a step is never written twice.

Their tables are in cs_assets/state/schema.py (and sql/010_platform_state.sql).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from cs_assets.state.delivery import DueStep, SkipStep, Tx
from cs_assets.state.schema import (
    PRIORITIES,
    csm_assignments,
    csm_tasks,
    in_app_notifications,
)
from cs_assets.state.store import insert_ignoring_duplicates
from cs_assets.vocabulary import utc_now

IN_APP = "in_app"
AUTOMATED_ROUTE = "automated"  # csm_assignments.route of households no person serves



@dataclass(frozen=True)
class Task:
    """What the CSM should do (the spec's createTask); no customer names or addresses."""

    title: str
    due_on: date
    notes: str = ""
    priority: str = "normal"

    def __post_init__(self) -> None:
        if self.priority not in PRIORITIES:
            raise ValueError(f"priority must be one of {PRIORITIES}, got {self.priority!r}")


@dataclass(frozen=True)
class Notification:
    """What the app shows (the spec's createInAppNotification)."""

    title: str
    body: str
    cta: str | None = None
    link: str | None = None
    dismissable: bool = True


def _write(conn: sa.Connection, table: sa.Table, row: dict) -> None:
    insert_ignoring_duplicates(conn, table, [row], ["message_id"])


class CsmTaskChannel:
    """Opens a task for whoever csm_assignments names for the household on the step's day
    (a CSM, or the CS Ops queue owner). Households served by automated CS have nobody to
    call, so their task steps are skipped with that reason."""

    def __init__(self, now: Callable[[], datetime] = utc_now) -> None:
        self.now = now

    def send(self, step: DueStep, task: Task, tx: Tx) -> None:
        csm_id = self._assignee(tx.conn, step)
        _write(
            tx.conn,
            csm_tasks,
            dict(
                message_id=step.message_id,
                household_id=step.household_id,
                csm_id=csm_id,
                title=task.title,
                notes=task.notes,
                priority=task.priority,
                due_on=task.due_on,
                created_at=self.now(),
            ),
        )

    @staticmethod
    def _assignee(conn: sa.Connection, step: DueStep) -> str:
        day = step.due_at.date()
        row = conn.execute(
            sa.select(csm_assignments.c.csm_id, csm_assignments.c.route)
            .where(
                csm_assignments.c.household_id == step.household_id,
                csm_assignments.c.as_of <= day,
            )
            .order_by(csm_assignments.c.as_of.desc())
            .limit(1)
        ).one_or_none()
        if row is None:
            raise SkipStep(f"no CSM assignment on or before {day}")
        if row.route == AUTOMATED_ROUTE:
            raise SkipStep("served by automated CS: no CSM to give the task to")
        return row.csm_id


class InAppChannel:
    """Queues a notification for the app to show; opening it arrives as a
    `notification_opened` activity event."""

    def __init__(self, now: Callable[[], datetime] = utc_now) -> None:
        self.now = now

    def send(self, step: DueStep, notification: Notification, tx: Tx) -> None:
        _write(
            tx.conn,
            in_app_notifications,
            dict(
                message_id=step.message_id,
                household_id=step.household_id,
                title=notification.title,
                body=notification.body,
                cta=notification.cta,
                link=notification.link,
                dismissable=notification.dismissable,
                created_at=self.now(),
            ),
        )
