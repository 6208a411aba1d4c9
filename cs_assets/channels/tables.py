"""CSM tasks and in-app notifications: channels that write a row for the CSM's task list or
the app to read, keyed on the step's Message-ID so a step is never written twice. A CSM task
is filed under the household's live task of its reason when there is one
(cs_assets/state/tasks.py).

Their tables are in cs_assets/state/schema.py (and sql/010_platform_state.sql).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from cs_assets.state.delivery import DueStep, SkipStep, Tx
from cs_assets.state.schema import csm_assignments, in_app_notifications
from cs_assets.state.store import insert_ignoring_duplicates
from cs_assets.state.tasks import AUTOMATED_ROUTE, QUIET_DAYS, Held, Task, file_step
from cs_assets.vocabulary import utc_now

IN_APP = "in_app"


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
    """Files a task for whoever csm_assignments names for the household on the step's day
    (a CSM, or the CS Ops queue owner): a new one, or the household's live task of the same
    reason, updated. Households served by automated CS have nobody to call, and a task of the
    reason closed less than `quiet_days` before, or snoozed past the step's day, holds the step
    back: each is skipped with that reason."""

    def __init__(self, now: Callable[[], datetime] = utc_now,
                 quiet_days: int = QUIET_DAYS) -> None:
        self.now, self.quiet_days = now, quiet_days

    def send(self, step: DueStep, task: Task, tx: Tx) -> None:
        csm_id = self._assignee(tx.conn, step)
        try:
            file_step(tx.conn, message_id=step.message_id, household_id=step.household_id,
                      template=step.template, csm_id=csm_id, task=task,
                      day=step.due_at.date(), quiet_days=self.quiet_days, now=self.now())
        except Held as exc:
            raise SkipStep(str(exc)) from None

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
