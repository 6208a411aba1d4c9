"""cs_assets: a Dagster data platform for customer success."""
