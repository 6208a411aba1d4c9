"""Weekly retraining: rebuild the snapshots and training set, train the candidates, gate the
champion, refit the survival model."""

from dagster import AssetSelection, ScheduleDefinition, define_asset_job

churn_training_job = define_asset_job(
    "churn_training_job",
    selection=AssetSelection.assets("churn_snapshots", "churn_training_set", "churn_model",
                                    "survival_model"),
    description="Weekly retraining: snapshots, training set, candidates in MLflow, promotion.",
    tags={"cs_assets/resource": "training"},  # one training run at a time (deploy/production)
)
# Mondays 02:00 UTC, so that day's 06:00 predictions use the freshly gated champion.
churn_training_schedule = ScheduleDefinition(
    job=churn_training_job, cron_schedule="0 2 * * 1", execution_timezone="UTC",
    description="Weekly retraining, Mondays 02:00 UTC: before that day's churn predictions.")
