"""Helpers shared by the assets: inputs spanning partitions, outputs per partition."""

from datetime import date

import polars as pl

from cs_assets.defs.shared.partitions import as_frame, by_partition
from cs_assets.display import markdown_table


def test_inputs_spanning_partitions_become_one_contiguous_frame():
    parts = {f"2026-01-{d:02d}": pl.DataFrame({"as_of": [date(2026, 1, d)], "x": [f"v{d}"]})
             for d in (3, 1, 2)}
    frame = as_frame(parts)
    assert frame["as_of"].to_list() == [date(2026, 1, d) for d in (1, 2, 3)]
    assert frame["x"].n_chunks() == 1  # polars 2.1 panics formatting strings over many chunks


def test_outputs_split_per_partition_key():
    frame = pl.DataFrame({"as_of": [date(2026, 1, 1), date(2026, 1, 2)], "x": [1, 2]})
    assert by_partition(frame, ["2026-01-01"]) is frame
    split = by_partition(frame, ["2026-01-01", "2026-01-02"])
    assert {k: v["x"].to_list() for k, v in split.items()} == {"2026-01-01": [1],
                                                               "2026-01-02": [2]}


def test_markdown_table_escapes_pipes():
    assert markdown_table(pl.DataFrame({"a": ["x|y"]})) == "| a |\n|---|\n| x\\|y |\n"
