"""The war-story tables on small hand-built populations whose figures are worked out by hand
in the comments (window edges, empty groups, households without sessions), and the three
assets materialized through Dagster on the factories' raw tables."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest
from dagster import DagsterInstance, materialize

from cs_assets.contract.events import load_event_mapping
from cs_assets.defs.raw.assets import ingestion_assets
from cs_assets.defs.reports.war_stories import war_story_assets
from cs_assets.defs.shared.resources import PolarsParquetIOManager, RawSourceResource
from cs_assets.ingestion.rules import event_kind_expr
from cs_assets.reports.war_stories import (
    churn_by_ticket_bucket,
    premium_feature_adoption,
    weekly_comparison,
    weeks_before_churn,
)
from cs_assets_tests import factories as f

R = f.REFERENCE  # 2026-06-01 00:00 UTC


def at(days: float) -> datetime:
    """`days` (negative: before) from the reference instant."""
    return R + timedelta(days=days)


def households(*rows: dict) -> pl.DataFrame:
    return f.frame("households", [dict(region="US", email_opt_out=False, **r) for r in rows])


def events(*rows: tuple) -> pl.DataFrame:
    """(household, user, instant, kind[, session minutes]) rows with the ingested event_kind."""
    return f.frame("activity_events", [
        dict(event_id=f"ev_{i}", household_id=hh, user_id=user, occurred_at=when,
             event_type=kind, session_minutes=(minutes or [None])[0])
        for i, (hh, user, when, kind, *minutes) in enumerate(rows)
    ]).with_columns(event_kind=pl.col("event_type"))


def _rows(table: pl.DataFrame, key: str) -> dict[str, dict]:
    return {row[key]: row for row in table.iter_rows(named=True)}


# --- War story 2: the support ticket paradox ------------------------------------------------
# Window 90 days: churn is counted in [R-90, R), tickets in, and a household
# must have signed up by R-180 and not churned before R-90.


def _tickets(*rows: tuple) -> pl.DataFrame:
    """(household, created, csat, resolved) rows."""
    return f.frame("support_tickets", [
        dict(ticket_id=f"t_{i}", household_id=hh, created_at=created, csat_score=csat,
             resolved_at=resolved, priority="low")
        for i, (hh, created, csat, resolved) in enumerate(rows)
    ])


def test_churn_rate_and_csat_per_ticket_bucket():
    homes = households(
        dict(household_id="zero_stays", created_at=at(-400)),
        dict(household_id="zero_churns", created_at=at(-400), churned_at=at(-30)),
        dict(household_id="one_stays", created_at=at(-400)),
        dict(household_id="two_churns", created_at=at(-400), churned_at=at(-90)),  # at R-90
        dict(household_id="one_unrated", created_at=at(-400)),
        dict(household_id="six_churns", created_at=at(-400), churned_at=at(-50)),
        dict(household_id="too_new", created_at=at(-150)),  # signed up inside the window
        dict(household_id="gone_before", created_at=at(-400), churned_at=at(-100)),
    )
    tickets = _tickets(
        ("zero_stays", at(-200), 5, at(-199)),  # before the window
        ("zero_stays", at(-90), 5, at(-89)),  # at its end: outside
        ("one_stays", at(-180), 5, at(-179)),  # at its start: inside
        ("two_churns", at(-150), 4, at(-149)),
        ("two_churns", at(-100), 3, at(-95)),  # household CSAT 3.5
        ("one_unrated", at(-100), 2, at(-80)),  # rated after the cohort instant: not counted
        *[("six_churns", at(-170 + i), 1, at(-169 + i)) for i in range(6)],
        ("too_new", at(-120), 5, at(-119)),
        ("gone_before", at(-120), 5, at(-119)),
    )
    table = _rows(churn_by_ticket_bucket(homes, tickets, R, window_days=90), "ticket_bucket")
    assert list(table) == ["0", "1-2", "3-5", "6+"]
    assert table["0"] == dict(ticket_bucket="0", households=2, churned=1, churn_rate=0.5,
                              mean_csat=None)
    # one_stays (5), two_churns (3.5), one_unrated (no counted rating): mean of 5 and 3.5
    assert table["1-2"] == dict(ticket_bucket="1-2", households=3, churned=1,
                                churn_rate=pytest.approx(1 / 3), mean_csat=4.25)
    assert table["3-5"] == dict(ticket_bucket="3-5", households=0, churned=0, churn_rate=None,
                                mean_csat=None)
    assert table["6+"] == dict(ticket_bucket="6+", households=1, churned=1, churn_rate=1.0,
                               mean_csat=1.0)


# --- War story 3: the Premium downgrade crisis ----------------------------------------------
# Window 90 days: downgrades Premium -> Free in [R-90, R). A household's Premium period runs
# from its last change to Premium to the downgrade (or R); months = days / 30, at least 1.


def _changes(*rows: tuple) -> pl.DataFrame:
    """(household, instant, change_type, from, to) rows."""
    return f.frame("subscription_changes", [
        dict(change_id=f"c_{i}", household_id=hh, changed_at=when, change_type=kind,
             from_plan=old, to_plan=new, mrr_after=0.0)
        for i, (hh, when, kind, old, new) in enumerate(rows)
    ])


PREMIUM_HISTORY = _changes(
    ("d1", at(-300), "new", None, "Premium"),
    ("d1", at(-30), "downgrade", "Premium", "Free"),  # 270 days: 9 months
    ("d2", at(-300), "new", None, "Free"),
    ("d2", at(-100), "upgrade", "Free", "Premium"),
    ("d2", at(-40), "downgrade", "Premium", "Free"),  # 60 days: 2 months
    ("back", at(-300), "new", None, "Premium"),
    ("back", at(-60), "downgrade", "Premium", "Free"),  # 240 days: 8 months
    ("back", at(-30), "upgrade", "Free", "Premium"),  # back on Premium: still a downgrader
    ("old_downgrade", at(-300), "new", None, "Premium"),
    ("old_downgrade", at(-120), "downgrade", "Premium", "Free"),  # before the window
    ("r1", at(-500), "new", None, "Premium"),  # 500 days: 50/3 months
    ("r2", at(-20), "new", None, "Premium"),  # 20 days: counts as 1 month
    ("cancelled", at(-300), "new", None, "Premium"),
    ("cancelled", at(-10), "cancel", "Premium", None),
    ("enterprise", at(-300), "new", None, "Enterprise"),
    ("enterprise", at(-20), "downgrade", "Enterprise", "Free"),
)
PREMIUM_EVENTS = events(
    ("d1", "u", at(-200), "calendar_sync_setup"),
    *[("d1", "u", at(d), "analytics_viewed") for d in (-100, -90, -80)],
    ("d1", "u", at(-30), "priority_support_used"),  # at the downgrade: after the period
    ("d1", "u", at(-10), "analytics_viewed"),  # on Free
    ("d2", "u", at(-200), "template_created"),  # on Free, before the upgrade
    ("d2", "u", at(-100), "template_created"),  # at the upgrade: inside
    ("d2", "u", at(-60), "template_created"),
    ("back", "u", at(-20), "analytics_viewed"),  # after the downgrade
    ("r1", "u", at(-499), "premium_onboarding_completed"),
    ("r1", "u", at(-450), "calendar_sync_setup"),
    ("r1", "u", at(-10), "priority_support_used"),
    ("r1", "u", at(-5), "priority_support_used"),
    ("r2", "u", at(-10), "analytics_viewed"),
    ("cancelled", "u", at(-50), "calendar_sync_setup"),
    ("old_downgrade", "u", at(-200), "calendar_sync_setup"),
)


def test_premium_feature_adoption_of_downgraders_and_retained():
    table = premium_feature_adoption(PREMIUM_HISTORY, PREMIUM_EVENTS, R, window_days=90)
    rows = {(r["group"], r["feature"]): r for r in table.iter_rows(named=True)}
    assert table.height == 10
    assert {r["households"] for (g, _), r in rows.items() if g == "downgraded"} == {3}
    assert {r["households"] for (g, _), r in rows.items() if g == "retained"} == {2}
    expected = {  # feature: (adopters, uses per month) of d1, d2, back / of r1, r2
        ("downgraded", "calendar_sync"): (1, (1 / 9) / 3),
        ("downgraded", "advanced_analytics"): (1, (3 / 9) / 3),
        ("downgraded", "custom_templates"): (1, (2 / 2) / 3),
        ("downgraded", "priority_support"): (0, 0.0),
        ("downgraded", "premium_onboarding"): (0, 0.0),
        ("retained", "calendar_sync"): (1, (1 / (50 / 3)) / 2),
        ("retained", "advanced_analytics"): (1, 1 / 2),
        ("retained", "custom_templates"): (0, 0.0),
        ("retained", "priority_support"): (1, (2 / (50 / 3)) / 2),
        ("retained", "premium_onboarding"): (1, (1 / (50 / 3)) / 2),
    }
    for key, (adopters, per_month) in expected.items():
        row = rows[key]
        assert row["adopters"] == adopters, key
        assert row["adoption"] == pytest.approx(adopters / row["households"]), key
        assert row["uses_per_month"] == pytest.approx(per_month), key


def test_no_downgrader_leaves_an_empty_group():
    table = premium_feature_adoption(PREMIUM_HISTORY.filter(pl.col("household_id") == "r2"),
                                     PREMIUM_EVENTS, R, window_days=90)
    downgraded = table.filter(pl.col("group") == "downgraded")
    assert downgraded.height == 5
    assert downgraded["households"].to_list() == [0] * 5
    assert downgraded["adoption"].null_count() == 5
    assert downgraded["uses_per_month"].null_count() == 5
    retained = _rows(table.filter(pl.col("group") == "retained"), "feature")
    assert retained["advanced_analytics"]["adoption"] == 1.0


# --- War story 1: silent churn --------------------------------------------------------------
# 4 weeks; churners of the last 365 days anchored at their churn, retained anchored at R-30;
# both with 4 full weeks of tenure before the anchor. Week -k is [anchor-7k, anchor-7(k-1)).

C1, C3 = at(-100) + timedelta(hours=12), at(-60)
RETAINED_AT = at(-30)


def _silent_churn_population():
    homes = households(
        dict(household_id="c1", created_at=at(-400), churned_at=C1),
        dict(household_id="c2", created_at=at(-400), churned_at=at(-50)),  # no events at all
        dict(household_id="c3", created_at=at(-400), churned_at=C3),
        dict(household_id="c_young", created_at=at(-40), churned_at=at(-20)),  # 20 days' tenure
        dict(household_id="c_old", created_at=at(-800), churned_at=at(-400)),  # before lookback
        dict(household_id="r1", created_at=at(-400)),
        dict(household_id="r_new", created_at=at(-40)),  # 10 days before its anchor
    )
    activity = events(
        ("c1", "u1", C1 - timedelta(hours=1), "task_completed"),  # week -1
        ("c1", None, C1 - timedelta(days=2), "task_completed"),  # no user: a task, no user
        ("c1", "u2", C1 - timedelta(days=7), "task_completed"),  # exactly 7 days: week -1
        ("c1", "u1", C1 - timedelta(days=3), "session", 10.0),
        ("c1", "u1", C1 - timedelta(days=4), "session", 20.0),  # c1's mean session: 15
        ("c1", "u1", C1 - timedelta(days=7, seconds=1), "task_completed"),  # week -2
        ("c1", "u1", C1 - timedelta(days=28), "login"),  # week -4
        ("c1", "u1", C1 - timedelta(days=28, seconds=1), "task_completed"),  # week -5: out
        ("c1", "u1", C1, "task_completed"),  # at the churn: out
        ("c3", "u5", C3 - timedelta(days=1), "session", 45.0),  # week -1
        ("r1", "u9", RETAINED_AT - timedelta(days=2), "session", 30.0),  # week -1
        ("r1", "u9", RETAINED_AT - timedelta(days=15), "task_completed"),  # week -3
        ("r1", "u9", RETAINED_AT + timedelta(days=5), "task_completed"),  # after the anchor
        ("c_young", "u7", at(-25), "task_completed"),
        ("r_new", "u8", at(-35), "task_completed"),
    )
    return homes, activity


def test_weekly_activity_before_churn():
    homes, activity = _silent_churn_population()
    table = weeks_before_churn(homes, activity, R, weeks=4, lookback_days=365, horizon_days=30)
    assert table.select("group", "week").rows() == [
        (g, w) for g in ("churned", "retained") for w in (-4, -3, -2, -1)]
    rows = {(r["group"], r["week"]): r for r in table.iter_rows(named=True)}
    assert {r["households"] for (g, _), r in rows.items() if g == "churned"} == {3}
    assert {r["households"] for (g, _), r in rows.items() if g == "retained"} == {1}
    expected = {  # (mean tasks, mean active users, mean session minutes, households w/ session)
        # c1, c2, c3: tasks (3, 0, 0), users (u1 u2, -, u5), sessions (15, -, 45): means of
        # the households' means (30), not of the sessions (25)
        ("churned", -1): (1.0, 1.0, 30.0, 2),
        ("churned", -2): (1 / 3, 1 / 3, None, 0),
        ("churned", -3): (0.0, 0.0, None, 0),
        ("churned", -4): (0.0, 1 / 3, None, 0),
        ("retained", -1): (0.0, 1.0, 30.0, 1),
        ("retained", -2): (0.0, 0.0, None, 0),
        ("retained", -3): (1.0, 1.0, None, 0),
        ("retained", -4): (0.0, 0.0, None, 0),
    }
    for key, (tasks, users, minutes, with_sessions) in expected.items():
        row = rows[key]
        assert row["mean_tasks"] == pytest.approx(tasks), key
        assert row["mean_active_users"] == pytest.approx(users), key
        assert row["mean_session_minutes"] == (minutes and pytest.approx(minutes)), key
        assert row["households_with_sessions"] == with_sessions, key


def test_no_churner_leaves_empty_weeks_and_the_comparison_keeps_them():
    homes, activity = _silent_churn_population()
    table = weeks_before_churn(homes.filter(pl.col("household_id") == "r1"), activity, R,
                               weeks=4, lookback_days=365, horizon_days=30)
    churned = table.filter(pl.col("group") == "churned")
    assert churned["households"].to_list() == [0] * 4
    assert churned["mean_tasks"].null_count() == 4
    wide = weekly_comparison(table)
    assert wide["week"].to_list() == [-4, -3, -2, -1]
    assert wide["mean_tasks_retained"].to_list() == [0.0, 1.0, 0.0, 0.0]
    assert wide["mean_tasks_churned"].null_count() == 4


# --- the assets -----------------------------------------------------------------------------


def test_assets_materialize_tables_and_small_charts(tmp_path):
    tables = f.minimal_raw()
    f.write_raw(tmp_path / "raw", tables)
    resources = {
        "raw_source": RawSourceResource(parquet_dir=str(tmp_path / "raw"),
                                        reference_time=R.isoformat()),
        "io_manager": PolarsParquetIOManager(base_dir=str(tmp_path / "out")),
    }
    result = materialize([*ingestion_assets, *war_story_assets], resources=resources,
                         instance=DagsterInstance.ephemeral())
    assert result.success
    metadata = {mat.asset_key.to_user_string(): mat.metadata
                for mat in (e.event_specific_data.materialization
                            for e in result.get_asset_materialization_events())}
    expected = {
        "war_story_silent_churn": ("weekly_activity", "| week | mean_tasks_churned"),
        "war_story_support_tickets": ("churn_by_ticket_bucket", "| ticket_bucket | households"),
        "war_story_premium_downgrades": ("premium_feature_adoption",
                                         "| feature | adoption_downgraded"),
    }
    for asset, (key, header) in expected.items():
        assert metadata[asset][key].value.startswith(header), asset
        chart = metadata[asset][f"{key}_chart"].value
        assert chart.startswith("![") and "(data:image/png;base64," in chart
        assert len(chart) < 100_000  # stored in the event log with every materialization
    # hh_2 (signed up 2026-01-11, churned 2026-04-11) and hh_1 (active) both have 12 weeks
    assert metadata["war_story_silent_churn"]["churned_households"].value == 1
    assert metadata["war_story_silent_churn"]["retained_households"].value == 1
    stored = pl.read_parquet(tmp_path / "out" / "war_story_silent_churn.parquet")
    raw_events = tables["activity_events"].with_columns(
        event_kind=event_kind_expr(load_event_mapping()))
    assert stored.equals(weeks_before_churn(tables["households"], raw_events, R))
    # its one event (a feature use 80 days before the churn) makes one active user in week -12
    assert stored.filter(pl.col("group") == "churned", pl.col("week") == -12)[
        "mean_active_users"].item() == 1.0
