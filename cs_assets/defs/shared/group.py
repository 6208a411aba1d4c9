"""One asset group's definitions, gathered from its folder."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from dagster import (
    Definitions,
    SourceAsset,
    load_asset_checks_from_package_module,
    load_assets_from_package_module,
    map_asset_specs,
)


def group_definitions(package: str, *, owners: Sequence[str], jobs: Sequence = (),
                      schedules: Sequence = (), sensors: Sequence = ()) -> Definitions:
    """Every asset and check defined in the modules of `package` (a folder of `cs_assets.defs`),
    in the group named after the folder and owned by `owners`, with the group's own jobs,
    schedules and sensors: the folder is the one place a group is declared."""
    module = importlib.import_module(package)
    assets = load_assets_from_package_module(module, group_name=package.rsplit(".", 1)[-1],
                                             include_specs=True)
    sources = [a for a in assets if isinstance(a, SourceAsset)]  # they have no owners
    owned = map_asset_specs(lambda spec: spec.replace_attributes(owners=list(owners)),
                            [a for a in assets if not isinstance(a, SourceAsset)])
    return Definitions(
        assets=[*owned, *sources],
        asset_checks=load_asset_checks_from_package_module(module),
        jobs=jobs, schedules=schedules, sensors=sensors,
    )
