"""The demo's runs, launched through the Dagster instance against the `cs_assets` code
location, so they show in the UI's timeline and under their jobs and can be re-executed.

The runs execute in this process (the demo already loaded the definitions) with the
in-process executor: a subprocess per run or per step would load the code location again.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus
from dagster._core.instance.ref import InstanceRef
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget

LOCATION = "cs_assets"  # workspace.yaml's location name: the UI files the runs under it
IN_PROCESS = {
    "run_launcher": {"module": "dagster._core.launcher.sync_in_memory_run_launcher",
                     "class": "SyncInMemoryRunLauncher"},
    "run_coordinator": {"module": "dagster._core.run_coordinator",
                        "class": "DefaultRunCoordinator"},
}
IN_PROCESS_EXECUTOR = {"execution": {"config": {"in_process": {}}}}


@dataclass
class LaunchedRun:
    """What the demo's summary reads of a finished run."""

    instance: DagsterInstance
    run_id: str

    @property
    def success(self) -> bool:
        return self.instance.get_run_by_id(self.run_id).status == DagsterRunStatus.SUCCESS

    def _events(self, kind: DagsterEventType) -> list:
        return [entry.dagster_event for entry in self.instance.all_logs(self.run_id, of_type=kind)]

    def get_asset_materialization_events(self) -> list:
        return self._events(DagsterEventType.ASSET_MATERIALIZATION)

    def get_asset_check_evaluations(self) -> list:
        return [event.event_specific_data
                for event in self._events(DagsterEventType.ASSET_CHECK_EVALUATION)]


class Launcher:
    def __init__(self, instance: DagsterInstance, context: WorkspaceProcessContext) -> None:
        self.instance, self.context = instance, context

    def run(self, job_name: str, *, tags: Mapping[str, str] | None = None,
            run_config: Mapping | None = None) -> LaunchedRun:
        """Create the run of the code location's job and launch it; returns once it ended."""
        workspace = self.context.create_request_context()
        location = workspace.get_code_location(LOCATION)
        repository = next(iter(location.get_repositories().values()))
        job = repository.get_full_job(job_name)
        config = {**IN_PROCESS_EXECUTOR, **(run_config or {})}
        plan = location.get_execution_plan(job, config, step_keys_to_execute=None,
                                           known_state=None, instance=self.instance)
        run = self.instance.create_run(
            job_name=job_name, run_id=None, run_config=config,
            resolved_op_selection=None, step_keys_to_execute=None, op_selection=None,
            status=None, root_run_id=None, parent_run_id=None,
            tags={**job.tags, **(tags or {})}, job_snapshot=job.job_snapshot,
            execution_plan_snapshot=plan.execution_plan_snapshot,
            parent_job_snapshot=job.parent_job_snapshot,
            remote_job_origin=job.get_remote_origin(), job_code_origin=job.get_python_origin(),
            asset_selection=None, asset_check_selection=None, asset_graph=repository.asset_graph,
        )
        self.instance.submit_run(run.run_id, workspace)
        return LaunchedRun(self.instance, run.run_id)


@contextmanager
def launcher(dagster_home: Path) -> Iterator[Launcher]:
    """The instance under `dagster_home`, launching runs in this process, and the code
    location `cs_assets.definitions` loaded in this process under the workspace's name."""
    instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home),
                                                             overrides=IN_PROCESS))
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(executable_path=sys.executable, module_name="cs_assets.definitions",
                             working_directory=os.getcwd()),
        location_name=LOCATION,
    )
    with instance, WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget([origin])) as ctx:
        yield Launcher(instance, ctx)
