"""The ingestion assets in Dagster: outputs, quarantine, checks, blocking, schema failures."""

import polars as pl
import pytest
from dagster import AssetCheckSeverity, AssetKey, DagsterInstance, asset, materialize
from dagster_shared.serdes import serialize_value

from cs_assets.contract.events import EventKind, EventMappingError, load_event_mapping
from cs_assets.definitions import defs
from cs_assets.defs.raw.assets import BLOCKING_CHECK, ingestion_assets
from cs_assets.defs.shared.resources import (
    PolarsParquetIOManager,
    RawSourceResource,
    resources_from_env,
)
from cs_assets.settings import ConfigError
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
    assert "table 'pets', " in messages and "pets.parquet: missing column(s) species" in messages


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
    ({"CS_MIN_MAPPED_EVENT_SHARE": "nan"}, "CS_MIN_MAPPED_EVENT_SHARE"),
    ({"CS_MIN_MAPPED_EVENT_SHARE": "-0.1"}, "CS_MIN_MAPPED_EVENT_SHARE"),
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


@asset(deps=[AssetKey("activity_events")])
def reads_events() -> None:
    """Stands for everything downstream of the events."""


def _ingest(raw_dir, out_dir, instance, **overrides):
    return materialize(
        [*ingestion_assets, reads_events], instance=instance, raise_on_error=False,
        resources=resources(raw_dir, out_dir, **overrides),
    )


def _check(result, asset: str, name: str):
    return next(e for e in result.get_asset_check_evaluations()
                if e.asset_key == AssetKey(asset) and e.check_name == name)


def _materialized(result) -> set[str]:
    return {e.event_specific_data.materialization.asset_key.to_user_string()
            for e in result.get_asset_materialization_events()}


def test_a_table_emptied_since_the_last_ingestion_stops_downstream(tmp_path):
    """A Hive folder read as nothing, or a lost export, must not become "every household
    inactive": empty where the last ingestion had rows blocks; empty from the start warns."""
    raw = tmp_path / "raw"
    f.write_raw(raw, f.minimal_raw())
    instance = DagsterInstance.ephemeral()
    first = _ingest(raw, tmp_path / "out", instance)
    assert first.success and "reads_events" in _materialized(first)
    assert _check(first, "reviews", "not_empty").severity == AssetCheckSeverity.WARN
    (raw / "activity_events.parquet").unlink()
    (raw / "activity_events").mkdir()
    (raw / "activity_events" / "_SUCCESS").write_bytes(b"")
    second = _ingest(raw, tmp_path / "out", instance)
    check = _check(second, "activity_events", "not_empty")
    assert not check.passed and check.severity == AssetCheckSeverity.ERROR
    assert check.description == ("activity_events has 0 rows where the last ingestion had 3: "
                                 "the source was emptied or not found")
    assert "reads_events" not in _materialized(second) and not second.success
    assert _check(second, "reviews", "not_empty").severity == AssetCheckSeverity.WARN
    third = _ingest(raw, tmp_path / "out", instance)  # still lost: still blocked
    check = _check(third, "activity_events", "not_empty")
    assert check.severity == AssetCheckSeverity.ERROR and "last ingestion had 3" in (
        check.description)
    assert "reads_events" not in _materialized(third)
    instance.wipe_assets([AssetKey("activity_events")])  # emptied on purpose: history wiped
    fourth = _ingest(raw, tmp_path / "out", instance)
    assert _check(fourth, "activity_events", "not_empty").severity == AssetCheckSeverity.WARN
    assert "reads_events" in _materialized(fourth)


@pytest.mark.parametrize("mapping, blocks", [
    ("event_types:\n  some_other_products_login: login\n", True),  # matches none of 3
    ("event_types:\n  task_completion: task_completed\n", False),  # 1 of 3: a warning only
])
def test_a_mapping_that_matches_almost_no_event_stops_downstream(tmp_path, mapping, blocks):
    f.write_raw(tmp_path / "raw", f.minimal_raw())
    path = tmp_path / "mapping.yaml"
    path.write_text(mapping)
    result = _ingest(tmp_path / "raw", tmp_path / "out", DagsterInstance.ephemeral(),
                     event_mapping_path=str(path), min_mapped_event_share=0.2)
    check = _check(result, "activity_events", "event_types_mapped")
    assert not check.passed
    assert (check.severity == AssetCheckSeverity.ERROR) is blocks
    assert ("reads_events" in _materialized(result)) is not blocks
    if blocks:
        assert check.description == ("0 of 3 events (0.0%) have a canonical kind; at least 20% "
                                     "must (CS_MIN_MAPPED_EVENT_SHARE)")


def test_a_part_with_a_missing_column_fails_once_naming_the_file(tmp_path):
    tables = f.minimal_raw()
    f.write_raw(tmp_path / "raw", tables)
    (tmp_path / "raw" / "pets.parquet").unlink()
    (tmp_path / "raw" / "pets").mkdir()
    tables["pets"].write_parquet(tmp_path / "raw" / "pets" / "part-0.parquet")
    tables["pets"].drop("species").write_parquet(tmp_path / "raw" / "pets" / "part-1.parquet")
    result = materialize(ingestion_assets, instance=DagsterInstance.ephemeral(),
                         resources=resources(tmp_path / "raw", tmp_path / "out"),
                         raise_on_error=False)
    events = [e for e in result.all_events if e.step_key == "ingest_pets"]
    assert [e.event_type_value for e in events if "RETRY" in e.event_type_value] == []
    failure = next(e for e in events if e.event_type_value == "STEP_FAILURE")
    message = str(failure.event_specific_data.error)
    assert "table 'pets', " in message
    assert "pets/part-1.parquet: missing column(s) species" in message


def test_a_huge_value_is_cut_in_every_reason_and_preview(tmp_path):
    tables = f.minimal_raw()
    huge = "x" * 1_000_000
    tables["activity_events"] = pl.concat([tables["activity_events"], f.frame(
        "activity_events", [dict(event_id="ev_huge", household_id=huge, occurred_at=f.ts(5),
                                 event_type=huge)])])
    f.write_raw(tmp_path / "raw", tables)
    with DagsterInstance.ephemeral() as instance:
        result = materialize(ingestion_assets, instance=instance, raise_on_error=False,
                             resources=resources(tmp_path / "raw", tmp_path / "out",
                                                 max_invalid_share=0.5))
        assert result.success
        records = [serialize_value(r) for r in instance.all_logs(result.run_id)]
    assert max(len(r) for r in records) < 20_000
    assert not [r for r in records if "x" * 1000 in r]
    quarantine = pl.read_parquet(tmp_path / "out" / "activity_events_quarantine.parquet")
    assert quarantine["household_id"].item() == huge  # the quarantine keeps the value whole
    assert quarantine["quarantine_reason"].item().startswith(
        f"household_id '{'x' * 60}'… (1,000,000 characters) does not exist in households")


@pytest.mark.parametrize("text, message", [
    ("event_types:\n  app_login: login\n  app_login: task_completed\n",
     "duplicate key 'app_login'"),
    ("event_types:\n  app_login: [login, session]\n",
     r"event_types\.app_login: expected the name of a canonical kind, got list"),
    ("event_types: {}\n", "event_types: maps no event type"),
    ("event_types:\n  ? [a, b]\n  : login\n", "a key must be a plain name"),
    ("event_types:\n  app_login: login\nevent_type:\n  x: login\n",
     r"unknown key\(s\) \['event_type'\]"),
    ("event_types:\n  app_login: on\n",
     r"event_types\.app_login: expected the name of a canonical kind, got bool True"),
])
def test_event_mapping_errors_name_the_key(tmp_path, text, message):
    path = tmp_path / "mapping.yaml"
    path.write_text(text)
    with pytest.raises(EventMappingError, match=message):
        load_event_mapping(path)


def test_event_names_are_read_as_written(tmp_path):
    path = tmp_path / "mapping.yaml"
    path.write_text("event_types:\n  on: login\n  no: task_completed\n  404: session\n")
    assert load_event_mapping(path) == {
        "on": EventKind.LOGIN, "no": EventKind.TASK_COMPLETED, "404": EventKind.SESSION}


def test_a_mapping_broken_after_load_fails_the_events_once_naming_it(tmp_path):
    f.write_raw(tmp_path / "raw", f.minimal_raw())
    path = tmp_path / "mapping.yaml"
    path.write_text("event_types: {}\n")
    result = _ingest(tmp_path / "raw", tmp_path / "out", DagsterInstance.ephemeral(),
                     event_mapping_path=str(path))
    events = [e for e in result.all_events if e.step_key == "ingest_activity_events"]
    assert [e.event_type_value for e in events if "RETRY" in e.event_type_value] == []
    failure = next(e for e in events if e.event_type_value == "STEP_FAILURE")
    assert "event_types: maps no event type" in str(failure.event_specific_data.error)
