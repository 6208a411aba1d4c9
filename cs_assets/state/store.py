"""Open the state database; write enrolments, steps and opt-outs so that repeating a write is
harmless (a sensor re-fires, a run retries) and read opt-outs back."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from cs_assets.state.schema import (
    ALL_CHANNELS,
    CSM_TASK,
    PENDING,
    RETRYING,
    SKIPPED,
    enrolments,
    metadata,
    opt_outs,
    step_executions,
    workflow_alerts,
)
from cs_assets.state.upgrade import upgrade

# Right-hand side of generated Message-IDs; pass the sending domain in production.
MESSAGE_ID_DOMAIN = "cs-assets.invalid"
HOLDOUT_REASON = "holdout"


def state_engine(url: str) -> sa.Engine:
    """An engine on the state database with its tables and indexes created if missing, and a
    database an earlier release made brought up to this schema (`upgrade`: columns, checks
    and indexes added since). PostgreSQL URLs need the psycopg2 driver
    (`postgresql+psycopg2://`)."""
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    metadata.create_all(engine)
    upgrade(engine)
    for table in metadata.sorted_tables:
        for index in table.indexes:
            index.create(engine, checkfirst=True)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")  # SQLite ignores REFERENCES otherwise
    cursor.execute("PRAGMA journal_mode = WAL")  # readers (checks, the UI) never block a send
    cursor.execute("PRAGMA busy_timeout = 30000")  # a second writer waits instead of failing
    cursor.close()


def insert_ignoring_duplicates(
    conn: sa.Connection, table: sa.Table, rows: list[dict], key: list[str]
) -> None:
    """INSERT ... ON CONFLICT (key) DO NOTHING, in the connection's dialect."""
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[conn.dialect.name]
    conn.execute(insert(table).on_conflict_do_nothing(index_elements=key), rows)


def message_id(
    playbook: str,
    household_id: str,
    enrolment_key: str,
    step_index: int,
    domain: str = MESSAGE_ID_DOMAIN,
) -> str:
    """RFC 5322 Message-ID of a step: the same step always gets the same id, on any database,
    and the id does not reveal the household."""
    token = json.dumps([playbook, household_id, enrolment_key, step_index])
    return f"<{hashlib.sha256(token.encode()).hexdigest()[:32]}@{domain}>"


BATCH = 2000  # rows per statement: well under SQLite's bound-parameter limit


def enrol_many(engine: sa.Engine, rows: Sequence[Mapping], now: datetime) -> list[int]:
    """The ids of the enrolments (rows of the `enrolments` table without id and time), in
    order, adding those not recorded yet.

    Enrolling the same key again changes nothing (the first holdout and context stay)."""
    natural = (enrolments.c.playbook, enrolments.c.household_id, enrolments.c.enrolment_key)
    ids: dict[tuple[str, str, str], int] = {}
    with engine.begin() as conn:
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]
            insert_ignoring_duplicates(
                conn,
                enrolments,
                [{**row, "created_at": now} for row in batch],
                [column.name for column in natural],
            )
            found = conn.execute(
                sa.select(enrolments.c.enrolment_id, *natural).where(
                    sa.tuple_(*natural).in_([_natural_key(row) for row in batch])
                )
            )
            ids.update({tuple(found_row[1:]): found_row[0] for found_row in found})
    return [ids[_natural_key(row)] for row in rows]


def _natural_key(row: Mapping) -> tuple[str, str, str]:
    return row["playbook"], row["household_id"], row["enrolment_key"]


def schedule_many(
    engine: sa.Engine,
    plans: Mapping[int, Iterable[Mapping]],
    *,
    domain: str = MESSAGE_ID_DOMAIN,
) -> None:
    """Add each enrolment's steps (`step_index`, `channel`, `template`, `due_at`, `condition`);
    a step already scheduled keeps its state.

    A holdout's automated steps, and an exited enrolment's steps, are recorded as skipped with
    the reason, so every due step of every enrolment has an outcome. A held-out household
    still gets its CSM tasks: human work is never held out, so a holdout measures the
    automated steps alone."""
    ids = list(plans)
    rows = []
    with engine.begin() as conn:
        for start in range(0, len(ids), BATCH):
            found = conn.execute(
                sa.select(enrolments).where(
                    enrolments.c.enrolment_id.in_(ids[start : start + BATCH])
                )
            ).all()
            for enrolment in found:
                exited = exit_reason(enrolment.exit_status) if enrolment.exit_status else None
                rows += [
                    dict(
                        step,
                        enrolment_id=enrolment.enrolment_id,
                        next_attempt_at=step["due_at"],
                        status=SKIPPED if (reason := exited or _held_out(enrolment, step))
                        else PENDING,
                        skipped_reason=reason,
                        message_id=message_id(
                            enrolment.playbook,
                            enrolment.household_id,
                            enrolment.enrolment_key,
                            step["step_index"],
                            domain,
                        ),
                    )
                    for step in plans[enrolment.enrolment_id]
                ]
        for start in range(0, len(rows), BATCH):
            insert_ignoring_duplicates(
                conn, step_executions, rows[start : start + BATCH], ["enrolment_id", "step_index"]
            )


def _held_out(enrolment: sa.Row, step: Mapping) -> str | None:
    """The holdout reason for an automated step of a held-out enrolment; a CSM task is never
    held out."""
    return HOLDOUT_REASON if enrolment.holdout and step["channel"] != CSM_TASK else None


# What an exit status means, where its name alone does not say it.
EXIT_MEANINGS = {"downgraded": "no longer on a premium plan"}


def exit_reason(status: str) -> str:
    """The skip reason of a step whose enrolment ended with `status`."""
    meaning = EXIT_MEANINGS.get(status)
    return f"enrolment exited: {status}" + (f" ({meaning})" if meaning else "")


def exit_enrolment(engine: sa.Engine, enrolment_id: int, status: str, at: datetime) -> int:
    """End an enrolment (one of EXIT_STATUSES) and skip its steps still waiting to be sent;
    returns how many were skipped. The first exit wins.

    A step a dispatcher holds right now is left to it: the dispatcher skips it if it has not
    sent it yet."""
    with engine.begin() as conn:
        conn.execute(
            sa.update(enrolments)
            .where(enrolments.c.enrolment_id == enrolment_id, enrolments.c.exit_status.is_(None))
            .values(exit_status=status, exited_at=at)
        )
        status = conn.execute(
            sa.select(enrolments.c.exit_status).where(enrolments.c.enrolment_id == enrolment_id)
        ).scalar_one()
        return conn.execute(
            sa.update(step_executions)
            .where(
                step_executions.c.enrolment_id == enrolment_id,
                step_executions.c.status.in_((PENDING, RETRYING)),
            )
            .values(status=SKIPPED, skipped_reason=exit_reason(status))
        ).rowcount


def record_opt_out(
    engine: sa.Engine,
    household_id: str | Iterable[str],
    channel: str,
    source: str,
    at: datetime,
) -> None:
    """Record that households refused `channel` (or `all`); the first record per source stays."""
    households = [household_id] if isinstance(household_id, str) else list(household_id)
    rows = [dict(household_id=h, channel=channel, source=source, at=at) for h in households]
    with engine.begin() as conn:
        for start in range(0, len(rows), BATCH):
            insert_ignoring_duplicates(
                conn, opt_outs, rows[start : start + BATCH], ["household_id", "channel", "source"]
            )


def opted_out(
    bind: sa.Engine | sa.Connection, channel: str, households: Iterable[str] | None = None
) -> frozenset[str]:
    """Households that must not get `channel`: an opt-out for it, or for all channels, wins.

    `households` narrows the lookup (a dispatcher's batch); None reads every household."""
    query = (
        sa.select(opt_outs.c.household_id)
        .distinct()
        .where(opt_outs.c.channel.in_((channel, ALL_CHANNELS)))
    )
    if households is not None:
        query = query.where(opt_outs.c.household_id.in_(list(households)))
    if isinstance(bind, sa.Connection):
        return frozenset(bind.execute(query).scalars())
    with bind.connect() as conn:
        return frozenset(conn.execute(query).scalars())


def record_alert(engine: sa.Engine, run_id: str, job_name: str, partition_key: str | None,
                 message: str, at: datetime) -> None:
    """A workflow problem for whoever watches the state database: one row per run."""
    with engine.begin() as conn:
        insert_ignoring_duplicates(conn, workflow_alerts, [dict(
            run_id=run_id, job_name=job_name, partition_key=partition_key,
            message=message[:2000], failed_at=at)], ["run_id"])
