"""Bring a table as it arrived to the contract's column types, or say why it cannot be.

A table arrives in parts (files, or one database table); each part is brought to the
contract on its own, so parts may differ in column order, compatible types and time zones.
Whole-column problems (a missing column, a type that cannot mean the contract's type) are
*schema* errors: the ingestion fails naming the table, the column and the file.
Single-value problems met while converting (bytes that are not UTF-8, a fractional value in
an integer column, text that is not a timestamp) become per-row reasons instead, and the
value as it arrived is kept for the quarantine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import polars as pl

from cs_assets.contract.tables import TableSpec
from cs_assets.display import escaped
from cs_assets.vocabulary import UTC_TS

ROW = "_source_row"
MASKED = "<masked>"
TRUE_TEXT = frozenset({"true", "t", "yes", "y", "1"})
FALSE_TEXT = frozenset({"false", "f", "no", "n", "0"})
FAILURES_SCHEMA = {ROW: pl.UInt32, "column": pl.String, "reason": pl.String,
                   "original": pl.String}


class TableAbsent(LookupError):
    """The source holds no such table at all (not even an empty one)."""


class ContractSchemaError(ValueError):
    """A raw table does not have the contract's shape; the message names table and column."""


@dataclass(frozen=True)
class RawPart:
    """Rows of one raw table from one place (`source`: a file, or a database table)."""

    source: str
    frame: pl.DataFrame


@dataclass
class Conformed:
    frame: pl.DataFrame  # contract columns in contract order, plus ROW
    # (ROW, column, reason, original): values that could not be converted; `original` is the
    # value as it arrived, as text, where the conversion could not keep it
    failures: pl.DataFrame
    extra_columns: list[str] = field(default_factory=list)
    sources: int = 1


def shown(value: object, masked: bool = False) -> str:
    """A value as a reason shows it: text escaped and quoted, personal data masked."""
    if masked:
        return MASKED
    return escaped(value) if isinstance(value, str) else str(value)


def _failure_frame(rows: pl.Series, name: str, reasons: list[str],
                   originals: list[str | None]) -> pl.DataFrame:
    return pl.DataFrame({ROW: rows.cast(pl.UInt32), "column": [name] * len(rows),
                         "reason": reasons, "original": originals}, schema=FAILURES_SCHEMA)


def _failures(rows: pl.Series, values: pl.Series, name: str, what: str,
              masked: bool) -> pl.DataFrame:
    """The rows whose `values` could not be converted, each value shown and kept as text."""
    values = values.to_list()
    return _failure_frame(rows, name, [f"{name}: {shown(v, masked)} {what}" for v in values],
                          [None if v is None else str(v) for v in values])


def _decode_utf8(values: pl.Series) -> tuple[pl.Series, list[int]]:
    """Decode a Binary column; invalid UTF-8 is kept with its bytes escaped, and its rows
    returned."""
    decoded: list[str | None] = []
    bad: list[int] = []
    for i, raw in enumerate(values.to_list()):
        if raw is None:
            decoded.append(None)
            continue
        try:
            decoded.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            decoded.append(raw.decode("utf-8", errors="backslashreplace"))
            bad.append(i)
    return pl.Series(values.name, decoded, dtype=pl.String), bad


def _parse_instant(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def _parse_bool(text: str) -> bool | None:
    lowered = text.strip().lower()
    return True if lowered in TRUE_TEXT else False if lowered in FALSE_TEXT else None


def _from_text(col: pl.Series, want: pl.DataType) -> pl.Series:
    """Text to the contract's type; values that do not parse become null (the caller reports
    them). Vectorized first, then value by value for what the vectorized parse missed."""
    if want == pl.Int64:
        return col.str.strip_chars().cast(pl.Int64, strict=False)
    if want == pl.Float64:
        return col.str.strip_chars().cast(pl.Float64, strict=False)
    if isinstance(want, pl.Datetime):
        fast = col.str.to_datetime(strict=False, time_unit="us", time_zone="UTC")
        slow = pl.Series([_parse_instant(t) if t is not None else None for t in col.to_list()],
                         dtype=UTC_TS)
        return fast.fill_null(slow)
    if want == pl.Date:
        return pl.Series([_parse_date(t) if t is not None else None for t in col.to_list()],
                         dtype=pl.Date)
    if want == pl.Boolean:
        return pl.Series([_parse_bool(t) if t is not None else None for t in col.to_list()],
                         dtype=pl.Boolean)
    raise TypeError(want)


TEXT_TARGETS = {pl.Int64: "is not a whole number", pl.Float64: "is not a number",
                pl.Date: "is not a date", pl.Boolean: "is not true or false"}


def _convert(
    name: str, col: pl.Series, want: pl.DataType, rows: pl.Series, masked: bool
) -> tuple[pl.Series, pl.DataFrame | None]:
    """`col` as the contract's type, and the rows whose value could not be converted; raises
    TypeError when the column's type cannot mean the contract's type at all."""
    have = col.dtype
    if have == want:
        return col, None
    if have == pl.Null:
        return col.cast(want), None
    if want == pl.String:
        if have == pl.Binary:
            decoded, bad = _decode_utf8(col)
            # the value is kept, its bad bytes escaped: nothing is lost
            return decoded, _failure_frame(rows.gather(bad), name,
                                           [f"{name}: not valid UTF-8 text"] * len(bad),
                                           [None] * len(bad))
        if isinstance(have, pl.Enum | pl.Categorical):
            return col.cast(pl.String), None
    if isinstance(want, pl.Datetime):
        if isinstance(have, pl.Datetime):
            naive = have.time_zone is None
            col = col.dt.replace_time_zone("UTC") if naive else col.dt.convert_time_zone("UTC")
            return col.dt.cast_time_unit("us"), None
        if have == pl.Date:
            return col.cast(pl.Datetime("us")).dt.replace_time_zone("UTC"), None
    if want == pl.Date and isinstance(have, pl.Datetime):
        return col.dt.date(), None
    if want == pl.Float64 and (have.is_numeric() or isinstance(have, pl.Decimal)):
        return col.cast(pl.Float64), None
    if want == pl.Int64 and have.is_integer():
        return col.cast(pl.Int64), None
    if want == pl.Int64 and (have.is_float() or isinstance(have, pl.Decimal)):
        as_float = col.cast(pl.Float64)
        fractional = (as_float.is_not_null() & (as_float != as_float.round(0))).fill_null(False)
        ints = as_float.set(fractional, None).cast(pl.Int64, strict=False)
        failed = as_float.is_not_null() & ints.is_null()
        return ints.alias(name), _failures(rows.filter(failed), col.filter(failed), name,
                                           "is not a whole number", masked)
    if have == pl.String and (isinstance(want, pl.Datetime) or want in TEXT_TARGETS):
        converted = _from_text(col, want)
        failed = col.is_not_null() & converted.is_null()
        what = "is not a timestamp" if isinstance(want, pl.Datetime) else TEXT_TARGETS[want]
        return converted.alias(name), _failures(rows.filter(failed), col.filter(failed), name,
                                                what, masked)
    raise TypeError(f"type {have} cannot be read as {want}")


def _conform_part(spec: TableSpec, part: RawPart, first_row: int
                  ) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    frame = part.frame
    where = f"table '{spec.name}', {part.source}"
    missing = [c for c in spec.columns if c not in frame.columns]
    if missing:
        expected = ", ".join(f"{c} ({spec.columns[c]})" for c in missing)
        raise ContractSchemaError(f"{where}: missing column(s) {expected}")
    rows = pl.Series(ROW, range(first_row, first_row + frame.height), dtype=pl.UInt32)
    columns: list[pl.Series] = []
    failures: list[pl.DataFrame] = []
    for name, want in spec.columns.items():
        try:
            converted, failed = _convert(name, frame[name], want, rows,
                                         name in spec.pii_columns)
        except TypeError as exc:
            raise ContractSchemaError(f"{where}, column '{name}': {exc}") from None
        columns.append(converted.alias(name))
        if failed is not None and failed.height:
            failures.append(failed)
    return pl.DataFrame([*columns, rows]), failures


def conform(spec: TableSpec, parts: Sequence[RawPart] | pl.DataFrame) -> Conformed:
    """Select and convert the contract's columns of every part, numbering rows across parts;
    raise ContractSchemaError on schema problems, naming table, column and file."""
    if isinstance(parts, pl.DataFrame):
        parts = [RawPart("the input frame", parts)]
    frames: list[pl.DataFrame] = []
    failures: list[pl.DataFrame] = []
    extra: list[str] = []
    first_row = 0
    for part in parts:
        frame, failed = _conform_part(spec, part, first_row)
        frames.append(frame)
        failures += failed
        extra += [c for c in part.frame.columns if c not in spec.columns and c not in extra]
        first_row += part.frame.height
    empty = pl.DataFrame(schema={**spec.columns, ROW: pl.UInt32})
    return Conformed(
        frame=(frames[0] if len(frames) == 1 else pl.concat(frames, rechunk=True)) if frames
        else empty,
        failures=pl.concat(failures) if failures else pl.DataFrame(schema=FAILURES_SCHEMA),
        extra_columns=extra,
        sources=len(parts),
    )
