"""The inputs of the household features, built in one place for the daily features and the
training snapshots: a day's features are the same whichever asset computes them, including
what the platform itself did (its proactive check-ins count as outreach)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date

import polars as pl
import sqlalchemy as sa

from cs_assets.features.household import FeatureInputs
from cs_assets.features.product_signals import MetricsConfig
from cs_assets.state.day_rows import read_rows
from cs_assets.state.schema import checkins
from cs_assets.vocabulary import UTC_TS

FEATURE_TABLES = ("households", "members", "pets", "activity_events", "support_tickets",
                  "subscription_changes", "payments", "pet_health_observations")
FEATURE_STATE_TABLES = ("checkins",)  # the platform's own tables the features read
OUTREACH_SCHEMA = {"household_id": pl.String, "sent_at": UTC_TS}


def feature_inputs(tables: Mapping[str, pl.DataFrame], state: sa.Engine,
                   days: Sequence[date], absent: Iterable[str] = (),
                   metrics: MetricsConfig | None = None) -> FeatureInputs:
    """The raw tables and the platform's outreach, reduced for `days` (each day counts only
    the outreach sent before it); the features of the `absent` tables are null; with
    `metrics`, the product's own signals are added."""
    return FeatureInputs.build(
        **{name: tables[name] for name in FEATURE_TABLES},
        outreach=read_rows(state, checkins, OUTREACH_SCHEMA),
        as_of_days=days,  # reduce only the windows these days look at
        absent=absent,
        metrics=metrics,
    )
