"""A component score as data: a baseline plus signed per-rule points, clipped to 0–100.

Keeping each rule's points as its own expression is what makes scores explainable: the same
expressions give the score, the per-rule point columns, and the reasons (see `explanations`).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from cs_assets.vocabulary import KEYS


@dataclass(frozen=True)
class Rule:
    """One scoring rule: the signed points it adds for each row (0, never null, when it does not
    fire) and the text that says what the household did."""

    name: str
    points: pl.Expr
    reason: pl.Expr


@dataclass(frozen=True)
class Component:
    """A component score: `baseline` plus its rules' points, clipped to 0–100. `label` names it
    in reasons."""

    name: str
    score_column: str
    label: str
    baseline: float
    rules: tuple[Rule, ...]

    def points_column(self, rule: Rule) -> str:
        return f"{self.name}__{rule.name}"

    def score(self) -> pl.Expr:
        points = (r.points for r in self.rules)
        total = pl.sum_horizontal(pl.lit(self.baseline, pl.Float64), *points)
        return total.clip(0, 100).alias(self.score_column)

    def columns(self) -> list[pl.Expr]:
        """The clipped score and one points column per rule (`<component>__<rule>`)."""
        points = [r.points.cast(pl.Float64).alias(self.points_column(r)) for r in self.rules]
        return [self.score(), *points]


def component_frame(
    features: pl.DataFrame | pl.LazyFrame, *components: Component
) -> pl.DataFrame:
    """Household keys, then each component's score and per-rule points columns."""
    columns = [c for component in components for c in component.columns()]
    return features.lazy().select(*KEYS, *columns).collect()


def count(column: str) -> pl.Expr:
    """A count feature where null means no data, i.e. none."""
    return pl.col(column).fill_null(0)


def shortfall(value: pl.Expr, weight: float, target: float) -> pl.Expr:
    """Points a continuous part loses from full marks: its share of 100 times how far the value
    falls short of the target (0 at or above the target, the whole share at 0 or null)."""
    reached = (value.fill_null(0) / target).clip(0, 1)
    return -100 * weight * (1 - reached)
