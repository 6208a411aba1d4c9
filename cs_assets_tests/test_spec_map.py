"""docs/spec-map.md cites real names: every config key, function, asset and test it names
exists, so the map cannot silently rot."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import yaml

from cs_assets.definitions import defs

REPO = Path(__file__).resolve().parents[1]
ROWS = [line for line in (REPO / "docs" / "spec-map.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("| ") and not line.startswith(("| spec", "|---"))]


def _cells() -> list[list[str]]:
    return [[cell.strip().strip("`") for cell in row.strip("|").split("|")] for row in ROWS]


def test_the_map_has_a_row_per_spec_area():
    assert len(ROWS) >= 25 and all(len(cells) == 5 for cells in _cells())


def test_every_config_key_exists_in_the_shipped_files():
    for _, key, *_ in _cells():
        if key == "—":
            continue
        file, path = key.split(": ")
        node = yaml.safe_load((REPO / "cs_assets" / "config" / file).read_text())
        for part in path.split("."):
            assert isinstance(node, dict) and part in node, key
            node = node[part]


def test_every_function_asset_and_test_exists():
    assets = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    for _, _, function, asset, test in _cells():
        module, name = function.rsplit(".", 1)
        assert hasattr(importlib.import_module(module), name), function
        assert asset in assets, asset
        file, test_name = test.split("::")
        tree = ast.parse((REPO / "cs_assets_tests" / file).read_text(encoding="utf-8"))
        names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert re.fullmatch(r"test_\w+", test_name) and test_name in names, test
