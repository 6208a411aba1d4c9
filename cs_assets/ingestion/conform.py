"""Bring a frame as it arrived to the contract's column types, or say why it cannot be.

Whole-column problems (a missing column, a type that cannot mean the contract's
type) are *schema* errors: the ingestion fails with the table and column named.
Single-value problems met while converting (bytes that are not UTF-8, a
fractional value in an integer column) become per-row reasons instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from cs_assets.contract.tables import TableSpec

ROW = "_source_row"


class ContractSchemaError(ValueError):
    """A raw table does not have the contract's shape; the message names table and column."""


@dataclass
class Conformed:
    frame: pl.DataFrame  # contract columns in contract order, plus ROW
    row_reasons: pl.DataFrame  # (ROW, reason) for values that could not be converted
    extra_columns: list[str] = field(default_factory=list)


def _reasons(rows: pl.Series, reason: str) -> pl.DataFrame:
    return pl.DataFrame({ROW: rows.cast(pl.UInt32), "reason": [reason] * len(rows)})


def _decode_utf8(values: pl.Series) -> tuple[pl.Series, list[int]]:
    """Decode a Binary column; invalid UTF-8 becomes null plus the row positions that failed."""
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


def _convert(
    table: str, name: str, col: pl.Series, want: pl.DataType, rows: pl.Series
) -> tuple[pl.Series, pl.DataFrame | None]:
    have = col.dtype
    if have == want:
        return col, None
    if have == pl.Null:
        return col.cast(want), None
    if want == pl.String:
        if have == pl.Binary:
            decoded, bad = _decode_utf8(col)
            reasons = _reasons(rows.gather(bad), f"{name}: not valid UTF-8 text") if bad else None
            return decoded, reasons
        if have in (pl.Categorical, pl.Enum) or isinstance(have, pl.Enum | pl.Categorical):
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
    if want == pl.Int64:
        if have.is_integer():
            return col.cast(pl.Int64), None
        if have.is_float() or isinstance(have, pl.Decimal):
            as_float = col.cast(pl.Float64)
            fractional = (as_float.is_not_null() & (as_float != as_float.round(0))).fill_null(False)
            reasons = None
            if fractional.any():
                reasons = _reasons(rows.filter(fractional), f"{name}: not a whole number")
            ints = pl.select(
                pl.when(pl.lit(fractional)).then(None).otherwise(pl.lit(as_float)).cast(pl.Int64)
            ).to_series()
            return ints.alias(name), reasons
    raise ContractSchemaError(
        f"table '{table}', column '{name}': type {have} cannot be read as {want}"
    )


def conform(spec: TableSpec, frame: pl.DataFrame) -> Conformed:
    """Select and convert the contract's columns; raise ContractSchemaError on schema problems."""
    missing = [c for c in spec.columns if c not in frame.columns]
    if missing:
        expected = ", ".join(f"{c} ({spec.columns[c]})" for c in missing)
        raise ContractSchemaError(f"table '{spec.name}': missing column(s) {expected}")
    rows = pl.Series(ROW, range(frame.height), dtype=pl.UInt32)
    columns: list[pl.Series] = []
    reasons: list[pl.DataFrame] = []
    for name, want in spec.columns.items():
        converted, why = _convert(spec.name, name, frame[name], want, rows)
        columns.append(converted.alias(name))
        if why is not None:
            reasons.append(why)
    conformed = pl.DataFrame([*columns, rows])
    row_reasons = (
        pl.concat(reasons)
        if reasons
        else pl.DataFrame(schema={ROW: pl.UInt32, "reason": pl.String})
    )
    extra = [c for c in frame.columns if c not in spec.columns]
    return Conformed(conformed, row_reasons, extra)
