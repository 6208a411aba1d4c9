"""MLflow: one run per candidate, the registry's `challenger` / `champion` aliases, and loading.

No Dagster here: the asset passes in the tracking URIs and the tags that link a run to it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.metadata import version

import mlflow
import mlflow.sklearn
import polars as pl
import skops.io
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from sklearn.base import BaseEstimator

from cs_assets.churn import plots
from cs_assets.churn.dataset import LABEL, Split
from cs_assets.churn.design import design_matrix
from cs_assets.churn.promotion import PromotionDecision
from cs_assets.churn.training import CandidateResult

MODEL_NAME = "cs_churn"
EXPERIMENT = "churn"
CHAMPION = "champion"
CHALLENGER = "challenger"


class ChampionUnavailable(RuntimeError):
    """No usable `champion`: predictions must fail rather than fall back or overwrite."""


@dataclass(frozen=True)
class Champion:
    model: BaseEstimator
    version: str
    columns: tuple[str, ...]  # the design columns its signature names, in order


MODEL_DESCRIPTION = (
    "Churn within 30 days, per household and day. Every weekly retraining registers its best "
    "candidate as a new version with alias `challenger`; the alias `champion` (the version "
    "the daily predictions use) moves to it only when it beats the current champion on the "
    "same out-of-time holdout by the promotion margin. One version holding both aliases is a "
    "challenger that won (or the first model). Each version's tags record the decision.")


# The runs table MLflow's UI opens with `?viewStateShareKey=<VIEW>`: its default columns
# show no metric, and the columns a user picks are kept per browser only.
VIEW = "holdout"


def runs_view(metrics: tuple[str, ...]) -> str:
    """The UI state of a runs table showing `metrics` as columns, best first by the first."""
    columns = [f"metrics.`{m}`" for m in metrics]
    shown = [*columns, "attributes.`Duration`", "attributes.`Models`"]
    return json.dumps({"selectedColumns": shown, "columnOrder": shown,  # in `metrics` order
                       "orderByKey": columns[0], "orderByAsc": False})


def runs_view_path(experiment_id: str) -> str:
    """The path, after the MLflow UI's address, of the experiment's runs in the shared view."""
    return f"/#/experiments/{experiment_id}/runs?viewStateShareKey={VIEW}"


def ensure_experiment(client: MlflowClient, name: str, artifact_root: str,
                      description: str, metrics: tuple[str, ...]) -> str:
    """The experiment's id, creating it with artifacts under `artifact_root/<name>` (MLflow's
    default would be relative to the working directory), marked as classic model development
    (MLflow 3 opens other experiments on its GenAI screens), described, and with a shared
    runs view (`VIEW`) whose columns are `metrics`."""
    found = client.get_experiment_by_name(name)
    experiment_id = found.experiment_id if found is not None else client.create_experiment(
        name, artifact_location=f"{artifact_root.rstrip('/')}/{name}")
    client.set_experiment_tag(experiment_id, "mlflow.experimentKind", "custom_model_development")
    client.set_experiment_tag(experiment_id, "mlflow.note.content", description)
    client.set_experiment_tag(experiment_id, f"mlflow.sharedViewState.{VIEW}",
                              runs_view(metrics))
    return experiment_id


def _dataset(frame: pl.DataFrame, name: str):
    """Schema and digest only (MLflow keeps no copy); polars' schema avoids pandas' row scan."""
    dates = frame.select(pl.col(pl.Date).cast(pl.Datetime("us")))  # MLflow has no date type
    return mlflow.data.from_polars(frame.with_columns(dates), name=name, targets=LABEL)


def _pip_requirements() -> list[str]:
    """The serving environment, pinned to what trained the model. Given explicitly: MLflow's
    inference re-imports the model in a subprocess, ~15 s per logged model."""
    return [f"{name}=={version(name)}" for name in ("mlflow", "scikit-learn", "skops", "numpy",
                                                    "scipy", "pandas")]


def log_candidate(
    result: CandidateResult, split: Split, experiment_id: str, tags: dict[str, str]
) -> tuple[str, str]:
    """One MLflow run: params, holdout metrics, plots, datasets and the model. Returns
    (run_id, model_uri)."""
    y = result.holdout[LABEL].cast(int).to_numpy()
    p = result.holdout["churn_probability"].to_numpy()
    # the run spans the training: it starts when the fit began, not when logging does
    started = MlflowClient().create_run(experiment_id, start_time=result.started_ms or None,
                                        tags=tags, run_name=result.name)
    with mlflow.start_run(run_id=started.info.run_id) as run:
        mlflow.log_params({
            "candidate": result.name,
            "estimator": type(result.model).__name__,
            **{k: v for k, v in result.model.get_params(deep=True).items()
               if isinstance(v, int | float | str | bool | None)},
            "train_rows": split.train.height,
            "holdout_rows": split.test.height,
            "train_last_day": split.train_last_day.isoformat(),
            "holdout_first_day": split.test_first_day.isoformat(),
            "design_columns": len(result.columns),
            "dropped_columns": len(result.dropped),
        })
        mlflow.log_dict(result.dropped, "dropped_columns.json")
        mlflow.log_metrics({**result.metrics, "train_seconds": result.train_seconds})
        mlflow.log_input(_dataset(split.train, "churn_training_set"), context="training")
        mlflow.log_input(_dataset(split.test, "churn_holdout"), context="holdout")
        for fig, path in (
            (plots.roc_figure(y, p, result.metrics["roc_auc"]), "plots/roc.png"),
            (plots.pr_figure(y, p, result.metrics["pr_auc"]), "plots/precision_recall.png"),
            (plots.calibration_figure(y, p), "plots/calibration.png"),
            (plots.importance_figure(result.importance), "plots/feature_importance.png"),
        ):
            mlflow.log_figure(fig, path)
            plots.plt.close(fig)
        mlflow.log_dict(result.importance.round(6).to_dict(), "feature_importance.json")
        example = design_matrix(split.train.head(5), result.columns)
        info = mlflow.sklearn.log_model(
            result.model,
            name="model",
            signature=infer_signature(example, result.model.predict_proba(example)[:, 1]),
            input_example=example,
            serialization_format="skops",
            pip_requirements=_pip_requirements(),
            skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(result.model)),
        )
    return run.info.run_id, info.model_uri


def register_challenger(client: MlflowClient, model_uri: str, run_id: str) -> str:
    """Register `model_uri` as a new version of `cs_churn` with alias `challenger`."""
    version = mlflow.register_model(model_uri, MODEL_NAME, tags={"run_id": run_id}).version
    client.update_registered_model(MODEL_NAME, description=MODEL_DESCRIPTION)
    client.set_registered_model_alias(MODEL_NAME, CHALLENGER, version)
    return str(version)


def champion_version(client: MlflowClient) -> str | None:
    try:
        return str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version)
    except MlflowException:
        return None


def load_version(version: str) -> Champion:
    model_uri = f"models:/{MODEL_NAME}/{version}"
    model = mlflow.sklearn.load_model(model_uri)
    schema = mlflow.models.get_model_info(model_uri).signature.inputs
    return Champion(model=model, version=version, columns=tuple(schema.input_names()))


def load_champion(client: MlflowClient) -> Champion:
    """The model behind `models:/cs_churn@champion`, or `ChampionUnavailable` saying why."""
    version = champion_version(client)
    if version is None:
        raise ChampionUnavailable(
            f"no '{CHAMPION}' alias on registered model '{MODEL_NAME}': materialize "
            "churn_model first (it promotes the first challenger)"
        )
    try:
        return load_version(version)
    except Exception as exc:  # any load failure is the same verdict: no usable champion
        raise ChampionUnavailable(
            f"'{MODEL_NAME}' version {version} (alias '{CHAMPION}') could not be loaded: {exc}"
        ) from exc


def record_decision(
    client: MlflowClient, decision: PromotionDecision, version: str, run_id: str,
    previous: str | None,
) -> None:
    """Write the gate's verdict on the challenger's version and run; move `champion` if won."""
    tags = {
        "promotion_decision": "promoted" if decision.promote else "not_promoted",
        "promotion_reason": decision.reason,
        "promotion_metric": decision.metric,
        "challenger_score": f"{decision.challenger:.6f}",
        "champion_score": "" if decision.champion is None else f"{decision.champion:.6f}",
        "champion_version_before": previous or "",
    }
    for key, value in tags.items():
        client.set_model_version_tag(MODEL_NAME, version, key, value)
        client.set_tag(run_id, key, value)
    if decision.promote:
        client.set_registered_model_alias(MODEL_NAME, CHAMPION, version)
