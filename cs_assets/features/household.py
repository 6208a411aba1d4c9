"""`household_features`: one row per household active at the as-of instant.

The as-of instant is midnight UTC at the start of the as-of day; every input is cut
strictly before it. Windows: the current 30 days, the 30 before them, and 90 days.
Plan, MRR and payment status are taken *as of* the instant from their histories.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import polars as pl

from cs_assets.contract.events import EventKind as K
from cs_assets.features.daily import feature_days, household_days, member_days
from cs_assets.features.local_time import with_local_time
from cs_assets.scoring.trend import trend

PAID_PLANS = ("Premium", "Enterprise")
LATE_PAYMENT = timedelta(days=3)
HH = "household_id"


@dataclass(frozen=True)
class FeatureInputs:
    """Validated raw tables plus the per-day reductions of the events, built once."""

    households: pl.DataFrame
    members: pl.DataFrame
    pets: pl.DataFrame
    support_tickets: pl.DataFrame
    subscription_changes: pl.DataFrame
    payments: pl.DataFrame
    pet_health_observations: pl.DataFrame
    outreach: pl.DataFrame  # (household_id, sent_at): what the platform itself sent
    household_days: pl.DataFrame
    member_days: pl.DataFrame
    feature_days: pl.DataFrame

    @classmethod
    def build(cls, *, households, members, pets, activity_events, support_tickets,
              subscription_changes, payments, pet_health_observations,
              outreach: pl.DataFrame | None = None) -> FeatureInputs:
        sessions = activity_events.filter(pl.col("event_kind") == K.SESSION.value).join(
            households.select(HH, "timezone"), on=HH, how="left"
        )
        local_sessions = with_local_time(sessions, "occurred_at", "timezone")
        if outreach is None:
            outreach = pl.DataFrame(schema={HH: pl.String, "sent_at": pl.Datetime("us", "UTC")})
        return cls(
            households=households, members=members, pets=pets, support_tickets=support_tickets,
            subscription_changes=subscription_changes, payments=payments,
            pet_health_observations=pet_health_observations, outreach=outreach,
            household_days=household_days(activity_events, local_sessions),
            member_days=member_days(activity_events),
            feature_days=feature_days(activity_events),
        )


def _days_between(later: pl.Expr, earlier: pl.Expr) -> pl.Expr:
    return (later - earlier).dt.total_days()


def _activity(inp: FeatureInputs, t: date) -> pl.DataFrame:
    d = pl.col("day")
    cur = (d >= t - timedelta(days=30)) & (d < t)
    prev = (d >= t - timedelta(days=60)) & (d < t - timedelta(days=30))
    recent = inp.household_days.filter((d >= t - timedelta(days=60)) & (d < t))
    return recent.group_by(HH).agg(
        tasks_completed_30d=pl.col("tasks").filter(cur).sum(),
        tasks_completed_prev_30d=pl.col("tasks").filter(prev).sum(),
        logins_30d=pl.col("logins").filter(cur).sum(),
        logins_prev_30d=pl.col("logins").filter(prev).sum(),
        _minutes_30d=pl.col("session_minutes").filter(cur).sum(),
        _sessions_30d=pl.col("sessions").filter(cur).sum(),
        _minutes_prev=pl.col("session_minutes").filter(prev).sum(),
        _sessions_prev=pl.col("sessions").filter(prev).sum(),
        active_days_30d=d.filter(cur).count().cast(pl.Int64),
        _weekend_30d=pl.col("weekend_sessions").filter(cur).sum(),
        _peak_30d=pl.col("peak_sessions").filter(cur).sum(),
    ).with_columns(
        avg_session_minutes_30d=pl.when(pl.col("_sessions_30d") > 0)
        .then(pl.col("_minutes_30d") / pl.col("_sessions_30d")),
        avg_session_minutes_prev_30d=pl.when(pl.col("_sessions_prev") > 0)
        .then(pl.col("_minutes_prev") / pl.col("_sessions_prev")),
        # The spec's ratios: weekend over weekday sessions, peak-hour share of sessions.
        weekend_usage_ratio=pl.col("_weekend_30d")
        / (pl.col("_sessions_30d") - pl.col("_weekend_30d")).clip(lower_bound=1),
        peak_hour_usage=pl.col("_peak_30d") / pl.col("_sessions_30d").clip(lower_bound=1),
    )


def _last_login(inp: FeatureInputs, t: date) -> pl.DataFrame:
    return (
        inp.household_days.filter((pl.col("day") < t) & (pl.col("logins") > 0))
        .group_by(HH)
        .agg(_last_login_day=pl.col("day").max())
    )


def _members(inp: FeatureInputs, t: date, at: datetime) -> pl.DataFrame:
    d = pl.col("day")
    cur = (d >= t - timedelta(days=30)) & (d < t)
    prev = (d >= t - timedelta(days=60)) & (d < t - timedelta(days=30))
    week = (d >= t - timedelta(days=7)) & (d < t)
    recent = inp.member_days.filter((d >= t - timedelta(days=60)) & (d < t))
    users = recent.group_by(HH).agg(
        active_users_30d=pl.col("user_id").filter(cur).n_unique().cast(pl.Int64),
        active_users_prev_30d=pl.col("user_id").filter(prev).n_unique().cast(pl.Int64),
        _member_days_7d=week.sum(),
        _wau=pl.col("user_id").filter(week).n_unique(),
    )
    # How evenly tasks spread across members: sum of squared task shares (1 = one person).
    shares = (
        recent.filter(cur).group_by(HH, "user_id").agg(pl.col("tasks").sum())
        .with_columns(_share=pl.col("tasks") / pl.col("tasks").sum().over(HH))
        .group_by(HH).agg(_task_concentration=(pl.col("_share") ** 2).sum(),
                          _tasks_by_members=pl.col("tasks").sum())
    )
    present = (pl.col("joined_at") < at) & (
        pl.col("removed_at").is_null() | (pl.col("removed_at") >= at)
    )
    totals = inp.members.filter(present).group_by(HH).agg(total_members=pl.len().cast(pl.Int64))
    return totals.join(users, on=HH, how="full", coalesce=True).join(
        shares, on=HH, how="left"
    )


def _features(inp: FeatureInputs, t: date) -> pl.DataFrame:
    d = pl.col("day")
    used = inp.feature_days.filter(d < t)
    first = used.group_by(HH, "feature_name").agg(_first=d.min())
    adopted = first.group_by(HH).agg(
        features_used_ever=pl.len().cast(pl.Int64),
        new_features_adopted_90d=(pl.col("_first") >= t - timedelta(days=90)).sum().cast(pl.Int64),
    )
    recent = used.filter(d >= t - timedelta(days=90)).group_by(HH).agg(
        features_used_90d=pl.col("feature_name").n_unique().cast(pl.Int64)
    )
    return adopted.join(recent, on=HH, how="left")


def _support(inp: FeatureInputs, at: datetime) -> pl.DataFrame:
    created, resolved = pl.col("created_at"), pl.col("resolved_at")
    known = resolved.is_not_null() & (resolved < at)  # CSAT exists only once resolved
    in_90 = created >= at - timedelta(days=90)

    def resolved_in(days_back_from: int, days_back_to: int) -> pl.Expr:
        return (known & (resolved >= at - timedelta(days=days_back_from))
                & (resolved < at - timedelta(days=days_back_to)))

    csat = pl.col("csat_score").cast(pl.Float64)
    return inp.support_tickets.filter(created < at).group_by(HH).agg(
        tickets_90d=in_90.sum().cast(pl.Int64),
        avg_csat_90d=csat.filter(in_90 & known).mean(),
        critical_tickets_unresolved=((pl.col("priority") == "critical") & ~known).sum()
        .cast(pl.Int64),
        avg_resolution_hours_90d=((resolved - created).dt.total_seconds() / 3600)
        .filter(resolved_in(90, 0)).mean(),
        _csat_30d=csat.filter(resolved_in(30, 0)).mean(),
        _csat_prev_30d=csat.filter(resolved_in(60, 30)).mean(),
    )


def _pets(inp: FeatureInputs, at: datetime) -> pl.DataFrame:
    added, removed = pl.col("added_at"), pl.col("removed_at")
    pets = inp.pets.filter(added < at).group_by(HH).agg(
        active_pets=(removed.is_null() | (removed >= at)).sum().cast(pl.Int64),
        pets_added_90d=(added >= at - timedelta(days=90)).sum().cast(pl.Int64),
    )
    obs = inp.pet_health_observations
    t = pl.col("observed_at")
    wellness = (
        obs.filter((pl.col("metric") == "wellness_score") & (t < at)
                   & (t >= at - timedelta(days=60)))
        .join(inp.pets.select("pet_id", HH), on="pet_id")
        .group_by(HH)
        .agg(
            _wellness_30d=pl.col("value").filter(t >= at - timedelta(days=30)).mean(),
            _wellness_prev=pl.col("value").filter(t < at - timedelta(days=30)).mean(),
        )
        .select(HH, pet_health_trend=pl.col("_wellness_30d") - pl.col("_wellness_prev"))
    )
    return pets.join(wellness, on=HH, how="left")


def _plan(inp: FeatureInputs, at: datetime) -> pl.DataFrame:
    history = inp.subscription_changes.filter(pl.col("changed_at") < at).sort("changed_at")
    current = history.group_by(HH).agg(
        plan=pl.col("to_plan").last(), mrr=pl.col("mrr_after").last()
    )
    became_paid = (
        history.filter(pl.col("to_plan").is_in(PAID_PLANS)
                       & ~pl.col("from_plan").fill_null("Free").is_in(PAID_PLANS))
        .group_by(HH).agg(_paid_since=pl.col("changed_at").last())
    )
    return current.join(became_paid, on=HH, how="left")


def _payments(inp: FeatureInputs, at: datetime) -> pl.DataFrame:
    paid = (pl.col("paid_at").is_not_null() & (pl.col("paid_at") < at)
            & pl.col("status").is_in(["paid", "refunded"]))
    due = inp.payments.filter(pl.col("due_at") < at).sort("due_at")
    in_90 = pl.col("due_at") >= at - timedelta(days=90)
    return due.group_by(HH).agg(
        _last_due=pl.col("due_at").last(),
        _last_paid=paid.last(),
        _last_failed=(pl.col("status") == "failed").last(),
        failed_payments_90d=((pl.col("status") == "failed") & in_90).sum().cast(pl.Int64),
        late_payments_90d=(paid & in_90 & ((pl.col("paid_at") - pl.col("due_at")) > LATE_PAYMENT))
        .sum().cast(pl.Int64),
        overdue_amount=pl.col("amount").filter(~paid & (pl.col("status") != "refunded")).sum(),
    )


def features_as_of(inp: FeatureInputs, as_of: date) -> pl.DataFrame:
    """The features of every household active at midnight UTC starting `as_of`."""
    at = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)
    t = as_of
    churned = pl.col("churned_at")
    active = inp.households.filter(
        (pl.col("created_at") < at) & (churned.is_null() | (churned >= at))
    ).select(HH, "created_at")
    premium_since = pl.coalesce(pl.col("_paid_since").dt.date(), pl.lit(t - timedelta(days=90)))
    since = inp.household_days.join(
        _plan(inp, at).select(HH, "_paid_since"), on=HH, how="left"
    ).filter((pl.col("day") < t) & (pl.col("day") >= premium_since)).group_by(HH).agg(
        pl.col("analytics_views", "templates_created", "priority_support_used").sum(),
        premium_onboarding_completed=pl.col("premium_onboardings").sum() > 0,
    )
    calendar = inp.household_days.filter(pl.col("day") < t).group_by(HH).agg(
        calendar_sync_setup=pl.col("calendar_sync_setups").sum() > 0
    )
    outreach = inp.outreach.filter(
        (pl.col("sent_at") < at) & (pl.col("sent_at") >= at - timedelta(days=90))
    ).group_by(HH).agg(proactive_outreach_90d=pl.len().cast(pl.Int64))

    frame = active
    for part in (_activity(inp, t), _last_login(inp, t), _members(inp, t, at), _features(inp, t),
                 _support(inp, at), _pets(inp, at), _plan(inp, at), _payments(inp, at),
                 since, calendar, outreach):
        frame = frame.join(part, on=HH, how="left")

    zero = ["tasks_completed_30d", "tasks_completed_prev_30d", "logins_30d", "logins_prev_30d",
            "active_days_30d", "active_users_30d", "active_users_prev_30d", "total_members",
            "features_used_ever", "new_features_adopted_90d", "features_used_90d", "tickets_90d",
            "critical_tickets_unresolved", "active_pets", "pets_added_90d",
            "failed_payments_90d", "late_payments_90d", "analytics_views", "templates_created",
            "priority_support_used", "proactive_outreach_90d"]
    frame = frame.with_columns(
        pl.col(zero).fill_null(0),
        pl.col("overdue_amount").fill_null(0.0),
        pl.col("weekend_usage_ratio", "peak_hour_usage").fill_null(0.0),
        pl.col("calendar_sync_setup", "premium_onboarding_completed").fill_null(False),
        plan=pl.col("plan").fill_null("Free"),
        mrr=pl.col("mrr").fill_null(0.0),
    )
    paid_plan = pl.col("plan").is_in(PAID_PLANS)
    next_renewal = pl.coalesce("_last_due", "_paid_since").dt.offset_by("1mo")
    members = pl.col("total_members").clip(lower_bound=1)
    return frame.with_columns(
        as_of=pl.lit(t),
        task_completion_trend=trend(pl.col("tasks_completed_30d"),
                                    pl.col("tasks_completed_prev_30d")),
        login_frequency_trend=trend(pl.col("logins_30d"), pl.col("logins_prev_30d")),
        session_duration_trend=trend(pl.col("avg_session_minutes_30d"),
                                     pl.col("avg_session_minutes_prev_30d")),
        active_users_trend=trend(pl.col("active_users_30d"), pl.col("active_users_prev_30d")),
        dau_wau_ratio=pl.when(pl.col("_wau") > 0)
        .then(pl.col("_member_days_7d") / 7 / pl.col("_wau")).otherwise(0.0),
        active_members_30d=pl.col("active_users_30d"),
        active_members_ratio=(pl.col("active_users_30d") / members).clip(upper_bound=1.0),
        collaboration_score=pl.when((pl.col("total_members") > 1)
                                    & (pl.col("_tasks_by_members") > 0))
        .then(100 * (1 - pl.col("_task_concentration")) / (1 - 1 / members))
        .otherwise(0.0).clip(0.0, 100.0),
        has_unresolved_critical_ticket=pl.col("critical_tickets_unresolved") > 0,
        support_satisfaction_drop=pl.col("_csat_30d") - pl.col("_csat_prev_30d"),
        days_since_signup=_days_between(pl.lit(at), pl.col("created_at")),
        days_since_last_login=_days_between(pl.lit(t), pl.col("_last_login_day")),
        days_until_renewal=pl.when(paid_plan)
        .then(_days_between(next_renewal, pl.lit(at)).clip(lower_bound=0)),
        days_since_upgrade=pl.when(paid_plan)
        .then(_days_between(pl.lit(at), pl.col("_paid_since"))),
        payment_status=pl.when(pl.col("_last_due").is_null()).then(pl.lit("none"))
        .when(pl.col("_last_paid")).then(pl.lit("current"))
        .when(pl.col("_last_failed")).then(pl.lit("failed"))
        .otherwise(pl.lit("past_due")),
    ).select(FEATURE_COLUMNS)


FEATURE_COLUMNS = [
    HH, "as_of", "plan", "mrr", "payment_status", "days_since_signup", "days_since_last_login",
    "days_until_renewal",
    "tasks_completed_30d", "tasks_completed_prev_30d", "task_completion_trend",
    "logins_30d", "logins_prev_30d", "login_frequency_trend",
    "avg_session_minutes_30d", "avg_session_minutes_prev_30d", "session_duration_trend",
    "active_users_30d", "active_users_prev_30d", "active_users_trend",
    "dau_wau_ratio", "total_members", "active_members_30d", "active_members_ratio",
    "weekend_usage_ratio", "peak_hour_usage", "active_days_30d",
    "features_used_90d", "new_features_adopted_90d", "features_used_ever",
    "tickets_90d", "avg_csat_90d", "critical_tickets_unresolved", "avg_resolution_hours_90d",
    "has_unresolved_critical_ticket", "support_satisfaction_drop", "proactive_outreach_90d",
    "pets_added_90d", "active_pets", "collaboration_score", "pet_health_trend",
    "failed_payments_90d", "late_payments_90d", "overdue_amount",
    "calendar_sync_setup", "analytics_views", "templates_created", "priority_support_used",
    "premium_onboarding_completed", "days_since_upgrade",
]


def features_for_days(inp: FeatureInputs, days: list[date]) -> pl.DataFrame:
    """Backfill: many as-of days from one reduction of the events."""
    return pl.concat([features_as_of(inp, day) for day in days])
