"""The daily workflow's wiring: a finished step (successful or failed) starts the next for the
same day, once per run, and enrolment only after the day's lists; a failed step is recorded as
an alert; the unsubscribe command records opt-outs only for valid tokens; schedules' settings
fail at load with their name."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from dagster import (
    DagsterEventType,
    DagsterInstance,
    RunRequest,
    SkipReason,
    build_run_status_sensor_context,
    build_schedule_context,
    build_sensor_context,
    job,
    op,
)
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

from cs_assets.channels.email import unsubscribe_token
from cs_assets.cli import main
from cs_assets.defs.shared.resources import StateResource
from cs_assets.defs.workflow import (
    daily_workflow_sensor,
    playbook_dispatch_schedule,
    workflow_failure_alert,
    workflow_hour,
)
from cs_assets.settings import ConfigError
from cs_assets.state.schema import opt_outs, workflow_alerts
from cs_assets.state.store import state_engine


def finished(instance: DagsterInstance, job_name: str, status: DagsterRunStatus,
             partition: str) -> DagsterRun:
    run = DagsterRun(job_name=job_name, status=status, tags={"dagster/partition": partition})
    instance.add_run(run)
    return run


def test_a_finished_step_starts_the_next_for_its_day_even_after_a_failure():
    instance = DagsterInstance.ephemeral()
    start = build_sensor_context(instance=instance)
    assert isinstance(daily_workflow_sensor(start), SkipReason)  # starts watching from now
    ok = finished(instance, "health_updates_job", DagsterRunStatus.SUCCESS, "2026-03-02")
    failed = finished(instance, "churn_risk_job", DagsterRunStatus.FAILURE, "2026-03-02")
    lists = finished(instance, "cs_lists_job", DagsterRunStatus.SUCCESS, "2026-03-02")
    finished(instance, "playbook_enrolment_job", DagsterRunStatus.SUCCESS, "2026-03-02")  # end
    tick = build_sensor_context(instance=instance, cursor=start.cursor)
    requests = daily_workflow_sensor(tick)
    assert all(isinstance(r, RunRequest) for r in requests)
    assert sorted((r.job_name, r.partition_key, r.run_key) for r in requests) == [
        ("churn_risk_job", "2026-03-02", f"churn_risk_job:2026-03-02:{ok.run_id}"),
        ("cs_lists_job", "2026-03-02", f"cs_lists_job:2026-03-02:{failed.run_id}"),
        ("playbook_enrolment_job", "2026-03-02",
         f"playbook_enrolment_job:2026-03-02:{lists.run_id}"),
    ]
    again = daily_workflow_sensor(build_sensor_context(instance=instance, cursor=tick.cursor))
    assert isinstance(again, SkipReason)  # nothing new finished


def test_a_day_runs_step_by_step_and_enrols_only_after_its_lists():
    """The daemon's order: each tick sees only what has finished; the health run's end, or the
    churn step's, never starts the enrolment (it would enrol on features and scores alone)."""
    instance = DagsterInstance.ephemeral()
    context = build_sensor_context(instance=instance)
    daily_workflow_sensor(context)
    day = "2026-11-01"

    def tick() -> list[str]:
        nonlocal context
        context = build_sensor_context(instance=instance, cursor=context.cursor)
        result = daily_workflow_sensor(context)
        return [] if isinstance(result, SkipReason) else [r.job_name for r in result]

    assert tick() == []
    finished(instance, "health_updates_job", DagsterRunStatus.SUCCESS, day)
    assert tick() == ["churn_risk_job"]
    assert tick() == []  # the churn run is still going: nothing else starts
    finished(instance, "churn_risk_job", DagsterRunStatus.SUCCESS, day)
    assert tick() == ["cs_lists_job"]
    finished(instance, "cs_lists_job", DagsterRunStatus.FAILURE, day)
    assert tick() == ["playbook_enrolment_job"]  # on what exists, after the lists' failure
    finished(instance, "playbook_enrolment_job", DagsterRunStatus.SUCCESS, day)
    assert tick() == []


@op
def explode():
    raise RuntimeError("the champion model is missing")


@job
def doomed():
    explode()


def test_a_failed_step_is_recorded_as_an_alert(tmp_path):
    instance = DagsterInstance.ephemeral()
    result = doomed.execute_in_process(instance=instance, raise_on_error=False,
                                       tags={"dagster/partition": "2026-03-02"})
    failure = next(e for e in result.all_events
                   if e.event_type == DagsterEventType.RUN_FAILURE)
    context = build_run_status_sensor_context(
        sensor_name="workflow_failure_alert", dagster_event=failure, dagster_instance=instance,
        dagster_run=result.dagster_run).for_run_failure()
    url = f"sqlite:///{tmp_path / 'state.db'}"
    workflow_failure_alert(context, state=StateResource(url=url))
    workflow_failure_alert(context, state=StateResource(url=url))  # a re-delivered event
    engine = state_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(workflow_alerts)).all()
    engine.dispose()
    assert [(r.run_id, r.job_name, r.partition_key) for r in rows] == [
        (result.run_id, "doomed", "2026-03-02")]


def test_unsubscribe_command_records_a_valid_token_and_refuses_a_forged_one(
    tmp_path, monkeypatch, capsys
):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setenv("CS_STATE_URL", url)
    monkeypatch.setenv("CS_UNSUBSCRIBE_SECRET", "s3cret")
    main(["unsubscribe", "--token", unsubscribe_token("hh_7", b"s3cret")])
    with pytest.raises(SystemExit, match="not valid"):
        main(["unsubscribe", "--token", unsubscribe_token("hh_8", b"guessed")])
    main(["unsubscribe", "--household", "hh_9"])
    engine = state_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(opt_outs.c.household_id, opt_outs.c.channel)).all()
    engine.dispose()
    assert sorted(rows) == [("hh_7", "email"), ("hh_9", "email")]
    assert "hh_7: opted out" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["24", "-1", "six", "6.5"])
def test_a_bad_workflow_hour_names_the_variable(value):
    with pytest.raises(ConfigError, match="CS_WORKFLOW_HOUR"):
        workflow_hour({"CS_WORKFLOW_HOUR": value})
    assert workflow_hour({}) == 6


def test_the_dispatcher_schedule_sends_for_the_day_it_runs_on():
    context = build_schedule_context(
        scheduled_execution_time=datetime(2026, 3, 2, 10, 15, tzinfo=UTC))
    request = playbook_dispatch_schedule(context)
    assert request.partition_key == "2026-03-02"  # today's as-of partition (end_offset=1)
