"""Where raw tables come from: a folder of Parquet files (default) or a PostgreSQL schema."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from cs_assets.contract.tables import TABLES
from cs_assets.ingestion.conform import ContractSchemaError


def _empty(table: str) -> pl.DataFrame:
    return pl.DataFrame(schema=TABLES[table].columns)


def _read_parquet_file(path: Path, table: str) -> pl.DataFrame:
    if path.stat().st_size == 0:  # an empty file is an empty table, reported by a check
        return _empty(table)
    try:
        return pl.read_parquet(path)
    except pl.exceptions.ComputeError as exc:
        if "UTF-8" not in str(exc):
            raise ContractSchemaError(f"table '{table}': unreadable Parquet {path}: {exc}") from exc
    # Text columns holding bytes that are not UTF-8: read them as bytes so the bad
    # values can be quarantined row by row instead of failing the whole table.
    arrow = pq.read_table(path)
    as_bytes = pa.schema([
        f.with_type(pa.binary()) if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
        else f
        for f in arrow.schema
    ])
    return pl.from_arrow(arrow.cast(as_bytes))


def read_parquet_table(folder: Path, table: str) -> pl.DataFrame:
    """`<folder>/<table>.parquet`, or every `*.parquet` in `<folder>/<table>/`, in name order."""
    single = folder / f"{table}.parquet"
    parts_dir = folder / table
    if single.is_file():
        return _read_parquet_file(single, table)
    if parts_dir.is_dir():
        parts = sorted(parts_dir.glob("*.parquet"))
        frames = [f for f in (_read_parquet_file(p, table) for p in parts) if f.width]
        return pl.concat(frames, how="vertical_relaxed") if frames else _empty(table)
    raise ContractSchemaError(
        f"table '{table}' not found: expected {single} or a folder {parts_dir}/ of Parquet files"
    )


def read_postgres_table(engine: sa.Engine, schema: str, table: str) -> pl.DataFrame:
    """All rows of `<schema>.<table>`; identifiers are quoted by SQLAlchemy, never formatted."""
    if not sa.inspect(engine).has_table(table, schema=schema):
        raise ContractSchemaError(f"table '{table}' not found in PostgreSQL schema '{schema}'")
    query = sa.select(sa.text("*")).select_from(sa.table(table, schema=schema))
    with engine.connect() as conn:
        return pl.read_database(query, connection=conn, infer_schema_length=None)
