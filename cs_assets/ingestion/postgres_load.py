"""Land raw tables in PostgreSQL: apply the contract DDL, then COPY rows in.

Used to try the PostgreSQL source with demo data (`cs-assets load-postgres`) and by
the tests that compare it with the Parquet path.
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import sqlalchemy as sa
from psycopg2 import sql

DDL_PATH = Path(__file__).resolve().parents[2] / "sql" / "001_raw_contract.sql"


def apply_contract_ddl(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(DDL_PATH.read_text(encoding="utf-8"))


def copy_table(engine: sa.Engine, schema: str, table: str, frame: pl.DataFrame) -> None:
    """Append `frame` to `<schema>.<table>` with COPY; identifiers quoted by psycopg2.sql.
    Every text value is quoted, so only a null (unquoted `\\N`) loads as NULL: a literal
    `\\N` or an empty string stays text."""
    buffer = io.BytesIO()
    frame.write_csv(buffer, null_value="\\N", quote_style="non_numeric",
                    datetime_format="%Y-%m-%dT%H:%M:%S%.6f%z")
    buffer.seek(0)
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, HEADER true, NULL {})").format(
        sql.Identifier(schema, table),
        sql.SQL(", ").join(map(sql.Identifier, frame.columns)),
        sql.Literal("\\N"),
    )
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            cursor.copy_expert(statement, buffer)
        raw.commit()
    finally:
        raw.close()
