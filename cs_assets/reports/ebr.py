"""Quarterly Executive Business Review decks for the households on a plan with executive
reviews (`product.yaml`; PetForce's Enterprise): the spec's eight slides, computed from the
raw tables and the quarter's health scores, rendered to HTML and Markdown. Pure polars and
Jinja, no Dagster.

A quarter runs from its first day 00:00 UTC to the next quarter's first day 00:00 UTC. A deck is
made for each household on such a plan at the quarter's end (plan from the subscription history)
and not churned by then. Every figure is computed for the quarter and, for the
quarter-over-quarter change, the same way for the previous quarter.

Definitions (also written on the decks, and in docs/reports.md):

* tasks completed: activity events of kind `task_completed` in the quarter;
* active members: distinct members with any activity event in the quarter, out of the members
  in the household at the quarter's end;
* DAU/WAU: active member-days / (7 x active member-weeks), weeks being 7-day blocks from the
  quarter's first day: the share of a week's days on which a member active that week used the
  app (100% = every member active in a week was active every day of it);
* time saved (hours) = tasks completed x MINUTES_SAVED_PER_TASK / 60: each task done in the app
  stands for the coordination (messages, calls, notes) it replaces;
* cost reduction ($) = time saved x HOURLY_VALUE_USD, the value of that time;
* productivity gain (%) = change in tasks completed per active member against the previous
  quarter (n/a when the previous quarter had no active member);
* ROI (x) = cost reduction / the subscription payments paid in the quarter.

Goals come from the `success_plans` raw table (quarter `YYYY-Qn`). Next quarter's priorities are
the next quarter's success-plan goals when recorded, else derived from the data and labelled so:
this quarter's unfinished goals, then features not yet explored, then open support issues.
Feature catalog: every `feature_used` name any household used before the quarter's end plus the
four Enterprise/Premium capabilities (CAPABILITIES); the roadmap is the static ROADMAP list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import polars as pl

from cs_assets.contract.events import EventKind as K
from cs_assets.contract.product import PRODUCT
from cs_assets.reports.render import COLOURS, bar_chart, render
from cs_assets.reports.weekly import plan_as_of
from cs_assets.vocabulary import HH, instant

MINUTES_SAVED_PER_TASK = 10
HOURLY_VALUE_USD = 30.0
TREND_BAND = 5.0  # percent: a smaller change in tasks completed is "steady"
MAX_PRIORITIES = 3
# Capabilities recorded as their own event kinds rather than `feature_used` names.
CAPABILITIES = {
    K.CALENDAR_SYNC_SETUP.value: "calendar_sync",
    K.ANALYTICS_VIEWED.value: "advanced_analytics",
    K.TEMPLATE_CREATED.value: "custom_templates",
    K.PRIORITY_SUPPORT_USED.value: "priority_support",
}
# What is coming, for slides 5 and 7. Static: edit it when the product roadmap changes.
ROADMAP = (
    "Vet appointment booking from a pet's profile",
    "Multi-household dashboard for organisations with several locations",
    "Smart feeding and medication insights from wellness trends",
)
SUPPORT_PROMISES = ("Quarterly business reviews and check-ins", "A dedicated CSM",
                    "Priority support", "Early access to new features")
PRIORITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}
DEFINITIONS = {
    "tasks": "Tasks completed: activity events of kind task_completed in the quarter.",
    "dau_wau": "DAU/WAU: active member-days / (7 x active member-weeks), weeks being 7-day "
               "blocks from the quarter's first day.",
    "time_saved": f"Time saved = tasks completed x {MINUTES_SAVED_PER_TASK} minutes (the "
                  "coordination each task done in the app replaces) / 60.",
    "cost_reduction": f"Cost reduction = time saved x ${HOURLY_VALUE_USD:.0f} per hour, the "
                      "value of that time.",
    "productivity_gain": "Productivity gain = change in tasks completed per active member "
                         "against the previous quarter.",
    "roi": "ROI = cost reduction / subscription payments paid in the quarter.",
}
USAGE_SCHEMA = {HH: pl.String, "tasks_completed": pl.Int64, "active_members": pl.Int64,
                "total_members": pl.Int64, "pets_managed": pl.Int64,
                "dau_wau_ratio": pl.Float64}


def quarter_of(day: date) -> date:
    """The first day of `day`'s quarter."""
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def add_months(start: date, n: int) -> date:
    """The first day of the month `n` months after `start`'s."""
    months = start.year * 12 + start.month - 1 + n
    return date(months // 12, months % 12 + 1, 1)


def add_quarters(start: date, n: int) -> date:
    return add_months(start, 3 * n)


def quarter_label(start: date) -> str:
    return f"{start.year}-Q{(start.month - 1) // 3 + 1}"


def enterprise_households(households: pl.DataFrame, subscription_changes: pl.DataFrame,
                          end: datetime) -> pl.DataFrame:
    """household_id, owner_name, mrr of households on Enterprise and not churned at `end`."""
    churned_at = pl.col("churned_at")
    present = households.filter((pl.col("created_at") < end)
                                & (churned_at.is_null() | (churned_at >= end)))
    plans = plan_as_of(subscription_changes, end).filter(
        pl.col("plan").is_in(PRODUCT.review_plans))
    return present.join(plans, on=HH).select(HH, "owner_name", "mrr").sort(HH)


def _window(frame: pl.LazyFrame, column: str, start: datetime, end: datetime) -> pl.LazyFrame:
    return frame.filter(pl.col(column).is_between(start, end, closed="left"))


def _present_at(added: str, end: datetime) -> pl.Expr:
    removed = pl.col("removed_at")
    return (pl.col(added) < end) & (removed.is_null() | (removed >= end))


def usage(ids: pl.DataFrame, activity_events: pl.LazyFrame, members: pl.DataFrame,
          pets: pl.DataFrame, start: datetime, end: datetime) -> pl.DataFrame:
    """USAGE_SCHEMA for the households of `ids` over `[start, end)` (definitions above)."""
    events = _window(activity_events.join(ids.lazy(), on=HH, how="semi"), "occurred_at",
                     start, end).with_columns(
        _day=(pl.col("occurred_at") - pl.lit(start)).dt.total_days())
    counts = events.group_by(HH).agg(
        tasks_completed=(pl.col("event_kind") == K.TASK_COMPLETED.value).sum().cast(pl.Int64),
        active_members=pl.col("user_id").drop_nulls().n_unique().cast(pl.Int64),
    )
    active = events.filter(pl.col("user_id").is_not_null()).select(
        HH, "user_id", "_day", _week=pl.col("_day") // 7)
    member_days = active.select(HH, "user_id", "_day").unique().group_by(HH).len("_days")
    member_weeks = active.select(HH, "user_id", "_week").unique().group_by(HH).len("_weeks")
    total = members.filter(_present_at("joined_at", end)).group_by(HH).len(
        "total_members")
    managed = pets.filter(_present_at("added_at", end)).group_by(HH).len("pets_managed")
    return (
        ids.lazy().select(HH)
        .join(counts, on=HH, how="left")
        .join(member_days, on=HH, how="left")
        .join(member_weeks, on=HH, how="left")
        .join(total.lazy(), on=HH, how="left")
        .join(managed.lazy(), on=HH, how="left")
        .with_columns(pl.col("tasks_completed", "active_members", "total_members",
                             "pets_managed").fill_null(0).cast(pl.Int64),
                      dau_wau_ratio=100 * pl.col("_days") / (7 * pl.col("_weeks")))
        .select(list(USAGE_SCHEMA))
        .collect()
    )


def change(current: str, previous: str) -> pl.Expr:
    """Percent change from `previous`; null when it is 0 or unknown (nothing to compare)."""
    return pl.when(pl.col(previous) > 0).then(
        100 * (pl.col(current) - pl.col(previous)) / pl.col(previous))


def value_metrics(current: pl.DataFrame, previous: pl.DataFrame, payments: pl.DataFrame,
                  start: datetime, end: datetime) -> pl.DataFrame:
    """household_id, the quarter's and previous quarter's usage (suffix `_prev`), their
    changes (`*_change`, percent) and the business value (definitions above)."""
    fees = payments.filter((pl.col("status") == "paid")
                           & pl.col("paid_at").is_between(start, end, closed="left")).group_by(
        HH).agg(fees_paid=pl.col("amount").sum())
    hours = pl.col("tasks_completed") * MINUTES_SAVED_PER_TASK / 60
    return (
        current.join(previous, on=HH, how="left", suffix="_prev")
        .join(fees, on=HH, how="left")
        .with_columns(
            **{f"{c}_change": change(c, f"{c}_prev")
               for c in ("tasks_completed", "active_members", "pets_managed", "dau_wau_ratio")},
            time_saved_hours=hours,
            cost_reduction_usd=hours * HOURLY_VALUE_USD,
            roi=pl.when(pl.col("fees_paid") > 0)
            .then(hours * HOURLY_VALUE_USD / pl.col("fees_paid")),
            _per_member=pl.when(pl.col("active_members") > 0)
            .then(pl.col("tasks_completed") / pl.col("active_members")).otherwise(0.0),
            _per_member_prev=pl.when(pl.col("active_members_prev") > 0)
            .then(pl.col("tasks_completed_prev") / pl.col("active_members_prev")),
        )
        .with_columns(productivity_gain=change("_per_member", "_per_member_prev"))
        .drop("_per_member", "_per_member_prev")
    )


def feature_use(ids: pl.DataFrame, activity_events: pl.LazyFrame, start: datetime,
                end: datetime) -> tuple[list[str], pl.DataFrame]:
    """The catalog (features anyone used before `end`, plus CAPABILITIES) and, per household
    of `ids`, each feature it used before `end` with `in_quarter` (used in `[start, end)`)."""
    kind = pl.col("event_kind")
    named = activity_events.filter(pl.col("occurred_at") < end).select(
        HH, "occurred_at",
        feature=pl.when(kind == K.FEATURE_USED.value).then(pl.col("feature_name"))
        .otherwise(kind.replace_strict(CAPABILITIES, default=None)),
    ).filter(pl.col("feature").is_not_null())
    observed = named.select("feature").unique().collect()["feature"].to_list()
    catalog = sorted(set(observed) | set(CAPABILITIES.values()))
    used = named.join(ids.lazy(), on=HH, how="semi").group_by(HH, "feature").agg(
        in_quarter=(pl.col("occurred_at") >= start).any()).sort(HH, "feature").collect()
    return catalog, used


def monthly_tasks(ids: pl.DataFrame, activity_events: pl.LazyFrame, start: datetime,
                  end: datetime) -> pl.DataFrame:
    """household_id, month (first day), tasks completed, for the months of `[start, end)`."""
    return (
        _window(activity_events.join(ids.lazy(), on=HH, how="semi"), "occurred_at", start, end)
        .filter(pl.col("event_kind") == K.TASK_COMPLETED.value)
        .group_by(HH, month=pl.col("occurred_at").dt.truncate("1mo").dt.date())
        .agg(tasks=pl.len().cast(pl.Int64))
        .collect()
    )


def support_health(ids: pl.DataFrame, support_tickets: pl.DataFrame, nps_responses: pl.DataFrame,
                   start: datetime, end: datetime) -> pl.DataFrame:
    """Per household: tickets opened in the quarter, mean resolution hours of those resolved by
    its end, mean CSAT (1-5) of those rated, the last NPS score of the quarter, and the issues
    open at its end (most urgent, then oldest, first)."""
    mine = support_tickets.join(ids, on=HH, how="semi")
    opened = mine.filter(pl.col("created_at").is_between(start, end, closed="left"))
    resolved = pl.col("resolved_at").is_not_null() & (pl.col("resolved_at") < end)
    hours = (pl.col("resolved_at") - pl.col("created_at")).dt.total_seconds() / 3600
    stats = opened.group_by(HH).agg(
        tickets_opened=pl.len().cast(pl.Int64),
        avg_resolution_hours=hours.filter(resolved).mean(),
        csat=pl.col("csat_score").cast(pl.Float64).mean(),
    )
    still_open = mine.filter((pl.col("created_at") < end)
                             & (pl.col("resolved_at").is_null() | (pl.col("resolved_at") >= end)))
    issues = still_open.sort(pl.col("priority").replace_strict(PRIORITY_ORDER), "created_at",
                             "ticket_id").group_by(HH, maintain_order=True).agg(
        open_issues=pl.format("{} priority, {}, open since {}", "priority",
                              pl.col("category").fill_null("uncategorized"),
                              pl.col("created_at").dt.date()))
    nps = _window(nps_responses.lazy(), "responded_at", start, end).join(
        ids.lazy(), on=HH, how="semi").sort("responded_at").group_by(HH).agg(
        nps_score=pl.col("score").last()).collect()
    return (
        ids.select(HH).join(stats, on=HH, how="left").join(issues, on=HH, how="left")
        .join(nps, on=HH, how="left")
        .with_columns(pl.col("tickets_opened").fill_null(0),
                      pl.col("open_issues").fill_null(pl.lit([], pl.List(pl.String))))
    )


@dataclass(frozen=True)
class Deck:
    """One household's EBR: every figure a slide shows, as numbers (formatted by templates)."""

    household_id: str
    name: str | None  # the owner's name: shown on the deck, never in metadata or logs
    quarter: str
    start: date
    last_day: date
    health_score: float | None
    health_as_of: date | None
    health_reasons: str
    metrics: dict  # the row of `value_metrics` and `support_health`
    goals: dict[str, list[str]]  # status -> goals
    next_priorities: list[str]
    priorities_from_plan: bool
    features_used: list[str]
    features_not_explored: list[str]
    features_lapsed: list[str]
    expansion: list[str]
    trend: str
    chart: str | None


GOAL_STATUSES = ("achieved", "in_progress", "missed", "planned")


def _goals(plans: pl.DataFrame, quarter: str) -> dict[str, dict[str, list[str]]]:
    """household_id -> status -> the quarter's goals, in plan order."""
    goals: dict[str, dict[str, list[str]]] = {}
    for household, status, goal in plans.filter(pl.col("quarter") == quarter).sort(
            "plan_goal_id").select(HH, "status", "goal").iter_rows():
        goals.setdefault(household, {s: [] for s in GOAL_STATUSES})[status].append(goal)
    return goals


def _trend(tasks_change: float | None) -> str:
    if tasks_change is None:
        return "No tasks completed last quarter to compare with."
    if tasks_change > TREND_BAND:
        return f"Usage increased quarter over quarter: tasks completed {tasks_change:+.1f}%."
    if tasks_change < -TREND_BAND:
        return f"Usage decreased quarter over quarter: tasks completed {tasks_change:+.1f}%."
    return f"Usage steady quarter over quarter: tasks completed {tasks_change:+.1f}%."


def _chart(counts: dict[date, int], previous_start: date) -> str | None:
    """Tasks completed per month over the previous and this quarter."""
    firsts = [add_months(previous_start, i) for i in range(6)]
    if not counts:
        return None
    return bar_chart([m.strftime("%b %Y") for m in firsts], [counts.get(m, 0) for m in firsts],
                     title="Tasks completed per month", ylabel="tasks",
                     colours=["#9aa7b4"] * 3 + [COLOURS["healthy"]] * 3)


def _priorities(next_plan: list[str], goals: dict[str, list[str]], not_explored: list[str],
                open_issues: list[str]) -> tuple[list[str], bool]:
    if next_plan:
        return next_plan, True
    derived = [*goals["in_progress"], *goals["planned"], *goals["missed"]]
    derived += [f"Adopt {feature.replace('_', ' ')}" for feature in not_explored[:2]]
    if open_issues:
        derived.append(f"Resolve the {len(open_issues)} open support issue(s)")
    return derived[:MAX_PRIORITIES], False


def ebr_decks(
    quarter_start: date, *, households: pl.DataFrame, members: pl.DataFrame, pets: pl.DataFrame,
    activity_events: pl.LazyFrame, support_tickets: pl.DataFrame,
    subscription_changes: pl.DataFrame, payments: pl.DataFrame, nps_responses: pl.DataFrame,
    success_plans: pl.DataFrame, health: pl.DataFrame, pets_for_additional_household: int = 3,
) -> list[Deck]:
    """A deck per household on a plan with executive reviews, for the quarter starting
    `quarter_start`, by id.

    health: household_id, as_of, health_score, top_reasons of the quarter's latest scored day
    (empty when none). pets_for_additional_household: the cross-sell rule's pet count."""
    previous_start, next_start = add_quarters(quarter_start, -1), add_quarters(quarter_start, 1)
    start, end, prev = instant(quarter_start), instant(next_start), instant(previous_start)
    ids = enterprise_households(households, subscription_changes, end)
    metrics = value_metrics(
        usage(ids, activity_events, members, pets, start, end),
        usage(ids, activity_events, members, pets, prev, start), payments, start, end,
    ).join(support_health(ids, support_tickets, nps_responses, start, end), on=HH)
    catalog, used = feature_use(ids, activity_events, start, end)
    features: dict[str, tuple[set[str], list[str]]] = {}  # household: (ever, this quarter)
    for household, feature, now in used.iter_rows():
        ever, this_quarter = features.setdefault(household, (set(), []))
        ever.add(feature)
        if now:
            this_quarter.append(feature)
    months: dict[str, dict[date, int]] = {}
    for household, month, tasks in monthly_tasks(ids, activity_events, prev, end).iter_rows():
        months.setdefault(household, {})[month] = tasks
    plans = success_plans.join(ids, on=HH, how="semi")
    no_goals = {s: [] for s in GOAL_STATUSES}
    goals_now = _goals(plans, quarter_label(quarter_start))
    goals_next = _goals(plans, quarter_label(next_start))
    names = dict(ids.select(HH, "owner_name").iter_rows())
    decks = []
    for row in metrics.join(health, on=HH, how="left").sort(HH).iter_rows(named=True):
        household = row[HH]
        ever, in_quarter = features.get(household, (set(), []))
        not_explored = [f for f in catalog if f not in ever]
        goals = goals_now.get(household, no_goals)
        priorities, from_plan = _priorities(
            [g for status in GOAL_STATUSES for g in goals_next.get(household, no_goals)[status]],
            goals, not_explored, row["open_issues"])
        expansion = []
        if row["pets_managed"] >= pets_for_additional_household:
            expansion.append(f"Additional households: {row['pets_managed']} pets managed; "
                             "manage several homes or locations under one account")
        if "calendar_sync" not in ever:
            expansion.append("Integrations: calendar sync for vet appointments and care tasks")
        decks.append(Deck(
            household_id=household, name=names[household], quarter=quarter_label(quarter_start),
            start=quarter_start, last_day=next_start - timedelta(days=1),
            health_score=row["health_score"], health_as_of=row["as_of"],
            health_reasons=row["top_reasons"] or "",
            metrics=row, goals=goals, next_priorities=priorities, priorities_from_plan=from_plan,
            features_used=in_quarter, features_not_explored=not_explored,
            features_lapsed=sorted(ever - set(in_quarter)), expansion=expansion,
            trend=_trend(row["tasks_completed_change"]),
            chart=_chart(months.get(household, {}), previous_start),
        ))
    return decks


def _context(deck: Deck, with_name: bool) -> dict:
    title = (f"{deck.name} household ({deck.household_id})" if with_name and deck.name
             else deck.household_id)
    return dict(d=deck, m=deck.metrics, title=title, definitions=DEFINITIONS,
                roadmap=ROADMAP, promises=SUPPORT_PROMISES,
                goals_total=sum(len(g) for g in deck.goals.values()))


def deck_html(deck: Deck) -> str:
    """The deck as one HTML page of eight slides, one per printed page."""
    return render("ebr.html.j2", **_context(deck, with_name=True))


def deck_markdown(deck: Deck, *, with_name: bool = True) -> str:
    """The deck as Markdown, slides separated by `---`; without the name for metadata."""
    return render("ebr.md.j2", **_context(deck, with_name=with_name))
