"""The code location loads the way `make ui` and production load it."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_dagster_definitions_validate_passes(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "CS_HOME": str(tmp_path / "home")}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dagster = Path(sys.executable).parent / "dagster"
    proc = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "All code locations passed validation" in proc.stdout + proc.stderr


def test_loading_the_code_prints_no_warning(tmp_path):
    """Every run and step process loads the code: a warning there floods a server's log."""
    env = {**os.environ, "CS_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", "import cs_assets.definitions"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "warning" not in proc.stderr.lower(), proc.stderr[-2000:]


def test_each_job_has_one_backfill_policy_so_a_backfill_is_one_run():
    """Mixed policies make Dagster fall back to one run per day for a job's backfill."""
    from dagster import BackfillPolicy

    from cs_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    policies = {job.name: {graph.get(key).assets_def.backfill_policy
                           for key in job.selection.resolve(graph)} for job in defs.jobs}
    assert all(len(found) == 1 for found in policies.values()), policies
    one_run = {BackfillPolicy.single_run()}
    for name in ("health_updates_job", "churn_risk_job", "cs_lists_job",
                 "playbook_enrolment_job", "daily_health_job"):
        assert policies[name] == one_run, name
