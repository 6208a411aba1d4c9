"""Every command the README documents runs end to end at a tiny scale, as a user starts it
(a fresh process, its own CS_HOME): the `cs-assets` subcommands and the `make evaluate*` /
`make bench*` entry points. The figures they print are judged elsewhere; here a command that
no longer starts, or ends in an error, fails."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from cs_assets.state.schema import contact_log
from cs_assets.state.store import state_engine
from cs_assets.state.tasks import Task, file_step

BIN = Path(sys.executable).parent
END = "2026-11-01"


def run(args: list[str], home: Path, **env: str) -> str:
    """Run a command with CS_HOME (and DAGSTER_HOME) under `home`; its stdout, or a failure
    quoting the end of its output."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("CS_", "MLFLOW_"))}
    environ |= {"CS_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home"), **env}
    proc = subprocess.run(args, env=environ, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{args} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc.stdout


def json_line(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_demo_runs_end_to_end_with_every_check_passing(tmp_path):
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("CS_", "MLFLOW_"))}
    proc = subprocess.run(
        [str(BIN / "cs-assets"), "demo", "--households", "60", "--days", "2", "--end-date", END],
        env={**environ, "CS_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path / "dh")},
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Checks not passing: none" in proc.stdout
    # no Python warning (BetaWarning: ...) and no Dagster WARNING log line
    assert not re.search(r"Warning|WARNING", proc.stdout + proc.stderr), proc.stderr[-3000:]
    assert (tmp_path / "reports" / "weekly").is_dir() and (tmp_path / "state.db").is_file()
    # one platform clock: sends are stamped on the demo's day, and it stays for `make ui`
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    with engine.connect() as conn:
        sent = conn.execute(sa.text("SELECT min(sent_at), max(sent_at) FROM step_executions "
                                    "WHERE status = 'sent'")).one()
    engine.dispose()
    assert sent[0] is not None and sent[0][:10] == sent[1][:10] == END, sent
    assert (tmp_path / "reference_time").read_text().startswith(END)
    # the runs are the code location's: the UI lists them under their jobs and re-executes them
    script = ("from dagster import DagsterInstance\n"
              "for r in DagsterInstance.get().get_runs():\n"
              "    print(r.job_name, r.status.value, r.remote_job_origin.location_name,\n"
              "          r.tags.get('dagster/asset_partition_range_start', '-'))")
    runs = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**environ, "DAGSTER_HOME": str(tmp_path / "dh")}).stdout.split("\n")
    assert "health_updates_job SUCCESS cs_assets 2026-10-31" in runs
    jobs = {line.split()[0] for line in runs if " SUCCESS cs_assets " in line}
    assert jobs == {"health_updates_job", "churn_training_job", "churn_risk_job", "cs_lists_job",
                    "playbook_enrolment_job", "playbook_dispatch_job", "weekly_report_job",
                    "ebr_job", "war_stories_job"}


@pytest.mark.postgres
def test_simulate_then_load_postgres(tmp_path, fresh_pg_url):
    raw = tmp_path / "raw"
    out = run([str(BIN / "cs-assets"), "simulate", "--households", "60", "--end-date", END,
               "--out", str(raw)], tmp_path)
    assert "events in" in out and (raw / "households.parquet").is_file()
    out = run([str(BIN / "cs-assets"), "load-postgres", "--raw-dir", str(raw)], tmp_path,
              CS_RAW_POSTGRES_URL=fresh_pg_url)
    engine = sa.create_engine(fresh_pg_url)
    with engine.connect() as conn:
        households = conn.execute(sa.text("SELECT count(*) FROM raw.households")).scalar_one()
    engine.dispose()
    assert households == 60 and "raw.households: 60 rows" in out


def test_unsubscribe_by_household(tmp_path):
    out = run([str(BIN / "cs-assets"), "unsubscribe", "--household", "hh_000001"], tmp_path)
    assert "opted out of marketing email" in out
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT household_id FROM opt_outs")).scalars().all() == [
            "hh_000001"]
    engine.dispose()


def test_make_evaluate(tmp_path):
    line = json_line(run([sys.executable, "-m", "cs_assets.dev.evaluation.churn_report",
                          "--households", "120"], tmp_path))
    assert set(line["products"]) == {"petforce", "ledgerly"}  # each in its own process
    for product in line["products"].values():
        assert product["holdout_rows"] > 0 and product["champion_version"] == "1"
        assert {c["candidate"] for c in product["candidates"]} >= {"logistic", "hist_gbm"}
        interval = product["yardstick"]["champion_minus_baseline"]  # on the champion's split
        assert interval["low"] <= interval["difference"] <= interval["high"]
        assert 0 < product["metrics"]["yardstick"]["roc_auc"] < 1
    assert line["products"]["petforce"]["cox"] and not line["products"]["ledgerly"]["cox"]


def test_make_bench(tmp_path):
    line = json_line(run([sys.executable, "-m", "cs_assets.dev.benchmarks.features_bench",
                          "--households", "200", "--cache", str(tmp_path / "bench")], tmp_path))
    assert line["households"] == 200 and line["events"] > 0
    assert line["signals_columns"] > 0 and line["signals_seconds"] > 0  # timed apart
    assert set(line["seconds"]) == {"project", "duckdb", "pandas"}


def test_make_bench_training(tmp_path):
    line = json_line(run([sys.executable, "-m", "cs_assets.dev.benchmarks.training_bench",
                          "--households", "80", "--rows", "1000", "--big-rows", "2000"],
                         tmp_path))
    assert line["households"] == 80 and line["observations"] > 0
    assert [r["candidate"] for r in line["results"]] == ["spec_gbm", "hist_gbm", "hist_gbm"]


def test_contacts_prints_a_households_contact_log(tmp_path):
    engine = state_engine(f"sqlite:///{tmp_path / 'state.db'}")
    with engine.begin() as conn:
        conn.execute(sa.insert(contact_log), [dict(
            household_id="hh_000001", playbook="reengagement", template="win_back_offer",
            channel="email", message_id="<m1@x>", decision="deferred",
            reason="2 marketing emails in the last 24 hours (until 2026-03-03 11:00 UTC)",
            at=datetime(2026, 3, 2, 11, tzinfo=UTC))])
    engine.dispose()
    out = run([str(BIN / "cs-assets"), "contacts", "--household", "hh_000001"], tmp_path)
    assert "| 2026-03-02 11:00 | reengagement | win_back_offer | email | deferred |" in out
    assert "no message decided yet" in run(
        [str(BIN / "cs-assets"), "contacts", "--household", "hh_000002"], tmp_path)


def test_tasks_lists_and_closes_a_csm_task(tmp_path):
    engine = state_engine(f"sqlite:///{tmp_path / 'state.db'}")
    at = datetime(2026, 3, 2, 11, tzinfo=UTC)
    file_step(engine, message_id="<m1@x>", household_id="hh_000001",
              template="critical_health_alert", csm_id="csm_01",
              task=Task("URGENT: critical health score", at.date(), "Health 31", "high"),
              day=at.date(), quiet_days=14, now=at)
    engine.dispose()
    cli = str(BIN / "cs-assets")
    out = run([cli, "tasks", "list", "--csm", "csm_01"], tmp_path)
    assert "| 1 | hh_000001 | csm_01 | health_risk | open | high | 2026-03-02 |" in out
    assert run([cli, "tasks", "done", "1", "--outcome", "called"], tmp_path) == "task 1: done\n"
    assert run([cli, "tasks", "list", "--status", "open"], tmp_path) == "no tasks\n"
