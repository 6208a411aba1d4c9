"""The spec's daily CS workflow as Dagster jobs, schedules and sensors.

    06:00  health_updates_job       raw tables, features, scores, trend alerts, tiers
      ->   churn_risk_job           churn predictions from the champion model
      ->   cs_lists_job             segments, journey, CSM assignment, upsell and cross-sell,
                                    NPS survey eligibility, advocacy, serving table
      ->   playbook_enrolment_job   enrolments, exits, conditions, playbook effectiveness
    */15   playbook_dispatch_job    sends the steps due (at the playbooks' send hour, 10:00)

Each arrow is `daily_workflow_sensor` firing when the step before has finished for the day,
successfully or not: a failing step is logged, recorded in the state database's
`workflow_alerts` and shown by the run-failure sensor, and the next step still runs on what
exists (an enrolment run without a list only holds back the playbooks reading it).
`CS_WORKFLOW_HOUR` (UTC, default 6) moves the start; the send hour is `send_hour` in the
playbooks file, in each household's time zone.
"""

import json
import operator
import os
from datetime import UTC, datetime
from functools import reduce

from dagster import (
    AssetSelection,
    DagsterRunStatus,
    DefaultSensorStatus,
    Definitions,
    RunFailureSensorContext,
    RunRequest,
    RunsFilter,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SkipReason,
    build_schedule_from_partitioned_job,
    define_asset_job,
    run_failure_sensor,
    schedule,
    sensor,
)

from cs_assets.defs.shared.partitions import daily_partitions
from cs_assets.defs.shared.resources import StateResource
from cs_assets.settings import ConfigError
from cs_assets.state.store import record_alert

PARTITION_TAG = "dagster/partition"
RUN_BATCH = 100  # finished runs read per job and tick
FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]


def workflow_hour(env=os.environ) -> int:
    value = env.get("CS_WORKFLOW_HOUR", "6").strip()
    if not value.isdigit() or not 0 <= int(value) <= 23:
        raise ConfigError(f"CS_WORKFLOW_HOUR must be an hour 0-23 (UTC), got {value!r}")
    return int(value)


health_updates_job = define_asset_job(
    "health_updates_job", selection=AssetSelection.groups("raw", "features", "scoring"),
    description="Workflow step 1, health score updates: ingest, features, scores, alerts, tiers.")
churn_risk_job = define_asset_job(
    "churn_risk_job", selection=AssetSelection.assets("churn_predictions"),
    description="Workflow step 2, churn risk detection: the champion model scores the day.")
cs_lists_job = define_asset_job(
    "cs_lists_job", selection=AssetSelection.groups("segments", "serving"),
    description="Workflow step 3: segments, journey stages, CSM task assignment, upsell "
    "detection, NPS survey eligibility, advocacy lists, and the serving table.")
playbook_enrolment_job = define_asset_job(
    "playbook_enrolment_job",
    selection=AssetSelection.assets("playbook_enrolments", "playbook_effectiveness"),
    description="Workflow step 4, automated playbooks: enrol, exit, judge conditions, measure.")
playbook_dispatch_job = define_asset_job(
    "playbook_dispatch_job", selection=AssetSelection.assets("playbook_deliveries"),
    description="The dispatcher: send the steps that are due. Safe to run concurrently.")

# Each step runs when the one before it finished for that day. Enrolment reads the lists, so it
# starts only after the day's lists step: never on features and scores alone.
CHAIN = {health_updates_job.name: churn_risk_job, churn_risk_job.name: cs_lists_job,
         cs_lists_job.name: playbook_enrolment_job}
ANALYTICAL_STEPS = [health_updates_job, churn_risk_job, cs_lists_job]

# The analytical steps in one run, for backfills and the demo: the same assets as the chain's
# first three steps, each asset once (a single-run backfill reads its inputs once).
daily_health_job = define_asset_job(
    "daily_health_job",
    selection=reduce(operator.or_, [job.selection for job in ANALYTICAL_STEPS]),
    description="Backfill job: the daily workflow's analytical steps in one run (health "
    "updates, churn risk, segments and lists, serving table).",
)
WORKFLOW_JOBS = [*ANALYTICAL_STEPS, playbook_enrolment_job, playbook_dispatch_job]

workflow_schedule = build_schedule_from_partitioned_job(
    health_updates_job, hour_of_day=workflow_hour(), name="daily_cs_workflow_schedule",
    description="Starts the daily CS workflow (the spec's 6am runDailyCSWorkflow).")


@schedule(
    job=playbook_dispatch_job, cron_schedule="*/15 * * * *", execution_timezone="UTC",
    description="Sends due steps every 15 minutes (retries with backoff wait for the next "
    "pass); steps fall due at the playbooks' send hour.",
)
def playbook_dispatch_schedule(context: ScheduleEvaluationContext):
    key = daily_partitions.get_partition_keys(current_time=context.scheduled_execution_time)[-1]
    return RunRequest(partition_key=key)


@sensor(
    jobs=list(CHAIN.values()), minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Chains the daily workflow: when a step's run for a day finishes, successful "
    "or not, the next step runs for that day. A failure is logged and does not stop the chain.",
)
def daily_workflow_sensor(context: SensorEvaluationContext):
    if context.cursor is None:  # a new sensor chains what finishes from now on
        context.update_cursor(json.dumps({"after": datetime.now(UTC).timestamp(), "seen": []}))
        return SkipReason("started watching the workflow's runs")
    cursor = json.loads(context.cursor)
    # Run timestamps may be stored to the second: look one second back, skip runs seen.
    after = datetime.fromtimestamp(cursor["after"] - 1, tz=UTC)
    seen, latest, handled = set(cursor["seen"]), cursor["after"], []
    ceiling = float("inf")
    requests = []
    for previous, following in CHAIN.items():
        records = context.instance.get_run_records(
            RunsFilter(job_name=previous, statuses=FINISHED, updated_after=after),
            order_by="update_timestamp", ascending=True, limit=RUN_BATCH)
        if len(records) == RUN_BATCH:  # more to read: do not move past this job's last
            ceiling = min(ceiling, records[-1].update_timestamp.timestamp())
        for record in records:
            run, partition = record.dagster_run, record.dagster_run.tags.get(PARTITION_TAG)
            stamp = record.update_timestamp.timestamp()
            latest = max(latest, stamp)
            handled.append((run.run_id, stamp))
            if run.run_id in seen or partition is None:
                continue
            if run.status != DagsterRunStatus.SUCCESS:
                context.log.warning(f"{previous} {run.status.value} for {partition}; "
                                    f"running {following.name} on what exists")
            requests.append(RunRequest(job_name=following.name, partition_key=partition,
                                       run_key=f"{following.name}:{partition}:{run.run_id}"))
    latest = min(latest, ceiling)  # runs past a truncated job's last are read next tick
    recent = [run_id for run_id, stamp in handled if stamp >= latest - 1]
    context.update_cursor(json.dumps({"after": latest, "seen": recent}))
    return requests or SkipReason("no workflow step finished since the last tick")


@run_failure_sensor(
    monitored_jobs=WORKFLOW_JOBS, default_status=DefaultSensorStatus.RUNNING,
    description="Alerts on a failed workflow step: an error in the log and a row in the state "
    "database's workflow_alerts table.",
)
def workflow_failure_alert(context: RunFailureSensorContext, state: StateResource):
    run = context.dagster_run
    message = context.failure_event.message or "run failed"
    context.log.error(f"daily CS workflow step failed: {run.job_name} "
                      f"{run.tags.get(PARTITION_TAG, '')}: {message}")
    record_alert(state.engine(), run.run_id, run.job_name, run.tags.get(PARTITION_TAG),
                 message, datetime.now(UTC))


SCHEDULES = [workflow_schedule, playbook_dispatch_schedule]
SENSORS = [daily_workflow_sensor, workflow_failure_alert]

defs = Definitions(jobs=[*WORKFLOW_JOBS, daily_health_job], schedules=SCHEDULES, sensors=SENSORS)
