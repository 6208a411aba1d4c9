"""Micro-segments, journey stages and the transition history: every cut-off on both sides on
one-row households, exact membership and order on small populations, the config's key errors."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
import yaml

from cs_assets.segments import (
    DEFAULT_SEGMENTS_PATH,
    SegmentConfig,
    SegmentConfigError,
    load_segment_config,
    parse_segment_config,
)
from cs_assets.segments.journey import (
    TRANSITION_SCHEMA,
    append_transitions,
    journey_inputs,
    journey_stage,
)
from cs_assets.segments.micro import latest_nps, micro_segments, nps_advocates, segment_summary
from cs_assets_tests.factories import frame

DAY = date(2026, 6, 1)
AT = datetime(2026, 6, 1, tzinfo=UTC)
CONFIG = SegmentConfig()

# --- micro-segments ---------------------------------------------------------------------------

MICRO_SCHEMA = {
    "household_id": pl.String, "as_of": pl.Date, "dau_wau_ratio": pl.Float64,
    "active_members_30d": pl.Int64, "total_members": pl.Int64,
    "active_members_ratio": pl.Float64, "calendar_sync_setup": pl.Boolean,
    "analytics_views": pl.Int64, "templates_created": pl.Int64,
    "priority_support_used": pl.Int64, "features_used_90d": pl.Int64,
    "days_since_signup": pl.Int64, "nps_score": pl.Int64, "tickets_90d": pl.Int64,
}


def _household(household_id: str = "hh", **overrides) -> dict:
    """A Regular, Full Household, Basic, Growth, Satisfied, Low Touch household."""
    row = dict(household_id=household_id, as_of=DAY, dau_wau_ratio=0.5, active_members_30d=2,
               total_members=2, calendar_sync_setup=False, analytics_views=0,
               templates_created=0, priority_support_used=0, features_used_90d=0,
               days_since_signup=200, nps_score=7, tickets_90d=0)
    row.update(overrides)
    # as the features compute it: active over members (at least 1), capped at 1
    row["active_members_ratio"] = None if row["total_members"] is None else min(
        row["active_members_30d"] / max(row["total_members"], 1), 1)
    return row


def _micro_frame(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=MICRO_SCHEMA, orient="row")


def _label(dimension: str, **overrides) -> str:
    return micro_segments(_micro_frame(_household(**overrides)), CONFIG)[dimension].item()


@pytest.mark.parametrize(("ratio", "label"), [
    (1.0, "Power User"), (0.8, "Power User"), (0.7999, "Regular User"), (0.5, "Regular User"),
    (0.4999, "Casual User"), (0.2, "Casual User"), (0.1999, "Dormant User"),
    (0.0, "Dormant User"), (None, "Dormant User"),
])
def test_usage_intensity_cut_offs(ratio, label):
    assert _label("usage_intensity", dau_wau_ratio=ratio) == label


@pytest.mark.parametrize(("active", "total", "label"), [
    (4, 5, "Full Household"),       # 0.8
    (3, 4, "Partial Household"),    # 0.75
    (1, 2, "Partial Household"),    # 0.5: the spec's ratio comes before "active = 1"
    (1, 3, "Solo User"),            # 0.33
    (2, 5, "Inactive Household"),   # 0.4 with two active: the spec's ELSE
    (0, 3, "Inactive Household"),
    (1, 1, "Solo User"),            # decision: one member, active, is solo, not "Full"
    (0, 1, "Inactive Household"),
    (0, 0, "Inactive Household"),
    (2, 1, "Full Household"),       # a removed member was active: ratio capped at 1
])
def test_collaboration_level_cut_offs(active, total, label):
    assert _label("collaboration_level", active_members_30d=active, total_members=total) == label


def test_collaboration_is_not_available_without_a_members_table():
    """total_members is null only when the product has no members table: its accounts are
    not solo households to invite members into."""
    row = micro_segments(_micro_frame(_household(active_members_30d=1, total_members=None)),
                         CONFIG).row(0, named=True)
    assert row["collaboration_level"] == "Not available"
    assert row["recommended_action"] != "Encourage inviting household members"


@pytest.mark.parametrize(("overrides", "label"), [
    (dict(calendar_sync_setup=True, analytics_views=1, templates_created=1), "Advanced"),
    (dict(analytics_views=1, templates_created=1, priority_support_used=1), "Advanced"),
    (dict(calendar_sync_setup=True, analytics_views=1, features_used_90d=1), "Basic"),
    (dict(calendar_sync_setup=True, analytics_views=1, features_used_90d=2), "Intermediate"),
    (dict(features_used_90d=2), "Intermediate"),
    (dict(features_used_90d=1), "Basic"),
    (dict(calendar_sync_setup=None, analytics_views=None, features_used_90d=None), "Basic"),
])
def test_feature_sophistication_cut_offs(overrides, label):
    assert _label("feature_sophistication", **overrides) == label


@pytest.mark.parametrize(("days", "label"), [
    (0, "Onboarding"), (30, "Onboarding"), (31, "Adoption"), (90, "Adoption"), (91, "Growth"),
    (365, "Growth"), (366, "Mature"),
])
def test_lifecycle_stage_cut_offs(days, label):
    assert _label("lifecycle_stage", days_since_signup=days) == label


@pytest.mark.parametrize(("nps", "label"), [
    (10, "Advocate"), (9, "Advocate"), (8, "Satisfied"), (7, "Satisfied"), (6, "Neutral"),
    (5, "Neutral"), (4, "Detractor"), (0, "Detractor"),
    (None, "No Response"),  # decision: a missing NPS is not a Detractor
])
def test_value_perception_cut_offs(nps, label):
    assert _label("value_perception", nps_score=nps) == label


@pytest.mark.parametrize(("days", "tickets", "label"), [
    (200, 2, "Low Touch"),      # 0.67 a month
    (200, 3, "Medium Touch"),   # 1.0
    (200, 9, "Medium Touch"),   # 3.0: BETWEEN is inclusive
    (200, 10, "High Touch"),    # 3.33
    (90, 10, "High Touch"),
    (60, 2, "Medium Touch"),    # 2 tickets over 2 months of tenure
    (60, 7, "High Touch"),      # 3.5 a month, though 7 / 3 months would be Medium
    (20, 4, "High Touch"),      # a new household: its first month counts as one month
    (20, 3, "Medium Touch"),
    (0, 1, "Medium Touch"),
    (0, 0, "Low Touch"),
])
def test_support_dependency_per_month_of_tenure(days, tickets, label):
    assert _label("support_dependency", days_since_signup=days, tickets_90d=tickets) == label


@pytest.mark.parametrize(("overrides", "action"), [
    (dict(dau_wau_ratio=0.8, nps_score=9), "Solicit testimonials, case studies, referrals"),
    # advocacy outranks every later rule, even a solo basic household
    (dict(dau_wau_ratio=0.8, nps_score=9, active_members_30d=1, total_members=1),
     "Solicit testimonials, case studies, referrals"),
    (dict(dau_wau_ratio=0.79, nps_score=9), "Monitor and nurture"),
    (dict(dau_wau_ratio=0.1, nps_score=9), "Automated re-engagement email series"),
    (dict(dau_wau_ratio=0.1, nps_score=2), "Automated re-engagement email series"),
    (dict(active_members_30d=1, total_members=1), "Encourage inviting household members"),
    (dict(active_members_30d=1, total_members=1, features_used_90d=2), "Monitor and nurture"),
    (dict(active_members_30d=1, total_members=1, days_since_signup=10, tickets_90d=5),
     "Encourage inviting household members"),
    (dict(days_since_signup=10, tickets_90d=4), "Proactive onboarding assistance"),
    (dict(days_since_signup=10, tickets_90d=3), "Monitor and nurture"),
    (dict(days_since_signup=31, tickets_90d=9), "Monitor and nurture"),
    (dict(days_since_signup=10, tickets_90d=4, nps_score=0), "Proactive onboarding assistance"),
    (dict(nps_score=4), "Executive escalation or graceful churn"),
    (dict(nps_score=5), "Monitor and nurture"),
    (dict(nps_score=None), "Monitor and nurture"),
])
def test_recommended_action_first_match_wins(overrides, action):
    assert _label("recommended_action", **overrides) == action


def test_segment_joins_the_six_labels_in_the_specs_order():
    assert _label("segment") == (
        "Regular User / Full Household / Basic / Growth / Satisfied / Low Touch"
    )


def _population() -> pl.DataFrame:
    return _micro_frame(
        _household("hh_d"),
        _household("hh_a", dau_wau_ratio=0.1),
        _household("hh_c"),
        _household("hh_b", dau_wau_ratio=0.1),
        _household("hh_e"),
        _household("hh_f", nps_score=9, dau_wau_ratio=0.9),
    )


REGULAR = "Regular User / Full Household / Basic / Growth / Satisfied / Low Touch"
DORMANT = "Dormant User / Full Household / Basic / Growth / Satisfied / Low Touch"
POWER = "Power User / Full Household / Basic / Growth / Advocate / Low Touch"


def test_micro_segments_population_membership_and_order():
    segments = micro_segments(
        _population().with_columns(
            churn_probability=pl.Series([0.1, 0.5, 0.3, None, 0.2, 0.05])
        ),
        CONFIG,
    )
    assert segments.select("household_id", "segment", "recommended_action").rows() == [
        ("hh_a", DORMANT, "Automated re-engagement email series"),
        ("hh_b", DORMANT, "Automated re-engagement email series"),
        ("hh_c", REGULAR, "Monitor and nurture"),
        ("hh_d", REGULAR, "Monitor and nurture"),
        ("hh_e", REGULAR, "Monitor and nurture"),
        ("hh_f", POWER, "Solicit testimonials, case studies, referrals"),
    ]
    summary = segment_summary(segments)
    assert summary.select("segment", "households", "share", "mean_churn_probability").rows() == [
        (REGULAR, 3, 0.5, pytest.approx(0.2)),
        (DORMANT, 2, pytest.approx(1 / 3), 0.5),  # hh_b has no prediction: mean over hh_a
        (POWER, 1, pytest.approx(1 / 6), 0.05),
    ]
    assert summary.columns == [
        "as_of", "segment", "usage_intensity", "collaboration_level", "feature_sophistication",
        "lifecycle_stage", "value_perception", "support_dependency", "recommended_action",
        "households", "share", "mean_churn_probability",
    ]


def test_summary_without_predictions_has_null_mean_and_ties_by_name():
    segments = micro_segments(_population().filter(pl.col("household_id") != "hh_e"), CONFIG)
    assert segments["churn_probability"].null_count() == 5
    summary = segment_summary(segments)
    assert summary.select("segment", "households", "mean_churn_probability").rows() == [
        (DORMANT, 2, None), (REGULAR, 2, None), (POWER, 1, None),
    ]
    assert summary["mean_churn_probability"].dtype == pl.Float64


def test_latest_nps_is_the_last_answer_before_the_as_of_instant():
    nps = frame("nps_responses", [
        dict(response_id="r1", household_id="hh_1", responded_at=AT - timedelta(days=40),
             score=3),
        dict(response_id="r2", household_id="hh_1", responded_at=AT - timedelta(seconds=1),
             score=9),
        dict(response_id="r3", household_id="hh_1", responded_at=AT, score=0),  # not before
        dict(response_id="r4", household_id="hh_2", responded_at=AT, score=10),
    ])
    assert latest_nps(nps, DAY).rows() == [("hh_1", 9)]


def test_nps_advocates_are_the_advocate_value_perception_of_the_latest_answer():
    """Who gets a referral code for the Advocate segment: the same cut-off (9) and the same
    latest answer as the micro-segments, for any household."""
    def answer(rid: str, hh: str, days_ago: float, score: int) -> dict:
        return dict(response_id=rid, household_id=hh, score=score,
                    responded_at=AT - timedelta(days=days_ago))

    nps = frame("nps_responses", [
        answer("r1", "nine", 10, 9), answer("r2", "eight", 10, 8),
        answer("r3", "was_ten", 20, 10), answer("r4", "was_ten", 5, 6),  # latest counts
        answer("r5", "now_ten", 20, 3), answer("r6", "now_ten", 5, 10),
        answer("r7", "too_late", 0, 10),  # at the instant: not before it
    ])
    assert sorted(nps_advocates(nps, DAY, CONFIG)["household_id"]) == ["nine", "now_ten"]
    data = CONFIG.model_dump()
    data["micro"]["value_perception"]["advocate_at_least"] = 10
    stricter = SegmentConfig.model_validate(data)
    assert nps_advocates(nps, DAY, stricter)["household_id"].to_list() == ["now_ten"]


# --- journey stages ---------------------------------------------------------------------------

JOURNEY_SCHEMA = {
    "household_id": pl.String, "as_of": pl.Date, "days_since_signup": pl.Int64,
    "dau_wau_ratio": pl.Float64, "logins_30d": pl.Int64, "pets_added_90d": pl.Int64,
    "churned": pl.Boolean, "nps_score": pl.Int64, "members_added_90d": pl.Int64,
    "referrals_90d": pl.Int64, "reviews_written": pl.Int64,
}


def _journey_row(household_id: str = "hh", as_of: date = DAY, **overrides) -> dict:
    """A 200-day-old household with low engagement: the default (adoption, low_engagement)."""
    row = dict(household_id=household_id, as_of=as_of, days_since_signup=200, dau_wau_ratio=0.3,
               logins_30d=0, pets_added_90d=0, churned=False, nps_score=None,
               members_added_90d=0, referrals_90d=0, reviews_written=0)
    row.update(overrides)
    return row


def _stages(*rows: dict) -> pl.DataFrame:
    return journey_stage(pl.DataFrame(list(rows), schema=JOURNEY_SCHEMA, orient="row"), CONFIG)


def _stage(**overrides) -> tuple[str, str]:
    return _stages(_journey_row(**overrides)).select("stage", "trigger").row(0)


@pytest.mark.parametrize(("overrides", "expected"), [
    (dict(), ("adoption", "low_engagement")),
    (dict(churned=True, days_since_signup=None), ("churned", "churned")),
    (dict(churned=True, days_since_signup=5, referrals_90d=3), ("churned", "churned")),
    (dict(days_since_signup=30, referrals_90d=3), ("onboarding", "new_signup")),
    (dict(days_since_signup=0), ("onboarding", "new_signup")),
    (dict(days_since_signup=31), ("adoption", "low_engagement")),
    (dict(referrals_90d=2), ("advocacy", "referrals")),
    (dict(referrals_90d=1), ("adoption", "low_engagement")),
    (dict(reviews_written=1), ("advocacy", "review_written")),
    (dict(days_since_signup=31, reviews_written=1), ("advocacy", "review_written")),
    (dict(nps_score=9, days_since_signup=181), ("advocacy", "promoter_nps")),
    (dict(nps_score=9, days_since_signup=180), ("adoption", "low_engagement")),
    (dict(nps_score=8, days_since_signup=400), ("adoption", "low_engagement")),
    (dict(days_since_signup=366, dau_wau_ratio=0.4), ("retention", "consistent_usage")),
    (dict(days_since_signup=366, dau_wau_ratio=0.39), ("adoption", "low_engagement")),
    (dict(days_since_signup=365, dau_wau_ratio=0.9), ("adoption", "low_engagement")),
    (dict(days_since_signup=400, nps_score=10, dau_wau_ratio=0.9), ("advocacy", "promoter_nps")),
    (dict(days_since_signup=366, dau_wau_ratio=0.4, pets_added_90d=1),
     ("retention", "consistent_usage")),
    (dict(days_since_signup=366, dau_wau_ratio=0.1, pets_added_90d=1),
     ("growth", "expansion_activity")),
    (dict(days_since_signup=91, pets_added_90d=1), ("growth", "expansion_activity")),
    (dict(days_since_signup=91, members_added_90d=1), ("growth", "expansion_activity")),
    (dict(days_since_signup=90, pets_added_90d=1), ("adoption", "low_engagement")),
    (dict(days_since_signup=90, logins_30d=13), ("adoption", "regular_usage")),  # 3.03 a week
    (dict(days_since_signup=90, logins_30d=12), ("adoption", "low_engagement")),  # 2.8 a week
    (dict(days_since_signup=91, logins_30d=30), ("adoption", "low_engagement")),
])
def test_journey_stage_rules_and_their_order(overrides, expected):
    assert _stage(**overrides) == expected


def test_journey_inputs_take_raw_facts_as_of_the_day_and_add_churned_households():
    features = pl.DataFrame(
        [_journey_row("hh_1", days_since_signup=400, dau_wau_ratio=0.5, logins_30d=9),
         _journey_row("hh_2", days_since_signup=100)], schema=JOURNEY_SCHEMA, orient="row",
    ).select("household_id", "as_of", "days_since_signup", "dau_wau_ratio", "logins_30d",
             "pets_added_90d")
    old = AT - timedelta(days=400)
    households = frame("households", [
        dict(household_id="hh_1", created_at=old, region="US", email_opt_out=False),
        dict(household_id="hh_2", created_at=AT - timedelta(days=100), region="US",
             email_opt_out=False),
        dict(household_id="hh_gone", created_at=old, region="US", email_opt_out=False,
             churned_at=AT - timedelta(seconds=1)),
        dict(household_id="hh_leaving", created_at=old, region="US", email_opt_out=False,
             churned_at=AT),  # still active at the instant: in the features, not churned
        # referees of hh_1: one at the window's start counts, one too old, one after the instant
        dict(household_id="ref_1", created_at=AT - timedelta(days=90), region="US",
             email_opt_out=False, referral_code_used="CODE1"),
        dict(household_id="ref_2", created_at=AT - timedelta(days=90, seconds=1), region="US",
             email_opt_out=False, referral_code_used="CODE1"),
        dict(household_id="ref_3", created_at=AT, region="US", email_opt_out=False,
             referral_code_used="CODE1"),
        dict(household_id="ref_4", created_at=AT - timedelta(days=1), region="US",
             email_opt_out=False, referral_code_used="NOT_ISSUED"),
    ])
    codes = frame("referral_codes", [dict(code="CODE1", household_id="hh_1", issued_at=old)])
    members = frame("members", [
        dict(user_id="u1", household_id="hh_2", role="member", joined_at=AT - timedelta(days=90)),
        dict(user_id="u2", household_id="hh_2", role="member",
             joined_at=AT - timedelta(days=91)),
        dict(user_id="u3", household_id="hh_1", role="member", joined_at=AT),
    ])
    reviews = frame("reviews", [
        dict(review_id="v1", household_id="hh_1", platform="g2", rating=4,
             submitted_at=AT - timedelta(days=300)),
        dict(review_id="v2", household_id="hh_2", platform="g2", rating=2,
             submitted_at=AT - timedelta(days=3)),  # a bad review is no advocacy
        dict(review_id="v3", household_id="hh_2", platform="g2", rating=5, submitted_at=AT),
    ])
    nps = frame("nps_responses", [
        dict(response_id="r1", household_id="hh_2", responded_at=AT - timedelta(days=2), score=10),
    ])
    inputs = journey_inputs(features, DAY, CONFIG, households=households, members=members,
                            nps_responses=nps, reviews=reviews, referral_codes=codes)
    assert inputs.select("household_id", "churned", "referrals_90d", "reviews_written",
                         "members_added_90d", "nps_score").rows() == [
        ("hh_1", False, 1, 1, 0, None),
        ("hh_2", False, 0, 0, 1, 10),
        ("hh_gone", True, 0, 0, 0, None),
    ]
    assert journey_stage(inputs, CONFIG).select("household_id", "stage", "trigger").rows() == [
        ("hh_1", "advocacy", "review_written"),
        ("hh_2", "growth", "expansion_activity"),  # NPS 10 but only 100 days old
        ("hh_gone", "churned", "churned"),
    ]


# --- transitions ------------------------------------------------------------------------------

EMPTY = pl.DataFrame(schema=TRANSITION_SCHEMA)
D1, D2, D3 = DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)


def _day(as_of: date, **stages: str) -> pl.DataFrame:
    """Stages of one day, each `household=stage` with the trigger `why_<stage>`."""
    return pl.DataFrame(
        [(hh, as_of, stage, f"why_{stage}") for hh, stage in stages.items()],
        schema={"household_id": pl.String, "as_of": pl.Date, "stage": pl.String,
                "trigger": pl.String}, orient="row",
    )


def _run(days: list[pl.DataFrame], history: pl.DataFrame = EMPTY) -> pl.DataFrame:
    previous = None
    for today in days:
        history = append_transitions(history, previous, today)
        previous = today
    return history


DAYS = [
    _day(D1, a="onboarding", b="retention", c="adoption"),
    _day(D2, a="adoption", b="retention", c="advocacy", d="onboarding"),
    _day(D3, a="adoption", b="churned", c="advocacy", d="onboarding"),
]
EXPECTED = [
    ("a", "awareness", "onboarding", D1, 0, "signup_completed"),
    ("b", None, "retention", D1, None, "first_observed"),
    ("c", None, "adoption", D1, None, "first_observed"),
    ("a", "onboarding", "adoption", D2, 1, "onboarding_completed"),
    ("c", "adoption", "advocacy", D2, None, "why_advocacy"),  # not a spec pair: the stage's rule
    ("d", "awareness", "onboarding", D2, 0, "signup_completed"),
    ("b", "retention", "churned", D3, None, "why_churned"),  # since when? b was first observed
]


def test_transitions_population_exact_rows_and_order():
    history = _run(DAYS)
    assert history.schema == pl.Schema(TRANSITION_SCHEMA)
    assert history.rows() == EXPECTED


def test_spec_trigger_names_for_its_forward_moves():
    pairs = [("onboarding", "adoption", "onboarding_completed"),
             ("adoption", "growth", "expansion_activity"),
             ("growth", "retention", "reached_1_year"),
             ("retention", "advocacy", "became_advocate"),
             ("retention", "adoption", "why_adoption")]
    for before, after, trigger in pairs:
        history = _run([_day(D1, h=before), _day(D2, h=after)])
        days = 1 if before == "onboarding" else None  # else only first observed on D1
        assert history.row(-1) == ("h", before, after, D2, days, trigger)


def test_running_a_day_twice_gives_the_same_history():
    history = _run(DAYS)
    assert append_transitions(history, DAYS[1], DAYS[2]).equals(history)
    assert append_transitions(history, None, DAYS[2]).equals(history)


def test_rerunning_an_earlier_day_replaces_only_its_rows():
    history = _run(DAYS)
    assert append_transitions(history, DAYS[0], DAYS[1]).rows() == EXPECTED
    assert append_transitions(history, None, DAYS[1]).rows() == EXPECTED
    # a changed re-run of day 2 replaces day 2's rows and leaves day 3's as they were
    redone = append_transitions(history, DAYS[0], _day(D2, a="onboarding", b="retention",
                                                       c="adoption", d="onboarding"))
    assert redone.rows() == [
        *EXPECTED[:3], ("d", "awareness", "onboarding", D2, 0, "signup_completed"), EXPECTED[-1],
    ]


def test_days_in_previous_stage_counts_from_the_day_the_stage_was_entered():
    history = _run([_day(D1, h="adoption"), _day(D2, h="adoption"), _day(D3, h="growth")])
    assert history.row(-1) == ("h", "adoption", "growth", D3, None, "expansion_activity")
    history = _run([_day(D1, h="onboarding"), _day(D2, h="adoption"), _day(D3, h="adoption"),
                    _day(D3 + timedelta(days=5), h="growth")])
    assert history.row(-1) == ("h", "adoption", "growth", D3 + timedelta(days=5), 6,
                               "expansion_activity")


def test_previous_stages_stand_in_for_a_missing_history():
    history = append_transitions(EMPTY, _day(D1, a="adoption", b="growth"),
                                 _day(D2, a="adoption", b="retention", c="onboarding"))
    assert history.rows() == [
        ("b", "growth", "retention", D2, None, "reached_1_year"),  # entered before the history
        ("c", "awareness", "onboarding", D2, 0, "signup_completed"),
    ]


def test_empty_day_keeps_history_and_bad_inputs_are_refused():
    history = _run(DAYS)
    assert append_transitions(history, DAYS[2], _day(D3 + timedelta(days=1))).equals(history)
    with pytest.raises(ValueError, match="today must hold one as-of day"):
        append_transitions(EMPTY, None, pl.concat([DAYS[0], DAYS[1]]))
    with pytest.raises(ValueError, match="previous_stages is of 2026-06-02, not before"):
        append_transitions(EMPTY, DAYS[1], DAYS[1])


# --- configuration ----------------------------------------------------------------------------


def _with(path: str, value: object) -> dict:
    data = copy.deepcopy(SegmentConfig().model_dump(mode="json"))
    *parents, leaf = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    node[leaf] = value
    return data


def test_shipped_yaml_spells_out_the_specs_defaults():
    raw = yaml.safe_load(DEFAULT_SEGMENTS_PATH.read_text(encoding="utf-8"))
    assert raw == SegmentConfig().model_dump(mode="json")
    assert load_segment_config() == SegmentConfig()
    micro = CONFIG.micro
    assert (micro.usage_intensity.power_at_least, micro.usage_intensity.regular_at_least,
            micro.usage_intensity.casual_at_least) == (0.8, 0.5, 0.2)
    assert (CONFIG.lifecycle.onboarding_days_at_most, CONFIG.lifecycle.adoption_days_at_most,
            CONFIG.lifecycle.growth_days_at_most) == (30, 90, 365)
    assert (micro.support_dependency.high_above, micro.support_dependency.medium_at_least) == (3, 1)


@pytest.mark.parametrize(("path", "value", "message"), [
    ("micro.usage_intensity.regular_at_least", 0.9,
     "micro.usage_intensity.regular_at_least: must be < micro.usage_intensity.power_at_least"),
    ("lifecycle.adoption_days_at_most", 400,
     "lifecycle.adoption_days_at_most: must be < lifecycle.growth_days_at_most"),
    ("micro.value_perception.advocate_at_least", 11, "micro.value_perception.advocate_at_least"),
    ("journey.retention_dau_wau_at_least", "high", "journey.retention_dau_wau_at_least"),
    ("micro.collaboration.everyone", 1.0, "micro.collaboration.everyone"),
])
def test_bad_values_name_their_key(path, value, message):
    with pytest.raises(SegmentConfigError, match=message.replace(".", r"\.")):
        parse_segment_config(_with(path, value))


def test_loaded_cut_offs_drive_the_rules(tmp_path):
    path = tmp_path / "segments.yaml"
    path.write_text(yaml.safe_dump(_with("micro.usage_intensity.power_at_least", 0.9)))
    config = load_segment_config(path)
    row = _micro_frame(_household(dau_wau_ratio=0.85))
    assert micro_segments(row, config)["usage_intensity"].item() == "Regular User"
    path.write_text("micro: [1, 2]\n")
    with pytest.raises(SegmentConfigError, match=f"{path}: micro: "):
        load_segment_config(path)
