"""The one trend formula shared by features, value delivery and trend alerts."""

from __future__ import annotations

import polars as pl


def trend(current: str | pl.Expr, previous: str | pl.Expr) -> pl.Expr:
    """(current - previous) / previous, the spec's relative change of a 30-day window against the
    30 days before it. Ranges over [-1, inf): -1 is "stopped", +1 "doubled".

    Null when previous is 0 or null (no baseline to compare with) or current is null; each rule
    says what it does with a null trend instead of dividing by zero.
    """
    cur = pl.col(current) if isinstance(current, str) else current
    prev = pl.col(previous) if isinstance(previous, str) else previous
    return pl.when(prev > 0).then((cur - prev) / prev).cast(pl.Float64)
