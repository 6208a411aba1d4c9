"""The spec's three war stories as tables over the validated raw tables, and their charts.

Each analysis is computed as of a reference instant and reads nothing at or after it. Where
the spec's SQL compares groups over windows that overlap the outcome, these use a window
before the outcome instead (see docs/war-stories.md for every definition):

* silent churn (#1): weekly activity of churners in the weeks before their churn, beside
  retained households in the weeks before a reference date they outlived;
* the support ticket paradox (#2): churn in the last window by tickets in the window before;
* the Premium downgrade crisis (#3): Premium feature adoption during the Premium period of
  households that downgraded to Free, beside Premium households that stayed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from cs_assets.contract.events import EventKind as K
from cs_assets.contract.product import PRODUCT
from cs_assets.vocabulary import HH

CHURNED, RETAINED, DOWNGRADED = "churned", "retained", "downgraded"

# --- War story 1: silent churn --------------------------------------------------------------

WEEK_US = 7 * 24 * 3600 * 10**6
WEEKLY_METRICS = {
    "mean_tasks": "task completions",
    "mean_active_users": "active users",
    "mean_session_minutes": "session length (min)",
}


def churn_anchors(households: pl.DataFrame, reference: datetime, *, weeks: int = 12,
                  lookback_days: int = 365, horizon_days: int = 30) -> pl.DataFrame:
    """`household_id, group, anchor`: the instant each household's weeks count back from.

    Churned: churned in the `lookback_days` before the reference; anchor = the churn instant.
    Retained: not churned by the reference; anchor = `horizon_days` before it, so each one
    outlived its anchor by the churn label's horizon. Both need `weeks` full weeks of tenure
    before the anchor, so a young household's empty early weeks do not read as decline.
    """
    churned = households.filter(pl.col("churned_at").is_between(
        reference - timedelta(days=lookback_days), reference, closed="left"))
    retained = households.filter(
        pl.col("churned_at").is_null() | (pl.col("churned_at") >= reference))
    anchor_type = households.schema["created_at"]
    anchors = pl.concat([
        churned.select(HH, "created_at", group=pl.lit(CHURNED), anchor=pl.col("churned_at")),
        retained.select(HH, "created_at", group=pl.lit(RETAINED), anchor=pl.lit(
            reference - timedelta(days=horizon_days)).cast(anchor_type)),
    ])
    return anchors.filter(
        pl.col("created_at") <= pl.col("anchor") - timedelta(weeks=weeks)).drop("created_at")


def _weeks_back(before: pl.Expr) -> pl.Expr:
    """k for a positive duration in (7(k-1), 7k] days: week -k is [anchor - 7k d, anchor -
    7(k-1) d). Exact integer arithmetic, so an event exactly 7 days back is in week -1."""
    return (before.dt.total_microseconds() - 1) // WEEK_US + 1


def weeks_before_churn(households: pl.DataFrame, activity_events: pl.DataFrame,
                       reference: datetime, *, weeks: int = 12, lookback_days: int = 365,
                       horizon_days: int = 30) -> pl.DataFrame:
    """Per group (churned / retained) and week -`weeks`..-1 before the anchor (week -1 is
    the 7 days just before it): households, mean task completions, mean active users
    (distinct members with any event) and mean session minutes.

    Tasks and users average over every household, a week without events counting 0; session
    length averages the households' own mean session over those with a session that week
    (`households_with_sessions`): a household that had none has no length, not a zero one.
    """
    anchors = churn_anchors(households, reference, weeks=weeks, lookback_days=lookback_days,
                            horizon_days=horizon_days)
    kind = pl.col("event_kind")
    per_week = (
        activity_events.lazy()
        .select(HH, "user_id", "occurred_at", "event_kind", "session_minutes")
        .join(anchors.lazy(), on=HH)
        .filter(pl.col("occurred_at") < pl.col("anchor"),
                pl.col("occurred_at") >= pl.col("anchor") - timedelta(weeks=weeks))
        .with_columns(week=-_weeks_back(pl.col("anchor") - pl.col("occurred_at")))
        .group_by(HH, "week")
        .agg(tasks=(kind == K.TASK_COMPLETED.value).sum().cast(pl.Int64),
             active_users=pl.col("user_id").drop_nulls().n_unique().cast(pl.Int64),
             session_minutes=pl.col("session_minutes").filter(kind == K.SESSION.value).mean())
        .collect()
    )
    week_numbers = pl.DataFrame({"week": list(range(-weeks, 0))}, schema={"week": pl.Int64})
    grid = (
        anchors.join(week_numbers, how="cross")
        .join(per_week, on=[HH, "week"], how="left")
        .with_columns(pl.col("tasks", "active_users").fill_null(0))
    )
    summary = grid.group_by("group", "week").agg(
        households=pl.len().cast(pl.Int64),
        mean_tasks=pl.col("tasks").mean(),
        mean_active_users=pl.col("active_users").mean(),
        mean_session_minutes=pl.col("session_minutes").mean(),
        households_with_sessions=pl.col("session_minutes").count().cast(pl.Int64),
    )
    skeleton = pl.DataFrame({"group": [CHURNED, RETAINED]}).join(week_numbers, how="cross")
    return skeleton.join(summary, on=["group", "week"], how="left", maintain_order="left") \
        .with_columns(pl.col("households", "households_with_sessions").fill_null(0))


def weekly_comparison(table: pl.DataFrame) -> pl.DataFrame:
    """`weeks_before_churn` with one row per week and churned / retained side by side."""
    return (
        table.pivot(on="group", index="week", values=list(WEEKLY_METRICS))
        .sort("week")
        .with_columns(pl.exclude("week").round(2))
    )


def weekly_figure(table: pl.DataFrame) -> Figure:
    """One panel per metric, churned against retained over the weeks before the anchor."""
    fig = Figure(figsize=(9, 2.6))
    axes = fig.subplots(1, len(WEEKLY_METRICS))
    for ax, (column, label) in zip(axes, WEEKLY_METRICS.items(), strict=True):
        for group in (CHURNED, RETAINED):
            part = table.filter(pl.col("group") == group).sort("week")
            ax.plot(part["week"].to_numpy(), part[column].to_numpy(), marker="o",
                    markersize=3, label=group)
        ax.set(title=label, xlabel="week before churn / anchor")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend()
    fig.tight_layout()
    return fig


# --- War story 2: the support ticket paradox ------------------------------------------------

TICKET_BUCKETS = ("0", "1-2", "3-5", "6+")


def ticket_bucket(tickets: pl.Expr) -> pl.Expr:
    """The spec's buckets of a ticket count."""
    return (pl.when(tickets == 0).then(pl.lit("0"))
            .when(tickets <= 2).then(pl.lit("1-2"))
            .when(tickets <= 5).then(pl.lit("3-5"))
            .otherwise(pl.lit("6+")))


def churn_by_ticket_bucket(households: pl.DataFrame, support_tickets: pl.DataFrame,
                           reference: datetime, *, window_days: int = 90) -> pl.DataFrame:
    """Per ticket bucket (all four, in order): households, churned, churn_rate, mean_csat.

    The cohort instant is `window_days` before the reference. Households: signed up at least
    a full window before it and not churned by it. Tickets: created in the window before the
    cohort instant; churned: churned between the cohort instant and the reference. CSAT
    counts ratings of tickets resolved before the cohort instant; `mean_csat` is the mean of
    the households' mean CSAT (as the spec's `AVG(avg_csat)`), over households with one.
    An empty bucket has zero households and a null rate and CSAT.
    """
    window = timedelta(days=window_days)
    cohort = reference - window
    population = households.filter(
        pl.col("created_at") <= cohort - window,
        pl.col("churned_at").is_null() | (pl.col("churned_at") >= cohort),
    ).select(HH, churned=pl.col("churned_at").is_not_null() & (pl.col("churned_at") < reference))
    tickets = (
        support_tickets.filter(pl.col("created_at").is_between(cohort - window, cohort,
                                                               closed="left"))
        .group_by(HH)
        .agg(tickets=pl.len().cast(pl.Int64),
             csat=pl.col("csat_score").filter(pl.col("resolved_at") < cohort).mean())
    )
    by_bucket = (
        population.join(tickets, on=HH, how="left")
        .with_columns(pl.col("tickets").fill_null(0))
        .group_by(ticket_bucket(pl.col("tickets")).alias("ticket_bucket"))
        .agg(households=pl.len().cast(pl.Int64), churned=pl.col("churned").sum().cast(pl.Int64),
             mean_csat=pl.col("csat").mean())
    )
    return (
        pl.DataFrame({"ticket_bucket": TICKET_BUCKETS})
        .join(by_bucket, on="ticket_bucket", how="left", maintain_order="left")
        .with_columns(pl.col("households", "churned").fill_null(0))
        .with_columns(churn_rate=pl.when(pl.col("households") > 0)
                      .then(pl.col("churned") / pl.col("households")))
        .select("ticket_bucket", "households", "churned", "churn_rate", "mean_csat")
    )


def ticket_bucket_figure(table: pl.DataFrame) -> Figure:
    """Churn rate per bucket, each bar labelled with its households."""
    fig = Figure(figsize=(4.5, 3))
    ax = fig.add_subplot()
    rates = table["churn_rate"].fill_null(0.0) * 100
    bars = ax.bar(table["ticket_bucket"].to_list(), rates.to_numpy())
    ax.bar_label(bars, labels=[f"n={n}" for n in table["households"]], fontsize=8)
    ax.margins(y=0.15)
    ax.set(title="Churn rate by support tickets", xlabel="tickets in the window before",
           ylabel="churned (%)")
    fig.tight_layout()
    return fig


# --- War story 3: the Premium downgrade crisis ----------------------------------------------

# The spec's Premium features (its adoption score's five) and the event kind that shows use.
PREMIUM_FEATURES: dict[str, K] = {
    "calendar_sync": K.CALENDAR_SYNC_SETUP,
    "advanced_analytics": K.ANALYTICS_VIEWED,
    "custom_templates": K.TEMPLATE_CREATED,
    "priority_support": K.PRIORITY_SUPPORT_USED,
    "premium_onboarding": K.PREMIUM_ONBOARDING_COMPLETED,
}
DAYS_PER_MONTH = 30


def premium_periods(subscription_changes: pl.DataFrame, reference: datetime, *,
                    window_days: int = 90) -> pl.DataFrame:
    """`household_id, group, premium_since, until`: each compared household's Premium period.

    Downgraded: a Premium -> Free downgrade in the `window_days` before the reference; the
    period ends at the (last such) downgrade. Retained: on Premium at the reference without
    such a downgrade; the period ends at the reference. It starts at the last change to
    Premium before its end; a household without one (no plan history) is left out.
    """
    changes = subscription_changes.filter(pl.col("changed_at") < reference)
    downgrades = (
        changes.filter(pl.col("change_type") == "downgrade",
                       pl.col("from_plan").is_in(PRODUCT.premium_plans),
                       ~pl.col("to_plan").is_in(PRODUCT.paid_plans),
                       pl.col("changed_at") >= reference - timedelta(days=window_days))
        .group_by(HH)
        .agg(until=pl.col("changed_at").max())
    )
    retained = (
        changes.group_by(HH)
        .agg(plan=pl.col("to_plan").sort_by("changed_at").last())
        .filter(pl.col("plan").is_in(PRODUCT.premium_plans))
        .join(downgrades, on=HH, how="anti")
        .select(HH, until=pl.lit(reference).cast(changes.schema["changed_at"]))
    )
    ends = pl.concat([downgrades.with_columns(group=pl.lit(DOWNGRADED)),
                      retained.with_columns(group=pl.lit(RETAINED))], how="diagonal")
    return (
        ends.join(changes.filter(pl.col("to_plan").is_in(PRODUCT.premium_plans))
                  .select(HH, "changed_at"), on=HH)
        .filter(pl.col("changed_at") < pl.col("until"))
        .group_by(HH, "group", "until")
        .agg(premium_since=pl.col("changed_at").max())
        .select(HH, "group", "premium_since", "until")
    )


def premium_feature_adoption(subscription_changes: pl.DataFrame,
                             activity_events: pl.DataFrame, reference: datetime, *,
                             window_days: int = 90) -> pl.DataFrame:
    """Per group (downgraded / retained) and Premium feature: households, adopters (any use
    during the Premium period), adoption (their share) and uses_per_month (the households'
    mean of uses per month of their Premium period, a first partial month counting as one).
    Both groups and every feature always have a row; an empty group has a null share."""
    periods = premium_periods(subscription_changes, reference, window_days=window_days)
    features = {kind.value: name for name, kind in PREMIUM_FEATURES.items()}
    uses = (
        activity_events.lazy()
        .filter(pl.col("event_kind").is_in(list(features)))
        .select(HH, "occurred_at", "event_kind")
        .join(periods.lazy(), on=HH)
        .filter(pl.col("occurred_at") >= pl.col("premium_since"),
                pl.col("occurred_at") < pl.col("until"))
        .group_by(HH, feature=pl.col("event_kind").replace_strict(features))
        .agg(uses=pl.len().cast(pl.Int64))
        .collect()
    )
    names = pl.DataFrame({"feature": list(PREMIUM_FEATURES)})
    months = ((pl.col("until") - pl.col("premium_since")).dt.total_days(fractional=True)
              / DAYS_PER_MONTH).clip(lower_bound=1.0)
    summary = (
        periods.join(names, how="cross")
        .join(uses, on=[HH, "feature"], how="left")
        .with_columns(pl.col("uses").fill_null(0))
        .group_by("group", "feature")
        .agg(households=pl.len().cast(pl.Int64), adopters=(pl.col("uses") > 0).sum().cast(
            pl.Int64), uses_per_month=(pl.col("uses") / months).mean())
    )
    skeleton = pl.DataFrame({"group": [DOWNGRADED, RETAINED]}).join(names, how="cross")
    return (
        skeleton.join(summary, on=["group", "feature"], how="left", maintain_order="left")
        .with_columns(pl.col("households", "adopters").fill_null(0))
        .with_columns(adoption=pl.when(pl.col("households") > 0)
                      .then(pl.col("adopters") / pl.col("households")))
        .select("group", "feature", "households", "adopters", "adoption", "uses_per_month")
    )


def adoption_comparison(table: pl.DataFrame) -> pl.DataFrame:
    """`premium_feature_adoption` with one row per feature, downgraded beside retained."""
    return (
        table.pivot(on="group", index="feature", values=["adoption", "uses_per_month"])
        .with_columns(pl.exclude("feature").round(3))
    )


def adoption_figure(table: pl.DataFrame) -> Figure:
    """Adoption share per feature, downgraded against retained."""
    fig = Figure(figsize=(5, 3))
    ax = fig.add_subplot()
    height = 0.4
    for offset, group in ((-height / 2, DOWNGRADED), (height / 2, RETAINED)):
        part = table.filter(pl.col("group") == group)
        positions = [i + offset for i in range(part.height)]
        ax.barh(positions, (part["adoption"].fill_null(0.0) * 100).to_numpy(), height=height,
                label=group)
    ax.set_yticks(range(len(PREMIUM_FEATURES)), list(PREMIUM_FEATURES))
    ax.invert_yaxis()
    ax.set(title="Premium feature adoption", xlabel="households using it (%)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
