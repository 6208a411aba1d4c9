"""Benchmarks (scripts, not tests): `python -m cs_assets.dev.benchmarks.features_bench`.

pandas and DuckDB appear only here, as the yardsticks the project's polars code is
measured against; they are benchmark-only (dev) dependencies.
"""
