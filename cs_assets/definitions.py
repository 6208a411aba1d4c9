"""The one Definitions object of the cs_assets code location."""

from dagster import (
    AssetSelection,
    Definitions,
    ScheduleDefinition,
    define_asset_job,
)

from cs_assets.defs.churn.assets import (
    churn_model,
    churn_predictions,
    churn_snapshots,
    churn_training_set,
)
from cs_assets.defs.churn.survival import survival_model
from cs_assets.defs.features.assets import household_features
from cs_assets.defs.playbooks.assets import (
    playbook_deliveries_asset,
    playbook_effectiveness_asset,
    playbook_enrolments_asset,
)
from cs_assets.defs.raw.assets import ingestion_assets
from cs_assets.defs.reports.assets import report_assets, report_jobs, report_schedules
from cs_assets.defs.reports.war_stories import war_story_assets
from cs_assets.defs.scoring.assets import (
    health_scores_asset,
    health_tiers_asset,
    trend_alerts_asset,
)
from cs_assets.defs.segments.assets import (
    journey_stages_asset,
    journey_transitions_asset,
    micro_segment_summary_asset,
    micro_segments_asset,
)
from cs_assets.defs.segments.lists import list_assets
from cs_assets.defs.segments.team import team_assets
from cs_assets.defs.segments.voc import (
    feedback_escalations_asset,
    nps_themes_asset,
    survey_eligibility_asset,
)
from cs_assets.defs.serving.assets import health_snapshot_asset
from cs_assets.defs.shared.partitions import daily_partitions
from cs_assets.defs.shared.resources import resources_from_env
from cs_assets.defs.workflow import SCHEDULES, SENSORS, WORKFLOW_JOBS

DAILY_HEALTH = AssetSelection.groups("raw", "features", "scoring")
CHURN_TRAINING = AssetSelection.assets(churn_snapshots, churn_training_set, churn_model,
                                       survival_model)

# The whole daily chain in one run, for backfills and the demo: ingest, features, scores,
# alerts, tiers, churn predictions (from the current champion), the segment lists and the
# serving table. The scheduled workflow runs the same assets as separate steps (workflow.py).
daily_health_job = define_asset_job(
    "daily_health_job",
    selection=DAILY_HEALTH | AssetSelection.assets(churn_predictions)
    | AssetSelection.groups("segments", "serving"),
    partitions_def=daily_partitions,
    description="Backfill job: the daily workflow's analytical steps in one run (health "
    "updates, churn risk, segments and lists, serving table).",
)

# Weekly: rebuild the snapshots and training set, train the candidates, gate the champion,
# refit the survival model.
churn_training_job = define_asset_job(
    "churn_training_job",
    selection=CHURN_TRAINING,
    description="Weekly retraining: snapshots, training set, candidates in MLflow, promotion.",
    tags={"cs_assets/resource": "training"},  # one training run at a time (dagster.yaml)
)

# Weekly: the spec's war-story analyses over the raw history (Mondays, before the weekly report).
war_stories_job = define_asset_job(
    "war_stories_job",
    selection=AssetSelection.assets(*war_story_assets),
    description="War stories 1-3: silent churn trends, the support-ticket paradox, Premium "
    "feature adoption of downgraders.",
)

defs = Definitions(
    assets=[*ingestion_assets, household_features, health_scores_asset, trend_alerts_asset,
            health_tiers_asset, churn_snapshots, churn_training_set, churn_model,
            churn_predictions, survival_model, micro_segments_asset, micro_segment_summary_asset,
            journey_stages_asset, journey_transitions_asset, survey_eligibility_asset,
            nps_themes_asset, feedback_escalations_asset, *list_assets, *team_assets,
            health_snapshot_asset, playbook_enrolments_asset, playbook_deliveries_asset,
            playbook_effectiveness_asset, *report_assets, *war_story_assets],
    jobs=[daily_health_job, churn_training_job, war_stories_job, *WORKFLOW_JOBS, *report_jobs],
    schedules=[
        *SCHEDULES,
        *report_schedules,
        ScheduleDefinition(job=war_stories_job, cron_schedule="0 7 * * 1",
                           execution_timezone="UTC"),
        # Mondays 02:00 UTC, so that day's 06:00 predictions use the freshly gated champion.
        ScheduleDefinition(job=churn_training_job, cron_schedule="0 2 * * 1",
                           execution_timezone="UTC"),
    ],
    sensors=SENSORS,
    resources=resources_from_env(),
)
