"""`household_features` for one as-of day with the project's own code (polars), and the
scoring chain after it: health scores, trend alerts, tiers and explanations.

Every table is read with only the columns the features use (as the pandas and DuckDB
versions do). The events are scanned lazily (each reduction reads only the columns and rows
it needs), their canonical kinds come from the product's event mapping (the configuration
the ingestion uses), and `FeatureInputs.build(..., as_of_days=[day])` reduces them for that
one day; `features_as_of` does the rest. Run: `python -m
cs_assets.dev.benchmarks.project_features --raw DIR --as-of DAY --out FILE.parquet`.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from cs_assets.contract.events import load_event_mapping
from cs_assets.dev.benchmarks.common import EVENT_COLUMNS, TABLE_COLUMNS, parquet_glob, run_engine
from cs_assets.features.daily import prepare_events
from cs_assets.features.household import FeatureInputs, features_as_of
from cs_assets.features.product_signals import (
    MetricsConfig,
    plan_signals,
    point_signals,
)
from cs_assets.scoring import (
    explain_health,
    health_scores,
    health_tiers,
    load_scorecard,
    trend_alerts,
)


def features(raw: Path, as_of: date) -> pl.DataFrame:
    scans = [
        pl.scan_parquet(parquet_glob(raw, name)).select(columns)
        for name, columns in TABLE_COLUMNS.items()
    ]
    tables = dict(zip(TABLE_COLUMNS, pl.collect_all(scans), strict=True))
    events = pl.scan_parquet(parquet_glob(raw, "activity_events")).select(EVENT_COLUMNS)
    inputs = FeatureInputs.build(
        activity_events=events, event_mapping=load_event_mapping(), as_of_days=[as_of], **tables
    )
    return features_as_of(inputs, as_of)


def product_signals(raw: Path, as_of: date) -> dict[str, Any]:
    """The product's own signals (the default metrics for every event type) for the same day,
    timed on their own: the features above are the 49 fixed columns."""
    started = time.perf_counter()
    events = prepare_events(
        pl.scan_parquet(parquet_glob(raw, "activity_events")).select(EVENT_COLUMNS),
        "event_type")
    plan = plan_signals(events, MetricsConfig())  # every type ever seen, as the asset does
    columns = point_signals(events, plan, as_of)
    return {"signals_seconds": time.perf_counter() - started,
            "signals_columns": columns.width - 1, "signals_event_types": len(plan.event_types)}


def scoring_chain(frame: pl.DataFrame, raw: Path, as_of: date) -> dict[str, Any]:
    """features -> health scores -> trend alerts -> tiers (+ explanations), timed; then the
    product's own signals, timed apart."""
    started = time.perf_counter()
    scorecard = load_scorecard()
    scores = health_scores(frame, scorecard)
    alerts = trend_alerts(frame, scorecard)
    tiers = health_tiers(scores, alerts, scorecard)
    reasons = explain_health(frame, scorecard)
    seconds = time.perf_counter() - started
    return {
        **product_signals(raw, as_of),
        "scoring_seconds": seconds,
        "scoring_rows": {
            "health_scores": scores.height,
            "trend_alerts": alerts.height,
            "health_tiers": tiers.height,
            "explanations": reasons.height,
        },
    }


def _write(frame: pl.DataFrame, path: Path) -> None:
    frame.write_parquet(path)


if __name__ == "__main__":
    run_engine("project", features, _write, after=scoring_chain)
