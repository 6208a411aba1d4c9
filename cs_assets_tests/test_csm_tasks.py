"""CSM tasks with a lifecycle, through the dispatcher as the playbooks file them, on SQLite and
PostgreSQL: a re-fired alert updates the household's open task, a done or snoozed task holds
the next steps of its reason back, one live task per household and reason holds in the
database too, tasks follow the household's CSM, and the calls a CRM or the CLI makes refuse an
unknown id and a closed task."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import polars as pl
import pytest
import sqlalchemy as sa
import yaml

from cs_assets.channels.tables import CsmTaskChannel, Task
from cs_assets.cli import main
from cs_assets.playbooks.enrolment import StepPlan
from cs_assets.state import delivery as d
from cs_assets.state.schema import csm_assignments, csm_task_steps, csm_tasks, step_executions
from cs_assets.state.store import state_engine
from cs_assets.state.tasks import (
    IllegalTransition,
    TaskError,
    UnknownTask,
    complete_task,
    dismiss_task,
    file_step,
    list_tasks,
    reassign_tasks,
    snooze_task,
    task_load,
    wake_snoozed,
)
from cs_assets_tests.factories import enrol, schedule_steps

D0 = date(2026, 3, 2)
CRITICAL, AT_RISK, CALL = "critical_health_alert", "at_risk_health_alert", "csm_outreach_call"


def at(day: date, hour: int = 11) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


@pytest.fixture
def engine(url):
    engine = state_engine(url)
    assign(engine, [(h, D0, "csm_01", "csm") for h in ("hh_1", "hh_2")])
    yield engine
    engine.dispose()


def assign(engine, rows: list[tuple[str, date, str, str]]) -> None:
    with engine.begin() as conn:
        conn.execute(sa.insert(csm_assignments), [
            dict(household_id=h, as_of=day, csm_id=csm, route=route, assigned_at=at(day, 0))
            for h, day, csm, route in rows])


def alert(engine, household: str, day: date, template: str = CRITICAL) -> None:
    """The playbook of `template` enrols `household` on `day`: one CSM-task step due then."""
    context = {template: {"title": template, "notes": f"health on {day}", "priority": "high"}}
    enrolment = enrol(engine, template, household, day, holdout=False, now=at(day, 6),
                      context=context)
    schedule_steps(engine, enrolment, [StepPlan(0, at(day, 10), "csm_task", template)])


def dispatch(engine, day: date) -> dict[str, int]:
    """The day's dispatcher pass; each step's task as the content builders shape it."""
    channel = CsmTaskChannel(lambda: at(day), quiet_days=14)

    def send(step: d.DueStep, tx: d.Tx) -> None:
        channel.send(step, Task(f"{step.template} on {day}", step.due_at.date(),
                                f"health on {day}", "high" if step.template == CRITICAL
                                else "normal"), tx)

    return dict(d.dispatch(engine, "w1", send, lambda: at(day)))


def tasks(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.select(csm_tasks).order_by(csm_tasks.c.task_id)).all()


def skipped(engine) -> list[str]:
    with engine.connect() as conn:
        return conn.execute(sa.select(step_executions.c.skipped_reason)
                            .where(step_executions.c.status == "skipped")
                            .order_by(step_executions.c.step_id)).scalars().all()


def test_a_refired_alert_updates_the_open_task_and_a_done_one_holds_the_next_back(engine):
    alert(engine, "hh_1", D0)
    assert dispatch(engine, D0) == {"sent": 1}
    [opened] = tasks(engine)
    assert (opened.reason, opened.status, opened.priority, opened.refires) == (
        "health_risk", "open", "high", 0)

    # a week on the household is at risk (the other health alert): the same task, updated
    week = D0 + timedelta(days=7)
    alert(engine, "hh_1", week, AT_RISK)
    alert(engine, "hh_1", week, CALL)  # another reason: its own task
    assert dispatch(engine, week) == {"sent": 2}
    refired, call = tasks(engine)
    assert refired.task_id == opened.task_id and refired.message_id != opened.message_id
    assert (refired.status, refired.refires, refired.notes) == ("open", 1, f"health on {week}")
    # waiting work never looks newer or less urgent: the first due day, the higher priority
    assert (refired.due_on, refired.priority) == (D0, "high")
    assert (call.reason, call.due_on) == (CALL, week)
    with engine.connect() as conn:
        linked = conn.execute(sa.select(csm_task_steps.c.template)
                              .where(csm_task_steps.c.task_id == opened.task_id)).scalars()
        assert sorted(linked) == [AT_RISK, CRITICAL]

    complete_task(engine, opened.task_id, "called: renewing", "owner was travelling",
                  at(week + timedelta(days=1), 15))
    done = tasks(engine)[0]
    assert (done.status, done.outcome, done.note) == ("done", "called: renewing",
                                                      "owner was travelling")
    # the next critical alert within the quiet period is held back, not re-opened
    alert(engine, "hh_1", D0 + timedelta(days=14))
    assert dispatch(engine, D0 + timedelta(days=14)) == {"skipped": 1}
    assert skipped(engine) == [
        f"task {opened.task_id} (health_risk) done on 2026-03-10: quiet until 2026-03-24"]
    assert [t.status for t in tasks(engine)] == ["done", "open"]
    # on the day the quiet period ends a new task opens
    alert(engine, "hh_1", date(2026, 3, 24))
    assert dispatch(engine, date(2026, 3, 24)) == {"sent": 1}
    assert [(t.reason, t.status) for t in tasks(engine)] == [
        ("health_risk", "done"), (CALL, "open"), ("health_risk", "open")]


def test_a_snoozed_task_holds_steps_back_until_its_day_then_is_open_again(engine):
    for household in ("hh_1", "hh_2"):
        alert(engine, household, D0)
    dispatch(engine, D0)
    first, second = tasks(engine)
    until = D0 + timedelta(days=10)
    for task in (first, second):
        snooze_task(engine, task.task_id, until, "back from holiday then", at(D0, 16))
    assert [(t.status, t.snoozed_until) for t in tasks(engine)] == [("snoozed", until)] * 2

    alert(engine, "hh_1", D0 + timedelta(days=7))
    assert dispatch(engine, D0 + timedelta(days=7)) == {"skipped": 1}
    assert skipped(engine) == [f"task {first.task_id} (health_risk) snoozed until {until}"]

    # the day the snooze ends: a step of its reason re-opens the task itself ...
    alert(engine, "hh_1", until)
    assert dispatch(engine, until) == {"sent": 1}
    # ... and the daily run opens the others
    assert wake_snoozed(engine, until - timedelta(days=1), at(until)) == 0
    assert wake_snoozed(engine, until, at(until)) == 1
    assert [(t.task_id, t.status, t.snoozed_until, t.refires) for t in tasks(engine)] == [
        (first.task_id, "open", None, 1), (second.task_id, "open", None, 0)]


def test_one_live_task_per_household_and_reason_holds_in_the_database(engine):
    row = dict(household_id="hh_1", csm_id="csm_01", title="t", notes="", priority="normal",
               due_on=D0, created_at=at(D0), updated_at=at(D0), reason="health_risk")

    def insert(message_id: str, **values) -> None:
        with engine.begin() as conn:
            conn.execute(sa.insert(csm_tasks).values({**row, "message_id": message_id,
                                                      **values}))

    insert("<m1>", status="done", outcome="called", closed_at=at(D0))
    insert("<m2>", status="dismissed", closed_at=at(D0))  # closed ones do not count
    insert("<m3>")  # open
    insert("<m4>", reason="csm_outreach_call")  # another reason
    insert("<m5>", household_id="hh_2")  # another household
    for values in ({}, {"status": "snoozed", "snoozed_until": D0}):
        with pytest.raises(sa.exc.IntegrityError):
            insert("<m6>", **values)
    with pytest.raises(sa.exc.IntegrityError):  # a done task says what came of it
        insert("<m7>", reason="x", status="done", closed_at=at(D0))


def test_a_step_filed_again_writes_nothing(engine):
    args = dict(message_id="<step-1>", household_id="hh_1", template=CRITICAL, csm_id="csm_01",
                task=Task("t", D0, "n", "high"), day=D0, quiet_days=14, now=at(D0))
    first = file_step(engine, **args)
    assert file_step(engine, **{**args, "now": at(D0, 12)}) == first
    [task] = tasks(engine)
    assert (task.refires, task.updated_at) == (0, at(D0))
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(csm_task_steps)) == 1


def test_changes_refuse_an_unknown_id_a_closed_task_and_a_snooze_into_the_past(engine):
    alert(engine, "hh_1", D0)
    dispatch(engine, D0)
    task_id = tasks(engine)[0].task_id
    with pytest.raises(UnknownTask, match="no task 999"):
        complete_task(engine, 999, "called", None, at(D0))
    with pytest.raises(TaskError, match="an outcome is required"):
        complete_task(engine, task_id, "  ", None, at(D0))
    with pytest.raises(TaskError, match="snooze until a day after 2026-03-02"):
        snooze_task(engine, task_id, D0, None, at(D0))
    dismiss_task(engine, task_id, "the alert was wrong", at(D0, 12))
    for change in (lambda: complete_task(engine, task_id, "called", None, at(D0)),
                   lambda: snooze_task(engine, task_id, D0 + timedelta(days=3), None, at(D0)),
                   lambda: dismiss_task(engine, task_id, None, at(D0))):
        with pytest.raises(IllegalTransition, match=f"task {task_id} is dismissed"):
            change()
    [task] = tasks(engine)
    assert (task.status, task.note, task.closed_at) == ("dismissed", "the alert was wrong",
                                                        at(D0, 12))


def test_tasks_follow_the_households_csm(engine):
    for household in ("hh_1", "hh_2"):
        alert(engine, household, D0)
        alert(engine, household, D0, CALL)
    dispatch(engine, D0)
    hh_2_call = next(t for t in tasks(engine) if t.household_id == "hh_2" and t.reason == CALL)
    complete_task(engine, hh_2_call.task_id, "called", None, at(D0, 15))
    day = D0 + timedelta(days=1)
    assign(engine, [("hh_1", day, "csm_02", "csm"),  # a new CSM
                    ("hh_2", day, "automated_cs", "automated"),  # downgraded to automated CS
                    ("hh_2", day + timedelta(days=1), "csm_02", "csm")])  # after the day
    assert reassign_tasks(engine, day, at(day)) == 2
    assert reassign_tasks(engine, day, at(day)) == 0
    owners = {(t.household_id, t.reason, t.status): t.csm_id for t in tasks(engine)}
    assert owners == {("hh_1", "health_risk", "open"): "csm_02", ("hh_1", CALL, "open"): "csm_02",
                      ("hh_2", "health_risk", "open"): "csm_01", ("hh_2", CALL, "done"): "csm_01"}


def test_lists_and_load_per_csm(engine):
    assign(engine, [("hh_3", D0, "csm_02", "csm")])
    for household in ("hh_1", "hh_2", "hh_3"):
        alert(engine, household, D0)
    alert(engine, "hh_1", D0 + timedelta(days=3), CALL)
    dispatch(engine, D0 + timedelta(days=3))
    ids = {(t.household_id, t.reason): t.task_id for t in tasks(engine)}
    snooze_task(engine, ids["hh_2", "health_risk"], D0 + timedelta(days=9), None, at(D0, 12))
    assert list_tasks(engine, csm_id="csm_01")["household_id"].to_list() == ["hh_1", "hh_2",
                                                                             "hh_1"]
    assert list_tasks(engine, status="snoozed")["household_id"].to_list() == ["hh_2"]
    overdue = list_tasks(engine, overdue_on=D0 + timedelta(days=3))
    assert overdue.select("household_id", "reason").rows() == [("hh_1", "health_risk"),
                                                               ("hh_3", "health_risk")]
    with pytest.raises(TaskError, match="status must be one of"):
        list_tasks(engine, status="closed")
    load = task_load(engine, D0 + timedelta(days=3), at(D0 + timedelta(days=4), 0),
                     {"csm_01": 1, "ops_01": 40})
    assert load.rows() == [("csm_01", 3, 2, 1, 1), ("csm_02", 1, 1, 1, None),
                           ("ops_01", 0, 0, 0, 40)]


def test_the_tasks_commands(engine, url, monkeypatch, capsys):
    monkeypatch.setenv("CS_STATE_URL", url)
    monkeypatch.setenv("CS_REFERENCE_TIME", at(D0 + timedelta(days=2)).isoformat())
    alert(engine, "hh_1", D0)
    alert(engine, "hh_2", D0, CALL)
    dispatch(engine, D0)
    health, call = (t.task_id for t in tasks(engine))
    capsys.readouterr()
    main(["tasks", "list", "--csm", "csm_01", "--overdue"])
    listed = capsys.readouterr().out
    assert listed.startswith("| task_id | household_id | csm_id | reason | status |")
    assert f"| {health} | hh_1 | csm_01 | health_risk | open | high | 2026-03-02 |" in listed
    main(["tasks", "done", str(health), "--outcome", "called: renewing", "--note", "ok"])
    main(["tasks", "snooze", str(call), "--until", "2026-03-09"])
    assert capsys.readouterr().out == (f"task {health}: done\n"
                                       f"task {call}: snoozed until 2026-03-09\n")
    main(["tasks", "list", "--status", "open"])
    assert capsys.readouterr().out == "no tasks\n"
    with pytest.raises(SystemExit, match=f"task {health} is done: only an open or snoozed"):
        main(["tasks", "dismiss", str(health)])
    with pytest.raises(SystemExit, match="no task 999"):
        main(["tasks", "done", "999", "--outcome", "x"])
    main(["tasks", "dismiss", str(call), "--note", "duplicate"])
    assert [(t.status, t.outcome, t.note) for t in tasks(engine)] == [
        ("done", "called: renewing", "ok"), ("dismissed", None, "duplicate")]


def test_the_dispatcher_warns_when_someone_holds_more_open_tasks_than_they_can_work(
    engine, url, tmp_path, monkeypatch
):
    from dagster import materialize

    from cs_assets.definitions import defs
    from cs_assets.defs.shared.resources import (
        PolarsParquetIOManager,
        StateResource,
        TeamResource,
        resources_from_env,
    )
    from cs_assets.team import TeamConfig

    monkeypatch.setenv("CS_REFERENCE_TIME", at(D0 + timedelta(days=1), 12).isoformat())
    pl.DataFrame({"household_id": ["hh_1", "hh_2"], "email": [None, None],
                  "owner_name": [None, None], "email_opt_out": [False, False],
                  "timezone": [None, None]},
                 schema_overrides={"email": pl.String, "owner_name": pl.String,
                                   "timezone": pl.String}
                 ).write_parquet(tmp_path / "households.parquet")
    alert(engine, "hh_1", D0)
    alert(engine, "hh_2", D0 + timedelta(days=1))
    roster = TeamConfig().model_dump(mode="json")
    roster["assignments"]["roster"][1]["task_capacity"] = 1  # csm_01
    small = tmp_path / "team.yaml"
    small.write_text(yaml.safe_dump(roster), encoding="utf-8")

    def run(team: TeamResource):
        result = materialize(list(defs.assets), selection=["playbook_deliveries"],
                             partition_key="2026-03-03", resources={
                                 **resources_from_env({"CS_HOME": str(tmp_path / "home")}),
                                 "io_manager": PolarsParquetIOManager(base_dir=str(tmp_path)),
                                 "state": StateResource(url=url), "team": team})
        [check] = [c for c in result.get_asset_check_evaluations()
                   if c.check_name == "csm_task_load_within_capacity"]
        [done] = result.asset_materializations_for_node("playbook_deliveries")
        return check, done.metadata

    check, metadata = run(TeamResource(referral_secret="s"))  # the shipped team: 20 for csm_01
    assert check.passed and check.severity.value == "WARN"
    assert "| csm_01 | 2 | 1 | 20 |" in check.metadata["load"].value  # one of two overdue
    assert "| csm_01 | 2 | 2 | 1 | 20 |" in metadata["csm_task_load"].value  # opened_7d first
    check, _ = run(TeamResource(path=str(small), referral_secret="s"))
    assert not check.passed and check.metadata["over_capacity"].value == 1
    assert "| csm_01 | 2 | 1 | 1 |" in check.metadata["load"].value
