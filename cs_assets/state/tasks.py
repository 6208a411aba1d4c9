"""CSM tasks with a lifecycle: what a playbook step asks of a CSM, filed once per household and
reason, and what the CSM (through the CLI or a CRM calling these functions) does with it.

    (a step) --file_step--> open, or the household's live task of that reason, updated
    open, snoozed --complete_task--> done (outcome)
    open, snoozed --snooze_task--> snoozed until a day
    open, snoozed --dismiss_task--> dismissed
    snoozed --wake_snoozed on that day, or a step of its reason on or after it--> open

At most one task per household and reason is live (open or snoozed); a unique partial index
holds that in the database too. A re-fired alert updates the live task instead of adding one.
A task done or dismissed less than `quiet_days` before a step of its reason, or snoozed past
the step's day, holds the step back (`Held`): the CSM has just dealt with it, or said when to
look again. After its snooze a task is open again: the daily dispatcher run wakes it, and a
step of its reason on or after that day re-opens it at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import polars as pl
import sqlalchemy as sa

from cs_assets.state.schema import (
    DISMISSED,
    DONE,
    LIVE,
    OPEN,
    PRIORITIES,
    SNOOZED,
    TASK_STATUSES,
    csm_assignments,
    csm_task_steps,
    csm_tasks,
)
from cs_assets.state.transaction import transaction
from cs_assets.vocabulary import UTC_TS

# What a task is about, by the template of the step that files it; a template not listed is
# its own reason. The two health alerts share one: critical and at-risk (and the churn model's
# at-risk review, which uses the at-risk template) are one job, looking at a household whose
# health fell and reaching out, at two urgencies. A household moving between the tiers must
# not give its CSM two open tasks for one conversation; a critical alert on an at-risk task
# raises its priority instead. The re-engagement call (a usage decline, day 7 of a campaign)
# and the high-support-dependency review (a mature household still leaning on support) are
# other conversations and keep their own reasons.
HEALTH_RISK = "health_risk"
REASONS = {"critical_health_alert": HEALTH_RISK, "at_risk_health_alert": HEALTH_RISK}
AUTOMATED_ROUTE = "automated"  # csm_assignments.route of households no person serves
# Days after a task is done or dismissed before a step of its reason opens a new one (the
# default of playbooks.yaml's csm_task_quiet_days): the CSM has just dealt with it, and an
# alert that re-fires weekly must not hand it straight back.
QUIET_DAYS = 14

TASK_COLUMNS = {
    "task_id": pl.Int64, "household_id": pl.String, "csm_id": pl.String, "reason": pl.String,
    "status": pl.String, "priority": pl.String, "due_on": pl.Date, "title": pl.String,
    "notes": pl.String, "refires": pl.Int64, "snoozed_until": pl.Date, "outcome": pl.String,
    "note": pl.String, "created_at": UTC_TS, "updated_at": UTC_TS, "closed_at": UTC_TS,
}
LOAD_SCHEMA = {"csm_id": pl.String, "opened_7d": pl.Int64, "open": pl.Int64,
               "overdue": pl.Int64, "capacity": pl.Int64}


def reason_of(template: str) -> str:
    return REASONS.get(template, template)


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


class TaskError(ValueError):
    """A lifecycle call that cannot be done; the message says why."""


class UnknownTask(TaskError, LookupError):
    """No task has the id."""


class IllegalTransition(TaskError):
    """The task is closed (done or dismissed): it stays as it is."""


class Held(Exception):
    """A step whose reason's task was closed lately or is snoozed past the step's day: nothing
    is filed, the message is the reason."""


def file_step(
    bind: sa.Engine | sa.Connection,
    *,
    message_id: str,
    household_id: str,
    template: str,
    csm_id: str,
    task: Task,
    day: date,
    quiet_days: int,
    now: datetime,
) -> int:
    """File a CSM-task step due on `day`; returns the task's id.

    The household's live task of the step's reason takes it: the newest title, notes and
    assignee, the earlier due day and the higher priority (a re-fire never makes waiting work
    look newer or less urgent), one more re-fire; a snoozed one whose snooze has ended opens
    again. Without a live task a new one opens, unless `Held`. A step filed before (a retry)
    writes nothing. On a connection (a dispatch batch) it is written in the caller's
    transaction. Two steps of one reason filed at once: on an engine the second finds the
    first's task; in a batch the unique index fails the pass and the step is filed again by
    the next."""
    args = (message_id, household_id, template, csm_id, task, day, quiet_days, now)
    try:
        with transaction(bind) as conn:
            return _file(conn, *args)
    except sa.exc.IntegrityError:  # a step of the same reason opened its task meanwhile
        if isinstance(bind, sa.Connection):
            raise
        with bind.begin() as conn:
            return _file(conn, *args)


def _file(conn: sa.Connection, message_id: str, household_id: str, template: str,
          csm_id: str, task: Task, day: date, quiet_days: int, now: datetime) -> int:
    t = csm_tasks.c
    filed = conn.execute(sa.select(csm_task_steps.c.task_id)
                         .where(csm_task_steps.c.message_id == message_id)).scalar()
    if filed is not None:
        return filed
    reason = reason_of(template)
    mine = (t.household_id == household_id, t.reason == reason)
    live = conn.execute(sa.select(t.task_id, t.status, t.snoozed_until)
                        .where(*mine, t.status.in_(LIVE))).one_or_none()
    if live is not None and live.status == SNOOZED and day < live.snoozed_until:
        raise Held(f"task {live.task_id} ({reason}) snoozed until {live.snoozed_until}")
    if live is None:
        closed = conn.execute(sa.select(t.task_id, t.status, t.closed_at)
                              .where(*mine, t.closed_at.is_not(None))
                              .order_by(t.closed_at.desc()).limit(1)).one_or_none()
        if closed is not None:
            until = closed.closed_at.date() + timedelta(days=quiet_days)
            if day < until:
                raise Held(f"task {closed.task_id} ({reason}) {closed.status} on "
                           f"{closed.closed_at.date()}: quiet until {until}")
    fields = dict(message_id=message_id, csm_id=csm_id, title=task.title, notes=task.notes,
                  updated_at=now)
    if live is None:
        task_id = conn.execute(sa.insert(csm_tasks).values(
            **fields, household_id=household_id, reason=reason, priority=task.priority,
            due_on=task.due_on, created_at=now, status=OPEN).returning(t.task_id)).scalar_one()
    else:
        task_id = live.task_id
        rank = sa.case({p: i for i, p in enumerate(PRIORITIES)}, value=t.priority)
        conn.execute(sa.update(csm_tasks).where(t.task_id == task_id).values(
            **fields, status=OPEN, snoozed_until=None, refires=t.refires + 1,
            due_on=sa.case((t.due_on > task.due_on, task.due_on), else_=t.due_on),
            priority=sa.case((rank < PRIORITIES.index(task.priority), task.priority),
                             else_=t.priority)))
    conn.execute(sa.insert(csm_task_steps).values(message_id=message_id, task_id=task_id,
                                                  template=template, linked_at=now))
    return task_id


def list_tasks(
    engine: sa.Engine,
    csm_id: str | None = None,
    status: str | None = None,
    overdue_on: date | None = None,
) -> pl.DataFrame:
    """Tasks (TASK_COLUMNS) by due day; narrowed to a CSM, a status, or the open tasks due
    before `overdue_on`."""
    t = csm_tasks.c
    query = sa.select(*(t[name] for name in TASK_COLUMNS)).order_by(t.due_on, t.task_id)
    if csm_id is not None:
        query = query.where(t.csm_id == csm_id)
    if status is not None:
        if status not in TASK_STATUSES:
            raise TaskError(f"status must be one of {TASK_STATUSES}, got {status!r}")
        query = query.where(t.status == status)
    if overdue_on is not None:
        query = query.where(t.status == OPEN, t.due_on < overdue_on)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=TASK_COLUMNS, orient="row")


def complete_task(engine: sa.Engine, task_id: int, outcome: str, note: str | None,
                  at: datetime) -> None:
    """Done, with what came of it (e.g. "called: renewing"); steps of its reason wait out the
    quiet period."""
    if not outcome.strip():
        raise TaskError("an outcome is required to complete a task")
    _move(engine, task_id, DONE, "completed", note, at, outcome=outcome, closed_at=at,
          snoozed_until=None)


def snooze_task(engine: sa.Engine, task_id: int, until: date, note: str | None,
                at: datetime) -> None:
    """Park a task until `until` (after today): it is open again that day, and steps of its
    reason before then are held back."""
    if until <= at.date():
        raise TaskError(f"snooze until a day after {at.date()}, got {until}")
    _move(engine, task_id, SNOOZED, "snoozed", note, at, snoozed_until=until)


def dismiss_task(engine: sa.Engine, task_id: int, note: str | None, at: datetime) -> None:
    """Closed without doing it (e.g. the alert was wrong); steps of its reason wait out the
    quiet period as after a done task."""
    _move(engine, task_id, DISMISSED, "dismissed", note, at, closed_at=at, snoozed_until=None)


def _move(engine: sa.Engine, task_id: int, to: str, verb: str, note: str | None,
          at: datetime, **values) -> None:
    """Move a live task to `to`; refuses an unknown id and a closed task."""
    t = csm_tasks.c
    if note is not None:
        values["note"] = note
    with engine.begin() as conn:
        status = conn.execute(sa.select(t.status).where(t.task_id == task_id)
                              .with_for_update()).scalar()
        if status is None:
            raise UnknownTask(f"no task {task_id}")
        if status not in LIVE:
            raise IllegalTransition(f"task {task_id} is {status}: only an open or snoozed task "
                                    f"can be {verb}")
        conn.execute(sa.update(csm_tasks).where(t.task_id == task_id, t.status.in_(LIVE))
                     .values(status=to, updated_at=at, **values))


def wake_snoozed(engine: sa.Engine, on: date, now: datetime) -> int:
    """Open the tasks whose snooze ends on or before `on`; returns how many."""
    t = csm_tasks.c
    with engine.begin() as conn:
        return conn.execute(sa.update(csm_tasks)
                            .where(t.status == SNOOZED, t.snoozed_until <= on)
                            .values(status=OPEN, snoozed_until=None, updated_at=now)).rowcount


def reassign_tasks(engine: sa.Engine, on: date, now: datetime) -> int:
    """Move live tasks to whoever the household's latest assignment on or before `on` names,
    when that changed (a CSM left, the plan moved); returns how many moved. A household moved
    to automated CS keeps its tasks with their CSM: nobody else would close them."""
    t, a = csm_tasks.c, csm_assignments.c
    earlier = csm_assignments.alias("earlier")
    latest = (sa.select(sa.func.max(earlier.c.as_of))
              .where(earlier.c.household_id == t.household_id, earlier.c.as_of <= on)
              .correlate(csm_tasks).scalar_subquery())
    moves = (sa.select(t.task_id, a.csm_id).select_from(csm_tasks)
             .join(csm_assignments, (a.household_id == t.household_id) & (a.as_of == latest))
             .where(t.status.in_(LIVE), a.csm_id != t.csm_id, a.route != AUTOMATED_ROUTE))
    with engine.begin() as conn:
        moved = conn.execute(moves).all()
        for task_id, assignee in moved:
            conn.execute(sa.update(csm_tasks).where(t.task_id == task_id)
                         .values(csm_id=assignee, updated_at=now))
    return len(moved)


def task_load(engine: sa.Engine, on: date, until: datetime,
              capacities: Mapping[str, int]) -> pl.DataFrame:
    """Per person (LOAD_SCHEMA): tasks opened in the 7 days up to `until`, open ones, those
    of them due before `on`, and their open-task capacity (null: none set). Everyone with a
    capacity is listed, with or without tasks."""
    t = csm_tasks.c
    is_open = t.status == OPEN
    this_week = (t.created_at > until - timedelta(days=7)) & (t.created_at <= until)
    query = sa.select(
        t.csm_id,
        sa.func.count().filter(this_week),
        sa.func.count().filter(is_open),
        sa.func.count().filter(is_open, t.due_on < on),
    ).where(is_open | this_week).group_by(t.csm_id)
    with engine.connect() as conn:
        counted = {row[0]: row[1:] for row in conn.execute(query)}
    rows = [(person, *counted.get(person, (0, 0, 0)), capacities.get(person))
            for person in sorted(counted.keys() | capacities.keys())]
    return pl.DataFrame(rows, schema=LOAD_SCHEMA, orient="row")
