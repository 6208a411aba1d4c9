"""The code location loads the way `make ui` and production load it."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_definitions_validate_from_the_repo_root_with_nothing_set(tmp_path):
    """A newcomer's first command, without make: the root dagster.yaml needs no variable."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DAGSTER_", "CS_", "MLFLOW_"))}
    dagster = Path(sys.executable).parent / "dagster"
    proc = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO, env={**env, "CS_HOME": str(tmp_path / "home")}, capture_output=True,
        text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "All code locations passed validation" in proc.stdout + proc.stderr


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


def test_the_state_tables_the_assets_touch_are_in_the_graph():
    """A state table read or written in an asset body is a node of the graph: the readers
    depend on `state/<table>`, the writers feed `state/writes/<table>`, and no cycle forms."""
    import re

    from dagster import AssetKey

    from cs_assets.definitions import defs
    from cs_assets.defs.state.assets import READ, WRITERS
    from cs_assets.state import schema

    assert set(READ) | set(WRITERS) <= set(schema.metadata.tables)
    touched = {name for path in (REPO / "cs_assets" / "defs").rglob("*.py")
               for name in re.findall(r"state_tables\.(\w+)", path.read_text())}
    assert touched <= set(READ) | set(WRITERS), touched - set(READ) - set(WRITERS)
    graph = defs.resolve_asset_graph()

    def parents(key: str) -> set[str]:
        return {k.to_user_string() for k in graph.get(AssetKey(key.split("/"))).parent_keys}

    for reader in ("household_features", "churn_snapshots", "proactive_checkin_candidates"):
        assert "state/checkins" in parents(reader)
    assert "state/journey_transitions" in parents("journey_transitions")
    assert parents("state/writes/journey_transitions") == {"journey_transitions"}
    assert parents("state/writes/checkins") == {"playbook_deliveries"}


def test_every_check_schedule_and_sensor_says_what_it_does():
    from cs_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    undescribed = [f"{spec.asset_key.to_user_string()}:{spec.name}"
                   for key in graph.get_all_asset_keys()
                   for spec in graph.get(key).assets_def.check_specs if not spec.description]
    undescribed += [s.name for s in [*defs.schedules, *defs.sensors] if not s.description]
    assert undescribed == []
