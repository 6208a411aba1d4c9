"""Daily state tables: replace one day's rows, read what earlier days left.

A list whose tomorrow depends on today (journey history, stable CSM assignments) keeps its
rows here, keyed by day. Writing a day deletes that day's rows and inserts the new ones in
one transaction, so a re-run of the day gives the same table; reading for a day sees only
rows of earlier days, so it never depends on what was computed after it.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import sqlalchemy as sa


def replace_day(engine: sa.Engine, table: sa.Table, day_column: str, day: date,
                rows: pl.DataFrame) -> int:
    """Make `rows` (columns of `table`) the whole of `day` in `table`; returns rows written."""
    records = rows.select([c.name for c in table.columns]).to_dicts()
    with engine.begin() as conn:
        conn.execute(sa.delete(table).where(table.c[day_column] == day))
        if records:
            conn.execute(sa.insert(table), records)
    return len(records)


def rows_before(engine: sa.Engine, table: sa.Table, day_column: str, day: date,
                schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Every row of `table` dated before `day`, as a frame with `schema`."""
    query = sa.select(*[table.c[name] for name in schema]).where(table.c[day_column] < day)
    with engine.connect() as conn:
        result = conn.execute(query).all()
    return pl.DataFrame([tuple(r) for r in result], schema=schema, orient="row")


def read_rows(engine: sa.Engine, table: sa.Table, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """The `schema` columns of every row (readers filter by time themselves)."""
    with engine.connect() as conn:
        result = conn.execute(sa.select(*[table.c[name] for name in schema])).all()
    return pl.DataFrame([tuple(r) for r in result], schema=schema, orient="row")


def latest_before(engine: sa.Engine, table: sa.Table, key: str, day_column: str, day: date,
                  schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """The most recent row per `key` dated before `day`."""
    return rows_before(engine, table, day_column, day, schema).sort(day_column).unique(
        key, keep="last", maintain_order=True)
