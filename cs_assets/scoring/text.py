"""Number formatting for reason strings, as polars expressions (no per-row Python)."""

from __future__ import annotations

import polars as pl

MINUS = "\u2212"


def number(value: pl.Expr, decimals: int = 1) -> pl.Expr:
    """`12`, `12.5`: rounded, without a trailing `.0` for whole numbers."""
    rounded = value.round(decimals, mode="half_away_from_zero")
    return (
        pl.when(rounded == rounded.floor())
        .then(rounded.cast(pl.Int64).cast(pl.String))
        .otherwise(rounded.cast(pl.String))
    )


def signed(value: pl.Expr, decimals: int = 1) -> pl.Expr:
    """`+15`, `−30`, `−12.5`: the sign always shown, with a typographic minus."""
    rounded = value.round(decimals, mode="half_away_from_zero")
    sign = pl.when(rounded < 0).then(pl.lit(MINUS)).otherwise(pl.lit("+"))
    return pl.concat_str(sign, number(rounded.abs(), decimals))


def percent_change(trend: pl.Expr) -> pl.Expr:
    """A trend as a signed whole percentage: -0.62 -> `−62%`."""
    return pl.concat_str(signed(trend * 100, 0), pl.lit("%"))


def counted(count: pl.Expr, singular: str, plural: str) -> pl.Expr:
    """`1 ticket`, `3 tickets`."""
    noun = pl.when(count == 1).then(pl.lit(singular)).otherwise(pl.lit(plural))
    return pl.concat_str(count.cast(pl.String), pl.lit(" "), noun)
