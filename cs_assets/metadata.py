"""Small helpers for materialization metadata shown in the Dagster UI."""

from __future__ import annotations

import polars as pl

SHOWN_CHARACTERS = 60  # of one value in a reason; longer values are cut, their length given
CELL_CHARACTERS = 200  # of one cell in a markdown preview


def truncated(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters with its full length said, so a huge value cannot
    flood the event log."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def escaped(value: str, limit: int = SHOWN_CHARACTERS) -> str:
    """A text value as people must see it in a message: quoted, with spaces at its ends and
    invisible or control characters escaped (`'hh_1\\u200b'`), and cut when long."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value):,} characters)"


def markdown_table(frame: pl.DataFrame) -> str:
    """A frame as a markdown table (values as text, pipes escaped, long cells cut)."""
    header = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * frame.width + "\n"
    rows = "".join(
        "| " + " | ".join(truncated(str(v), CELL_CHARACTERS).replace("|", "\\|")
                          for v in row) + " |\n"
        for row in frame.iter_rows()
    )
    return header + rows


def as_frame(loaded: pl.DataFrame | dict[str, pl.DataFrame]) -> pl.DataFrame:
    """One frame from an input that spans one partition (a frame) or several (a dict)."""
    if isinstance(loaded, dict):
        # rechunk: polars 2.1 panics ("assertion failed: i < self.len()") formatting strings
        # over frames built from many chunks
        return pl.concat([loaded[k] for k in sorted(loaded)], how="vertical_relaxed",
                         rechunk=True)
    return loaded


# An input's metadata for a day that may not exist: it is read as absent, not as an error.
OPTIONAL_INPUT = {"allow_missing_partitions": True}


def present_frame(loaded) -> pl.DataFrame | None:
    """An input loaded with `OPTIONAL_INPUT`: None when no partition of it exists."""
    if isinstance(loaded, dict):
        loaded = {k: v for k, v in loaded.items() if v is not None} or None
    return None if loaded is None else as_frame(loaded)


def by_partition(frame: pl.DataFrame, keys: list[str], column: str = "as_of"):
    """The output for `keys`: the frame itself for one partition, else a dict per partition."""
    if len(keys) == 1:
        return frame
    day = pl.col(column).cast(pl.String)
    return {key: frame.filter(day == key) for key in keys}
