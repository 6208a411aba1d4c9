"""The dispatcher's `send`: route a claimed step to its channel with the context stored on its
enrolment, and record what the lists read back (check-ins, surveys, review requests).

The record is written before the send, keyed on the step's Message-ID: if the send then fails
the household counts as contacted one day early (a list skips it), never contacted twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
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
from cs_assets.playbooks.content import MISSING
from cs_assets.state.delivery import TRANSACTIONAL_CHANNELS, Defer, DueStep, SkipStep
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
DAY = timedelta(days=1)
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
    """`send(step)` for `cs_assets.state.delivery.dispatch`.

    `marketing_per_day` caps the marketing emails a household gets in any 24 hours (None: no
    cap); a step over it is deferred until the oldest of them is a day old. Transactional
    email, tasks and in-app messages are not capped. The cap holds with dispatchers running
    side by side: another dispatcher's claimed marketing email to the household counts as
    sent (every step is claimed before its cap is checked, so of two racing steps at least
    one sees the other; both may wait until the other's claim ends). An email in doubt does
    not count: a person decides whether it went out."""

    def __init__(
        self,
        engine: sa.Engine,
        email: EmailChannel,
        recipients: Mapping[str, Recipient],
        *,
        marketing_per_day: int | None = None,
        modes: Mapping[str, str] | None = None,
        tasks: CsmTaskChannel | None = None,
        in_app: InAppChannel | None = None,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.engine, self.email, self.recipients = engine, email, recipients
        self.marketing_per_day, self.now = marketing_per_day, now
        self.modes = dict(modes or {})
        self.tasks = tasks or CsmTaskChannel(engine)
        self.in_app = in_app or InAppChannel(engine)

    def __call__(self, step: DueStep) -> None:
        mode = self.modes.get(step.playbook, "live")
        if mode == "off":
            raise SkipStep("playbook switched off")
        if mode == "shadow":  # rendered as it would go out (a broken message shows), not sent
            self._shadow(step, self._context(step))
        if step.channel == MARKETING_EMAIL and self.marketing_per_day is not None:
            self._check_cap(step)
        context = self._context(step)
        recorded = self._record(step, context)
        try:
            self._send(step, context)
        except SkipStep:
            if recorded is not None:  # never sent: the lists must not count it as contact
                with self.engine.begin() as conn:
                    conn.execute(
                        sa.delete(recorded).where(recorded.c.message_id == step.message_id)
                    )
            raise

    @staticmethod
    def _shadow(step: DueStep, context: Mapping[str, Any]) -> None:
        if step.channel in EMAIL_CHANNELS:
            render(step.template, {"greeting_name": None, "unsubscribe_link": "(shadow)",
                                   **context})
        raise SkipStep("shadow mode: rendered, not sent")

    def _send(self, step: DueStep, context: Mapping[str, Any]) -> None:
        if step.channel in EMAIL_CHANNELS:
            recipient = self.recipients.get(step.household_id)
            if recipient is None or not recipient.address:
                raise SkipStep("no email address on file")
            self.email.send(step, recipient, context)
        elif step.channel == CSM_TASK:
            self.tasks.send(step, Task(due_on=step.due_at.date(), **context))
        elif step.channel == IN_APP:
            fields = {k: context[k] for k in ("title", "body", "cta", "link") if k in context}
            self.in_app.send(step, Notification(**fields))
        else:
            raise SkipStep(f"no channel {step.channel!r}")

    def _check_cap(self, step: DueStep) -> None:
        now = self.now()
        steps = step_executions
        own_owner = sa.select(steps.c.lease_owner).where(steps.c.step_id == step.step_id)
        with self.engine.connect() as conn:  # one statement: one snapshot of both kinds
            rows = conn.execute(
                sa.select(steps.c.status, steps.c.sent_at, steps.c.lease_expires_at)
                .join(enrolments, enrolments.c.enrolment_id == steps.c.enrolment_id)
                .where(
                    enrolments.c.household_id == step.household_id,
                    steps.c.channel == MARKETING_EMAIL,
                    ((steps.c.status == SENT) & (steps.c.sent_at > now - DAY))
                    | ((steps.c.status == CLAIMED) & (steps.c.lease_expires_at > now)
                       & steps.c.lease_owner.is_distinct_from(own_owner.scalar_subquery())),
                )
            ).all()
        sent = sorted(r.sent_at for r in rows if r.status == SENT)
        held = [r.lease_expires_at for r in rows if r.status == CLAIMED]
        if len(sent) + len(held) < self.marketing_per_day:
            return
        reason = f"{len(sent)} marketing emails in the last 24 hours"
        if len(sent) >= self.marketing_per_day:
            raise Defer(sent[len(sent) - self.marketing_per_day] + DAY, reason)
        # the other claims end (sent, deferred or in doubt) by their lease: look again then
        raise Defer(min(held), f"{reason}, {len(held)} being sent by another dispatcher")

    def _context(self, step: DueStep) -> dict[str, Any]:
        with self.engine.connect() as conn:
            stored = conn.execute(
                sa.select(enrolments.c.context).where(
                    enrolments.c.enrolment_id == step.enrolment_id
                )
            ).scalar_one()
        context = (stored or {}).get(step.template)
        if context is None:
            lacking = (stored or {}).get(MISSING, {}).get(step.template, "its data")
            raise SkipStep(
                f"no message content for {step.template}: the household has no {lacking}"
            )
        return context

    def _record(self, step: DueStep, context: Mapping[str, Any]) -> sa.Table | None:
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
        with self.engine.begin() as conn:
            insert_ignoring_duplicates(conn, table, [row], ["message_id"])
        return table
