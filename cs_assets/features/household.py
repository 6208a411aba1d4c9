"""`household_features`: one row per household active at the as-of instant.

The as-of instant is midnight UTC at the start of the as-of day; every input is cut
strictly before it. Windows: the current 30 days, the 30 before them, and 90 days.
Plan, MRR and payment status are taken *as of* the instant from their histories.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TypeVar

import polars as pl

from cs_assets.contract.events import EventKind as K
from cs_assets.contract.product import PRODUCT
from cs_assets.contract.tables import plan_history_order
from cs_assets.features.daily import (
    feature_days,
    household_days,
    kind_test,
    last_day_of,
    member_days,
    point_activity,
    point_features,
    prepare_events,
    rare_days,
    session_timing,
)
from cs_assets.features.local_time import LocalClock, span_of
from cs_assets.features.product_signals import (
    MetricsConfig,
    SignalPlan,
    plan_signals,
    point_signals,
    signal_days,
    signals_as_of,
    with_signals,
)
from cs_assets.scoring.trend import trend
from cs_assets.vocabulary import HH, UTC_TS, instant

LATE_PAYMENT = timedelta(days=3)
# The validated raw tables the features read, parents first.
FEATURE_INPUTS = ("households", "members", "pets", "activity_events", "support_tickets",
                  "subscription_changes", "payments", "pet_health_observations")
FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)


@dataclass(frozen=True)
class FeatureInputs:
    """Validated raw tables plus the reductions of the events, built once.

    The events are reduced in one of two shapes (see `features.daily`): *daily* tables
    (`household_days`, `member_days`, `feature_days`, `first_feature_use`, `milestones`) that
    serve every as-of day in `covers`, or, when built for exactly one as-of day, the *point*
    frame `point` of that day's event features per household. `covers` is (None, None) when
    built from all of history (any as-of day), else the (first, last) as-of day served.
    """

    households: pl.DataFrame
    members: pl.DataFrame
    pets: pl.DataFrame
    support_tickets: pl.DataFrame
    subscription_changes: pl.DataFrame
    payments: pl.DataFrame
    pet_health_observations: pl.DataFrame
    outreach: pl.DataFrame  # (household_id, sent_at): what the platform itself sent
    rare_days: pl.DataFrame  # (household, day): Premium usage, calendar syncs; all history
    household_days: pl.DataFrame | None = None  # (household, day): counts, minutes, timing
    member_days: pl.DataFrame | None = None  # (household, user, day): tasks
    feature_days: pl.DataFrame | None = None  # (household, feature, day) uses in the windows
    first_feature_use: pl.DataFrame | None = None  # (household, feature): first day used
    milestones: pl.DataFrame | None = None  # household: last login before the windows
    point: pl.DataFrame | None = None  # household: the event features of the one as-of day
    covers: tuple[date | None, date | None] = (None, None)
    absent: frozenset[str] = frozenset()  # optional tables the product does not have at all
    signal_plan: SignalPlan | None = None  # the product's own signals, when asked for
    signal_days: pl.DataFrame | None = None  # (household, day, event type): their reduction
    signal_point: pl.DataFrame | None = None  # or, built for one as-of day, that day's columns

    @classmethod
    def build(cls, *, households, members, pets, activity_events, support_tickets,
              subscription_changes, payments, pet_health_observations,
              outreach: pl.DataFrame | None = None,
              as_of_days: Iterable[date] | None = None,
              event_mapping: Mapping[str, K] | None = None,
              absent: Iterable[str] = (),
              metrics: MetricsConfig | None = None) -> FeatureInputs:
        """Reduce the events once.

        `activity_events` may be a LazyFrame (e.g. a Parquet scan): each reduction then
        streams over it, reading only the columns and rows it needs. Its canonical kinds come
        from the `event_kind` column, or, for raw events without one, from `event_type`
        through `event_mapping`.

        With `as_of_days`, only the windows those days look at are reduced (60 days of
        activity and members, 90 of feature use, 30 of local session times, from the earliest
        day; plus the older facts they need: first use of each feature, last login, Premium
        usage, calendar sync); a single day gets the one-pass point reduction. The features
        are identical either way; other as-of days are refused. Without `as_of_days`, every
        as-of day is served.
        """
        days = sorted(set(as_of_days)) if as_of_days is not None else []
        if as_of_days is not None and not days:
            raise ValueError("as_of_days is empty")
        first, last = (days[0], days[-1]) if days else (None, None)
        raw_kinds = "event_kind" not in activity_events.lazy().collect_schema().names()
        if raw_kinds and event_mapping is None:
            raise ValueError("activity_events has no event_kind column: pass event_mapping")
        is_kind = kind_test(event_mapping if raw_kinds else None)
        events = prepare_events(activity_events, "event_type" if raw_kinds else "event_kind")
        # every event type ever seen, so a run's columns do not depend on the days it covers
        plan = None if metrics is None else plan_signals(events, metrics)
        if last is not None:
            events = events.filter(pl.col("occurred_at") < instant(last))

        def since(days_back: int) -> pl.LazyFrame:
            if first is None:
                return events
            return events.filter(
                pl.col("occurred_at") >= instant(first - timedelta(days=days_back))
            )

        sessions = since(30).filter(is_kind(K.SESSION)).select(HH, "occurred_at", "day")
        span = (
            span_of(sessions, "occurred_at") if first is None
            else (instant(first) - timedelta(days=30), instant(last))
        )
        clock = LocalClock.covering(households.get_column("timezone").unique(), *span)
        local_hour, local_weekday = clock.local(pl.col("occurred_at"), pl.col("_zone"))
        local = sessions.join(
            households.lazy().select(HH, _zone=clock.zone_index(pl.col("timezone"))),
            on=HH, how="left",
        ).select(HH, "day", local_hour=local_hour, local_weekday=local_weekday)
        if outreach is None:
            outreach = pl.DataFrame(schema={HH: pl.String, "sent_at": UTC_TS})
        inputs = cls(
            households=households, members=members, pets=pets, support_tickets=support_tickets,
            subscription_changes=subscription_changes, payments=payments,
            pet_health_observations=pet_health_observations, outreach=outreach,
            rare_days=rare_days(events, is_kind), covers=(first, last), absent=frozenset(absent),
            signal_plan=plan,
            signal_days=None if plan is None or len(days) == 1
            else signal_days(events, plan, first, last),
            signal_point=point_signals(events, plan, first)
            if plan is not None and len(days) == 1 else None,
        )
        if len(days) == 1:
            timing = session_timing(local.lazy(), by_day=False).rename(
                {"weekend_sessions": "_weekend_30d", "peak_sessions": "_peak_30d"}
            )
            point = (
                point_activity(events, is_kind, first)
                .join(timing, on=HH, how="full", coalesce=True)
                .join(point_features(events, is_kind, first), on=HH, how="full", coalesce=True)
                .with_columns(pl.col("_weekend_30d", "_peak_30d").fill_null(0))
            )
            return replace(inputs, point=_with_activity_ratios(point))
        used = feature_days(events, is_kind)
        first_use = used.group_by(HH, "feature_name").agg(_first=pl.col("day").min())
        if first is not None:
            used = used.filter(pl.col("day") >= first - timedelta(days=90))
        window_start = None if first is None else first - timedelta(days=60)
        return replace(
            inputs,
            household_days=household_days(
                since(60), is_kind, session_timing(local.lazy(), by_day=True)
            ),
            member_days=member_days(since(60), is_kind),
            feature_days=used,
            first_feature_use=first_use,
            milestones=last_day_of(events, is_kind(K.LOGIN), "_login_before", window_start),
        )


def _days_between(later: pl.Expr, earlier: pl.Expr) -> pl.Expr:
    return (later - earlier).dt.total_days()


def _with_activity_ratios(frame: FrameT) -> FrameT:
    return frame.with_columns(
        avg_session_minutes_30d=pl.when(pl.col("_sessions_30d") > 0)
        .then(pl.col("_minutes_30d") / pl.col("_sessions_30d")),
        avg_session_minutes_prev_30d=pl.when(pl.col("_sessions_prev") > 0)
        .then(pl.col("_minutes_prev") / pl.col("_sessions_prev")),
        # The spec's ratios: weekend over weekday sessions, peak-hour share of sessions.
        weekend_usage_ratio=pl.col("_weekend_30d")
        / (pl.col("_sessions_30d") - pl.col("_weekend_30d")).clip(lower_bound=1),
        peak_hour_usage=pl.col("_peak_30d") / pl.col("_sessions_30d").clip(lower_bound=1),
    )


def _activity(inp: FeatureInputs, t: date) -> pl.LazyFrame:
    d = pl.col("day")
    cur = d >= t - timedelta(days=30)  # within `recent`; the rest of it is the previous window
    recent = inp.household_days.lazy().filter((d >= t - timedelta(days=60)) & (d < t))

    def window(column: str, current: bool) -> pl.Expr:
        return pl.when(cur if current else ~cur).then(pl.col(column)).otherwise(0)

    # Plain sums of windowed columns: polars' fast group-by path (no filter inside agg).
    return _with_activity_ratios(recent.select(
        HH,
        tasks_completed_30d=window("tasks", True),
        tasks_completed_prev_30d=window("tasks", False),
        logins_30d=window("logins", True),
        logins_prev_30d=window("logins", False),
        _minutes_30d=window("session_minutes", True),
        _sessions_30d=window("sessions", True),
        _minutes_prev=window("session_minutes", False),
        _sessions_prev=window("sessions", False),
        active_days_30d=cur.cast(pl.Int64),
        _weekend_30d=window("weekend_sessions", True),
        _peak_30d=window("peak_sessions", True),
    ).group_by(HH).sum())


def _last_login(inp: FeatureInputs, t: date) -> pl.LazyFrame:
    """The last day with a login before `t`: in the reduced days, else in older history."""
    recent = (
        inp.household_days.lazy().filter((pl.col("day") < t) & (pl.col("logins") > 0))
        .group_by(HH)
        .agg(_recent=pl.col("day").max())
    )
    return recent.join(inp.milestones.lazy(), on=HH, how="full", coalesce=True).select(
        HH, _last_login_day=pl.max_horizontal("_recent", "_login_before")
    )


def _member_activity(inp: FeatureInputs, t: date) -> pl.LazyFrame:
    d = pl.col("day")
    cur = d >= t - timedelta(days=30)  # within `recent`
    week = d >= t - timedelta(days=7)
    recent = inp.member_days.lazy().filter((d >= t - timedelta(days=60)) & (d < t))
    # Per member first (was the member active in each window, on how many of the last 7 days,
    # how many tasks in the current window), then per household: distinct counts as sums.
    per_member = recent.group_by(HH, "user_id").agg(
        _cur=cur.any(), _prev=(~cur).any(), _week=week.any(), _week_days=week.sum(),
        _tasks=pl.when(cur).then(pl.col("tasks")).otherwise(0).sum(),
    )
    return per_member.group_by(HH).agg(
        active_users_30d=pl.col("_cur").sum().cast(pl.Int64),
        active_users_prev_30d=pl.col("_prev").sum().cast(pl.Int64),
        _member_days_7d=pl.col("_week_days").sum(),
        _wau=pl.col("_week").sum(),
        _tasks_by_members=pl.col("_tasks").sum(),
        _tasks_squared=(pl.col("_tasks") ** 2).sum(),
    ).with_columns(
        # How evenly tasks spread across members: the sum of squared task shares (1 = one
        # person does everything), as sum(tasks^2) / sum(tasks)^2.
        _task_concentration=pl.col("_tasks_squared") / pl.col("_tasks_by_members") ** 2,
    ).drop("_tasks_squared")


def _member_totals(inp: FeatureInputs, at: datetime) -> pl.LazyFrame:
    present = (pl.col("joined_at") < at) & (
        pl.col("removed_at").is_null() | (pl.col("removed_at") >= at)
    )
    return inp.members.lazy().filter(present).group_by(HH).agg(
        total_members=pl.len().cast(pl.Int64)
    )


def _features(inp: FeatureInputs, t: date) -> pl.LazyFrame:
    d = pl.col("day")
    first = inp.first_feature_use.lazy().filter(pl.col("_first") < t)
    adopted = first.group_by(HH).agg(
        features_used_ever=pl.len().cast(pl.Int64),
        new_features_adopted_90d=(pl.col("_first") >= t - timedelta(days=90)).sum().cast(pl.Int64),
    )
    recent = (
        inp.feature_days.lazy().filter((d >= t - timedelta(days=90)) & (d < t))
        .select(HH, "feature_name").unique()
        .group_by(HH).agg(features_used_90d=pl.len().cast(pl.Int64))
    )
    return adopted.join(recent, on=HH, how="left")


def _event_parts(inp: FeatureInputs, t: date) -> list[pl.LazyFrame]:
    """Per household, what the activity events give for as-of day `t`."""
    first, last = inp.covers
    if (first is not None and t < first) or (last is not None and t > last):
        raise ValueError(f"these inputs were reduced for as-of days {first}..{last}, not {t}: "
                         "build them with as_of_days including it")
    if inp.point is not None:
        return [inp.point.lazy()]
    return [_activity(inp, t), _last_login(inp, t), _member_activity(inp, t), _features(inp, t)]


def _support(inp: FeatureInputs, at: datetime) -> pl.LazyFrame:
    created, resolved = pl.col("created_at"), pl.col("resolved_at")
    known = resolved.is_not_null() & (resolved < at)  # CSAT exists only once resolved
    in_90 = created >= at - timedelta(days=90)

    def resolved_in(days_back_from: int, days_back_to: int) -> pl.Expr:
        return (known & (resolved >= at - timedelta(days=days_back_from))
                & (resolved < at - timedelta(days=days_back_to)))

    csat = pl.col("csat_score").cast(pl.Float64)
    return inp.support_tickets.lazy().filter(created < at).group_by(HH).agg(
        tickets_90d=in_90.sum().cast(pl.Int64),
        avg_csat_90d=csat.filter(in_90 & known).mean(),
        critical_tickets_unresolved=((pl.col("priority") == "critical") & ~known).sum()
        .cast(pl.Int64),
        avg_resolution_hours_90d=((resolved - created).dt.total_seconds() / 3600)
        .filter(resolved_in(90, 0)).mean(),
        _csat_30d=csat.filter(resolved_in(30, 0)).mean(),
        _csat_prev_30d=csat.filter(resolved_in(60, 30)).mean(),
    )


def _pets(inp: FeatureInputs, at: datetime) -> pl.LazyFrame:
    added, removed = pl.col("added_at"), pl.col("removed_at")
    pets = inp.pets.lazy().filter(added < at).group_by(HH).agg(
        active_pets=(removed.is_null() | (removed >= at)).sum().cast(pl.Int64),
        pets_added_90d=(added >= at - timedelta(days=90)).sum().cast(pl.Int64),
    )
    obs = inp.pet_health_observations.lazy()
    t = pl.col("observed_at")
    wellness = (
        obs.filter((pl.col("metric") == "wellness_score") & (t < at)
                   & (t >= at - timedelta(days=60)))
        .join(inp.pets.lazy().select("pet_id", HH), on="pet_id")
        .group_by(HH)
        .agg(
            _wellness_30d=pl.col("value").filter(t >= at - timedelta(days=30)).mean(),
            _wellness_prev=pl.col("value").filter(t < at - timedelta(days=30)).mean(),
        )
        .select(HH, pet_health_trend=pl.col("_wellness_30d") - pl.col("_wellness_prev"))
    )
    return pets.join(wellness, on=HH, how="left")


def _plan(inp: FeatureInputs, at: datetime) -> pl.LazyFrame:
    history = inp.subscription_changes.lazy().filter(pl.col("changed_at") < at)
    history = history.sort(plan_history_order())
    current = history.group_by(HH).agg(
        plan=pl.col("to_plan").last(), mrr=pl.col("mrr_after").last()
    )
    paid = PRODUCT.paid_plans
    became_paid = (
        history.filter(pl.col("to_plan").is_in(paid)
                       & ~pl.col("from_plan").fill_null(PRODUCT.first_plan).is_in(paid))
        .group_by(HH).agg(_paid_since=pl.col("changed_at").last())
    )
    return current.join(became_paid, on=HH, how="left")


def _payments(inp: FeatureInputs, at: datetime) -> pl.LazyFrame:
    paid = (pl.col("paid_at").is_not_null() & (pl.col("paid_at") < at)
            & pl.col("status").is_in(["paid", "refunded"]))
    due = inp.payments.lazy().filter(pl.col("due_at") < at).sort("due_at")
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
    events = _event_parts(inp, as_of)
    at = instant(as_of)
    t = as_of
    churned = pl.col("churned_at")
    active = inp.households.lazy().filter(
        (pl.col("created_at") < at) & (churned.is_null() | (churned >= at))
    ).select(HH, "created_at")
    premium_since = pl.coalesce(pl.col("_paid_since").dt.date(), pl.lit(t - timedelta(days=90)))
    rare = inp.rare_days.lazy().filter(pl.col("day") < t)
    since = rare.join(
        _plan(inp, at).select(HH, "_paid_since"), on=HH, how="left"
    ).filter(pl.col("day") >= premium_since).group_by(HH).agg(
        pl.col("analytics_views", "templates_created", "priority_support_used").sum(),
        premium_onboarding_completed=pl.col("premium_onboardings").sum() > 0,
    )
    calendar = rare.group_by(HH).agg(calendar_sync_setup=pl.col("calendar_sync_setups").sum() > 0)
    outreach = inp.outreach.lazy().filter(
        (pl.col("sent_at") < at) & (pl.col("sent_at") >= at - timedelta(days=90))
    ).group_by(HH).agg(proactive_outreach_90d=pl.len().cast(pl.Int64))

    frame = active
    for part in (*events, _member_totals(inp, at), _support(inp, at), _pets(inp, at),
                 _plan(inp, at), _payments(inp, at), since, calendar, outreach):
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
        plan=pl.col("plan").fill_null(PRODUCT.first_plan),
        mrr=pl.col("mrr").fill_null(0.0),
    )
    paid_plan = pl.col("plan").is_in(PRODUCT.paid_plans)
    next_renewal = pl.coalesce("_last_due", "_paid_since").dt.offset_by("1mo")
    members = pl.col("total_members").clip(lower_bound=1)
    frame = frame.with_columns(
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
    ).select(FEATURE_COLUMNS).with_columns(
        # null, same type: "not available", never a 0 the product could not have measured
        pl.when(pl.lit(False)).then(pl.col(c)).alias(c)
        for c in sorted(unavailable_features(inp.absent))
    )
    if inp.signal_plan is not None:
        signals = (inp.signal_point if inp.signal_point is not None
                   else signals_as_of(inp.signal_days, inp.signal_plan, t))
        frame = with_signals(frame, signals, inp.signal_plan)
    return frame.collect().rechunk()  # one chunk: see features_for_days


# The features only one optional table can give. A product without that table at all has
# them null ("not available"); a household that simply has no rows in it keeps its real 0.
MINUTES = "activity_events.session_minutes"
# Canonical kinds whose features mean nothing when the product maps no event type to them.
KIND_FEATURES: dict[K, tuple[str, ...]] = {
    K.TASK_COMPLETED: ("tasks_completed_30d", "tasks_completed_prev_30d",
                       "task_completion_trend"),
    K.LOGIN: ("days_since_last_login", "logins_30d", "logins_prev_30d",
              "login_frequency_trend"),
    K.FEATURE_USED: ("features_used_90d", "new_features_adopted_90d", "features_used_ever"),
}
SOURCE_FEATURES: dict[str, tuple[str, ...]] = {
    "members": ("total_members", "active_members_ratio", "collaboration_score"),
    "pets": ("active_pets", "pets_added_90d", "pet_health_trend"),
    "pet_health_observations": ("pet_health_trend",),
    "support_tickets": ("tickets_90d", "avg_csat_90d", "critical_tickets_unresolved",
                        "avg_resolution_hours_90d", "has_unresolved_critical_ticket",
                        "support_satisfaction_drop"),
    "payments": ("payment_status", "failed_payments_90d", "late_payments_90d",
                 "overdue_amount"),
    MINUTES: ("avg_session_minutes_30d", "avg_session_minutes_prev_30d",
              "session_duration_trend"),
    **{f"activity_events.{kind.value}": columns for kind, columns in KIND_FEATURES.items()},
}


def missing_sources(absent_tables: Iterable[str], mapping: Mapping[str, K]) -> frozenset[str]:
    """What the product does not have at all: its absent tables, `activity_events.<kind>` for
    each kind of `KIND_FEATURES` its event mapping gives no event type (no feature events:
    no adoption figures, rather than everyone at 0), and `activity_events.session_minutes`
    when its sessions carry none. Their features are null: "not available"."""
    kinds = {f"activity_events.{k.value}" for k in KIND_FEATURES if k not in mapping.values()}
    minutes = set() if PRODUCT.sessions_have_minutes else {MINUTES}
    return frozenset(absent_tables) | kinds | minutes


def not_available(absent: Iterable[str]) -> dict[str, list[str]]:
    """Per missing source (`missing_sources`), the features it alone gives: null for this
    product."""
    return {t: list(SOURCE_FEATURES[t]) for t in sorted(absent) if t in SOURCE_FEATURES}


def unavailable_features(absent: Iterable[str]) -> frozenset[str]:
    """The feature columns a product without the tables `absent` cannot have."""
    return frozenset(c for columns in not_available(absent).values() for c in columns)


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
    """Backfill: many as-of days from one reduction of the events.

    Returned as one chunk: polars 2.1 panics ("assertion failed: i < self.len()") formatting
    strings over multi-chunk frames in the streaming engine, as `explain_health` does.
    """
    return pl.concat([features_as_of(inp, day) for day in days], rechunk=True)
