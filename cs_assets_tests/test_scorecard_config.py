"""The scorecard YAML: shipped values are the spec's defaults, and every bad value is an error at
load time that names its key path."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from cs_assets.scoring.config import (
    DEFAULT_SCORECARD_PATH,
    Scorecard,
    ScorecardError,
    load_scorecard,
    parse_scorecard,
)


def _defaults() -> dict:
    return Scorecard().model_dump(mode="json")


def _with(path: str, value: object) -> dict:
    """The default scorecard as a mapping with one dotted key replaced (or added)."""
    data = copy.deepcopy(_defaults())
    *parents, leaf = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    node[leaf] = value
    return data


def _error(data: object) -> str:
    with pytest.raises(ScorecardError) as exc:
        parse_scorecard(data)
    return str(exc.value)


def test_shipped_yaml_spells_out_every_default():
    """Every key is written out in the file (CS ops tune what they can see), with the spec's
    values: the file and the built-in defaults are the same scorecard. The one exception,
    `premium_adoption.plans`, follows product.yaml's Premium plans unless given."""
    raw = yaml.safe_load(DEFAULT_SCORECARD_PATH.read_text(encoding="utf-8"))
    defaults = _defaults()
    assert defaults["premium_adoption"].pop("plans") == ["Premium"]
    assert raw == defaults
    assert load_scorecard() == Scorecard()


def test_defaults_are_the_specs_values():
    sc = Scorecard()
    assert dict(sc.health_weights) == {
        "product_usage": 0.25, "feature_adoption": 0.15, "support": 0.10, "engagement": 0.10,
        "payment": 0.10, "value_delivery": 0.30,
    }
    assert dict(sc.health_weights_old) == {
        "product_usage": 0.40, "feature_adoption": 0.20, "support": 0.15, "engagement": 0.15,
        "payment": 0.10, "value_delivery": 0.0,
    }
    assert (sc.tiers.critical_below, sc.tiers.critical_min_alerts) == (40, 3)
    assert (sc.tiers.at_risk_below, sc.tiers.at_risk_min_alerts) == (60, 1)
    assert sc.trend_alerts.task_completion.change_below == -0.30
    assert sc.trend_alerts.task_completion.current_above == 10
    assert sc.trend_alerts.active_users.change_below == -0.50
    assert sc.trend_alerts.session_duration.severity == "warning"
    assert (sc.premium_adoption.risk.min_days_since_upgrade,
            sc.premium_adoption.risk.score_below) == (30, 40)
    assert (sc.windows.trend_days, sc.windows.trend_previous_days,
            sc.windows.lookback_days) == (30, 30, 90)


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("health_weights.value_delivery", 0.35,
         "health_weights: weights must sum to 1.0, got 1.05"),
        ("health_weights_old.support", 0.10,
         "health_weights_old: weights must sum to 1.0, got 0.95"),
        ("health_weights.payment", -0.10,
         "health_weights.payment: Input should be greater than or equal to 0"),
        ("product_usage.logins", {"weight": 0.4, "target": 20},
         "product_usage: weights must sum to 1.0, got 1.1"),
        ("tiers.critical_below", 60, "tiers.critical_below: must be < tiers.at_risk_below"),
        ("tiers.at_risk_min_alerts", 4,
         "tiers.at_risk_min_alerts: must be <= tiers.critical_min_alerts"),
        ("value_delivery.task_trend.growth_above", 0.30,
         "value_delivery.task_trend.growth_above: must be < "
         "value_delivery.task_trend.strong_growth_above"),
        ("value_delivery.task_trend.strong_decline_below", -0.05,
         "value_delivery.task_trend.strong_decline_below: must be < "
         "value_delivery.task_trend.decline_below"),
        ("value_delivery.task_trend.decline_below", 0.05,
         "value_delivery.task_trend.decline_below: Input should be less than 0"),
        ("support_engagement.moderate_volume.csat_good_at_least", 4.6,
         "support_engagement.moderate_volume.csat_good_at_least: must be <= "
         "support_engagement.moderate_volume.csat_great_at_least"),
        ("support_engagement.high_volume.above_tickets", 2,
         "support_engagement.high_volume.above_tickets: must be >= "
         "support_engagement.moderate_volume.max_tickets"),
        ("support_engagement.no_tickets.silent_points", 5,
         "support_engagement.no_tickets.silent_points: Input should be less than or equal to 0"),
        ("premium_adoption.onboarding_points", 20,
         "premium_adoption: maximum points must sum to 100, got 110"),
        ("premium_adoption.analytics.some_at_least", 5,
         "premium_adoption.analytics.some_at_least: must be < "
         "premium_adoption.analytics.high_at_least"),
        ("windows.lookback_days", -90,
         "windows.lookback_days: Input should be greater than 0"),
        ("support_health_old.points_per_ticket", 15,
         "support_health_old.points_per_ticket: Input should be less than or equal to 0"),
        ("engagement.recency.full_within_days", 30,
         "engagement.recency.full_within_days: must be < engagement.recency.zero_after_days"),
        ("tiers.critical_min_alerts", "three",
         "tiers.critical_min_alerts: Input should be a valid integer"),
        ("tiers.critical_min_alerts", 2.5,
         "tiers.critical_min_alerts: Input should be a valid integer"),
        ("trend_alerts.session_duration.severity", "urgent",
         "trend_alerts.session_duration.severity: Input should be 'warning' or 'critical'"),
        ("tiers.critical_bellow", 30, "tiers.critical_bellow: Extra inputs are not permitted"),
        ("churn_bins", [0.15], "churn_bins: Extra inputs are not permitted"),
    ],
)
def test_invalid_values_name_their_key(path, value, expected):
    assert expected in _error(_with(path, value))


def test_every_error_is_reported_at_once():
    data = _with("tiers.critical_below", "low")
    data["windows"]["trend_days"] = 0
    message = _error(data)
    assert "tiers.critical_below: Input should be a valid number" in message
    assert "windows.trend_days: Input should be greater than 0" in message


def test_a_partial_file_keeps_the_other_defaults(tmp_path: Path):
    path = tmp_path / "scorecard.yaml"
    path.write_text("tiers:\n  at_risk_below: 65\n", encoding="utf-8")
    sc = load_scorecard(path)
    assert sc.tiers.at_risk_below == 65
    assert sc.tiers.critical_below == 40
    assert sc.health_weights == Scorecard().health_weights


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- just\n- a list\n", "scorecard must be a mapping of sections, got list"),
        ("", "scorecard must be a mapping of sections, got NoneType"),
        ("tiers: [unclosed\n", "cannot read scorecard"),
        ("health_weights:\n  support: 0.2\n", "health_weights: weights must sum to 1.0, got 1.1"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path: Path, text: str, expected: str):
    path = tmp_path / "scorecard.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScorecardError) as exc:
        load_scorecard(path)
    assert str(path) in str(exc.value)
    assert expected in str(exc.value)


def test_missing_file_is_a_scorecard_error(tmp_path: Path):
    with pytest.raises(ScorecardError, match="cannot read scorecard"):
        load_scorecard(tmp_path / "absent.yaml")


def test_scorecard_error_is_a_value_error():
    assert issubclass(ScorecardError, ValueError)
