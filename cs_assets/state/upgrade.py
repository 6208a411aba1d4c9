"""Bring a state database an earlier release made up to this schema when the platform opens it
(`store.state_engine`): columns added since, CHECK constraints added or widened since (a new
exit status), and the lifecycle values of CSM tasks written before tasks had one.

Missing tables and indexes need nothing here (`create_all` and the index loop make them). An
up-to-date database is only read; otherwise one process upgrades it at a time (PostgreSQL: an
advisory lock, SQLite: BEGIN IMMEDIATE), in one transaction, looking again once it holds the
lock. SQLite cannot change a constraint in place: such a table is made anew from the metadata
and its rows copied (https://www.sqlite.org/lang_altertable.html#otheralter).
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from cs_assets.state.schema import DISMISSED, csm_task_steps, csm_tasks, metadata, step_executions
from cs_assets.state.tasks import reason_of

LOCK_KEY = 0x63735F7374617465  # "cs_state": the PostgreSQL advisory lock of an upgrade
LITERAL = re.compile(r"'[^']*'")


def upgrade(engine: sa.Engine) -> None:
    """Bring `engine`'s database up to the metadata; nothing when it is already."""
    with engine.connect() as conn:
        if not _outdated(conn):
            return
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:  # a table made anew drops the one others reference: checked at the end
            conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
            conn.commit()
        try:
            with conn.begin():
                if sqlite:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                else:
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(LOCK_KEY)))
                _add_columns(conn)
                _file_earlier_tasks(conn)
                if sqlite:
                    for table in _sqlite_outdated(conn):
                        _remake(conn, table)
                    if conn.exec_driver_sql("PRAGMA foreign_key_check").first():
                        raise RuntimeError("state upgrade: a foreign key no longer matches")
                else:
                    for statement in _postgresql_constraints(conn):
                        conn.exec_driver_sql(statement)
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys = ON")
                conn.commit()


def _outdated(conn: sa.Connection) -> bool:
    if _missing_columns(conn):
        return True
    if conn.dialect.name == "sqlite":
        return bool(_sqlite_outdated(conn))
    return bool(_postgresql_constraints(conn))


def _missing_columns(conn: sa.Connection) -> list[sa.Column]:
    found = {name: {column["name"] for column in columns}
             for (_, name), columns in sa.inspect(conn).get_multi_columns().items()}
    return [column for table in metadata.sorted_tables if table.name in found
            for column in table.columns if column.name not in found[table.name]]


def _add_columns(conn: sa.Connection) -> None:
    """Columns the metadata has and the tables lack. NOT NULL needs a default for the rows
    already there: a column without one is added nullable, filled, and made NOT NULL by the
    constraint step (PostgreSQL) or by making the table anew (SQLite)."""
    quote = conn.dialect.identifier_preparer.quote
    for column in _missing_columns(conn):
        spec = f"{quote(column.name)} {column.type.compile(conn.dialect)}"
        if column.server_default is not None:
            default = column.server_default.arg
            spec += " DEFAULT " + (default.text if isinstance(default, sa.TextClause)
                                   else "'" + default.replace("'", "''") + "'")
            spec += "" if column.nullable else " NOT NULL"
        conn.exec_driver_sql(f"ALTER TABLE {quote(column.table.name)} ADD COLUMN {spec}")


def _file_earlier_tasks(conn: sa.Connection) -> None:
    """Tasks written before the lifecycle, one per step: each gets its step template's reason,
    a link to its step and the time it was written as its last change. Of several for one
    household and reason the newest stays open and the older ones are dismissed, superseded
    by it (the one-live-task index needs it; their rows stay)."""
    t = csm_tasks.c
    rows = conn.execute(
        sa.select(t.task_id, t.household_id, t.message_id, t.created_at,
                  step_executions.c.template)
        .outerjoin(step_executions, step_executions.c.message_id == t.message_id)
        .where(t.reason.is_(None)).order_by(t.created_at.desc(), t.task_id.desc())
    ).all()
    newest: dict[tuple[str, str], sa.Row] = {}
    for row in rows:
        template = row.template or "csm_task"  # its step gone: a task of no known reason
        reason = reason_of(template)
        kept = newest.setdefault((row.household_id, reason), row)
        superseded = {} if kept is row else dict(
            status=DISMISSED, closed_at=kept.created_at, note=f"superseded by task {kept.task_id}")
        conn.execute(sa.update(csm_tasks).where(t.task_id == row.task_id).values(
            reason=reason, updated_at=row.created_at, **superseded))
        conn.execute(sa.insert(csm_task_steps).values(
            message_id=row.message_id, task_id=row.task_id, template=template,
            linked_at=row.created_at))


def _sqlite_outdated(conn: sa.Connection) -> list[sa.Table]:
    """Tables whose stored CREATE statement lacks a CHECK of the metadata or a NOT NULL: made
    by an earlier release."""
    stored = dict(conn.execute(sa.text(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table'")).all())
    nullable = {name: {c["name"] for c in columns if c["nullable"]}
                for (_, name), columns in sa.inspect(conn).get_multi_columns().items()}
    return [table for table in metadata.sorted_tables if table.name in stored and (
        any(str(check.sqltext) not in stored[table.name] for check in _checks(table))
        or any(not c.nullable and c.name in nullable[table.name] for c in table.columns))]


def _remake(conn: sa.Connection, table: sa.Table) -> None:
    """`table` made anew from the metadata with its rows; state_engine makes its indexes."""
    temporary = f"{table.name}_upgraded"
    create = str(sa.schema.CreateTable(table).compile(dialect=conn.dialect))
    conn.exec_driver_sql(create.replace(f"TABLE {table.name} (", f"TABLE {temporary} (", 1))
    columns = ", ".join(conn.dialect.identifier_preparer.quote(c.name) for c in table.columns)
    conn.exec_driver_sql(
        f"INSERT INTO {temporary} ({columns}) SELECT {columns} FROM {table.name}")
    conn.exec_driver_sql(f"DROP TABLE {table.name}")
    conn.exec_driver_sql(f"ALTER TABLE {temporary} RENAME TO {table.name}")


def _postgresql_constraints(conn: sa.Connection) -> list[str]:
    """ALTER TABLE statements for the NOT NULLs and CHECKs the tables lack, and for a CHECK
    that allows fewer values than the metadata's (a list that grew, e.g. exit statuses)."""
    inspector = sa.inspect(conn)
    quote = conn.dialect.identifier_preparer.quote
    columns = inspector.get_multi_columns()
    checks = inspector.get_multi_check_constraints()
    statements = []
    for table in metadata.sorted_tables:
        if (None, table.name) not in columns:
            continue
        nullable = {c["name"] for c in columns[None, table.name] if c["nullable"]}
        found = {c["name"]: c["sqltext"] for c in checks[None, table.name]}
        changes = [f"ALTER COLUMN {quote(c.name)} SET NOT NULL" for c in table.columns
                   if not c.nullable and c.name in nullable]
        for check in _checks(table):
            text = str(check.sqltext)
            # PostgreSQL names an unnamed check on one column <table>_<column>_check
            name = check.name or f"{table.name}_{text.split()[0]}_check"
            if name in found and all(v in found[name] for v in LITERAL.findall(text)):
                continue
            if name in found:
                changes.append(f"DROP CONSTRAINT {quote(name)}")
            changes.append(f"ADD CONSTRAINT {quote(name)} CHECK ({text})")
        if changes:
            statements.append(f"ALTER TABLE {quote(table.name)} {', '.join(changes)}")
    return statements


def _checks(table: sa.Table) -> list[sa.CheckConstraint]:
    return [c for c in table.constraints if isinstance(c, sa.CheckConstraint)]
