"""Raw tables as exporters write them: one file, or folders of part files (nested, Hive
`key=value` folders, bookkeeping files beside the data); parts that differ in column order,
types and time zones; and the errors that name table, column and file."""

from datetime import UTC, datetime

import polars as pl
import pytest

from cs_assets.contract.events import load_event_mapping
from cs_assets.contract.tables import TABLES
from cs_assets.ingestion.conform import ContractSchemaError
from cs_assets.ingestion.sources import read_parquet_table
from cs_assets.ingestion.validate import validate_table
from cs_assets_tests import factories as f


def _validate(parts, table="activity_events"):
    return validate_table(TABLES[table], parts, reference_time=f.REFERENCE,
                          parents={"households": f.households(), "members": f.members()},
                          event_mapping=load_event_mapping())


def _write(path, frame: pl.DataFrame):
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path)


def test_hive_folders_at_any_depth_are_read_and_bookkeeping_skipped(tmp_path):
    events = f.events()
    root = tmp_path / "activity_events"
    _write(root / "month=2026-01" / "part-0.snappy.parquet", events.head(2))
    _write(root / "month=2026-02" / "day=21" / "part-0.parquet", events.tail(1))
    (root / "_SUCCESS").write_bytes(b"")
    (root / "month=2026-01" / ".part-0.snappy.parquet.crc").write_bytes(b"\x00crc")
    (root / ".~lock.part-1.parquet#").write_bytes(b"lock")
    _write(root / "_temporary" / "0" / "part-9.parquet", events)  # an unfinished write
    parts = read_parquet_table(tmp_path, "activity_events")
    assert [p.source.removeprefix(str(root)) for p in parts] == [
        "/month=2026-01/part-0.snappy.parquet", "/month=2026-02/day=21/part-0.parquet"]
    result = _validate(parts)
    assert sorted(result.valid["event_id"]) == ["ev_1", "ev_2", "ev_3"]
    assert result.quarantine.height == 0
    assert result.extra_columns == ["month", "day"]
    assert result.sources == 2


def test_partition_columns_left_out_of_the_files_come_from_the_folder_names(tmp_path):
    """Spark's partitionBy("event_type") writes `event_type=app_login/` and drops the column
    from the files."""
    events = f.events()
    root = tmp_path / "activity_events"
    for (kind,), rows in events.group_by("event_type"):
        _write(root / f"event_type={kind}" / "part-0.parquet", rows.drop("event_type"))
    result = _validate(read_parquet_table(tmp_path, "activity_events"))
    assert result.valid.sort("event_id")["event_type"].to_list() == (
        events.sort("event_id")["event_type"].to_list())


def test_parts_differing_in_order_types_extras_and_time_zones_are_each_conformed(tmp_path):
    events = f.events()
    root = tmp_path / "activity_events"
    _write(root / "a.parquet", events.head(1))
    _write(root / "b.parquet", events.slice(1, 1).select(reversed(events.columns))
           .with_columns(pl.col("session_minutes").cast(pl.Float32), extra=pl.lit("x")))
    _write(root / "c.parquet", events.tail(1).with_columns(
        pl.col("occurred_at").dt.convert_time_zone("Asia/Kolkata")))
    _write(root / "d.parquet", events.tail(1).with_columns(
        event_id=pl.lit("ev_4"), occurred_at=pl.lit(datetime(2026, 1, 25, 6, 30))))  # naive
    result = _validate(read_parquet_table(tmp_path, "activity_events"))
    assert result.quarantine.height == 0
    assert result.valid["event_id"].to_list() == ["ev_1", "ev_2", "ev_3", "ev_4"]
    assert result.valid["session_minutes"].to_list()[1] == 12.5
    assert result.valid["occurred_at"].to_list()[2:] == [
        events["occurred_at"][2], datetime(2026, 1, 25, 6, 30, tzinfo=UTC)]
    assert result.extra_columns == ["extra"]


def test_a_part_missing_a_column_fails_naming_table_column_and_file(tmp_path):
    events = f.events()
    root = tmp_path / "activity_events"
    _write(root / "part-0.parquet", events)
    _write(root / "part-1.parquet", events.drop("feature_name"))
    parts = read_parquet_table(tmp_path, "activity_events")
    with pytest.raises(ContractSchemaError,
                       match=r"table 'activity_events', .*part-1\.parquet: missing column\(s\) "
                             r"feature_name"):
        _validate(parts)


def test_a_part_of_an_incompatible_type_fails_naming_table_column_and_file(tmp_path):
    events = f.events()
    root = tmp_path / "activity_events"
    _write(root / "part-0.parquet", events)
    _write(root / "part-1.parquet", events.with_columns(occurred_at=pl.lit(1.5)))
    with pytest.raises(ContractSchemaError,
                       match=r"table 'activity_events', .*part-1\.parquet, column 'occurred_at'"):
        _validate(read_parquet_table(tmp_path, "activity_events"))


def test_a_table_both_as_a_file_and_as_a_folder_is_an_error(tmp_path):
    _write(tmp_path / "activity_events.parquet", f.events())
    _write(tmp_path / "activity_events" / "part-0.parquet", f.events())
    with pytest.raises(ContractSchemaError, match=r"both .*activity_events.parquet and a folder"):
        read_parquet_table(tmp_path, "activity_events")


def test_rows_are_numbered_across_parts_and_conserved(tmp_path):
    events = f.events()
    root = tmp_path / "activity_events"
    _write(root / "part-0.parquet", events)
    _write(root / "part-1.parquet", events.with_columns(
        event_id=pl.format("{}_b", "event_id"),
        household_id=pl.Series(["hh_1", "hh_ghost", "hh_2"])))
    result = _validate(read_parquet_table(tmp_path, "activity_events"))
    assert result.valid.height + result.quarantine.height == 6
    assert result.quarantine["_source_row"].to_list() == [4]
    assert result.quarantine["event_id"].to_list() == ["ev_2_b"]
