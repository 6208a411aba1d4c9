"""Dagster wiring of the daily health check: scores, trend alerts and tiers."""
