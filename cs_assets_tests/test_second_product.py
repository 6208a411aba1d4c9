"""Ledgerly, a product unlike PetForce (one user per account, one paid plan, its own eight
event types, no members, pets, tickets, payments or NPS): simulated with its ground truth,
and the whole platform run on it end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl

from cs_assets.contract.tables import REQUIRED_TABLES
from cs_assets.dev.products import config_env
from cs_assets.dev.products.ledgerly.simulate import EVENT_TYPES, MECHANISMS, simulate_ledgerly

BIN = Path(sys.executable).parent
END = date(2026, 11, 1)


def test_the_simulation_writes_only_the_required_tables_with_its_truth(tmp_path):
    rows = simulate_ledgerly(tmp_path / "a", households=300, end_date=END, seed=3)
    again = simulate_ledgerly(tmp_path / "b", households=300, end_date=END, seed=3)
    assert rows == again  # deterministic per seed
    written = {p.stem for p in (tmp_path / "a").glob("*.parquet")} | {"activity_events"}
    assert written == set(REQUIRED_TABLES)
    events = pl.read_parquet(tmp_path / "a" / "activity_events" / "*.parquet")
    assert set(events["event_type"]) == set(EVENT_TYPES)
    assert events["session_minutes"].null_count() == events.height  # no minutes
    households = pl.read_parquet(tmp_path / "a" / "households.parquet")
    truth = pl.read_parquet(tmp_path / "a" / "_truth" / "households.parquet")
    both = households.join(truth, on="household_id", suffix="_truth")
    assert (both["churned_at"].is_null() == both["churn_mechanism"].is_null()).all()
    assert set(truth["churn_mechanism"].drop_nulls()) <= set(MECHANISMS)
    assert truth["churn_mechanism"].value_counts()["count"].min() > 0
    late = events.join(households, on="household_id").filter(
        (pl.col("occurred_at") < pl.col("created_at"))
        | (pl.col("occurred_at") >= pl.col("churned_at")))
    assert late.height == 0
    hazard = pl.read_parquet(tmp_path / "a" / "_truth" / "hazard_daily.parquet")
    assert hazard["p_churn_30d_known"].is_between(0, 1).all()
    # what is known on the day is part of what will happen: never more likely
    assert (hazard["p_churn_30d_known"] <= hazard["p_churn_30d"] + 1e-12).all()
    assert (hazard["p_churn_30d_known"] < hazard["p_churn_30d"] - 1e-6).any()


def test_the_platform_runs_end_to_end_on_the_second_product(tmp_path):
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("CS_", "MLFLOW_"))}
    environ |= {"CS_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path / "dh"),
                **config_env("ledgerly")}
    proc = subprocess.run(
        [str(BIN / "cs-assets"), "demo", "--product", "ledgerly", "--households", "150",
         "--days", "2", "--end-date", END.isoformat()],
        env=environ, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "cs_assets demo finished" in out
    # its own event types are kept, unmapped ones only warn
    assert "Checks not passing: activity_events:event_types_mapped (WARN)" in out
    assert "Churn model (out-of-time holdout" in out and "Survival (Cox" in out
    assert (tmp_path / "reports" / "weekly").is_dir()
    scores = pl.read_parquet(tmp_path / "storage" / "health_scores" / "*.parquet")
    assert scores["payment_health_score"].null_count() == scores.height  # no payments
    assert scores["health_score"].null_count() == 0
    # its sessions (app_open) carry no minutes: kept, and the duration features not available
    quarantine = pl.read_parquet(tmp_path / "storage" / "activity_events_quarantine.parquet")
    assert not quarantine["quarantine_reason"].str.contains("session_minutes").any()
    features = pl.read_parquet(tmp_path / "storage" / "household_features" / "*.parquet")
    assert features["avg_session_minutes_30d"].null_count() == features.height
    assert features["active_days_30d"].max() > 0


def test_the_demo_refuses_a_product_without_its_configuration(tmp_path):
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("CS_", "MLFLOW_"))}
    proc = subprocess.run(
        [str(BIN / "cs-assets"), "demo", "--product", "ledgerly", "--households", "10"],
        env={**environ, "CS_HOME": str(tmp_path)}, capture_output=True, text=True,
        timeout=300)
    assert proc.returncode != 0
    assert "export CS_PRODUCT=" in proc.stderr
