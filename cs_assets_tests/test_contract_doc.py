"""docs/contract.md says what the pandera models enforce: every table, every column, its
nullability and the key, so the documented contract cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

from cs_assets.contract.tables import REQUIRED_TABLES, TABLES

DOC = (Path(__file__).resolve().parents[1] / "docs" / "contract.md").read_text(encoding="utf-8")


def _sections() -> dict[str, str]:
    parts = re.split(r"^### `(\w+)` — ", DOC, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def test_every_table_is_documented_once_with_its_key():
    sections = _sections()
    assert sorted(sections) == sorted(TABLES)
    for name, section in sections.items():
        assert section.startswith(f"key `{TABLES[name].key}`"), name


def test_each_tables_columns_and_nullability_match_the_model():
    for name, section in _sections().items():
        rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| (yes|no) \|", section, flags=re.M)
        documented = {column: null == "yes" for column, null in rows}
        assert documented == TABLES[name].nullable, name


def test_the_required_tables_are_the_ones_the_doc_names():


    sentence = re.search(r"\*\*required\*\* tables: (.+?);", DOC, flags=re.S).group(1)
    assert re.findall(r"`(\w+)`", sentence) == list(REQUIRED_TABLES)
