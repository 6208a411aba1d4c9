"""The product's own signals: per event type a window count, a per-active-day rate, a trend
and the days since the last one, configured ratios and per-user rates; the same as-of
discipline as every feature."""

import polars as pl
import pytest

from cs_assets.churn.design import design_columns, design_matrix
from cs_assets.contract.events import load_event_mapping
from cs_assets.features.household import FeatureInputs, features_as_of, features_for_days
from cs_assets.features.product_signals import (
    METRICS_CONFIG,
    MetricsConfig,
    MetricsConfigError,
    column_stem,
)
from cs_assets.ingestion.rules import event_kind_expr
from cs_assets_tests import factories as f
from cs_assets_tests.test_features import AS_OF, event


def build(events: list[dict], config: MetricsConfig | None = None, **kwargs) -> FeatureInputs:
    frame = f.frame("activity_events", events).with_columns(
        event_kind=event_kind_expr(load_event_mapping()))
    raw = {name: f.frame(name, []) for name in
           ("support_tickets", "payments", "pet_health_observations")}
    return FeatureInputs.build(
        activity_events=frame, households=f.households(), members=f.members(), pets=f.pets(),
        subscription_changes=f.subscription_changes(), metrics=config or MetricsConfig(),
        **raw, **kwargs)


def signals(inp: FeatureInputs) -> dict:
    out = features_as_of(inp, AS_OF).filter(pl.col("household_id") == "hh_1")
    return {c: v for c, v in out.row(0, named=True).items() if c.startswith("ev_")}


EVENTS = (
    # current window (28 days before AS_OF): 6 invoices on 3 days, a login on a 4th day
    [event(i, 2 + i % 3, "invoice_sent") for i in range(6)]
    + [event(10, 20, "app_login")]
    # previous window: 3 invoices, 2 exports
    + [event(20 + i, 30 + i, "invoice_sent") for i in range(3)]
    + [event(30 + i, 40 + i, "report_exported") for i in range(2)]
)


def test_each_event_type_gets_a_count_a_rate_a_trend_and_a_recency():
    got = signals(build(EVENTS))
    assert got["ev_invoice_sent_28d"] == 6
    assert got["ev_invoice_sent_per_active_day_28d"] == pytest.approx(6 / 4)
    assert got["ev_invoice_sent_trend"] == pytest.approx(1.0)  # 6 against 3
    assert got["ev_report_exported_28d"] == 0
    assert got["ev_report_exported_trend"] == pytest.approx(-1.0)  # stopped
    assert got["ev_app_login_28d"] == 1 and got["ev_app_login_trend"] is None  # no baseline
    # days since the last one: the day before the as-of day is 1
    assert got["ev_invoice_sent_days_since_last"] == 2
    assert got["ev_app_login_days_since_last"] == 20
    assert got["ev_report_exported_days_since_last"] == 40  # in the previous window


def test_a_household_without_events_has_none_for_longer_than_the_two_windows():
    quiet = [dict(e, household_id="hh_2") for e in EVENTS[:1]]  # hh_1 has none
    alone = features_as_of(build(quiet), AS_OF).filter(pl.col("household_id") == "hh_1")
    assert alone["ev_invoice_sent_days_since_last"][0] == 57  # 2 x 28 + 1
    assert alone["ev_invoice_sent_28d"][0] == 0


def test_events_at_or_after_the_as_of_instant_change_nothing():
    before = signals(build(EVENTS))
    later = [event(90 + i, -i, "invoice_sent") for i in range(5)]  # at AS_OF midnight, after
    assert signals(build(EVENTS + later)) == before


def test_the_columns_do_not_depend_on_the_days_a_run_covers():
    """A type seen only long ago still has its columns (0 in the window): every day of every
    run has the same columns, so a model's inputs exist when it scores."""
    old = [event(200, 400, "bank_sync")]
    inp = build(EVENTS + old, as_of_days=[AS_OF])
    assert signals(inp)["ev_bank_sync_28d"] == 0
    days = features_for_days(build(EVENTS + old), [AS_OF])
    assert "ev_bank_sync_trend" in days.columns


def test_ratios_and_per_user_rates_only_when_configured():
    two_users = EVENTS + [event(40 + i, 3, "invoice_created") for i in range(3)] + [
        event(50, 3, "invoice_sent", user="u_9")]
    config = METRICS_CONFIG.parse({
        "ratios": [{"name": "sent_per_created", "numerator": "invoice_sent",
                    "denominator": "invoice_created"}],
        "per_user": ["invoice_sent"]})
    got = signals(build(two_users, config))
    assert got["ev_ratio_sent_per_created_28d"] == pytest.approx(7 / 3)
    assert got["ev_invoice_sent_per_user_28d"] == pytest.approx(7 / 2)
    assert "ev_ratio_sent_per_created_28d" not in signals(build(two_users))


def test_configuration_errors_name_the_key():
    with pytest.raises(MetricsConfigError, match=r"per_event_type\.0"):
        METRICS_CONFIG.parse({"per_event_type": ["median"]})
    with pytest.raises(MetricsConfigError, match="window_days"):
        METRICS_CONFIG.parse({"window_days": 3})
    config = METRICS_CONFIG.parse({"per_user": ["no_such_event"]})
    with pytest.raises(MetricsConfigError, match=r"per_user\.0: 'no_such_event' is not an event"):
        build(EVENTS, config)


def test_names_are_column_safe_and_kept_apart():
    assert column_stem("Sign-In (web)") == "ev_sign_in_web"
    inp = build([event(1, 2, "Sign-In"), event(2, 2, "sign_in")])
    assert {"ev_sign_in_28d", "ev_sign_in_2_28d"} <= set(signals(inp))


def test_the_model_takes_the_signals_the_frame_carries():
    frame = features_as_of(build(EVENTS), AS_OF)
    columns = design_columns(frame)
    assert "ev_invoice_sent_trend" in columns and "logins_30d" in columns
    X = design_matrix(frame.with_columns(pl.lit(50.0).alias(c) for c in (
        "product_usage_score", "feature_adoption_score", "support_engagement_score",
        "engagement_score", "payment_health_score", "value_delivery_score", "health_score")))
    assert list(X.columns) == list(columns)
    with pytest.raises(KeyError, match="ev_gone_28d"):
        design_matrix(frame, ("logins_30d", "ev_gone_28d"))


def test_one_day_and_a_range_give_the_same_signals():
    events = EVENTS + [event(60 + i, 1 + i, "bank_sync", user=f"u_{i % 3}") for i in range(40)]
    config = METRICS_CONFIG.parse({"per_user": ["bank_sync"], "ratios": [
        {"name": "sync_per_invoice", "numerator": "bank_sync", "denominator": "invoice_sent"}]})
    one_day = signals(build(events, config, as_of_days=[AS_OF]))
    ranged = signals(build(events, config))
    assert one_day == ranged and one_day["ev_bank_sync_per_user_28d"] == pytest.approx(28 / 3)
