"""Playbooks: the spec's campaigns as validated data, who enters them, and whether they work.

Pure logic (polars, no Dagster): `definitions` loads `cs_assets/config/playbooks.yaml`,
`enrolment` picks the day's enrolments, draws the holdout and plans the steps, `effect`
compares treated and held-out households. Sensors, jobs and the dispatcher wire them to the
state database (`cs_assets.state`).
"""

from cs_assets.playbooks.conditions import ConditionError, compile_condition
from cs_assets.playbooks.config import (
    ASSET_COLUMNS,
    DEFAULT_PLAYBOOKS_PATH,
    PLAYBOOKS_CONFIG,
    Filter,
    Playbook,
    PlaybookCatalog,
    PlaybookConfigError,
    PlaybookStep,
    Trigger,
    load_playbooks,
    parse_playbooks,
)
from cs_assets.playbooks.effect import EFFECT_SCHEMA, playbook_effectiveness
from cs_assets.playbooks.enrolment import (
    ENROLMENT_COLUMNS,
    EXISTING_SCHEMA,
    is_holdout,
    matching_rows,
    plan_steps,
    select_enrolments,
)

__all__ = [
    "ASSET_COLUMNS",
    "DEFAULT_PLAYBOOKS_PATH",
    "EFFECT_SCHEMA",
    "ENROLMENT_COLUMNS",
    "EXISTING_SCHEMA",
    "PLAYBOOKS_CONFIG",
    "ConditionError",
    "Filter",
    "Playbook",
    "PlaybookCatalog",
    "PlaybookConfigError",
    "PlaybookStep",
    "Trigger",
    "compile_condition",
    "is_holdout",
    "load_playbooks",
    "matching_rows",
    "parse_playbooks",
    "plan_steps",
    "playbook_effectiveness",
    "select_enrolments",
]
