"""A product with only the required tables: the optional ones are absent, their features null
("not available"), the score components they alone feed drop out with their weight shared."""

import polars as pl
import pytest
from dagster import AssetKey

from cs_assets.cli import main
from cs_assets.contract.events import EventKind, load_event_mapping
from cs_assets.contract.tables import OPTIONAL_TABLES, REQUIRED_TABLES
from cs_assets.features.household import SOURCE_FEATURES, missing_sources, unavailable_features
from cs_assets.scoring import load_scorecard
from cs_assets.scoring.health import health_components, redistributed
from cs_assets_tests import factories as f
from cs_assets_tests.test_health_assets import DAY_2, backfill_two_days, busy_household

TICKETLESS = frozenset({"members", "pets", "pet_health_observations", "support_tickets",
                        "payments", "nps_responses", "success_plans", "referral_codes",
                        "reviews"})


def test_required_tables_are_the_households_their_events_and_plan_history():
    assert set(REQUIRED_TABLES) == {"households", "activity_events", "subscription_changes"}
    assert set(OPTIONAL_TABLES) == TICKETLESS


def write_only(folder, tables: dict[str, pl.DataFrame], names) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        tables.get(name, f.frame(name, [])).write_parquet(folder / f"{name}.parquet")


def run(tmp_path, names):
    write_only(tmp_path / "raw", busy_household(), names)
    return backfill_two_days(tmp_path, raise_on_error=False)


@pytest.fixture(scope="module")
def required_only(tmp_path_factory):
    return run(tmp_path_factory.mktemp("required_only"), REQUIRED_TABLES)


def test_the_daily_chain_runs_on_the_required_tables_alone(required_only):
    result, _ = required_only
    assert result.success
    absent = next(e for e in result.get_asset_check_evaluations()
                  if e.asset_key == AssetKey("support_tickets") and e.check_name == "not_empty")
    assert absent.passed and absent.metadata["present"].value is False
    assert "optional table this product does not provide" in absent.description


def test_features_of_an_absent_table_are_null_and_named(required_only):
    result, out = required_only
    features = pl.read_parquet(out / "household_features" / f"{DAY_2.isoformat()}.parquet")
    for column in sorted(unavailable_features(TICKETLESS)):
        assert features[column].null_count() == features.height, column
    assert features["tasks_completed_30d"].item() == 12  # what the events give stays
    mat = next(e.event_specific_data.materialization
               for e in result.get_asset_materialization_events()
               if e.event_specific_data.materialization.asset_key
               == AssetKey("household_features"))
    assert mat.metadata["not_available"].value["support_tickets"] == list(
        SOURCE_FEATURES["support_tickets"])


def test_a_household_without_tickets_keeps_its_real_zero(tmp_path):
    result, out = run(tmp_path, [*REQUIRED_TABLES, "support_tickets", "payments"])
    assert result.success  # both written empty: present, and nobody has a row in them
    features = pl.read_parquet(out / "household_features" / f"{DAY_2.isoformat()}.parquet")
    assert features["tickets_90d"].to_list() == [0]
    scores = pl.read_parquet(out / "health_scores" / f"{DAY_2.isoformat()}.parquet")
    assert scores["payment_health_score"].null_count() == 0


def test_components_without_inputs_drop_out_and_their_weight_is_shared(required_only):
    _, out = required_only
    scores = pl.read_parquet(out / "health_scores" / f"{DAY_2.isoformat()}.parquet")
    assert scores["payment_health_score"].to_list() == [None]
    assert scores["health_score"].null_count() == 0
    card = load_scorecard()
    kept = health_components(card, unavailable_features(TICKETLESS))
    weights = redistributed(card.health_weights, kept)
    expected = round(sum(scores[kept[k].score_column].item() * w for k, w in weights.items()))
    assert scores["health_score"].item() == expected
    assert any(r.startswith("payment not available") for r in scores["reasons"].item())


def test_weights_are_shared_in_proportion():
    card = load_scorecard()
    weights = redistributed(card.health_weights, ["product_usage", "value_delivery"])
    assert weights == pytest.approx({"product_usage": 0.25 / 0.55, "value_delivery": 0.30 / 0.55})
    assert redistributed(card.health_weights, dict(card.health_weights)) == dict(
        card.health_weights)


def test_a_required_table_absent_fails_naming_it(tmp_path):
    result, _ = run(tmp_path, ["households", "activity_events"])
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "subscription_changes" in str(failure.event_specific_data.error)
    assert "required table" in str(failure.event_specific_data.error)


def test_factories_write_every_table(tmp_path):
    """The other tests' raw folders hold every table, empty where not given: none absent."""
    f.write_raw(tmp_path, f.minimal_raw())
    assert {p.stem for p in tmp_path.glob("*.parquet")} == set(REQUIRED_TABLES) | TICKETLESS


def test_the_preflight_names_what_is_absent_null_and_off(tmp_path, capsys):
    write_only(tmp_path, busy_household(), ["households", "activity_events", "pets"])
    with pytest.raises(SystemExit) as exit_:
        main(["check-data", "--raw-dir", str(tmp_path)])
    assert exit_.value.code == 1  # subscription_changes is required
    out = capsys.readouterr().out
    assert "| subscription_changes | required | absent |" in out
    assert "| pets | optional | 1 |" in out
    assert "REQUIRED TABLE(S) ABSENT: subscription_changes" in out
    assert "- without support_tickets: tickets_90d, avg_csat_90d" in out
    assert "- payment not available for this product" in out
    assert "- support_engagement_nudges: household_features: tickets_90d" in out
    assert "- review_request_candidates: nps_responses" in out
    assert "| 'task_completion' | 43 | task_completed |" in out  # 1 + 30 + 12


def test_kinds_the_mapping_never_gives_are_missing_sources_and_score_nothing():
    """No event type is a feature event: adoption is not available (null), not 0 for all."""
    mapping = {"sign_in": EventKind.LOGIN, "invoice_sent": EventKind.TASK_COMPLETED}
    sources = missing_sources({"pets"}, mapping)
    assert sources == {"pets", "activity_events.feature_used"}
    assert missing_sources((), load_event_mapping()) == frozenset()  # PetForce maps them all
    unavailable = unavailable_features(sources)
    assert {"features_used_90d", "new_features_adopted_90d"} <= unavailable
    assert "logins_30d" not in unavailable
    kept = health_components(load_scorecard(), unavailable)
    assert "feature_adoption" not in kept and "product_usage" in kept
