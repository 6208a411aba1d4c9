"""Scoring rules on small hand-built household_features frames: every boundary the spec names,
the places we resolve it (reachable +30 branch, zero baselines, nulls), and the war stories."""

from __future__ import annotations

import copy
from datetime import date

import polars as pl
import pytest

from cs_assets.scoring import (
    Scorecard,
    component_frame,
    engagement,
    explain_health,
    feature_adoption,
    health_components,
    health_scores,
    health_tiers,
    parse_scorecard,
    payment_health,
    premium_adoption,
    product_usage,
    rule_contributions,
    support_engagement,
    support_health_old,
    trend,
    trend_alerts,
    value_delivery,
    weighted_health,
)
from cs_assets.vocabulary import KEYS

SC = Scorecard()
AS_OF = date(2026, 6, 1)

SCHEMA: dict[str, pl.DataType] = {
    "household_id": pl.String, "as_of": pl.Date, "plan": pl.String, "mrr": pl.Float64,
    "payment_status": pl.String, "days_since_signup": pl.Int64,
    "days_since_last_login": pl.Int64, "days_until_renewal": pl.Int64,
    "tasks_completed_30d": pl.Int64, "tasks_completed_prev_30d": pl.Int64,
    "task_completion_trend": pl.Float64, "logins_30d": pl.Int64, "logins_prev_30d": pl.Int64,
    "login_frequency_trend": pl.Float64, "avg_session_minutes_30d": pl.Float64,
    "avg_session_minutes_prev_30d": pl.Float64, "session_duration_trend": pl.Float64,
    "active_users_30d": pl.Int64, "active_users_prev_30d": pl.Int64,
    "active_users_trend": pl.Float64, "dau_wau_ratio": pl.Float64, "total_members": pl.Int64,
    "active_members_30d": pl.Int64, "active_members_ratio": pl.Float64,
    "weekend_usage_ratio": pl.Float64, "peak_hour_usage": pl.Float64,
    "active_days_30d": pl.Int64, "features_used_90d": pl.Int64,
    "new_features_adopted_90d": pl.Int64, "features_used_ever": pl.Int64,
    "tickets_90d": pl.Int64, "avg_csat_90d": pl.Float64,
    "critical_tickets_unresolved": pl.Int64, "avg_resolution_hours_90d": pl.Float64,
    "has_unresolved_critical_ticket": pl.Boolean, "support_satisfaction_drop": pl.Float64,
    "proactive_outreach_90d": pl.Int64, "pets_added_90d": pl.Int64, "active_pets": pl.Int64,
    "collaboration_score": pl.Float64, "pet_health_trend": pl.Float64,
    "failed_payments_90d": pl.Int64, "late_payments_90d": pl.Int64,
    "overdue_amount": pl.Float64, "calendar_sync_setup": pl.Boolean,
    "analytics_views": pl.Int64, "templates_created": pl.Int64,
    "priority_support_used": pl.Int64, "premium_onboarding_completed": pl.Boolean,
    "days_since_upgrade": pl.Int64,
}

# A steady, active Premium household on which no value-delivery, support-engagement, payment or
# activity rule fires: full usage, flat trends, 4 tickets (the band the spec leaves neutral).
NEUTRAL: dict[str, object] = {
    "as_of": AS_OF, "plan": "Premium", "mrr": 100.0, "payment_status": "current",
    "days_since_signup": 400, "days_since_last_login": 1, "days_until_renewal": 20,
    "tasks_completed_30d": 40, "tasks_completed_prev_30d": 40, "logins_30d": 25,
    "logins_prev_30d": 25, "avg_session_minutes_30d": 12.0, "avg_session_minutes_prev_30d": 12.0,
    "active_users_30d": 2, "active_users_prev_30d": 2, "dau_wau_ratio": 0.6, "total_members": 2,
    "active_members_30d": 2, "active_members_ratio": 1.0, "weekend_usage_ratio": 0.3,
    "peak_hour_usage": 0.4, "active_days_30d": 22, "features_used_90d": 5,
    "new_features_adopted_90d": 0, "features_used_ever": 6, "tickets_90d": 4,
    "avg_csat_90d": 4.2, "critical_tickets_unresolved": 0, "avg_resolution_hours_90d": 10.0,
    "has_unresolved_critical_ticket": False, "support_satisfaction_drop": 0.0,
    "proactive_outreach_90d": 0, "pets_added_90d": 0, "active_pets": 1,
    "collaboration_score": 30.0, "pet_health_trend": None, "failed_payments_90d": 0,
    "late_payments_90d": 0, "overdue_amount": 0.0, "calendar_sync_setup": False,
    "analytics_views": 0, "templates_created": 0, "priority_support_used": 0,
    "premium_onboarding_completed": False, "days_since_upgrade": 60,
}

TRENDS = {
    "task_completion_trend": ("tasks_completed_30d", "tasks_completed_prev_30d"),
    "login_frequency_trend": ("logins_30d", "logins_prev_30d"),
    "session_duration_trend": ("avg_session_minutes_30d", "avg_session_minutes_prev_30d"),
    "active_users_trend": ("active_users_30d", "active_users_prev_30d"),
}


def features(*rows: dict) -> pl.DataFrame:
    """One household per row (hh_0, hh_1, ...): NEUTRAL with the row's overrides; trend columns
    follow their current / previous windows through `trend` unless a row sets them."""
    filled = [{**NEUTRAL, "household_id": f"hh_{i}", **row} for i, row in enumerate(rows)]
    frame = pl.DataFrame(filled, schema=SCHEMA, orient="row")
    return frame.with_columns(
        pl.coalesce(pl.col(name), trend(cur, prev)).alias(name)
        for name, (cur, prev) in TRENDS.items()
    )


def one(frame: pl.DataFrame, column: str):
    """The single row's value of `column`."""
    assert frame.height == 1
    return frame.item(0, column)


def score(component, row: dict, scorecard: Scorecard = SC) -> float:
    built = component(scorecard)
    return one(component_frame(features(row), built), built.score_column)


def scorecard_with(path: str, value: object) -> Scorecard:
    data = copy.deepcopy(SC.model_dump(mode="json"))
    *parents, leaf = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    node[leaf] = value
    return parse_scorecard(data)


def test_neutral_household_moves_no_rule():
    frame = features({})
    scores = health_scores(frame, SC)
    assert one(scores, "value_delivery_score") == 50
    assert one(scores, "support_engagement_score") == 70
    for column in ("product_usage_score", "feature_adoption_score", "engagement_score",
                   "payment_health_score"):
        assert one(scores, column) == 100
    explained = explain_health(frame, SC)
    assert one(explained, "reasons").to_list() == []
    assert one(explained, "top_reasons") == ""


# --- trend ---------------------------------------------------------------------------------

def test_trend_formula_and_zero_baseline():
    frame = pl.DataFrame({"cur": [7, 20, 5, 0, None, 3], "prev": [10, 10, 0, 0, 4, None]})
    assert frame.select(trend("cur", "prev")).to_series().to_list() == [
        -0.3, 1.0, None, None, None, None
    ]


# --- value delivery (War story 1) ----------------------------------------------------------

@pytest.mark.parametrize(
    ("current", "previous", "points"),
    [
        (69, 100, -30),  # -0.31
        (7, 10, -15),  # exactly -0.30 is not < -0.3
        (89, 100, -15),  # -0.11
        (9, 10, 0),  # exactly -0.10 is not < -0.1
        (10, 10, 0),
        (11, 10, 0),  # exactly 0.10 is not > 0.1
        (111, 100, 15),  # 0.11
        (13, 10, 15),  # exactly 0.30 is not > 0.3
        (131, 100, 30),  # 0.31: the spec's unreachable branch, reachable here
        (5, 0, 30),  # zero baseline, new activity: treated as +1.0
        (0, 0, 0),  # zero baseline, still nothing: flat
    ],
)
def test_value_delivery_task_trend_bands(current, previous, points):
    row = {"tasks_completed_30d": current, "tasks_completed_prev_30d": previous}
    assert score(value_delivery, row) == 50 + points


@pytest.mark.parametrize(
    ("row", "points"),
    [
        ({"pets_added_90d": 1}, 20),
        ({"new_features_adopted_90d": 1}, 10),
        ({"new_features_adopted_90d": 2}, 20),
        ({"new_features_adopted_90d": 5}, 20),
        ({"collaboration_score": 71.0}, 20),
        ({"collaboration_score": 70.0}, 10),
        ({"collaboration_score": 41.0}, 10),
        ({"collaboration_score": 40.0}, 0),
        ({"collaboration_score": 20.0}, 0),
        ({"collaboration_score": 19.9}, -10),
        ({"collaboration_score": None}, 0),  # no shared work observed: no evidence
        ({"pet_health_trend": 0.05}, 10),
        ({"pet_health_trend": 0.0}, 0),
        ({"pet_health_trend": None}, 0),
    ],
)
def test_value_delivery_growth_collaboration_and_pet_health(row, points):
    assert score(value_delivery, row) == 50 + points


def test_value_delivery_clips_at_100_and_0():
    best = {"tasks_completed_30d": 80, "tasks_completed_prev_30d": 40, "pets_added_90d": 2,
            "new_features_adopted_90d": 3, "collaboration_score": 90.0, "pet_health_trend": 0.2}
    assert score(value_delivery, best) == 100  # 50 + 30 + 20 + 20 + 20 + 10
    worst = {"tasks_completed_30d": 1, "tasks_completed_prev_30d": 40, "collaboration_score": 5.0}
    assert score(value_delivery, worst, scorecard_with("value_delivery.baseline", 20)) == 0


# --- support engagement (War story 2) and the old rule -------------------------------------

@pytest.mark.parametrize(
    ("tickets", "csat", "outreach", "expected"),
    [
        (0, None, 0, 65),  # radio silence
        (0, None, 2, 80),  # we stayed in touch
        (1, 4.5, 0, 90),
        (1, 4.49, 0, 80),
        (3, 4.0, 0, 80),
        (3, 3.99, 0, 60),
        (2, None, 0, 70),  # none rated: no evidence either way
        (4, 2.0, 0, 70),  # 4-5 tickets: neither bonus nor penalty, as in the spec
        (5, 5.0, 0, 70),
        (6, 5.0, 0, 52),  # -3 per ticket above 5
        (10, 4.8, 0, 40),  # -30
        (11, 4.8, 0, 40),  # -33 capped at -30
    ],
)
def test_support_engagement_ticket_bands(tickets, csat, outreach, expected):
    row = {"tickets_90d": tickets, "avg_csat_90d": csat, "proactive_outreach_90d": outreach}
    assert score(support_engagement, row) == expected


@pytest.mark.parametrize(
    ("hours", "expected"), [(48.0, 70), (48.1, 55), (None, 70)]
)
def test_support_engagement_slow_resolution(hours, expected):
    assert score(support_engagement, {"avg_resolution_hours_90d": hours}) == expected


def test_support_engagement_unresolved_critical_and_clip_at_0():
    assert score(support_engagement, {"critical_tickets_unresolved": 1}) == 50
    row = {"tickets_90d": 0, "critical_tickets_unresolved": 3, "avg_resolution_hours_90d": 72.0}
    assert score(support_engagement, row) == 0  # 70 - 5 - 60 - 15


@pytest.mark.parametrize(
    ("tickets", "critical", "expected"), [(0, 0, 100), (2, 0, 70), (1, 1, 60), (7, 0, 0)]
)
def test_support_health_old_penalizes_every_ticket(tickets, critical, expected):
    row = {"tickets_90d": tickets, "critical_tickets_unresolved": critical}
    assert score(support_health_old, row) == expected


def test_war_story_2_happy_ticket_openers_are_rewarded_not_penalized():
    frame = features(
        {"tickets_90d": 0, "avg_csat_90d": None},
        {"tickets_90d": 1, "avg_csat_90d": 4.8},
        {"tickets_90d": 2, "avg_csat_90d": 4.8},
    )
    scores = health_scores(frame, SC)
    silent, one_ticket, two_tickets = scores.iter_rows(named=True)
    for opener in (one_ticket, two_tickets):
        assert opener["support_health_score_old"] < silent["support_health_score_old"]
        assert opener["support_engagement_score"] == 90 > silent["support_engagement_score"]
        assert opener["health_score"] > silent["health_score"]


# --- base components ------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({}, 100),
        ({"active_days_30d": 10}, 75),  # half the active-days target: -25
        ({"logins_30d": 0}, 70),
        ({"avg_session_minutes_30d": None}, 80),  # no session
        ({"active_days_30d": 0, "logins_30d": 0, "avg_session_minutes_30d": None}, 0),
    ],
)
def test_product_usage(row, expected):
    assert score(product_usage, row) == pytest.approx(expected)


@pytest.mark.parametrize(("used", "expected"), [(0, 0), (3, 60), (5, 100), (9, 100)])
def test_feature_adoption(used, expected):
    assert score(feature_adoption, {"features_used_90d": used}) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({}, 100),
        ({"days_since_last_login": 7}, 100),
        ({"days_since_last_login": 18}, 85.652174),  # 11 of 23 days into the fall-off
        ({"days_since_last_login": 30}, 70),
        ({"days_since_last_login": None}, 70),  # never logged in
        ({"dau_wau_ratio": 0.25}, 80),
        ({"active_members_ratio": 0.5}, 85),
    ],
)
def test_engagement(row, expected):
    assert score(engagement, row) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({}, 100),
        ({"plan": "Free", "payment_status": "none", "mrr": 0.0}, 100),
        ({"payment_status": "past_due", "late_payments_90d": 1}, 70),
        ({"payment_status": "failed", "failed_payments_90d": 2, "overdue_amount": 100.0}, 10),
        ({"failed_payments_90d": 5, "late_payments_90d": 9}, 55),  # floors -30 and -15
        ({"payment_status": "failed", "failed_payments_90d": 5, "overdue_amount": 1.0}, 0),
    ],
)
def test_payment_health(row, expected):
    assert score(payment_health, row) == expected


# --- overall health, new vs old ------------------------------------------------------------

def test_weighted_health_rounds_halves_up_like_math_round():
    scores = {"product_usage": pl.lit(85.0), "feature_adoption": pl.lit(70.0),
              "support": pl.lit(100.0), "engagement": pl.lit(75.0), "payment": pl.lit(100.0),
              "value_delivery": pl.lit(10.0)}
    # 21.25 + 10.5 + 10 + 7.5 + 10 + 3 = 62.25
    assert pl.select(weighted_health(scores, dict(SC.health_weights))).item() == 62
    halves = {key: pl.lit(50.5) for key in scores}
    assert pl.select(weighted_health(halves, dict(SC.health_weights))).item() == 51


# War story 1: still logging in every week, tasks down 80%, one person doing everything.
SILENT_CHURNER = {
    "logins_30d": 25, "active_days_30d": 17, "avg_session_minutes_30d": 8.0,
    "tasks_completed_30d": 12, "tasks_completed_prev_30d": 60,
    "features_used_90d": 3, "dau_wau_ratio": 0.4, "active_members_30d": 1,
    "active_members_ratio": 0.5, "days_since_last_login": 3, "tickets_90d": 0,
    "avg_csat_90d": None, "avg_resolution_hours_90d": None, "collaboration_score": 10.0,
}


def test_war_story_1_silent_churner_healthy_on_old_model_at_risk_on_new():
    frame = features(SILENT_CHURNER)
    scores = health_scores(frame, SC)
    assert one(scores, "product_usage_score") == pytest.approx(88.5)  # activity stays high
    assert one(scores, "value_delivery_score") == 10  # 50 - 30 (tasks) - 10 (collaboration)
    assert one(scores, "support_health_score_old") == 100
    assert one(scores, "health_score_old") == 84  # "Healthy"
    assert one(scores, "health_score") == 58  # below the at-risk cut-off of 60
    alerts = trend_alerts(frame, SC)
    assert alerts["metric"].to_list() == ["task_completion"]
    assert one(health_tiers(scores, alerts, SC), "tier") == "at_risk"


def test_health_scores_columns():
    assert health_scores(features({}), SC).columns == [
        *KEYS, "product_usage_score", "feature_adoption_score", "support_engagement_score",
        "engagement_score", "payment_health_score", "value_delivery_score",
        "support_health_score_old", "health_score", "health_score_old",
    ]


# --- premium adoption (War story 3) --------------------------------------------------------

@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({}, 0),
        ({"analytics_views": 1}, 0),
        ({"analytics_views": 2}, 15),
        ({"analytics_views": 4}, 15),
        ({"analytics_views": 5}, 25),
        ({"templates_created": 1}, 15),
        ({"templates_created": 2}, 15),
        ({"templates_created": 3}, 25),
        ({"calendar_sync_setup": True}, 25),
        ({"priority_support_used": 1}, 15),
        ({"premium_onboarding_completed": True}, 10),
        ({"calendar_sync_setup": True, "analytics_views": 9, "templates_created": 3,
          "priority_support_used": 2, "premium_onboarding_completed": True}, 100),
    ],
)
def test_premium_adoption_score(row, expected):
    assert one(premium_adoption(features(row), SC), "premium_adoption_score") == expected


@pytest.mark.parametrize(
    ("days", "row", "scorecard", "risk"),
    [
        (29, {}, SC, False),
        (30, {}, SC, True),
        (None, {}, SC, False),  # unknown upgrade age: no risk raised
        # 25 + 15 = 40 is not < 40
        (30, {"calendar_sync_setup": True, "analytics_views": 2}, SC, False),
        # 25 + 14 = 39 with onboarding worth 14 (priority support 11 keeps the total 100)
        (30, {"calendar_sync_setup": True, "premium_onboarding_completed": True},
         parse_scorecard({"premium_adoption": {"onboarding_points": 14,
                                               "priority_support": {"at_least": 1,
                                                                    "points": 11}}}),
         True),
    ],
)
def test_premium_adoption_risk(days, row, scorecard, risk):
    frame = premium_adoption(features({"days_since_upgrade": days, **row}), scorecard)
    assert one(frame, "premium_adoption_risk") is risk


def test_missing_premium_features_follow_the_spec():
    frame = premium_adoption(
        features(
            {},
            {"calendar_sync_setup": True, "analytics_views": 1, "templates_created": 1},
            {"calendar_sync_setup": True, "analytics_views": 2, "templates_created": 1},
        ),
        SC,
    )
    assert frame["missing_premium_features"].to_list() == [
        ["calendar_sync", "analytics", "custom_templates"], ["analytics"], []
    ]


def test_premium_adoption_is_null_off_premium():
    frame = premium_adoption(features({"plan": "Free"}, {"plan": "Enterprise"}), SC)
    for column in frame.columns[len(KEYS):]:
        assert frame[column].null_count() == 2, column


# --- trend alerts ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("row", "metric"),
    [
        ({"tasks_completed_30d": 14, "tasks_completed_prev_30d": 20}, None),  # exactly -30%
        ({"tasks_completed_30d": 13, "tasks_completed_prev_30d": 20}, "task_completion"),
        ({"tasks_completed_30d": 10, "tasks_completed_prev_30d": 100}, None),  # 10 is not > 10
        ({"tasks_completed_30d": 11, "tasks_completed_prev_30d": 100}, "task_completion"),
        ({"tasks_completed_30d": 40, "tasks_completed_prev_30d": 0}, None),  # zero baseline
        ({"active_users_30d": 1, "active_users_prev_30d": 2}, None),  # exactly -50%
        ({"active_users_30d": 1, "active_users_prev_30d": 3}, "active_users"),
        ({"active_users_30d": 0, "active_users_prev_30d": 0}, None),
        ({"avg_session_minutes_30d": 6.0, "avg_session_minutes_prev_30d": 10.0}, None),
        ({"avg_session_minutes_30d": 5.9, "avg_session_minutes_prev_30d": 10.0},
         "session_duration"),
        ({"avg_session_minutes_30d": 5.0, "avg_session_minutes_prev_30d": None}, None),
    ],
)
def test_trend_alert_boundaries(row, metric):
    alerts = trend_alerts(features(row), SC)
    assert alerts["metric"].to_list() == ([metric] if metric else [])


def test_trend_alert_rows():
    frame = features({
        "tasks_completed_30d": 13, "tasks_completed_prev_30d": 20,
        "active_users_30d": 1, "active_users_prev_30d": 4,
        "avg_session_minutes_30d": 3.0, "avg_session_minutes_prev_30d": 10.0,
    })
    alerts = trend_alerts(frame, SC)
    assert alerts.columns == [*KEYS, "metric", "current_value", "previous_value",
                              "percent_change", "severity"]
    assert alerts.drop("percent_change").rows() == [
        ("hh_0", AS_OF, "task_completion", 13.0, 20.0, "critical"),
        ("hh_0", AS_OF, "active_users", 1.0, 4.0, "critical"),
        ("hh_0", AS_OF, "session_duration", 3.0, 10.0, "warning"),
    ]
    assert alerts["percent_change"].to_list() == pytest.approx([-35.0, -75.0, -70.0])


def test_trend_alerts_on_no_households_keep_their_schema():
    alerts = trend_alerts(features().clear(), SC)
    assert alerts.height == 0
    assert alerts.schema["percent_change"] == pl.Float64


# --- tiers ----------------------------------------------------------------------------------

def _alerts(counts: list[int]) -> pl.DataFrame:
    rows = [
        {"household_id": f"hh_{i}", "as_of": AS_OF, "metric": "task_completion",
         "current_value": 11.0, "previous_value": 20.0, "percent_change": -45.0,
         "severity": "critical"}
        for i, n in enumerate(counts) for _ in range(n)
    ]
    return pl.DataFrame(rows, schema=trend_alerts(features(), SC).schema)


@pytest.mark.parametrize(
    ("health", "alerts", "tier"),
    [
        (39, 0, "critical"),
        (40, 0, "at_risk"),
        (59, 0, "at_risk"),
        (60, 0, "healthy"),
        (95, 0, "healthy"),
        (95, 1, "at_risk"),
        (95, 2, "at_risk"),
        (95, 3, "critical"),
        (60, 1, "at_risk"),
    ],
)
def test_health_tiers(health, alerts, tier):
    scores = pl.DataFrame({"household_id": ["hh_0"], "as_of": [AS_OF], "health_score": [health]})
    tiers = health_tiers(scores, _alerts([alerts]), SC)
    assert tiers.row(0, named=True) == {
        "household_id": "hh_0", "as_of": AS_OF, "health_score": health, "alert_count": alerts,
        "tier": tier,
    }


def test_the_tier_rule_in_force_is_the_configured_one():
    """The UI shows the cut-offs a CS_SCORECARD file sets, not the spec's."""
    changed = SC.model_copy(update={"tiers": SC.tiers.model_copy(update={"critical_below": 35})})
    assert SC.tiers.rule().startswith("critical when health < 40 or 3+ alerts; at risk when < 60")
    assert changed.tiers.rule().startswith("critical when health < 35 or 3+ alerts")
    scores = pl.DataFrame({"household_id": ["hh_0"], "as_of": [AS_OF], "health_score": [38]})
    assert one(health_tiers(scores, _alerts([0]), changed), "tier") == "at_risk"


# --- explanations ---------------------------------------------------------------------------

def test_explanations_rank_by_effect_on_health():
    explained = explain_health(features(SILENT_CHURNER), SC)
    reasons = one(explained, "reasons").to_list()
    assert reasons[:3] == [
        "task completions −80% vs prior 30 days: value delivery −30",  # -30 x 0.30 = -9
        "3 core features used in 90 days (target 5): feature adoption −40",  # -6
        "collaboration score 10: value delivery −10",  # -3
    ]
    assert "no tickets and no proactive outreach in 90 days: support −5" in reasons
    assert "17 active days in last 30 (target 20): product usage −7.5" in reasons
    assert one(explained, "top_reasons") == "; ".join(reasons[:3])


def test_explanations_name_growth_and_new_activity():
    explained = explain_health(
        features(
            {"tasks_completed_30d": 5, "tasks_completed_prev_30d": 0, "pets_added_90d": 1},
            {"tickets_90d": 2, "avg_csat_90d": 4.8, "new_features_adopted_90d": 1},
        ),
        SC,
    )
    first, second = explained["reasons"].to_list()
    assert first == [
        "5 task completions vs none in prior 30 days: value delivery +30",
        "1 pet added in 90 days: value delivery +20",
    ]
    assert second == [
        "1 new feature adopted in 90 days: value delivery +10",
        "2 tickets in 90 days, CSAT 4.8: support +20",
    ]


def test_rule_points_add_up_to_the_component_scores():
    """The explanation and the score come from the same rules: baseline + points = score."""
    frame = features(SILENT_CHURNER, {}, {"payment_status": "past_due", "tickets_90d": 7})
    contributions = rule_contributions(frame, SC)
    scores = health_scores(frame, SC)
    for component in health_components(SC).values():
        sums = (
            contributions.filter(pl.col("component") == component.name)
            .group_by(KEYS).agg(pl.col("points").sum())
        )
        joined = scores.join(sums, on=list(KEYS), how="left").with_columns(
            (pl.col("points").fill_null(0) + component.baseline).clip(0, 100).alias("rebuilt")
        )
        assert joined["rebuilt"].to_list() == pytest.approx(
            joined[component.score_column].to_list()
        ), component.name


def test_rule_contributions_columns_and_effects():
    contributions = rule_contributions(features(SILENT_CHURNER), SC)
    assert contributions.columns == [
        *KEYS, "component", "rule", "points", "health_effect", "reason", "rank"
    ]
    first = contributions.row(0, named=True)
    assert (first["component"], first["rule"], first["points"], first["rank"]) == (
        "value_delivery", "task_trend", -30.0, 1
    )
    assert first["health_effect"] == pytest.approx(-9.0)
    assert (contributions["points"] != 0).all()


def test_explanations_for_payment_and_support_trouble():
    row = {"payment_status": "past_due", "late_payments_90d": 1, "tickets_90d": 7,
           "critical_tickets_unresolved": 1, "avg_resolution_hours_90d": 50.5}
    assert one(explain_health(features(row), SC), "reasons").to_list() == [
        "payment past due: payment −25",  # -2.5 on health
        "7 tickets in 90 days: support −21",  # -2.1
        "1 unresolved critical ticket: support −20",  # -2.0
        "average resolution 50.5 h (over 48 h): support −15",  # -1.5
        "1 late payment in 90 days: payment −5",  # -0.5
    ]
