"""The ingestion assets in Dagster: outputs, quarantine, checks, blocking, schema failures."""

import polars as pl
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from cs_assets.definitions import defs
from cs_assets.ingestion.assets import BLOCKING_CHECK, ingestion_assets
from cs_assets.resources import (
    ConfigError,
    PolarsParquetIOManager,
    RawSourceResource,
    resources_from_env,
)
from cs_assets_tests import factories as f


def resources(raw_dir, out_dir, **overrides):
    return {
        "raw_source": RawSourceResource(
            parquet_dir=str(raw_dir), reference_time=f.REFERENCE.isoformat(), **overrides
        ),
        "io_manager": PolarsParquetIOManager(base_dir=str(out_dir)),
    }


def run(tmp_path, tables, **overrides):
    f.write_raw(tmp_path / "raw", tables)
    return materialize(
        ingestion_assets,
        resources=resources(tmp_path / "raw", tmp_path / "out", **overrides),
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def checks(result) -> dict[tuple[str, str], bool]:
    return {
        (e.asset_key.to_user_string(), e.check_name): e.passed
        for e in result.get_asset_check_evaluations()
    }


def test_definitions_load_with_every_raw_table():
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"households", "households_quarantine", "activity_events", "reviews"} <= keys


def test_clean_data_materializes_everything(tmp_path):
    result = run(tmp_path, f.minimal_raw())
    assert result.success
    events = result.output_for_node("ingest_activity_events", "valid")
    assert events["event_kind"].to_list() == ["task_completed", "session", "feature_used"]
    assert result.output_for_node("ingest_households", "quarantine").height == 0
    evaluations = checks(result)
    assert evaluations[("households", BLOCKING_CHECK)] is True
    assert evaluations[("reviews", "not_empty")] is False  # empty table: a warning, not a failure
    assert evaluations[("activity_events", "event_types_mapped")] is True


def test_quarantine_is_an_asset_and_counts_add_up(tmp_path):
    tables = f.minimal_raw()
    tables["activity_events"] = pl.concat([
        tables["activity_events"],
        f.frame("activity_events", [dict(event_id="ev_x", household_id="hh_ghost",
                                         occurred_at=f.ts(5), event_type="app_login")]),
    ])
    result = run(tmp_path, tables, max_invalid_share=0.5)
    assert result.success
    quarantine = pl.read_parquet(tmp_path / "out" / "activity_events_quarantine.parquet")
    assert quarantine["event_id"].to_list() == ["ev_x"]
    mat = next(m for m in result.asset_materializations_for_node("ingest_activity_events")
               if m.asset_key == AssetKey("activity_events"))
    assert mat.metadata["input_rows"].value == 4
    assert mat.metadata["quarantined_rows"].value == 1
    assert mat.metadata["dagster/row_count"].value == 3


def test_blocking_check_stops_downstream(tmp_path):
    tables = f.minimal_raw()
    tables["households"] = pl.concat([
        tables["households"],
        f.frame("households", [dict(household_id="hh_bad", created_at=f.ts(1), region="MARS",
                                    email_opt_out=False)]),
    ])
    result = run(tmp_path, tables)  # 1 of 3 households invalid > 5% default threshold
    assert checks(result)[("households", BLOCKING_CHECK)] is False
    assert not result.success
    materialized = {m.asset_key.to_user_string()
                    for m in result.get_asset_materialization_events()
                    for m in [m.event_specific_data.materialization]}
    assert "households" in materialized
    assert "members" not in materialized and "activity_events" not in materialized


def test_missing_column_fails_naming_table_and_column(tmp_path):
    tables = f.minimal_raw()
    tables["pets"] = tables["pets"].drop("species")
    result = run(tmp_path, tables)
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    messages = " ".join(str(e.event_specific_data.error) for e in failures)
    assert "table 'pets': missing column(s) species" in messages


def test_empty_file_is_an_empty_table_with_a_warning(tmp_path):
    f.write_raw(tmp_path / "raw", f.minimal_raw())
    (tmp_path / "raw" / "reviews.parquet").write_bytes(b"")
    result = materialize(
        ingestion_assets,
        resources=resources(tmp_path / "raw", tmp_path / "out"),
        instance=DagsterInstance.ephemeral(),
    )
    assert result.output_for_node("ingest_reviews", "valid").height == 0
    assert checks(result)[("reviews", "not_empty")] is False


@pytest.mark.parametrize("env, key", [
    ({"CS_RAW_SOURCE": "excel"}, "CS_RAW_SOURCE"),
    ({"CS_MAX_INVALID_SHARE": "lots"}, "CS_MAX_INVALID_SHARE"),
    ({"CS_MAX_INVALID_SHARE": "1.5"}, "CS_MAX_INVALID_SHARE"),
    ({"CS_REFERENCE_TIME": "yesterday"}, "CS_REFERENCE_TIME"),
    ({"CS_RAW_SOURCE": "postgres"}, "CS_RAW_POSTGRES_URL"),
])
def test_bad_configuration_fails_at_load_naming_the_key(env, key, tmp_path):
    with pytest.raises(ConfigError, match=key):
        resources_from_env({"CS_HOME": str(tmp_path), **env})


def test_bad_event_mapping_names_the_entry(tmp_path):
    bad = tmp_path / "mapping.yaml"
    bad.write_text("event_types:\n  app_login: logon\n")
    with pytest.raises(ValueError, match=r"event_types\.app_login: unknown canonical kind"):
        resources_from_env({"CS_HOME": str(tmp_path), "CS_EVENT_MAPPING": str(bad)})


def _files_holding(folder, needles: list[str]) -> dict[str, list[str]]:
    """Which of `needles` each file under `folder` holds (bytes searched, any encoding)."""
    found = {}
    for path in folder.rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode("latin-1")
            hits = [n for n in needles if n in text]
            if hits:
                found[str(path.relative_to(folder))] = hits
    return found


def test_no_names_or_addresses_reach_dagster_storage(tmp_path):
    """Names and addresses may live in the raw files and validated / quarantine Parquet, never
    in Dagster's run and event storage (materialization metadata, check results, logs)."""
    tables = f.minimal_raw()
    pii = {"hh_1": ("Zelda Quartermain", "zelda.q@example.org"),
           "hh_2": ("Ignatius Folkestone", "ig.folk@example.net"),
           "hh_bad": ("Philippa Marchbanks", "pm@example.com")}
    tables["households"] = pl.concat([
        tables["households"],
        f.frame("households", [dict(household_id="hh_bad", created_at=f.ts(1), region="MARS",
                                    email_opt_out=False)]),
    ]).with_columns(
        owner_name=pl.col("household_id").replace_strict({k: v[0] for k, v in pii.items()}),
        email=pl.col("household_id").replace_strict({k: v[1] for k, v in pii.items()}),
    )
    f.write_raw(tmp_path / "raw", tables)
    home = tmp_path / "dagster_home"
    home.mkdir()
    with DagsterInstance.local_temp(tempdir=str(home)) as instance:
        result = materialize(
            ingestion_assets, instance=instance, raise_on_error=False,
            resources=resources(tmp_path / "raw", tmp_path / "out", max_invalid_share=0.5),
        )
    assert result.success
    needles = [v for pair in pii.values() for v in pair]
    assert _files_holding(home, ["households_quarantine"])  # the storage was searched
    assert _files_holding(home, needles) == {}
    # the quarantine keeps the row as it arrived, PII included, for someone to fix it
    quarantine = pl.read_parquet(tmp_path / "out" / "households_quarantine.parquet")
    assert quarantine.select("owner_name", "email").row(0) == pii["hh_bad"]
