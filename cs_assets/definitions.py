"""The one Definitions object of the cs_assets code location: each asset group's folder under
`cs_assets/defs` declares its assets, checks, jobs and schedules; the daily workflow chains
them; the resources come from the environment."""

from dagster import Definitions

from cs_assets.defs import (
    churn,
    features,
    playbooks,
    raw,
    reports,
    scoring,
    segments,
    serving,
    state,
    workflow,
)
from cs_assets.defs.shared.resources import resources_from_env

GROUPS = [raw, features, scoring, churn, segments, serving, playbooks, reports, state]

defs = Definitions.merge(
    *(group.defs for group in GROUPS),
    workflow.defs,
    Definitions(resources=resources_from_env()),
)
