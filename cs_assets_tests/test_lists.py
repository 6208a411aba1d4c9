"""Action lists on hand-built households: every rule on both sides of its threshold, exact
membership and order on small populations, top-N cuts with ties, and the validated YAML."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
import yaml

from cs_assets.contract.events import load_event_mapping
from cs_assets.ingestion.rules import event_kind_expr
from cs_assets.lists import (
    DEFAULT_LISTS_PATH,
    ListsConfig,
    ListsConfigError,
    load_lists_config,
    parse_lists_config,
)
from cs_assets.lists.checkins import CHECKIN_COLUMNS, proactive_checkin_candidates
from cs_assets.lists.expansion import (
    CROSS_SELL_COLUMNS,
    FUNNEL_COLUMNS,
    FUNNEL_HOUSEHOLD_COLUMNS,
    UPSELL_COLUMNS,
    cross_sell_opportunities,
    upsell_candidates,
    upsell_funnel,
    upsell_funnel_households,
)
from cs_assets.lists.premium import (
    OFFER_COLUMNS,
    RISK_COLUMNS,
    SAVE_COLUMNS,
    downgrade_save_offers,
    downgrade_saves,
    premium_adoption_risks,
)
from cs_assets.scoring import parse_scorecard, premium_adoption
from cs_assets_tests.factories import frame

AS_OF = date(2026, 6, 1)
AT = datetime(2026, 6, 1, tzinfo=UTC)  # the as-of instant: inputs strictly before it
US = timedelta(microseconds=1)
MAPPING = load_event_mapping()
CONFIG = ListsConfig()


def ago(days: float = 0, *, us: int = 0) -> datetime:
    return AT - timedelta(days=days, microseconds=us)


def cfg(**sections) -> ListsConfig:
    return parse_lists_config(sections)


# ---------------------------------------------------------------- builders

SCORE_SCHEMA = {
    "household_id": pl.String, "as_of": pl.Date, "plan": pl.String, "mrr": pl.Float64,
    "health_score": pl.Int64, "days_since_signup": pl.Int64, "active_days_30d": pl.Int64,
    "tickets_90d": pl.Int64, "days_since_upgrade": pl.Int64, "active_pets": pl.Int64,
    "calendar_sync_setup": pl.Boolean, "premium_adoption_score": pl.Float64,
    "premium_adoption_risk": pl.Boolean, "missing_premium_features": pl.List(pl.String),
}


def hh(household_id: str, **overrides) -> dict:
    """A healthy, active Free household past onboarding, with no ticket and one pet."""
    return dict(household_id=household_id, as_of=AS_OF, plan="Free", mrr=0.0, health_score=80,
                days_since_signup=200, active_days_30d=10, tickets_90d=0,
                days_since_upgrade=None, active_pets=1, calendar_sync_setup=False,
                premium_adoption_score=None, premium_adoption_risk=None,
                missing_premium_features=None) | overrides


def premium(household_id: str, **overrides) -> dict:
    return hh(household_id, plan="Premium", mrr=100.0, days_since_upgrade=120,
              premium_adoption_score=100.0, premium_adoption_risk=False,
              missing_premium_features=[]) | overrides


def scores(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=SCORE_SCHEMA, orient="row")


def ids(frame: pl.DataFrame) -> list[str]:
    return frame["household_id"].to_list()


def event(household_id: str, event_type: str, at: datetime, n: int = 0) -> dict:
    return dict(event_id=f"ev_{household_id}_{event_type}_{n}_{at:%Y%j%H%M%S%f}",
                household_id=household_id, occurred_at=at, event_type=event_type)


def many(household_id: str, event_type: str, count: int, at: datetime | None = None) -> list:
    return [event(household_id, event_type, at or ago(1), n) for n in range(count)]


def events(*rows: dict) -> pl.DataFrame:
    """Validated activity events: with the canonical `event_kind` the ingestion adds."""
    return frame("activity_events", list(rows)).with_columns(event_kind=event_kind_expr(MAPPING))


def ticket(household_id: str, created_at: datetime) -> dict:
    return dict(ticket_id=f"t_{household_id}_{created_at:%Y%j%H%M%S%f}",
                household_id=household_id, created_at=created_at, priority="low")


def tickets(*rows: dict) -> pl.DataFrame:
    return frame("support_tickets", list(rows))


def sent(*rows: tuple[str, datetime]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"household_id": pl.String,
                                      "sent_at": pl.Datetime("us", "UTC")}, orient="row")


def change(household_id: str, at: datetime, change_type: str, from_plan: str | None,
           to_plan: str | None) -> dict:
    return dict(change_id=f"sc_{household_id}_{at:%Y%j%H%M%S%f}", household_id=household_id,
                changed_at=at, change_type=change_type, from_plan=from_plan, to_plan=to_plan,
                mrr_after={"Premium": 100.0, "Enterprise": 500.0}.get(to_plan, 0.0))


def changes(*rows: dict) -> pl.DataFrame:
    return frame("subscription_changes", list(rows))


def household(household_id: str, created_at: datetime, churned_at: datetime | None = None):
    return dict(household_id=household_id, created_at=created_at, region="US",
                email_opt_out=False, churned_at=churned_at)


def households(*rows: dict) -> pl.DataFrame:
    return frame("households", list(rows))


# ---------------------------------------------------------------- proactive check-ins


def checkins(score_frame: pl.DataFrame, ticket_rows=(), sent_frame=None, config=CONFIG):
    return proactive_checkin_candidates(AS_OF, score_frame, support_tickets=tickets(*ticket_rows),
                                        checkins_sent=sent_frame, config=config)


@pytest.mark.parametrize(("overrides", "picked"), [
    ({"health_score": 69}, False), ({"health_score": 70}, True),
    ({"days_since_signup": 59}, False), ({"days_since_signup": 60}, True),
    ({"active_days_30d": 0}, False), ({"active_days_30d": 1}, True),
    ({"plan": "Premium"}, True),  # any plan
])
def test_checkin_thresholds(overrides, picked):
    assert ids(checkins(scores(hh("a", **overrides)))) == (["a"] if picked else [])


@pytest.mark.parametrize(("created_at", "picked"), [
    (ago(89), False),
    (ago(90), False),        # the spec's created_at >= CURRENT_DATE - 90 days
    (ago(90, us=1), True),   # older than the window
    (AT, True),              # at the as-of instant: not seen yet
])
def test_checkin_needs_no_ticket_in_90_days(created_at, picked):
    result = checkins(scores(hh("a")), [ticket("a", created_at)])
    assert ids(result) == (["a"] if picked else [])


@pytest.mark.parametrize(("sent_at", "picked"), [
    (ago(89), False), (ago(90), False), (ago(90, us=1), True), (AT, True),
])
def test_checkin_needs_no_checkin_in_90_days(sent_at, picked):
    result = checkins(scores(hh("a")), sent_frame=sent(("a", sent_at)))
    assert ids(result) == (["a"] if picked else [])
    if picked and sent_at < AT:
        assert result["last_checkin_at"].item() == sent_at


def test_checkin_top_n_cut_breaks_ties_by_household_id():
    population = scores(hh("d", health_score=85), hh("b", health_score=85),
                        hh("a", health_score=90), hh("c", health_score=85))
    result = checkins(population, config=cfg(checkins={"top_n": 3}))
    assert ids(result) == ["a", "b", "c"]
    assert result["rank"].to_list() == [1, 2, 3]


def test_checkin_population_exact_membership_and_order():
    population = scores(
        hh("h_old_ticket", health_score=95),
        hh("h_recent_ticket", health_score=99),
        hh("h_checked_in", health_score=98),
        hh("h_new", days_since_signup=30, health_score=97),
        hh("h_unhealthy", health_score=60),
        hh("h_quiet_b", health_score=75),
        hh("h_quiet_a", health_score=75),
        hh("h_other_day", as_of=AS_OF - timedelta(days=1), health_score=100),
    )
    result = checkins(
        population,
        [ticket("h_old_ticket", ago(120)), ticket("h_recent_ticket", ago(10))],
        sent(("h_checked_in", ago(30)), ("h_quiet_a", ago(200))),
    )
    assert result.columns == CHECKIN_COLUMNS
    assert ids(result) == ["h_old_ticket", "h_quiet_a", "h_quiet_b"]
    assert result["last_ticket_at"].to_list() == [ago(120), None, None]
    assert result["last_checkin_at"].to_list() == [None, ago(200), None]


# ---------------------------------------------------------------- Premium adoption risk

# Points that make both sides of 40 reachable: calendar sync 25 + onboarding 14 = 39;
# calendar sync 25 + analytics 15 (2 views) = 40. Priority support 11 keeps the total 100.
CARD_39 = parse_scorecard({"premium_adoption": {
    "onboarding_points": 14, "priority_support": {"at_least": 1, "points": 11}}})


def _adoption_scores(*rows: tuple[str, str, int | None, bool, int]) -> pl.DataFrame:
    """(id, plan, days since upgrade, onboarded, analytics views) through the scorecard's
    premium_adoption, joined as health_scores joins it."""
    features = pl.DataFrame(
        [dict(household_id=h, as_of=AS_OF, plan=plan, mrr=100.0, days_since_upgrade=days,
              calendar_sync_setup=True, premium_onboarding_completed=onboarded,
              analytics_views=views, templates_created=0, priority_support_used=0)
         for h, plan, days, onboarded, views in rows],
        schema_overrides={"days_since_upgrade": pl.Int64})
    adoption = premium_adoption(features, CARD_39).select(
        "household_id", "as_of", "premium_adoption_score", "premium_adoption_risk",
        "missing_premium_features")
    return features.join(adoption, on=["household_id", "as_of"])


def test_premium_adoption_risks_on_both_sides_of_30_days_and_score_40():
    frame = _adoption_scores(
        ("days_29_score_39", "Premium", 29, True, 0),
        ("days_30_score_39", "Premium", 30, True, 0),
        ("days_30_score_40", "Premium", 30, False, 2),
        ("free", "Free", 400, False, 0),
    )
    assert frame["premium_adoption_score"].to_list() == [39, 39, 40, None]
    result = premium_adoption_risks(AS_OF, frame)
    assert result.columns == RISK_COLUMNS
    assert ids(result) == ["days_30_score_39"]
    assert result["missing_premium_features"].to_list() == [["analytics", "custom_templates"]]


def test_premium_adoption_risks_population_order():
    frame = scores(
        premium("p_b", premium_adoption_score=25.0, premium_adoption_risk=True),
        premium("p_c", premium_adoption_score=10.0, premium_adoption_risk=True),
        premium("p_a", premium_adoption_score=25.0, premium_adoption_risk=True),
        premium("p_ok", premium_adoption_score=80.0),
        hh("free"),
    )
    assert ids(premium_adoption_risks(AS_OF, frame)) == ["p_c", "p_a", "p_b"]


# ---------------------------------------------------------------- downgrade save offers

ALTERNATIVES = ["pause_1_month", "discount_50pct_3_months", "talk_to_team",
                "continue_downgrade"]


def test_downgrade_offers_show_unused_features_first_else_alternatives():
    frame = scores(
        premium("unused", missing_premium_features=["calendar_sync", "analytics"],
                days_since_upgrade=89),
        premium("adopted", days_since_upgrade=90),
        premium("unknown_age", days_since_upgrade=None),
        hh("free"),
    )
    result = downgrade_save_offers(AS_OF, frame)
    assert result.columns == OFFER_COLUMNS
    assert result.select("household_id", "modal", "unused_features", "options",
                         "offer_type").rows() == [
        ("adopted", "alternatives", [], ALTERNATIVES, "discount"),
        ("unknown_age", "alternatives", [], ALTERNATIVES, "discount"),
        ("unused", "unused_features", ["calendar_sync", "analytics"],
         ["show_me_how", "continue_downgrade"], "onboarding_help"),
    ]


def test_downgrade_offer_terms_and_plans_come_from_the_config():
    config = cfg(downgrade_save={"plans": ["Premium", "Enterprise"], "pause_months": 2,
                                 "discount_percent": 30, "discount_months": 1,
                                 "onboarding_help_days_below": 200})
    frame = scores(premium("ent", plan="Enterprise", missing_premium_features=None),
                   premium("pre", days_since_upgrade=199))
    result = downgrade_save_offers(AS_OF, frame, config)
    assert result.select("household_id", "options", "offer_type").rows() == [
        ("ent", ["pause_2_months", "discount_30pct_1_month", "talk_to_team",
                 "continue_downgrade"], "onboarding_help"),
        ("pre", ["pause_2_months", "discount_30pct_1_month", "talk_to_team",
                 "continue_downgrade"], "onboarding_help"),
    ]


# ---------------------------------------------------------------- downgrade saves

PREMIUM_SINCE = ago(400)


def saves(event_rows, change_rows=(), churned: dict | None = None) -> pl.DataFrame:
    """Intents of households on Premium since PREMIUM_SINCE (plus `change_rows`)."""
    hh_ids = sorted({e["household_id"] for e in event_rows} | {c["household_id"]
                                                              for c in change_rows})
    history = [change(h, PREMIUM_SINCE, "new", None, "Premium") for h in hh_ids]
    churned = churned or {}
    return downgrade_saves(
        AS_OF, activity_events=events(*event_rows),
        subscription_changes=changes(*history, *change_rows),
        households=households(*(household(h, PREMIUM_SINCE, churned.get(h)) for h in hh_ids)),
    )


def click(household_id: str, at: datetime, n: int = 0) -> dict:
    return event(household_id, "downgrade_click", at, n)


@pytest.mark.parametrize(("intent_at", "outcome", "stayed"), [
    (ago(30), "saved", True),             # the 30 days ended exactly at the as-of instant
    (ago(30, us=-1), "pending", None),    # 1 µs short of 30 days: not over, left out
    (ago(29), "pending", None),
])
def test_save_outcome_waits_for_the_30_days(intent_at, outcome, stayed):
    result = saves([click("a", intent_at)])
    assert result.columns == SAVE_COLUMNS
    assert result.select("outcome", "stayed_premium").row(0) == (outcome, stayed)
    assert result["outcome_due_at"].item() == intent_at + timedelta(days=30)


@pytest.mark.parametrize(("left_at", "outcome", "stayed"), [
    (ago(40) + timedelta(days=30) - US, "downgraded", False),  # last µs of the window
    (ago(40) + timedelta(days=30), "saved", True),             # the day after: still saved
    (ago(40), "downgraded", False),                            # same instant as the click
])
def test_save_window_is_30_days_from_the_intent(left_at, outcome, stayed):
    result = saves([click("a", ago(40))], [change("a", left_at, "downgrade", "Premium", "Free")])
    assert result.select("outcome", "stayed_premium").row(0) == (outcome, stayed)
    assert result["left_at"].item() == (left_at if outcome != "saved" else None)


def test_a_downgrade_before_the_window_closes_is_known_early():
    result = saves([click("a", ago(5))], [change("a", ago(3), "downgrade", "Premium", "Free")])
    assert result.select("outcome", "stayed_premium").row(0) == ("downgraded", False)


def test_clicks_within_30_days_of_an_intent_repeat_it():
    rows = [click("a", ago(200)), click("a", ago(190), 1), click("a", ago(170, us=1), 2),
            click("a", ago(170), 3), click("a", ago(100), 4)]
    result = saves(rows)
    assert result.select("intent_at", "clicks").rows() == [
        (ago(200), 3), (ago(170), 1), (ago(100), 1)]


def test_only_clicks_while_premium_are_intents_and_outcomes_name_the_leave():
    rows = [click("free_then", ago(300)), click("churner", ago(100)), click("upgrader", ago(100)),
            click("future", AT)]
    result = saves(
        rows,
        [change("free_then", ago(350), "downgrade", "Premium", "Free"),
         change("churner", ago(90), "cancel", "Premium", None),
         change("upgrader", ago(90), "upgrade", "Premium", "Enterprise"),
         change("future", ago(500), "new", None, "Premium")],
        churned={"churner": ago(90)},
    )
    assert result.select("household_id", "outcome", "plan_at_intent").rows() == [
        ("churner", "churned", "Premium"), ("upgrader", "saved", "Premium")]


def test_downgrade_saves_population_exact_membership_and_order():
    rows = [click("b", ago(60)), click("a", ago(10)), click("a", ago(80), 1)]
    result = saves(rows, [change("b", ago(50), "downgrade", "Premium", "Free")])
    assert result.select("household_id", "intent_at", "outcome").rows() == [
        ("a", ago(80), "saved"), ("a", ago(10), "pending"), ("b", ago(60), "downgraded")]


def test_no_clicks_give_an_empty_table():
    result = saves([event("a", "app_login", ago(1))])
    assert result.height == 0 and result.columns == SAVE_COLUMNS


# ---------------------------------------------------------------- upsell candidates


def upsell(score_frame, event_rows=(), sent_frame=None, config=CONFIG) -> pl.DataFrame:
    return upsell_candidates(AS_OF, score_frame, activity_events=events(*event_rows),
                             upsell_sent=sent_frame, config=config)


PAGE_VIEW = [event("a", "premium_page_view", ago(1))]


@pytest.mark.parametrize(("overrides", "picked"), [
    ({"health_score": 69}, False), ({"health_score": 70}, True),
    ({"days_since_signup": 29}, False), ({"days_since_signup": 30}, True),
    ({"active_days_30d": 0}, False),
    ({"plan": "Premium"}, False), ({"plan": "Enterprise"}, False),
])
def test_upsell_eligibility(overrides, picked):
    assert ids(upsell(scores(hh("a", **overrides)), PAGE_VIEW)) == (["a"] if picked else [])


@pytest.mark.parametrize(("event_type", "at_least"), [
    ("recurring_task_create", 3), ("photo_upload", 8), ("advanced_analytics_view", 1),
    ("premium_page_view", 1), ("premium_feature_click", 3),
])
def test_each_intent_signal_fires_at_its_threshold(event_type, at_least):
    assert ids(upsell(scores(hh("a")), many("a", event_type, at_least - 1))) == []
    assert ids(upsell(scores(hh("a")), many("a", event_type, at_least))) == ["a"]


@pytest.mark.parametrize(("at", "picked"), [
    (ago(30), True), (ago(30, us=1), False), (AT, False),
])
def test_intent_signals_count_in_the_30_days_before_the_instant(at, picked):
    rows = [event("a", "premium_page_view", at)]
    assert ids(upsell(scores(hh("a")), rows)) == (["a"] if picked else [])


@pytest.mark.parametrize(("event_rows", "angle", "signals"), [
    (many("a", "recurring_task_create", 3) + many("a", "photo_upload", 8),
     "unlimited_recurring_tasks", ["recurring_tasks_created", "photos_uploaded"]),
    (many("a", "photo_upload", 8) + many("a", "advanced_analytics_view", 1),
     "unlimited_photo_storage", ["photos_uploaded", "analytics_views"]),
    (many("a", "advanced_analytics_view", 1) + many("a", "premium_page_view", 1),
     "advanced_analytics", ["analytics_views", "premium_page_views"]),
    (many("a", "premium_feature_click", 3), "general_premium_value", ["premium_feature_clicks"]),
])
def test_upsell_angle_follows_the_spec_order(event_rows, angle, signals):
    result = upsell(scores(hh("a")), event_rows)
    assert result.select("upsell_angle", "signals").row(0) == (angle, signals)


@pytest.mark.parametrize(("sent_at", "picked"), [
    (ago(89), False), (ago(90), False), (ago(90, us=1), True), (AT, True),
])
def test_upsell_skips_households_sent_a_campaign_in_90_days(sent_at, picked):
    result = upsell(scores(hh("a")), PAGE_VIEW, sent(("a", sent_at)))
    assert ids(result) == (["a"] if picked else [])


def test_upsell_ranks_by_health_then_clicks_then_id_and_cuts_at_top_n():
    population = scores(*(hh(h, health_score=s) for h, s in
                          [("e", 90), ("d", 90), ("c", 90), ("b", 95), ("a", 80)]))
    rows = [*many("e", "premium_feature_click", 5), *many("d", "premium_feature_click", 3),
            *many("c", "premium_feature_click", 3), *many("b", "premium_page_view", 1),
            *many("a", "premium_page_view", 1)]
    result = upsell(population, rows, config=cfg(upsell={"top_n": 3}))
    assert result.columns == UPSELL_COLUMNS
    assert ids(result) == ["b", "e", "c"]  # c and d tie on health and clicks: c first
    assert result["rank"].to_list() == [1, 2, 3]


def test_upsell_population_exact_membership_and_order():
    population = scores(hh("u_photos", health_score=72), hh("u_none", health_score=99),
                        hh("u_premium", plan="Premium", health_score=99),
                        hh("u_sent", health_score=98), hh("u_views", health_score=88))
    rows = [*many("u_photos", "photo_upload", 8), *many("u_premium", "premium_page_view", 1),
            *many("u_sent", "premium_page_view", 1), *many("u_views", "premium_page_view", 2),
            event("u_none", "app_login", ago(1))]
    result = upsell(population, rows, sent(("u_sent", ago(10))))
    assert result.select("household_id", "upsell_angle").rows() == [
        ("u_views", "general_premium_value"), ("u_photos", "unlimited_photo_storage")]


# ---------------------------------------------------------------- upsell funnel

SIGNUP = ago(300)


def funnel(house_rows, change_rows, event_rows, sent_frame) -> pl.DataFrame:
    return upsell_funnel_households(
        AS_OF, households=households(*house_rows), subscription_changes=changes(*change_rows),
        activity_events=events(*event_rows), upsell_sent=sent_frame)


def test_funnel_stages_are_ordered_in_time():
    names = ["full", "viewed_first", "no_trial_buyer", "trialist", "aware_only", "silent"]
    house_rows = [household(h, SIGNUP) for h in names]
    change_rows = [change(h, SIGNUP, "new", None, "Free") for h in names] + [
        change("full", ago(10), "upgrade", "Free", "Premium"),
        change("no_trial_buyer", ago(10), "upgrade", "Free", "Premium"),
    ]
    event_rows = [
        event("full", "premium_page_view", ago(50)), event("full", "premium_trial_start", ago(40)),
        event("viewed_first", "premium_page_view", ago(70)),   # before the campaign
        event("no_trial_buyer", "premium_page_view", ago(50)),
        event("trialist", "premium_page_view", ago(50)),
        event("trialist", "premium_trial_start", ago(50)),     # same instant counts
    ]
    campaigns = sent(*((h, ago(60)) for h in names if h != "silent"))
    stages = funnel(house_rows, change_rows, event_rows, campaigns)
    assert stages.columns == FUNNEL_HOUSEHOLD_COLUMNS
    reached = {r["household_id"]: [s is not None for s in list(r.values())[2:6]]
               for r in stages.iter_rows(named=True)}
    assert reached == {
        "full": [True, True, True, True], "viewed_first": [True, False, False, False],
        "no_trial_buyer": [True, True, False, False], "trialist": [True, True, True, False],
        "aware_only": [True, False, False, False], "silent": [False, False, False, False],
    }
    summary = upsell_funnel(AS_OF, stages)
    assert summary.columns == FUNNEL_COLUMNS
    assert summary.row(0, named=True) == dict(
        as_of=AS_OF, free_households=6, awareness_count=5, consideration_count=3,
        trial_count=2, purchase_count=1, purchases_any_path=2,
        awareness_to_consideration=60.0, consideration_to_trial=66.67,
        trial_to_purchase=50.0, overall_conversion=20.0,
    )


def test_funnel_population_was_free_during_the_window():
    house_rows = [
        household("bought_in_window", SIGNUP), household("premium_all_along", SIGNUP),
        household("downgraded_in_window", SIGNUP), household("churned_before", SIGNUP, ago(91)),
        household("new_premium", ago(10)), household("new_free", ago(10)),
        household("bought_at_start", SIGNUP), household("no_history", SIGNUP),
        household("not_yet", AT),
    ]
    change_rows = [
        change("bought_in_window", SIGNUP, "new", None, "Free"),
        change("bought_in_window", ago(20), "upgrade", "Free", "Premium"),
        change("premium_all_along", SIGNUP, "new", None, "Premium"),
        change("downgraded_in_window", SIGNUP, "new", None, "Premium"),
        change("downgraded_in_window", ago(30), "downgrade", "Premium", "Free"),
        change("churned_before", SIGNUP, "new", None, "Free"),
        change("new_premium", ago(10), "new", None, "Premium"),
        change("new_free", ago(10), "new", None, "Free"),
        change("bought_at_start", SIGNUP, "new", None, "Free"),
        change("bought_at_start", ago(90), "upgrade", "Free", "Premium"),  # Premium from W on
    ]
    stages = funnel(house_rows, change_rows, [], None)
    assert ids(stages) == ["bought_in_window", "downgraded_in_window", "new_free", "no_history"]
    assert stages["upgraded_at"].to_list() == [ago(20), None, None, None]


@pytest.mark.parametrize(("sent_at", "aware"), [(ago(90), True), (ago(90, us=1), False)])
def test_funnel_window_is_the_90_days_before_the_instant(sent_at, aware):
    stages = funnel([household("a", SIGNUP)], [change("a", SIGNUP, "new", None, "Free")], [],
                    sent(("a", sent_at)))
    assert (stages["aware_at"].item() is not None) is aware


def test_funnel_rates_are_null_not_a_division_by_zero():
    for stages in (funnel([], [], [], None),
                   funnel([household("a", SIGNUP)], [change("a", SIGNUP, "new", None, "Free")],
                          [], None)):
        summary = upsell_funnel(AS_OF, stages).row(0, named=True)
        assert summary["awareness_count"] == 0
        assert [summary[k] for k in FUNNEL_COLUMNS[-4:]] == [None] * 4


# ---------------------------------------------------------------- cross-sell


def pet(household_id: str, n: int = 0, *, birth: date | None = None, medical: bool = False,
        removed_at: datetime | None = None) -> dict:
    return dict(pet_id=f"pet_{household_id}_{n}", household_id=household_id, species="dog",
                birth_date=birth, added_at=ago(300), removed_at=removed_at,
                has_medical_needs=medical)


def cross_sell(score_frame, pet_rows=(), observed=(), event_rows=(), config=CONFIG):
    observations = frame("pet_health_observations", [
        dict(observation_id=f"obs_{i}", pet_id=pet_id, observed_at=at, metric="wellness_score",
             value=80.0) for i, (pet_id, at) in enumerate(observed)])
    return cross_sell_opportunities(AS_OF, score_frame, pets=frame("pets", list(pet_rows)),
                                    pet_health_observations=observations,
                                    activity_events=events(*event_rows), config=config)


def offers_of(result: pl.DataFrame, household_id: str = "a") -> list[str]:
    return result.filter(pl.col("household_id") == household_id)["opportunity"].to_list()


@pytest.mark.parametrize(("pets", "offered"), [(2, False), (3, True)])
def test_additional_household_from_3_pets(pets, offered):
    result = cross_sell(scores(hh("a", active_pets=pets)))
    assert offers_of(result) == (["additional_household"] if offered else [])


@pytest.mark.parametrize(("recurring", "at", "overrides", "offered"), [
    (4, ago(1), {}, False), (5, ago(1), {}, True),
    (5, ago(90), {}, True), (5, ago(90, us=1), {}, False), (5, AT, {}, False),
    (5, ago(1), {"calendar_sync_setup": True}, False),
    (5, ago(1), {"plan": "Premium"}, False),  # Premium includes calendar sync
])
def test_calendar_sync_from_5_recurring_tasks_in_90_days_without_sync(recurring, at, overrides,
                                                                      offered):
    rows = many("a", "recurring_task_create", recurring, at)
    result = cross_sell(scores(hh("a", **overrides)), event_rows=rows)
    assert offers_of(result) == (["calendar_sync"] if offered else [])


@pytest.mark.parametrize(("pet_row", "observed", "offered"), [
    (pet("a", birth=date(2019, 6, 1)), [], True),          # 7th birthday on the as-of day
    (pet("a", birth=date(2019, 6, 2)), [], False),         # 7 tomorrow
    (pet("a", birth=None), [], False),                     # unknown age is not senior
    (pet("a", medical=True), [], True),                    # medical needs
    (pet("a", medical=True, removed_at=ago(1)), [], False),  # no longer in the household
    (pet("a", medical=True), [("pet_a_0", ago(90))], False),  # tracked in the 90 days
    (pet("a", medical=True), [("pet_a_0", ago(90, us=1))], True),
    (pet("a", medical=True), [("pet_a_0", AT)], True),     # not seen yet
])
def test_pet_health_tracking_for_senior_or_medical_pets_not_tracked(pet_row, observed, offered):
    result = cross_sell(scores(hh("a")), [pet_row], observed)
    assert offers_of(result) == (["pet_health_tracking"] if offered else [])


@pytest.mark.parametrize(("tickets_90d", "plan", "offered"), [
    (2, "Free", False), (3, "Free", True), (3, "Premium", True), (9, "Enterprise", False),
])
def test_priority_support_from_3_tickets_not_for_enterprise(tickets_90d, plan, offered):
    result = cross_sell(scores(hh("a", tickets_90d=tickets_90d, plan=plan)))
    assert offers_of(result) == (["priority_support_upgrade"] if offered else [])


def test_cross_sell_population_exact_membership_and_order():
    population = scores(hh("c_all", active_pets=4, tickets_90d=3),
                        hh("b_inactive", active_pets=5, active_days_30d=0),
                        hh("a_pets", active_pets=3), hh("d_none"))
    rows = many("c_all", "recurring_task_create", 5)
    result = cross_sell(population, [pet("c_all", birth=date(2010, 1, 1))], event_rows=rows)
    assert result.columns == CROSS_SELL_COLUMNS
    assert result.select("household_id", "opportunity").rows() == [
        ("a_pets", "additional_household"),
        ("c_all", "additional_household"), ("c_all", "calendar_sync"),
        ("c_all", "pet_health_tracking"), ("c_all", "priority_support_upgrade"),
    ]


# ---------------------------------------------------------------- config


def test_shipped_config_is_the_defaults():
    assert load_lists_config() == ListsConfig()
    raw = yaml.safe_load(DEFAULT_LISTS_PATH.read_text(encoding="utf-8"))
    assert parse_lists_config(copy.deepcopy(raw)) == CONFIG


@pytest.mark.parametrize(("data", "key"), [
    ({"checkins": {"top_n": 0}}, "checkins.top_n"),
    ({"checkins": {"health_at_least": 101}}, "checkins.health_at_least"),
    ({"upsell": {"signals": {"photos_uploaded": {"at_least": "8"}}}},
     "upsell.signals.photos_uploaded.at_least"),
    ({"upsell": {"topn": 5}}, "upsell.topn"),
    ({"downgrade_save": {"plans": ["Gold"]}}, "downgrade_save.plans.0"),
    ({"cross_sell": {"calendar_sync": {"plans": ["Gold"]}}}, "cross_sell.calendar_sync.plans.0"),
    ({"funnel": {"window_days": -1}}, "funnel.window_days"),
])
def test_config_errors_name_the_key(data, key):
    with pytest.raises(ListsConfigError, match=rf"(^|; ){key}: "):
        parse_lists_config(data)


def test_config_file_errors_name_the_file(tmp_path):
    with pytest.raises(ListsConfigError, match="cannot read"):
        load_lists_config(tmp_path / "missing.yaml")
    bad = tmp_path / "lists.yaml"
    bad.write_text("checkins:\n  top_n: 0\n", encoding="utf-8")
    with pytest.raises(ListsConfigError, match=r"lists\.yaml: checkins\.top_n: "):
        load_lists_config(bad)
    bad.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(ListsConfigError, match="must be a mapping"):
        load_lists_config(bad)
