"""The platform's own state as SQLAlchemy Core tables: one definition for SQLite and PostgreSQL.

sql/010_platform_state.sql is the same schema written out for PostgreSQL (a test keeps the
two equal). Times are stored in UTC; ids are generated, natural keys are unique constraints,
so a re-fired sensor or a retried run cannot write a second enrolment, step or message.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

# Step statuses. pending/retrying wait for `next_attempt_at`; claimed is leased to one
# dispatcher; sent, skipped and in_doubt are final for the dispatcher.
PENDING, CLAIMED, SENT, RETRYING, IN_DOUBT, SKIPPED = (
    "pending",
    "claimed",
    "sent",
    "retrying",
    "in_doubt",
    "skipped",
)
STEP_STATUSES = (PENDING, CLAIMED, SENT, RETRYING, IN_DOUBT, SKIPPED)
EXIT_STATUSES = ("responded", "recovered", "churned", "opted_out", "completed", "downgraded")
EVENT_KINDS = ("reply", "click", "open", "unsubscribe")
OUTBOX_STATUSES = ("queued", "sent", "failed")
SURVEY_TYPES = ("NPS", "CSAT", "Product", "Feature", "Exit")
ALL_CHANNELS = "all"  # an opt-out for every channel
CSM_TASK = "csm_task"  # the channel of human work: a task for the household's CSM


class UtcDateTime(sa.TypeDecorator):
    """timestamptz on PostgreSQL; on SQLite, which has no time zones, UTC text.

    Naive datetimes are refused rather than guessed, and values read back are always aware.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()}: pass an aware UTC time")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _in(column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)  # module constants, not data
    return sa.CheckConstraint(f"{column} IN ({listed})")


def _id(name: str) -> sa.Column:
    # SQLite only autoincrements an INTEGER PRIMARY KEY.
    return sa.Column(
        name, sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.Identity(), primary_key=True
    )


metadata = sa.MetaData()

enrolments = sa.Table(
    "enrolments",
    metadata,
    _id("enrolment_id"),
    sa.Column("playbook", sa.Text, nullable=False),
    sa.Column("household_id", sa.Text, nullable=False),
    # What makes a re-enrolment new: by default the day the trigger fired.
    sa.Column("enrolment_key", sa.Text, nullable=False),
    sa.Column("enrolled_on", sa.Date, nullable=False),
    sa.Column("holdout", sa.Boolean, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("exit_status", sa.Text),
    sa.Column("exited_at", UtcDateTime),
    # What the messages say, taken from the trigger's rows when the household was enrolled
    # (cs_assets/playbooks/content.py): ids, figures and feature names, no addresses.
    sa.Column("context", sa.JSON().with_variant(JSONB(), "postgresql")),
    sa.UniqueConstraint("playbook", "household_id", "enrolment_key"),
    # the marketing cap and the lists look a household's enrolments up
    sa.Index("enrolments_household", "household_id"),
    _in("exit_status", EXIT_STATUSES),
    sa.CheckConstraint("(exit_status IS NULL) = (exited_at IS NULL)", name="enrolments_exit"),
)

step_executions = sa.Table(
    "step_executions",
    metadata,
    _id("step_id"),
    sa.Column(
        "enrolment_id", sa.BigInteger, sa.ForeignKey("enrolments.enrolment_id"), nullable=False
    ),
    sa.Column("step_index", sa.Integer, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("template", sa.Text, nullable=False),
    sa.Column("message_id", sa.Text, nullable=False, unique=True),
    sa.Column("due_at", UtcDateTime, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default=PENDING),
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    # When a dispatcher may next claim it: due_at, pushed back by each failed send.
    sa.Column("next_attempt_at", UtcDateTime, nullable=False),
    sa.Column("lease_owner", sa.Text),  # the last claim's, kept for the record
    sa.Column("lease_expires_at", UtcDateTime),
    # Set when the claim's owner hands the message to something outside the database (an SMTP
    # server): only such a step may have gone out if the owner dies, so only it becomes
    # in_doubt; the rest of a dead batch returns to the queue.
    sa.Column("handed_at", UtcDateTime),
    # Claim order when several steps are due: the contact policy's rank of the playbook's
    # kind (0 first: saves before onboarding before surveys before offers).
    sa.Column("priority", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("last_error", sa.Text),
    sa.Column("skipped_reason", sa.Text),
    sa.Column("sent_at", UtcDateTime),
    # A conditional step (no_response_since_enrolment, still_at_risk) is claimable only once
    # the enrolment run of its due day found the condition true (else it is skipped).
    sa.Column("condition", sa.Text),
    sa.Column("condition_met_on", sa.Date),
    sa.UniqueConstraint("enrolment_id", "step_index"),
    _in("status", STEP_STATUSES),
    sa.CheckConstraint(
        f"status <> '{SKIPPED}' OR skipped_reason IS NOT NULL",
        name="step_executions_skipped_reason",
    ),
    sa.CheckConstraint(
        f"status <> '{SENT}' OR sent_at IS NOT NULL", name="step_executions_sent_at"
    ),
    sa.CheckConstraint(
        f"status <> '{CLAIMED}' OR (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)",
        name="step_executions_lease",
    ),
    sa.Index("step_executions_claimable", "status", "next_attempt_at"),
    # the global daily send budget counts the day's sends
    sa.Index("step_executions_sent", "sent_at"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("message_id", sa.Text, primary_key=True),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("household_id", sa.Text, nullable=False),
    sa.Column("template", sa.Text, nullable=False),
    sa.Column("payload", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default=OUTBOX_STATUSES[0]),
    _in("status", OUTBOX_STATUSES),
)

message_events = sa.Table(
    "message_events",
    metadata,
    _id("event_id"),
    sa.Column("message_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    # A provider redelivering a webhook must not count a click twice.
    sa.UniqueConstraint("message_id", "kind", "at"),
    _in("kind", EVENT_KINDS),
)

checkins = sa.Table(
    "checkins",
    metadata,
    _id("checkin_id"),
    sa.Column("household_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("sent_at", UtcDateTime, nullable=False),
    sa.Column("message_id", sa.Text, unique=True),
    sa.Index("checkins_household", "household_id", "sent_at"),
)

survey_sends = sa.Table(
    "survey_sends",
    metadata,
    _id("survey_send_id"),
    sa.Column("household_id", sa.Text, nullable=False),
    sa.Column("survey_type", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("sent_at", UtcDateTime, nullable=False),
    sa.Column("message_id", sa.Text, unique=True),
    _in("survey_type", SURVEY_TYPES),
    sa.Index("survey_sends_household", "household_id", "sent_at"),
)

opt_outs = sa.Table(
    "opt_outs",
    metadata,
    _id("opt_out_id"),
    sa.Column("household_id", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),  # a channel, or 'all'
    sa.Column("source", sa.Text, nullable=False),  # e.g. raw_flag, unsubscribe, support
    sa.Column("at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("household_id", "channel", "source"),
)

credits = sa.Table(
    "credits",
    metadata,
    _id("credit_id"),
    # One grant per key (e.g. the step's message id): a retried run cannot pay twice.
    sa.Column("grant_key", sa.Text, nullable=False, unique=True),
    sa.Column("household_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("amount", sa.Double, nullable=False),
    sa.Column("granted_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime),
    sa.CheckConstraint("amount > 0", name="credits_amount"),
    sa.CheckConstraint("expires_at IS NULL OR expires_at > granted_at", name="credits_expiry"),
    sa.Index("credits_household", "household_id"),
)

# Daily lists whose next day depends on this one: each day's rows are replaced as a whole
# (delete, insert) so re-materializing a day never duplicates it, and a day reads only the
# rows of earlier days.
journey_transitions = sa.Table(
    "journey_transitions",
    metadata,
    sa.Column("household_id", sa.Text, primary_key=True),
    sa.Column("date", sa.Date, primary_key=True),
    sa.Column("from_stage", sa.Text),  # null: first observed after signup
    sa.Column("to_stage", sa.Text, nullable=False),
    sa.Column("days_in_previous_stage", sa.Integer),
    sa.Column("trigger", sa.Text, nullable=False),
    sa.Index("journey_transitions_date", "date"),
)

csm_assignments = sa.Table(
    "csm_assignments",
    metadata,
    sa.Column("household_id", sa.Text, primary_key=True),
    sa.Column("as_of", sa.Date, primary_key=True),
    sa.Column("csm_id", sa.Text, nullable=False),
    sa.Column("route", sa.Text, nullable=False),
    sa.Column("assigned_at", UtcDateTime, nullable=False),
    sa.Index("csm_assignments_as_of", "as_of"),
)

# Referral codes the platform issued to advocates (the product's own codes are a raw table).
referral_codes_issued = sa.Table(
    "referral_codes_issued",
    metadata,
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("household_id", sa.Text, nullable=False, unique=True),
    sa.Column("issued_at", UtcDateTime, nullable=False),
    sa.Column("issued_on", sa.Date, nullable=False),
    sa.Index("referral_codes_issued_on", "issued_on"),
)

review_requests = sa.Table(
    "review_requests",
    metadata,
    _id("review_request_id"),
    sa.Column("household_id", sa.Text, nullable=False),
    sa.Column("requested_at", UtcDateTime, nullable=False),
    sa.Column("message_id", sa.Text, unique=True),
    sa.Index("review_requests_household", "household_id", "requested_at"),
)


# CSM tasks (cs_assets/state/tasks.py): one row per piece of work for a CSM, open until the
# CSM closes it (done, with an outcome; dismissed) or parks it (snoozed until a day). At most
# one open or snoozed task per household and reason: a step of a reason whose task is live
# updates that task (the step is linked in csm_task_steps) instead of adding a second one.
PRIORITIES = ("low", "normal", "high")
OPEN, DONE, SNOOZED, DISMISSED = ("open", "done", "snoozed", "dismissed")
TASK_STATUSES = (OPEN, DONE, SNOOZED, DISMISSED)
LIVE = (OPEN, SNOOZED)  # the statuses the one-per-household-and-reason rule counts
_LIVE_SQL = f"status IN {LIVE}"  # module constants, not data

csm_tasks = sa.Table(
    "csm_tasks",
    metadata,
    _id("task_id"),
    sa.Column("message_id", sa.Text, nullable=False, unique=True),  # the latest step's
    sa.Column("household_id", sa.Text, nullable=False),
    sa.Column("csm_id", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("notes", sa.Text, nullable=False),
    sa.Column("priority", sa.Text, nullable=False),
    sa.Column("due_on", sa.Date, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),  # what it is about (tasks.reason_of)
    sa.Column("status", sa.Text, nullable=False, server_default=OPEN),
    sa.Column("refires", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("outcome", sa.Text),  # what came of it, said when it is done
    sa.Column("note", sa.Text),  # the CSM's, with the last change of status
    sa.Column("snoozed_until", sa.Date),  # open again on this day
    sa.Column("closed_at", UtcDateTime),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.CheckConstraint(f"priority IN {PRIORITIES}", name="csm_tasks_priority"),  # constants
    sa.CheckConstraint(f"status IN {TASK_STATUSES}", name="csm_tasks_status"),
    sa.CheckConstraint(
        f"(status IN ('{DONE}', '{DISMISSED}')) = (closed_at IS NOT NULL)",
        name="csm_tasks_closed",
    ),
    sa.CheckConstraint(
        f"(status = '{SNOOZED}') = (snoozed_until IS NOT NULL)", name="csm_tasks_snoozed"
    ),
    sa.CheckConstraint(f"status <> '{DONE}' OR outcome IS NOT NULL", name="csm_tasks_outcome"),
    sa.Index("csm_tasks_csm", "csm_id", "due_on"),
    sa.Index(
        "csm_tasks_one_live",
        "household_id",
        "reason",
        unique=True,
        sqlite_where=sa.text(_LIVE_SQL),
        postgresql_where=sa.text(_LIVE_SQL),
    ),
)

# The steps each task was filed from, keyed on the step's Message-ID: a retried step finds its
# link and writes nothing, and a task's re-fires can be traced to the alerts that made them.
csm_task_steps = sa.Table(
    "csm_task_steps",
    metadata,
    sa.Column("message_id", sa.Text, primary_key=True),
    sa.Column("task_id", sa.BigInteger, sa.ForeignKey("csm_tasks.task_id"), nullable=False),
    sa.Column("template", sa.Text, nullable=False),
    sa.Column("linked_at", UtcDateTime, nullable=False),
    sa.Index("csm_task_steps_task", "task_id"),
)

in_app_notifications = sa.Table(
    "in_app_notifications",
    metadata,
    _id("notification_id"),
    sa.Column("message_id", sa.Text, nullable=False, unique=True),  # the step's
    sa.Column("household_id", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("cta", sa.Text),
    sa.Column("link", sa.Text),
    sa.Column("dismissable", sa.Boolean, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("in_app_notifications_household", "household_id", "created_at"),
)


# The serving table: the latest health snapshot per household, for a CRM or BI tool to read
# (cs_assets/defs/serving/assets.py). A day replaces a household's row only if it is not older.
health_snapshot = sa.Table(
    "health_snapshot",
    metadata,
    sa.Column("household_id", sa.Text, primary_key=True),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("health_score", sa.Double, nullable=False),
    sa.Column("tier", sa.Text, nullable=False),
    sa.Column("alert_count", sa.Integer, nullable=False),
    sa.Column("churn_probability", sa.Double),  # null: no champion model scored the day
    sa.Column("churn_risk_segment", sa.Text),
    sa.Column("top_reasons", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    sa.Column("csm_id", sa.Text),  # null: no assignment that day
    sa.Column("route", sa.Text),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("health_snapshot_tier", "tier"),
)

# A daily-workflow step that failed (cs_assets/defs/workflow.py), one row per failed run, so the
# failure is visible to whoever watches the state database as well as in the Dagster UI.
workflow_alerts = sa.Table(
    "workflow_alerts",
    metadata,
    sa.Column("run_id", sa.Text, primary_key=True),
    sa.Column("job_name", sa.Text, nullable=False),
    sa.Column("partition_key", sa.Text),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("failed_at", UtcDateTime, nullable=False),
)

# The contact log: every decision the platform took about a message to a household, with the
# reason. Sent, deferred (by which cap), suppressed (opt-out, shadow mode, a playbook
# switched off, an ended enrolment, no address), held out, in doubt, failed. Append-only: a
# step deferred twice has two rows. Queryable per household (cs_assets/state/contacts.py).
CONTACT_DECISIONS = ("sent", "deferred", "suppressed", "held_out", "in_doubt", "failed")
contact_log = sa.Table(
    "contact_log",
    metadata,
    _id("log_id"),
    sa.Column("household_id", sa.Text, nullable=False),
    sa.Column("playbook", sa.Text, nullable=False),
    sa.Column("template", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("message_id", sa.Text, nullable=False),
    sa.Column("decision", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),  # null for a send: the playbook and template say why
    sa.Column("at", UtcDateTime, nullable=False),
    _in("decision", CONTACT_DECISIONS),
    sa.Index("contact_log_household", "household_id", "at"),
)
