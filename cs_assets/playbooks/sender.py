"""The dispatcher's `send`: route a claimed step to its channel with the context stored on its
enrolment, and record what the lists read back (check-ins, surveys, review requests).

The record is written before the send, keyed on the step's Message-ID: if the send then fails
the household counts as contacted one day early (a list skips it), never contacted twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from cs_assets.channels.email import EmailChannel, Recipient, render
from cs_assets.channels.tables import (
    IN_APP,
    CsmTaskChannel,
    InAppChannel,
    Notification,
    Task,
)
from cs_assets.playbooks.config import ContactPolicy
from cs_assets.playbooks.content import MISSING
from cs_assets.playbooks.policy import (
    WEEK,
    budget_wait,
    cap_wait,
    stale_reason,
    window_wait,
    zone,
)
from cs_assets.state.delivery import TRANSACTIONAL_CHANNELS, Defer, DueStep, SkipStep, Tx
from cs_assets.state.schema import (
    CLAIMED,
    CSM_TASK,
    SENT,
    checkins,
    enrolments,
    review_requests,
    step_executions,
    survey_sends,
)
from cs_assets.state.store import insert_ignoring_duplicates
from cs_assets.vocabulary import utc_now

MARKETING_EMAIL = "email"
EMAIL_CHANNELS = frozenset({MARKETING_EMAIL}) | TRANSACTIONAL_CHANNELS
RECENT, SENT_TODAY = "recent_marketing", "marketing_sent_today"  # a batch's memo keys
# Templates that are a CSM reaching out: the proactive check-in list waits 90 days after one.
CHECKIN_TEMPLATES = frozenset(
    {
        "proactive_check_in",
        "declining_usage",
        "csm_outreach_call",
        "premium_adoption_check_in",
        "premium_roi_check_in",
    }
)
SURVEY_TEMPLATES = frozenset({"survey_invitation", "survey_invitation_in_app"})
REVIEW_TEMPLATES = frozenset({"review_request"})


class Sender:
    """`send(step, tx)` for `cs_assets.state.delivery.dispatch`, applying the contact policy.

    In order: a playbook switched off skips, a marketing step due too long ago skips as
    stale, a step without message content skips, shadow mode renders and skips; then a
    marketing message waits (Defer) outside the household's local send window, over its
    caps, or over the day's budget. Transactional email and CSM tasks are never capped.

    The caps hold with dispatchers running side by side: another dispatcher's claimed
    marketing message to the household counts as sent (every step is claimed before its cap
    is checked, so of two racing steps at least one sees the other; both may wait until the
    other's claim ends). A message in doubt does not count: a person decides whether it went
    out. What the caps and the budget count is read once per batch and kept up to date as
    the batch sends."""

    def __init__(
        self,
        email: EmailChannel,
        recipients: Mapping[str, Recipient],
        policy: ContactPolicy,
        *,
        zones: Mapping[str, str | None] | None = None,
        modes: Mapping[str, str] | None = None,
        tasks: CsmTaskChannel | None = None,
        in_app: InAppChannel | None = None,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.email, self.recipients = email, recipients
        self.policy, self.now = policy, now
        self.marketing = frozenset(policy.marketing_channels)
        self.zones = dict(zones or {})
        self.modes = dict(modes or {})
        self.tasks = tasks or CsmTaskChannel(now)
        self.in_app = in_app or InAppChannel(now)

    def __call__(self, step: DueStep, tx: Tx) -> None:
        mode = self.modes.get(step.playbook, "live")
        if mode == "off":
            raise SkipStep("playbook switched off")
        marketing = step.channel in self.marketing
        now = self.now()
        if marketing and (stale := stale_reason(step.due_at, now, self.policy)):
            raise SkipStep(stale)
        context = self._context(step)
        if mode == "shadow":  # rendered as it would go out (a broken message shows), not sent
            self._shadow(step, context)
        if marketing:
            self._check_policy(step, tx, now)
        recorded = self._record(tx.conn, step, context)
        try:
            self._send(step, context, tx)
        except SkipStep:
            if recorded is not None:  # never sent: the lists must not count it as contact
                tx.conn.execute(
                    sa.delete(recorded).where(recorded.c.message_id == step.message_id)
                )
            raise
        if marketing:
            self._recent(tx).setdefault(step.household_id, []).append((now, None))
            if self.policy.daily_budget is not None:
                tx.memo[SENT_TODAY] = self._sent_today(tx, now) + 1

    @staticmethod
    def _shadow(step: DueStep, context: Mapping[str, Any]) -> None:
        if step.channel in EMAIL_CHANNELS:
            render(step.template, {"greeting_name": None, "unsubscribe_link": "(shadow)",
                                   **context})
        raise SkipStep("shadow mode: rendered, not sent")

    def _send(self, step: DueStep, context: Mapping[str, Any], tx: Tx) -> None:
        if step.channel in EMAIL_CHANNELS:
            recipient = self.recipients.get(step.household_id)
            if recipient is None or not recipient.address:
                raise SkipStep("no email address on file")
            self.email.send(step, recipient, context, tx)
        elif step.channel == CSM_TASK:
            self.tasks.send(step, Task(due_on=step.due_at.date(), **context), tx)
        elif step.channel == IN_APP:
            fields = {k: context[k] for k in ("title", "body", "cta", "link") if k in context}
            self.in_app.send(step, Notification(**fields), tx)
        else:
            raise SkipStep(f"no channel {step.channel!r}")

    def _check_policy(self, step: DueStep, tx: Tx, now: datetime) -> None:
        window = self.policy.send_window
        if window is not None and step.channel == MARKETING_EMAIL:
            tz = zone(self.zones.get(step.household_id))
            if (opens := window_wait(now, tz, window)) is not None:
                raise Defer(opens, f"outside the send window {window.start:%H:%M}-"
                                   f"{window.end:%H:%M} {tz.key}")
        sent, held = [], []
        for at, lease_end in self._recent(tx).get(step.household_id, ()):
            (held if lease_end else sent).append(lease_end or at)
        if (wait := cap_wait(sent, held, now, self.policy)) is not None:
            raise Defer(*wait)
        if (until := budget_wait(self._sent_today(tx, now), now, self.policy)) is not None:
            raise Defer(until, f"the day's send budget of {self.policy.daily_budget} is spent")

    def _recent(self, tx: Tx) -> dict[str, list]:
        """The batch's households' marketing messages of the last 7 days, as (sent_at, None),
        and those another dispatcher holds, as (None, lease end): one query per batch."""

        def load() -> dict[str, list]:
            now, steps = self.now(), step_executions.c
            # two lookups, each on its index (a join, or a condition on the status, lets
            # SQLite without statistics scan every sent step by status instead)
            households = dict(tx.conn.execute(
                sa.select(enrolments.c.enrolment_id, enrolments.c.household_id).where(
                    enrolments.c.household_id.in_(sorted({s.household_id for s in tx.batch})))
            ).all())
            rows = tx.conn.execute(  # a household's few steps: filtered here, not by status
                sa.select(steps.enrolment_id, steps.status, steps.sent_at,
                          steps.lease_expires_at, steps.lease_owner)
                .where(steps.enrolment_id.in_(sorted(households)),
                       steps.channel.in_(sorted(self.marketing)))
            ).all()
            recent: dict[str, list] = {}
            for enrolment_id, status, sent_at, lease_end, owner in rows:
                if status == SENT and sent_at > now - WEEK:
                    recent.setdefault(households[enrolment_id], []).append((sent_at, None))
                elif status == CLAIMED and lease_end > now and owner != tx.owner:
                    recent.setdefault(households[enrolment_id], []).append((None, lease_end))
            return recent

        return tx.once(RECENT, load)

    def _sent_today(self, tx: Tx, now: datetime) -> int:
        """Marketing messages sent since UTC midnight, by every dispatcher (read per batch)."""
        if self.policy.daily_budget is None:
            return 0
        midnight = datetime.combine(now.astimezone(UTC).date(), datetime.min.time(),
                                    tzinfo=UTC)
        return tx.once(SENT_TODAY, lambda: tx.conn.execute(
            sa.select(sa.func.count()).where(
                step_executions.c.sent_at >= midnight, step_executions.c.status == SENT,
                step_executions.c.channel.in_(sorted(self.marketing)))
        ).scalar_one())

    @staticmethod
    def _context(step: DueStep) -> dict[str, Any]:
        stored = step.context or {}
        context = stored.get(step.template)
        if context is None:
            lacking = stored.get(MISSING, {}).get(step.template, "its data")
            raise SkipStep(
                f"no message content for {step.template}: the household has no {lacking}"
            )
        return context

    @staticmethod
    def _record(conn: sa.Connection, step: DueStep, context: Mapping[str, Any]) -> sa.Table | None:
        """Write the row the lists read back; returns its table (None: nothing to record)."""
        base = dict(household_id=step.household_id, message_id=step.message_id)
        now = step.due_at  # when it was meant to reach them: the lists' time, even in a backfill
        if step.template in CHECKIN_TEMPLATES:
            table, row = checkins, dict(base, kind=step.template, sent_at=now)
        elif step.template in SURVEY_TEMPLATES:
            survey_type = context.get("survey_type")
            if survey_type is None:
                return None
            channel = "email" if step.channel in EMAIL_CHANNELS else step.channel
            table = survey_sends
            row = dict(base, survey_type=survey_type, channel=channel, sent_at=now)
        elif step.template in REVIEW_TEMPLATES:
            table, row = review_requests, dict(base, requested_at=now)
        else:
            return None
        insert_ignoring_duplicates(conn, table, [row], ["message_id"])
        return table
