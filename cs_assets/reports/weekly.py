"""The weekly customer-success report: the week's figures from the daily assets, the raw tables
and the platform's state, and its HTML / Markdown rendering. Pure polars and Jinja, no Dagster.

A week runs from Monday 00:00 UTC to the next Monday 00:00 UTC. Its *as-of days* are Monday to
Sunday, the daily partitions inside it; day-level figures (tiers, alerts, themes, funnel,
lists) come from them, and "end of the week" is the last as-of day with data.

Retention is MRR-based over the calendar week `[start, end)`, from the subscription history
(MRR as of an instant = `mrr_after` of the household's last change strictly before it):

* cohort: households signed up before `start` and not churned at `start`;
* churn rate = cohort households with `churned_at` in the week / cohort households (logo churn);
* start MRR = the cohort's MRR at `start`, over households paying then (MRR > 0); a household
  that churned in the week ends at 0;
* GRR = (start MRR - contraction - churned MRR) / start MRR: what the paying cohort kept,
  expansion excluded, so at most 100%;
* NRR = (start MRR + expansion - contraction - churned MRR) / start MRR: the same cohort with
  its upgrades; households that signed up in the week are reported as new MRR, never in NRR.

Playbook effect: `cs_assets.playbooks.effect.playbook_effectiveness` is called here on the
state's enrolments and the households' churn times (a few group-bys, cheap). Only its churn
metrics are shown: the value-delivery change needs scores from outside the week, so for it the
report points at the `playbook_effectiveness` asset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial

import polars as pl

from cs_assets.contract.tables import plan_history_order
from cs_assets.playbooks.effect import playbook_effectiveness
from cs_assets.reports.render import (
    Table,
    bar_chart,
    line_chart,
    number,
    percent,
    render,
    table,
)
from cs_assets.state.schema import IN_DOUBT, SENT, SKIPPED
from cs_assets.vocabulary import HH, UTC_TS, instant

TIERS = ("critical", "at_risk", "healthy")
TOP_AT_RISK = 15
NPS_WEEKS = 8
NEW_STAGE = "(new)"
ENROLMENT_SCHEMA = {"enrolment_id": pl.Int64, "playbook": pl.String, HH: pl.String,
                    "enrolled_on": pl.Date, "holdout": pl.Boolean}
STEP_SCHEMA = {"enrolment_id": pl.Int64, "status": pl.String, "due_at": UTC_TS,
               "sent_at": UTC_TS}
# The columns read from each daily input: the frame used when no day of the week has data.
INPUT_SCHEMAS = {
    "tiers": {HH: pl.String, "as_of": pl.Date, "health_score": pl.Float64,
              "alert_count": pl.Int64, "tier": pl.String, "top_reasons": pl.String},
    "alerts": {HH: pl.String, "as_of": pl.Date, "metric": pl.String, "severity": pl.String},
    "assignments": {HH: pl.String, "as_of": pl.Date, "csm_id": pl.String},
    "themes": {"theme": pl.String, "responses": pl.Int64, "positive_mentions": pl.Int64,
               "negative_mentions": pl.Int64, "net_sentiment": pl.Float64, "as_of": pl.Date},
    "funnel": {"as_of": pl.Date},
    "transitions": {HH: pl.String, "from_stage": pl.String, "to_stage": pl.String,
                    "as_of": pl.Date},
}
EFFECT_NOTE = ("Churn effect of each playbook's automated steps (treated minus randomized "
               "holdout, intention to treat, 95% interval) from every enrolment whose window "
               "is over at the end of the week; held-out households still get the CSM tasks, "
               "so human work is in both arms. Value-delivery change: see the "
               "playbook_effectiveness asset.")


def week_window(week_start: date) -> tuple[datetime, datetime]:
    start = instant(week_start)
    return start, start + timedelta(days=7)


def plan_as_of(subscription_changes: pl.DataFrame, at: datetime) -> pl.DataFrame:
    """household_id, plan, mrr: each household's last change strictly before `at`."""
    return (
        subscription_changes.filter(pl.col("changed_at") < at)
        .sort(plan_history_order())
        .group_by(HH)
        .agg(plan=pl.col("to_plan").last(), mrr=pl.col("mrr_after").last())
    )


@dataclass(frozen=True)
class Retention:
    """The week's churn and revenue figures; rates in percent, None with nothing to divide."""

    cohort: int
    churned: int
    churn_rate: float | None  # percent
    start_mrr: float
    expansion_mrr: float
    contraction_mrr: float
    churned_mrr: float
    new_mrr: float
    grr: float | None  # percent
    nrr: float | None  # percent


def retention(households: pl.DataFrame, subscription_changes: pl.DataFrame, start: datetime,
              end: datetime) -> Retention:
    """Churn rate, GRR and NRR over `[start, end)` (definitions: the module docstring)."""
    churned_at = pl.col("churned_at")
    cohort = households.filter(
        (pl.col("created_at") < start) & (churned_at.is_null() | (churned_at >= start))
    ).select(HH, churned=(churned_at < end).fill_null(False))
    mrr = (
        cohort.join(plan_as_of(subscription_changes, start).select(HH, start_mrr="mrr"), on=HH,
                    how="left")
        .join(plan_as_of(subscription_changes, end).select(HH, end_mrr="mrr"), on=HH,
              how="left")
        .with_columns(pl.col("start_mrr", "end_mrr").fill_null(0.0))
        .with_columns(end_mrr=pl.when(pl.col("churned")).then(0.0).otherwise("end_mrr"))
        .filter(pl.col("start_mrr") > 0)
    )
    kept = mrr.filter(~pl.col("churned"))
    change = pl.col("end_mrr") - pl.col("start_mrr")
    total = float(mrr["start_mrr"].sum())
    expansion = float(kept.select(change.clip(lower_bound=0).sum()).item())
    contraction = float(kept.select((-change).clip(lower_bound=0).sum()).item())
    churned_mrr = float(mrr.filter(pl.col("churned"))["start_mrr"].sum())
    new = households.filter(pl.col("created_at").is_between(start, end, closed="left")
                            & (churned_at.is_null() | (churned_at >= end))).select(HH)
    new_mrr = float(new.join(plan_as_of(subscription_changes, end), on=HH)["mrr"].sum())
    churned = int(cohort["churned"].sum())

    def share(value: float) -> float | None:
        return 100 * value / total if total > 0 else None

    return Retention(
        cohort=cohort.height, churned=churned,
        churn_rate=100 * churned / cohort.height if cohort.height else None,
        start_mrr=total, expansion_mrr=expansion, contraction_mrr=contraction,
        churned_mrr=churned_mrr, new_mrr=new_mrr,
        grr=share(total - contraction - churned_mrr),
        nrr=share(total + expansion - contraction - churned_mrr),
    )


def tier_daily(tiers: pl.DataFrame) -> pl.DataFrame:
    """as_of and the households in each tier that day."""
    return tiers.group_by("as_of").agg(
        **{t: (pl.col("tier") == t).sum().cast(pl.Int64) for t in TIERS}).sort("as_of")


def tier_summary(daily: pl.DataFrame) -> pl.DataFrame:
    """Per tier: households on the first and last as-of day, the change, the last day's share."""
    if daily.is_empty():
        return pl.DataFrame(schema={"tier": pl.String, "week_start": pl.Int64,
                                    "week_end": pl.Int64, "change": pl.Int64,
                                    "share_end": pl.Float64})
    first, last = daily.row(0, named=True), daily.row(-1, named=True)
    total = sum(last[t] for t in TIERS)
    return pl.DataFrame({
        "tier": list(TIERS),
        "week_start": [first[t] for t in TIERS],
        "week_end": [last[t] for t in TIERS],
        "change": [last[t] - first[t] for t in TIERS],
        "share_end": [100 * last[t] / total if total else None for t in TIERS],
    })


def top_at_risk(tiers: pl.DataFrame, assignments: pl.DataFrame,
                n: int = TOP_AT_RISK) -> pl.DataFrame:
    """The last as-of day's critical then at-risk households, lowest health first, with the
    reasons and the CSM assigned that day (`unassigned` when none)."""
    if tiers.is_empty():
        return pl.DataFrame(schema={HH: pl.String, "tier": pl.String, "health_score": pl.Float64,
                                    "alert_count": pl.Int64, "top_reasons": pl.String,
                                    "csm": pl.String})
    last = tiers["as_of"].max()
    owners = assignments.filter(pl.col("as_of") == last).select(HH, "csm_id")
    return (
        tiers.filter((pl.col("as_of") == last) & (pl.col("tier") != "healthy"))
        .sort(pl.col("tier") == "at_risk", "health_score", HH)
        .head(n)
        .join(owners, on=HH, how="left", maintain_order="left")
        .select(HH, "tier", "health_score", "alert_count", "top_reasons",
                csm=pl.col("csm_id").fill_null("unassigned"))
    )


def alerts_by_type(alerts: pl.DataFrame) -> pl.DataFrame:
    """metric, severity, alerts raised over the week's as-of days, distinct households."""
    return alerts.group_by("metric", "severity").agg(
        alerts=pl.len().cast(pl.Int64), households=pl.col(HH).n_unique().cast(pl.Int64)
    ).sort("alerts", "metric", descending=[True, False])


def playbook_activity(enrolments: pl.DataFrame, steps: pl.DataFrame, start: datetime,
                      end: datetime) -> pl.DataFrame:
    """Per playbook: enrolments in the week (and how many were held out), steps sent in the
    week, steps due in the week that were skipped or are in doubt."""
    in_week = pl.col("enrolled_on").is_between(start.date(), end.date(), closed="left")
    enrolled = enrolments.filter(in_week).group_by("playbook").agg(
        enrolled=pl.len().cast(pl.Int64), held_out=pl.col("holdout").sum().cast(pl.Int64))
    status, due = pl.col("status"), pl.col("due_at").is_between(start, end, closed="left")
    stepped = steps.join(enrolments.select("enrolment_id", "playbook"), on="enrolment_id").filter(
        ((status == SENT) & pl.col("sent_at").is_between(start, end, closed="left"))
        | (status.is_in([SKIPPED, IN_DOUBT]) & due)
    ).group_by("playbook").agg(
        **{f"steps_{s}": (status == s).sum().cast(pl.Int64) for s in (SENT, SKIPPED, IN_DOUBT)})
    return enrolled.join(stepped, on="playbook", how="full", coalesce=True).with_columns(
        pl.exclude("playbook").fill_null(0)).sort("playbook")


def playbook_effects(enrolments: pl.DataFrame, households: pl.DataFrame,
                     as_of: date) -> pl.DataFrame:
    """The churn rows of `playbook_effectiveness` as of `as_of`, from enrolments before it."""
    no_scores = pl.DataFrame(schema={HH: pl.String, "as_of": pl.Date,
                                     "value_delivery_score": pl.Float64})
    effects = playbook_effectiveness(
        enrolments.filter(pl.col("enrolled_on") < as_of), households.select(HH, "churned_at"),
        no_scores, as_of)
    return effects.filter(pl.col("metric").str.starts_with("churn_")).drop("p_value")


@dataclass(frozen=True)
class Nps:
    """One window's NPS responses by kind; `nps` None without a response."""

    responses: int
    promoters: int
    passives: int
    detractors: int
    nps: float | None


def nps_of(nps_responses: pl.DataFrame, start: datetime, end: datetime) -> Nps:
    """NPS = % promoters (9-10) - % detractors (0-6) of the responses in `[start, end)`."""
    scores = nps_responses.filter(
        pl.col("responded_at").is_between(start, end, closed="left"))["score"]
    n = scores.len()
    promoters, detractors = int((scores >= 9).sum()), int((scores <= 6).sum())
    return Nps(n, promoters, n - promoters - detractors, detractors,
               100 * (promoters - detractors) / n if n else None)


def nps_trend(nps_responses: pl.DataFrame, week_start: date,
              weeks: int = NPS_WEEKS) -> pl.DataFrame:
    """week, responses, nps for the `weeks` weeks ending with this one."""
    rows = []
    for back in range(weeks - 1, -1, -1):
        monday = week_start - timedelta(days=7 * back)
        result = nps_of(nps_responses, *week_window(monday))
        rows.append((monday, result.responses, result.nps))
    return pl.DataFrame(rows, schema={"week": pl.Date, "responses": pl.Int64,
                                      "nps": pl.Float64}, orient="row")


def theme_trend(themes: pl.DataFrame) -> pl.DataFrame:
    """The last as-of day's themes (30-day windows), with the change in comments mentioning
    each since the first as-of day of the week."""
    if themes.is_empty():
        return pl.DataFrame(schema={"theme": pl.String, "responses": pl.Int64,
                                    "positive_mentions": pl.Int64,
                                    "negative_mentions": pl.Int64,
                                    "net_sentiment": pl.Float64, "change": pl.Int64})
    first = themes.filter(pl.col("as_of") == themes["as_of"].min()).select(
        "theme", _first="responses")
    return (
        themes.filter(pl.col("as_of") == themes["as_of"].max())
        .join(first, on="theme", how="left", maintain_order="left")
        .with_columns(change=pl.col("responses") - pl.col("_first").fill_null(0))
        .select("theme", "responses", "positive_mentions", "negative_mentions",
                "net_sentiment", "change")
    )


# (stage, chart label, count column, conversion column)
FUNNEL_STAGES = (
    ("Free at some point in the 90 days", "Free", "free_households", None),
    ("Awareness: upsell campaign sent", "Awareness", "awareness_count", None),
    ("Consideration: Premium page viewed", "Consideration", "consideration_count",
     "awareness_to_consideration"),
    ("Trial started", "Trial", "trial_count", "consideration_to_trial"),
    ("Purchase", "Purchase", "purchase_count", "trial_to_purchase"),
    ("Purchases by any path", "Any path", "purchases_any_path", None),
)


def funnel_stages(funnel: pl.DataFrame) -> pl.DataFrame:
    """The last as-of day's upsell funnel (90-day window) as stage, households, conversion
    from the previous stage in percent."""
    if funnel.is_empty():
        return pl.DataFrame(schema={"stage": pl.String, "households": pl.Int64,
                                    "conversion": pl.Float64})
    row = funnel.filter(pl.col("as_of") == funnel["as_of"].max()).row(0, named=True)
    return pl.DataFrame(
        [(label, row[count], row[rate] if rate else None)
         for label, _, count, rate in FUNNEL_STAGES],
        schema={"stage": pl.String, "households": pl.Int64, "conversion": pl.Float64},
        orient="row")


def journey_flow(transitions: pl.DataFrame) -> pl.DataFrame:
    """from_stage, to_stage, households: the week's journey-stage transitions, largest first."""
    return transitions.group_by(
        from_stage=pl.col("from_stage").fill_null(NEW_STAGE), to_stage="to_stage"
    ).agg(households=pl.len().cast(pl.Int64)).sort(
        "households", "from_stage", "to_stage", descending=[True, False, False])


@dataclass(frozen=True)
class WeeklyReport:
    """Every figure of one week's report, ready to render."""

    week_start: date
    days: list[date]  # the as-of days with health tiers
    retention: Retention
    tier_daily: pl.DataFrame
    tiers: pl.DataFrame
    at_risk: pl.DataFrame
    alerts: pl.DataFrame
    alerts_daily: pl.DataFrame
    activity: pl.DataFrame
    effects: pl.DataFrame
    nps: Nps
    nps_trend: pl.DataFrame
    themes: pl.DataFrame
    funnel: pl.DataFrame
    journey: pl.DataFrame
    nps_available: bool = True  # False: the product has no NPS responses table


def weekly_report(
    week_start: date, *, tiers: pl.DataFrame, alerts: pl.DataFrame, assignments: pl.DataFrame,
    themes: pl.DataFrame, funnel: pl.DataFrame, transitions: pl.DataFrame,
    households: pl.DataFrame, subscription_changes: pl.DataFrame, nps_responses: pl.DataFrame,
    enrolments: pl.DataFrame, steps: pl.DataFrame, nps_available: bool = True,
) -> WeeklyReport:
    """Every figure of the week starting `week_start` (a Monday). The daily frames hold the
    week's as-of days (any may be missing); enrolments: ENROLMENT_SCHEMA, steps: STEP_SCHEMA.
    Without an NPS table (`nps_available` false) the NPS section says so instead of zeros."""
    start, end = week_window(week_start)
    daily = tier_daily(tiers)
    return WeeklyReport(
        week_start=week_start,
        days=daily["as_of"].to_list(),
        retention=retention(households, subscription_changes, start, end),
        tier_daily=daily,
        tiers=tier_summary(daily),
        at_risk=top_at_risk(tiers, assignments),
        alerts=alerts_by_type(alerts),
        alerts_daily=alerts.group_by("as_of").agg(alerts=pl.len().cast(pl.Int64)).sort("as_of"),
        activity=playbook_activity(enrolments, steps, start, end),
        effects=playbook_effects(enrolments, households, end.date()),
        nps=nps_of(nps_responses, start, end),
        nps_trend=nps_trend(nps_responses, week_start),
        themes=theme_trend(themes),
        funnel=funnel_stages(funnel),
        journey=journey_flow(transitions),
        nps_available=nps_available,
    )


# ---------------------------------------------------------------- rendering


def _day(value: date) -> str:
    return value.strftime("%a %d %b")


def _charts(report: WeeklyReport) -> dict[str, str | None]:
    """Data-URI charts; None for a section without data."""
    daily, trend = report.tier_daily, report.nps_trend
    return {
        "tiers": line_chart([_day(d) for d in daily["as_of"]],
                            {t: daily[t].to_list() for t in TIERS},
                            title="Households per health tier", ylabel="households")
        if daily.height else None,
        "alerts": bar_chart([_day(d) for d in report.alerts_daily["as_of"]],
                            report.alerts_daily["alerts"].to_list(),
                            title="Trend alerts per as-of day", ylabel="alerts")
        if report.alerts_daily.height else None,
        "nps": line_chart([d.strftime("%d %b") for d in trend["week"]],
                          {"NPS": trend["nps"].to_list()}, title="NPS per week",
                          ylabel="NPS")
        if trend["responses"].sum() else None,
        "funnel": bar_chart([short for _, short, _, _ in FUNNEL_STAGES],
                            report.funnel["households"].to_list(),
                            title="Upsell funnel (90 days)", ylabel="households")
        if report.funnel.height else None,
    }


def _tables(report: WeeklyReport) -> dict[str, Table]:
    r = report.retention
    mrr = pl.DataFrame({
        "measure": ["Paying cohort MRR at week start", "Expansion", "Contraction",
                    "Churned MRR", "New MRR (signed up this week, not in NRR)"],
        "mrr": [r.start_mrr, r.expansion_mrr, -r.contraction_mrr, -r.churned_mrr, r.new_mrr],
    })
    return {
        "tiers": table(report.tiers, {"share_end": percent},
                       {"week_start": "first as-of day", "week_end": "last as-of day",
                        "share_end": "share (last day)"}),
        "mrr": table(mrr, {"mrr": partial(number, decimals=2)}, {"mrr": "MRR ($)"}),
        "at_risk": table(report.at_risk, {"health_score": number},
                         {"top_reasons": "reasons", "csm": "assigned CSM"}),
        "alerts": table(report.alerts),
        "activity": table(report.activity, labels={"held_out": "held out"}),
        "effects": table(report.effects, {c: lambda v: percent(None if v is None else 100 * v)
                                          for c in ("treated_value", "holdout_value",
                                                    "difference", "ci_low", "ci_high")}),
        "nps_trend": table(report.nps_trend, {"nps": number}),
        "themes": table(report.themes, {"change": lambda v: f"{v:+d}"}),
        "funnel": table(report.funnel, {"conversion": lambda v: percent(v) if v is not None
                                        else ""}),
        "journey": table(report.journey, labels={"from_stage": "from", "to_stage": "to"}),
    }


def _context(report: WeeklyReport, generated_at: datetime) -> dict:
    r, days = report.retention, report.days
    return dict(
        week_start=report.week_start,
        week_end=report.week_start + timedelta(days=6),
        as_of=f"{days[0]} to {days[-1]}" if days else "none",
        generated_at=generated_at.strftime("%Y-%m-%d %H:%M UTC"),
        figures={
            "churn_rate": percent(r.churn_rate, 2), "grr": percent(r.grr),
            "nrr": percent(r.nrr),
            "nps": number(report.nps.nps) if report.nps_available else "not available",
        },
        nps_available=report.nps_available,
        retention=r,
        nps=report.nps,
        tables=_tables(report),
        charts=_charts(report),
        effect_note=EFFECT_NOTE,
    )


def weekly_html(report: WeeklyReport, generated_at: datetime) -> str:
    """The report as one self-contained, printable HTML page."""
    return render("weekly.html.j2", **_context(report, generated_at))


def weekly_markdown(report: WeeklyReport, generated_at: datetime, path: str) -> str:
    """The summary for the materialization metadata: figures and tables, no charts, ids only."""
    return render("weekly.md.j2", path=path, **_context(report, generated_at))
