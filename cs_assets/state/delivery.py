"""Deliver due steps at most once and account for every one (DESIGN "Playbooks").

    pending, retrying --claim_due--> claimed (leased to one owner, attempts + 1)
    claimed --mark_sent--> sent
    claimed --mark_failed--> retrying at now + backoff, or skipped after the last attempt
    claimed --mark_skipped--> skipped (reason)
    claimed --mark_deferred--> pending again at a later time (not an attempt)
    claimed --mark_in_doubt / expire_leases--> in_doubt (it may have gone out)
    in_doubt --mark_sent by the claim's owner--> sent (the owner learned it went out)

Only pending and retrying steps are claimable and a claim is only ever taken from them, so a
re-fired sensor, a retried run or a second dispatcher cannot send a step twice. A claim that
outlives its lease is never made claimable again: the process may have handed the message to
the server before dying, so a person decides (`in_doubt_steps` feeds an asset check).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from cs_assets.state.schema import (
    CLAIMED,
    IN_DOUBT,
    PENDING,
    RETRYING,
    SENT,
    SKIPPED,
    contact_log,
    enrolments,
    step_executions,
)
from cs_assets.state.store import exit_reason, opted_out
from cs_assets.vocabulary import utc_now

# Channels an opt-out does not stop (DESIGN: receipts and account notices are the exception).
TRANSACTIONAL_CHANNELS = frozenset({"email_transactional"})

steps = step_executions  # short name for the queries below
CLAIMABLE = (PENDING, RETRYING)
DEFAULT_LEASE = timedelta(minutes=10)
DEFERRED = "deferred"  # an outcome of a dispatch pass, not a status: the step is pending again
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class Backoff:
    """Retry n waits `base * 2**(n-1)`, at most `cap`; after `max_attempts` sends, give up."""

    base: timedelta = timedelta(minutes=1)
    cap: timedelta = timedelta(hours=6)
    max_attempts: int = 8

    def __post_init__(self) -> None:
        # A zero delay would let one dispatch loop spin on a failing step.
        if not timedelta(0) < self.base <= self.cap or self.max_attempts < 1:
            raise ValueError(f"need 0 < base <= cap and max_attempts >= 1: {self}")

    def delay(self, attempts: int) -> timedelta:
        return min(self.base * 2 ** min(attempts - 1, 32), self.cap)


@dataclass(frozen=True)
class DueStep:
    """A claimed or in-doubt step, with what a sender needs."""

    step_id: int
    enrolment_id: int
    playbook: str
    household_id: str
    step_index: int
    channel: str
    template: str
    message_id: str
    due_at: datetime
    attempts: int
    exit_status: str | None  # set when the enrolment ended after the step was queued


class SkipStep(Exception):
    """Raised by a sender that decides not to send (condition false, exited); the message is
    the reason kept on the step."""


class Defer(Exception):
    """Raised by a sender that must not send yet (a frequency cap): the step goes back to
    pending until `until`, and the claim does not count as an attempt."""

    def __init__(self, until: datetime, reason: str) -> None:
        super().__init__(reason)
        self.until = until


class OutcomeUnknown(Exception):
    """Raised by a sender that cannot tell whether the server accepted the message (e.g. the
    connection dropped after the data was sent): the step becomes in_doubt, not retried."""


def _claim_ids(conn: sa.Connection, due: sa.Select, values: dict) -> list[int]:
    """Mark the due steps claimed and return their ids: the only dialect-specific locking.

    PostgreSQL: lock the due rows with FOR UPDATE SKIP LOCKED, so concurrent dispatchers take
    disjoint batches without waiting, then update them. SQLite has one writer at a time, so a
    single conditional UPDATE is atomic. Either way the UPDATE re-checks the status."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        ids = conn.execute(due.with_for_update(skip_locked=True)).scalars().all()
        if not ids:
            return []
        chosen = steps.c.step_id.in_(ids)
    elif dialect == "sqlite":
        chosen = steps.c.step_id.in_(due.scalar_subquery())
    else:
        raise NotImplementedError(f"no claim locking written for {dialect}")
    return (
        conn.execute(
            sa.update(steps)
            .where(chosen, steps.c.status.in_(CLAIMABLE))
            .values(values)
            .returning(steps.c.step_id)
        )
        .scalars()
        .all()
    )


def _step_query() -> sa.Select:
    return (
        sa.select(
            steps.c.step_id,
            steps.c.enrolment_id,
            enrolments.c.playbook,
            enrolments.c.household_id,
            steps.c.step_index,
            steps.c.channel,
            steps.c.template,
            steps.c.message_id,
            steps.c.due_at,
            steps.c.attempts,
            enrolments.c.exit_status,
        )
        .join(enrolments, enrolments.c.enrolment_id == steps.c.enrolment_id)
        .order_by(steps.c.due_at, steps.c.step_id)
    )


def claim_due(
    engine: sa.Engine,
    owner: str,
    now: datetime,
    lease: timedelta = DEFAULT_LEASE,
    limit: int = 100,
    due_before: datetime | None = None,
) -> list[DueStep]:
    """Lease up to `limit` steps due at `now` to `owner` (unique per process) until now + lease.

    `due_before` (at most `now`) narrows to steps due earlier: a backfill sends a past day's
    steps without running ahead of it. A conditional step waits until its condition was found
    true. The lease must outlast sending the whole batch: when it expires the steps become
    in_doubt."""
    cutoff = now if due_before is None else min(now, due_before)
    due = (
        sa.select(steps.c.step_id)
        .where(
            steps.c.status.in_(CLAIMABLE),
            steps.c.next_attempt_at <= cutoff,
            steps.c.condition.is_(None) | steps.c.condition_met_on.is_not(None),
        )
        .order_by(steps.c.next_attempt_at, steps.c.step_id)
        .limit(limit)
    )
    values = dict(
        status=CLAIMED,
        lease_owner=owner,
        lease_expires_at=now + lease,
        attempts=steps.c.attempts + 1,
    )
    with engine.begin() as conn:
        ids = _claim_ids(conn, due, values)
        if not ids:
            return []
        rows = conn.execute(_step_query().where(steps.c.step_id.in_(ids))).all()
    return [DueStep(**row._mapping) for row in rows]


Log = Mapping[str, object] | None  # a contact_log row, written with the outcome


def _finish(
    engine: sa.Engine, step_id: int, owner: str, from_status: tuple[str, ...], log: Log = None,
    **values,
) -> bool:
    """Move a step `owner` holds to its outcome, and append `log` to the contact log in the
    same transaction; False (nothing written) when the claim is no longer `owner`'s."""
    with engine.begin() as conn:
        done = conn.execute(
            sa.update(steps)
            .where(
                steps.c.step_id == step_id,
                steps.c.lease_owner == owner,
                steps.c.status.in_(from_status),
            )
            .values(**values)
        ).rowcount == 1
        if done and log is not None:
            conn.execute(sa.insert(contact_log), [dict(log)])
        return done


def mark_sent(engine: sa.Engine, step_id: int, owner: str, at: datetime, log: Log = None) -> bool:
    """Record the send. Also resolves the owner's own step that expired into in_doubt meanwhile:
    the owner knows it went out."""
    return _finish(engine, step_id, owner, (CLAIMED, IN_DOUBT), log, status=SENT, sent_at=at)


def mark_skipped(engine: sa.Engine, step_id: int, owner: str, reason: str,
                 log: Log = None) -> bool:
    return _finish(engine, step_id, owner, (CLAIMED,), log, status=SKIPPED,
                   skipped_reason=reason)


def mark_deferred(engine: sa.Engine, step_id: int, owner: str, until: datetime,
                  log: Log = None) -> bool:
    return _finish(
        engine, step_id, owner, (CLAIMED,), log, status=PENDING, next_attempt_at=until,
        attempts=steps.c.attempts - 1,
    )


def mark_in_doubt(engine: sa.Engine, step_id: int, owner: str, error: str,
                  log: Log = None) -> bool:
    return _finish(
        engine, step_id, owner, (CLAIMED,), log, status=IN_DOUBT,
        last_error=error[:MAX_ERROR_CHARS],
    )


def mark_failed(
    engine: sa.Engine,
    step_id: int,
    owner: str,
    error: str,
    now: datetime,
    backoff: Backoff = Backoff(),
    log: Log = None,
) -> str | None:
    """A send that certainly did not go out: retry it after the backoff, or skip it after the
    last attempt. Returns the new status, None when the claim is no longer `owner`'s."""
    with engine.connect() as conn:  # attempts cannot change while the owner holds the claim
        attempts = conn.execute(
            sa.select(steps.c.attempts).where(
                steps.c.step_id == step_id, steps.c.lease_owner == owner, steps.c.status == CLAIMED
            )
        ).scalar_one_or_none()
    if attempts is None:
        return None
    error = error[:MAX_ERROR_CHARS]
    if attempts >= backoff.max_attempts:
        done = _finish(
            engine,
            step_id,
            owner,
            (CLAIMED,),
            log,
            status=SKIPPED,
            last_error=error,
            skipped_reason=f"gave up after {attempts} attempts",
        )
        return SKIPPED if done else None
    done = _finish(
        engine,
        step_id,
        owner,
        (CLAIMED,),
        log,
        status=RETRYING,
        last_error=error,
        next_attempt_at=now + backoff.delay(attempts),
    )
    return RETRYING if done else None


def expire_leases(engine: sa.Engine, now: datetime) -> int:
    """Claims whose lease ended become in_doubt (not pending: the sender may have sent them).
    Returns how many."""
    with engine.begin() as conn:
        return conn.execute(
            sa.update(steps)
            .where(steps.c.status == CLAIMED, steps.c.lease_expires_at <= now)
            .values(status=IN_DOUBT)
        ).rowcount


def in_doubt_steps(engine: sa.Engine) -> list[DueStep]:
    """Steps a person must resolve: check the provider's log, then record sent or skipped."""
    with engine.connect() as conn:
        rows = conn.execute(_step_query().where(steps.c.status == IN_DOUBT)).all()
    return [DueStep(**row._mapping) for row in rows]


def unjudged_steps(engine: sa.Engine, due_before: datetime) -> int:
    """Conditional steps due before `due_before` that are still waiting for their condition
    to be judged (no enrolment run of their day could): they are neither sent nor skipped."""
    with engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).where(
                steps.c.status == PENDING,
                steps.c.condition.is_not(None),
                steps.c.condition_met_on.is_(None),
                steps.c.due_at < due_before,
            )
        ).scalar_one()


def dispatch(
    engine: sa.Engine,
    owner: str,
    send: Callable[[DueStep], None],
    now: Callable[[], datetime] = utc_now,
    *,
    lease: timedelta = DEFAULT_LEASE,
    limit: int = 100,
    backoff: Backoff = Backoff(),
    due_before: datetime | None = None,
) -> Counter[str]:
    """Claim due steps batch by batch, send each, record the outcome, until none is due.

    Opted-out households (except on a transactional channel: receipts, credits) and ended
    enrolments are skipped without calling `send`. `send`
    raising SkipStep skips the step with its reason, Defer puts it back for later,
    OutcomeUnknown makes it in_doubt,
    anything else is a failed send (retried with backoff). A process dying mid-batch leaves
    its claims to expire into in_doubt. Returns the count per outcome; `lost` counts claims
    taken away meanwhile."""
    outcomes: Counter[str] = Counter()
    while batch := claim_due(engine, owner, now(), lease, limit, due_before):
        refused = {
            (channel, household)
            for channel in {step.channel for step in batch} - TRANSACTIONAL_CHANNELS
            for household in opted_out(engine, channel, {s.household_id for s in batch})
        }
        for step in batch:
            outcome = _deliver(engine, owner, step, send, now, backoff, refused)
            outcomes[outcome or "lost"] += 1
    return outcomes


def _deliver(
    engine: sa.Engine,
    owner: str,
    step: DueStep,
    send: Callable[[DueStep], None],
    now: Callable[[], datetime],
    backoff: Backoff,
    refused: set[tuple[str, str]],
) -> str | None:
    def log(decision: str, reason: str | None = None) -> dict[str, object]:
        return dict(household_id=step.household_id, playbook=step.playbook,
                    template=step.template, channel=step.channel, message_id=step.message_id,
                    decision=decision, reason=reason, at=now())

    if (step.channel, step.household_id) in refused or step.exit_status:
        reason = (
            exit_reason(step.exit_status) if step.exit_status else f"opted out of {step.channel}"
        )
        done = mark_skipped(engine, step.step_id, owner, reason, log("suppressed", reason))
        return SKIPPED if done else None
    try:
        send(step)
    except Defer as exc:
        why = f"{exc} (until {exc.until:%Y-%m-%d %H:%M} UTC)"
        done = mark_deferred(engine, step.step_id, owner, exc.until, log("deferred", why))
        return DEFERRED if done else None
    except SkipStep as exc:
        reason = str(exc) or "skipped by the sender"
        done = mark_skipped(engine, step.step_id, owner, reason, log("suppressed", reason))
        return SKIPPED if done else None
    except OutcomeUnknown as exc:
        done = mark_in_doubt(engine, step.step_id, owner, repr(exc), log("in_doubt", repr(exc)))
        return IN_DOUBT if done else None
    except Exception as exc:
        return mark_failed(engine, step.step_id, owner, repr(exc), now(), backoff,
                           log("failed", repr(exc)))
    return SENT if mark_sent(engine, step.step_id, owner, now(), log("sent")) else None


def sends_of(engine: sa.Engine, playbooks: list[str]) -> list[tuple[str, datetime]]:
    """(household_id, sent_at) of every step the playbooks sent: the lists that leave out
    households pitched recently read their campaign's own sends here."""
    query = (
        sa.select(enrolments.c.household_id, step_executions.c.sent_at)
        .join(enrolments, enrolments.c.enrolment_id == step_executions.c.enrolment_id)
        .where(enrolments.c.playbook.in_(playbooks), step_executions.c.status == SENT)
    )
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]
