"""The playbook engine end to end against real servers: PostgreSQL for the state and aiosmtpd
for email. The workflow sensor evaluated twice after a day's lists launches one enrolment and
every step goes out once; a dispatcher process killed after the server accepted its message
leaves that step in_doubt, never resent and shown by the asset check, while the rest go out
once; two dispatcher processes send each step once; an SMTP outage delays mail and loses none;
opted-out households get no marketing email and held-out households get nothing at all."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
import yaml
from dagster import (
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    SkipReason,
    build_sensor_context,
    materialize,
)

from cs_assets.channels.email import EmailChannel
from cs_assets.definitions import defs
from cs_assets.defs.shared.resources import (
    MailResource,
    PlaybooksResource,
    PolarsParquetIOManager,
    StateResource,
    TeamResource,
    resources_from_env,
)
from cs_assets.defs.workflow import daily_workflow_sensor
from cs_assets.playbooks import is_holdout
from cs_assets.playbooks.config import DEFAULT_PLAYBOOKS_PATH, parse_playbooks
from cs_assets.playbooks.content import load_content
from cs_assets.playbooks.passes import recipients
from cs_assets.playbooks.runner import run_day
from cs_assets.playbooks.sender import Sender
from cs_assets.state import delivery as d
from cs_assets.state.schema import (
    csm_tasks,
    enrolments,
    in_app_notifications,
    outbox,
    step_executions,
    workflow_alerts,
)
from cs_assets.state.store import state_engine
from cs_assets.team.referrals import CODE_SCHEMA
from cs_assets_tests.smtp import Inbox, free_port, smtp_server
from cs_assets_tests.test_playbook_engine import assignments, features, tiers

pytestmark = pytest.mark.postgres

DAY = date(2026, 3, 2)
KEY = DAY.isoformat()
# The shipped playbooks without the contact policy's limits: these tests are about delivery
# guarantees on a March day dispatched months later (tests/test_contact_policy.py has them).
RAW_CATALOG = yaml.safe_load(DEFAULT_PLAYBOOKS_PATH.read_text(encoding="utf-8"))
RAW_CATALOG["contact_policy"].update(per_day=None, per_7_days=None, send_window=None,
                                     stale_after_hours=None)
CATALOG = parse_playbooks(RAW_CATALOG)
HOUSEHOLDS = [f"hh_{i:02d}" for i in range(24)]
OPTED_OUT = "hh_00"  # the raw households.email_opt_out flag
ASSETS = list(defs.assets)
SPAWN = multiprocessing.get_context("spawn")  # polars deadlocks in a forked child
SECRET = "unsubscribe-secret-for-tests"
CUTOFF = datetime(2026, 3, 6, tzinfo=UTC)  # the dispatcher processes' pass: steps of days 0-3


def write_day(root: Path) -> dict[str, pl.DataFrame]:
    """The day's trigger assets as the IO manager stores them, and the raw households."""
    n = len(HOUSEHOLDS)
    frames = {
        "health_tiers": tiers(DAY, dict.fromkeys(HOUSEHOLDS, "at_risk")),
        "household_features": features(DAY, HOUSEHOLDS, tickets_90d=[1.0] * n),
        "csm_assignments": assignments(DAY, HOUSEHOLDS),
        "trend_alerts": pl.DataFrame({
            "household_id": HOUSEHOLDS, "as_of": [DAY] * n,
            "metric": ["task_completion"] * n, "current_value": [4.0] * n,
            "previous_value": [10.0] * n, "percent_change": [-60.0] * n,
            "severity": ["critical"] * n}),
    }
    for name, frame in frames.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        frame.write_parquet(root / name / f"{KEY}.parquet")
    households = pl.DataFrame({
        "household_id": HOUSEHOLDS, "email": [f"{h}@example.test" for h in HOUSEHOLDS],
        "owner_name": ["Zoë"] * n, "email_opt_out": [h == OPTED_OUT for h in HOUSEHOLDS],
        "timezone": pl.Series([None] * n, dtype=pl.String),
        "churned_at": pl.Series([None] * n, dtype=pl.Datetime("us", "UTC"))})
    households.write_parquet(root / "households.parquet")
    frames["households"] = households
    # the product's referral codes: none (the day's playbooks invite nobody to refer)
    pl.DataFrame(schema=CODE_SCHEMA).write_parquet(root / "referral_codes.parquet")
    return frames


@pytest.fixture
def smtp(monkeypatch):
    inbox, port = Inbox(), free_port()
    for key, value in {"CS_SMTP_HOST": "127.0.0.1", "CS_SMTP_PORT": str(port),
                       "CS_SMTP_FROM": "cs@example.test", "CS_SMTP_STARTTLS": "false",
                       "CS_UNSUBSCRIBE_URL": "https://example.test/unsubscribe",
                       "CS_UNSUBSCRIBE_SECRET": SECRET}.items():
        monkeypatch.setenv(key, value)
    with smtp_server(inbox, port):
        yield inbox, port


def resources(root: Path, url: str) -> dict:
    playbooks = root / "playbooks.yaml"
    playbooks.write_text(yaml.safe_dump(RAW_CATALOG), encoding="utf-8")
    return {
        **resources_from_env({"CS_HOME": str(root / "home")}),
        "io_manager": PolarsParquetIOManager(base_dir=str(root)),
        "mail": MailResource.from_env(),  # the `smtp` fixture's server, when it is used
        "playbooks": PlaybooksResource(path=str(playbooks)),
        "state": StateResource(url=url),
        "team": TeamResource(referral_secret="test-referral-secret"),
    }


def run(asset: str, partition: str, root: Path, url: str, instance: DagsterInstance):
    return materialize(ASSETS, selection=[asset], partition_key=partition,
                       resources=resources(root, url), instance=instance)


def step_rows(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(enrolments.c.household_id, enrolments.c.holdout, step_executions)
            .join(enrolments, enrolments.c.enrolment_id == step_executions.c.enrolment_id)
        ).all()


def recipients_of(inbox: Inbox) -> Counter[str]:
    return Counter(str(m["To"]).split("@")[0] for m in inbox.messages)


def test_sensor_twice_enrols_once_and_every_step_goes_out_once(tmp_path, fresh_pg_url, smtp):
    inbox, _ = smtp
    root = tmp_path / "storage"
    write_day(root)
    instance = DagsterInstance.ephemeral()
    cursor = build_sensor_context(instance=instance)
    assert isinstance(daily_workflow_sensor(cursor), SkipReason)
    lists = DagsterRun(job_name="cs_lists_job", status=DagsterRunStatus.SUCCESS,
                       tags={"dagster/partition": KEY})
    instance.add_run(lists)  # the day's lists step finished
    requests = []
    for _ in range(2):  # the sensor re-fires before its cursor was saved
        context = build_sensor_context(instance=instance, cursor=cursor.cursor)
        requests += daily_workflow_sensor(context)
    assert {(r.job_name, r.partition_key, r.run_key) for r in requests} == {
        ("playbook_enrolment_job", KEY, f"playbook_enrolment_job:{KEY}:{lists.run_id}")}
    for request in requests:  # even if both were launched, enrolment is idempotent
        assert run("playbook_enrolments", request.partition_key, root, fresh_pg_url,
                   instance).success
    for day in (DAY, DAY, DAY + timedelta(days=3)):  # dispatcher passes, one repeated
        result = run("playbook_deliveries", day.isoformat(), root, fresh_pg_url, instance)
        assert result.success
        checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
        assert checks["no_steps_in_doubt"]

    engine = state_engine(fresh_pg_url)
    rows = step_rows(engine)
    held = {h for h in HOUSEHOLDS if is_holdout("reengagement", h, 0.1, CATALOG.holdout_salt)}
    sent = [r for r in rows if r.status == "sent"]
    emails = [r for r in sent if r.channel == "email"]
    # every email step that went out reached the server exactly once, under its Message-ID
    assert Counter(inbox.message_ids()) == Counter(r.message_id for r in emails)
    assert len(emails) > 20
    # reengagement day 1 and day 3 for every treated household except the opted-out one
    treated = {r.household_id for r in rows if r.template == "declining_usage" and not r.holdout}
    got = recipients_of(inbox)
    assert OPTED_OUT not in got
    for household in treated - {OPTED_OUT}:
        assert got[household] >= 2
    assert {r.skipped_reason for r in rows if r.household_id == OPTED_OUT
            and r.channel == "email" and r.status != "pending"} == {"opted out of email"}
    # held out of a playbook: none of its automated steps reached anyone; its CSM tasks stay
    # (human work is never held out)
    for row in rows:
        if row.holdout and row.channel != "csm_task":
            assert (row.status, row.skipped_reason) == ("skipped", "holdout")
    held_calls = [r for r in rows if r.holdout and r.channel == "csm_task"]
    assert held_calls and all(r.skipped_reason != "holdout" for r in held_calls)
    holdout_ids = {r.message_id for r in rows if r.holdout and r.channel != "csm_task"}
    assert holdout_ids.isdisjoint(inbox.message_ids())
    with engine.connect() as conn:
        written = set(conn.execute(sa.select(in_app_notifications.c.message_id)).scalars())
        written |= set(conn.execute(sa.select(csm_tasks.c.message_id)).scalars())
        assert conn.scalar(sa.select(sa.func.count()).select_from(outbox)) == len(emails)
    assert holdout_ids.isdisjoint(written)
    assert held & {r.household_id for r in rows if r.template == "declining_usage"}
    engine.dispose()


def _dispatcher(url: str, port: int, owner: str, limit: int, lease_seconds: float,
                ready=None) -> None:
    engine = state_engine(url)
    env = {"CS_SMTP_HOST": "127.0.0.1", "CS_SMTP_PORT": str(port), "CS_SMTP_FROM": "cs@e.test",
           "CS_SMTP_STARTTLS": "false", "CS_UNSUBSCRIBE_URL": "https://example.test/u",
           "CS_UNSUBSCRIBE_SECRET": SECRET}
    sender = Sender(EmailChannel.from_env(env),
                    recipients(pl.read_parquet(Path(os.environ["CS_TEST_ROOT"]) /
                                                "households.parquet")), CATALOG.contact_policy)
    if ready is not None:
        ready.wait()  # every dispatcher is set up: they race from here
    d.dispatch(engine, owner, sender, limit=limit, lease=timedelta(seconds=lease_seconds),
               due_before=CUTOFF)


def enrol_day(root: Path, url: str) -> None:
    frames = write_day(root)
    engine = state_engine(url)
    run_day(engine, CATALOG, load_content(), frames, DAY, datetime(2026, 3, 2, 6, tzinfo=UTC), {})
    engine.dispose()


def email_steps(url: str) -> list:
    """The email steps a dispatcher pass up to CUTOFF sends (not held out, not opted out)."""
    engine = state_engine(url)
    rows = [r for r in step_rows(engine) if r.channel == "email" and r.due_at < CUTOFF
            and not r.holdout and r.household_id != OPTED_OUT]
    engine.dispose()
    return rows


def test_two_dispatcher_processes_send_each_email_once(tmp_path, fresh_pg_url, smtp,
                                                       monkeypatch):
    inbox, port = smtp
    monkeypatch.setenv("CS_TEST_ROOT", str(tmp_path))
    enrol_day(tmp_path, fresh_pg_url)
    expected = {r.message_id for r in email_steps(fresh_pg_url)}
    ready = SPAWN.Barrier(2)
    processes = [SPAWN.Process(target=_dispatcher,
                              args=(fresh_pg_url, port, f"p{n}", 3, 600, ready))
                 for n in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
        assert process.exitcode == 0
    counts = Counter(inbox.message_ids())
    assert set(counts) == expected and set(counts.values()) == {1}
    engine = state_engine(fresh_pg_url)
    owners = {r.lease_owner for r in step_rows(engine) if r.status == "sent"}
    assert owners == {"p0", "p1"}  # both really sent
    engine.dispose()


def test_a_killed_dispatcher_leaves_one_step_in_doubt_and_the_rest_of_its_batch_is_sent(
    tmp_path, fresh_pg_url, smtp, monkeypatch
):
    """Killed while the server holds the first message of its batch (every step due): that
    message is in doubt (never resent, shown by the check); the rest of the batch, never
    handed over, returns to the queue when the lease ends and goes out once."""
    inbox, port = smtp
    monkeypatch.setenv("CS_TEST_ROOT", str(tmp_path))
    enrol_day(tmp_path, fresh_pg_url)
    expected = {r.message_id for r in email_steps(fresh_pg_url)}
    inbox.stall_once = 60  # the server takes the first message and never answers in time
    child = SPAWN.Process(target=_dispatcher, args=(fresh_pg_url, port, "doomed", 100, 1.0))
    child.start()
    deadline = time.monotonic() + 180  # a spawned child imports the code base: slow when busy
    while not inbox.messages:
        assert time.monotonic() < deadline and child.is_alive()
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)  # accepted by the server, never recorded
    child.join(10)
    stuck = inbox.message_ids()[0]
    time.sleep(1.1)  # the lease runs out
    engine = state_engine(fresh_pg_url)
    claimed = sum(r.status == "claimed" for r in step_rows(engine))
    engine.dispose()

    instance = DagsterInstance.ephemeral()
    result = run("playbook_deliveries", (DAY + timedelta(days=3)).isoformat(), tmp_path,
                 fresh_pg_url, instance)
    assert result.success
    check = {c.check_name: c for c in result.get_asset_check_evaluations()}["no_steps_in_doubt"]
    assert not check.passed and check.metadata["in_doubt"].value == 1
    assert stuck in check.metadata["steps"].value
    [materialized] = result.get_asset_materialization_events()
    returned = materialized.materialization.metadata["leases_expired_back_to_queue"].value
    assert claimed > 20 and returned == claimed - 1
    counts = Counter(inbox.message_ids())
    assert set(counts) == expected and set(counts.values()) == {1}
    engine = state_engine(fresh_pg_url)
    statuses = {r.message_id: r.status for r in step_rows(engine)}
    engine.dispose()
    assert statuses[stuck] == "in_doubt"
    assert all(statuses[m] == "sent" for m in expected - {stuck})


def test_smtp_down_keeps_emails_queued_and_they_go_out_once_it_returns(tmp_path, fresh_pg_url,
                                                                       monkeypatch):
    monkeypatch.setenv("CS_TEST_ROOT", str(tmp_path))
    enrol_day(tmp_path, fresh_pg_url)
    expected = {r.message_id for r in email_steps(fresh_pg_url)}
    port = free_port()  # nothing listens yet
    _dispatcher(fresh_pg_url, port, "first", 50, 600)
    engine = state_engine(fresh_pg_url)
    rows = [r for r in step_rows(engine) if r.message_id in expected]
    assert {r.status for r in rows} == {"retrying"} and all(r.last_error for r in rows)
    with engine.connect() as conn:
        queued = conn.execute(sa.select(outbox.c.status)).scalars().all()
    assert len(queued) == len(expected) and set(queued) == {"queued"}
    with engine.begin() as conn:  # the backoff has passed
        conn.execute(sa.update(step_executions).where(step_executions.c.status == "retrying")
                     .values(next_attempt_at=datetime(2026, 3, 2, tzinfo=UTC)))
    inbox = Inbox()
    with smtp_server(inbox, port):
        _dispatcher(fresh_pg_url, port, "second", 50, 600)
    counts = Counter(inbox.message_ids())
    assert set(counts) == expected and set(counts.values()) == {1}
    assert {r.status for r in step_rows(engine) if r.message_id in expected} == {"sent"}
    engine.dispose()


def test_an_smtp_outage_fails_the_delivery_check_and_writes_an_alert(tmp_path, fresh_pg_url,
                                                                      monkeypatch):
    monkeypatch.setenv("CS_TEST_ROOT", str(tmp_path))
    enrol_day(tmp_path, fresh_pg_url)
    for key, value in {"CS_SMTP_HOST": "127.0.0.1", "CS_SMTP_PORT": str(free_port()),
                       "CS_SMTP_FROM": "cs@example.test", "CS_SMTP_STARTTLS": "false",
                       "CS_UNSUBSCRIBE_URL": "https://example.test/unsubscribe",
                       "CS_UNSUBSCRIBE_SECRET": SECRET}.items():
        monkeypatch.setenv(key, value)  # nothing listens on the port
    result = run("playbook_deliveries", (DAY + timedelta(days=3)).isoformat(), tmp_path,
                 fresh_pg_url, DagsterInstance.ephemeral())
    assert result.success  # the run itself is fine: the check and the alert say what is not
    check = {c.check_name: c for c in result.get_asset_check_evaluations()}[
        "mail_delivery_healthy"]
    failed = check.metadata["failed"].value
    assert not check.passed and failed == check.metadata["attempted"].value > 0
    engine = state_engine(fresh_pg_url)
    with engine.connect() as conn:
        [alert] = conn.execute(sa.select(workflow_alerts)).all()
    engine.dispose()
    assert alert.partition_key == (DAY + timedelta(days=3)).isoformat()
    assert alert.message.startswith(f"{failed} of {failed} sends failed")
