"""Playbook assets: the day's enrolments, the deliveries of due steps, and the measured effect.

`playbook_enrolments` reads every asset a trigger may name; a missing partition (its asset
failed or did not run) only holds back the playbooks that need it, so one failing list never
stops the others. `playbook_deliveries` is one dispatcher pass; its checks surface steps a
person must look at.
"""

import os
import socket
from datetime import date, timedelta

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    Output,
    RetryPolicy,
    TimeWindowPartitionMapping,
    asset,
)

from cs_assets.defs.shared.partitions import (
    DAILY,
    OPTIONAL_INPUT,
    daily_frames,
    daily_partitions,
    days_of,
)
from cs_assets.defs.shared.resources import (
    ContentResource,
    MailResource,
    PlaybooksResource,
    StateResource,
    TeamResource,
)
from cs_assets.defs.shared.state_keys import reads
from cs_assets.display import markdown_table
from cs_assets.playbooks.config import ASSET_COLUMNS
from cs_assets.playbooks.effect import EFFECT_SCHEMA, playbook_effectiveness
from cs_assets.playbooks.passes import dispatch_pass
from cs_assets.playbooks.runner import run_day
from cs_assets.state import schema as state_tables
from cs_assets.state.contacts import contact_summary
from cs_assets.state.day_rows import read_rows
from cs_assets.state.delivery import (
    delivery_health,
    in_doubt_steps,
    unjudged_steps,
)
from cs_assets.state.schema import IN_DOUBT, PENDING
from cs_assets.state.store import record_alert, record_opt_out
from cs_assets.state.tasks import task_load
from cs_assets.team.referrals import CODE_COLUMNS, CODE_SCHEMA
from cs_assets.vocabulary import HH, utc_now

RAW_FLAG = "raw_flag"  # opt-out source: households.email_opt_out
# Trigger assets: a missing day is read as absent (its playbooks wait), not as an error.
TRIGGER_INS = {name: AssetIn(name, metadata=OPTIONAL_INPUT) for name in sorted(ASSET_COLUMNS)}


@asset(
    name="playbook_enrolments",
    deps=reads("enrolments", "step_executions", "opt_outs", "message_events",
               "referral_codes_issued"),
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    kinds={"polars", "sql"},
    ins={**TRIGGER_INS, "households": AssetIn("households"),
         "referral_codes": AssetIn("referral_codes")},
    description="Who entered which playbook on the day (holdout drawn), written to the state "
    "database with their scheduled steps. The same run ends enrolments that exited "
    "(responded, recovered, churned, opted out), judges the day's conditional steps, brings "
    "due messages' content up to date and records the raw email opt-out flags.",
)
def playbook_enrolments_asset(
    context: AssetExecutionContext,
    state: StateResource,
    playbooks: PlaybooksResource,
    content: ContentResource,
    team: TeamResource,
    households: pl.DataFrame,
    referral_codes: pl.DataFrame,
    **triggers,
):
    engine, catalog, quotes = state.engine(), playbooks.load(), content.load()
    frames = {name: frame for name, frame in triggers.items() if frame is not None}
    # both sources of codes: the product's and the ones the platform issued
    frames["referral_codes"] = pl.concat([
        referral_codes.select(CODE_COLUMNS),
        read_rows(engine, state_tables.referral_codes_issued, CODE_SCHEMA).select(CODE_COLUMNS),
    ])
    names = {m.id: m.display_name for m in team.load().assignments.roster}
    zones = dict(households.select(HH, "timezone").iter_rows())
    flagged = households.filter(pl.col("email_opt_out").fill_null(False))["household_id"]
    now = utc_now()
    record_opt_out(engine, flagged, "email", RAW_FLAG, now)
    parts, lines = [], []
    for day in days_of(context):  # in order: a day's cooldowns read the days before
        report = run_day(engine, catalog, quotes, frames, day, now, names, zones)
        parts.append(report.enrolled)
        lines.append((day.isoformat(), report.enrolled.height,
                      int(report.enrolled["holdout"].sum()), dict(report.exits),
                      dict(report.conditions), report.refreshed))
        for playbook, missing in report.missing_assets.items():
            context.log.warning(f"{day}: {playbook} waits: no data from {', '.join(missing)}")
    out = pl.concat(parts, how="vertical_relaxed").with_columns(as_of=pl.col("enrolled_on"))
    per_playbook = out.group_by("playbook").agg(
        enrolled=pl.len(), held_out=pl.col("holdout").sum()).sort("playbook")
    days = pl.DataFrame(lines, orient="row", schema=["day", "enrolled", "held_out", "exits",
                                                     "conditions", "contexts_refreshed"])
    return Output(out, metadata={
        "dagster/row_count": out.height,
        "opted_out_raw_flag": len(flagged),
        "by_playbook": MetadataValue.md(markdown_table(per_playbook)),
        "by_day": MetadataValue.md(markdown_table(days.with_columns(
            pl.col("exits", "conditions").map_elements(str, return_dtype=pl.String)))),
        "waiting_playbooks": MetadataValue.md(markdown_table(pl.DataFrame(
            {"playbook": list(report.missing_assets),
             "missing": [", ".join(v) for v in report.missing_assets.values()]},
            schema={"playbook": pl.String, "missing": pl.String}))),
    })


@asset(
    name="playbook_deliveries",
    partitions_def=daily_partitions,
    kinds={"sql", "email"},
    deps=["playbook_enrolments", *reads("step_executions", "enrolments", "opt_outs",
                                        "csm_assignments", "csm_tasks")],
    ins={"households": AssetIn("households")},
    retry_policy=RetryPolicy(max_retries=2, delay=30),
    check_specs=[
        AssetCheckSpec("no_steps_in_doubt", asset="playbook_deliveries",
                       description="Steps handed to the mail server by a sender that died "
                       "before recording the outcome: they may have gone out, so they are "
                       "never resent; a person checks the mail provider's log and runs "
                       "`cs-assets steps resolve STEP --sent|--resend|--skip`."),
        AssetCheckSpec("mail_delivery_healthy", asset="playbook_deliveries",
                       description="Fails when more than `alert_failed_share` of the pass's "
                       "attempted sends failed (the mail server is unreachable or refusing): "
                       "the steps wait in retrying with backoff, and a workflow_alerts row "
                       "says so."),
        AssetCheckSpec("no_step_waiting_on_its_condition", asset="playbook_deliveries",
                       description="Conditional steps due more than a day ago that no "
                       "enrolment run judged (their assets were missing)."),
        AssetCheckSpec("csm_task_load_within_capacity", asset="playbook_deliveries",
                       description="Nobody holds more open CSM tasks than their task_capacity "
                       "in team.yaml; the table gives each person's open and overdue tasks."),
    ],
    description="One dispatcher pass: claims the steps due by the end of the partition day "
    "(never after now), the contact policy's priority first, sends them over their channel "
    "(email over SMTP, or the outbox only without SMTP settings; CSM tasks; in-app "
    "notifications) and records each outcome: sent, retrying with backoff, deferred by the "
    "contact policy (send window, caps, budget), skipped with a reason (stale, opted out, "
    "shadow mode, ...), or in_doubt, each also in the contact log with its reason. Metadata: "
    "the week's contacts per household contacted (max, mean) deferrals by reason and each "
    "person's CSM task load. Before the pass, CSM tasks move to the household's current CSM "
    "and tasks whose snooze ended open again.",
)
def playbook_deliveries_asset(
    context: AssetExecutionContext, state: StateResource, mail: MailResource,
    playbooks: PlaybooksResource, team: TeamResource, households,
):
    engine = state.engine()
    now = utc_now()
    owner = f"{socket.gethostname()}:{os.getpid()}:{context.run_id}"
    catalog = playbooks.load()
    done = dispatch_pass(engine, mail.channel(), households, catalog, owner,
                         date.fromisoformat(context.partition_key))
    outcomes, expired, cutoff = done.outcomes, done.expired, done.cutoff
    reassigned, woken = done.reassigned, done.woken
    counts = pl.DataFrame(
        sorted(outcomes.items()), orient="row", schema={"outcome": pl.String, "steps": pl.Int64})
    doubtful = in_doubt_steps(engine)
    table = pl.DataFrame(
        [(s.step_id, s.playbook, s.household_id, s.template, s.message_id) for s in doubtful],
        orient="row", schema=["step_id", "playbook", "household_id", "template", "message_id"])
    stuck = unjudged_steps(engine, cutoff - timedelta(days=1))
    # the week up to this pass: ids and counts only
    contacts = contact_summary(engine, cutoff, catalog.contact_policy.marketing_channels)
    deferrals = contacts.pop("deferrals_by_reason_7d")
    health = delivery_health(outcomes, catalog.alert_failed_share)
    if not health.healthy:
        context.log.error(health.message)
        record_alert(engine, context.run_id, context.job_name, context.partition_key,
                     health.message, now)
    # as the pass left them: what it opened included
    load = task_load(engine, now.date(), utc_now(), team.load().assignments.task_capacities)
    over = load.filter(pl.col("open") > pl.col("capacity"))
    return MaterializeResult(
        metadata={
            "outcomes": MetadataValue.md(markdown_table(counts)),
            "sent": outcomes.get("sent", 0),
            "leases_expired_into_in_doubt": expired[IN_DOUBT],
            "leases_expired_back_to_queue": expired[PENDING],
            **contacts,
            "deferrals_by_reason_7d": MetadataValue.md(markdown_table(deferrals)),
            "csm_tasks_reassigned": reassigned,
            "csm_tasks_woken": woken,
            "csm_task_load": MetadataValue.md(markdown_table(load)),
        },
        check_results=[
            AssetCheckResult(
                check_name="no_steps_in_doubt", passed=not doubtful,
                severity=AssetCheckSeverity.ERROR,
                metadata={"in_doubt": len(doubtful),
                          "steps": MetadataValue.md(markdown_table(table.head(50)))}),
            AssetCheckResult(
                check_name="mail_delivery_healthy", passed=health.healthy,
                severity=AssetCheckSeverity.ERROR,
                metadata={"attempted": health.attempted, "failed": health.failed,
                          "failed_share": round(health.failed_share, 3),
                          "alert_failed_share": catalog.alert_failed_share}),
            AssetCheckResult(
                check_name="no_step_waiting_on_its_condition", passed=stuck == 0,
                severity=AssetCheckSeverity.WARN, metadata={"waiting": stuck}),
            AssetCheckResult(
                check_name="csm_task_load_within_capacity", passed=over.is_empty(),
                severity=AssetCheckSeverity.WARN,
                metadata={"over_capacity": over.height, "load": MetadataValue.md(
                    markdown_table(load.select("csm_id", "open", "overdue", "capacity")))}),
        ],
    )


# The value-delivery change is measured for enrolments of the last 120 days whose 60 days are
# over (churn: for every enrolment); older score partitions are not loaded.
EFFECT_LOOKBACK_DAYS = 120


@asset(
    name="playbook_effectiveness",
    **{**DAILY, "kinds": {"polars"}},
    deps=["playbook_enrolments", *reads("enrolments")],
    ins={
        "households": AssetIn("households"),
        "scores": AssetIn(
            "health_scores",
            partition_mapping=TimeWindowPartitionMapping(
                start_offset=-EFFECT_LOOKBACK_DAYS, allow_nonexistent_upstream_partitions=True),
            metadata=OPTIONAL_INPUT,
        ),
    },
    description="Does each playbook work? Treated against held-out households (intention to "
    "treat): churn within 60 and 90 days, change in the value-delivery score after 60 days, "
    "with 95% intervals (Newcombe for rates, Welch for means).",
)
def playbook_effectiveness_asset(
    context: AssetExecutionContext, state: StateResource, households: pl.DataFrame, scores
):
    enrolled = read_rows(state.engine(), state_tables.enrolments, {
        "household_id": pl.String, "playbook": pl.String, "holdout": pl.Boolean,
        "enrolled_on": pl.Date})
    if scores is None:
        scores = pl.DataFrame(schema={"household_id": pl.String, "as_of": pl.Date,
                                      "value_delivery_score": pl.Float64})
    churn = households.select("household_id", "churned_at")
    out = daily_frames(context, lambda day: playbook_effectiveness(
        enrolled, churn, scores, day).with_columns(as_of=pl.lit(day)).select(
            "as_of", *EFFECT_SCHEMA))
    effect = out.filter(pl.col("as_of") == max(days_of(context)))
    shown = effect.filter(pl.col("treated_n") > 0).with_columns(
        pl.col("treated_value", "holdout_value", "difference", "ci_low", "ci_high",
               "p_value").round(3))
    return Output(out,
                  metadata={
                      "dagster/row_count": effect.height,
                      "enrolments": enrolled.height,
                      "effects": MetadataValue.md(markdown_table(shown)),
                  })

