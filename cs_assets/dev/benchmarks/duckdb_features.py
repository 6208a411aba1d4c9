"""`household_features` for one as-of day in plain, idiomatic DuckDB SQL (the benchmark's
SQL yardstick).

One pass over the events: a single `GROUP BY household_id` whose aggregates are
`count(*) FILTER (WHERE ...)`, `sum(...) FILTER`, `count(DISTINCT ...) FILTER`, with the
household's time zone joined in for `AT TIME ZONE` (converted only for the current window's
sessions, the only rows whose local time a feature reads). The small tables (tickets, pets, plan
history, payments) are their own grouped CTEs, joined at the end. Every date and instant is
a bound parameter. Run: `python -m cs_assets.dev.benchmarks.duckdb_features --raw DIR --as-of DAY
--out FILE.parquet`.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from cs_assets.contract.events import load_event_mapping
from cs_assets.dev.benchmarks.common import (
    LATE_PAYMENT,
    PAID_PLANS,
    PEAK_HOURS,
    as_of_instant,
    parquet_glob,
    run_engine,
)

FEATURES_SQL = """
WITH
households AS (
    SELECT household_id, created_at, coalesce(timezone, 'UTC') AS tz
    FROM read_parquet($households)
    WHERE created_at < $at AND (churned_at IS NULL OR churned_at >= $at)
),
plan_history AS (
    SELECT household_id,
           arg_max_null(to_plan, changed_at) AS plan,
           arg_max_null(mrr_after, changed_at) AS mrr,
           max(changed_at) FILTER (
               WHERE to_plan IN $paid_plans
                 AND coalesce(from_plan, 'Free') NOT IN $paid_plans) AS paid_since
    FROM read_parquet($subscription_changes)
    WHERE changed_at < $at
    GROUP BY household_id
),
context AS (  -- what each event needs from its household: time zone and paid-since day
    SELECT h.household_id, h.tz,
           coalesce(CAST(p.paid_since AS DATE), $day - 90) AS premium_since
    FROM households h LEFT JOIN plan_history p USING (household_id)
),
events AS (
    SELECT e.household_id, e.user_id, CAST(e.occurred_at AS DATE) AS day,
           k.kind, e.session_minutes, e.feature_name, c.premium_since,
           -- local time only where a feature reads it: the current window's sessions
           CASE WHEN k.kind = 'session' AND e.occurred_at >= $at - INTERVAL 30 DAY
                THEN e.occurred_at AT TIME ZONE c.tz END AS local_time
    FROM read_parquet($events) e
    JOIN context c USING (household_id)
    LEFT JOIN event_kinds k USING (event_type)
    WHERE e.occurred_at < $at
),
activity AS (
    SELECT household_id,
        count(*) FILTER (WHERE kind = 'task_completed' AND day >= $day - 30)
            AS tasks_completed_30d,
        count(*) FILTER (WHERE kind = 'task_completed' AND day >= $day - 60 AND day < $day - 30)
            AS tasks_completed_prev_30d,
        count(*) FILTER (WHERE kind = 'login' AND day >= $day - 30) AS logins_30d,
        count(*) FILTER (WHERE kind = 'login' AND day >= $day - 60 AND day < $day - 30)
            AS logins_prev_30d,
        count(*) FILTER (WHERE kind = 'session' AND day >= $day - 30) AS sessions_30d,
        count(*) FILTER (WHERE kind = 'session' AND day >= $day - 60 AND day < $day - 30)
            AS sessions_prev_30d,
        sum(session_minutes) FILTER (WHERE kind = 'session' AND day >= $day - 30) AS minutes_30d,
        sum(session_minutes) FILTER (
            WHERE kind = 'session' AND day >= $day - 60 AND day < $day - 30) AS minutes_prev_30d,
        count(*) FILTER (WHERE isodow(local_time) >= 6) AS weekend_sessions_30d,
        count(*) FILTER (WHERE hour(local_time) IN $peak_hours) AS peak_sessions_30d,
        count(DISTINCT day) FILTER (WHERE day >= $day - 30) AS active_days_30d,
        max(day) FILTER (WHERE kind = 'login') AS last_login_day,
        count(DISTINCT user_id) FILTER (WHERE day >= $day - 30) AS active_users_30d,
        count(DISTINCT user_id) FILTER (WHERE day >= $day - 60 AND day < $day - 30)
            AS active_users_prev_30d,
        count(DISTINCT user_id) FILTER (WHERE day >= $day - 7) AS weekly_users,
        count(DISTINCT (user_id, day)) FILTER (WHERE day >= $day - 7 AND user_id IS NOT NULL)
            AS member_days_7d,
        histogram(user_id) FILTER (WHERE kind = 'task_completed' AND day >= $day - 30
                                     AND user_id IS NOT NULL) AS member_tasks_30d,
        count(DISTINCT feature_name) FILTER (WHERE kind = 'feature_used') AS features_used_ever,
        count(DISTINCT feature_name) FILTER (WHERE kind = 'feature_used' AND day >= $day - 90)
            AS features_used_90d,
        count(DISTINCT feature_name) FILTER (WHERE kind = 'feature_used' AND day < $day - 90)
            AS features_used_before_90d,
        bool_or(kind = 'calendar_sync_setup') AS calendar_sync_setup,
        count(*) FILTER (WHERE kind = 'analytics_viewed' AND day >= premium_since)
            AS analytics_views,
        count(*) FILTER (WHERE kind = 'template_created' AND day >= premium_since)
            AS templates_created,
        count(*) FILTER (WHERE kind = 'priority_support_used' AND day >= premium_since)
            AS priority_support_used,
        bool_or(kind = 'premium_onboarding_completed' AND day >= premium_since)
            AS premium_onboarding_completed
    FROM events
    GROUP BY household_id
),
collaboration AS (
    SELECT household_id,
           list_sum(list_transform(map_values(member_tasks_30d), lambda n: n * n))
               / list_sum(map_values(member_tasks_30d)) ^ 2 AS task_concentration,
           list_sum(map_values(member_tasks_30d)) AS tasks_by_members
    FROM activity
),
members AS (
    SELECT household_id, count(*) AS total_members
    FROM read_parquet($members)
    WHERE joined_at < $at AND (removed_at IS NULL OR removed_at >= $at)
    GROUP BY household_id
),
support AS (
    SELECT household_id,
        count(*) FILTER (WHERE created_at >= $at - INTERVAL 90 DAY) AS tickets_90d,
        avg(csat_score) FILTER (WHERE created_at >= $at - INTERVAL 90 DAY AND resolved_at < $at)
            AS avg_csat_90d,
        count(*) FILTER (WHERE priority = 'critical'
                           AND (resolved_at IS NULL OR resolved_at >= $at))
            AS critical_tickets_unresolved,
        -- whole seconds, like the project's `total_seconds()`
        avg(floor(epoch(resolved_at - created_at)) / 3600) FILTER (
            WHERE resolved_at >= $at - INTERVAL 90 DAY AND resolved_at < $at)
            AS avg_resolution_hours_90d,
        avg(csat_score) FILTER (WHERE resolved_at >= $at - INTERVAL 30 DAY AND resolved_at < $at)
            AS csat_30d,
        avg(csat_score) FILTER (WHERE resolved_at >= $at - INTERVAL 60 DAY
                                  AND resolved_at < $at - INTERVAL 30 DAY) AS csat_prev_30d
    FROM read_parquet($support_tickets)
    WHERE created_at < $at
    GROUP BY household_id
),
pets AS (
    SELECT household_id,
        count(*) FILTER (WHERE removed_at IS NULL OR removed_at >= $at) AS active_pets,
        count(*) FILTER (WHERE added_at >= $at - INTERVAL 90 DAY) AS pets_added_90d
    FROM read_parquet($pets)
    WHERE added_at < $at
    GROUP BY household_id
),
wellness AS (
    SELECT p.household_id,
        avg(o.value) FILTER (WHERE o.observed_at >= $at - INTERVAL 30 DAY)
        - avg(o.value) FILTER (WHERE o.observed_at < $at - INTERVAL 30 DAY) AS pet_health_trend
    FROM read_parquet($pet_health_observations) o
    JOIN read_parquet($pets) p USING (pet_id)
    WHERE o.metric = 'wellness_score'
      AND o.observed_at >= $at - INTERVAL 60 DAY AND o.observed_at < $at
    GROUP BY p.household_id
),
payments AS (
    SELECT household_id,
        max(due_at) AS last_due,
        arg_max(paid, due_at) AS last_paid,
        arg_max(status = 'failed', due_at) AS last_failed,
        count(*) FILTER (WHERE status = 'failed' AND due_at >= $at - INTERVAL 90 DAY)
            AS failed_payments_90d,
        count(*) FILTER (WHERE paid AND due_at >= $at - INTERVAL 90 DAY
                           AND paid_at - due_at > $late) AS late_payments_90d,
        coalesce(sum(amount) FILTER (WHERE NOT paid AND status <> 'refunded'), 0)
            AS overdue_amount
    FROM (
        SELECT *, coalesce(paid_at < $at AND status IN ('paid', 'refunded'), false) AS paid
        FROM read_parquet($payments)
        WHERE due_at < $at
    )
    GROUP BY household_id
),
joined AS (
    SELECT h.household_id, h.created_at,
        coalesce(p.plan, 'Free') AS plan,
        coalesce(p.mrr, 0.0) AS mrr,
        p.paid_since,
        coalesce(a.tasks_completed_30d, 0) AS tasks_completed_30d,
        coalesce(a.tasks_completed_prev_30d, 0) AS tasks_completed_prev_30d,
        coalesce(a.logins_30d, 0) AS logins_30d,
        coalesce(a.logins_prev_30d, 0) AS logins_prev_30d,
        a.minutes_30d / nullif(a.sessions_30d, 0) AS avg_session_minutes_30d,
        a.minutes_prev_30d / nullif(a.sessions_prev_30d, 0) AS avg_session_minutes_prev_30d,
        coalesce(a.active_users_30d, 0) AS active_users_30d,
        coalesce(a.active_users_prev_30d, 0) AS active_users_prev_30d,
        coalesce(m.total_members, 0) AS total_members,
        coalesce(a.weekend_sessions_30d / greatest(a.sessions_30d - a.weekend_sessions_30d, 1),
                 0.0) AS weekend_usage_ratio,
        coalesce(a.peak_sessions_30d / greatest(a.sessions_30d, 1), 0.0) AS peak_hour_usage,
        coalesce(a.active_days_30d, 0) AS active_days_30d,
        coalesce(a.features_used_90d, 0) AS features_used_90d,
        coalesce(a.features_used_ever - a.features_used_before_90d, 0)
            AS new_features_adopted_90d,
        coalesce(a.features_used_ever, 0) AS features_used_ever,
        a.last_login_day, a.weekly_users, a.member_days_7d,
        c.task_concentration, c.tasks_by_members,
        coalesce(s.tickets_90d, 0) AS tickets_90d,
        s.avg_csat_90d,
        coalesce(s.critical_tickets_unresolved, 0) AS critical_tickets_unresolved,
        s.avg_resolution_hours_90d,
        s.csat_30d - s.csat_prev_30d AS support_satisfaction_drop,
        coalesce(pe.pets_added_90d, 0) AS pets_added_90d,
        coalesce(pe.active_pets, 0) AS active_pets,
        CASE WHEN pe.household_id IS NOT NULL THEN w.pet_health_trend END AS pet_health_trend,
        pay.last_due, pay.last_paid, pay.last_failed,
        coalesce(pay.failed_payments_90d, 0) AS failed_payments_90d,
        coalesce(pay.late_payments_90d, 0) AS late_payments_90d,
        coalesce(pay.overdue_amount, 0.0) AS overdue_amount,
        coalesce(a.calendar_sync_setup, false) AS calendar_sync_setup,
        coalesce(a.analytics_views, 0) AS analytics_views,
        coalesce(a.templates_created, 0) AS templates_created,
        coalesce(a.priority_support_used, 0) AS priority_support_used,
        coalesce(a.premium_onboarding_completed, false) AS premium_onboarding_completed
    FROM households h
    LEFT JOIN plan_history p USING (household_id)
    LEFT JOIN activity a USING (household_id)
    LEFT JOIN collaboration c USING (household_id)
    LEFT JOIN members m USING (household_id)
    LEFT JOIN support s USING (household_id)
    LEFT JOIN pets pe USING (household_id)
    LEFT JOIN wellness w USING (household_id)
    LEFT JOIN payments pay USING (household_id)
)
SELECT household_id, $day AS as_of, plan, mrr,
    CASE WHEN last_due IS NULL THEN 'none' WHEN last_paid THEN 'current'
         WHEN last_failed THEN 'failed' ELSE 'past_due' END AS payment_status,
    floor(epoch($at - created_at) / 86400)::BIGINT AS days_since_signup,
    $day - last_login_day AS days_since_last_login,
    CASE WHEN plan IN $paid_plans THEN greatest(floor(epoch(
        coalesce(last_due, paid_since) + INTERVAL 1 MONTH - $at) / 86400)::BIGINT, 0)
    END AS days_until_renewal,
    tasks_completed_30d, tasks_completed_prev_30d,
    CASE WHEN tasks_completed_prev_30d > 0 THEN
        (tasks_completed_30d - tasks_completed_prev_30d) / tasks_completed_prev_30d
    END AS task_completion_trend,
    logins_30d, logins_prev_30d,
    CASE WHEN logins_prev_30d > 0 THEN (logins_30d - logins_prev_30d) / logins_prev_30d
    END AS login_frequency_trend,
    avg_session_minutes_30d, avg_session_minutes_prev_30d,
    CASE WHEN avg_session_minutes_prev_30d > 0 THEN
        (avg_session_minutes_30d - avg_session_minutes_prev_30d) / avg_session_minutes_prev_30d
    END AS session_duration_trend,
    active_users_30d, active_users_prev_30d,
    CASE WHEN active_users_prev_30d > 0 THEN
        (active_users_30d - active_users_prev_30d) / active_users_prev_30d
    END AS active_users_trend,
    CASE WHEN weekly_users > 0 THEN member_days_7d / 7 / weekly_users ELSE 0.0
    END AS dau_wau_ratio,
    total_members,
    active_users_30d AS active_members_30d,
    least(active_users_30d / greatest(total_members, 1), 1.0) AS active_members_ratio,
    weekend_usage_ratio, peak_hour_usage, active_days_30d,
    features_used_90d, new_features_adopted_90d, features_used_ever,
    tickets_90d, avg_csat_90d, critical_tickets_unresolved, avg_resolution_hours_90d,
    critical_tickets_unresolved > 0 AS has_unresolved_critical_ticket,
    support_satisfaction_drop,
    0 AS proactive_outreach_90d,  -- no platform outreach exists in the raw bench data
    pets_added_90d, active_pets,
    CASE WHEN total_members > 1 AND tasks_by_members > 0 THEN least(greatest(
        100 * (1 - task_concentration) / (1 - 1 / greatest(total_members, 1)), 0.0), 100.0)
    ELSE 0.0 END AS collaboration_score,
    pet_health_trend,
    failed_payments_90d, late_payments_90d, overdue_amount,
    calendar_sync_setup, analytics_views, templates_created, priority_support_used,
    premium_onboarding_completed,
    CASE WHEN plan IN $paid_plans THEN floor(epoch($at - paid_since) / 86400)::BIGINT
    END AS days_since_upgrade
FROM joined
"""


def features(raw: Path, as_of: date) -> pa.Table:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # CAST(timestamptz AS DATE) is the UTC day
    con.execute("CREATE TEMP TABLE event_kinds (event_type VARCHAR, kind VARCHAR)")
    con.executemany(
        "INSERT INTO event_kinds VALUES (?, ?)",
        [(name, kind.value) for name, kind in load_event_mapping().items()],
    )
    params = {
        "day": as_of,
        "at": as_of_instant(as_of),
        "late": LATE_PAYMENT,
        "paid_plans": list(PAID_PLANS),
        "peak_hours": list(PEAK_HOURS),
        **{
            table: parquet_glob(raw, table)
            for table in (
                "households",
                "subscription_changes",
                "members",
                "support_tickets",
                "pets",
                "pet_health_observations",
                "payments",
            )
        },
        "events": parquet_glob(raw, "activity_events"),
    }
    return con.sql(FEATURES_SQL, params=params).to_arrow_table()


def _write(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path)


if __name__ == "__main__":
    run_engine("duckdb", features, _write)
