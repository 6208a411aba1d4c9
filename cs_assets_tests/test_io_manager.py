"""The partition plumbing lives in the IO manager: an asset body gets one frame for any range
of days, returns one frame for any range, and an optional input's missing days are absent."""

from __future__ import annotations

from datetime import date

import polars as pl
from dagster import AssetIn, DailyPartitionsDefinition, asset, materialize

from cs_assets.defs.shared.partitions import OPTIONAL_INPUT
from cs_assets.defs.shared.resources import PolarsParquetIOManager

DAYS = DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-01-10")
SEEN: dict[str, object] = {}


@asset(partitions_def=DAYS, backfill_policy=None)
def daily(context) -> pl.DataFrame:
    days = [date.fromisoformat(k) for k in context.partition_keys]
    return pl.DataFrame({"as_of": days, "x": [f"v{d.day}" for d in days]})


@asset(partitions_def=DAYS)
def reader(context, daily: pl.DataFrame) -> pl.DataFrame:
    SEEN["reader"] = daily
    return daily


@asset(partitions_def=DAYS, ins={"daily": AssetIn("daily", metadata=OPTIONAL_INPUT)})
def optional_reader(context, daily: pl.DataFrame | None) -> pl.DataFrame:
    SEEN["optional"] = daily
    return pl.DataFrame({"as_of": [date.fromisoformat(k) for k in context.partition_keys]})


def _range(first: str, last: str) -> dict:
    return {"dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last}


def test_a_range_is_written_per_day_and_read_back_as_one_contiguous_frame(tmp_path):
    io = {"io_manager": PolarsParquetIOManager(base_dir=str(tmp_path))}
    result = materialize([daily], resources=io, tags=_range("2026-01-01", "2026-01-03"))
    assert result.success
    files = sorted(p.name for p in (tmp_path / "daily").iterdir())
    assert files == ["2026-01-01.parquet", "2026-01-02.parquet", "2026-01-03.parquet"]
    assert pl.read_parquet(tmp_path / "daily" / "2026-01-02.parquet")["x"].to_list() == ["v2"]
    counts = {event.partition: event.event_specific_data.materialization.metadata[
        "dagster/row_count"].value for event in result.get_asset_materialization_events()}
    assert counts == {"2026-01-01": 1, "2026-01-02": 1, "2026-01-03": 1}  # not the run's 3

    assert materialize([daily, reader], selection=[reader], resources=io,
                       tags=_range("2026-01-01", "2026-01-03")).success
    frame = SEEN["reader"]
    assert frame["as_of"].to_list() == [date(2026, 1, d) for d in (1, 2, 3)]
    assert frame["x"].n_chunks() == 1  # polars 2.1 panics formatting strings over many chunks


def test_an_optional_inputs_missing_days_are_absent_and_no_day_is_none(tmp_path):
    io = {"io_manager": PolarsParquetIOManager(base_dir=str(tmp_path))}
    assert materialize([daily], resources=io, partition_key="2026-01-02").success
    assert materialize([daily, optional_reader], selection=[optional_reader], resources=io,
                       tags=_range("2026-01-01", "2026-01-03")).success
    assert SEEN["optional"]["as_of"].to_list() == [date(2026, 1, 2)]
    assert materialize([daily, optional_reader], selection=[optional_reader], resources=io,
                       partition_key="2026-01-05").success
    assert SEEN["optional"] is None
