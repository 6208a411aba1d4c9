"""Voice of the customer on hand-built households: each survey trigger on both sides of its
boundary, fatigue, priority, NPS comment themes and escalations, and the validated YAML."""

from __future__ import annotations

import copy
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
import yaml

from cs_assets.contract.events import load_event_mapping
from cs_assets.ingestion.rules import event_kind_expr
from cs_assets.voc import (
    DEFAULT_VOC_PATH,
    ESCALATION_COLUMNS,
    SURVEY_COLUMNS,
    THEME_COLUMNS,
    SurveyConfig,
    ThemeConfig,
    VocConfig,
    VocConfigError,
    feedback_escalations,
    load_voc_config,
    nps_themes,
    parse_voc_config,
    survey_eligibility,
)
from cs_assets_tests import factories as f

AS_OF = date(2026, 6, 1)
AT = datetime(2026, 6, 1, tzinfo=UTC)  # the as-of instant: inputs strictly before it
US = timedelta(microseconds=1)
DAY = timedelta(days=1)
OPT_OUT_SCHEMA = {"household_id": pl.String, "channel": pl.String, "at": pl.Datetime("us", "UTC")}
SENT_SCHEMA = {"household_id": pl.String, "survey_type": pl.String,
               "sent_at": pl.Datetime("us", "UTC")}


def ago(days: float = 0, *, us: int = 0) -> datetime:
    return AT - timedelta(days=days, microseconds=us)


# ---------------------------------------------------------------- survey builders


SIGNUP = AT - timedelta(days=60)  # onboarding NPS expired, no cadence due yet


def household(hh: str, created_at: datetime = SIGNUP, **extra) -> dict:
    return dict(household_id=hh, created_at=created_at, region="US", email_opt_out=False) | extra


def ticket(hh: str, resolved_at: datetime, tid: str = "t_1") -> dict:
    return dict(ticket_id=tid, household_id=hh, created_at=resolved_at - DAY,
                resolved_at=resolved_at, priority="low")


def downgrade(hh: str, changed_at: datetime) -> dict:
    return dict(change_id=f"sc_{hh}", household_id=hh, changed_at=changed_at,
                change_type="downgrade", from_plan="Premium", to_plan="Free", mrr_after=0.0)


def use(hh: str, occurred_at: datetime, feature: str = "walk_tracker", n: int = 0) -> dict:
    return dict(event_id=f"ev_{hh}_{feature}_{n}", household_id=hh, occurred_at=occurred_at,
                event_type="feature_use", feature_name=feature)


def login(hh: str, occurred_at: datetime) -> dict:
    return dict(event_id=f"login_{hh}_{occurred_at:%j%H%M%S%f}", household_id=hh,
                occurred_at=occurred_at, event_type="app_login")


def nps(hh: str, responded_at: datetime, score: int | None = 9, comment: str | None = None,
        rid: str | None = None) -> dict:
    return dict(response_id=rid or f"nps_{hh}_{responded_at:%j%H%M%S%f}", household_id=hh,
                responded_at=responded_at, score=score, comment=comment)


# The cadences' anchor arithmetic, without the slot spreading (tested on its own below).
UNSPREAD = {"annual_cadence": {"every_days": 365, "spread": False},
            "quarterly_cadence": {"every_days": 90, "spread": False}}


def eligible(households: list[dict], *, tickets=(), changes=(), events=(), responses=(),
             sent=(), opt_outs=(), config: SurveyConfig | None = None) -> pl.DataFrame:
    activity = f.frame("activity_events", list(events)).with_columns(
        event_kind=event_kind_expr(load_event_mapping())
    )
    out = survey_eligibility(
        AS_OF,
        households=f.frame("households", households),
        support_tickets=f.frame("support_tickets", list(tickets)),
        nps_responses=f.frame("nps_responses", list(responses)),
        subscription_changes=f.frame("subscription_changes", list(changes)),
        activity_events=activity,
        surveys_sent=pl.DataFrame(list(sent), schema=SENT_SCHEMA, orient="row"),
        opt_outs=pl.DataFrame(list(opt_outs), schema=OPT_OUT_SCHEMA, orient="row"),
        config=config or SurveyConfig.model_validate(UNSPREAD),
    )
    assert out.columns == SURVEY_COLUMNS
    return out


def triggers(out: pl.DataFrame) -> list[str]:
    return out.get_column("trigger").to_list()


# ---------------------------------------------------------------- survey triggers


def test_quiet_household_gets_nothing_and_no_pii_is_output():
    out = eligible([household("h", email="a@example.com", owner_name="Ann")])
    assert out.is_empty()
    assert not {"email", "owner_name"} & set(out.columns)


# Each event trigger is due at `trigger_at` and eligible while AT - 3 days <= trigger_at < AT.
EVENT_CASES = {
    "days_since_signup": lambda due: dict(households=[household("h", due - 30 * DAY)]),
    "support_ticket_resolved": lambda due: dict(households=[household("h")],
                                                tickets=[ticket("h", due)]),
    "feature_first_used": lambda due: dict(households=[household("h")],
                                           events=[use("h", due - 7 * DAY)]),
    "downgrade_or_churn": lambda due: dict(households=[household("h")],
                                           changes=[downgrade("h", due)]),
}


@pytest.mark.parametrize("trigger", EVENT_CASES)
@pytest.mark.parametrize(("due", "fires"), [
    (ago(us=1), True),  # fell due just before the as-of instant
    (AT, False),  # falls due at the instant: tomorrow's list (delay 0: not yet visible)
    (ago(3), True),  # first instant of the 3-day grace window
    (ago(3, us=1), False),  # grace over
])
def test_event_trigger_day_boundaries(trigger, due, fires):
    out = eligible(**EVENT_CASES[trigger](due))
    assert triggers(out) == ([trigger] if fires else [])
    if fires:
        assert out.row(0, named=True)["trigger_at"] == due


@pytest.mark.parametrize(("churned_at", "expected"), [
    (ago(us=1), [("downgrade_or_churn", "churn")]),
    (AT, [("support_ticket_resolved", "t_1")]),  # churns at the instant: still a customer
    (ago(3, us=1), []),  # Exit expired; a churned household gets nothing else
])
def test_churn_triggers_exit_and_stops_every_other_survey(churned_at, expected):
    out = eligible([household("h", churned_at=churned_at)], tickets=[ticket("h", ago(1))])
    assert out.select("trigger", "subject").rows() == expected


def test_feature_survey_only_for_early_adopters_of_each_feature():
    """Launch = the configured date, else the feature's first use by anyone; an early adopter
    first used it less than `early_adopter_days` after launch. Later uses do not count."""
    config = SurveyConfig.model_validate({"feature_first_used": {
        "delay_days": 7, "early_adopter_days": 5, "launches": {"meds": date(2026, 5, 31)},
    }})
    events = [
        use("pioneer", ago(13)),  # launches walk_tracker; its own survey has expired
        use("early", ago(8, us=1)), use("early", ago(1), n=1),  # launch + 4.99 days
        use("late", ago(8)),  # launch + 5 days
        use("beta", ago(8), "meds"),  # used before the configured launch
    ]
    out = eligible([household(h) for h in ("pioneer", "early", "late", "beta")],
                   events=events, config=config)
    assert out.select("household_id", "subject", "trigger_at").rows() == [
        ("beta", "meds", ago(1)),
        ("early", "walk_tracker", ago(1, us=1)),
    ]


@pytest.mark.parametrize(("last_nps", "fires"), [(ago(90, us=1), True), (ago(90), False)])
@pytest.mark.parametrize("contact", ["sent", "answered"])
def test_quarterly_nps_90_days_after_the_last_nps_sent_or_answered(last_nps, fires, contact):
    kwargs = (dict(sent=[("h", "NPS", last_nps)]) if contact == "sent"
              else dict(responses=[nps("h", last_nps)]))
    out = eligible([household("h", ago(300))], events=[login("h", ago(1))], **kwargs)
    assert triggers(out) == (["quarterly_cadence"] if fires else [])


def test_quarterly_nps_counts_from_signup_without_nps_and_stays_due_until_sent():
    out = eligible([household("h", ago(200))], events=[login("h", ago(1))],
                   responses=[nps("other", ago(1))])
    assert out.select("trigger", "trigger_at").rows() == [("quarterly_cadence", ago(110))]


@pytest.mark.parametrize(("created_at", "fires"), [(ago(365, us=1), True), (ago(365), False)])
def test_annual_product_survey_365_days_after_signup(created_at, fires):
    out = eligible([household("h", created_at)], events=[login("h", ago(1))],
                   responses=[nps("h", ago(10))])  # no quarterly NPS due
    assert triggers(out) == (["annual_cadence"] if fires else [])


@pytest.mark.parametrize(("last_event", "fires"), [(ago(30), True), (ago(30, us=1), False)])
def test_cadences_need_an_active_customer(last_event, fires):
    """Active: an activity event in the 30 days before the as-of instant."""
    out = eligible([household("h", ago(400))], events=[login("h", last_event)])
    assert triggers(out) == (["annual_cadence"] if fires else [])


@pytest.mark.parametrize(("sent_at", "fatigue_days", "blocked"), [
    (datetime(2026, 5, 18, 23, 59, tzinfo=UTC), 14, False),  # sent on D-14: 14 days ago
    (datetime(2026, 5, 19, tzinfo=UTC), 14, True),  # sent on D-13
    (ago(us=1), 14, True),  # sent yesterday
    (AT, 14, False),  # sent at / after the as-of instant: not visible to this day
    (datetime(2026, 5, 25, tzinfo=UTC), 7, False),  # configurable: D-7 with 7
    (datetime(2026, 5, 26, tzinfo=UTC), 7, True),  # D-6 with 7
])
def test_survey_fatigue_boundary(sent_at, fatigue_days, blocked):
    out = eligible([household("h")], tickets=[ticket("h", ago(1))],
                   sent=[("h", "Product", sent_at)],
                   config=SurveyConfig(fatigue_days=fatigue_days))
    assert triggers(out) == ([] if blocked else ["support_ticket_resolved"])


@pytest.mark.parametrize(("sent_at", "fires"), [(ago(2), False), (ago(2, us=1), True)])
def test_a_survey_of_the_type_sent_at_or_after_the_trigger_serves_it(sent_at, fires):
    """Without fatigue (1 day), the grace window must not send the same CSAT twice."""
    out = eligible([household("h")], tickets=[ticket("h", ago(2))],
                   sent=[("h", "CSAT", sent_at)], config=SurveyConfig(fatigue_days=1))
    assert triggers(out) == (["support_ticket_resolved"] if fires else [])


def _everything_fires() -> dict:
    """One household on which four triggers fire at once, two of them twice."""
    return dict(
        households=[household("h", ago(30, us=5))],
        tickets=[ticket("h", ago(2), "t_old"), ticket("h", ago(1), "t_new")],
        changes=[downgrade("h", ago(1))],
        events=[use("h", ago(8), "walk_tracker"), use("h", ago(8), "meds")],
    )


def test_one_survey_per_household_by_priority():
    out = eligible(**_everything_fires())
    assert out.select("trigger", "priority").rows() == [("downgrade_or_churn", 1)]
    order = ["feature_first_used", "support_ticket_resolved", "days_since_signup",
             "downgrade_or_churn", "annual_cadence", "quarterly_cadence"]
    out = eligible(**_everything_fires(),
                   config=SurveyConfig.model_validate({**UNSPREAD, "priority": order}))
    # Same trigger twice: the latest trigger_at, then the subject alphabetically.
    assert out.select("trigger", "subject", "priority").rows() == [
        ("feature_first_used", "meds", 1)
    ]
    order = order[1:] + order[:1]
    out = eligible(**_everything_fires(),
                   config=SurveyConfig.model_validate({**UNSPREAD, "priority": order}))
    assert out.select("trigger", "subject").rows() == [("support_ticket_resolved", "t_new")]


def test_survey_eligibility_population():
    """Exact membership and order (household_id) of a small population."""
    config = SurveyConfig.model_validate(
        {"feature_first_used": {"delay_days": 7, "launches": {"vet_records": date(2026, 5, 1)}},
         **UNSPREAD}
    )
    households = [
        household("h01"),
        household("h02"),
        household("h03", ago(30, us=1), email_opt_out=True),
        household("h04"),
        household("h05"),
        household("h06", ago(400)),
        household("h07", ago(200)),
        household("h08"),
        household("h09", ago(300), churned_at=ago(2)),
        household("h10", ago(30)),  # onboarding NPS due at the as-of instant: tomorrow
        household("h11", ago(1000)),  # inactive for years
    ]
    out = eligible(
        households,
        tickets=[ticket("h01", ago(1), "t_a"), ticket("h02", ago(3), "t_b"),
                 ticket("h02", ago(2), "t_c"), ticket("h08", ago(1), "t_d")],
        changes=[downgrade("h01", ago(2))],
        events=[use("h04", ago(8), "vet_records"), use("h05", ago(8), "walk_tracker"),
                use("h00", ago(60), "walk_tracker"),  # walk_tracker launched 60 days ago
                login("h06", ago(3)), login("h07", ago(3)), login("h11", ago(900))],
        responses=[nps("h06", ago(20)), nps("h07", ago(95))],
        sent=[("h08", "Product", ago(5))],
        config=config,
    )
    assert out.drop("as_of").rows() == [
        ("h01", "Exit", "downgrade_or_churn", "downgrade", ago(2), 1, "email"),
        ("h02", "CSAT", "support_ticket_resolved", "t_c", ago(2), 2, "email"),
        ("h03", "NPS", "days_since_signup", None, ago(us=1), 3, "in_app"),
        ("h04", "Feature", "feature_first_used", "vet_records", ago(1), 4, "email"),
        ("h06", "Product", "annual_cadence", None, ago(35), 5, "email"),
        ("h07", "NPS", "quarterly_cadence", None, ago(5), 6, "email"),
        ("h09", "Exit", "downgrade_or_churn", "churn", ago(2), 1, "email"),
    ]
    assert out.get_column("as_of").unique().to_list() == [AS_OF]


def test_surveys_route_around_every_opt_out_the_platform_recorded():
    """An unsubscribe link moves the survey in-app; refusing every channel removes it; an
    opt-out recorded after the as-of instant is not known yet."""
    due = [household(h, ago(30, us=1)) for h in ("flag", "link", "all", "later", "none")]
    due[0]["email_opt_out"] = True
    out = eligible(due, opt_outs=[("link", "email", ago(3)), ("all", "all", ago(3)),
                                  ("later", "email", ago(-1))])
    assert dict(out.select("household_id", "channel").rows()) == {
        "flag": "in_app", "link": "in_app", "later": "email", "none": "email"}


def test_cadences_spread_a_long_overdue_base_over_the_period():
    """Switched on for a base that is long overdue, the quarterly NPS asks about a fatigue
    window's share of it on day one (not everyone), then about 1/90 a day; in 90 days every
    household is asked exactly once."""
    base = [household(f"h{i:03d}", ago(400)) for i in range(270)]
    # no annual survey in the way: not due for years
    config = SurveyConfig.model_validate({"annual_cadence": {"every_days": 3650}})
    sent, per_day = [], []
    for day in range(90):
        as_of = AS_OF + timedelta(days=day)
        out = survey_eligibility(
            as_of, households=f.frame("households", base),
            support_tickets=f.frame("support_tickets", []),
            nps_responses=f.frame("nps_responses", []),
            subscription_changes=f.frame("subscription_changes", []),
            activity_events=f.frame("activity_events", [
                login(h["household_id"], AT + timedelta(days=day - 1)) for h in base]
            ).with_columns(event_kind=event_kind_expr(load_event_mapping())),
            surveys_sent=pl.DataFrame(sent, schema=SENT_SCHEMA, orient="row"),
            config=config)
        nps_due = out.filter(pl.col("survey_type") == "NPS")["household_id"].to_list()
        per_day.append(len(nps_due))
        sent += [(h, "NPS", AT + timedelta(days=day, hours=10)) for h in nps_due]
    assert 0.08 * 270 < per_day[0] < 0.25 * 270  # the slots of the last 14 days, not all
    assert max(per_day[1:]) <= 12  # about 3 a day afterwards
    assert sorted(Counter(h for h, _, _ in sent).values()) == [1] * 270


# ---------------------------------------------------------------- NPS themes


def themes(responses: list[dict], config: ThemeConfig | None = None) -> pl.DataFrame:
    out = nps_themes(f.frame("nps_responses", responses), AS_OF, config)
    assert out.columns == THEME_COLUMNS
    return out


def mentioned(comment: str) -> dict[str, int]:
    out = themes([nps("h", ago(1), 9, comment)])
    return {t: n for t, n in out.select("theme", "responses").rows() if n}


@pytest.mark.parametrize(("comment", "expected"), [
    ("EASY!!!", {"ease_of_use": 1}),
    ("So User-Friendly.", {"ease_of_use": 1}),
    ("user friendly", {"ease_of_use": 1}),
    ("Customer-Service was great", {"support": 1}),
    ("easy, easy, simple... so EASY", {"ease_of_use": 1}),  # once per theme
    ("uneasy; supportive; priceless", {}),  # whole words only, unlike the spec's includes()
    ("Features & bugs (crashes!)", {"features": 1, "reliability": 1}),
    ("Worth the price, but slow", {"price": 1, "reliability": 1}),
    ("", {}),
    ("?!", {}),
])
def test_theme_keywords_match_whole_words_ignoring_case_and_punctuation(comment, expected):
    assert mentioned(comment) == expected


def test_theme_polarity_from_the_score():
    """The spec: >= 7 positive, < 7 negative; a missing score is neither."""
    responses = [nps(f"h{s}", ago(1), s, "easy") for s in (6, 7, 8, 9, None)]
    row = themes(responses).row(0, named=True)
    assert row == dict(theme="ease_of_use", responses=5, positive_mentions=3,
                       negative_mentions=1, net_sentiment=0.5)
    passives_neutral = ThemeConfig(positive_score_at_least=9)
    row = themes(responses, passives_neutral).row(0, named=True)
    assert (row["responses"], row["positive_mentions"], row["negative_mentions"]) == (5, 1, 1)


@pytest.mark.parametrize(("responded_at", "counted"), [
    (ago(30), True), (ago(30, us=1), False), (ago(us=1), True), (AT, False),
])
def test_theme_window_is_the_30_days_before_the_as_of_instant(responded_at, counted):
    out = themes([nps("h", responded_at, 3, "slow")])
    assert out.filter(theme="reliability").get_column("responses").item() == int(counted)


def test_nps_themes_population():
    """Every configured theme, sorted by mentions then config order; net = (p - n) / (p + n)."""
    responses = [
        nps("a", ago(1), 10, "Easy to use and good value"),
        nps("b", ago(2), 2, "Too expensive, and the app is slow"),
        nps("c", ago(3), 4, "Crashes all the time. Expensive!"),
        nps("d", ago(4), 8, "Support helped me quickly"),
        nps("e", ago(5), 9, None),
        nps("f", ago(40), 0, "expensive"),  # outside the window
    ]
    assert themes(responses).rows() == [
        ("price", 3, 1, 2, -1 / 3),
        ("reliability", 2, 0, 2, -1.0),
        ("ease_of_use", 1, 1, 0, 1.0),
        ("support", 1, 1, 0, 1.0),
        ("features", 0, 0, 0, 0.0),
    ]


def test_no_responses_gives_every_theme_at_zero():
    out = themes([])
    assert out.get_column("theme").to_list() == list(ThemeConfig().keywords)
    assert out.select(pl.exclude("theme")).sum().row(0) == (0, 0, 0, 0.0)


# ---------------------------------------------------------------- escalations


def escalations(responses: list[dict], at_least: int = 2) -> pl.DataFrame:
    config = ThemeConfig.model_validate({"escalation": {"negative_mentions_at_least": at_least}})
    out = feedback_escalations(f.frame("nps_responses", responses), AS_OF, config)
    assert out.columns == ESCALATION_COLUMNS
    return out


@pytest.mark.parametrize(("negatives", "escalated"), [(2, True), (1, False)])
def test_escalation_threshold_is_reached_at_equality(negatives, escalated):
    responses = [nps(f"h{i}", ago(1), 3, "so slow") for i in range(negatives)]
    responses.append(nps("happy", ago(1), 10, "slow at first, now reliable"))
    out = escalations(responses, at_least=2)
    assert out.get_column("theme").to_list() == (["reliability"] if escalated else [])


def test_feedback_escalations_population():
    """Most negative theme first; up to 3 negative examples each, most recent first, e-mail
    addresses redacted; positive comments are never examples."""
    responses = [
        nps("a", ago(5), 1, "Bugs everywhere"),
        nps("b", ago(1), 2, "Crash on login, mail me at jo.doe+x@mail.example"),
        nps("c", ago(3), 0, "slow slow slow"),
        nps("d", ago(2), 3, "Error after error"),
        nps("e", ago(1), 10, "Reliable and easy"),
        nps("f", ago(1), 4, "Too expensive"),
        nps("g", ago(2), 5, "Not worth the price"),
        nps("h", ago(3), 9, "Good value"),
        nps("i", ago(1), 5, "Hard, not easy"),  # one negative: below the threshold
    ]
    out = escalations(responses, at_least=2)
    assert out.rows() == [
        ("reliability", 4, 2, ["Crash on login, mail me at [email]", "Error after error",
                               "slow slow slow"]),
        ("price", 2, 2, ["Too expensive", "Not worth the price"]),
    ]


def test_no_escalation_without_responses():
    assert escalations([]).is_empty()


# ---------------------------------------------------------------- configuration


def _with(path: str, value: object) -> dict:
    """The default config as a mapping with one dotted key replaced (or added)."""
    data = copy.deepcopy(VocConfig().model_dump(mode="json"))
    *parents, leaf = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    node[leaf] = value
    return data


def test_shipped_yaml_spells_out_every_default():
    raw = yaml.safe_load(DEFAULT_VOC_PATH.read_text(encoding="utf-8"))
    assert raw == VocConfig().model_dump(mode="json")
    assert load_voc_config() == VocConfig()
    assert VocConfig().surveys.fatigue_days == 14
    assert VocConfig().themes.window_days == 30


@pytest.mark.parametrize(("path", "value", "message"), [
    ("surveys.fatige_days", 3, "surveys.fatige_days: Extra inputs are not permitted"),
    ("surveys.fatigue_days", 0, "surveys.fatigue_days: Input should be greater than or equal"),
    ("surveys.priority", ["downgrade_or_churn"], "surveys.priority: must list each of"),
    ("surveys.feature_first_used.grace_days", 0, "surveys.feature_first_used.grace_days:"),
    ("themes.negative_score_below", 9,
     "themes.negative_score_below: must be <= themes.positive_score_at_least"),
    ("themes.keywords", {"price": ["!!"]}, "themes.keywords.price: needs keywords"),
    ("themes.keywords", {"price": []}, "themes.keywords.price: needs keywords"),
    ("themes.escalation.negative_mentions_at_least", 0,
     "themes.escalation.negative_mentions_at_least:"),
])
def test_bad_values_name_their_key(path, value, message):
    with pytest.raises(VocConfigError, match=re.escape(message)):
        parse_voc_config(_with(path, value))


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(VocConfigError, match="cannot read voc config"):
        load_voc_config(tmp_path / "missing.yaml")
    bad = tmp_path / "voc.yaml"
    bad.write_text("surveys:\n  fatigue_days: -1\n", encoding="utf-8")
    with pytest.raises(VocConfigError, match=r"voc\.yaml: surveys\.fatigue_days"):
        load_voc_config(bad)


def test_launch_dates_load_from_yaml(tmp_path):
    path = tmp_path / "voc.yaml"
    path.write_text("surveys:\n  feature_first_used:\n    delay_days: 7\n"
                    "    launches:\n      vet_records: 2026-05-01\n", encoding="utf-8")
    rule = load_voc_config(path).surveys.feature_first_used
    assert rule.launches == {"vet_records": date(2026, 5, 1)}
