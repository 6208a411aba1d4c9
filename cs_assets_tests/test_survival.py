"""Survival analysis: covariates from raw tables, a Cox fit that explains degenerate data
instead of crashing, Kaplan-Meier by group, lifetimes and revenue, and the simulator's
planted hazard ratios recovered inside their 95 % intervals."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from cs_assets.dev.simulator.engine import simulate
from cs_assets.dev.simulator.params import Scale, SimulationParams
from cs_assets.survival import (
    fit_cox,
    health_segment,
    kaplan_meier,
    lifetime_table,
    remaining_value,
    survival_frame,
    survival_plot_png,
)
from cs_assets.survival.lifetime import DAYS_PER_MONTH
from cs_assets_tests.factories import REFERENCE, SIGNUP, frame, ts

HH = "household_id"


def _synthetic(n: int = 600, seed: int = 3) -> pl.DataFrame:
    """Exponential churn with log HR -0.5 per x (normal) and -0.7 for group B, whole days,
    censored after 20-200 days (staggered signups)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    group = rng.random(n) < 0.4
    rate = 0.01 * np.exp(-0.5 * x - 0.7 * group)
    t = np.ceil(rng.exponential(1 / rate))
    censor = rng.integers(20, 201, n)
    return pl.DataFrame(
        {
            "x": x,
            "group": np.where(group, "B", "A"),
            "tenure_days": np.minimum(t, censor).astype(np.int64),
            "churned": (t <= censor).astype(np.int8),
        }
    )


# --- Cox fit -----------------------------------------------------------------------------


def test_cox_dummy_codes_strings_against_the_first_level_and_recovers_the_ratios():
    res = fit_cox(_synthetic(), ["x", "group"])
    hr = dict(res.summary.select("covariate", "hazard_ratio").iter_rows())
    assert set(hr) == {"x", "group[B]"}
    assert res.penalizer == 0.0 and res.messages == () and res.dropped.is_empty()
    rows = res.summary.filter(pl.col("covariate") == "group[B]").row(0, named=True)
    assert rows["ci_low"] < np.exp(-0.7) < rows["ci_high"]
    assert 0.6 < res.concordance < 0.8
    assert set(res.ph_test["covariate"]) == {"x", "group[B]"}
    assert res.ph_test["p_value"].is_between(0, 1).all()


def test_constant_covariate_is_dropped_with_a_message():
    res = fit_cox(_synthetic().with_columns(pets=pl.lit(2)), ["x", "pets", "group"])
    assert res.dropped["covariate"].to_list() == ["pets"]
    assert any("pets is constant (2" in m for m in res.messages)
    assert res.summary["covariate"].to_list() == ["x", "group[B]"]
    assert res.penalizer == 0.0


def test_collinear_covariate_is_dropped_naming_what_it_repeats():
    data = _synthetic().with_columns(
        b=(pl.col("group") == "B").cast(pl.Float64),
        y=pl.col("x") * 2 + (pl.col("group") == "B") * 3 + 1,
    )
    res = fit_cox(data, ["x", "group", "y", "b"])
    reasons = dict(res.dropped.iter_rows())
    assert reasons["y"] == "y is a linear combination of x, group[B]: dropped"
    assert reasons["b"] == "b is a linear combination of group[B]: dropped"
    assert res.summary["covariate"].to_list() == ["x", "group[B]"]


def test_complete_separation_is_refitted_with_a_penalizer():
    # Group B churns before day 50, group A only after: the ratio runs off to infinity.
    rng = np.random.default_rng(0)
    b = rng.random(300) < 0.5
    data = pl.DataFrame(
        {
            "group": np.where(b, "B", "A"),
            "x": rng.standard_normal(300),
            "tenure_days": np.where(b, rng.integers(1, 50, 300), rng.integers(50, 100, 300)),
            "churned": np.ones(300, dtype=np.int8),
        }
    )
    res = fit_cox(data, ["group", "x"])
    assert res.penalizer > 0
    assert res.messages[0].startswith("fit with penalizer 0.0 failed: Newton-Raphson")
    assert "refitted with penalizer" in res.messages[-1]
    assert np.isfinite(res.summary["coef"].to_numpy()).all()
    assert res.summary.filter(pl.col("covariate") == "group[B]")["hazard_ratio"].item() > 1


def test_null_covariates_drop_rows_and_say_how_many():
    data = _synthetic().with_columns(
        x=pl.when(pl.int_range(pl.len()) < 25).then(None).otherwise(pl.col("x"))
    )
    res = fit_cox(data, ["x", "group"])
    assert (res.rows_used, res.rows_dropped) == (575, 25)
    assert res.messages == ("25 of 600 rows have a null covariate: dropped",)


def test_nothing_to_fit_is_a_value_error():
    with pytest.raises(ValueError, match="no covariate varies"):
        fit_cox(_synthetic().with_columns(c=pl.lit(1.0)), ["c"])


# --- Kaplan-Meier ------------------------------------------------------------------------


def test_kaplan_meier_medians_logrank_and_plot():
    data = pl.DataFrame(
        {
            "plan": ["Free"] * 4 + ["Premium"] * 4 + [None],
            "tenure_days": [1, 2, 3, 4, 10, 20, 30, 40, 5],
            "churned": [1, 1, 1, 1, 1, 0, 0, 0, 0],
        }
    )
    km = kaplan_meier(data, "plan")
    groups = {r["group"]: r for r in km.groups.iter_rows(named=True)}
    # Free: survival 0.75, 0.5 at day 2 -> median 2. Premium: 0.75 after day 10, then only
    # censoring: never at 0.5, so no median.
    assert groups["Free"]["median_days"] == 2.0 and groups["Free"]["median_reached"]
    assert groups["Premium"]["median_days"] is None and not groups["Premium"]["median_reached"]
    assert (groups["null"]["households"], groups["null"]["churned"]) == (1, 0)
    free = km.curves.filter(pl.col("group") == "Free")
    assert free.filter(pl.col("tenure_days") == 3)["survival"].item() == pytest.approx(0.25)
    assert km.logrank_p is not None and km.logrank_p < 0.05
    assert survival_plot_png(km).startswith(b"\x89PNG")


def test_log_rank_of_identical_groups_is_not_significant_and_one_group_has_none():
    same = pl.DataFrame(
        {
            "g": ["a"] * 5 + ["b"] * 5,
            "tenure_days": [1, 2, 3, 4, 5] * 2,
            "churned": [1, 0, 1, 0, 1] * 2,
        }
    )
    assert kaplan_meier(same, "g").logrank_p == pytest.approx(1.0)
    assert kaplan_meier(same.filter(pl.col("g") == "a"), "g").logrank_p is None


def test_health_segment_uses_the_tier_thresholds():
    scores = pl.DataFrame({"avg_health_first_90d": [None, 39.9, 40.0, 59.9, 60.0]})
    assert scores.select(health_segment()).to_series().to_list() == [
        "unknown",
        "critical",
        "at_risk",
        "at_risk",
        "healthy",
    ]


# --- lifetime and revenue ----------------------------------------------------------------


def test_remaining_value_by_hand():
    # Baseline H0(day) = 0.001 x day on days 1..1000: with r = 2 the conditional survival
    # after any tenure is exp(-0.002 u).
    times = np.arange(1, 1001, dtype=np.float64)
    out = remaining_value(
        times,
        0.001 * times,
        tenure=np.array([100.0, 500.0, 100.0]),
        partial_hazard=np.array([2.0, 2.0, 0.5]),
        mrr=np.array([100.0, 100.0, 0.0]),
        horizon_days=730,
    ).row(0, named=True)
    q = np.exp(-0.002)
    assert out["median_remaining_days"] == 347  # first u with 0.002 u >= ln 2 = 0.693
    assert out["median_lifetime_days"] == 447
    assert out["churn_probability"] == pytest.approx(1 - np.exp(-0.002 * 365))
    assert out["revenue_at_risk"] == pytest.approx(1200 * (1 - np.exp(-0.73)))
    months = q * (1 - q**730) / (1 - q) / DAYS_PER_MONTH  # sum of q^u, u = 1..730
    assert out["expected_remaining_revenue"] == pytest.approx(100 * months)
    assert not out["beyond_follow_up"]


def test_remaining_value_holds_the_baseline_beyond_follow_up_and_flags_it():
    times = np.arange(1, 1001, dtype=np.float64)
    out = remaining_value(
        times,
        0.001 * times,
        tenure=np.array([500.0, 100.0]),
        partial_hazard=np.array([2.0, 0.5]),
        mrr=np.array([100.0, 0.0]),
        horizon_days=730,
    )
    late, slow = out.row(0, named=True), out.row(1, named=True)
    # Tenure 500: hazard only up to day 1000, survival flat after it.
    assert late["beyond_follow_up"]
    assert late["expected_remaining_revenue"] == pytest.approx(
        100 / DAYS_PER_MONTH * (sum(np.exp(-0.002 * u) for u in range(1, 501)) + 230 * np.exp(-1))
    )
    # r = 0.5 after tenure 100: 0.0005 x 900 = 0.45 < ln 2 by day 1000: no median.
    assert slow["median_remaining_days"] is None and not slow["median_reached"]
    assert slow["expected_remaining_revenue"] == 0.0


def test_lifetime_table_matches_lifelines_conditional_survival():
    data = _synthetic(n=2000).with_columns(
        household_id=pl.format("hh_{}", pl.int_range(pl.len())),
        mrr=pl.when(pl.col("group") == "B").then(100.0).otherwise(0.0),
    )
    res = fit_cox(data, ["x", "group"])
    baseline = res.model.baseline_cumulative_hazard_.index.to_numpy()
    assert set(range(1, 201)) <= set(baseline)  # whole days: lifelines' interpolation = steps
    first = data.filter(pl.col("churned") == 0)["household_id"][0]
    data = data.with_columns(x=pl.when(pl.col("household_id") == first).then(None).otherwise("x"))
    table = lifetime_table(res, data)
    active = data.filter(pl.col("churned") == 0)
    assert table["household_id"].to_list() == active["household_id"].to_list()
    assert table.filter(pl.col("covariates_imputed"))["household_id"].to_list() == [first]
    assert (table.filter(pl.col("mrr") == 0)["expected_remaining_revenue"] == 0).all()

    rows = active.filter(pl.col("x").is_not_null()).sort("tenure_days").gather_every(100)
    days = np.arange(0, 366)
    surv = res.model.predict_survival_function(
        res.design.encode(rows).select(res.kept).to_pandas(),
        times=days,
        conditional_after=rows["tenure_days"].to_numpy(),
    ).to_numpy()
    mine = rows.select("household_id").join(table, on="household_id", maintain_order="left")
    for j, row in enumerate(mine.iter_rows(named=True)):
        below = np.flatnonzero(surv[:, j] <= 0.5)
        assert row["median_remaining_days"] == (days[below[0]] if below.size else None)
        assert row["churn_probability"] == pytest.approx(1 - surv[-1, j])


def test_landmark_fit_skips_early_exits_and_flags_younger_households():
    data = _synthetic().with_columns(
        household_id=pl.format("hh_{}", pl.int_range(pl.len())), mrr=pl.lit(10.0)
    )
    early = data.filter(pl.col("tenure_days") < 30).height
    res = fit_cox(data, ["x", "group"], landmark_days=30)
    assert res.rows_used == data.height - early
    assert res.messages == (f"{early} of 600 rows ended before the 30-day landmark: not fitted",)
    table = lifetime_table(res, data)
    assert table["before_landmark"].to_list() == (table["tenure_days"] < 30).to_list()
    assert table["before_landmark"].any()


# --- covariates from raw tables ----------------------------------------------------------


def _events(rows: list[tuple[str, float, str]]) -> pl.DataFrame:
    """Activity events (household, days after SIGNUP, canonical kind) with `event_kind`."""
    return frame(
        "activity_events",
        [
            dict(event_id=f"ev_{i}", household_id=h, occurred_at=ts(d), event_type=kind)
            for i, (h, d, kind) in enumerate(rows)
        ],
    ).with_columns(event_kind=pl.col("event_type"))


def test_survival_frame_from_hand_built_tables():
    households = frame(
        "households",
        [
            dict(household_id="hh_a", created_at=SIGNUP, region="US", email_opt_out=False),
            dict(
                household_id="hh_b",
                created_at=ts(10),
                region="EU",
                email_opt_out=False,
                churned_at=ts(30.5),
            ),
            dict(household_id="hh_c", created_at=REFERENCE, region="EU", email_opt_out=False),
        ],
    )
    members = frame(
        "members",
        [
            dict(user_id="u_a0", household_id="hh_a", role="owner", joined_at=SIGNUP),
            dict(
                user_id="u_a1",
                household_id="hh_a",
                role="member",
                joined_at=ts(0.05),
                removed_at=ts(5),
            ),  # initial, removed later: still initial
            dict(user_id="u_a2", household_id="hh_a", role="member", joined_at=ts(50)),
            dict(user_id="u_b0", household_id="hh_b", role="owner", joined_at=ts(10)),
        ],
    )
    pets = frame(
        "pets",
        [
            dict(
                pet_id=f"pet_{i}",
                household_id="hh_a",
                species="dog",
                added_at=ts(d),
                has_medical_needs=False,
            )
            for i, d in enumerate((0.02, 0.5, 60.0))
        ],
    )
    changes = frame(
        "subscription_changes",
        [
            dict(
                change_id="sc_1",
                household_id="hh_a",
                changed_at=SIGNUP,
                change_type="new",
                to_plan="Free",
                mrr_after=0.0,
            ),
            dict(
                change_id="sc_2",
                household_id="hh_a",
                changed_at=ts(40),
                change_type="upgrade",
                from_plan="Free",
                to_plan="Premium",
                mrr_after=100.0,
            ),
            dict(
                change_id="sc_3",
                household_id="hh_b",
                changed_at=ts(10),
                change_type="new",
                to_plan="Enterprise",
                mrr_after=500.0,
            ),
            dict(
                change_id="sc_4",
                household_id="hh_b",
                changed_at=ts(30.5),
                change_type="cancel",
                from_plan="Enterprise",
                mrr_after=0.0,
            ),
        ],
    )
    events = _events(
        [
            ("hh_a", 20, "analytics_viewed"),  # before becoming paid
            ("hh_a", 41, "calendar_sync_setup"),
            ("hh_a", 45, "analytics_viewed"),
            ("hh_a", 50, "analytics_viewed"),  # same feature again
            ("hh_a", 75, "template_created"),  # 35 paid days: too late
            ("hh_a", 42, "task_completed"),  # not a Premium feature
            ("hh_b", 25, "priority_support_used"),
        ]
    )
    day = SIGNUP.date()
    health = pl.DataFrame(
        {
            "household_id": ["hh_a"] * 4,
            "as_of": [
                day,
                day + timedelta(days=7),
                day + timedelta(days=59),
                day + timedelta(days=91),
            ],
            "health_score": [0.0, 50.0, 70.0, 10.0],  # signup midnight and day 91: outside
        }
    )
    out = survival_frame(households, members, pets, changes, events, health, REFERENCE)
    a, b = out.rows(named=True)
    assert a == dict(
        household_id="hh_a",
        signup_at=SIGNUP,
        tenure_days=151,
        churned=0,
        plan_type="Free",
        initial_pets=2,
        initial_members=2,
        avg_health_first_90d=60.0,
        premium_features_first_30d=2,
        plan_at_signup="Free",
        current_plan="Premium",
        mrr=100.0,
    )
    assert b == dict(
        household_id="hh_b",
        signup_at=ts(10),
        tenure_days=20,
        churned=1,
        plan_type="Premium",
        initial_pets=0,
        initial_members=1,
        avg_health_first_90d=None,
        premium_features_first_30d=1,
        plan_at_signup="Enterprise",
        current_plan=None,
        mrr=0.0,
    )


# --- the simulator's planted hazard ratios -----------------------------------------------

PLANTED = {
    "premium_at_signup": SimulationParams().hr_premium,
    "initial_pets": SimulationParams().hr_pet,
    "initial_members": SimulationParams().hr_member,
    "premium_features_first_30d": SimulationParams().hr_premium_feature,
    "health_equivalent": SimulationParams().hr_health_point,
}


def test_ph_only_simulation_recovers_every_planted_ratio_inside_its_interval(tmp_path: Path):
    """The pure proportional-hazards world, fitted on its truth covariates.

    The Premium-feature term is time-varying in the simulator (it starts when the household
    becomes paid), but PH-only mode has no upgrades: only households paid at signup have
    features, so the term applies from signup and the static covariate is the exact model.
    A week of activity is enough: the truth does not depend on the events.
    """
    end = date(2026, 11, 1)
    scale = Scale(households=5000, signup_spread_days=730, activity_days=7)
    simulate(tmp_path, households=5000, end_date=end, seed=7, scale=scale, ph_only=True)
    signup = pl.read_parquet(tmp_path / "households.parquet").select("household_id", "created_at")
    truth = pl.read_parquet(tmp_path / "_truth" / "households.parquet").join(signup, on=HH)
    stop = pl.col("churned_at").fill_null(datetime(end.year, end.month, end.day, tzinfo=UTC))
    data = truth.with_columns(
        tenure_days=(stop - pl.col("created_at")).dt.total_days(),
        churned=pl.col("churned_at").is_not_null().cast(pl.Int8),
    )
    res = fit_cox(data, list(PLANTED))
    assert (res.penalizer, res.messages) == (0.0, ())
    for row in res.summary.iter_rows(named=True):
        assert row["ci_low"] < PLANTED[row["covariate"]] < row["ci_high"], row
