"""The platform's state tables in the asset graph.

A state table is written by some assets and read by others, often by the same asset a day
later (journey history, CSM assignments), so drawing it as one node would close a cycle,
which Dagster refuses. Each table is therefore two nodes: `state/writes/<table>`, downstream
of the assets that write it, and `state/<table>`, an observable source that the assets reading
it depend on; a daily asset reads only rows dated before its as-of day. The loop between the
two is the same table (docs/state-lineage.md).
"""

from dagster import AssetKey


def written(table: str) -> AssetKey:
    return AssetKey(["state", "writes", table])


def reads(*tables: str) -> list[AssetKey]:
    """The state tables an asset reads, as its `deps`."""
    return [AssetKey(["state", table]) for table in tables]
