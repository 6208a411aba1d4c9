"""The survival model asset: when households churn, not only whether."""

import polars as pl
from dagster import AssetExecutionContext, AssetIn, MetadataValue, Output, asset

from cs_assets.churn.registry import ensure_experiment
from cs_assets.defs.churn.assets import run_tags
from cs_assets.defs.shared.resources import MlflowResource, RawSourceResource
from cs_assets.display import markdown_table
from cs_assets.figures import markdown_image
from cs_assets.survival.covariates import COVARIATES, LANDMARK_DAYS, survival_frame
from cs_assets.survival.cox import fit_cox
from cs_assets.survival.curves import health_segment, kaplan_meier, survival_plot_png
from cs_assets.survival.lifetime import lifetime_table
from cs_assets.survival.tracking import EXPERIMENT, log_survival


@asset(
    kinds={"lifelines", "mlflow", "parquet"},
    ins={"snapshots": AssetIn("churn_snapshots")},
    description="Cox proportional hazards on the spec's covariates (plan type, initial pets "
    "and members, mean health in the first 90 days, Premium features adopted in the first 30), "
    "fitted from the 90-day landmark; Kaplan-Meier by plan and by early-health segment with "
    "log-rank tests; per active household the median remaining lifetime, expected remaining "
    "revenue (12 months) and revenue at risk. Logged to MLflow experiment `survival`.",
)
def survival_model(
    context: AssetExecutionContext,
    raw_source: RawSourceResource,
    mlflow: MlflowResource,
    snapshots: pl.DataFrame,
    households: pl.DataFrame,
    members: pl.DataFrame,
    pets: pl.DataFrame,
    subscription_changes: pl.DataFrame,
    activity_events: pl.DataFrame,
):
    reference = raw_source.reference_instant()
    frame = survival_frame(households, members, pets, subscription_changes, activity_events,
                           snapshots.select("household_id", "as_of", "health_score"), reference)
    cox = fit_cox(frame, list(COVARIATES), landmark_days=LANDMARK_DAYS)
    # a refit or a dropped covariate changes what the ratios mean: warn; the landmark note is info
    log = context.log.warning if cox.penalizer > 0 or cox.dropped.height else context.log.info
    for message in cox.messages:
        log(f"survival fit: {message}")
    curves = [kaplan_meier(frame, "plan_type"),
              kaplan_meier(frame.with_columns(health_segment()), "health_segment")]
    lifetimes = lifetime_table(cox, frame)
    totals = {"revenue_at_risk_total": float(lifetimes["revenue_at_risk"].sum()),
              "expected_remaining_revenue_total":
                  float(lifetimes["expected_remaining_revenue"].sum())}
    client = mlflow.client()
    experiment_id = ensure_experiment(
        client, EXPERIMENT, mlflow.artifact_root,
        "Weekly survival fits: Cox hazard ratios with health in the first 90 days, "
        "Kaplan-Meier curves by health segment, expected lifetime and value per segment.",
        ("concordance", "revenue_at_risk_total", "expected_remaining_revenue_total"))
    run_id = log_survival(experiment_id, cox, curves, totals,
                          run_tags(context, snapshots["as_of"]))
    ratios = cox.summary.select("covariate", pl.col("hazard_ratio", "ci_low", "ci_high").round(3),
                                pl.col("p_value").round(4))
    return Output(lifetimes, metadata={
        "dagster/row_count": lifetimes.height,
        "mlflow_run_id": run_id,
        "concordance": cox.concordance,
        "penalizer": cox.penalizer,
        "hazard_ratios": MetadataValue.md(markdown_table(ratios)),
        "proportional_hazards_test": MetadataValue.md(markdown_table(
            cox.ph_test.with_columns(pl.col("test_statistic", "p_value").round(4)))),
        **{f"logrank_p_by_{km.by}": km.logrank_p for km in curves},
        **{f"median_days_by_{km.by}": MetadataValue.md(markdown_table(km.groups))
           for km in curves},
        # dpi 72: metadata images live in the event log
        **{f"kaplan_meier_by_{km.by}": MetadataValue.md(markdown_image(
            survival_plot_png(km, dpi=72), f"Kaplan-Meier survival by {km.by}"))
           for km in curves},
        "fit_messages": "\n".join(cox.messages) or "none",
        **{k: round(v, 2) for k, v in totals.items()},
    })
