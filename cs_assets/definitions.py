"""The one Definitions object of the cs_assets code location."""

from dagster import (
    AssetSelection,
    Definitions,
    build_schedule_from_partitioned_job,
    define_asset_job,
)

from cs_assets.features.assets import household_features
from cs_assets.health.assets import health_scores_asset, health_tiers_asset, trend_alerts_asset
from cs_assets.ingestion.assets import ingestion_assets
from cs_assets.partitions import daily_partitions
from cs_assets.resources import resources_from_env

# Re-ingest the raw tables, then compute the day's features, scores, alerts and tiers.
daily_health_job = define_asset_job(
    "daily_health_job",
    selection=AssetSelection.groups("raw", "features", "scoring"),
    partitions_def=daily_partitions,
    description="The spec's daily health check: ingest, features, scores, alerts, tiers.",
)

defs = Definitions(
    assets=[*ingestion_assets, household_features, health_scores_asset, trend_alerts_asset,
            health_tiers_asset],
    jobs=[daily_health_job],
    schedules=[build_schedule_from_partitioned_job(daily_health_job, hour_of_day=6)],
    resources=resources_from_env(),
)
