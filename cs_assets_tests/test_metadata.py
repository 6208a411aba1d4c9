"""Helpers shared by the assets' metadata."""


import polars as pl

from cs_assets.display import markdown_table


def test_markdown_table_escapes_pipes():
    assert markdown_table(pl.DataFrame({"a": ["x|y"]})) == "| a |\n|---|\n| x\\|y |\n"


def test_markdown_table_shows_a_missing_value_as_a_dash():
    frame = pl.DataFrame({"csm_id": ["csm_01", "ops_01"], "capacity": [20, None]})
    assert markdown_table(frame).splitlines()[2:] == ["| csm_01 | 20 |", "| ops_01 | — |"]
