"""Churn logic without Dagster or MLflow: observations, labels, split, design, risk, gate."""

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import numpy as np
import polars as pl
import pytest
from scipy.special import logit
from sklearn.ensemble import HistGradientBoostingClassifier

from cs_assets.churn.candidates import CANDIDATES
from cs_assets.churn.dataset import (
    LABEL,
    Split,
    label_observations,
    out_of_time_split,
    snapshot_days,
)
from cs_assets.churn.design import DESIGN_COLUMNS, design_matrix
from cs_assets.churn.explain import shap_values, top_drivers
from cs_assets.churn.metrics import early_warning_recall, top_decile_lift
from cs_assets.churn.promotion import decide
from cs_assets.churn.risk import risk_rank, risk_segment
from cs_assets.churn.snapshots import features_and_scores
from cs_assets.churn.training import train_candidate
from cs_assets.scoring import load_scorecard
from cs_assets_tests.test_features import AS_OF, event, inputs

REF = datetime(2026, 11, 1, tzinfo=UTC)


def _at(day: date, hours: float = 0) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hours)


# --- observation days and labels ---------------------------------------------------------


def test_snapshot_days_are_weekly_back_from_the_reference_day():
    days = snapshot_days(REF, date(2026, 10, 1), 7)
    assert days[-1] == date(2026, 11, 1)
    assert days[0] == date(2026, 10, 4)  # 2026-09-27 is before `since`
    assert all((b - a).days == 7 for a, b in pairwise(days))


def test_label_is_churn_in_the_30_days_from_the_as_of_instant():
    d = date(2026, 9, 1)
    churn = pl.DataFrame({
        "household_id": ["before", "at_start", "last_us", "at_end", "never"],
        "churned_at": [_at(d, -1), _at(d), _at(d + timedelta(days=30)) - timedelta(microseconds=1),
                       _at(d + timedelta(days=30)), None],
    }, schema={"household_id": pl.String, "churned_at": pl.Datetime("us", "UTC")})
    snaps = pl.DataFrame({"household_id": churn["household_id"], "as_of": [d] * 5})
    labelled = label_observations(snaps, churn, REF)
    assert dict(labelled.select("household_id", LABEL).iter_rows()) == {
        "before": False, "at_start": True, "last_us": True, "at_end": False, "never": False}


def test_observations_whose_label_window_is_not_over_are_left_out():
    churn = pl.DataFrame({"household_id": ["a"], "churned_at": [None]},
                         schema={"household_id": pl.String, "churned_at": pl.Datetime("us", "UTC")})
    days = [REF.date() - timedelta(days=k) for k in (31, 30, 29)]
    snaps = pl.DataFrame({"household_id": ["a"] * 3, "as_of": days})
    kept = label_observations(snaps, churn, REF)["as_of"].to_list()
    assert kept == days[:2]  # a window ending exactly at the reference instant is over


def _observations(days: list[date], per_day: int = 4) -> pl.DataFrame:
    rows = [{"household_id": f"h{i}", "as_of": d, LABEL: i == 0}
            for d in days for i in range(per_day)]
    return pl.DataFrame(rows)


def test_out_of_time_split_embargoes_labels_that_reach_into_the_holdout():
    days = [date(2026, 1, 4) + timedelta(days=7 * k) for k in range(30)]
    split = out_of_time_split(_observations(days), holdout_days=56, label_days=30)
    test_days = sorted(set(split.test["as_of"]))
    assert test_days == days[-8:]  # within 56 days of the last day: 8 weekly days
    assert split.train["as_of"].max() + timedelta(days=30) <= test_days[0]
    assert split.train["as_of"].max() == days[-13]  # -12 is only 28 days before the test
    assert split.train_last_day == test_days[0] - timedelta(days=30)


def test_split_refuses_a_history_too_short_to_train_on():
    days = [date(2026, 1, 4) + timedelta(days=7 * k) for k in range(6)]
    with pytest.raises(ValueError, match="no training observations"):
        out_of_time_split(_observations(days), holdout_days=28, label_days=30)


def test_split_needs_both_classes():
    days = [date(2026, 1, 4) + timedelta(days=7 * k) for k in range(20)]
    obs = _observations(days).with_columns(pl.lit(False).alias(LABEL))
    with pytest.raises(ValueError, match="churners and non-churners"):
        out_of_time_split(obs, holdout_days=28)


def test_training_features_never_see_the_label_window():
    """Events at or after an as-of instant (inside its label window) change nothing that day."""
    day = AS_OF
    before = [event(i, days_before=i, kind="task_completion") for i in range(1, 8)]
    after = [event(100 + i, days_before=-i * 0.5, kind=kind)
             for i, kind in enumerate(["task_completion", "app_login", "task_completion"])]
    card = load_scorecard()
    seen = features_and_scores(inputs(before), [day], card)
    assert seen["tasks_completed_30d"].item() == 7
    assert features_and_scores(inputs(before + after), [day], card).equals(seen)


# --- design matrix ------------------------------------------------------------------------


def _frame(**overrides) -> pl.DataFrame:
    row = {c: 1.0 for c in DESIGN_COLUMNS if "=" not in c}
    row.update(plan="Premium", payment_status="failed", **overrides)
    return pl.DataFrame([row])


def test_design_matrix_has_fixed_columns_whatever_levels_appear():
    X = design_matrix(_frame())
    assert tuple(X.columns) == DESIGN_COLUMNS
    assert X["plan=Premium"].item() == 1.0 and X["plan=Free"].item() == 0.0
    assert X["payment_status=failed"].item() == 1.0
    assert X.dtypes.unique().tolist() == [np.dtype("float64")]


def test_design_matrix_keeps_missing_as_nan_and_names_missing_columns():
    X = design_matrix(_frame(avg_csat_90d=None))
    assert np.isnan(X["avg_csat_90d"].item())
    with pytest.raises(KeyError, match="logins_30d"):
        design_matrix(_frame().drop("logins_30d"))
    with pytest.raises(KeyError, match="unknown"):
        design_matrix(_frame(), ("logins_30d", "made_up"))


def test_design_matrix_follows_a_models_column_order():
    X = design_matrix(_frame(logins_30d=7.0), ("plan=Premium", "logins_30d"))
    assert list(X.columns) == ["plan=Premium", "logins_30d"]
    assert X.iloc[0].tolist() == [1.0, 7.0]


# --- risk segments, metrics, gate ---------------------------------------------------------


@pytest.mark.parametrize(("p", "segment"), [
    (0.0, "Low"), (0.15, "Low"), (0.1500001, "Medium"), (0.35, "Medium"), (0.36, "High"),
    (0.55, "High"), (0.5500001, "Critical"), (1.0, "Critical"), (None, None)])
def test_risk_segments_use_the_spec_bins_with_zero_in_low(p, segment):
    frame = pl.DataFrame({"p": [p]}, schema={"p": pl.Float64})
    assert frame.select(risk_segment(pl.col("p")).cast(pl.String)).item() == segment


def test_risk_rank_is_one_for_the_riskiest_of_each_day():
    frame = pl.DataFrame({"day": [1, 1, 1, 2], "p": [0.2, 0.9, 0.2, 0.1]})
    ranks = frame.select(risk_rank(pl.col("p")).over("day"))["p"].to_list()
    assert ranks == [2, 1, 2, 1]  # ties share the better rank


def test_top_decile_lift():
    y = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1] * 2)  # base rate 0.2
    p = np.arange(20) / 20.0
    p[0], p[19] = 0.99, 0.0  # top 2: the first churner and a non-churner -> rate 0.5
    assert top_decile_lift(y, p) == pytest.approx(0.5 / 0.2)
    assert np.isnan(top_decile_lift(np.zeros(5), np.ones(5)))


def test_early_warning_recall_flags_the_riskiest_share_each_day():
    days = [date(2026, 1, 1) + timedelta(days=k) for k in range(70)]
    churn_day = days[-1]
    scored = pl.DataFrame([
        {"household_id": h, "as_of": d, "churn_probability": p}
        for d in days for h, p in (("churner", 0.9), *((f"q{i}", 0.1) for i in range(9)))
    ])
    churn = pl.DataFrame({"household_id": ["churner"], "churned_at": [_at(churn_day, 3)]})
    assert early_warning_recall(scored, churn) == 1.0
    inverted = scored.with_columns((1 - pl.col("churn_probability")).alias("churn_probability"))
    assert early_warning_recall(inverted, churn) == 0.0


@pytest.mark.parametrize(("challenger", "champion", "promote"), [
    (0.80, None, True), (0.80, 0.79, True), (0.7949, 0.79, False), (0.70, 0.79, False)])
def test_promotion_gate(challenger, champion, promote):
    decision = decide("roc_auc", challenger, champion, margin=0.005)
    assert decision.promote is promote
    assert decision.challenger == challenger and decision.champion == champion


def test_promotion_margin_must_not_be_negative():
    with pytest.raises(ValueError, match="margin"):
        decide("roc_auc", 0.8, 0.7, margin=-0.1)


# --- explanations ---------------------------------------------------------------------------


def _toy(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = design_matrix(pl.DataFrame([{**{c: float(v) for c, v in zip(
        [c for c in DESIGN_COLUMNS if "=" not in c], rng.normal(size=60), strict=False)},
        "plan": "Free", "payment_status": "current"} for _ in range(400)]))
    y = (X["days_since_last_login"] + 0.3 * rng.normal(size=400) > 0.5).astype(int).to_numpy()
    return X, y


@pytest.mark.parametrize("name", sorted(CANDIDATES))
def test_shap_values_add_up_to_each_candidates_log_odds(name):
    X, y = _toy()
    model = CANDIDATES[name](0).set_params(**(
        {"model__n_estimators": 20} if name == "spec_gbm" else {}))
    model.fit(X, y)
    values = shap_values(model, X.head(20))
    margin = logit(model.predict_proba(X.head(20))[:, 1])
    centred = margin - values.sum(axis=1)  # the explainer's base value, the same for every row
    assert np.allclose(centred, centred[0], atol=1e-4)


def test_top_drivers_name_what_raised_the_risk():
    X, y = _toy()
    model = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(X, y)
    risky = X[X["days_since_last_login"] > 1.5].head(3)
    for drivers in top_drivers(model, risky):
        assert drivers.split(" = ")[0] == "days_since_last_login"
        assert "(+" in drivers


# --- inputs a product may not have ----------------------------------------------------------


def _observations_with_gaps(rows: int, day: date, seed: int) -> pl.DataFrame:
    """Random design inputs; `avg_csat_90d` all null and `tickets_90d` constant, as on a
    product without support tickets."""
    rng = np.random.default_rng(seed)
    numeric = [c for c in DESIGN_COLUMNS if "=" not in c]
    frame = pl.DataFrame({c: rng.normal(size=rows) for c in numeric}).with_columns(
        avg_csat_90d=pl.lit(None, pl.Float64), tickets_90d=pl.lit(0.0),
        plan=pl.lit("Free"), payment_status=pl.lit("current"),
        household_id=pl.Series([f"hh_{i}" for i in range(rows)]), as_of=pl.lit(day))
    return frame.with_columns(
        (pl.col("days_since_last_login") + 0.5 * pl.Series(rng.normal(size=rows)) > 1.0)
        .alias(LABEL))


@pytest.mark.parametrize("name", sorted(CANDIDATES))
def test_every_candidate_fits_without_all_null_and_constant_columns_and_names_them(name):
    split = Split(train=_observations_with_gaps(600, date(2026, 3, 1), 1),
                  test=_observations_with_gaps(300, date(2026, 5, 1), 2),
                  test_first_day=date(2026, 5, 1), train_last_day=date(2026, 3, 1))
    churn = pl.DataFrame({"household_id": ["hh_0"], "churned_at": [_at(date(2026, 6, 10))]})
    result = train_candidate(name, split, churn, seed=0)
    assert result.dropped["avg_csat_90d"] == "all null"
    assert result.dropped["tickets_90d"] == "constant 0"
    assert result.dropped["plan=Free"] == "constant 1"  # one plan only
    assert "avg_csat_90d" not in result.columns and "days_since_last_login" in result.columns
    assert result.metrics["roc_auc"] > 0.7  # it learned from what was left
