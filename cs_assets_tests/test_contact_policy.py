"""The contact policy: caps per household per day and per 7 days across marketing channels,
send windows in the household's time zone, the day's budget, priority when several
playbooks want the same household, stale steps skipped — each rule at its boundary, then a
simulated week of quarter-hour dispatcher passes over households in several time zones."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import yaml

from cs_assets.channels.email import EmailChannel, Recipient, UnsubscribeSettings
from cs_assets.playbooks.config import DEFAULT_PLAYBOOKS_PATH, ContactPolicy, SendWindow
from cs_assets.playbooks.enrolment import StepPlan
from cs_assets.playbooks.policy import budget_wait, cap_wait, stale_reason, window_wait
from cs_assets.playbooks.sender import Sender
from cs_assets.state import delivery as d
from cs_assets.state.schema import contact_log, enrolments, step_executions
from cs_assets.state.store import state_engine
from cs_assets_tests.factories import enrol, schedule_steps

T = datetime(2026, 1, 12, 12, tzinfo=UTC)  # winter: Los Angeles is UTC-8, Berlin UTC+1
SHIPPED = yaml.safe_load(DEFAULT_PLAYBOOKS_PATH.read_text(encoding="utf-8"))["contact_policy"]
LA, BERLIN = ZoneInfo("America/Los_Angeles"), ZoneInfo("Europe/Berlin")
# templates whose content needs nothing from the household
CONTEXTS = {"dormant_reengagement": {}, "onboarding_flow": {}, "testimonial_request": {},
            "adoption_congratulations": {},
            "support_having_issues": {"title": "Having any issues?", "body": "We can help."}}


def policy(**changes) -> ContactPolicy:
    return ContactPolicy.model_validate({**SHIPPED, **changes})


# ------------------------------------------------------------------ rules at their boundaries


def test_caps_count_the_last_24_hours_and_7_days_strictly():
    rule = policy(per_day=2, per_7_days=3)
    day_old = T - timedelta(days=1)  # exactly 24 hours ago: no longer in the day
    assert cap_wait([T - timedelta(hours=1)], [], T, rule) is None
    assert cap_wait([day_old, T - timedelta(hours=1)], [], T, rule) is None
    until, why = cap_wait([T - timedelta(hours=3), T - timedelta(hours=1)], [], T, rule)
    assert until == T - timedelta(hours=3) + timedelta(days=1)
    assert why == "2 marketing messages in the last 24 hours (cap 2)"
    week = [T - timedelta(days=6), T - timedelta(days=3), T - timedelta(days=2)]
    until, why = cap_wait(week, [], T, rule)
    assert (until, why) == (T + timedelta(days=1), "3 marketing messages in the last 7 days "
                                                   "(cap 3)")
    assert cap_wait([T - timedelta(days=7), *week[1:]], [], T, rule) is None
    until, why = cap_wait([T - timedelta(hours=1)], [T + timedelta(minutes=5)], T, rule)
    assert until == T + timedelta(minutes=5) and "1 being sent by another dispatcher" in why
    assert cap_wait(week * 3, [], T, policy(per_day=None, per_7_days=None)) is None


def test_the_send_window_is_the_households_local_day():
    window = SendWindow(start=time(8), end=time(20))
    # 12:00 UTC is 04:00 in Los Angeles: wait for 08:00 there (16:00 UTC)
    assert window_wait(T, LA, window) == datetime(2026, 1, 12, 16, tzinfo=UTC)
    assert window_wait(datetime(2026, 1, 12, 16, tzinfo=UTC), LA, window) is None  # 08:00
    # 19:00 UTC is 20:00 in Berlin: closed, until 08:00 tomorrow (07:00 UTC)
    assert window_wait(datetime(2026, 1, 12, 18, 59, tzinfo=UTC), BERLIN, window) is None
    assert window_wait(datetime(2026, 1, 12, 19, tzinfo=UTC), BERLIN, window) == datetime(
        2026, 1, 13, 7, tzinfo=UTC)
    # in summer Berlin is UTC+2: the same rule follows the clock change
    assert window_wait(datetime(2026, 7, 1, 5, 59, tzinfo=UTC), BERLIN, window) == datetime(
        2026, 7, 1, 6, tzinfo=UTC)


def test_the_budget_and_staleness_boundaries():
    assert budget_wait(9, T, policy(daily_budget=10)) is None
    assert budget_wait(10, T, policy(daily_budget=10)) == datetime(2026, 1, 13, tzinfo=UTC)
    assert budget_wait(10**6, T, policy(daily_budget=None)) is None
    rule = policy(stale_after_hours=36)
    assert stale_reason(T - timedelta(hours=36), T, rule) is None
    assert stale_reason(T - timedelta(hours=37), T, rule) == (
        "stale: due 2026-01-10 23:00 UTC, 37 hours ago (stale_after_hours 36)")
    assert stale_reason(T - timedelta(days=300), T, policy(stale_after_hours=None)) is None


@pytest.mark.parametrize(("changes", "message"), [
    ({"priority": ["save", "offer"]}, "must list each kind once"),
    ({"per_day": 3, "per_7_days": 2}, "per_7_days: must be at least per_day (3)"),
    ({"send_window": {"start": "20:00", "end": "08:00"}}, "end: must be after start"),
    ({"send_window": {"start": 8, "end": "20:00"}}, "start: Input should be a valid time"),
    ({"marketing_channels": ["email", "email"]}, "names a channel twice"),
    ({"per_day": 0}, "per_day: Input should be greater than or equal to 1"),
])
def test_a_bad_policy_fails_at_load_naming_the_key(changes, message):
    from cs_assets.playbooks.config import PlaybookConfigError, parse_playbooks

    raw = yaml.safe_load(DEFAULT_PLAYBOOKS_PATH.read_text(encoding="utf-8"))
    raw["contact_policy"] = {**raw["contact_policy"], **changes}
    with pytest.raises(PlaybookConfigError, match="contact_policy") as error:
        parse_playbooks(raw)
    assert message in str(error.value)


# ------------------------------------------------------------------ the sender applies them


@pytest.fixture
def engine(tmp_path):
    engine = state_engine(f"sqlite:///{tmp_path / 'state.db'}")
    yield engine
    engine.dispose()


def queue(engine, playbook: str, household: str, due: datetime, template: str, *,
          channel: str = "email", priority: int = 0, key: str | None = None) -> None:
    enrolment = enrol(engine, playbook, household, due.date(), holdout=False, now=due,
                      key=key, context=CONTEXTS)
    schedule_steps(engine, enrolment, [StepPlan(0, due, channel, template,
                                                priority=priority)])


def sender_for(engine, rule: ContactPolicy, households, clock, zones=None) -> Sender:
    email = EmailChannel(None, UnsubscribeSettings(b"s", mailto="u@example.test"),
                         lambda: clock[0])
    return Sender(email, {h: Recipient(h, f"{h}@example.test") for h in households}, rule,
                  zones=zones, now=lambda: clock[0])


def outcome_of(engine) -> dict[str, tuple[str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(enrolments.c.playbook, step_executions.c.status,
                                      step_executions.c.skipped_reason)
                            .join(enrolments)).all()
    return {playbook: (status, reason) for playbook, status, reason in rows}


def test_a_save_gets_the_last_slot_before_an_offer_enrolled_earlier(engine):
    rule = policy(per_day=1, send_window=None)
    queue(engine, "upsell", "a", T, "testimonial_request", priority=rule.rank("offer"))
    queue(engine, "reengagement", "a", T, "dormant_reengagement", priority=rule.rank("save"))
    clock = [T]
    assert d.dispatch(engine, "t", sender_for(engine, rule, ["a"], clock),
                      lambda: clock[0]) == {"sent": 1, "deferred": 1}
    assert outcome_of(engine) == {"reengagement": ("sent", None), "upsell": ("pending", None)}


def test_the_days_budget_defers_the_rest_to_tomorrow(engine):
    rule = policy(daily_budget=2, send_window=None)
    for household in "abc":
        queue(engine, f"p_{household}", household, T, "onboarding_flow")
    clock = [T]
    send = sender_for(engine, rule, "abc", clock)
    assert d.dispatch(engine, "t", send, lambda: clock[0]) == {"sent": 2, "deferred": 1}
    with engine.connect() as conn:
        reason = conn.execute(sa.select(contact_log.c.reason)
                              .where(contact_log.c.decision == "deferred")).scalar_one()
    assert reason == "the day's send budget of 2 is spent (until 2026-01-13 00:00 UTC)"
    clock[0] = datetime(2026, 1, 13, tzinfo=UTC)
    assert d.dispatch(engine, "t", send, lambda: clock[0]) == {"sent": 1}


def test_a_stale_marketing_step_is_skipped_and_a_receipt_is_still_sent(engine):
    rule = policy(stale_after_hours=36, send_window=None)
    due = T - timedelta(days=3)
    queue(engine, "journey", "a", due, "adoption_congratulations")
    queue(engine, "nudge", "a", due, "support_having_issues", channel="in_app")
    queue(engine, "receipt", "a", due, "onboarding_flow", channel="email_transactional")
    clock = [T]
    outcomes = d.dispatch(engine, "t", sender_for(engine, rule, ["a"], clock), lambda: T)
    assert outcomes == {"skipped": 2, "sent": 1}
    found = outcome_of(engine)
    assert found["receipt"] == ("sent", None)
    assert found["journey"][1].startswith("stale: due 2026-01-09 12:00 UTC, 72 hours ago")


def test_email_waits_for_the_window_where_the_household_lives(engine):
    rule = policy(send_window={"start": "08:00", "end": "20:00"})
    queue(engine, "p", "la", T, "onboarding_flow")  # 04:00 in Los Angeles
    queue(engine, "q", "berlin", T, "onboarding_flow")  # 13:00 in Berlin
    queue(engine, "r", "la", T, "support_having_issues", channel="in_app")  # in-app: no window
    clock = [T]
    send = sender_for(engine, rule, ["la", "berlin"], clock,
                      zones={"la": LA.key, "berlin": BERLIN.key})
    assert d.dispatch(engine, "t", send, lambda: clock[0]) == {"sent": 2, "deferred": 1}
    with engine.connect() as conn:
        waiting = conn.execute(sa.select(step_executions.c.next_attempt_at)
                               .where(step_executions.c.status == "pending")).scalar_one()
    assert waiting == datetime(2026, 1, 12, 16, tzinfo=UTC)  # 08:00 in Los Angeles


def test_a_simulated_week_of_quarter_hour_passes_keeps_every_rule(engine):
    """Sixty households in four time zones, each enrolled at random into playbooks of every
    kind at their local send hour on random days of a week; the dispatcher passes every 15
    minutes for three weeks. No household ever gets more than the caps allow in any 24 hours
    or 7 days, every marketing email leaves inside its local window, and everything is sent
    by the end."""
    rule = policy(per_day=2, per_7_days=4, send_window={"start": "08:00", "end": "20:00"},
                  stale_after_hours=None)
    rng = random.Random(7)
    zones = ["America/Los_Angeles", "America/New_York", "Europe/Berlin", "Asia/Tokyo"]
    households = {f"hh_{i:02d}": zones[i % 4] for i in range(60)}
    start = date(2026, 1, 12)
    kinds = ["save", "onboarding", "survey", "offer"]
    for household, zone_name in households.items():
        for n in range(rng.randint(2, 8)):
            day = start + timedelta(days=rng.randint(0, 6))
            due = datetime.combine(day, time(10), tzinfo=ZoneInfo(zone_name)).astimezone(UTC)
            kind = rng.choice(kinds)
            channel = rng.choice(["email", "email", "in_app"])
            template = "onboarding_flow" if channel == "email" else "support_having_issues"
            queue(engine, kind, household, due, template, channel=channel,
                  priority=rule.rank(kind), key=f"{n}")
    clock = [datetime.combine(start, time(0), tzinfo=UTC)]
    send = sender_for(engine, rule, households, clock, zones=households)
    while clock[0] < datetime.combine(start + timedelta(days=21), time(0), tzinfo=UTC):
        d.dispatch(engine, "t", send, lambda: clock[0])
        clock[0] += timedelta(minutes=15)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(enrolments.c.household_id, step_executions.c.channel,
                                      step_executions.c.status, step_executions.c.sent_at)
                            .join(enrolments)).all()
    assert {status for *_, status, _ in rows} == {"sent"}  # three weeks: everything went
    sent = defaultdict(list)
    for household, channel, _, at in rows:
        sent[household].append(at)
        if channel == "email":
            local = at.astimezone(ZoneInfo(households[household])).time()
            assert time(8) <= local < time(20), (household, at)
    for times in sent.values():
        times.sort()
        for at in times:
            assert sum(at - timedelta(days=1) < t <= at for t in times) <= 2
            assert sum(at - timedelta(days=7) < t <= at for t in times) <= 4
