"""Churn assets: weekly snapshots -> training set -> candidates in MLflow -> predictions."""

from datetime import timedelta

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    BackfillPolicy,
    Config,
    Failure,
    MetadataValue,
    Output,
    asset,
)
from pydantic import Field

from cs_assets.churn.candidates import CANDIDATES
from cs_assets.churn.dataset import LABEL, label_observations, out_of_time_split, snapshot_days
from cs_assets.churn.design import design_matrix
from cs_assets.churn.explain import top_drivers
from cs_assets.churn.metrics import RISK
from cs_assets.churn.plots import roc_calibration_figure
from cs_assets.churn.promotion import decide
from cs_assets.churn.registry import (
    CHAMPION,
    EXPERIMENT,
    MODEL_NAME,
    ChampionUnavailable,
    champion_version,
    ensure_experiment,
    load_champion,
    load_version,
    log_candidate,
    record_decision,
    register_challenger,
    runs_view_path,
)
from cs_assets.churn.risk import RISK_SEGMENTS, risk_rank, risk_segment
from cs_assets.churn.snapshots import features_and_scores
from cs_assets.churn.training import best, holdout_scores, score_holdout, train_candidate
from cs_assets.defs.shared.checks import (
    rows_check,
    unique_per_household_day,
    unique_per_household_day_spec,
)
from cs_assets.defs.shared.metadata import per_day
from cs_assets.defs.shared.partitions import FRAME_KINDS, daily_partitions, days_of
from cs_assets.defs.shared.resources import (
    MetricsResource,
    MlflowResource,
    RawSourceResource,
    ScorecardResource,
    StateResource,
)
from cs_assets.defs.shared.state_keys import reads
from cs_assets.display import markdown_table
from cs_assets.features.inputs import FEATURE_STATE_TABLES, FEATURE_TABLES, feature_inputs
from cs_assets.figures import figure_png, markdown_image
from cs_assets.vocabulary import KEYS

TOP_RISKY = 15


class SnapshotConfig(Config):
    every_days: int = Field(default=7, ge=1, description="days between snapshots")


class TrainingSetConfig(Config):
    lookback_days: int = Field(default=365, ge=30, description="observation days this far back")
    label_days: int = Field(default=30, ge=1, description="label: churned within this many days")


class ChurnModelConfig(Config):
    candidates: list[str] = Field(default=list(CANDIDATES), description="models to train")
    holdout_days: int = Field(default=112, ge=35, description="latest days held out for testing")
    selection_metric: str = Field(default="roc_auc", description="holdout metric to maximize")
    promotion_margin: float = Field(default=0.005, ge=0.0,
                                    description="challenger must beat the champion by this")
    alert_budget: float = Field(default=0.10, gt=0.0, le=1.0,
                                description="share flagged per day for early-warning recall")
    seed: int = 42


@asset(
    kinds=FRAME_KINDS,
    check_specs=[unique_per_household_day_spec("churn_snapshots")],
    ins={name: AssetIn() for name in FEATURE_TABLES},
    deps=reads(*FEATURE_STATE_TABLES),
    description="Features and health scores of every active household on weekly as-of days "
    "(anchored on the reference day) back to the first signup: the history the churn "
    "training set and the survival model's first-90-day health read.",
)
def churn_snapshots(
    context: AssetExecutionContext,
    config: SnapshotConfig,
    raw_source: RawSourceResource,
    scorecard: ScorecardResource,
    state: StateResource,
    metrics: MetricsResource,
    **tables: pl.DataFrame,
):
    reference = raw_source.reference_instant()
    since = tables["households"]["created_at"].min().date()
    days = snapshot_days(reference, since, config.every_days)
    inputs = feature_inputs(tables, state.engine(), days, raw_source.missing_sources(),
                            metrics.load())
    frame = features_and_scores(inputs, days, scorecard.load())
    yield Output(frame, metadata={"dagster/row_count": frame.height, "as_of_days": len(days),
                                  "first_day": str(days[0]), "last_day": str(days[-1])})
    yield unique_per_household_day(frame, days)


@asset(
    kinds=FRAME_KINDS,
    check_specs=[AssetCheckSpec(
        "both_classes_present", asset="churn_training_set", blocking=True,
        description="Churners and stayers both present: without either no model can be "
        "trained or tested. Blocking.")],
    description="Observations (household active at a weekly as-of day of the last 12 months, "
    "features from strictly before it) labelled `churned_30d`: churned within the next 30 "
    "days. Days whose 30-day window is not over at the reference time are left out.",
)
def churn_training_set(
    config: TrainingSetConfig,
    raw_source: RawSourceResource,
    churn_snapshots: pl.DataFrame,
    households: pl.DataFrame,
):
    reference = raw_source.reference_instant()
    first = reference.date() - timedelta(days=config.lookback_days)
    frame = label_observations(
        churn_snapshots.filter(pl.col("as_of") >= first), households, reference,
        config.label_days,
    )
    by_day = frame.group_by("as_of").agg(rows=pl.len(), churn_rate=pl.col(LABEL).mean())
    positives = int(frame[LABEL].sum())
    yield Output(frame, metadata={
        "dagster/row_count": frame.height,
        "label_days": config.label_days,
        "observation_days": by_day.height,
        "first_day": str(frame["as_of"].min()),
        "last_day": str(frame["as_of"].max()),
        "positives": positives,
        "churn_rate": float(frame[LABEL].mean() or 0.0),
    })
    yield AssetCheckResult(check_name="both_classes_present",
                           passed=0 < positives < frame.height,
                           severity=AssetCheckSeverity.ERROR,
                           metadata={"positives": positives, "rows": frame.height})


def training_label_days(context: AssetExecutionContext) -> int:
    """The label window the training set was built with (its `label_days` metadata), so the
    holdout's gap always matches the labels."""
    event = context.instance.get_latest_materialization_event(AssetKey("churn_training_set"))
    return int(event.asset_materialization.metadata["label_days"].value)


def run_tags(context: AssetExecutionContext, days: pl.Series) -> dict[str, str]:
    return {
        "dagster.run_id": context.run_id,
        "dagster.asset": context.asset_key.to_user_string(),
        "dagster.partition_range": f"{days.min()}..{days.max()}",
    }


@asset(
    kinds={"scikitlearn", "mlflow"},
    description="Trains the candidates (the spec's GradientBoosting, HistGradientBoosting, "
    "logistic baseline) on earlier observation days and tests them on the latest: one MLflow "
    "run each in experiment `churn`. The best is registered as `cs_churn@challenger` and "
    "becomes `@champion` only if it beats the champion on the same holdout by the margin.",
)
def churn_model(
    context: AssetExecutionContext,
    config: ChurnModelConfig,
    mlflow: MlflowResource,
    churn_training_set: pl.DataFrame,
    households: pl.DataFrame,
):
    unknown = sorted(set(config.candidates) - set(CANDIDATES))
    if unknown or not config.candidates:
        raise Failure(f"config.candidates: unknown {unknown}; choose from {sorted(CANDIDATES)}")
    split = out_of_time_split(churn_training_set, holdout_days=config.holdout_days,
                              label_days=training_label_days(context))
    churn = households.select("household_id", "churned_at")
    client = mlflow.client()
    experiment_id = ensure_experiment(
        client, EXPERIMENT, mlflow.artifact_root,
        "Weekly churn candidates (spec_gbm, hist_gbm, logistic), one run each, compared on the "
        "same out-of-time holdout: roc_auc, pr_auc, brier, log_loss, early-warning recall. The "
        "best becomes cs_churn@challenger; the registered model says when it becomes champion.",
        ("roc_auc", "pr_auc", "top_decile_lift", "early_warning_recall", "brier", "log_loss",
         "train_seconds"))
    tags = run_tags(context, churn_training_set["as_of"])
    results, runs = [], {}
    for name in config.candidates:
        result = train_candidate(name, split, churn, seed=config.seed, budget=config.alert_budget)
        runs[name] = log_candidate(result, split, experiment_id, tags)
        results.append(result)
        context.log.info(f"{name}: {result.metrics} in {result.train_seconds:.1f} s")
    winner = best(results, config.selection_metric)
    run_id, model_uri = runs[winner.name]
    previous = champion_version(client)
    champion_score = None
    if previous is not None:
        try:
            current = load_version(previous)
            scored = holdout_scores(current.model, split.test, current.columns)
            champion_score = score_holdout(scored, churn, config.alert_budget)[
                config.selection_metric]
        except Exception as exc:  # an unscorable champion loses by default
            context.log.warning(f"champion v{previous} cannot score this holdout: {exc}")
    version = register_challenger(client, model_uri, run_id)
    decision = decide(config.selection_metric, winner.metrics[config.selection_metric],
                      champion_score, config.promotion_margin)
    record_decision(client, decision, version, run_id, previous)
    table = pl.DataFrame([
        {"candidate": r.name, **{k: round(v, 4) for k, v in r.metrics.items()},
         "train_seconds": round(r.train_seconds, 2), "run_id": runs[r.name][0],
         "selected": r.name == winner.name}
        for r in results
    ])
    return Output(table, metadata={
        "selected": winner.name,
        "challenger_version": version,
        "champion_version": version if decision.promote else (previous or ""),
        "promoted": decision.promote,
        "promotion_reason": decision.reason,
        f"challenger_{config.selection_metric}": decision.challenger,
        f"champion_{config.selection_metric}": decision.champion,
        "train_rows": split.train.height,
        "holdout_rows": split.test.height,
        "holdout_first_day": str(split.test_first_day),
        "candidates": MetadataValue.md(markdown_table(table.drop("run_id"))),
        # left out before fitting: all null or constant on the training rows
        "dropped_columns": MetadataValue.md(markdown_table(pl.DataFrame(
            list(winner.dropped.items()), schema=["column", "reason"], orient="row"))),
        # opens the runs table with the holdout metrics as columns
        "mlflow_runs_view": runs_view_path(experiment_id),
        "selected_roc_calibration": _roc_calibration(winner),
    })


def _roc_calibration(result) -> MetadataValue:
    """The selected candidate's holdout ROC and calibration, small (dpi 72: metadata images
    live in the event log)."""
    figure = roc_calibration_figure(result.holdout[LABEL].cast(pl.Int8).to_numpy(),
                                    result.holdout[RISK].to_numpy(), result.metrics["roc_auc"])
    return MetadataValue.md(markdown_image(figure_png(figure, dpi=72),
                                           f"{result.name}: ROC and calibration on the holdout"))


@asset(
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    kinds={"polars", "parquet", "mlflow"},
    ins={"features": AssetIn("household_features"), "scores": AssetIn("health_scores")},
    deps=["churn_model"],
    check_specs=[
        AssetCheckSpec("probability_within_0_1", asset="churn_predictions", blocking=True,
                       description="Every churn probability lies in [0, 1]. Blocking."),
        AssetCheckSpec("every_active_household_predicted", asset="churn_predictions",
                       blocking=True, description="Every household in the day's features has "
                       "a churn probability. Blocking."),
    ],
    description="Each day's churn probability from `models:/cs_churn@champion`, the spec's "
    "risk segment (Low <= 0.15 < Medium <= 0.35 < High <= 0.55 < Critical), its rank among "
    "the day's households (1 = riskiest), the model version and the top SHAP drivers. No "
    "usable champion fails the run; nothing is overwritten.",
)
def churn_predictions(
    context: AssetExecutionContext, mlflow: MlflowResource, features, scores
):
    try:
        champion = load_champion(mlflow.client())
    except ChampionUnavailable as exc:
        raise Failure(str(exc), allow_retries=False) from exc
    frame = features.join(scores.drop("top_reasons", strict=False), on=list(KEYS), how="inner")
    X = design_matrix(frame, champion.columns)
    probability = champion.model.predict_proba(X)[:, 1]
    out = frame.select(*KEYS).with_columns(
        pl.Series(RISK, probability, dtype=pl.Float64),
        pl.lit(champion.version).alias("model_version"),
        pl.Series("top_drivers", top_drivers(champion.model, X), dtype=pl.String),
    ).with_columns(risk_segment(pl.col(RISK)).alias("churn_risk_segment"),
                   risk_rank(pl.col(RISK)).over("as_of").alias("risk_rank"))
    per_day(context, out, _risk_of_day)
    yield Output(out, metadata={
        "dagster/row_count": out.height,
        "model": f"{MODEL_NAME}@{CHAMPION} = version {champion.version}",
    })
    days = days_of(context)
    yield rows_check("probability_within_0_1", out.filter(~pl.col(RISK).is_between(0.0, 1.0)),
                     days, "rows_outside")
    yield rows_check("every_active_household_predicted", features.select(KEYS).join(
        out.select(KEYS), on=list(KEYS), how="anti"), days, "households_without_prediction")


def _risk_of_day(day: pl.DataFrame) -> dict:
    counts = dict(day.group_by("churn_risk_segment").len().iter_rows())
    riskiest = day.sort(RISK, descending=True).head(TOP_RISKY).with_columns(
        pl.col(RISK).round(3))
    return {
        **{s.lower(): int(counts.get(s, 0)) for s in RISK_SEGMENTS},
        "riskiest": MetadataValue.md(markdown_table(riskiest.select(
            "household_id", RISK, "churn_risk_segment", "top_drivers"))),
    }


