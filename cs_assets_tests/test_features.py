"""household_features on hand-built households: windows, as-of history, and no leakage."""

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from cs_assets.contract.events import load_event_mapping
from cs_assets.features.household import FEATURE_COLUMNS, FeatureInputs, features_as_of
from cs_assets.ingestion.rules import event_kind_expr
from cs_assets_tests import factories as f

AS_OF = date(2026, 5, 1)
AT = datetime(2026, 5, 1, tzinfo=UTC)


def at(days_before: float) -> datetime:
    return AT - timedelta(days=days_before)


def event(i: int, days_before: float, kind: str, user: str = "u_1", **extra) -> dict:
    return dict(event_id=f"ev_{i}", household_id="hh_1", user_id=user,
                occurred_at=at(days_before), event_type=kind, **extra)


def inputs(events: list[dict], **tables: pl.DataFrame) -> FeatureInputs:
    frame = f.frame("activity_events", events).with_columns(
        event_kind=event_kind_expr(load_event_mapping())
    )
    raw = {name: f.frame(name, []) for name in
           ("support_tickets", "payments", "pet_health_observations")}
    raw.update(households=f.households(), members=f.members(), pets=f.pets(),
               subscription_changes=f.subscription_changes())
    raw.update(tables)
    return FeatureInputs.build(activity_events=frame, **raw)


def row(inp: FeatureInputs, household: str = "hh_1") -> dict:
    out = features_as_of(inp, AS_OF)
    assert out.columns == FEATURE_COLUMNS
    return out.filter(pl.col("household_id") == household).row(0, named=True)


def test_windows_and_trends():
    events = [event(i, 5 + i % 20, "task_completion") for i in range(12)]  # current window
    events += [event(100 + i, 35 + i % 20, "task_completion") for i in range(24)]  # previous
    events += [event(200, 2, "app_login"), event(201, 40, "app_login")]
    features = row(inputs(events))
    assert features["tasks_completed_30d"] == 12
    assert features["tasks_completed_prev_30d"] == 24
    assert features["task_completion_trend"] == pytest.approx(-0.5)
    assert features["login_frequency_trend"] == pytest.approx(0.0)
    assert features["days_since_last_login"] == 2


def test_zero_baseline_trend_is_null():
    features = row(inputs([event(1, 3, "task_completion")]))
    assert features["tasks_completed_prev_30d"] == 0
    assert features["task_completion_trend"] is None


def test_only_households_active_at_the_instant():
    churned_before = f.households().with_columns(
        churned_at=pl.when(pl.col("household_id") == "hh_2").then(pl.lit(at(1)))
        .otherwise(pl.col("churned_at"))
    )
    out = features_as_of(inputs([], households=churned_before), AS_OF)
    assert out["household_id"].to_list() == ["hh_1"]
    later = f.households().with_columns(churned_at=pl.lit(None, pl.Datetime("us", "UTC")))
    out = features_as_of(inputs([], households=later, subscription_changes=f.frame(
        "subscription_changes", [])), AS_OF)
    assert sorted(out["household_id"].to_list()) == ["hh_1", "hh_2"]


def test_plan_and_mrr_come_from_history_as_of_the_day():
    changes = pl.concat([f.subscription_changes(), f.frame("subscription_changes", [
        dict(change_id="sc_up", household_id="hh_1", changed_at=at(40), change_type="upgrade",
             from_plan="Free", to_plan="Premium", mrr_after=100.0),
        dict(change_id="sc_down", household_id="hh_1", changed_at=AT, change_type="downgrade",
             from_plan="Premium", to_plan="Free", mrr_after=0.0),
    ])])
    features = row(inputs([], subscription_changes=changes))
    assert (features["plan"], features["mrr"], features["days_since_upgrade"]) == (
        "Premium", 100.0, 40)


def test_payment_status_as_of():
    payments = f.frame("payments", [
        dict(payment_id="p1", household_id="hh_1", due_at=at(45), paid_at=at(44), amount=100.0,
             status="paid"),
        dict(payment_id="p2", household_id="hh_1", due_at=at(15), paid_at=AT, amount=100.0,
             status="paid"),  # paid only at the as-of instant: unpaid as of the day
    ])
    features = row(inputs([], payments=payments))
    assert features["payment_status"] == "past_due"
    assert features["overdue_amount"] == 100.0


def test_collaboration_spread_across_members():
    members = pl.concat([f.members(), f.frame("members", [
        dict(user_id="u_3", household_id="hh_1", role="member", joined_at=f.SIGNUP)])])
    even = [event(i, 3, "task_completion", user="u_1" if i % 2 else "u_3") for i in range(10)]
    assert row(inputs(even, members=members))["collaboration_score"] == pytest.approx(100.0)
    solo = [event(i, 3, "task_completion") for i in range(10)]
    assert row(inputs(solo, members=members))["collaboration_score"] == pytest.approx(0.0)


def test_nothing_at_or_after_the_as_of_instant_changes_the_features():
    base_events = [event(i, 1 + i, "task_completion") for i in range(20)]
    base_events += [event(50, 3, "app_session", session_minutes=10.0), event(51, 2, "app_login")]
    tickets = f.frame("support_tickets", [
        dict(ticket_id="t1", household_id="hh_1", created_at=at(10), resolved_at=at(0.5),
             priority="critical", csat_score=5),
    ])
    before = features_as_of(inputs(base_events, support_tickets=tickets), AS_OF)
    future_events = [
        *base_events,
        event(900, 0, "task_completion"),  # exactly at the instant
        event(901, -0.01, "app_login"),
        event(902, -3, "app_session", session_minutes=99.0),
        event(903, -1, "feature_use", feature_name="walk_tracker"),
    ]
    future_tickets = pl.concat([
        tickets, f.frame("support_tickets", [
            dict(ticket_id="t2", household_id="hh_1", created_at=AT, priority="critical"),
        ]),
    ])
    future_changes = pl.concat([f.subscription_changes(), f.frame("subscription_changes", [
        dict(change_id="sc_x", household_id="hh_1", changed_at=AT, change_type="upgrade",
             from_plan="Free", to_plan="Premium", mrr_after=100.0)])])
    after = features_as_of(
        inputs(future_events, support_tickets=future_tickets,
               subscription_changes=future_changes),
        AS_OF,
    )
    assert before.equals(after)
    # and the ticket resolved after the instant still counts as unresolved critical
    resolved_later = features_as_of(inputs(base_events, support_tickets=tickets.with_columns(
        resolved_at=pl.lit(AT + timedelta(hours=1)))), AS_OF)
    assert resolved_later["critical_tickets_unresolved"].item() == 1
    assert before["critical_tickets_unresolved"].item() == 0


def test_reductions_for_given_days_and_raw_event_types_give_the_same_features():
    """`as_of_days` (one day: a point reduction; several: only their windows) and raw events
    mapped through `event_mapping` are speed-ups: the features must not change."""
    events = [event(i, 1 + (i * 7) % 80, kind, user="u_1")
              for i, kind in enumerate(["task_completion", "app_login", "app_session",
                                        "feature_use", "advanced_analytics_view"] * 12)]
    for e in events:
        if e["event_type"] == "app_session":
            e["session_minutes"] = 9.5
        if e["event_type"] == "feature_use":
            e["feature_name"] = "walk_tracker"
    every_day = features_as_of(inputs(events), AS_OF)
    one_day = features_as_of(_inputs_with(events, as_of_days=[AS_OF]), AS_OF)
    few_days = _inputs_with(events, as_of_days=[AS_OF - timedelta(days=3), AS_OF])
    raw_types = _inputs_with(events, raw=True, event_mapping=load_event_mapping())
    assert one_day.equals(every_day)
    assert features_as_of(few_days, AS_OF).equals(every_day)
    assert features_as_of(raw_types, AS_OF).equals(every_day)
    with pytest.raises(ValueError):
        features_as_of(_inputs_with(events, as_of_days=[AS_OF]), AS_OF - timedelta(days=1))


def _inputs_with(events: list[dict], *, raw: bool = False, **build) -> FeatureInputs:
    frame = f.frame("activity_events", events)
    if not raw:
        frame = frame.with_columns(event_kind=event_kind_expr(load_event_mapping()))
    return FeatureInputs.build(
        activity_events=frame, households=f.households(), members=f.members(), pets=f.pets(),
        subscription_changes=f.subscription_changes(),
        **{name: f.frame(name, []) for name in
           ("support_tickets", "payments", "pet_health_observations")},
        **build,
    )


def test_proactive_outreach_counts_what_the_platform_sent_in_90_days_before_the_instant():
    outreach = pl.DataFrame(
        {"household_id": ["hh_1"] * 4,
         "sent_at": [at(1), at(89), at(91), AT]},  # in, in, too old, not before the instant
        schema={"household_id": pl.String, "sent_at": pl.Datetime("us", "UTC")},
    )
    assert row(inputs([], outreach=outreach))["proactive_outreach_90d"] == 2


# Sessions of three households in the 30 days before 2026-11-05, in their own time zones.
# US daylight time ends 2026-11-01 06:00 UTC (New York: UTC-4, then UTC-5); Kolkata is
# UTC+5:30 all year; a household without a zone is read in UTC.
LOCAL_AS_OF = date(2026, 11, 5)
LOCAL_SESSIONS = {
    "hh_ny": [
        datetime(2026, 10, 20, 11, 30, tzinfo=UTC),  # Tue 07:30 EDT: peak (06:30 in EST)
        datetime(2026, 10, 31, 12, 0, tzinfo=UTC),  # Sat 08:00 EDT: weekend, peak
        datetime(2026, 11, 2, 0, 30, tzinfo=UTC),  # Sun 19:30 EST (Monday in UTC): both
        datetime(2026, 11, 3, 11, 30, tzinfo=UTC),  # Tue 06:30 EST: neither (07:30 in EDT)
    ],
    "hh_in": [
        datetime(2026, 11, 4, 12, 45, tzinfo=UTC),  # Wed 18:15: peak (12:45 in UTC)
        datetime(2026, 11, 4, 1, 15, tzinfo=UTC),  # Wed 06:45: neither (a +6 h offset: peak)
        datetime(2026, 10, 30, 18, 45, tzinfo=UTC),  # Sat 00:15 (Friday in UTC): weekend
    ],
    "hh_utc": [
        datetime(2026, 11, 1, 20, 0, tzinfo=UTC),  # Sun 20:00: weekend, peak
        datetime(2026, 11, 2, 9, 0, tzinfo=UTC),  # Mon 09:00: neither
        datetime(2026, 10, 5, 23, 0, tzinfo=UTC),  # before the 30-day window: not counted
    ],
}
# weekend / weekday sessions, and the share of sessions at peak hours (7-8, 18-21 local)
LOCAL_EXPECTED = {"hh_ny": (2 / 2, 3 / 4), "hh_in": (1 / 2, 1 / 3), "hh_utc": (1 / 1, 1 / 2)}


@pytest.mark.parametrize("shape", ["all history", "point", "daily"])
def test_weekend_and_peak_hours_are_read_in_each_households_time_zone(shape):
    zones = {"hh_ny": "America/New_York", "hh_in": "Asia/Kolkata", "hh_utc": None}
    homes = f.frame("households", [
        dict(household_id=h, created_at=f.SIGNUP, region="US", timezone=zone,
             email_opt_out=False) for h, zone in zones.items()
    ])
    members = f.frame("members", [
        dict(user_id=f"u_{h}", household_id=h, role="owner", joined_at=f.SIGNUP) for h in zones
    ])
    sessions = [
        dict(event_id=f"ev_{h}_{i}", household_id=h, user_id=f"u_{h}", occurred_at=when,
             event_type="app_session", session_minutes=5.0)
        for h, whens in LOCAL_SESSIONS.items() for i, when in enumerate(whens)
    ]
    days = {"all history": None, "point": [LOCAL_AS_OF],
            "daily": [LOCAL_AS_OF - timedelta(days=1), LOCAL_AS_OF]}[shape]
    raw = {name: f.frame(name, []) for name in
           ("support_tickets", "payments", "pet_health_observations", "subscription_changes")}
    built = FeatureInputs.build(
        activity_events=f.frame("activity_events", sessions), event_mapping=load_event_mapping(),
        households=homes, members=members, pets=f.frame("pets", []), as_of_days=days, **raw,
    )
    out = features_as_of(built, LOCAL_AS_OF)
    got = {r["household_id"]: (r["weekend_usage_ratio"], r["peak_hour_usage"])
           for r in out.iter_rows(named=True)}
    assert got.keys() == LOCAL_EXPECTED.keys()
    for household, expected in LOCAL_EXPECTED.items():
        assert got[household] == pytest.approx(expected), household


def test_a_change_at_the_signup_instant_is_read_after_the_new_row_in_any_file_order():
    rows = [dict(change_id="sc_1", household_id="hh_1", changed_at=f.SIGNUP, change_type="new",
                 to_plan="Free", mrr_after=0.0),
            dict(change_id="sc_0", household_id="hh_1", changed_at=f.SIGNUP,
                 change_type="upgrade", from_plan="Free", to_plan="Premium", mrr_after=9.99)]
    for ordered in (rows, rows[::-1]):
        changes = f.frame("subscription_changes", ordered)
        features = row(inputs([], subscription_changes=changes))
        assert (features["plan"], features["mrr"]) == ("Premium", 9.99)
