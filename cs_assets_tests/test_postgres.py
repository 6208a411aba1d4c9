"""PostgreSQL: the contract DDL matches the pandera models, the PostgreSQL source gives what
the Parquet source gives, and a materialization runs on a PostgreSQL-backed Dagster instance."""

import shutil
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from dagster import AssetKey, AssetSelection, DagsterInstance, materialize

from cs_assets.contract.tables import TABLES
from cs_assets.defs.raw.assets import ingestion_assets
from cs_assets.defs.shared.resources import PolarsParquetIOManager, RawSourceResource
from cs_assets.ingestion.postgres_load import apply_contract_ddl, copy_table
from cs_assets_tests import factories as f

pytestmark = pytest.mark.postgres
REPO = Path(__file__).resolve().parents[1]

PG_TYPES = {
    pl.String: "text",
    pl.Boolean: "boolean",
    pl.Int64: "bigint",
    pl.Float64: "double precision",
    pl.Date: "date",
}


def _pg_type(dtype: pl.DataType) -> str:
    return "timestamp with time zone" if isinstance(dtype, pl.Datetime) else PG_TYPES[dtype]


def test_ddl_matches_the_pandera_models(fresh_pg_url):
    engine = sa.create_engine(fresh_pg_url)
    apply_contract_ddl(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT table_name, column_name, data_type, is_nullable "
                "FROM information_schema.columns WHERE table_schema = :schema "
                "ORDER BY table_name, ordinal_position"
            ),
            {"schema": "raw"},
        ).all()
        keys = dict(conn.execute(sa.text(
            "SELECT tc.table_name, kcu.column_name FROM information_schema.table_constraints tc "
            "JOIN information_schema.key_column_usage kcu USING (constraint_name, table_schema) "
            "WHERE tc.table_schema = :schema AND tc.constraint_type = 'PRIMARY KEY'"
        ), {"schema": "raw"}).all())
    engine.dispose()
    ddl: dict[str, list[tuple[str, str, bool]]] = {}
    for table, column, dtype, nullable in rows:
        ddl.setdefault(table, []).append((column, dtype, nullable == "YES"))
    assert set(ddl) == set(TABLES)
    for name, spec in TABLES.items():
        expected = [(c, _pg_type(t), spec.nullable[c]) for c, t in spec.columns.items()]
        assert ddl[name] == expected, name
        assert keys[name] == spec.key


def _ingest(resource: RawSourceResource, out_dir):
    return materialize(
        ingestion_assets,
        resources={"raw_source": resource,
                   "io_manager": PolarsParquetIOManager(base_dir=str(out_dir))},
    )


def test_postgres_source_matches_parquet_source(fresh_pg_url, tmp_path):
    tables = f.minimal_raw()
    tables["nps_responses"] = f.frame("nps_responses", [
        dict(response_id="n_1", household_id="hh_1", responded_at=f.ts(40), score=9,
             comment='Easy, "simple"\nand fast'),
        dict(response_id="n_2", household_id="hh_1", responded_at=f.ts(41), score=8,
             comment="\\N"),  # a literal backslash-N is text, not NULL
        dict(response_id="n_3", household_id="hh_1", responded_at=f.ts(42), score=7,
             comment=""),
    ])
    tables["activity_events"] = pl.concat([tables["activity_events"], f.frame(
        "activity_events",
        [dict(event_id="ev_9", household_id="hh_ghost", occurred_at=f.ts(5),
              event_type="app_login")],
    )])
    f.write_raw(tmp_path / "raw", tables)
    engine = sa.create_engine(fresh_pg_url)
    apply_contract_ddl(engine)
    for name in TABLES:
        copy_table(engine, "raw", name, tables.get(name, f.frame(name, [])))
    engine.dispose()

    reference = f.REFERENCE.isoformat()
    from_parquet = _ingest(
        RawSourceResource(parquet_dir=str(tmp_path / "raw"), reference_time=reference,
                          max_invalid_share=0.5),
        tmp_path / "out_parquet",
    )
    from_postgres = _ingest(
        RawSourceResource(kind="postgres", postgres_url=fresh_pg_url, postgres_schema="raw",
                          reference_time=reference, max_invalid_share=0.5),
        tmp_path / "out_postgres",
    )
    for name in TABLES:
        for output in ("valid", "quarantine"):
            a = from_parquet.output_for_node(f"ingest_{name}", output)
            b = from_postgres.output_for_node(f"ingest_{name}", output)
            key = TABLES[name].key
            assert a.sort(key).equals(b.sort(key)), (name, output)
    assert from_postgres.output_for_node("ingest_activity_events", "quarantine").height == 1
    comments = from_postgres.output_for_node("ingest_nps_responses", "valid").sort("response_id")
    assert comments["comment"].to_list()[1:] == ["\\N", ""]


def test_materialization_on_the_production_instance_config(fresh_pg_url, tmp_path,
                                                          monkeypatch):
    """The production dagster.yaml, with its DAGSTER_PG_* variables, backs a real
    materialization."""
    url = sa.engine.make_url(fresh_pg_url)
    for key, value in {"DAGSTER_PG_HOST": url.host, "DAGSTER_PG_PORT": str(url.port),
                       "DAGSTER_PG_USER": url.username,
                       "DAGSTER_PG_PASSWORD": url.password or "",
                       "DAGSTER_PG_DB": url.database}.items():
        monkeypatch.setenv(key, value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "production" / "dagster.yaml", home / "dagster.yaml")
    f.write_raw(tmp_path / "raw", f.minimal_raw())
    with DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.telemetry_enabled is False
        result = materialize(
            ingestion_assets,
            selection=AssetSelection.assets("households", "households_quarantine"),
            resources={
                "raw_source": RawSourceResource(parquet_dir=str(tmp_path / "raw"),
                                                reference_time=f.REFERENCE.isoformat()),
                "io_manager": PolarsParquetIOManager(base_dir=str(tmp_path / "out")),
            },
            instance=instance,
        )
        assert result.success
        record = instance.get_latest_materialization_event(AssetKey("households"))
        assert record is not None and record.run_id == result.run_id
        assert record.asset_materialization.metadata["dagster/row_count"].value == 2
