"""Log a survival fit to MLflow experiment `survival`: ratios, checks, curves, lifetimes."""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow

from cs_assets.survival.cox import CoxResult
from cs_assets.survival.curves import SurvivalByGroup, survival_plot_png

EXPERIMENT = "survival"


def _metric_name(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "_-./" else "_" for ch in text)


def log_survival(
    experiment_id: str,
    cox: CoxResult,
    curves: list[SurvivalByGroup],
    totals: dict[str, float],
    tags: dict[str, str],
) -> str:
    """One run: params of the fit, hazard ratios and checks as metrics, tables and plots as
    artifacts. Returns the run id."""
    with mlflow.start_run(experiment_id=experiment_id, run_name="cox_ph", tags=tags) as run:
        mlflow.log_params({
            "covariates": ",".join(cox.design.covariates),
            "landmark_days": cox.landmark_days,
            "penalizer": cox.penalizer,
            "rows_used": cox.rows_used,
            "rows_dropped": cox.rows_dropped,
        })
        metrics = {"concordance": cox.concordance, **totals}
        for row in cox.summary.iter_rows(named=True):
            name = _metric_name(row["covariate"])
            metrics[f"hr.{name}"] = row["hazard_ratio"]
            metrics[f"p.{name}"] = row["p_value"]
        for km in curves:
            if km.logrank_p is not None:
                metrics[f"logrank_p.{km.by}"] = km.logrank_p
        mlflow.log_metrics(metrics)
        mlflow.log_table(cox.summary.to_pandas(), "hazard_ratios.json")
        mlflow.log_table(cox.ph_test.to_pandas(), "proportional_hazards_test.json")
        if cox.messages:
            mlflow.log_text("\n".join(cox.messages), "fit_messages.txt")
        with tempfile.TemporaryDirectory() as tmp:
            for km in curves:
                path = Path(tmp) / f"kaplan_meier_by_{km.by}.png"
                path.write_bytes(survival_plot_png(km))
                mlflow.log_artifact(str(path), "plots")
                mlflow.log_table(km.groups.to_pandas(), f"kaplan_meier_by_{km.by}.json")
    return run.info.run_id
