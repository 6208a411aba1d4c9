"""The spec's churn risk segments over a probability.

Bins are the spec's `pd.cut(bins=[0, 0.15, 0.35, 0.55, 1.0])`: closed on the right, so 0.15 is
Low and 0.55 is High. `pd.cut` leaves a probability of exactly 0 outside every bin (NaN); here
it is Low, as any reader of the table would expect.
"""

from __future__ import annotations

import polars as pl

RISK_SEGMENTS = ("Low", "Medium", "High", "Critical")
RISK_CUTS = (0.15, 0.35, 0.55)


def risk_rank(probability: pl.Expr) -> pl.Expr:
    """1 for the riskiest household (ties share the better rank): `risk_rank <= N` is the
    top N a team with capacity for N calls can reach."""
    return probability.rank("min", descending=True).cast(pl.Int64)


def risk_segment(probability: pl.Expr, cuts: tuple[float, ...] = RISK_CUTS) -> pl.Expr:
    """Low <= 0.15 < Medium <= 0.35 < High <= 0.55 < Critical; null stays null."""
    expr = pl.when(probability.is_null()).then(None)
    for cut, label in zip(cuts, RISK_SEGMENTS, strict=False):
        expr = expr.when(probability <= cut).then(pl.lit(label))
    return expr.otherwise(pl.lit(RISK_SEGMENTS[-1])).cast(pl.Enum(RISK_SEGMENTS))
