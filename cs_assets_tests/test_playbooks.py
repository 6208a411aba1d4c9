"""Playbooks: the shipped YAML holds every spec playbook on the spec's days; bad config names
its key; the condition language is not Python; enrolment respects cooldowns and draws a stable
holdout; the effect estimator finds a planted effect and none where there is none."""

from __future__ import annotations

import copy
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import sqlalchemy as sa
import yaml
from scipy import stats

from cs_assets.playbooks import (
    DEFAULT_PLAYBOOKS_PATH,
    ENROLMENT_COLUMNS,
    EXISTING_SCHEMA,
    ConditionError,
    PlaybookConfigError,
    compile_condition,
    is_holdout,
    load_playbooks,
    parse_playbooks,
    plan_steps,
    playbook_effectiveness,
    select_enrolments,
)
from cs_assets.playbooks.conditions import requires
from cs_assets.state.delivery import TRANSACTIONAL_CHANNELS
from cs_assets.state.schema import EXIT_STATUSES, SKIPPED, step_executions
from cs_assets.state.store import state_engine
from cs_assets_tests.factories import enrol, schedule_steps

AS_OF = date(2026, 6, 1)
AT = datetime(2026, 6, 1, tzinfo=UTC)
UTC_TS = pl.Datetime("us", "UTC")
CATALOG = load_playbooks()
SALT = CATALOG.holdout_salt


def raw_config() -> dict:
    return yaml.safe_load(DEFAULT_PLAYBOOKS_PATH.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- the shipped playbooks

A, N, R = "always", "no_response_since_enrolment", "still_at_risk"
SPEC_STEPS = {
    "reengagement": [
        (1, "email", "declining_usage", A),
        (3, "email", "feature_discovery", A),
        (7, "csm_task", "csm_outreach_call", A),
        (14, "email", "win_back_offer", N),
    ],
    "premium_onboarding": [
        (1, "email", "premium_welcome", A),
        (3, "in_app", "calendar_sync_prompt", A),
        (7, "email", "premium_adoption_check_in", R),
        (30, "email", "premium_roi_check_in", A),
    ],
    "proactive_checkin": [(0, "email", "proactive_check_in", A)],
    "support_engagement_nudges": [
        (0, "in_app", "support_having_issues", A),
        (0, "email", "support_tips", A),
    ],
    "segment_dormant_reengagement": [
        (1, "email", "dormant_reengagement", A),
        (3, "email", "feature_discovery", A),
        (14, "email", "win_back_offer", N),
    ],
    "segment_collaboration_upsell": [(0, "email", "invite_household_members", A)],
    "segment_feature_discovery": [(0, "email", "feature_discovery", A)],
    "segment_advocate_referral": [(0, "email", "referral_invitation", A)],
    "segment_high_touch_review": [(0, "csm_task", "high_support_dependency_review", A)],
    "survey_email": [(0, "email", "survey_invitation", A)],
    "survey_in_app": [(0, "in_app", "survey_invitation_in_app", A)],
    "review_request": [(0, "email", "review_request", A)],
    "upsell": [(0, "email", "upsell_offer", A), (0, "in_app", "upsell_prompt", A)],
    **{
        f"addon_{name}": [(0, "email", "addon_offer", A)]
        for name in (
            "additional_household",
            "calendar_sync",
            "pet_health_tracking",
            "priority_support",
        )
    },
    "critical_alert": [(0, "csm_task", "critical_health_alert", A)],
    "at_risk_alert": [(0, "csm_task", "at_risk_health_alert", A)],
    "model_risk_alert": [(0, "csm_task", "at_risk_health_alert", A)],  # ours: the model acts
    "journey_onboarding": [(0, "email", "onboarding_flow", A)],
    "journey_adoption": [(0, "email", "adoption_congratulations", A)],
    "journey_growth": [(0, "email", "premium_trial_offer", A)],
    "anniversary": [(0, "email", "anniversary", A)],
    "journey_advocacy": [
        (0, "email", "referral_invitation", A),
        (0, "email", "testimonial_request", A),
    ],
    "win_back": [(7, "email", "win_back_offer", A)],
    "reward_referrer": [(0, "email", "referral_success_referrer", A)],
    "reward_referee": [(0, "email", "referral_success_referee", A)],
    "reward_top_advocate": [(0, "email", "referral_leaderboard_reward", A)],
    "reward_reviewer": [(0, "email", "review_thank_you", A)],
}


def test_every_spec_playbook_is_shipped_with_the_spec_days():
    assert set(CATALOG.playbooks) == set(SPEC_STEPS)
    for name, expected in SPEC_STEPS.items():
        steps = CATALOG.playbooks[name].steps
        assert [(s.day, s.channel, s.template, s.condition) for s in steps] == expected, name


def test_shipped_playbook_rules():
    playbooks = CATALOG.playbooks
    assert CATALOG.send_hour == 10
    # Exits are statuses the state store accepts.
    assert {e for p in playbooks.values() for e in p.exit_on} <= set(EXIT_STATUSES)
    # Receipts are transactional, never held out, one per reward.
    for name in ("reward_referrer", "reward_referee", "reward_top_advocate", "reward_reviewer"):
        playbook = playbooks[name]
        assert playbook.holdout_share == 0 and playbook.steps[0].transactional
        assert playbook.triggers[0].key == "reward_id"
    # Everything that markets has a holdout; human work alone never; nothing else is
    # transactional.
    for name, playbook in playbooks.items():
        human_only = all(step.channel == "csm_task" for step in playbook.steps)
        if not name.startswith(("reward_", "survey_")):
            assert (playbook.holdout_share == 0) == human_only, name
            assert not any(step.transactional for step in playbook.steps), name
    assert {n for n, p in playbooks.items() if p.holdout_share == 0
            and not n.startswith(("reward_", "survey_"))} == {
        "critical_alert", "at_risk_alert", "model_risk_alert", "segment_high_touch_review"}
    # The segment playbooks run for everyone and for health < 60 or churn risk > 0.4.
    for name in (n for n in playbooks if n.startswith("segment_")):
        daily, at_risk = playbooks[name].triggers
        assert daily.asset == at_risk.asset == "micro_segments" and daily.join == []
        assert at_risk.join == ["health_scores"]
        assert at_risk.where.startswith("(health_score < 60 or churn_probability > 0.4) and ")
        assert at_risk.where.endswith(daily.where)
    # Journey playbooks never fire on the first day of the history.
    for name in ("journey_growth", "anniversary", "journey_advocacy", "win_back"):
        assert "trigger != 'first_observed'" in playbooks[name].triggers[0].where


# ---------------------------------------------------------------- validation errors


def set_in(data: dict, path: str, value) -> dict:
    data = copy.deepcopy(data)
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


P = "playbooks.reengagement"
BAD_VALUES = [
    (f"{P}.steps.0.template", "nope", f"{P}.steps.0.template: unknown template 'nope'"),
    (
        f"{P}.steps.0.template",
        "upsell_prompt",
        f"{P}.steps.0.template: 'upsell_prompt' is a in_app template, the step sends email",
    ),
    (f"{P}.steps.0.channel", "sms", f"{P}.steps.0.channel: Input should be 'email'"),
    (f"{P}.triggers.0.asset", "trend_alert", f"{P}.triggers.0.asset: unknown asset 'trend_alert'"),
    (f"{P}.at_risk.where", "tiers != 'healthy'", f"{P}.at_risk.where: unknown column 'tiers'"),
    (
        f"{P}.at_risk.where",
        "__import__('os').system('true')",
        f"{P}.at_risk.where: expected a comparison",
    ),
    (f"{P}.triggers.0.key", "alert_id", f"{P}.triggers.0.key: unknown column 'alert_id'"),
    (f"{P}.steps.1.day", 0, f"{P}.steps.1.day: steps must be in day order: day 0 after day 1"),
    (f"{P}.holdout_share", 0.6, f"{P}.holdout_share: Input should be less than or equal to 0.5"),
    (f"{P}.cooldown_days", 13, f"{P}.cooldown_days: must be >= the last step's day (14)"),
    (f"{P}.exit_on", ["recovered", "bored"], f"{P}.exit_on.1: Input should be"),
    (f"{P}.exit_on", ["churned", "churned"], f"{P}.exit_on: names a condition twice"),
    (f"{P}.exit_on", ["churned"], f"{P}.at_risk: unused: no still_at_risk step"),
    (
        "playbooks.premium_onboarding.at_risk",
        None,
        "playbooks.premium_onboarding.at_risk: required by ['still_at_risk']",
    ),
    (f"{P}.name", "other", f"{P}.name: leave it out"),
    (f"{P}.mode", "paused", f"{P}.mode: Input should be 'live', 'shadow' or 'off'"),
    (f"{P}.sauce", 1, f"{P}.sauce: Extra inputs are not permitted"),
    (
        "playbooks.proactive_checkin.steps.0.transactional",
        True,
        "playbooks.proactive_checkin.holdout_share: must be 0 with a transactional step",
    ),
    (
        "playbooks.critical_alert.holdout_share",
        0.1,
        "playbooks.critical_alert.holdout_share: must be 0 when every step is a CSM task",
    ),
    (
        "playbooks.critical_alert.steps.0.transactional",
        True,
        "playbooks.critical_alert.steps.0.transactional: only email has a transactional channel",
    ),
    (
        "playbooks.proactive_checkin.at_risk",
        {"asset": "health_tiers"},
        "playbooks.proactive_checkin.at_risk: unused",
    ),
    (
        "playbooks.segment_feature_discovery.triggers.1.join",
        ["health_scores", "health_scores"],
        "playbooks.segment_feature_discovery.triggers.1.join: names an asset twice",
    ),
    ("send_hour", 24, "send_hour: Input should be less than or equal to 23"),
    ("playbooks.proactive_checkin.exit_on", ["downgraded"],
     "playbooks.proactive_checkin.exit_on: downgraded ends an enrolment off the premium plans: "
     "every trigger must require `plan in premium_plans`"),
    ("csm_task_quiet_days", -1,
     "csm_task_quiet_days: Input should be greater than or equal to 0"),
]


@pytest.mark.parametrize(
    ("path", "value", "message"), BAD_VALUES, ids=[f"{p}={v}" for p, v, _ in BAD_VALUES]
)
def test_bad_values_are_errors_naming_the_key(path, value, message):
    with pytest.raises(PlaybookConfigError, match=re.escape(message)):
        parse_playbooks(set_in(raw_config(), path, value))


def test_a_repeated_playbook_name_is_an_error(tmp_path):
    text = DEFAULT_PLAYBOOKS_PATH.read_text(encoding="utf-8")
    block = text[text.index("  upsell:\n") : text.index("  addon_additional_household:")]
    path = tmp_path / "playbooks.yaml"
    path.write_text(text + block, encoding="utf-8")
    with pytest.raises(PlaybookConfigError, match=r"playbooks\.yaml.*duplicate key 'upsell'"):
        load_playbooks(path)


def test_unreadable_and_non_mapping_files(tmp_path):
    with pytest.raises(PlaybookConfigError, match="cannot read playbooks config"):
        load_playbooks(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- a\n", encoding="utf-8")
    with pytest.raises(PlaybookConfigError, match="must be a mapping of sections, got list"):
        load_playbooks(tmp_path / "list.yaml")


# ---------------------------------------------------------------- condition language

ROWS = pl.DataFrame(
    {
        "household_id": ["a", "b", "c", "d"],
        "as_of": [AS_OF] * 4,
        "tier": ["critical", "healthy", None, "at_risk"],
        "score": [10.0, 70.0, 50.0, None],
        "granted_at": [AT - timedelta(days=d) for d in (1, 7, 6.5, 30)],
    },
    schema_overrides={"granted_at": UTC_TS},
)


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("tier == 'critical'", ["a"]),
        ("tier != 'healthy'", ["a", "d"]),  # a missing tier never matches
        ("not (tier == 'healthy')", ["a", "d"]),
        ("tier in ['critical', 'at_risk']", ["a", "d"]),
        ("tier not in ['critical']", ["b", "d"]),
        ("tier is None or score is None", ["c", "d"]),
        ("20 <= score < 70", ["c"]),
        ("score > -1 and (tier == 'healthy' or tier == 'critical')", ["a", "b"]),
        ("age_days(granted_at) < 7", ["a", "c"]),
    ],
)
def test_condition_language(where, expected):
    rows = ROWS.filter(compile_condition(where, ROWS.columns))
    assert rows["household_id"].to_list() == expected


@pytest.mark.parametrize(
    "where",
    [
        "__import__('os')",
        "tier.upper() == 'X'",
        "score + 1 > 2",
        "len(tier) > 1",
        "tier if score else tier",
        "[tier]",
        "tier == tier2",
        "score in [other]",
        "tier is 'x'",
        "age_days(granted_at, 1) < 2",
        "tier ==",
    ],
)
def test_condition_language_is_not_python(where):
    with pytest.raises(ConditionError):
        compile_condition(where, ROWS.columns)


def test_conditions_name_the_products_plan_groups():
    """`plan in premium_plans` reads product.yaml (PetForce's: Premium), so a product without
    a premium plan matches no one instead of failing or matching a PetForce name."""
    plans = pl.DataFrame({"household_id": ["a", "b", "c"], "plan": ["Free", "Premium",
                                                                    "Enterprise"]})
    pick = lambda where: plans.filter(compile_condition(where, plans.columns))[  # noqa: E731
        "household_id"].to_list()
    assert pick("plan in premium_plans") == ["b"]
    assert pick("plan in paid_plans and plan not in premium_plans") == ["c"]
    assert pick("plan in unpaid_plans") == ["a"]
    with pytest.raises(ConditionError, match="premium_plans"):
        compile_condition("plan in premium", plans.columns)


@pytest.mark.parametrize(("where", "expected"), [
    ("plan in premium_plans", True),
    ("days_since_upgrade < 7 and plan in premium_plans", True),
    ("(plan in premium_plans)", True),
    ("plan in premium_plans or days_since_upgrade < 7", False),
    ("not plan in premium_plans", False),
    ("plan not in premium_plans", False),
    (None, False),
])
def test_a_condition_requires_a_clause_only_as_a_whole_or_an_and_operand(where, expected):
    assert requires(where, "plan in premium_plans") is expected


# ---------------------------------------------------------------- enrolment


def existing(*rows: tuple[str, str, str, date]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=EXISTING_SCHEMA, orient="row")


def day_rows(**columns) -> pl.DataFrame:
    n = len(next(iter(columns.values())))
    return pl.DataFrame({"as_of": [AS_OF] * n, **columns})


def test_cooldown_boundaries():
    playbook = CATALOG.playbooks["reengagement"]  # cooldown 30 days
    alerts = {"trend_alerts": day_rows(household_id=["at_30", "at_29", "later", "today", "new"])}
    before = existing(
        ("reengagement", "at_30", "2026-05-02", AS_OF - timedelta(days=30)),
        ("reengagement", "at_29", "2026-05-03", AS_OF - timedelta(days=29)),
        ("reengagement", "later", "2026-06-05", AS_OF + timedelta(days=4)),  # a later day
        ("reengagement", "today", AS_OF.isoformat(), AS_OF),  # this day, run again
        ("proactive_checkin", "new", "2026-05-31", AS_OF - timedelta(days=1)),  # other playbook
    )
    out = select_enrolments(playbook, alerts, AS_OF, before, salt=SALT)
    assert out.columns == ENROLMENT_COLUMNS
    assert out["household_id"].to_list() == ["at_30", "later", "new", "today"]
    assert set(out["enrolment_key"]) == {AS_OF.isoformat()}
    assert set(out["enrolled_on"]) == {AS_OF}
    # Only the trigger day's rows count.
    yesterday = alerts["trend_alerts"].with_columns(as_of=pl.lit(AS_OF - timedelta(days=1)))
    empty = select_enrolments(playbook, {"trend_alerts": yesterday}, AS_OF, existing(), salt=SALT)
    assert empty.height == 0 and empty.columns == ENROLMENT_COLUMNS


def test_segment_runs_enrol_once_and_the_at_risk_run_alone_gates_on_health_or_risk():
    playbook = CATALOG.playbooks["segment_dormant_reengagement"]
    segments = day_rows(
        household_id=["dormant_ok", "dormant_sick", "dormant_60", "dormant_risky", "regular"],
        usage_intensity=["Dormant User"] * 4 + ["Regular User"],
        churn_probability=[0.1, 0.1, 0.4, 0.41, 0.9],
    )
    scores = day_rows(
        household_id=["dormant_ok", "dormant_sick", "dormant_60", "dormant_risky", "regular"],
        health_score=[80.0, 59.9, 60.0, 80.0, 10.0],
    )
    frames = {"micro_segments": segments, "health_scores": scores}
    assert playbook.assets == frozenset(frames) | {"household_features"}  # its comeback
    both = select_enrolments(playbook, frames, AS_OF, existing(), salt=SALT)
    assert both["household_id"].to_list() == [
        "dormant_60",
        "dormant_ok",
        "dormant_risky",
        "dormant_sick",
    ]
    at_risk_only = playbook.model_copy(update={"triggers": playbook.triggers[1:]})
    gated = select_enrolments(at_risk_only, frames, AS_OF, existing(), salt=SALT)
    assert gated["household_id"].to_list() == ["dormant_risky", "dormant_sick"]
    # Enrolled by the daily run yesterday: neither run enrols it again today.
    before = existing(
        ("segment_dormant_reengagement", "dormant_sick", "2026-05-31", AS_OF - timedelta(days=1))
    )
    again = select_enrolments(playbook, frames, AS_OF, before, salt=SALT)
    assert "dormant_sick" not in again["household_id"].to_list()


def test_keyed_trigger_notifies_each_reward_once():
    playbook = CATALOG.playbooks["reward_referrer"]
    ledger = day_rows(
        reward_id=[
            "referral_referrer:r1",
            "referral_referrer:r2",
            "referral_referrer:old",
            "referral_referee:r1",
            "referral_referrer:r3",
        ],
        household_id=["h1", "h1", "h2", "h9", "h3"],
        reason=["referral_referrer"] * 3 + ["referral_referee", "referral_referrer"],
        granted_at=[
            AT - timedelta(hours=5),
            AT - timedelta(hours=3),
            AT - timedelta(days=40),
            AT - timedelta(hours=5),
            AT - timedelta(days=2),
        ],
    ).cast({"granted_at": UTC_TS})
    before = existing(("reward_referrer", "h3", "referral_referrer:r3", AS_OF - timedelta(days=1)))
    out = select_enrolments(playbook, {"rewards_ledger": ledger}, AS_OF, before, salt=SALT)
    assert out.select("household_id", "enrolment_key").rows() == [
        ("h1", "referral_referrer:r1"),
        ("h1", "referral_referrer:r2"),
    ]
    assert not out["holdout"].any()


def test_holdout_is_deterministic_and_near_its_share():
    ids = [f"hh_{i:06d}" for i in range(100_000)]
    drawn = [is_holdout("reengagement", hh, 0.1, "salt") for hh in ids]
    assert abs(sum(drawn) / len(ids) - 0.1) < 0.005  # about 5 standard errors
    assert drawn == [is_holdout("reengagement", hh, 0.1, "salt") for hh in ids]
    # Pinned: the draw is a SHA-256 of the JSON list, the same on every machine and run.
    assert [hh for hh in ids[:60] if is_holdout("reengagement", hh, 0.1, "salt")] == PINNED
    # Independent across playbooks and salts; nothing at 0, everything below 1.
    other = [is_holdout("upsell", hh, 0.1, "salt") for hh in ids]
    assert abs(sum(a and b for a, b in zip(drawn, other, strict=True)) / len(ids) - 0.01) < 0.002
    assert drawn != [is_holdout("reengagement", hh, 0.1, "pepper") for hh in ids]
    assert not any(is_holdout("reengagement", hh, 0.0, "salt") for hh in ids[:1000])


PINNED = ["hh_000011", "hh_000031", "hh_000033", "hh_000042", "hh_000052"]


def test_select_enrolments_draws_the_holdout_per_household():
    playbook = CATALOG.playbooks["upsell"]
    ids = [f"hh_{i:04d}" for i in range(2000)]
    out = select_enrolments(
        playbook, {"upsell_candidates": day_rows(household_id=ids)}, AS_OF, existing(), salt=SALT
    )
    assert out["holdout"].to_list() == [
        is_holdout("upsell", hh, 0.1, SALT) for hh in out["household_id"]
    ]
    assert 0.07 < out["holdout"].mean() < 0.13


def test_plan_steps_due_days_at_the_send_hour():
    playbook = CATALOG.playbooks["premium_onboarding"]
    plan = plan_steps(playbook, AS_OF)
    assert [(p.index, p.due_at, p.channel, p.template) for p in plan] == [
        (0, datetime(2026, 6, 2, 10, tzinfo=UTC), "email", "premium_welcome"),
        (1, datetime(2026, 6, 4, 10, tzinfo=UTC), "in_app", "calendar_sync_prompt"),
        (2, datetime(2026, 6, 8, 10, tzinfo=UTC), "email", "premium_adoption_check_in"),
        (3, datetime(2026, 7, 1, 10, tzinfo=UTC), "email", "premium_roi_check_in"),
    ]
    assert plan_steps(CATALOG.playbooks["upsell"], AS_OF, send_hour=7)[0].due_at == datetime(
        2026, 6, 1, 7, tzinfo=UTC
    )
    # Receipts go on the channel an opt-out does not stop.
    (receipt,) = plan_steps(CATALOG.playbooks["reward_reviewer"], AS_OF)
    assert receipt.channel in TRANSACTIONAL_CHANNELS and receipt.template == "review_thank_you"


def test_enrolments_and_plans_feed_the_state_store(tmp_path):
    engine = state_engine(f"sqlite:///{tmp_path / 'state.db'}")
    playbook = CATALOG.playbooks["reengagement"]
    alerts = {"trend_alerts": day_rows(household_id=[f"hh_{i:03d}" for i in range(40)])}
    out = select_enrolments(playbook, alerts, AS_OF, existing(), salt=SALT)
    for _ in range(2):  # a re-fired sensor changes nothing
        for row in out.iter_rows(named=True):
            eid = enrol(
                engine,
                playbook.name,
                row["household_id"],
                row["enrolled_on"],
                holdout=row["holdout"],
                now=AT,
                key=row["enrolment_key"],
            )
            schedule_steps(engine, eid, plan_steps(playbook, row["enrolled_on"]))
    with engine.connect() as conn:
        skipped = conn.execute(
            sa.select(sa.func.count()).where(step_executions.c.status == SKIPPED)
        ).scalar_one()
        total = conn.execute(sa.select(sa.func.count()).select_from(step_executions)).scalar_one()
    assert total == 40 * len(playbook.steps)
    automated = [step for step in playbook.steps if step.channel != "csm_task"]  # the day-7 call
    assert len(automated) == len(playbook.steps) - 1
    assert skipped == out["holdout"].sum() * len(automated)


# ---------------------------------------------------------------- effect


def trial(
    rng: np.random.Generator,
    n: int,
    treated_rate: float,
    holdout_rate: float,
    playbook: str = "p",
    start: date = date(2026, 1, 1),
) -> tuple[pl.DataFrame, ...]:
    """n households enrolled on one day, half held out, churning within 60 days at the arm's
    rate; value delivery +5 on average for the treated (+0 held out)."""
    ids = [f"{playbook}_{i}" for i in range(n)]
    holdout = rng.random(n) < 0.5
    churns = rng.random(n) < np.where(holdout, holdout_rate, treated_rate)
    at = datetime.combine(start, datetime.min.time(), UTC)
    offsets = rng.uniform(0, 60, n)
    enrolments = pl.DataFrame(
        {"household_id": ids, "playbook": playbook, "holdout": holdout, "enrolled_on": start}
    )
    churn = pl.DataFrame(
        {
            "household_id": ids,
            "churned_at": [
                at + timedelta(days=float(o)) if c else None
                for o, c in zip(offsets, churns, strict=True)
            ],
        },
        schema={"household_id": pl.String, "churned_at": UTC_TS},
    )
    before = rng.normal(50, 10, n)
    after = before + rng.normal(np.where(holdout, 0.0, 5.0), 8, n)
    value = pl.concat(
        [
            pl.DataFrame({"household_id": ids, "as_of": start, "value_delivery_score": before}),
            pl.DataFrame(
                {
                    "household_id": ids,
                    "as_of": start + timedelta(days=60),
                    "value_delivery_score": after,
                }
            ),
        ]
    )
    return enrolments, churn, value


def row(frame: pl.DataFrame, playbook: str, metric: str) -> dict:
    return frame.filter((pl.col("playbook") == playbook) & (pl.col("metric") == metric)).row(
        0, named=True
    )


def test_planted_effect_is_found():
    enrolments, churn, value = trial(np.random.default_rng(7), 4000, 0.12, 0.20)
    out = playbook_effectiveness(enrolments, churn, value, date(2026, 6, 1))
    assert out["metric"].to_list() == ["churn_60d", "churn_90d", "value_delivery_change_60d"]
    churn60 = row(out, "p", "churn_60d")
    assert churn60["treated_n"] + churn60["holdout_n"] == 4000
    assert churn60["ci_high"] < 0 and churn60["ci_low"] < -0.08 < churn60["ci_high"]
    assert churn60["p_value"] < 1e-6
    assert row(out, "p", "churn_90d")["difference"] == churn60["difference"]
    change = row(out, "p", "value_delivery_change_60d")
    assert change["ci_low"] < 5 < change["ci_high"] and change["ci_low"] > 0
    treated = value.join(enrolments, on="household_id").filter(~pl.col("holdout"))
    assert change["treated_n"] == treated.height // 2


def test_no_effect_intervals_cover_zero_at_their_level():
    rng = np.random.default_rng(11)
    trials = [trial(rng, 600, 0.15, 0.15, playbook=f"p{i:03d}") for i in range(200)]
    out = playbook_effectiveness(
        *(pl.concat(part) for part in zip(*trials, strict=True)), date(2026, 6, 1)
    )
    one = row(out, "p000", "churn_60d")
    assert one["ci_low"] < 0 < one["ci_high"]
    rows = out.filter(pl.col("metric") == "churn_60d")
    assert 0.9 <= ((rows["ci_low"] <= 0) & (rows["ci_high"] >= 0)).mean() <= 0.99
    assert 0.02 <= (rows["p_value"] < 0.05).mean() <= 0.1
    # With a planted +5 in value delivery, Welch's interval covers the truth ~95% of the time.
    rows = out.filter(pl.col("metric") == "value_delivery_change_60d")
    assert 0.9 <= ((rows["ci_low"] <= 5) & (rows["ci_high"] >= 5)).mean() <= 0.99


def test_newcombe_and_welch_match_references():
    # Newcombe (1998), Table II example (method 10): 56/70 vs 48/80 -> 0.2, (0.0524, 0.3339).
    ids = [f"h{i}" for i in range(150)]
    holdout = [i >= 70 for i in range(150)]
    churned = [i < 56 or 70 <= i < 118 for i in range(150)]
    start = date(2026, 1, 1)
    enrolments = pl.DataFrame(
        {"household_id": ids, "playbook": "p", "holdout": holdout, "enrolled_on": start}
    )
    churn = pl.DataFrame(
        {
            "household_id": ids,
            "churned_at": [AT.replace(month=1, day=10) if c else None for c in churned],
        },
        schema={"household_id": pl.String, "churned_at": UTC_TS},
    )
    rng = np.random.default_rng(3)
    change = rng.normal(0, 5, 150) + np.array(holdout) * 2
    value = pl.concat(
        [
            pl.DataFrame({"household_id": ids, "as_of": start, "value_delivery_score": 50.0}),
            pl.DataFrame(
                {
                    "household_id": ids,
                    "as_of": start + timedelta(days=60),
                    "value_delivery_score": 50.0 + change,
                }
            ),
        ]
    )
    out = playbook_effectiveness(enrolments, churn, value, date(2026, 6, 1))
    props = row(out, "p", "churn_90d")
    assert props["difference"] == pytest.approx(0.2)
    assert (props["ci_low"], props["ci_high"]) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    welch = row(out, "p", "value_delivery_change_60d")
    reference = stats.ttest_ind(change[:70], change[70:], equal_var=False)
    assert welch["p_value"] == pytest.approx(reference.pvalue)
    ci = reference.confidence_interval(0.95)
    assert (welch["ci_low"], welch["ci_high"]) == pytest.approx((ci.low, ci.high))


def test_only_finished_windows_count():
    start = AS_OF - timedelta(days=120)
    rows = [  # household, holdout, enrolled_on, churned days after enrolment (None: stayed)
        ("done_90", False, AS_OF - timedelta(days=90), 80),  # both windows over, churned in 90
        ("done_60", False, AS_OF - timedelta(days=60), 10),  # only the 60-day window is over
        ("open", False, AS_OF - timedelta(days=59), 5),  # neither window is over yet
        ("gone_before", False, AS_OF - timedelta(days=100), -3),  # churned before enrolment
        ("held", True, AS_OF - timedelta(days=95), None),
    ]
    enrolments = pl.DataFrame(
        [(hh, "p", h, d) for hh, h, d, _ in rows]
        + [("done_90", "p", False, AS_OF - timedelta(days=5))],  # re-enrolled: first counts
        schema=["household_id", "playbook", "holdout", "enrolled_on"],
        orient="row",
    )
    churn = pl.DataFrame(
        {
            "household_id": [hh for hh, *_ in rows],
            "churned_at": [
                None
                if c is None
                else datetime.combine(d, datetime.min.time(), UTC) + timedelta(days=c)
                for _, _, d, c in rows
            ],
        },
        schema={"household_id": pl.String, "churned_at": UTC_TS},
    )
    value = pl.DataFrame(
        {
            "household_id": ["done_60", "done_60", "open", "held", "held"],
            "as_of": [AS_OF - timedelta(days=60), AS_OF, start, start, start],
            "value_delivery_score": [40.0, 55.0, 1.0, 1.0, 1.0],
        }
    )
    out = playbook_effectiveness(enrolments, churn, value, AS_OF)
    c60, c90 = row(out, "p", "churn_60d"), row(out, "p", "churn_90d")
    assert (c60["treated_n"], c60["treated_value"]) == (2, 0.5)  # done_90 stayed 60 days
    assert (c90["treated_n"], c90["treated_value"]) == (1, 1.0)
    assert (c60["holdout_n"], c90["holdout_n"]) == (1, 1)
    change = row(out, "p", "value_delivery_change_60d")
    assert (change["treated_n"], change["treated_value"], change["holdout_n"]) == (1, 15.0, 0)
    assert change["ci_low"] is None and change["p_value"] is None


def test_every_email_template_a_playbook_names_exists():
    from cs_assets.channels.email import template_names

    catalog = load_playbooks()
    emails = {name for name, channel in catalog.templates.items() if channel == "email"}
    assert emails and emails <= set(template_names())


def test_the_documented_example_playbook_loads():
    """The docs' "Writing a playbook" block is valid against the shipped catalog."""
    readme = (Path(__file__).resolve().parents[1] / "docs" / "playbooks-and-delivery.md"
              ).read_text(encoding="utf-8")
    block = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    example = yaml.safe_load(block)
    data = raw_config()
    data["playbooks"].update(example)
    (name,) = example
    assert name in parse_playbooks(data).playbooks
