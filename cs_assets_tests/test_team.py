"""CS team and advocacy on hand-built households: CSM assignment (capacity, region,
specialization, least-loaded tie-break, stability), referral codes, conversions, the leaderboard
and its tiers, the rewards ledger, review requests and rewards, and the validated YAML."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from cs_assets.team import (
    ASSIGNMENT_COLUMNS,
    CANDIDATE_COLUMNS,
    CODE_COLUMNS,
    CONVERSION_COLUMNS,
    DEFAULT_TEAM_PATH,
    INVALID_CODE_COLUMNS,
    LEADERBOARD_COLUMNS,
    LEDGER_COLUMNS,
    REVIEW_REWARD_COLUMNS,
    AssignmentConfig,
    LeaderboardConfig,
    RewardConfig,
    TeamConfig,
    TeamConfigError,
    TeamMember,
    assign_csms,
    issue_referral_codes,
    leaderboard,
    load_team_config,
    parse_team_config,
    referral_conversions,
    review_request_candidates,
    review_rewards,
    rewards_ledger,
)
from cs_assets.team.referrals import CODE_ALPHABET, held_codes
from cs_assets_tests.factories import frame

AS_OF = date(2026, 6, 1)
AT = datetime(2026, 6, 1, tzinfo=UTC)  # the as-of instant: inputs strictly before it
US = timedelta(microseconds=1)
SECRET = b"test-secret-not-for-production!!"
UTC_TS = pl.Datetime("us", "UTC")


def ago(days: float = 0, *, us: int = 0) -> datetime:
    return AT - timedelta(days=days, microseconds=us)


# ---------------------------------------------------------------- assignments


def csm(cid: str, plan: str, capacity: int, regions: list[str]) -> TeamMember:
    return TeamMember(id=cid, display_name=cid.title(), role="CSM", specialization=plan,
                      capacity=capacity, regions=regions)


OPS = TeamMember(id="ops_01", display_name="Ops", role="CS Ops", regions=["US", "EU", "APAC"])


def team(*csms: TeamMember) -> AssignmentConfig:
    return AssignmentConfig(roster=[OPS, *csms])


def today(*rows: tuple[str, str, str]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["household_id", "plan", "region"], orient="row")


def previous(*rows: tuple[str, str, datetime]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"household_id": pl.String, "csm_id": pl.String,
                                      "assigned_at": UTC_TS}, orient="row")


def owners(assignments: pl.DataFrame) -> dict[str, str]:
    return dict(assignments.select("household_id", "csm_id").iter_rows())


def test_routes_free_paid_and_overflow_on_a_small_population():
    config = team(csm("csm_e", "Enterprise", 1, ["US"]), csm("csm_p", "Premium", 5, ["US", "EU"]))
    households = today(("h5", "Free", "APAC"), ("h1", "Enterprise", "US"),
                       ("h2", "Enterprise", "US"), ("h3", "Premium", "EU"),
                       ("h4", "Premium", "APAC"))
    assignments, overflow = assign_csms(households, config, None, AS_OF)
    assert assignments.columns == ASSIGNMENT_COLUMNS
    assert assignments.rows() == [
        ("h1", "Enterprise", "US", "csm_e", "csm", AT),
        ("h2", "Enterprise", "US", "ops_01", "queue", AT),  # csm_e full after h1
        ("h3", "Premium", "EU", "csm_p", "csm", AT),
        ("h4", "Premium", "APAC", "ops_01", "queue", AT),  # nobody covers APAC
        ("h5", "Free", "APAC", "automated_cs", "automated", AT),
    ]
    assert overflow == 2


@pytest.mark.parametrize(("capacity", "expected"), [(2, "ops_01"), (3, "csm_p")])
def test_capacity_exactly_full_queues_one_spare_assigns(capacity, expected):
    config = team(csm("csm_p", "Premium", capacity, ["US"]))
    households = today(("a", "Premium", "US"), ("b", "Premium", "US"), ("new", "Premium", "US"))
    prev = previous(("a", "csm_p", ago(10)), ("b", "csm_p", ago(10)))
    assignments, overflow = assign_csms(households, config, prev, AS_OF)
    assert owners(assignments)["new"] == expected
    assert overflow == (expected == "ops_01")


def test_region_mismatch_is_not_eligible():
    config = team(csm("csm_p", "Premium", 10, ["US", "EU"]))
    assignments, overflow = assign_csms(today(("h", "Premium", "APAC")), config, None, AS_OF)
    assert owners(assignments) == {"h": "ops_01"}
    assert overflow == 1


def test_specialization_mismatch_is_not_eligible():
    config = team(csm("csm_p", "Premium", 10, ["US"]))
    households = today(("ent", "Enterprise", "US"), ("prem", "Premium", "US"))
    assignments, overflow = assign_csms(households, config, None, AS_OF)
    assert owners(assignments) == {"ent": "ops_01", "prem": "csm_p"}
    assert overflow == 1


def test_least_loaded_first_ties_broken_by_csm_id():
    config = team(csm("csm_b", "Premium", 10, ["US"]), csm("csm_a", "Premium", 10, ["US"]),
                  csm("csm_c", "Premium", 10, ["US"]))
    households = today(("k1", "Premium", "US"), ("k2", "Premium", "US"), ("n1", "Premium", "US"),
                       ("n2", "Premium", "US"), ("n3", "Premium", "US"))
    prev = previous(("k1", "csm_a", ago(5)), ("k2", "csm_a", ago(5)))
    assignments, _ = assign_csms(households, config, prev, AS_OF)
    # loads a=2, b=0, c=0: n1 -> b (tie with c, lower id), n2 -> c, n3 -> b (b=1, c=1 tie)
    assert owners(assignments) == {"k1": "csm_a", "k2": "csm_a", "n1": "csm_b", "n2": "csm_c",
                                   "n3": "csm_b"}


def test_assigned_household_keeps_its_csm_even_if_another_is_less_loaded():
    config = team(csm("csm_a", "Premium", 10, ["US"]), csm("csm_b", "Premium", 10, ["US"]))
    households = today(("h1", "Premium", "US"), ("h2", "Premium", "US"))
    prev = previous(("h1", "csm_b", ago(30)), ("h2", "csm_b", ago(3)))
    assignments, _ = assign_csms(households, config, prev, AS_OF)
    assert assignments.select("household_id", "csm_id", "assigned_at").rows() == [
        ("h1", "csm_b", ago(30)), ("h2", "csm_b", ago(3))]


def test_reassigned_when_csm_left_the_roster_or_plan_changed():
    config = team(csm("csm_e", "Enterprise", 10, ["US"]), csm("csm_p", "Premium", 10, ["US"]))
    households = today(("left", "Premium", "US"), ("upgraded", "Enterprise", "US"),
                       ("downgraded", "Free", "US"), ("now_paid", "Premium", "US"),
                       ("still_free", "Free", "US"))
    prev = previous(("left", "csm_gone", ago(9)), ("upgraded", "csm_p", ago(9)),
                    ("downgraded", "csm_p", ago(9)), ("now_paid", "automated_cs", ago(9)),
                    ("still_free", "automated_cs", ago(9)))
    assignments, _ = assign_csms(households, config, prev, AS_OF)
    assert assignments.select("household_id", "csm_id", "assigned_at").rows() == [
        ("downgraded", "automated_cs", AT),
        ("left", "csm_p", AT),
        ("now_paid", "csm_p", AT),
        ("still_free", "automated_cs", ago(9)),
        ("upgraded", "csm_e", AT),
    ]


def test_region_change_reassigns_and_lowered_capacity_keeps_existing():
    config = team(csm("csm_p", "Premium", 1, ["US"]))
    households = today(("moved", "Premium", "EU"), ("k1", "Premium", "US"),
                       ("k2", "Premium", "US"))
    prev = previous(("moved", "csm_p", ago(9)), ("k1", "csm_p", ago(9)), ("k2", "csm_p", ago(9)))
    assignments, overflow = assign_csms(households, config, prev, AS_OF)
    assert owners(assignments) == {"k1": "csm_p", "k2": "csm_p", "moved": "ops_01"}
    assert overflow == 1


def test_queue_retried_longest_waiting_first_when_a_seat_frees():
    config = team(csm("csm_p", "Premium", 2, ["US"]))
    # "gone" churned (not in today's households): its seat frees; one seat for two waiters.
    households = today(("stay", "Premium", "US"), ("w_new", "Premium", "US"),
                       ("w_old", "Premium", "US"), ("w_mid", "Premium", "US"))
    prev = previous(("stay", "csm_p", ago(40)), ("gone", "csm_p", ago(40)),
                    ("w_old", "ops_01", ago(20)), ("w_mid", "ops_01", ago(2)))
    assignments, overflow = assign_csms(households, config, prev, AS_OF)
    assert assignments.select("household_id", "csm_id", "route", "assigned_at").rows() == [
        ("stay", "csm_p", "csm", ago(40)),
        ("w_mid", "ops_01", "queue", ago(2)),  # still waiting since it first queued
        ("w_new", "ops_01", "queue", AT),
        ("w_old", "csm_p", "csm", AT),
    ]
    assert overflow == 2


def test_state_at_or_after_the_as_of_instant_is_ignored_so_reruns_agree():
    config = team(csm("csm_a", "Premium", 10, ["US"]), csm("csm_b", "Premium", 10, ["US"]))
    households = today(("h1", "Premium", "US"), ("h2", "Premium", "US"))
    first, _ = assign_csms(households, config, previous(("h1", "csm_b", ago(1))), AS_OF)
    assert owners(first) == {"h1": "csm_b", "h2": "csm_a"}
    # rows made on the as-of day itself (assigned_at >= the as-of instant) change nothing
    polluted = pl.concat([previous(("h1", "csm_b", ago(1))),
                          first.select("household_id", "csm_id", "assigned_at"),
                          previous(("h2", "csm_b", AT), ("h1", "csm_a", AT + US))])
    rerun, _ = assign_csms(households, config, polluted, AS_OF)
    assert rerun.equals(first)
    # the next day reads it as state: every household stays put
    nxt, _ = assign_csms(households, config, first, AS_OF + timedelta(days=1))
    assert nxt.equals(first)


def test_default_roster_is_the_spec_team():
    config = AssignmentConfig()
    assert [(m.id, m.role, m.specialization, m.capacity) for m in config.csms] == [
        ("csm_01", "CSM", "Enterprise", 50), ("csm_02", "CSM", "Premium", 100)]
    households = today(("eu_ent", "Enterprise", "EU"), ("eu_prem", "Premium", "EU"))
    assert owners(assign_csms(households, config, None, AS_OF)[0]) == {
        "eu_ent": "ops_01", "eu_prem": "csm_02"}


# ---------------------------------------------------------------- referral codes


def codes(*rows: tuple[str, str, datetime]) -> pl.DataFrame:
    return frame("referral_codes", [dict(code=c, household_id=h, issued_at=t) for c, h, t in rows])


NO_CODES = frame("referral_codes", [])


def advocates(*ids: str) -> pl.DataFrame:
    return pl.DataFrame({"household_id": list(ids)}, schema={"household_id": pl.String})


def issue(hh: pl.DataFrame, product: pl.DataFrame = NO_CODES, platform: pl.DataFrame = NO_CODES,
          as_of: date = AS_OF, secret: bytes = SECRET) -> pl.DataFrame:
    return issue_referral_codes(hh, product, platform, as_of, secret=secret)


def test_codes_are_readable_and_unique_among_many():
    issued = issue(advocates(*(f"hh_{i}" for i in range(3000))))
    assert issued.columns == CODE_COLUMNS
    assert issued["code"].n_unique() == 3000
    assert issued["code"].str.contains(f"^REF-[{CODE_ALPHABET}]{{8}}$").all()
    assert not set("01OI").intersection(CODE_ALPHABET)
    assert (issued["issued_at"] == AT).all()


def test_codes_depend_on_the_secret_not_on_the_household_or_day():
    hh = advocates("hh_sarah", "hh_2")
    one = issue(hh)
    again = issue(hh, as_of=AS_OF + timedelta(days=400))
    other = issue(hh, secret=b"another-secret-of-32-bytes-long!")
    assert one["code"].to_list() == again["code"].to_list()  # a fixed secret is a seed
    assert set(one["code"]).isdisjoint(other["code"])
    assert not one["code"].str.contains("SARAH|PETS|2026").any()
    with pytest.raises(ValueError, match="at least 16 bytes"):
        issue(hh, secret=b"short")


def test_a_taken_code_moves_to_the_next_attempt_case_blind():
    wanted = issue(advocates("hh_new"))["code"][0]
    taken = codes((wanted.lower(), "hh_other", ago(30)))
    issued = issue(advocates("hh_new"), taken)
    assert issued["code"][0] != wanted
    assert issued["code"][0].startswith("REF-")


def test_only_advocates_without_a_code_get_one():
    product = codes(("REF-AAAAAAAA", "has_product_code", ago(100)))
    platform = codes(("REF-BBBBBBBB", "has_platform_code", ago(1)),
                     ("REF-CCCCCCCC", "issued_today", AT))  # the day's own output: ignored
    issued = issue(
        advocates("zed", "has_product_code", "has_platform_code", "issued_today", "zed"),
        product, platform)
    assert issued["household_id"].to_list() == ["issued_today", "zed"]
    rerun = issue(advocates("issued_today"), product)
    assert rerun.row(0) == issued.row(0)


def test_an_invitation_quotes_the_code_held_by_the_day_from_either_source():
    """The product's own codes count as much as the platform's: a household holding only a
    product code is invited with it (not skipped for lack of a code)."""
    both = pl.concat([
        codes(("REF-PROD1111", "product_only", ago(100)),
              ("REF-OLD22222", "reissued", ago(90))),
        codes(("REF-NEW33333", "reissued", ago(5)),
              ("REF-TODAY444", "issued_today", AT),  # the day's own codes are quotable
              ("REF-LATER555", "not_yet", AT + timedelta(seconds=1))),
    ])
    held = dict(held_codes(both, AT).iter_rows())
    assert held == {"product_only": "REF-PROD1111", "reissued": "REF-NEW33333",
                    "issued_today": "REF-TODAY444"}


# ---------------------------------------------------------------- conversions


def signup(hh: str, created_at: datetime, code: str | None = None) -> dict:
    return dict(household_id=hh, created_at=created_at, region="US", email_opt_out=False,
                referral_code_used=code)


def new_plan(hh: str, changed_at: datetime, plan: str) -> dict:
    return dict(change_id=f"new_{hh}", household_id=hh, changed_at=changed_at,
                change_type="new", to_plan=plan, mrr_after=0.0 if plan == "Free" else 100.0)


def test_conversions_and_invalid_codes_on_a_small_population():
    raw = codes(("REF-RAW22222", "alice", ago(200)), ("REF-LATE3333", "bob", ago(50)),
                ("REF-SELF4444", "carol", ago(100)))
    platform = codes(("REF-PLAT5555", "dave", ago(150)))
    households = frame("households", [
        signup("alice", ago(300)), signup("bob", ago(300)),
        signup("carol", ago(100), "REF-SELF4444"),  # her own code
        signup("dave", ago(300)),
        signup("r1", ago(90), "REF-RAW22222"),
        signup("r2", ago(80), " ref-raw22222 "),  # typed loosely: same code
        signup("r3", ago(70), "REF-PLAT5555"),
        signup("r4", ago(60), "SARAH-PETS-2025"),  # the spec's format, never issued
        signup("r7", ago(60), "REF-ZZZZZZZZ"),  # our format, never issued
        signup("r5", ago(50), "REF-LATE3333"),  # issued exactly at signup: fine
        signup("r6", ago(50, us=1), "REF-LATE3333"),  # a microsecond before it was issued
        signup("future", AT, "REF-RAW22222"),  # signs up on the as-of day: not yet
    ])
    changes = frame("subscription_changes", [new_plan("r1", ago(90), "Premium"),
                                             new_plan("r3", ago(70), "Free")])
    conversions, invalid = referral_conversions(households, raw, platform, changes, AS_OF)
    assert conversions.columns == CONVERSION_COLUMNS
    assert conversions.rows() == [
        ("r1", "alice", "REF-RAW22222", ago(90), "Premium"),
        ("r2", "alice", "REF-RAW22222", ago(80), None),
        ("r3", "dave", "REF-PLAT5555", ago(70), "Free"),
        ("r5", "bob", "REF-LATE3333", ago(50), None),
    ]
    assert invalid.columns == INVALID_CODE_COLUMNS
    assert invalid.rows() == [
        ("carol", "REF-SELF4444", ago(100), "self_referral"),
        ("r4", "XXXXX-XXXX-9999", ago(60), "unknown_code"),  # no owner name in outputs
        ("r7", "REF-ZZZZZZZZ", ago(60), "unknown_code"),
        ("r6", "REF-LATE3333", ago(50, us=1), "issued_after_signup"),
    ]


# ---------------------------------------------------------------- leaderboard and ledger


def conversion(referee: str, referrer: str, at: datetime, plan: str = "Free") -> tuple:
    return (referee, referrer, f"REF-{referrer}", at, plan)


def conversions_of(*rows: tuple) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"referee_id": pl.String, "referrer_id": pl.String,
                                      "code": pl.String, "converted_at": UTC_TS,
                                      "referee_plan": pl.String}, orient="row")


def rewarded_reviews(*rows: tuple) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"review_id": pl.String, "household_id": pl.String,
                                      "platform": pl.String, "submitted_at": UTC_TS,
                                      "credit_usd": pl.Float64}, orient="row")


def test_leaderboard_order_window_and_tiers():
    rows = [
        conversion("a1", "ann", ago(10)), conversion("a2", "ann", ago(20)),
        conversion("a3", "ann", ago(365)),  # exactly 365 days before: inside
        conversion("a4", "ann", ago(365, us=1)),  # a microsecond earlier: outside
        conversion("b1", "ben", ago(5)), conversion("b2", "ben", ago(6)),
        conversion("c1", "cat", ago(7), "Enterprise"), conversion("c2", "cat", ago(30)),
        conversion("d1", "dan", ago(8), "Premium"), conversion("d2", "dan", ago(30)),
        conversion("late", "eve", AT),  # on the as-of day: not yet
    ]
    rows += [conversion(f"x{i}", f"solo_{i:02d}", ago(40)) for i in (3, 1, 0, 2, 4, 5, 7, 6)]
    board = leaderboard(conversions_of(*rows), AS_OF)
    assert board.columns == LEADERBOARD_COLUMNS
    top = board.select("place", "referrer_id", "successful_referrals", "paid_referrals",
                       "tier", "tier_credit_usd", "tier_premium_months")
    assert top.rows() == [
        (1, "ann", 3, 0, "first", 100.0, 12),
        (2, "dan", 2, 1, "top_3", 50.0, 6),  # ties cat; reached 2 first (8 days ago vs 7)
        (3, "cat", 2, 1, "top_3", 50.0, 6),  # Enterprise counts as paid
        (4, "ben", 2, 0, "top_10", 25.0, 3),  # fewer paid referrals
        *[(5 + i, f"solo_{i:02d}", 1, 0, "top_10" if i < 6 else None,
           25.0 if i < 6 else None, 3 if i < 6 else None) for i in range(8)],  # ties: by id
    ]


def test_ledger_credits_months_expiry_and_yearly_tier_awards():
    conversions = conversions_of(conversion("r_old", "ann", ago(365)),
                                 conversion("r_new", "ann", ago(365, us=-1)))
    ledger = rewards_ledger(conversions, rewarded_reviews(("rev_1", "bob", "g2", ago(3), 20.0)),
                            AS_OF)
    assert ledger.columns == LEDGER_COLUMNS
    assert ledger.select("reward_id", "household_id", "credit_usd", "credit_status",
                         "premium_months").rows() == [
        ("referral_referee:r_old", "r_old", 0.0, None, 1),
        ("referral_referrer:r_old", "ann", 10.0, "expired", 0),  # exactly 365 days old
        ("referral_referee:r_new", "r_new", 0.0, None, 1),
        ("referral_referrer:r_new", "ann", 10.0, "active", 0),  # a microsecond younger
        ("leaderboard:2026-01-01:1", "ann", 100.0, "active", 12),
        ("review:rev_1", "bob", 20.0, "active", 0),
    ]
    assert ledger.filter(pl.col("reward_id") == "referral_referrer:r_old")[
        "credit_expires_at"].to_list() == [AT]


@pytest.mark.parametrize(("as_of", "awarded"), [(date(2025, 12, 31), False),
                                                (date(2026, 1, 1), True)])
def test_tier_awards_only_from_the_award_day(as_of, awarded):
    conversions = conversions_of(conversion("r1", "ann", datetime(2025, 6, 1, tzinfo=UTC)))
    ledger = rewards_ledger(conversions, rewarded_reviews(), as_of)
    assert ("leaderboard_tier" in ledger["reason"].to_list()) is awarded


# ---------------------------------------------------------------- reviews


def nps(hh: str, responded_at: datetime, score: int) -> dict:
    return dict(response_id=f"nps_{hh}_{responded_at:%j%H%M%S%f}", household_id=hh,
                responded_at=responded_at, score=score)


def requests(*rows: tuple[str, datetime]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"household_id": pl.String, "requested_at": UTC_TS},
                        orient="row")


def test_review_request_candidates_on_a_small_population():
    ids = ["nine", "eight", "ten_then_8", "eight_then_9", "asked_89", "asked_90", "churned",
           "asked_today"]
    households = frame("households", [signup(hh, ago(400)) for hh in ids]).with_columns(
        churned_at=pl.when(pl.col("household_id") == "churned").then(pl.lit(ago(1)))
    )
    answers = frame("nps_responses", [
        nps("nine", ago(20), 9), nps("eight", ago(5), 8),
        nps("ten_then_8", ago(30), 10), nps("ten_then_8", ago(3), 8),
        nps("eight_then_9", ago(30), 8), nps("eight_then_9", ago(4), 9),
        nps("asked_89", ago(10), 10), nps("asked_90", ago(10), 9), nps("churned", ago(10), 10),
        nps("asked_today", ago(50), 10),
    ])
    sent = requests(("asked_89", ago(89)), ("asked_90", ago(90)), ("asked_today", AT))
    candidates = review_request_candidates(answers, sent, AS_OF, households=households)
    assert candidates.columns == CANDIDATE_COLUMNS
    assert candidates.rows() == [
        ("eight_then_9", 9, ago(4), None),
        ("asked_90", 9, ago(10), ago(90)),
        ("nine", 9, ago(20), None),
        ("asked_today", 10, ago(50), None),  # today's own request is not yet state
    ]


def test_review_rewards_once_per_window_whatever_the_rating():
    reviews = frame("reviews", [
        dict(review_id="r1", household_id="ann", platform="g2", rating=1, submitted_at=ago(200)),
        dict(review_id="r2", household_id="ann", platform="app_store", rating=5,
             submitted_at=ago(200 - 89)),  # 89 days after the credited one
        dict(review_id="r3", household_id="ann", platform="trustpilot", rating=4,
             submitted_at=ago(200 - 90)),  # 90 days after it: credited
        dict(review_id="r4", household_id="bob", platform="g2", rating=5, submitted_at=ago(1)),
        dict(review_id="r5", household_id="cat", platform="g2", rating=5, submitted_at=AT),
    ])
    rewarded = review_rewards(reviews, AS_OF)
    assert rewarded.columns == REVIEW_REWARD_COLUMNS
    assert rewarded.select("review_id", "household_id", "credit_usd").rows() == [
        ("r1", "ann", 20.0), ("r3", "ann", 20.0), ("r4", "bob", 20.0)]
    assert review_rewards(reviews, AS_OF, RewardConfig(review_credit_usd=5.0))[
        "credit_usd"].to_list() == [5.0, 5.0, 5.0]


# ---------------------------------------------------------------- config


def _defaults() -> dict:
    return TeamConfig().model_dump(mode="json")


def _error(data: object) -> str:
    with pytest.raises(TeamConfigError) as exc:
        parse_team_config(data)
    return str(exc.value)


def test_shipped_yaml_is_the_defaults():
    assert load_team_config() == TeamConfig()
    assert load_team_config(DEFAULT_TEAM_PATH).leaderboard == LeaderboardConfig()


def _with(change) -> dict:
    data = copy.deepcopy(_defaults())
    change(data)
    return data


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["assignments"]["roster"][1].pop("capacity"),
     "assignments.roster.1.capacity: is required for a CSM"),
    (lambda d: d["assignments"]["roster"][0].update(capacity=5),
     "assignments.roster.0.capacity: only CSMs take households"),
    (lambda d: d["assignments"]["roster"][2].update(specialization="Free"),
     "assignments.roster.2.specialization: a CSM's must be one of"),
    (lambda d: d["assignments"]["roster"][2].update(regions=["LATAM"]),
     "assignments.roster.2.regions.0"),
    (lambda d: d["assignments"]["roster"][2].update(email="mike@example.com"),
     "assignments.roster.2.email: Extra inputs are not permitted"),
    (lambda d: d["assignments"]["roster"][2].update(id="csm_01"),
     "assignments.roster: ids must be unique, repeated: ['csm_01']"),
    (lambda d: d["assignments"].update(queue_owner="csm_01"),
     "assignments.queue_owner: must be the id of a CS Ops member"),
    (lambda d: d["assignments"].update(automated_id="ops_01"),
     "assignments.automated_id: must not be a roster id"),
    (lambda d: d["assignments"]["roster"][4].update(task_capacity=10),
     "assignments.roster.4.task_capacity: only CSMs and CS Ops get tasks"),
    (lambda d: d["assignments"]["roster"][1].update(task_capacity=0),
     "assignments.roster.1.task_capacity: Input should be greater than or equal to 1"),
    (lambda d: d["leaderboard"]["tiers"][1].update(through_place=1),
     "leaderboard.tiers: through_place must increase"),
    (lambda d: d["leaderboard"].update(award_day=29), "leaderboard.award_day"),
    (lambda d: d["rewards"].update(credit_valid_days=0), "rewards.credit_valid_days"),
    (lambda d: d["review_requests"].update(min_nps=11), "review_requests.min_nps"),
])
def test_bad_values_name_their_key(change, message):
    assert message in _error(_with(change))


def test_bad_file_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "team.yaml"
    path.write_text("- not a mapping\n", encoding="utf-8")
    with pytest.raises(TeamConfigError, match=r"team\.yaml: team config must be a mapping"):
        load_team_config(path)
