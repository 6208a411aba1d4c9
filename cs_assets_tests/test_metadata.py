"""Helpers shared by the assets' metadata."""


import polars as pl

from cs_assets.display import markdown_table


def test_markdown_table_escapes_pipes():
    assert markdown_table(pl.DataFrame({"a": ["x|y"]})) == "| a |\n|---|\n| x\\|y |\n"
