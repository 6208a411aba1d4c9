"""One as-of day of the playbook engine against the state database: enrol the day's
households, refresh what the day's due messages will say, end enrolments that exited, and judge
the day's conditional steps. Sending is the dispatcher's (cs_assets.state.delivery).

Every write is idempotent (unique keys, first write wins, conditional updates), so running a
day twice, or a re-fired sensor, changes nothing the first run did.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

import polars as pl
import sqlalchemy as sa

from cs_assets.playbooks import content, progress
from cs_assets.playbooks.config import PlaybookCatalog
from cs_assets.playbooks.enrolment import (
    ENROLMENT_COLUMNS,
    EXISTING_SCHEMA,
    Enrolment,
    plan_steps,
    select_enrolments,
    trigger_rows,
)
from cs_assets.playbooks.policy import zone
from cs_assets.state.day_rows import read_rows
from cs_assets.state.schema import (
    PENDING,
    RETRYING,
    SKIPPED,
    enrolments,
    message_events,
    step_executions,
)
from cs_assets.state.store import (
    MESSAGE_ID_DOMAIN,
    enrol_many,
    exit_enrolment,
    opted_out,
    schedule_many,
)
from cs_assets.vocabulary import HH

RESPONSE_EVENTS = ("reply", "click", "open")
# Assets with a row for every active household on every day they were computed.
PER_HOUSEHOLD = frozenset({"household_features", "health_scores", "health_tiers",
                           "churn_predictions", "micro_segments", "journey_stages",
                           "csm_assignments"})
ENROLMENT_SCHEMA = dict(EXISTING_SCHEMA, holdout=pl.Boolean)


@dataclass
class DayReport:
    """What a day's run did, for the asset's metadata."""

    enrolled: pl.DataFrame  # ENROLMENT_COLUMNS: today's new enrolments
    missing_assets: dict[str, list[str]] = field(default_factory=dict)  # playbook -> assets
    exits: Counter[str] = field(default_factory=Counter)
    conditions: Counter[str] = field(default_factory=Counter)  # met / not met
    refreshed: int = 0


def run_day(
    engine: sa.Engine,
    catalog: PlaybookCatalog,
    quotes: content.Content,
    frames: Mapping[str, pl.DataFrame],
    as_of: date,
    now: datetime,
    csm_names: Mapping[str, str],
    zones: Mapping[str, str | None] | None = None,
    domain: str = MESSAGE_ID_DOMAIN,
) -> DayReport:
    """Run `as_of` with the day's asset frames by name (missing assets: those playbooks wait);
    the messages quote `quotes` (the product's content.yaml); steps fall due at the send hour
    in each household's time zone (`zones`, from households.timezone; UTC when unknown).

    An asset with a row per active household and none on `as_of` counts as missing that day:
    a day absent from a backfill's range must not read as "everyone churned"."""
    frames = {
        name: frame for name, frame in frames.items()
        if name not in PER_HOUSEHOLD or (frame["as_of"] == as_of).any()
    }
    existing = read_rows(engine, enrolments, EXISTING_SCHEMA)
    facts = content.facts(frames, as_of, quotes)
    report = DayReport(pl.DataFrame(schema=dict(ENROLMENT_SCHEMA)).select(ENROLMENT_COLUMNS))
    new = []
    for playbook in catalog.playbooks.values():
        if playbook.mode == "off":
            continue
        missing = sorted(playbook.assets - frames.keys())
        if missing:
            report.missing_assets[playbook.name] = missing
            continue
        triggered = trigger_rows(playbook, frames, as_of)
        chosen = select_enrolments(
            playbook, frames, as_of, existing, salt=catalog.holdout_salt, rows=triggered
        )
        if chosen.is_empty():
            continue
        rows = _with_facts(
            chosen.join(
                triggered.drop("playbook", strict=False), on=[HH, "enrolment_key"], how="left"
            ),
            facts,
        )
        templates = [step.template for step in playbook.steps]
        contexts = content.contexts(templates, rows, quotes, csm_names)
        # each enrolment with the context built from its own row (joins may reorder rows)
        batch = [
            Enrolment(name, household, as_of, holdout, key, context).row()
            for (name, household, key, _, holdout), context in zip(
                rows.select(ENROLMENT_COLUMNS).iter_rows(), contexts, strict=True
            )
        ]
        ids = enrol_many(engine, batch, now)
        by_zone: dict[str | None, list[dict]] = {}  # the same steps for a zone's households
        plans = {}
        for enrolment_id, row in zip(ids, batch, strict=True):
            name = (zones or {}).get(row[HH])
            if name not in by_zone:
                by_zone[name] = [step.row() for step in plan_steps(
                    playbook, as_of, catalog.send_hour, zone(name),
                    catalog.priority(playbook.name))]
            plans[enrolment_id] = by_zone[name]
        schedule_many(engine, plans, domain=domain)
        new.append(chosen)
    if new:
        report.enrolled = pl.concat(new)
    open_enrolments = _open_enrolments(engine)
    report.refreshed = _refresh_contexts(engine, quotes, open_enrolments, facts, as_of, csm_names)
    refused = {channel: opted_out(engine, channel) for channel in progress.CUSTOMER_CHANNELS}
    ended = progress.exits(catalog, open_enrolments, frames, refused, as_of)
    for enrolment_id, status in ended.iter_rows():
        exit_enrolment(engine, enrolment_id, status, now)
        report.exits[status] += 1
    report.conditions = _judge_conditions(engine, catalog, open_enrolments, frames, as_of)
    return report


def _with_facts(rows: pl.DataFrame, facts: pl.DataFrame) -> pl.DataFrame:
    """The trigger rows with the household facts: a fact fills a column the row lacks or left
    null (rows of several triggers are stacked, so one trigger's columns are null in
    another's rows)."""
    shared = [c for c in facts.columns if c in rows.columns and c != HH]
    joined = rows.join(facts, on=HH, how="left", suffix="_fact")
    return joined.with_columns(
        pl.coalesce(pl.col(c), pl.col(f"{c}_fact")).alias(c) for c in shared
    ).drop(f"{c}_fact" for c in shared)


def _open_enrolments(engine: sa.Engine) -> pl.DataFrame:
    """Enrolments not exited with a step still to send (progress.OPEN_SCHEMA)."""
    steps = step_executions
    waiting = (
        sa.select(steps.c.enrolment_id)
        .where(steps.c.status.in_((PENDING, RETRYING)))
        .distinct()
        .subquery()
    )
    first_sent = (
        sa.select(steps.c.enrolment_id, sa.func.min(steps.c.sent_at).label("first_sent_at"))
        .group_by(steps.c.enrolment_id)
        .subquery()
    )
    events = (
        sa.select(steps.c.enrolment_id, sa.func.min(message_events.c.at).label("event_at"))
        .join(message_events, message_events.c.message_id == steps.c.message_id)
        .where(message_events.c.kind.in_(RESPONSE_EVENTS))
        .group_by(steps.c.enrolment_id)
        .subquery()
    )
    query = (
        sa.select(
            enrolments.c.enrolment_id,
            enrolments.c.playbook,
            enrolments.c.household_id,
            enrolments.c.enrolled_on,
            first_sent.c.first_sent_at,
            events.c.event_at,
        )
        .join(waiting, waiting.c.enrolment_id == enrolments.c.enrolment_id)
        .outerjoin(first_sent, first_sent.c.enrolment_id == enrolments.c.enrolment_id)
        .outerjoin(events, events.c.enrolment_id == enrolments.c.enrolment_id)
        .where(enrolments.c.exit_status.is_(None))
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=progress.OPEN_SCHEMA, orient="row")


def _refresh_contexts(
    engine: sa.Engine,
    quotes: content.Content,
    open_enrolments: pl.DataFrame,
    facts: pl.DataFrame,
    as_of: date,
    csm_names: Mapping[str, str],
) -> int:
    """Bring the contexts of enrolments with a step due today up to today's facts."""
    start, end = progress.due_window(as_of)
    steps = step_executions
    with engine.connect() as conn:
        due = conn.execute(
            sa.select(steps.c.enrolment_id, steps.c.template).where(
                steps.c.status.in_((PENDING, RETRYING)),
                steps.c.due_at >= start,
                steps.c.due_at < end,
            )
        ).all()
    templates: dict[int, list[str]] = {}
    for enrolment_id, template in due:
        templates.setdefault(enrolment_id, []).append(template)
    todo = open_enrolments.filter(
        pl.col("enrolment_id").is_in(list(templates)), pl.col("enrolled_on") < as_of
    ).select("enrolment_id", HH)
    rows = _with_facts(todo, facts)
    updates = []
    for row in rows.iter_rows(named=True):
        fresh = content.contexts(
            templates[row["enrolment_id"]], pl.DataFrame([row]), quotes, csm_names
        )[0]
        if fresh:
            updates.append((row["enrolment_id"], fresh))
    with engine.begin() as conn:
        for enrolment_id, fresh in updates:
            old = conn.execute(
                sa.select(enrolments.c.context).where(enrolments.c.enrolment_id == enrolment_id)
            ).scalar_one()
            conn.execute(
                sa.update(enrolments)
                .where(enrolments.c.enrolment_id == enrolment_id)
                .values(context=content.merge(old, fresh))
            )
    return len(updates)


def _judge_conditions(
    engine: sa.Engine,
    catalog: PlaybookCatalog,
    open_enrolments: pl.DataFrame,
    frames: Mapping[str, pl.DataFrame],
    as_of: date,
) -> Counter[str]:
    steps = step_executions
    _, end = progress.due_window(as_of)
    with engine.connect() as conn:
        due = conn.execute(
            sa.select(steps.c.step_id, steps.c.enrolment_id, steps.c.condition).where(
                steps.c.status == PENDING,
                steps.c.condition.is_not(None),
                steps.c.condition_met_on.is_(None),
                steps.c.due_at < end,
            )
        ).all()
    frame = pl.DataFrame([tuple(r) for r in due], schema=progress.DUE_SCHEMA, orient="row")
    judged = progress.conditions(catalog, frame, open_enrolments, frames, as_of)
    counts: Counter[str] = Counter()
    conditions = dict(frame.select("step_id", "condition").iter_rows())
    with engine.begin() as conn:
        for step_id, met in judged.iter_rows():
            pending = (steps.c.step_id == step_id, steps.c.status == PENDING)
            if met:
                conn.execute(sa.update(steps).where(*pending).values(condition_met_on=as_of))
            else:
                reason = f"condition {conditions[step_id]} not met on {as_of}"
                conn.execute(
                    sa.update(steps).where(*pending).values(status=SKIPPED, skipped_reason=reason)
                )
            counts["met" if met else "not met"] += 1
    return counts
