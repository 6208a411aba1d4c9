"""Where raw tables come from: Parquet files (one file, or a folder of part files in any
nesting, Hive `key=value` folders included) or a PostgreSQL schema.

A table arrives as parts, each named by where it came from, so that a part with columns in
another order, other compatible types or another time zone is brought to the contract on
its own, and an error names the file.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from cs_assets.contract.tables import TABLES
from cs_assets.ingestion.conform import ContractSchemaError, RawPart, TableAbsent

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


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
    except (pl.exceptions.PolarsError, OSError) as exc:
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


def _hidden(name: str) -> bool:
    """Writers' bookkeeping, never data: `_SUCCESS`, `_temporary/`, `.crc`, `.~lock.*#`."""
    return name.startswith((".", "_"))


def part_files(folder: Path) -> list[Path]:
    """Every `*.parquet` under `folder`, at any depth, in path order; hidden names skipped."""
    found = []
    for path in folder.rglob("*.parquet"):
        relative = path.relative_to(folder).parts
        if path.is_file() and not any(_hidden(name) for name in relative):
            found.append(path)
    return sorted(found)


def _with_hive_values(frame: pl.DataFrame, relative: Path) -> pl.DataFrame:
    """Add the `key=value` folders of a part's path as text columns the file lacks (Spark and
    Hive leave partition columns out of the files); the contract's types are applied later."""
    values = {}
    for folder in relative.parts[:-1]:
        key, sep, value = folder.partition("=")
        if sep and key and key not in frame.columns:
            values[unquote(key)] = None if value == HIVE_NULL else unquote(value)
    if not values:
        return frame
    return frame.with_columns(pl.lit(v, dtype=pl.String).alias(k) for k, v in values.items())


def parquet_table_present(folder: Path, table: str) -> bool:
    return (folder / f"{table}.parquet").is_file() or (folder / table).is_dir()


def postgres_table_present(engine: sa.Engine, schema: str, table: str) -> bool:
    return sa.inspect(engine).has_table(table, schema=schema)


def read_parquet_table(folder: Path, table: str) -> list[RawPart]:
    """`<folder>/<table>.parquet`, or every part file under `<folder>/<table>/`."""
    single = folder / f"{table}.parquet"
    parts_dir = folder / table
    if single.is_file() and parts_dir.is_dir():
        raise ContractSchemaError(
            f"table '{table}': both {single} and a folder {parts_dir}/ exist; keep one"
        )
    if single.is_file():
        return [RawPart(str(single), _read_parquet_file(single, table))]
    if parts_dir.is_dir():
        return [
            RawPart(str(path), _with_hive_values(_read_parquet_file(path, table),
                                                 path.relative_to(parts_dir)))
            for path in part_files(parts_dir)
        ]
    raise TableAbsent(
        f"table '{table}' not found: expected {single} or a folder {parts_dir}/ of Parquet files"
    )


def read_postgres_table(engine: sa.Engine, schema: str, table: str) -> list[RawPart]:
    """All rows of `<schema>.<table>`; identifiers are quoted by SQLAlchemy, never formatted."""
    if not postgres_table_present(engine, schema, table):
        raise TableAbsent(f"table '{table}' not found in PostgreSQL schema '{schema}'")
    query = sa.select(sa.text("*")).select_from(sa.table(table, schema=schema))
    with engine.connect() as conn:
        frame = pl.read_database(query, connection=conn, infer_schema_length=None)
    return [RawPart(f"PostgreSQL {schema}.{table}", frame)]
