"""The serving table: the latest health snapshot per household in the state database, where a
CRM or BI tool reads it without knowing about partitions or Parquet files."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from cs_assets.state.schema import health_snapshot
from cs_assets.state.store import BATCH
from cs_assets.vocabulary import HH

SNAPSHOT_COLUMNS = [c.name for c in health_snapshot.columns if c.name != "updated_at"]


def snapshot_rows(
    tiers: pl.DataFrame, predictions: pl.DataFrame | None, assignments: pl.DataFrame | None
) -> pl.DataFrame:
    """One row per household of the day's tiers (SNAPSHOT_COLUMNS); churn and CSM columns stay
    null when their asset is missing that day."""
    out = tiers.select(
        HH, "as_of", "health_score", "tier", "alert_count",
        # health_tiers joins the reasons with "; ": a list for the readers of the table
        pl.col("top_reasons").str.split("; ").fill_null([]),
    )
    if predictions is not None:
        out = out.join(
            predictions.select(HH, "churn_probability", "churn_risk_segment"), on=HH, how="left"
        )
    if assignments is not None:
        out = out.join(assignments.select(HH, "csm_id", "route"), on=HH, how="left")
    for column in ("churn_probability", "churn_risk_segment", "csm_id", "route"):
        if column not in out.columns:
            out = out.with_columns(pl.lit(None).alias(column))
    return out.with_columns(pl.col("churn_risk_segment").cast(pl.String)).select(SNAPSHOT_COLUMNS)


def upsert_snapshot(engine: sa.Engine, rows: pl.DataFrame, now: datetime) -> int:
    """Write `rows`; a household's row is replaced only by one of the same or a later day, so
    a backfill of an old day never overwrites today's. Returns rows offered."""
    records = [dict(r, updated_at=now) for r in rows.to_dicts()]
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[engine.dialect.name]
    with engine.begin() as conn:
        for start in range(0, len(records), BATCH):
            statement = insert(health_snapshot)
            statement = statement.on_conflict_do_update(
                index_elements=[HH],
                set_={c: statement.excluded[c] for c in [*SNAPSHOT_COLUMNS[1:], "updated_at"]},
                where=statement.excluded.as_of >= health_snapshot.c.as_of,
            )
            conn.execute(statement, records[start : start + BATCH])
    return len(records)
