"""String ids as polars expressions: fixed-width, zero-padded, deterministic."""

from __future__ import annotations

import polars as pl


def padded(prefix: str, number: pl.Expr, width: int) -> pl.Expr:
    """`prefix` + number zero-padded to `width` digits (vectorized, no per-row format)."""
    return pl.lit(prefix) + (number + 10**width).cast(pl.String).str.slice(1)


def id_width(n: int) -> int:
    """Digits of household numbers: six (hh_000001) unless there are more households."""
    return max(6, len(str(n)))


def household_id(h: pl.Expr, width: int) -> pl.Expr:
    """hh_000001 for household index 0."""
    return padded("hh_", h + 1, width)


def slot_id(prefix: str, h: pl.Expr, slot: pl.Expr, width: int) -> pl.Expr:
    """Member / pet ids: u_000001_0 is the owner of hh_000001, pet_000001_1 its second pet."""
    return padded(prefix, h + 1, width) + pl.lit("_") + slot.cast(pl.String)


def sequence_id(prefix: str, start: int, width: int = 9) -> pl.Expr:
    """Row-number ids continuing from `start` (ev_000000001 ...)."""
    return padded(prefix, pl.int_range(pl.len(), dtype=pl.Int64) + start + 1, width)
