"""Kaplan-Meier survival by group, the log-rank test across groups, and the plot.

The groupings of the survival section: plan type, and a health segment bucketed from the
early health score like the health tiers (critical < 40, at risk 40-60, healthy >= 60), with
"unknown" for households never scored in their first 90 days, kept visible rather than dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from lifelines import KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test
from matplotlib.figure import Figure

from cs_assets.figures import figure_png

SEGMENT_EDGES = (40.0, 60.0)  # scorecard tier thresholds: critical_below, at_risk_below


def health_segment(column: str = "avg_health_first_90d") -> pl.Expr:
    """critical / at_risk / healthy by the tier thresholds, "unknown" when null."""
    score = pl.col(column)
    critical, at_risk = SEGMENT_EDGES
    return (
        pl.when(score.is_null())
        .then(pl.lit("unknown"))
        .when(score < critical)
        .then(pl.lit("critical"))
        .when(score < at_risk)
        .then(pl.lit("at_risk"))
        .otherwise(pl.lit("healthy"))
        .alias("health_segment")
    )


@dataclass(frozen=True)
class SurvivalByGroup:
    """Kaplan-Meier estimates of one grouping.

    groups: group, households, churned, median_days (null when the curve never falls to
    0.5, `median_reached` false). curves: group, tenure_days, survival, ci_low, ci_high
    (95 %, one row per distinct tenure of the group). logrank_p: the multivariate log-rank
    test that all groups share one survival curve (null with fewer than two groups).
    """

    by: str
    groups: pl.DataFrame
    curves: pl.DataFrame
    logrank_statistic: float | None
    logrank_p: float | None


def _fit_group(name: str, durations: np.ndarray, events: np.ndarray):
    km = KaplanMeierFitter().fit(durations, events, label=name)
    ci = km.confidence_interval_survival_function_
    curve = pl.DataFrame(
        {
            "group": name,
            "tenure_days": km.survival_function_.index.to_numpy().astype(np.float64),
            "survival": km.survival_function_.iloc[:, 0].to_numpy(),
            "ci_low": ci.iloc[:, 0].to_numpy(),
            "ci_high": ci.iloc[:, 1].to_numpy(),
        }
    )
    median = float(km.median_survival_time_)
    row = {
        "group": name,
        "households": int(durations.size),
        "churned": int(events.sum()),
        "median_days": median if np.isfinite(median) else None,
        "median_reached": bool(np.isfinite(median)),
    }
    return row, curve


def kaplan_meier(
    frame: pl.DataFrame, by: str, duration_col: str = "tenure_days", event_col: str = "churned"
) -> SurvivalByGroup:
    """Kaplan-Meier curve and median of each value of `by` (nulls form a "null" group)."""
    data = frame.select(
        pl.col(by).cast(pl.String).fill_null("null").alias("group"),
        pl.col(duration_col).cast(pl.Float64),
        pl.col(event_col).cast(pl.Int64),
    )
    rows, curves = [], []
    for (name,), part in data.sort("group").group_by("group", maintain_order=True):
        row, curve = _fit_group(name, part[duration_col].to_numpy(), part[event_col].to_numpy())
        rows.append(row)
        curves.append(curve)
    statistic = p_value = None
    if len(rows) > 1:
        test = multivariate_logrank_test(
            data[duration_col].to_numpy(), data["group"].to_numpy(), data[event_col].to_numpy()
        )
        statistic, p_value = float(test.test_statistic), float(test.p_value)
    groups = pl.DataFrame(
        rows,
        schema={
            "group": pl.String,
            "households": pl.Int64,
            "churned": pl.Int64,
            "median_days": pl.Float64,
            "median_reached": pl.Boolean,
        },
    )
    return SurvivalByGroup(by, groups, pl.concat(curves), statistic, p_value)


def survival_plot_png(result: SurvivalByGroup, *, dpi: int = 100) -> bytes:
    """PNG of the step curves with 95 % bands, the log-rank p-value in the title."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    for (name,), curve in result.curves.group_by("group", maintain_order=True):
        t = curve["tenure_days"].to_numpy()
        line = ax.step(t, curve["survival"].to_numpy(), where="post", label=name)[0]
        ax.fill_between(
            t,
            curve["ci_low"].to_numpy(),
            curve["ci_high"].to_numpy(),
            step="post",
            alpha=0.2,
            color=line.get_color(),
        )
    p = "n/a" if result.logrank_p is None else f"{result.logrank_p:.2g}"
    ax.set(
        title=f"Kaplan-Meier survival by {result.by} (log-rank p = {p})",
        xlabel="tenure (days)",
        ylabel="share not churned",
        ylim=(0, 1.02),
    )
    ax.legend(loc="lower left")
    return figure_png(fig, dpi=dpi)
