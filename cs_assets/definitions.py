"""The one Definitions object of the cs_assets code location."""

from dagster import Definitions

from cs_assets.ingestion.assets import ingestion_assets
from cs_assets.resources import resources_from_env

defs = Definitions(
    assets=[*ingestion_assets],
    resources=resources_from_env(),
)
