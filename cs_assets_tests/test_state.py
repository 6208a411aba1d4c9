"""Playbook state: the SQL file equals the metadata, enrolling and scheduling are idempotent,
and delivery sends each due step at most once — with racing dispatcher processes and a killed
one — while every step ends sent, retrying, in_doubt or skipped with a reason."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from cs_assets.defs.shared.resources import resources_from_env
from cs_assets.playbooks import load_playbooks
from cs_assets.playbooks.enrolment import StepPlan
from cs_assets.state import delivery as d
from cs_assets.state.schema import (
    csm_task_steps,
    csm_tasks,
    enrolments,
    metadata,
    opt_outs,
    step_executions,
)
from cs_assets.state.store import (
    exit_enrolment,
    message_id,
    opted_out,
    record_opt_out,
    state_engine,
)
from cs_assets.state.tasks import Task, file_step
from cs_assets_tests.factories import enrol, schedule_steps

DDL = Path(__file__).resolve().parents[1] / "sql" / "010_platform_state.sql"
T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
DAY = date(2026, 3, 2)
LEASE = timedelta(minutes=5)
FORK = multiprocessing.get_context("fork")


@pytest.fixture
def engine(url):
    engine = state_engine(url)
    yield engine
    engine.dispose()


def seed(engine, households: int, steps: int = 1, playbook: str = "win_back") -> list[int]:
    """Enrol `households` households, each with `steps` steps due an hour apart up to T0."""
    ids = []
    for n in range(households):
        enrolment = enrol(engine, playbook, f"hh_{n:04d}", DAY, holdout=False, now=T0)
        schedule_steps(
            engine,
            enrolment,
            [StepPlan(i, T0 - timedelta(hours=steps - i), "email", f"t{i}") for i in range(steps)],
        )
        ids.append(enrolment)
    return ids


def rows(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.select(step_executions).order_by(step_executions.c.step_id)).all()


def recorder(log: Path, block_on: str | None = None):
    """A sender that appends each message id to `log` (the 'server' accepted it); on
    `block_on` it hangs after accepting, like a process stuck before recording the send."""

    def send(step: d.DueStep, tx: d.Tx) -> None:
        tx.handoff(step)  # leaves the database: a death from here leaves it in doubt
        with log.open("a") as out:
            out.write(step.message_id + "\n")
        if step.message_id == block_on:
            time.sleep(600)
        time.sleep(0.001)

    return send


def sends(directory: Path) -> Counter[str]:
    return Counter(line for log in directory.glob("*.log") for line in log.read_text().split())


def _dispatcher(
    url: str, owner: str, log: Path, start, limit: int, block_on: str | None = None
) -> None:
    engine = state_engine(url)
    start.wait()
    d.dispatch(engine, owner, recorder(log, block_on), lambda: T0, lease=LEASE, limit=limit)


def _start(url: str, owner: str, log: Path, start, limit: int, block_on: str | None = None):
    process = FORK.Process(target=_dispatcher, args=(url, owner, log, start, limit, block_on))
    process.start()
    return process


def _describe(conn: sa.Connection, schema: str) -> dict:
    inspector = sa.inspect(conn)
    described = {}
    for table in inspector.get_table_names(schema=schema):
        described[table] = dict(
            columns=[
                (c["name"], str(c["type"]), c["nullable"], c["default"], c.get("identity"))
                for c in inspector.get_columns(table, schema)
            ],
            key=inspector.get_pk_constraint(table, schema)["constrained_columns"],
            unique=sorted(
                (u["name"], u["column_names"])
                for u in inspector.get_unique_constraints(table, schema)
            ),
            foreign=sorted(
                (f["name"], f["constrained_columns"], f["referred_table"], f["referred_columns"])
                for f in inspector.get_foreign_keys(table, schema)
            ),
            checks=sorted(  # SQLite does not name a check the metadata leaves unnamed
                (c["name"] or "", c["sqltext"])
                for c in inspector.get_check_constraints(table, schema)
            ),
            indexes=sorted(
                (i["name"], i["column_names"], i["unique"])
                for i in inspector.get_indexes(table, schema)
            ),
        )
    return described


@pytest.mark.postgres
def test_sql_file_matches_the_metadata(fresh_pg_url):
    engine = sa.create_engine(fresh_pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA from_file; CREATE SCHEMA from_metadata")
        conn.exec_driver_sql("SET LOCAL search_path TO from_file")
        conn.exec_driver_sql(DDL.read_text(encoding="utf-8"))
        conn.exec_driver_sql(DDL.read_text(encoding="utf-8"))  # re-applying is harmless
        conn.exec_driver_sql("SET LOCAL search_path TO from_metadata")
        metadata.create_all(conn)
    with engine.connect() as conn:
        from_file, from_metadata = _describe(conn, "from_file"), _describe(conn, "from_metadata")
    engine.dispose()
    assert set(from_file) == set(metadata.tables)
    for table in metadata.tables:
        assert from_file[table] == from_metadata[table], table


def test_state_engine_defaults_to_sqlite_under_cs_home(tmp_path):
    resources = resources_from_env({"CS_HOME": str(tmp_path / "home")})
    engine = resources["state"].engine()
    assert engine.dialect.name == "sqlite"
    assert set(sa.inspect(engine).get_table_names()) == set(metadata.tables)
    engine.dispose()
    assert (tmp_path / "home" / "state.db").is_file()


def test_enrol_and_schedule_are_idempotent(engine):
    first = enrol(engine, "win_back", "hh_1", DAY, holdout=False, now=T0)
    again = enrol(engine, "win_back", "hh_1", DAY, holdout=True, now=T0 + LEASE)
    other_day = enrol(engine, "win_back", "hh_1", DAY + timedelta(days=1), holdout=False, now=T0)
    assert again == first != other_day
    plan = [StepPlan(0, T0, "email", "hello"), StepPlan(1, T0 + timedelta(days=3), "email", "b")]
    schedule_steps(engine, first, plan)
    assert [s.step_id for s in d.claim_due(engine, "a", T0, LEASE)] == [rows(engine)[0].step_id]
    schedule_steps(engine, first, plan)  # a re-fired sensor: the claimed step stays claimed
    assert [(r.step_index, r.status, r.attempts) for r in rows(engine)] == [
        (0, "claimed", 1),
        (1, "pending", 0),
    ]
    with engine.connect() as conn:
        holdout = conn.scalar(
            sa.select(enrolments.c.holdout).where(enrolments.c.enrolment_id == first)
        )
    assert not holdout  # the first enrolment's values stand


def test_message_ids_are_stable(tmp_path):
    plan = [StepPlan(i, T0, "email", "t") for i in range(3)]
    stored = []
    for name in ("one", "two"):  # the same steps in two databases get the same ids
        engine = state_engine(f"sqlite:///{tmp_path / name}.db")
        enrol(engine, "other", "hh_0", DAY, holdout=False, now=T0)  # shifts the surrogate ids
        schedule_steps(engine, enrol(engine, "win_back", "hh_1", DAY, holdout=False, now=T0), plan)
        stored.append([r.message_id for r in rows(engine)])
        engine.dispose()
    assert stored[0] == stored[1]
    assert stored[0] == [message_id("win_back", "hh_1", DAY.isoformat(), i) for i in range(3)]
    assert len(set(stored[0])) == 3
    assert message_id("win_back", "hh_1", "2026-03-03", 0) != stored[0][0]
    assert stored[0][0].startswith("<") and stored[0][0].endswith("@cs-assets.invalid>")
    assert "hh_1" not in stored[0][0]


def test_a_claim_is_exclusive_and_only_a_handed_over_step_expires_into_in_doubt(engine):
    seed(engine, 2)
    first, second = d.claim_due(engine, "a", T0, LEASE)
    assert first.attempts == 1 and first.household_id == "hh_0000"
    assert d.claim_due(engine, "b", T0, LEASE) == []
    assert d.mark_sent(engine, first.step_id, "b", T0) is False  # not b's claim
    with engine.connect() as conn:  # "a" hands the first to the server, then dies
        d.Tx(conn, "a", [first, second], lambda: T0).handoff(first)
    late = T0 + LEASE + timedelta(seconds=1)
    assert d.claim_due(engine, "b", late, LEASE) == []  # an expired claim is not claimable
    assert d.expire_leases(engine, T0 + LEASE - timedelta(seconds=1)) == {
        "in_doubt": 0, "pending": 0}
    assert d.expire_leases(engine, late) == {"in_doubt": 1, "pending": 1}
    [again] = d.claim_due(engine, "b", late, LEASE)  # never handed over: back in the queue
    assert (again.step_id, again.attempts) == (second.step_id, 1)  # the lost claim not counted
    assert [s.step_id for s in d.in_doubt_steps(engine)] == [first.step_id]
    assert d.mark_failed(engine, first.step_id, "a", "timeout", late) is None  # still in doubt
    assert rows(engine)[0].status == "in_doubt"
    assert d.mark_sent(engine, first.step_id, "a", late) is True  # the owner knows it went out
    assert (rows(engine)[0].status, d.in_doubt_steps(engine)) == ("sent", [])


def test_a_handoff_of_a_claim_taken_away_raises_and_sends_nothing(engine):
    seed(engine, 1)
    [step] = d.claim_due(engine, "a", T0, LEASE)
    d.expire_leases(engine, T0 + LEASE)  # "a" was too slow: the step went back to the queue
    with engine.connect() as conn, pytest.raises(d.ClaimLost):
        d.Tx(conn, "a", [step], lambda: T0 + LEASE).handoff(step)
    assert rows(engine)[0].status == "pending" and rows(engine)[0].handed_at is None


@pytest.mark.parametrize(("resolution", "status"), [
    ("sent", "sent"), ("resend", "pending"), ("skip", "skipped")])
def test_a_person_resolves_a_step_in_doubt(engine, resolution, status):
    seed(engine, 1)
    [step] = d.claim_due(engine, "a", T0, LEASE)
    d.mark_in_doubt(engine, step.step_id, "a", "connection lost during DATA")
    assert d.resolve_in_doubt(engine, step.step_id, resolution, T0 + LEASE) == status
    assert rows(engine)[0].status == status
    with pytest.raises(ValueError, match=f"step {step.step_id} is {status}, not in_doubt"):
        d.resolve_in_doubt(engine, step.step_id, "sent", T0 + LEASE)
    with pytest.raises(ValueError, match="no step 999"):
        d.resolve_in_doubt(engine, 999, "sent", T0)
    if resolution == "resend":
        assert d.dispatch(engine, "b", lambda s, tx: None, lambda: T0 + LEASE) == {"sent": 1}


def test_a_failed_send_is_retried_with_backoff_and_sent_once(engine):
    seed(engine, 1)
    calls = []

    def flaky(step: d.DueStep, tx: d.Tx) -> None:
        calls.append(step.attempts)
        if len(calls) <= 2:
            raise ConnectionError("421 try again later")

    backoff = d.Backoff(base=timedelta(minutes=1), cap=timedelta(minutes=90), max_attempts=5)
    clock = {"now": T0}

    def run() -> Counter[str]:
        return d.dispatch(engine, "a", flaky, lambda: clock["now"], backoff=backoff)

    assert run() == {"retrying": 1}
    first = rows(engine)[0]
    assert (first.status, first.next_attempt_at) == ("retrying", T0 + timedelta(minutes=1))
    assert "421 try again later" in first.last_error
    clock["now"] = T0 + timedelta(seconds=59)
    assert run() == {}  # not due yet
    clock["now"] = T0 + timedelta(minutes=1)
    assert run() == {"retrying": 1}
    assert rows(engine)[0].next_attempt_at == clock["now"] + timedelta(minutes=2)
    clock["now"] += timedelta(minutes=2)
    assert run() == {"sent": 1}
    assert run() == {}
    final = rows(engine)[0]
    assert (calls, final.status, final.attempts, final.sent_at) == (
        [1, 2, 3],
        "sent",
        3,
        clock["now"],
    )


def test_a_step_that_keeps_failing_is_skipped_with_the_reason(engine):
    seed(engine, 1)

    def down(step: d.DueStep, tx: d.Tx) -> None:
        raise OSError("connection refused")

    backoff = d.Backoff(base=timedelta(seconds=1), cap=timedelta(seconds=2), max_attempts=3)
    ticks = iter(T0 + timedelta(seconds=n) for n in range(0, 100, 5))  # 5 s per look
    # One dispatch call: each retry falls due while it runs, until it gives up.
    outcomes = d.dispatch(engine, "a", down, lambda: next(ticks), backoff=backoff)
    assert outcomes == {"retrying": 2, "gave_up": 1}
    final = rows(engine)[0]
    assert (final.status, final.skipped_reason, final.attempts) == (
        "skipped",
        "gave up after 3 attempts",
        3,
    )
    assert "connection refused" in final.last_error
    assert backoff.delay(1) == timedelta(seconds=1) and backoff.delay(9) == timedelta(seconds=2)


def test_every_due_step_ends_with_an_outcome_and_skips_keep_their_reason(engine):
    ids = seed(engine, 6)
    held = enrol(engine, "win_back", "hh_held", DAY, holdout=True, now=T0)
    schedule_steps(engine, held, [StepPlan(0, T0, "email", "t0")])
    record_opt_out(engine, "hh_0001", "email", "unsubscribe", T0)
    record_opt_out(engine, "hh_0001", "email", "unsubscribe", T0 + LEASE)  # recorded once
    record_opt_out(engine, "hh_0002", "all", "support", T0)
    record_opt_out(engine, "hh_0003", "in_app", "raw_flag", T0)  # another channel: still emailed
    assert opted_out(engine, "email") == {"hh_0001", "hh_0002"}
    assert opted_out(engine, "in_app", ["hh_0002", "hh_0003", "hh_0004"]) == {"hh_0002", "hh_0003"}
    assert exit_enrolment(engine, ids[4], "responded", T0) == 1
    assert exit_enrolment(engine, ids[4], "churned", T0 + LEASE) == 0  # the first exit wins
    sent = []

    def send(step: d.DueStep, tx: d.Tx) -> None:
        if step.household_id == "hh_0005":
            raise d.SkipStep("condition false: already recovered")
        if step.household_id == "hh_0000":
            raise d.OutcomeUnknown("connection dropped after DATA")
        sent.append(step.household_id)

    assert d.dispatch(engine, "a", send, lambda: T0) == {"skipped": 3, "in_doubt": 1, "sent": 1}
    assert sent == ["hh_0003"]
    outcome = {r.message_id: (r.status, r.skipped_reason) for r in rows(engine)}
    assert sorted(outcome.values(), key=str) == sorted(
        [
            ("in_doubt", None),
            ("sent", None),
            ("skipped", "opted out of email"),
            ("skipped", "opted out of email"),
            ("skipped", "enrolment exited: responded"),
            ("skipped", "condition false: already recovered"),
            ("skipped", "holdout"),
        ],
        key=str,
    )
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(opt_outs)) == 3


def test_an_opt_out_does_not_stop_a_transactional_step(engine):
    for channel in ("email", "email_transactional"):
        enrolment = enrol(engine, f"credit_{channel}", "hh_1", DAY, holdout=False, now=T0)
        schedule_steps(engine, enrolment, [StepPlan(0, T0, channel, "t0")])
    record_opt_out(engine, "hh_1", "all", "support", T0)
    sent = []
    assert d.dispatch(engine, "a", lambda step, tx: sent.append(step.channel),
                      lambda: T0) == {"sent": 1, "skipped": 1}
    assert sent == ["email_transactional"]


def test_a_step_held_while_its_enrolment_exits_is_skipped_not_retried(engine):
    [enrolment] = seed(engine, 1)
    [step] = d.claim_due(engine, "a", T0, LEASE)
    assert exit_enrolment(engine, enrolment, "recovered", T0) == 0  # the claim is left to "a"
    assert d.mark_failed(engine, step.step_id, "a", "421", T0) == "retrying"

    def must_not_send(step: d.DueStep, tx: d.Tx) -> None:
        raise AssertionError("sent after the enrolment ended")

    assert d.dispatch(engine, "b", must_not_send, lambda: T0 + LEASE) == {"skipped": 1}
    assert rows(engine)[0].skipped_reason == "enrolment exited: recovered"
    assert exit_enrolment(engine, enrolment, "churned", T0 + LEASE) == 0
    with engine.connect() as conn:
        assert conn.scalar(sa.select(enrolments.c.exit_status)) == "recovered"  # the first exit


def test_two_dispatcher_processes_send_every_step_exactly_once(url, tmp_path):
    engine = state_engine(url)
    seed(engine, 200)
    engine.dispose()  # the children open their own connections
    start = FORK.Event()
    processes = [
        _start(url, f"dispatcher-{n}", tmp_path / f"{n}.log", start, limit=10) for n in range(2)
    ]
    start.set()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    counts = sends(tmp_path)
    per_process = [len((tmp_path / f"{n}.log").read_text().split()) for n in range(2)]
    engine = state_engine(url)
    assert len(counts) == 200 and set(counts.values()) == {1}
    assert min(per_process) > 0  # both really dispatched
    assert {r.status for r in rows(engine)} == {"sent"}
    assert {r.message_id for r in rows(engine)} == set(counts)
    engine.dispose()


def test_a_killed_dispatcher_leaves_one_step_in_doubt_and_its_batch_goes_back(url, tmp_path):
    """Killed while the server holds the third message of its six-step batch: that one step
    is in doubt and never resent; the three it never handed over are sent once by another."""
    engine = state_engine(url)
    seed(engine, 1, steps=6)
    stuck = rows(engine)[2].message_id
    engine.dispose()
    start = FORK.Event()
    start.set()
    child = _start(url, "doomed", tmp_path / "doomed.log", start, limit=6, block_on=stuck)
    deadline = time.monotonic() + 30
    while stuck not in sends(tmp_path):
        assert time.monotonic() < deadline and child.is_alive()
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)  # accepted by the 'server', never recorded
    child.join(10)

    engine = state_engine(url)
    assert [r.status for r in rows(engine)] == ["sent", "sent", *["claimed"] * 4]
    assert d.dispatch(engine, "rescuer", recorder(tmp_path / "rescuer.log"), lambda: T0) == {}
    later = T0 + LEASE + timedelta(seconds=1)
    assert d.expire_leases(engine, later) == {"in_doubt": 1, "pending": 3}
    assert d.dispatch(engine, "rescuer", recorder(tmp_path / "rescuer.log"), lambda: later) == {
        "sent": 3
    }
    assert [s.message_id for s in d.in_doubt_steps(engine)] == [stuck]
    assert [r.status for r in rows(engine)] == ["sent", "sent", "in_doubt", *["sent"] * 3]
    counts = sends(tmp_path)
    assert len(counts) == 6 and set(counts.values()) == {1}
    engine.dispose()


def test_a_campaigns_sends_are_read_back_for_its_lists(engine):
    """The upsell list leaves out who the upsell playbooks pitched: their sent steps only,
    not another playbook's, not a step still pending."""
    pitched = enrol(engine, "upsell", "hh_1", DAY, holdout=False, now=T0)
    waiting = enrol(engine, "upsell", "hh_2", DAY, holdout=False, now=T0)
    other = enrol(engine, "win_back", "hh_3", DAY, holdout=False, now=T0)
    for enrolment in (pitched, waiting, other):
        schedule_steps(engine, enrolment, [StepPlan(0, T0, "email", "t0")])
    with engine.begin() as conn:
        conn.execute(step_executions.update()
                     .where(step_executions.c.enrolment_id.in_([pitched, other]))
                     .values(status="sent", sent_at=T0))
    assert d.sends_of(engine, ["upsell"]) == [("hh_1", T0)]
    assert d.sends_of(engine, []) == []


def test_the_shipped_upsell_campaign_is_found_by_its_trigger():
    assert load_playbooks().triggered_by("upsell_candidates") == ["upsell"]


def test_a_held_out_household_still_gets_its_csm_task(engine):
    """Holdouts measure the automated steps; human work is never held out."""
    enrolment = enrol(engine, "reengagement", "hh_held", DAY, holdout=True, now=T0)
    schedule_steps(engine, enrolment, [StepPlan(0, T0, "email", "declining_usage"),
                                       StepPlan(1, T0, "csm_task", "csm_outreach_call"),
                                       StepPlan(2, T0, "in_app", "support_having_issues")])
    got = {r.channel: (r.status, r.skipped_reason) for r in rows(engine)}
    assert got == {"email": ("skipped", "holdout"), "csm_task": ("pending", None),
                   "in_app": ("skipped", "holdout")}


def test_an_index_added_since_the_database_was_made_is_created(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    state_engine(url).dispose()
    old = sa.create_engine(url)
    with old.begin() as conn:
        conn.exec_driver_sql("DROP INDEX enrolments_household")
    old.dispose()
    engine = state_engine(url)  # what a new release does on an older state database
    assert "enrolments_household" in {i["name"] for i in sa.inspect(engine).get_indexes(
        "enrolments")}
    engine.dispose()


def test_the_steps_command_lists_and_resolves_steps_in_doubt(tmp_path, monkeypatch, capsys):
    from cs_assets.cli import main

    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setenv("CS_STATE_URL", url)
    engine = state_engine(url)
    seed(engine, 2)
    first, second = d.claim_due(engine, "a", T0, LEASE)
    for step in (first, second):
        d.mark_in_doubt(engine, step.step_id, "a", "connection lost during DATA")
    main(["steps", "list", "--in-doubt"])
    listed = capsys.readouterr().out
    assert first.message_id in listed and second.message_id in listed
    main(["steps", "resolve", str(first.step_id), "--sent"])
    main(["steps", "resolve", str(second.step_id), "--resend"])
    assert capsys.readouterr().out.splitlines() == [
        f"step {first.step_id}: sent", f"step {second.step_id}: pending"]
    with pytest.raises(SystemExit, match="is sent, not in_doubt"):
        main(["steps", "resolve", str(first.step_id), "--skip"])
    main(["steps", "list", "--in-doubt"])
    assert capsys.readouterr().out == "no step in doubt\n"
    engine.dispose()


def earlier_release(url: str) -> None:
    """A state database as the release before CSM task lifecycles made it, with the tasks it
    wrote: one row per step, two of them about one household's health; its enrolments know
    no `downgraded` exit."""
    old = sa.MetaData()
    for table in metadata.sorted_tables:
        if table.name not in ("csm_tasks", "csm_task_steps"):
            table.to_metadata(old)
    exits = old.tables["enrolments"]
    exits.constraints -= {c for c in exits.constraints
                          if isinstance(c, sa.CheckConstraint) and "'downgraded'" in str(c.sqltext)}
    exits.append_constraint(sa.CheckConstraint(
        "exit_status IN ('responded', 'recovered', 'churned', 'opted_out', 'completed')"))
    sa.Table(
        "csm_tasks", old,
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.Identity(),
                  primary_key=True),
        sa.Column("message_id", sa.Text, nullable=False, unique=True),
        *(sa.Column(name, sa.Text, nullable=False)
          for name in ("household_id", "csm_id", "title", "notes", "priority")),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("created_at", csm_tasks.c.created_at.type, nullable=False),
        sa.CheckConstraint("priority IN ('low', 'normal', 'high')", name="csm_tasks_priority"),
        sa.Index("csm_tasks_csm", "csm_id", "due_on"),
    )
    engine = sa.create_engine(url)
    old.create_all(engine)
    steps = [("hh_1", "critical_health_alert", 0), ("hh_1", "at_risk_health_alert", 7),
             ("hh_2", "csm_outreach_call", 7)]
    with engine.begin() as conn:
        for n, (household, template, day) in enumerate(steps):
            at = T0 + timedelta(days=day)
            enrolment = conn.execute(sa.insert(old.tables["enrolments"]).values(
                playbook=template, household_id=household, enrolment_key=str(day),
                enrolled_on=at.date(), holdout=False, created_at=at)
                .returning(old.tables["enrolments"].c.enrolment_id)).scalar_one()
            conn.execute(sa.insert(old.tables["step_executions"]).values(
                enrolment_id=enrolment, step_index=0, channel="csm_task", template=template,
                message_id=f"<m{n}>", due_at=at, next_attempt_at=at, status="sent", sent_at=at))
            conn.execute(sa.insert(old.tables["csm_tasks"]).values(
                message_id=f"<m{n}>", household_id=household, csm_id="csm_01", title=template,
                notes="", priority="normal", due_on=at.date(), created_at=at))
    engine.dispose()


def test_a_state_database_of_an_earlier_release_is_upgraded_when_opened(url, tmp_path):
    earlier_release(url)
    engine = state_engine(url)  # what a new release does on an older state database
    with engine.connect() as conn:
        got = conn.execute(sa.select(csm_tasks.c.task_id, csm_tasks.c.household_id,
                                     csm_tasks.c.reason, csm_tasks.c.status, csm_tasks.c.note,
                                     csm_tasks.c.closed_at, csm_tasks.c.updated_at)
                           .order_by(csm_tasks.c.task_id)).all()
        links = conn.execute(sa.select(csm_task_steps.c.message_id, csm_task_steps.c.task_id)
                             .order_by(csm_task_steps.c.message_id)).all()
    week = T0 + timedelta(days=7)
    assert [tuple(r) for r in got] == [
        (1, "hh_1", "health_risk", "dismissed", "superseded by task 2", week, T0),
        (2, "hh_1", "health_risk", "open", None, None, week),
        (3, "hh_2", "csm_outreach_call", "open", None, None, week)]
    assert [tuple(r) for r in links] == [("<m0>", 1), ("<m1>", 2), ("<m2>", 3)]
    # a retried step of the earlier release finds its task
    assert file_step(engine, message_id="<m1>", household_id="hh_1",
                     template="at_risk_health_alert", csm_id="csm_01", task=Task("t", DAY),
                     day=DAY, quiet_days=14, now=week) == 2
    # an exit the earlier release did not know, its steps kept
    exit_enrolment(engine, 1, "downgraded", week)
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(step_executions)) == 3
    engine.dispose()
    engine = state_engine(url)  # opening it again changes nothing
    with engine.begin() as conn:
        upgraded = _describe(conn, None)
        if conn.dialect.name == "postgresql":  # the same tables made fresh, side by side
            conn.exec_driver_sql("CREATE SCHEMA fresh; SET LOCAL search_path TO fresh")
            metadata.create_all(conn)
            fresh = _describe(conn, "fresh")
    engine.dispose()
    if url.startswith("sqlite"):
        fresh_engine = state_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
        with fresh_engine.connect() as conn:
            fresh = _describe(conn, None)
        fresh_engine.dispose()
    assert upgraded == fresh
