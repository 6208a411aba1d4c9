"""Deliver due steps at most once and account for every one (DESIGN "Playbooks").

    pending, retrying --claim_due--> claimed (leased to one owner, attempts + 1)
    claimed --mark_sent--> sent
    claimed --mark_failed--> retrying at now + backoff, or skipped after the last attempt
    claimed --mark_skipped--> skipped (reason)
    claimed --mark_deferred--> pending again at a later time (not an attempt)
    claimed, handed over --mark_in_doubt / expire_leases--> in_doubt (it may have gone out)
    claimed, never handed over --expire_leases--> pending (not an attempt)
    in_doubt --mark_sent by the claim's owner--> sent (the owner learned it went out)
    in_doubt --resolve_in_doubt--> sent, pending (resend) or skipped: a person decided

Only pending and retrying steps are claimable and a claim is only ever taken from them, so a
re-fired sensor, a retried run or a second dispatcher cannot send a step twice.

A batch is one transaction: the sender's writes to the state database (the outbox, CSM
tasks, in-app notifications, what the lists read back) commit with the steps' outcomes, so a
dispatcher dying mid-batch leaves none of them and its claims go back to the queue when the
lease ends. A sender handing a message to something outside the database (an SMTP server)
first calls `Tx.handoff(step)`, which commits the batch so far and marks that one step handed
over: only it may have gone out, so only it becomes in_doubt if the process dies, and a
person decides (`in_doubt_steps` feeds an asset check; `resolve_in_doubt`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

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
from cs_assets.state.transaction import transaction
from cs_assets.vocabulary import utc_now

# Channels an opt-out does not stop (DESIGN: receipts and account notices are the exception).
TRANSACTIONAL_CHANNELS = frozenset({"email_transactional"})

steps = step_executions  # short name for the queries below
CLAIMABLE = (PENDING, RETRYING)
DEFAULT_LEASE = timedelta(minutes=10)
DEFAULT_BATCH = 200
DEFERRED = "deferred"  # an outcome of a dispatch pass, not a status: the step is pending again
LOST = "lost"  # an outcome: the claim was taken away meanwhile (its lease ended)
GAVE_UP = "gave_up"  # an outcome: skipped after the last failed attempt
MAX_ERROR_CHARS = 2000
RESOLUTIONS = ("sent", "resend", "skip")  # what a person records for a step in doubt

Bind = sa.Engine | sa.Connection


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
    """A claimed or in-doubt step, with what a sender needs: its enrolment's stored message
    contexts come with the claim, so a batch is rendered without a query per step."""

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
    context: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)


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


class ClaimLost(Exception):
    """The step is no longer this dispatcher's (its lease ended and it went back to the
    queue): whatever it was about to hand over must not go out."""


Log = Mapping[str, object] | None  # a contact_log row, written with the outcome


@dataclass(frozen=True)
class Outcome:
    """What becomes of a step this owner holds: `name` (sent, skipped, deferred, in_doubt,
    retrying, gave_up), the columns it sets, the statuses it may move from, its log row."""

    step_id: int
    name: str
    values: Mapping[str, object]
    log: Log = None
    from_status: tuple[str, ...] = (CLAIMED,)


def _apply(conn: sa.Connection, owner: str, outcomes: list[Outcome]) -> list[Outcome]:
    """Write the outcomes of steps `owner` still holds (locked first, so none is taken away
    meanwhile) with their log rows, an UPDATE per kind of outcome; returns those written.
    A step no longer `owner`'s (its lease ended and it went back) is left alone."""
    if not outcomes:
        return []
    held = dict(conn.execute(
        sa.select(steps.c.step_id, steps.c.status)
        .where(steps.c.step_id.in_([o.step_id for o in outcomes]), steps.c.lease_owner == owner)
        .with_for_update()
    ).all())
    done = [o for o in outcomes if held.get(o.step_id) in o.from_status]
    groups: dict[tuple[str, ...], list[Outcome]] = {}
    for outcome in done:
        groups.setdefault(tuple(sorted(outcome.values)), []).append(outcome)
    for columns, group in groups.items():
        conn.execute(
            sa.update(steps).where(steps.c.step_id == sa.bindparam("target"))
            .values({column: sa.bindparam(column) for column in columns}),
            [{"target": o.step_id, **o.values} for o in group],
        )
    if logs := [dict(o.log) for o in done if o.log is not None]:
        conn.execute(sa.insert(contact_log), logs)
    return done


@dataclass
class Tx:
    """A dispatch batch as the sender sees it: the open transaction its reads and writes go
    through, the batch's steps (to look things up once for all of them), a memo for what it
    looked up, and `handoff` for a message about to leave the database. The steps' outcomes
    are written together (`flush`): before a handoff and at the end of the batch."""

    conn: sa.Connection
    owner: str
    batch: list[DueStep]
    now: Callable[[], datetime]
    memo: dict[str, Any] = field(default_factory=dict)
    handed: bool = False
    pending: list[Outcome] = field(default_factory=list)
    done: list[Outcome] = field(default_factory=list)

    def once(self, key: str, load: Callable[[], Any]) -> Any:
        """`load()` the first time `key` is asked for in this batch."""
        if key not in self.memo:
            self.memo[key] = load()
        return self.memo[key]

    def flush(self) -> None:
        self.done += _apply(self.conn, self.owner, self.pending)
        self.pending = []

    def handoff(self, step: DueStep) -> None:
        """Commit the batch so far and mark `step` handed over, just before it leaves (an SMTP
        DATA). Raises ClaimLost when the claim is no longer ours."""
        self.flush()
        taken = self.conn.execute(
            sa.update(steps)
            .where(steps.c.step_id == step.step_id, steps.c.lease_owner == self.owner,
                   steps.c.status == CLAIMED)
            .values(handed_at=self.now())
        ).rowcount == 1
        self.conn.commit()
        if not taken:
            raise ClaimLost(f"step {step.step_id} is no longer claimed by {self.owner}")
        self.handed = True


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


def _step_query(*, with_context: bool = False) -> sa.Select:
    columns = [
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
    ]
    if with_context:
        columns.append(enrolments.c.context)
    return (
        sa.select(*columns)
        .join(enrolments, enrolments.c.enrolment_id == steps.c.enrolment_id)
        .order_by(steps.c.priority, steps.c.due_at, steps.c.step_id)
    )


def claim_due(
    engine: sa.Engine,
    owner: str,
    now: datetime,
    lease: timedelta = DEFAULT_LEASE,
    limit: int = DEFAULT_BATCH,
    due_before: datetime | None = None,
) -> list[DueStep]:
    """Lease up to `limit` steps due at `now` to `owner` (unique per process) until now + lease,
    the most urgent first: the steps' `priority` (the contact policy's order: a save before an
    offer when both want the household's last slot), then the oldest.

    `due_before` (at most `now`) narrows to steps due earlier: a backfill sends a past day's
    steps without running ahead of it. A conditional step waits until its condition was found
    true. The lease must outlast sending the whole batch."""
    cutoff = now if due_before is None else min(now, due_before)
    due = (
        sa.select(steps.c.step_id)
        .where(
            steps.c.status.in_(CLAIMABLE),
            steps.c.next_attempt_at <= cutoff,
            steps.c.condition.is_(None) | steps.c.condition_met_on.is_not(None),
        )
        .order_by(steps.c.priority, steps.c.next_attempt_at, steps.c.step_id)
        .limit(limit)
    )
    values = dict(
        status=CLAIMED,
        lease_owner=owner,
        lease_expires_at=now + lease,
        handed_at=None,
        attempts=steps.c.attempts + 1,
    )
    with engine.begin() as conn:
        ids = _claim_ids(conn, due, values)
        if not ids:
            return []
        rows = conn.execute(_step_query(with_context=True).where(steps.c.step_id.in_(ids))).all()
    return [DueStep(**row._mapping) for row in rows]


def sent(step_id: int, at: datetime, log: Log = None) -> Outcome:
    """The owner's own step that expired into in_doubt meanwhile may be recorded sent too:
    the owner knows it went out."""
    return Outcome(step_id, SENT, {"status": SENT, "sent_at": at}, log, (CLAIMED, IN_DOUBT))


def skipped(step_id: int, reason: str, log: Log = None) -> Outcome:
    return Outcome(step_id, SKIPPED, {"status": SKIPPED, "skipped_reason": reason}, log)


def deferred(step: DueStep, until: datetime, log: Log = None) -> Outcome:
    """Pending again until `until`; the claim does not count as an attempt."""
    return Outcome(step.step_id, DEFERRED, {"status": PENDING, "next_attempt_at": until,
                                            "attempts": step.attempts - 1}, log)


def in_doubt(step_id: int, error: str, log: Log = None) -> Outcome:
    return Outcome(step_id, IN_DOUBT, {"status": IN_DOUBT,
                                       "last_error": error[:MAX_ERROR_CHARS]}, log)


def failed(step_id: int, attempts: int, error: str, now: datetime, backoff: Backoff,
           log: Log = None) -> Outcome:
    """A send that certainly did not go out: retried after the backoff, or skipped after
    the last attempt."""
    error = error[:MAX_ERROR_CHARS]
    if attempts >= backoff.max_attempts:
        return Outcome(step_id, GAVE_UP, {"status": SKIPPED, "last_error": error,
                                          "skipped_reason": f"gave up after {attempts} attempts"},
                       log)
    return Outcome(step_id, RETRYING, {"status": RETRYING, "last_error": error,
                                       "next_attempt_at": now + backoff.delay(attempts)}, log)


def _mark(bind: Bind, owner: str, outcome: Outcome) -> bool:
    with transaction(bind) as conn:
        return bool(_apply(conn, owner, [outcome]))


def mark_sent(bind: Bind, step_id: int, owner: str, at: datetime, log: Log = None) -> bool:
    """Record one step's outcome; False (nothing written) when the claim is no longer
    `owner`'s. The mark_* functions are the dispatcher's outcomes one at a time."""
    return _mark(bind, owner, sent(step_id, at, log))


def mark_skipped(bind: Bind, step_id: int, owner: str, reason: str, log: Log = None) -> bool:
    return _mark(bind, owner, skipped(step_id, reason, log))


def mark_deferred(bind: Bind, step: DueStep, owner: str, until: datetime,
                  log: Log = None) -> bool:
    return _mark(bind, owner, deferred(step, until, log))


def mark_in_doubt(bind: Bind, step_id: int, owner: str, error: str, log: Log = None) -> bool:
    return _mark(bind, owner, in_doubt(step_id, error, log))


def mark_failed(
    bind: Bind,
    step_id: int,
    owner: str,
    error: str,
    now: datetime,
    backoff: Backoff = Backoff(),
    log: Log = None,
) -> str | None:
    """Returns the new status (retrying, or skipped after the last attempt), None when the
    claim is no longer `owner`'s."""
    with transaction(bind) as conn:  # attempts cannot change while the owner holds the claim
        attempts = conn.execute(
            sa.select(steps.c.attempts).where(
                steps.c.step_id == step_id, steps.c.lease_owner == owner, steps.c.status == CLAIMED
            )
        ).scalar_one_or_none()
        if attempts is None:
            return None
        outcome = failed(step_id, attempts, error, now, backoff, log)
        return str(outcome.values["status"]) if _apply(conn, owner, [outcome]) else None


def expire_leases(engine: sa.Engine, now: datetime) -> dict[str, int]:
    """Claims whose lease ended: a step handed over becomes in_doubt (the process may have
    sent it before dying); the rest of the batch, never handed over, goes back to the queue
    (its claim not counted as an attempt). Returns how many went each way."""
    expired = (steps.c.status == CLAIMED) & (steps.c.lease_expires_at <= now)
    with engine.begin() as conn:
        doubtful = conn.execute(
            sa.update(steps).where(expired, steps.c.handed_at.is_not(None))
            .values(status=IN_DOUBT)
        ).rowcount
        requeued = conn.execute(
            sa.update(steps).where(expired, steps.c.handed_at.is_(None))
            .values(status=PENDING, attempts=steps.c.attempts - 1)
        ).rowcount
    return {IN_DOUBT: doubtful, PENDING: requeued}


def in_doubt_steps(engine: sa.Engine) -> list[DueStep]:
    """Steps a person must resolve: check the provider's log, then `resolve_in_doubt`."""
    with engine.connect() as conn:
        rows = conn.execute(_step_query().where(steps.c.status == IN_DOUBT)).all()
    return [DueStep(**row._mapping) for row in rows]


def resolve_in_doubt(engine: sa.Engine, step_id: int, resolution: str, at: datetime,
                     by: str = "operator") -> str:
    """Record what a person found for a step in doubt: `sent` (the provider's log has it),
    `resend` (it never went out: back to the queue now) or `skip` (leave it unsent). Each
    also goes in the contact log. Returns the step's new status; ValueError when the step
    does not exist or is not in doubt."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution!r}")
    values: dict[str, object] = {
        "sent": dict(status=SENT, sent_at=at),
        "resend": dict(status=PENDING, next_attempt_at=at, handed_at=None),
        "skip": dict(status=SKIPPED, skipped_reason=f"in doubt, resolved by {by}: not sent"),
    }[resolution]
    with engine.begin() as conn:
        row = conn.execute(_step_query().where(steps.c.step_id == step_id)).one_or_none()
        if row is None:
            raise ValueError(f"no step {step_id}")
        done = conn.execute(
            sa.update(steps).where(steps.c.step_id == step_id, steps.c.status == IN_DOUBT)
            .values(**values)
        ).rowcount == 1
        if not done:
            status = conn.execute(sa.select(steps.c.status)
                                  .where(steps.c.step_id == step_id)).scalar_one()
            raise ValueError(f"step {step_id} is {status}, not in_doubt")
        if resolution != "resend":  # a resend is logged when it is sent
            decision = "sent" if resolution == "sent" else "suppressed"
            conn.execute(sa.insert(contact_log), [dict(
                household_id=row.household_id, playbook=row.playbook, template=row.template,
                channel=row.channel, message_id=row.message_id, decision=decision,
                reason=f"in doubt, resolved by {by}", at=at)])
        return str(values["status"])


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


@dataclass(frozen=True)
class DeliveryHealth:
    """Whether a pass's sends went through: a mail server down shows as every attempt
    failing (retrying with backoff), which must not end in a green run and silence."""

    attempted: int
    failed: int
    threshold: float

    @property
    def failed_share(self) -> float:
        return self.failed / self.attempted if self.attempted else 0.0

    @property
    def healthy(self) -> bool:
        return self.failed_share <= self.threshold

    @property
    def message(self) -> str:
        return (f"{self.failed} of {self.attempted} sends failed in this dispatcher pass "
                f"({self.failed_share:.0%}, alert above {self.threshold:.0%}): is the mail "
                "server reachable? The steps wait in retrying with backoff.")


def delivery_health(outcomes: Mapping[str, int], threshold: float) -> DeliveryHealth:
    """A pass's failed sends (retrying, or given up) against its attempted sends."""
    failed = outcomes.get(RETRYING, 0) + outcomes.get(GAVE_UP, 0)
    attempted = failed + outcomes.get(SENT, 0) + outcomes.get(IN_DOUBT, 0)
    return DeliveryHealth(attempted, failed, threshold)


Send = Callable[[DueStep, Tx], None]


def dispatch(
    engine: sa.Engine,
    owner: str,
    send: Send,
    now: Callable[[], datetime] = utc_now,
    *,
    lease: timedelta = DEFAULT_LEASE,
    limit: int = DEFAULT_BATCH,
    backoff: Backoff = Backoff(),
    due_before: datetime | None = None,
) -> Counter[str]:
    """Claim due steps batch by batch, send each, record the outcome, until none is due.

    Each batch is one transaction (see the module's docstring); `send(step, tx)` reads and
    writes through `tx.conn` and calls `tx.handoff(step)` before a message leaves the
    database. Opted-out households (except on a transactional channel: receipts, credits)
    and ended enrolments are skipped without calling `send`. `send` raising SkipStep skips
    the step with its reason, Defer puts it back for later, OutcomeUnknown makes it in_doubt,
    a database error ends the pass (the batch's uncommitted part returns to the queue when
    its lease ends), anything else is a failed send (retried with backoff). Returns the count
    per outcome; `lost` counts claims taken away meanwhile."""
    outcomes: Counter[str] = Counter()
    while batch := claim_due(engine, owner, now(), lease, limit, due_before):
        with engine.connect() as conn:
            refused = {
                (channel, household)
                for channel in {step.channel for step in batch} - TRANSACTIONAL_CHANNELS
                for household in opted_out(conn, channel, {s.household_id for s in batch})
            }
            tx = Tx(conn, owner, batch, now)
            for step in batch:
                if (outcome := _deliver(tx, step, send, backoff, refused)) is not None:
                    tx.pending.append(outcome)
                if tx.handed:  # what went out is recorded before the next one leaves
                    tx.flush()
                    conn.commit()
                    tx.handed = False
            tx.flush()
            conn.commit()
        outcomes.update(outcome.name for outcome in tx.done)
        outcomes[LOST] += len(batch) - len(tx.done)
    if not outcomes[LOST]:
        del outcomes[LOST]
    return outcomes


def _deliver(
    tx: Tx,
    step: DueStep,
    send: Send,
    backoff: Backoff,
    refused: set[tuple[str, str]],
) -> Outcome | None:
    """The step's outcome; None when its claim was lost before it could go out."""
    now = tx.now

    def log(decision: str, reason: str | None = None) -> dict[str, object]:
        return dict(household_id=step.household_id, playbook=step.playbook,
                    template=step.template, channel=step.channel, message_id=step.message_id,
                    decision=decision, reason=reason, at=now())

    if (step.channel, step.household_id) in refused or step.exit_status:
        reason = (
            exit_reason(step.exit_status) if step.exit_status else f"opted out of {step.channel}"
        )
        return skipped(step.step_id, reason, log("suppressed", reason))
    try:
        send(step, tx)
    except sa.exc.SQLAlchemyError:
        raise
    except ClaimLost:
        return None
    except Defer as exc:
        why = f"{exc} (until {exc.until:%Y-%m-%d %H:%M} UTC)"
        return deferred(step, exc.until, log("deferred", why))
    except SkipStep as exc:
        reason = str(exc) or "skipped by the sender"
        return skipped(step.step_id, reason, log("suppressed", reason))
    except OutcomeUnknown as exc:
        return in_doubt(step.step_id, repr(exc), log("in_doubt", repr(exc)))
    except Exception as exc:
        return failed(step.step_id, step.attempts, repr(exc), now(), backoff,
                      log("failed", repr(exc)))
    return sent(step.step_id, now(), log("sent"))


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
