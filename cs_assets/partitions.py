"""The daily as-of partitions shared by every analytical asset.

Partition `2026-11-01` is the as-of instant 2026-11-01 00:00 UTC: it uses data strictly
before that midnight, so today's partition can run early in the morning (`end_offset=1`).
`CS_PARTITIONS_START` sets the first day (default 2025-01-01).
"""

import os

from dagster import DailyPartitionsDefinition

daily_partitions = DailyPartitionsDefinition(
    start_date=os.environ.get("CS_PARTITIONS_START", "2025-01-01"), end_offset=1, timezone="UTC"
)
