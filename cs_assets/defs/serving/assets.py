"""The serving table as an asset: each day's health snapshot written to the state database."""


import polars as pl
from dagster import AssetExecutionContext, AssetIn, MaterializeResult, MetadataValue, asset

from cs_assets.defs.shared.partitions import DAILY, OPTIONAL_INPUT, days_of
from cs_assets.defs.shared.resources import StateResource
from cs_assets.state.health_snapshot import snapshot_rows, upsert_snapshot
from cs_assets.vocabulary import AS_OF, HH, utc_now


@asset(
    name="health_snapshot",
    **{**DAILY, "kinds": {"sql"}},
    ins={
        "tiers": AssetIn("health_tiers"),
        "predictions": AssetIn("churn_predictions", metadata=OPTIONAL_INPUT),
        "assignments": AssetIn("csm_assignments", metadata=OPTIONAL_INPUT),
    },
    description="The latest health snapshot per household (score, tier, alerts, churn "
    "probability and risk, reasons, assigned CSM) in the state database's `health_snapshot` "
    "table, for a CRM or BI tool. A day never overwrites a later day's row.",
)
def health_snapshot_asset(
    context: AssetExecutionContext, state: StateResource, tiers, predictions, assignments
):
    days = days_of(context)
    per_day = [snapshot_rows(*(None if frame is None else frame.filter(pl.col(AS_OF) == day)
                               for frame in (tiers, predictions, assignments)))
               for day in days]
    # one write: each household's row of its latest day in the range
    latest = pl.concat(per_day).unique(HH, keep="last", maintain_order=True)
    upsert_snapshot(state.engine(), latest, utc_now())
    day, rows = days[-1], per_day[-1]
    tiers_count = rows.group_by("tier").len("households").sort("tier")
    return MaterializeResult(metadata={
        "as_of": day.isoformat(),
        "households": rows.height,
        "with_churn_probability": int(rows["churn_probability"].is_not_null().sum()),
        "with_csm": int(rows["csm_id"].is_not_null().sum()),
        "tiers": MetadataValue.md("\n".join(
            f"- {t}: {n}" for t, n in tiers_count.iter_rows())),
    })



