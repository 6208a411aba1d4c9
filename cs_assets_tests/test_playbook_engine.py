"""The playbook engine's day: enrolments with their message content, exits, conditional steps,
the sender's channel routing and records, and the serving table — on hand-built frames and a
SQLite state database."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
import sqlalchemy as sa
import yaml

from cs_assets.channels.email import EmailChannel, Recipient, UnsubscribeSettings
from cs_assets.features.household import FEATURE_COLUMNS
from cs_assets.playbooks import (
    DEFAULT_PLAYBOOKS_PATH,
    is_holdout,
    load_playbooks,
    parse_playbooks,
    progress,
)
from cs_assets.playbooks import content as c
from cs_assets.playbooks.config import PlaybookConfigError
from cs_assets.playbooks.enrolment import EXISTING_SCHEMA, select_enrolments
from cs_assets.playbooks.runner import run_day
from cs_assets.playbooks.sender import Sender
from cs_assets.state import delivery as d
from cs_assets.state.contacts import contact_history, contact_summary
from cs_assets.state.health_snapshot import snapshot_rows, upsert_snapshot
from cs_assets.state.schema import (
    checkins,
    enrolments,
    health_snapshot,
    in_app_notifications,
    message_events,
    outbox,
    step_executions,
    survey_sends,
)
from cs_assets.state.store import record_opt_out, state_engine
from cs_assets.vocabulary import HH

D0 = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 6, tzinfo=UTC)
SHIPPED = load_playbooks()
CONTENT = c.load_content()
NAMES = {"csm_01": "Sarah"}


def catalog(playbooks: dict, **policy):
    """The shipped settings with these playbooks (kind `save` unless given) and the shipped
    contact policy with `policy` over it; no send window and nothing stale unless asked, so
    a test's clock may be any time after the steps fall due."""
    raw = yaml.safe_load(DEFAULT_PLAYBOOKS_PATH.read_text(encoding="utf-8"))
    quiet = {"send_window": None, "stale_after_hours": None}
    return parse_playbooks({
        **raw, "contact_policy": {**raw["contact_policy"], **quiet, **policy},
        "playbooks": {name: {"kind": "save", **p} for name, p in playbooks.items()}})


NUDGE = {
    "source": "test",
    "triggers": [{"asset": "health_tiers", "where": "tier == 'at_risk'"}],
    "at_risk": {"asset": "health_tiers", "where": "tier != 'healthy'"},
    "steps": [
        {"day": 0, "channel": "email", "template": "win_back_offer"},
        {"day": 1, "channel": "in_app", "template": "support_having_issues"},
        {"day": 2, "channel": "csm_task", "template": "at_risk_health_alert",
         "condition": "still_at_risk"},
        {"day": 3, "channel": "email", "template": "feature_discovery",
         "condition": "no_response_since_enrolment"},
    ],
    "exit_on": ["churned", "opted_out"],
    "holdout_share": 0.2,
    "cooldown_days": 7,
}


def features(day: date, households: list[str], **overrides) -> pl.DataFrame:
    """household_features rows with every column (numbers 0, Free plan, long-time users)."""
    n = len(households)
    columns = {name: [0.0] * n for name in FEATURE_COLUMNS}
    columns.update(household_id=households, as_of=[day] * n, plan=["Free"] * n,
                   payment_status=["current"] * n, days_since_signup=[400.0] * n,
                   days_since_last_login=[5.0] * n, calendar_sync_setup=[False] * n,
                   has_unresolved_critical_ticket=[False] * n,
                   support_satisfaction_drop=[False] * n,
                   premium_onboarding_completed=[False] * n, pet_health_trend=[None] * n)
    for column, values in overrides.items():
        columns[column] = values
    return pl.DataFrame(columns, schema_overrides={"pet_health_trend": pl.Float64})


def tiers(day: date, tier_by_household: dict[str, str]) -> pl.DataFrame:
    households = list(tier_by_household)
    return pl.DataFrame({
        "household_id": households, "as_of": [day] * len(households),
        "health_score": [50.0] * len(households), "alert_count": [1] * len(households),
        "tier": list(tier_by_household.values()),
        "top_reasons": ["value delivery -30; usage -40%"] * len(households),
    })


def assignments(day: date, households: list[str]) -> pl.DataFrame:
    n = len(households)
    return pl.DataFrame({"household_id": households, "as_of": [day] * n, "plan": ["Free"] * n,
                         "region": ["US"] * n, "csm_id": ["csm_01"] * n, "route": ["csm"] * n,
                         "assigned_at": [NOW] * n})


def frames_for(day: date, tier_by_household: dict[str, str], **feature_overrides) -> dict:
    households = list(tier_by_household)
    return {
        "health_tiers": tiers(day, tier_by_household),
        "household_features": features(day, households, **feature_overrides),
        "csm_assignments": assignments(day, households),
    }


@pytest.fixture
def engine(tmp_path):
    engine = state_engine(f"sqlite:///{tmp_path / 'state.db'}")
    yield engine
    engine.dispose()


def steps_of(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(enrolments.c.household_id, enrolments.c.holdout, enrolments.c.exit_status,
                      step_executions)
            .join(enrolments, enrolments.c.enrolment_id == step_executions.c.enrolment_id)
            .order_by(enrolments.c.household_id, step_executions.c.step_index)
        ).all()


# ------------------------------------------------------------------------- content


def test_every_shipped_template_has_content_and_renders_from_a_household_row():
    assert set(SHIPPED.templates) <= set(c.BUILDERS)
    row = {"plan": "Premium", "days_since_signup": 800, "_used_0": True, "_used_1": False,
           "_used_2": False, "_used_3": True, "_used_4": False, "_used_5": False,
           "csm_id": "csm_01", "route": "csm", "health_score": 35.0, "tier": "critical",
           "alert_count": 3, "top_reasons": "usage -40%; tickets 6", "premium_adoption_score": 42.4,
           "decline_metric": "task_completion", "percent_change": -45.0, "survey_type": "NPS",
           "nps_score": 10, "upsell_angle": "advanced_analytics", "opportunity": "calendar_sync",
           "referral_code": "ABC123", "credit_usd": 10.0, "premium_months": 0, "place": 2,
           "successful_referrals": 7}
    contexts = c.contexts(list(SHIPPED.templates), pl.DataFrame([row]), CONTENT, NAMES)[0]
    assert set(contexts) == set(SHIPPED.templates)
    # the first three unused features in the configured order
    assert [f["name"] for f in contexts["feature_discovery"]["features"]] == [
        "Pet health log", "Calendar Sync", "Custom Templates"]
    assert contexts["premium_roi_check_in"] == {
        "adoption_score": 42, "used_features": ["Advanced Analytics"],
        "unused_features": ["Calendar Sync", "Custom Templates", "Priority Support"]}
    assert contexts["declining_usage"]["csm_name"] == "Sarah"
    assert contexts["anniversary"] == {"years": 2}
    assert contexts["referral_invitation"]["referral_url"].endswith("/r/ABC123")
    assert contexts["addon_offer"]["addon"]["price"] == "$3/month"
    assert contexts["referral_success_referrer"] == {"reward": "$10 account credit"}
    assert contexts["critical_health_alert"]["priority"] == "high"
    assert contexts["critical_health_alert"]["notes"] == (
        "Health 35, 3 trend alerts. usage -40%; tickets 6")


def test_the_task_gives_the_models_view_and_says_when_it_disagrees_with_health():
    base = {"plan": "Free", "csm_id": "csm_01", "route": "csm", "health_score": 72.0,
            "alert_count": 0, "top_reasons": "usage fine"}
    healthy_but_risky = {**base, "tier": "healthy", "churn_probability": 0.61,
                         "churn_risk_segment": "Critical", "top_drivers": "logins_30d"}
    agreed = {**base, "health_score": 45.0, "tier": "at_risk", "churn_probability": 0.4,
              "churn_risk_segment": "High", "top_drivers": None}
    no_model = {**base, "tier": "at_risk"}
    notes = [c.contexts(["at_risk_health_alert"], pl.DataFrame([row]), CONTENT, NAMES)[0][
        "at_risk_health_alert"]["notes"] for row in (healthy_but_risky, agreed, no_model)]
    assert "Churn model: Critical risk (61% within 30 days; drivers: logins_30d)." in notes[0]
    assert "disagree (health tier healthy)" in notes[0]
    assert "Churn model: High risk (40% within 30 days)." in notes[1]
    assert "disagree" not in notes[1]
    assert "Churn model" not in notes[2]  # before the first champion: the health view alone


def test_a_template_whose_data_is_missing_is_left_out_and_merge_keeps_the_old_one():
    rows = pl.DataFrame([{"plan": "Free", "route": "automated", "csm_id": "ops_01"}])
    got = c.contexts(["declining_usage", "proactive_check_in"], rows, CONTENT, NAMES)[0]
    unassigned = c.contexts(["proactive_check_in"], pl.DataFrame([{"plan": "Free"}]),
                            CONTENT, NAMES)[0]
    assert unassigned == {c.MISSING: {"proactive_check_in": "csm_id"}}  # no assignment that day
    assert "declining_usage" not in got  # no trend alert that day
    assert got[c.MISSING] == {"declining_usage": "decline_metric"}
    assert got["proactive_check_in"]["csm_name"] == CONTENT.team_name  # automated CS
    old = {"declining_usage": {"percent_change": -50}}
    assert c.merge(old, got) == {**old, "proactive_check_in": got["proactive_check_in"]}
    assert c.merge({}, got)[c.MISSING] == {"declining_usage": "decline_metric"}


def test_content_feature_condition_is_checked_at_load():
    raw = yaml.safe_load(c.CONTENT_CONFIG.default_path.read_text(encoding="utf-8"))
    raw["features"][0]["used_when"] = "total_memberz > 1"
    with pytest.raises(c.ContentConfigError, match=r"features\.0\.used_when.*total_memberz"):
        c.CONTENT_CONFIG.parse(raw)


# ------------------------------------------------------------------------- progress (pure)


def open_frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=progress.OPEN_SCHEMA, orient="row")


def test_exits_in_order_churned_opted_out_recovered_responded():
    # responded: the targeted behaviour back (here: a login within a day), or a click
    back = {"asset": "household_features", "where": "days_since_last_login < 1"}
    cat = catalog({"p": {**NUDGE, "exit_on": ["responded", "recovered", "churned", "opted_out"],
                         "comeback": back}})
    day = D0 + timedelta(days=2)
    sent = datetime(2026, 3, 2, 10, tzinfo=UTC)
    open_ = open_frame([
        (1, "p", "gone", D0, sent, None),        # not active today: churned
        (2, "p", "optout", D0, sent, None),      # opted out and healthy: opted_out first
        (3, "p", "healthy", D0, sent, None),     # healthy now: recovered
        (4, "p", "login", D0, sent, None),       # the behaviour back after the send
        (5, "p", "clicked", D0, None, datetime(2026, 3, 3, 12, tzinfo=UTC)),  # a click
        (6, "p", "quiet", D0, sent, None),       # still at risk, no response
        (7, "p", "today", day, None, None),      # enrolled today: not judged yet
    ])
    frames = frames_for(day, {"optout": "healthy", "healthy": "healthy", "login": "at_risk",
                              "clicked": "at_risk", "quiet": "at_risk", "today": "healthy"},
                        # days since last login at the as-of instant (2026-03-04 00:00)
                        days_since_last_login=[9.0, 9.0, 0.5, 9.0, 9.0, 0.1])
    refused = {"email": {"optout"}, "in_app": {"optout"}}
    got = dict(progress.exits(cat, open_, frames, refused, day).iter_rows())
    assert got == {1: "churned", 2: "opted_out", 3: "recovered", 4: "responded", 5: "responded"}
    # without a comeback, a login is no response: only the click is
    plain = catalog({"p": {**NUDGE, "exit_on": ["responded", "recovered", "churned",
                                                "opted_out"]}})
    assert 4 not in dict(progress.exits(plain, open_, frames, refused, day).iter_rows())
    # refusing email only: the playbook still reaches it in the app, so it stays (and recovers)
    email_only = {"email": {"optout"}, "in_app": set()}
    assert dict(progress.exits(cat, open_, frames, email_only, day).iter_rows())[2] == "recovered"


def test_an_exit_whose_asset_is_missing_is_not_judged():
    cat = catalog({"p": {**NUDGE, "exit_on": ["recovered", "churned"]}})
    day = D0 + timedelta(days=1)
    open_ = open_frame([(1, "p", "a", D0, None, None)])
    assert progress.exits(cat, open_, {}, {"email": set(), "in_app": set()}, day).is_empty()
    gone = open_frame([(2, "removed_from_the_yaml", "a", D0, None, None)])
    assert progress.exits(cat, gone, {}, {"email": set(), "in_app": set()}, day).is_empty()


def test_war_story_1_silent_churners_who_still_log_in_get_the_day_14_offer():
    """Re-engagement counts task completions coming back as a response, not a login."""
    cat = catalog({"reengagement": SHIPPED.playbooks["reengagement"].model_dump(
        exclude={"name"})})
    day = D0 + timedelta(days=14)
    sent = datetime(2026, 3, 3, 10, tzinfo=UTC)
    open_ = open_frame([(1, "reengagement", "silent", D0, sent, None),
                        (2, "reengagement", "back", D0, sent, None)])
    due = pl.DataFrame([(10, 1, "no_response_since_enrolment"),
                        (11, 2, "no_response_since_enrolment")],
                       schema=progress.DUE_SCHEMA, orient="row")
    frames = frames_for(day, {"silent": "at_risk", "back": "at_risk"},
                        days_since_last_login=[0.2, 3.0],  # the silent one logs in daily
                        tasks_completed_30d=[2.0, 9.0], task_completion_trend=[-0.6, 0.1])
    got = dict(progress.conditions(cat, due, open_, frames, day).iter_rows())
    assert got == {10: True, 11: False}  # the offer goes to the silent churner only


def test_conditions_are_judged_on_the_day_and_left_open_without_data():
    back = {"asset": "household_features", "where": "days_since_last_login < 2"}
    cat = catalog({"p": {**NUDGE, "comeback": back}})
    day = D0 + timedelta(days=3)
    sent = datetime(2026, 3, 2, 10, tzinfo=UTC)
    open_ = open_frame([(1, "p", "risky", D0, sent, None), (2, "p", "fine", D0, sent, None),
                        (3, "p", "came_back", D0, sent, None)])
    due = pl.DataFrame([(10, 1, "still_at_risk"), (11, 2, "still_at_risk"),
                        (12, 1, "no_response_since_enrolment"),
                        (13, 3, "no_response_since_enrolment")],
                       schema=progress.DUE_SCHEMA, orient="row")
    frames = frames_for(day, {"risky": "critical", "fine": "healthy", "came_back": "at_risk"},
                        days_since_last_login=[3.0, 3.0, 1.0])  # came_back: 2026-03-04
    got = dict(progress.conditions(cat, due, open_, frames, day).iter_rows())
    assert got == {10: True, 11: False, 12: True, 13: False}
    assert progress.conditions(cat, due, open_, {}, day).is_empty()


# ------------------------------------------------------------------------- one day end to end


def test_run_day_enrols_once_holds_out_and_stores_what_the_messages_say(engine):
    cat = catalog({"nudge": NUDGE})
    households = [f"hh_{i:02d}" for i in range(20)]
    frames = frames_for(D0, dict.fromkeys(households, "at_risk"))
    report = run_day(engine, cat, CONTENT, frames, D0, NOW, NAMES)
    held = {h for h in households if is_holdout("nudge", h, 0.2, cat.holdout_salt)}
    assert 0 < len(held) < 20
    assert report.enrolled.height == 20
    assert set(report.enrolled.filter(pl.col("holdout"))["household_id"]) == held
    rows = steps_of(engine)
    assert len(rows) == 80
    for row in rows:
        if row.household_id in held and row.channel != "csm_task":
            assert (row.status, row.skipped_reason) == ("skipped", "holdout")
        else:  # the day-2 CSM task too: human work is never held out
            assert row.status == "pending"
    day3 = [r for r in rows if r.step_index == 3]
    assert {r.condition for r in day3} == {"no_response_since_enrolment"}
    assert {r.due_at for r in day3} == {datetime(2026, 3, 5, 10, tzinfo=UTC)}
    with engine.connect() as conn:
        context = conn.execute(sa.select(enrolments.c.context)).scalars().first()
    assert context["win_back_offer"] == {"offer": CONTENT.win_back_offer}
    assert context["at_risk_health_alert"]["title"] == "At-risk household: review"

    again = run_day(engine, cat, CONTENT, frames, D0, NOW, NAMES)  # a re-fired sensor: the same day
    assert again.enrolled.equals(report.enrolled) and len(steps_of(engine)) == 80
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(enrolments)) == 20
    tomorrow = frames_for(D0 + timedelta(days=1), dict.fromkeys(households, "at_risk"))
    later = run_day(engine, cat, CONTENT, tomorrow, D0 + timedelta(days=1), NOW, NAMES)
    assert later.enrolled.is_empty()


def test_a_playbook_whose_asset_is_missing_waits_while_the_others_enrol(engine):
    cat = catalog({"nudge": NUDGE, "by_segment": {**NUDGE, "triggers": [
        {"asset": "micro_segments", "where": "usage_intensity == 'Dormant User'"}]}})
    report = run_day(engine, cat, CONTENT, frames_for(D0, {"a": "at_risk"}), D0, NOW, NAMES)
    assert report.missing_assets == {"by_segment": ["micro_segments"]}
    assert report.enrolled["playbook"].to_list() == ["nudge"]


def test_exits_skip_the_rest_and_unmet_conditions_are_skipped_with_the_reason(engine):
    cat = catalog({"nudge": {**NUDGE, "holdout_share": 0}})
    run_day(engine, cat, CONTENT, frames_for(D0, {"stays": "at_risk", "leaves": "at_risk",
                                         "recovers": "at_risk", "optout": "at_risk"}),
            D0, NOW, NAMES)
    record_opt_out(engine, "optout", "all", "support_request", NOW)  # refuses every channel
    day2 = D0 + timedelta(days=2)
    frames = frames_for(day2, {"stays": "critical", "recovers": "healthy", "optout": "at_risk"})
    report = run_day(engine, cat, CONTENT, frames, day2, NOW, NAMES)
    assert report.exits == {"churned": 1, "opted_out": 1}
    assert report.conditions == {"met": 1, "not met": 1}
    by = {(r.household_id, r.step_index): r for r in steps_of(engine)}
    assert by[("leaves", 2)].skipped_reason == "enrolment exited: churned"
    assert by[("optout", 3)].skipped_reason == "enrolment exited: opted_out"
    assert by[("stays", 2)].condition_met_on == day2
    assert by[("recovers", 2)].skipped_reason == f"condition still_at_risk not met on {day2}"
    assert by[("stays", 3)].condition_met_on is None  # judged on its own due day
    # the dispatcher claims the met condition, never the unjudged one
    due = d.claim_due(engine, "t", datetime(2026, 3, 9, tzinfo=UTC))
    claimed = {(s.household_id, s.step_index) for s in due}
    assert ("stays", 2) in claimed and ("stays", 3) not in claimed


def test_no_response_condition_sees_a_click_on_an_earlier_message(engine):
    cat = catalog({"nudge": {**NUDGE, "holdout_share": 0}})
    run_day(engine, cat, CONTENT, frames_for(D0, {"clicker": "at_risk", "silent": "at_risk"}),
            D0, NOW, NAMES)
    sent = d.dispatch(engine, "t", lambda step, tx: None,
                      lambda: datetime(2026, 3, 2, 11, tzinfo=UTC))
    assert sent == {"sent": 2}  # the day-0 emails
    with engine.begin() as conn:
        first = conn.execute(
            sa.select(step_executions.c.message_id)
            .join(enrolments, enrolments.c.enrolment_id == step_executions.c.enrolment_id)
            .where(enrolments.c.household_id == "clicker", step_executions.c.step_index == 0)
        ).scalar_one()
        conn.execute(sa.insert(message_events), [
            dict(message_id=first, kind="click", at=datetime(2026, 3, 3, 8, tzinfo=UTC))])
    day3 = D0 + timedelta(days=3)
    run_day(engine, cat, CONTENT, frames_for(day3, {"clicker": "at_risk", "silent": "at_risk"},
                                    days_since_last_login=[9.0, 9.0]), day3, NOW, NAMES)
    by = {(r.household_id, r.step_index): r for r in steps_of(engine)}
    assert by[("clicker", 3)].status == "skipped"
    assert by[("silent", 3)].condition_met_on == day3


# ------------------------------------------------------------------------- sender


def test_sender_routes_channels_and_records_what_the_lists_read(engine):
    cat = catalog({
        "nudge": {**NUDGE, "holdout_share": 0, "steps": NUDGE["steps"][:3]},
        "survey": {"source": "t", "triggers": [{"asset": "health_tiers"}],
                   "steps": [{"day": 0, "channel": "email", "template": "proactive_check_in"},
                             {"day": 0, "channel": "in_app",
                              "template": "survey_invitation_in_app"}],
                   "exit_on": [], "holdout_share": 0, "cooldown_days": 14},
    }, per_day=None, per_7_days=None)
    run_day(engine, cat, CONTENT, frames_for(D0, {"a": "at_risk"}), D0, NOW, NAMES)
    email = EmailChannel(None, UnsubscribeSettings(b"s", mailto="u@example.test"))
    sender = Sender(email, {"a": Recipient("a", "a@example.test", "Ann")}, cat.contact_policy)
    outcomes = d.dispatch(engine, "t", sender, lambda: datetime(2026, 3, 9, tzinfo=UTC))
    # nudge: the email and the in-app message (its task waits for its condition); the check-in;
    # the survey's context lacked survey_type (no survey_eligibility row): skipped, said so
    assert outcomes == {"sent": 3, "skipped": 1}
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(outbox)) == 2
        assert conn.execute(sa.select(in_app_notifications.c.title)).scalars().all() == [
            "Having any issues?"]
        assert conn.execute(sa.select(checkins.c.kind, checkins.c.sent_at)).all() == [
            ("proactive_check_in", datetime(2026, 3, 2, 10, tzinfo=UTC))]
        assert conn.scalar(sa.select(sa.func.count()).select_from(survey_sends)) == 0
    reasons = {r.template: r.skipped_reason for r in steps_of(engine) if r.status == "skipped"}
    assert reasons["survey_invitation_in_app"] == (
        "no message content for survey_invitation_in_app: the household has no survey_type")


def test_a_shadow_playbook_renders_and_sends_nothing_and_an_off_one_enrols_no_one(engine):
    two_steps = {**NUDGE, "holdout_share": 0, "steps": NUDGE["steps"][:2], "at_risk": None}
    cat = catalog({"quiet": {**two_steps, "mode": "shadow"}, "gone": {**two_steps,
                                                                       "mode": "off"}})
    report = run_day(engine, cat, CONTENT, frames_for(D0, {"a": "at_risk"}), D0, NOW, NAMES)
    assert report.enrolled["playbook"].to_list() == ["quiet"]  # off: no one
    email = EmailChannel(None, UnsubscribeSettings(b"s", mailto="u@example.test"))
    sender = Sender(email, {"a": Recipient("a", "a@example.test")}, cat.contact_policy,
                    modes=cat.modes())
    outcomes = d.dispatch(engine, "t", sender, lambda: datetime(2026, 3, 9, tzinfo=UTC))
    assert outcomes == {"skipped": 2}
    assert {r.skipped_reason for r in steps_of(engine)} == {"shadow mode: rendered, not sent"}
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(outbox)) == 0
        assert conn.scalar(sa.select(sa.func.count()).select_from(in_app_notifications)) == 0


def test_steps_of_a_playbook_switched_off_after_enrolling_are_not_sent(engine):
    cat = catalog({"nudge": {**NUDGE, "holdout_share": 0, "steps": NUDGE["steps"][:1],
                             "at_risk": None}})
    run_day(engine, cat, CONTENT, frames_for(D0, {"a": "at_risk"}), D0, NOW, NAMES)
    email = EmailChannel(None, UnsubscribeSettings(b"s", mailto="u@example.test"))
    sender = Sender(email, {"a": Recipient("a", "a@example.test")}, cat.contact_policy,
                    modes={"nudge": "off"})
    assert d.dispatch(engine, "t", sender, lambda: datetime(2026, 3, 9, tzinfo=UTC)) == {
        "skipped": 1}
    assert [r.skipped_reason for r in steps_of(engine)] == ["playbook switched off"]


def test_csm_task_without_an_assignment_in_the_state_database_is_skipped(engine):
    cat = catalog({"nudge": {**NUDGE, "holdout_share": 0}})
    run_day(engine, cat, CONTENT, frames_for(D0, {"a": "at_risk"}), D0, NOW, NAMES)
    day2 = D0 + timedelta(days=2)
    run_day(engine, cat, CONTENT, frames_for(day2, {"a": "at_risk"}), day2, NOW, NAMES)
    email = EmailChannel(None, UnsubscribeSettings(b"s", mailto="u@example.test"))
    sender = Sender(email, {"a": Recipient("a", "a@example.test")}, cat.contact_policy)
    d.dispatch(engine, "t", sender, lambda: datetime(2026, 3, 4, 12, tzinfo=UTC))
    by = {r.step_index: r for r in steps_of(engine)}
    assert by[2].skipped_reason.startswith("no CSM assignment")


# ------------------------------------------------------------------------- serving table


def test_serving_table_keeps_the_latest_day_per_household(engine):
    day1 = tiers(D0, {"a": "critical", "b": "healthy"})
    predictions = pl.DataFrame({"household_id": ["a"], "churn_probability": [0.7],
                                "churn_risk_segment": ["Critical"]})
    upsert_snapshot(engine, snapshot_rows(day1, predictions, assignments(D0, ["a"])), NOW)
    day2 = tiers(D0 + timedelta(days=1), {"a": "at_risk"})
    upsert_snapshot(engine, snapshot_rows(day2, None, None), NOW)
    upsert_snapshot(engine, snapshot_rows(day1, predictions, None), NOW)  # an old day again
    with engine.connect() as conn:
        rows = {r.household_id: r for r in conn.execute(sa.select(health_snapshot))}
    assert (rows["a"].as_of, rows["a"].tier, rows["a"].churn_probability) == (
        D0 + timedelta(days=1), "at_risk", None)
    assert (rows["b"].as_of, rows["b"].tier, rows["b"].top_reasons) == (
        D0, "healthy", ["value delivery -30", "usage -40%"])


def test_content_of_a_household_matched_by_one_of_two_triggers_uses_the_facts(engine):
    # the second trigger joins health_tiers, so its health_score column is null in the rows of
    # the first: the household's facts fill it
    cat = catalog({"two": {
        "source": "t",
        "triggers": [{"asset": "household_features", "where": "plan == 'Free'"},
                     {"asset": "household_features", "join": ["health_tiers"],
                      "where": "tier == 'critical'"}],
        "steps": [{"day": 0, "channel": "csm_task", "template": "at_risk_health_alert"}],
        "exit_on": [], "holdout_share": 0, "cooldown_days": 7}})
    run_day(engine, cat, CONTENT, frames_for(D0, {"free": "at_risk"}), D0, NOW, NAMES)
    with engine.connect() as conn:
        context = conn.execute(sa.select(enrolments.c.context)).scalar_one()
    assert context["at_risk_health_alert"]["notes"] == (
        "Health 50, 1 trend alerts. value delivery -30; usage -40%")


def test_marketing_is_capped_per_day_and_per_week_across_channels_and_the_rest_wait(engine):
    """Two marketing messages in any 24 hours and three in any 7 days, email and in-app
    counted together; the receipt is never capped. What waits goes when room frees."""
    steps = [{"day": 0, "channel": "email", "template": "win_back_offer"},
             {"day": 0, "channel": "email", "template": "feature_discovery"},
             {"day": 0, "channel": "email", "template": "dormant_reengagement"},
             {"day": 0, "channel": "email", "template": "review_thank_you",
              "transactional": True},
             {"day": 0, "channel": "in_app", "template": "support_having_issues"}]
    cat = catalog({"many": {"source": "t", "triggers": [{"asset": "health_tiers"}],
                            "steps": steps, "exit_on": [], "holdout_share": 0,
                            "cooldown_days": 0}}, per_day=2, per_7_days=3)
    run_day(engine, cat, CONTENT, frames_for(D0, {"a": "at_risk"}), D0, NOW, NAMES)
    with engine.begin() as conn:  # the receipt's context (a reward) does not come from tiers
        context = conn.execute(sa.select(enrolments.c.context)).scalar_one()
        conn.execute(sa.update(enrolments).values(
            context={**context, "review_thank_you": {"reward": "$20 account credit"}}))
    clock = [datetime(2026, 3, 2, 11, tzinfo=UTC)]
    email = EmailChannel(None, UnsubscribeSettings(b"s", mailto="u@example.test"))
    sender = Sender(email, {"a": Recipient("a", "a@example.test")}, cat.contact_policy,
                    now=lambda: clock[0])

    def run(at: datetime) -> Counter:
        clock[0] = at
        return d.dispatch(engine, "t", sender, lambda: clock[0])

    # two emails and the receipt go; the third email and the in-app message wait a day
    assert run(datetime(2026, 3, 2, 11, tzinfo=UTC)) == {"sent": 3, "deferred": 2}
    waiting = [r for r in steps_of(engine) if r.status == "pending"]
    assert [(r.template, r.attempts, r.next_attempt_at) for r in waiting] == [
        ("dormant_reengagement", 0, datetime(2026, 3, 3, 11, tzinfo=UTC)),
        ("support_having_issues", 0, datetime(2026, 3, 3, 11, tzinfo=UTC))]
    assert run(datetime(2026, 3, 3, 10, tzinfo=UTC)) == {}  # 23 hours later: still waiting
    # a day later the email goes; the in-app message is the week's fourth: it waits a week
    assert run(datetime(2026, 3, 3, 11, 5, tzinfo=UTC)) == {"sent": 1, "deferred": 1}
    assert run(datetime(2026, 3, 9, 10, 59, tzinfo=UTC)) == {}
    assert run(datetime(2026, 3, 9, 11, tzinfo=UTC)) == {"sent": 1}
    # the contact log says why each message went, waited, or did not
    history = contact_history(engine, "a")
    assert history.filter(pl.col("decision") == "deferred")["reason"].to_list() == [
        "2 marketing messages in the last 24 hours (cap 2) (until 2026-03-03 11:00 UTC)",
        "2 marketing messages in the last 24 hours (cap 2) (until 2026-03-03 11:00 UTC)",
        "3 marketing messages in the last 7 days (cap 3) (until 2026-03-09 11:00 UTC)"]
    week = contact_summary(engine, datetime(2026, 3, 4, tzinfo=UTC), ["email", "in_app"])
    assert (week["households_contacted_7d"], week["contacts_per_household_7d_max"]) == (1, 4)
    # the receipt is not marketing; one email in the day before 03-04 00:00
    assert (week["marketing_per_household_7d_max"],
            week["marketing_per_household_24h_max"]) == (3, 1)
    assert week["deferrals_by_reason_7d"].rows() == [
        ("2 marketing messages in the last 24 hours (cap 2)", 2),
        ("3 marketing messages in the last 7 days (cap 3)", 1)]


def test_the_contact_log_shows_what_was_held_out_and_suppressed(engine):
    cat = catalog({"nudge": {**NUDGE, "holdout_share": 0.5, "steps": NUDGE["steps"][:2],
                             "at_risk": None}})
    households = [f"hh_{i:02d}" for i in range(8)]
    run_day(engine, cat, CONTENT, frames_for(D0, dict.fromkeys(households, "at_risk")), D0,
            NOW, NAMES)
    held = sorted(h for h in households if is_holdout("nudge", h, 0.5, cat.holdout_salt))
    treated = sorted(set(households) - set(held))
    record_opt_out(engine, treated[0], "email", "unsubscribe_link", NOW)
    email = EmailChannel(None, UnsubscribeSettings(b"s", mailto="u@example.test"))
    sender = Sender(email, {h: Recipient(h, f"{h}@example.test") for h in households},
                    cat.contact_policy)
    d.dispatch(engine, "t", sender, lambda: datetime(2026, 3, 9, tzinfo=UTC))
    assert set(contact_history(engine, held[0])["decision"]) == {"held_out"}
    opted = contact_history(engine, treated[0])
    assert opted.select("channel", "decision", "reason").rows() == [
        ("in_app", "sent", None), ("email", "suppressed", "opted out of email")]


def test_two_dispatchers_racing_on_a_household_never_pass_the_cap(engine):
    """Each dispatcher claims one of the household's two due emails with one slot left under
    the cap: whichever checks, it sees the other's claim and waits; the next pass sends one."""
    emails = [{"day": 0, "channel": "email", "template": t}
              for t in ("win_back_offer", "feature_discovery")]
    cat = catalog({"two": {"source": "t", "triggers": [{"asset": "health_tiers"}],
                           "steps": emails, "exit_on": [], "holdout_share": 0,
                           "cooldown_days": 0}}, per_day=1)
    run_day(engine, cat, CONTENT, frames_for(D0, {"a": "at_risk"}), D0, NOW, NAMES)
    now = datetime(2026, 3, 2, 11, tzinfo=UTC)
    email = EmailChannel(None, UnsubscribeSettings(b"s", mailto="u@example.test"))
    sender = Sender(email, {"a": Recipient("a", "a@example.test")}, cat.contact_policy,
                    now=lambda: now)
    [first] = d.claim_due(engine, "dispatcher-1", now, limit=1)
    [second] = d.claim_due(engine, "dispatcher-2", now, limit=1)
    # both check before either records its outcome: each sees the other's claim and waits
    for owner, step in (("dispatcher-2", second), ("dispatcher-1", first)):
        with (engine.connect() as conn,
              pytest.raises(d.Defer, match="1 being sent by another dispatcher") as waited):
            sender(step, d.Tx(conn, owner, [step], lambda: now))
        assert waited.value.until == now + d.DEFAULT_LEASE
    for owner, step in (("dispatcher-1", first), ("dispatcher-2", second)):
        assert d.mark_deferred(engine, step, owner, now + d.DEFAULT_LEASE)
    later = now + d.DEFAULT_LEASE
    outcomes = d.dispatch(engine, "dispatcher-1", sender, lambda: later)
    assert outcomes == {"sent": 1, "deferred": 1}
    sent = [r for r in steps_of(engine) if r.status == "sent"]
    with engine.connect() as conn:
        queued = conn.scalar(sa.select(sa.func.count()).select_from(outbox))
    assert len(sent) == 1 and queued == 1


def test_a_check_in_that_is_not_sent_is_not_recorded_as_contact(engine):
    cat = catalog({"checkin": {
        "source": "t", "triggers": [{"asset": "health_tiers"}],
        "steps": [{"day": 0, "channel": "email", "template": "proactive_check_in"}],
        "exit_on": [], "holdout_share": 0, "cooldown_days": 90}})
    run_day(engine, cat, CONTENT, frames_for(D0, {"a": "at_risk", "b": "at_risk"}), D0, NOW, NAMES)
    email = EmailChannel(None, UnsubscribeSettings(b"s", mailto="u@example.test"))
    sender = Sender(email, {"a": Recipient("a", "a@example.test")},  # b: no address
                    cat.contact_policy)
    outcomes = d.dispatch(engine, "t", sender, lambda: datetime(2026, 3, 2, 11, tzinfo=UTC))
    assert outcomes == {"sent": 1, "skipped": 1}
    with engine.connect() as conn:
        assert conn.execute(sa.select(checkins.c.household_id)).scalars().all() == ["a"]


def test_a_day_missing_from_a_backfill_does_not_read_as_everyone_churned(engine):
    cat = catalog({"nudge": {**NUDGE, "holdout_share": 0}})
    frames = frames_for(D0, {"a": "at_risk", "b": "at_risk"})
    run_day(engine, cat, CONTENT, frames, D0, NOW, NAMES)
    # a two-day run whose second day's features and tiers were never computed
    report = run_day(engine, cat, CONTENT, frames, D0 + timedelta(days=2), NOW, NAMES)
    assert report.exits == {} and report.conditions == {}
    assert set(report.missing_assets["nudge"]) == {"health_tiers"}


def test_the_churn_model_brings_a_healthy_household_at_high_risk_to_its_csm(engine):
    """The model drives action: High or Critical risk on a healthy score enrols the household
    in the model-risk review; a healthy one at Low risk, or one already at risk by its score
    (the health alert's), does not."""
    cat = catalog({"model_risk_alert": SHIPPED.playbooks["model_risk_alert"].model_dump(
        exclude={"name"})})
    frames = frames_for(D0, {"risky": "healthy", "fine": "healthy", "flagged": "at_risk"})
    frames["churn_predictions"] = pl.DataFrame({
        "household_id": ["risky", "fine", "flagged"], "as_of": [D0] * 3,
        "churn_probability": [0.62, 0.05, 0.7], "model_version": ["3"] * 3,
        "top_drivers": ["logins_30d", None, None],
        "churn_risk_segment": ["Critical", "Low", "Critical"], "risk_rank": [2, 3, 1]})
    report = run_day(engine, cat, CONTENT, frames, D0, NOW, NAMES)
    assert report.enrolled["household_id"].to_list() == ["risky"]
    with engine.connect() as conn:
        context = conn.execute(sa.select(enrolments.c.context)).scalars().one()
    notes = context["at_risk_health_alert"]["notes"]
    assert "Churn model: Critical risk (62% within 30 days" in notes and "disagree" in notes


def test_an_offer_with_a_spread_reaches_an_eligible_base_over_its_period_not_at_once():
    """200 households eligible every day for an offer spread over 10 days (2-day windows):
    about a fifth enter on the first day, each enters once in the period, all by its end."""
    offer = catalog({"offer": {**NUDGE, "kind": "offer", "at_risk": None,
                               "steps": NUDGE["steps"][:1], "exit_on": [],
                               "cooldown_days": 10,
                               "spread": {"every_days": 10, "window_days": 2}}})
    playbook = offer.playbooks["offer"]
    households = {f"hh_{i:03d}": "at_risk" for i in range(200)}
    existing = pl.DataFrame(schema=EXISTING_SCHEMA)
    per_day = []
    for n in range(10):
        day = D0 + timedelta(days=n)
        chosen = select_enrolments(playbook, frames_for(day, households), day, existing,
                                   salt=offer.holdout_salt)
        per_day.append(chosen.height)
        existing = pl.concat([existing, chosen.select(list(EXISTING_SCHEMA))])
    assert 20 <= per_day[0] <= 60  # about 2/10 of 200, not all 200
    assert sorted(existing[HH]) == sorted(households)  # each once, none missed
    assert max(per_day) < 80


@pytest.mark.parametrize(("spread", "message"), [
    ({"every_days": 7, "window_days": 8}, "window_days: must be at most every_days (7)"),
    ({"every_days": 0, "window_days": 1}, "every_days: Input should be greater than"),
])
def test_a_bad_spread_fails_at_load_naming_the_key(spread, message):
    with pytest.raises(PlaybookConfigError, match=re.escape(message)):
        catalog({"offer": {**NUDGE, "spread": spread}})


def test_a_household_that_leaves_premium_gets_no_day_30_roi_email(engine):
    """Premium onboarding's day-30 email quotes Premium figures: a household that downgraded
    before it exits `downgraded` and the step is skipped saying so; one on Premium gets it."""
    shipped = SHIPPED.playbooks["premium_onboarding"].model_dump(exclude={"name"})
    assert "downgraded" in shipped["exit_on"]
    cat = catalog({"premium_onboarding": {**shipped, "holdout_share": 0}})
    households = ["stays", "leaves"]

    def day(offset: int, plans: list[str]) -> tuple[date, dict]:
        on = D0 + timedelta(days=offset)
        frames = frames_for(on, dict.fromkeys(households, "healthy"), plan=plans,
                            days_since_upgrade=[2.0 + offset] * 2)
        frames["health_scores"] = pl.DataFrame({
            "household_id": households, "as_of": [on] * 2, "premium_adoption_score": [62.0] * 2,
            "missing_premium_features": [["custom_templates"]] * 2})
        return on, frames

    email = EmailChannel(None, UnsubscribeSettings(b"s", mailto="u@example.test"))
    sender = Sender(email, {h: Recipient(h, f"{h}@example.test") for h in households},
                    cat.contact_policy)
    for offset, plans in ((0, ["Premium", "Premium"]), (3, ["Premium", "Premium"]),
                          (10, ["Premium", "Free"]), (30, ["Premium", "Free"])):
        on, frames = day(offset, plans)
        report = run_day(engine, cat, CONTENT, frames, on, NOW + timedelta(days=offset), NAMES)
        d.dispatch(engine, "t", sender, lambda on=on: datetime.combine(
            on, datetime.min.time(), UTC) + timedelta(hours=11))
        if offset == 10:
            assert report.exits == {"downgraded": 1}
    with engine.connect() as conn:
        sent = conn.execute(sa.select(outbox.c.household_id, outbox.c.template)
                            .order_by(outbox.c.household_id, outbox.c.template)).all()
    assert [tuple(r) for r in sent] == [("leaves", "premium_welcome"),
                                        ("stays", "premium_roi_check_in"),
                                        ("stays", "premium_welcome")]
    by = {(r.household_id, r.template): r for r in steps_of(engine)}
    assert by["leaves", "premium_roi_check_in"].exit_status == "downgraded"
    assert by["leaves", "premium_roi_check_in"].skipped_reason == (
        "enrolment exited: downgraded (no longer on a premium plan)")
    assert by["stays", "premium_roi_check_in"].status == "sent"
