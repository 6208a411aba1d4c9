"""The `household_features` asset: daily partitions, backfilled in one run per range."""

from datetime import date

import polars as pl
from dagster import (
    AssetExecutionContext,
    AssetIn,
    BackfillPolicy,
    MetadataValue,
    Output,
    asset,
)

from cs_assets.defs.shared.checks import (
    unique_per_household_day,
    unique_per_household_day_spec,
)
from cs_assets.defs.shared.metadata import per_day
from cs_assets.defs.shared.partitions import FRAME_KINDS, daily_partitions
from cs_assets.defs.shared.resources import MetricsResource, RawSourceResource, StateResource
from cs_assets.defs.shared.state_keys import reads
from cs_assets.features.household import features_for_days, not_available
from cs_assets.features.inputs import FEATURE_STATE_TABLES, FEATURE_TABLES, feature_inputs


@asset(
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    kinds=FRAME_KINDS,
    check_specs=[unique_per_household_day_spec("household_features")],
    ins={name: AssetIn() for name in FEATURE_TABLES},
    deps=reads(*FEATURE_STATE_TABLES),
    description="One row per household active at the as-of instant (midnight UTC starting the "
    "partition day), from data strictly before it: usage trends (30 days vs the 30 before), "
    "engagement, adoption, support, value, payment and Premium inputs; plan, MRR and payment "
    "status as of the day from their histories.",
)
def household_features(context: AssetExecutionContext, state: StateResource,
                       raw_source: RawSourceResource, metrics: MetricsResource,
                       **tables: pl.DataFrame):
    keys = context.partition_keys
    days = [date.fromisoformat(k) for k in keys]
    absent = raw_source.missing_sources()
    inputs = feature_inputs(tables, state.engine(), days, absent, metrics.load())
    frame = features_for_days(inputs, days)
    per_day(context, frame, lambda day: {"households": day.height})
    yield Output(frame, metadata={
        "dagster/row_count": frame.height, "days": len(keys),
        "not_available": MetadataValue.json(not_available(absent)),
        # the product's own signals: which event types became which columns
        "product_signals": MetadataValue.json(inputs.signal_plan.stems),
    })
    yield unique_per_household_day(frame, days)
