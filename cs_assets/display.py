"""How values and tables are shown to people (reasons, previews, metadata): quoted,
escaped and cut, so an invisible character is visible and a huge value cannot flood a log."""

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


NULL_CELL = "—"  # a missing value: not the word None in a table a person reads


def markdown_table(frame: pl.DataFrame) -> str:
    """A frame as a markdown table (values as text, pipes escaped, long cells cut, a missing
    value as a dash)."""
    header = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * frame.width + "\n"
    rows = "".join(
        "| " + " | ".join(NULL_CELL if v is None else
                          truncated(str(v), CELL_CHARACTERS).replace("|", "\\|")
                          for v in row) + " |\n"
        for row in frame.iter_rows()
    )
    return header + rows
