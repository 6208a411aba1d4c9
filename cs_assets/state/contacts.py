"""The contact log read back: one household's history, and how much the platform contacts
households in a week. A CS lead asks "why did this customer get that email, and why not
the other one?"; the answer is here, with the reason of every decision."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

import polars as pl
import sqlalchemy as sa

from cs_assets.state.schema import CSM_TASK, SKIPPED, contact_log, enrolments, step_executions
from cs_assets.state.store import HOLDOUT_REASON
from cs_assets.vocabulary import HH, UTC_TS

HISTORY_SCHEMA = {"at": UTC_TS, "playbook": pl.String, "template": pl.String,
                  "channel": pl.String, "decision": pl.String, "reason": pl.String}


def contact_history(engine: sa.Engine, household_id: str) -> pl.DataFrame:
    """Every decision about a message to `household_id`, oldest first: the dispatcher's (sent,
    deferred, suppressed, in doubt, failed) and the holdout's (held out, at the time the step
    was due)."""
    log = contact_log.c
    steps = step_executions.c
    held = (sa.select(steps.due_at.label("at"), enrolments.c.playbook, steps.template,
                      steps.channel, sa.literal("held_out").label("decision"),
                      sa.literal("holdout: the playbook's comparison arm").label("reason"))
            .join(enrolments, enrolments.c.enrolment_id == steps.enrolment_id)
            .where(enrolments.c.household_id == household_id, steps.status == SKIPPED,
                   steps.skipped_reason == HOLDOUT_REASON))
    logged = sa.select(log.at, log.playbook, log.template, log.channel, log.decision,
                       log.reason).where(log.household_id == household_id)
    with engine.connect() as conn:
        rows = conn.execute(sa.union_all(logged, held)).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=HISTORY_SCHEMA,
                        orient="row").sort("at", "playbook", "template")


def contact_summary(engine: sa.Engine, until: datetime,
                    marketing: Collection[str] = ()) -> dict[str, object]:
    """The week before `until`: customer-facing messages sent per household contacted (max,
    mean; CSM tasks reach the CSM, not the customer), the most messages on the `marketing`
    channels any household got in the week and in the last 24 hours (what the contact
    policy caps; receipts are not capped), and deferrals by reason."""
    log = contact_log.c
    since = until - timedelta(days=7)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(log.household_id, log.channel, log.decision, log.reason, log.at)
            .where(log.at >= since, log.at < until)).all()
    frame = pl.DataFrame([tuple(r) for r in rows], orient="row", schema={
        HH: pl.String, "channel": pl.String, "decision": pl.String, "reason": pl.String,
        "at": UTC_TS})
    sent = frame.filter(pl.col("decision") == "sent", pl.col("channel") != CSM_TASK)
    per_household = sent.group_by(HH).len()
    promoted = sent.filter(pl.col("channel").is_in(list(marketing)))
    day = promoted.filter(pl.col("at") >= until - timedelta(days=1))
    deferred = (frame.filter(pl.col("decision") == "deferred")
                .with_columns(pl.col("reason").str.replace(r" \(until .*\)$", ""))
                .group_by("reason").agg(deferrals=pl.len())
                .sort("deferrals", "reason", descending=[True, False]))
    return {
        "households_contacted_7d": per_household.height,
        "contacts_per_household_7d_max": int(per_household["len"].max() or 0),
        "contacts_per_household_7d_mean": round(float(per_household["len"].mean() or 0.0), 2),
        "marketing_per_household_7d_max": int(promoted.group_by(HH).len()["len"].max() or 0),
        "marketing_per_household_24h_max": int(day.group_by(HH).len()["len"].max() or 0),
        "deferrals_by_reason_7d": deferred,
    }
