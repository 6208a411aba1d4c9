"""The short report `make demo` ends with: what was built, what failed, where to look next."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from dagster import ExecuteInProcessResult

from cs_assets.contract.tables import TABLES


def _rate(value: float | None) -> str:
    """A share, or n/a when nobody was counted (e.g. no silent churner was evaluable)."""
    return "n/a" if value is None else f"{value:.1%}"


def _score_line(label: str, row: dict, counts: bool) -> str:
    """No evaluable churner means no churner's 30-60-day window fit the scored days."""
    if row["churner_rate"] is None:
        return f"  {label}: not enough days to measure"
    churners = f" {row['churners_evaluated']}" if counts else ""
    silent = f" {row['silent_evaluated']}" if counts else ""
    return (f"  {label}: {_rate(row['churner_rate'])} of{churners} churners, "
            f"{_rate(row['silent_rate'])} of{silent} silent churners "
            f"(non-churners flagged within a month: {_rate(row['false_alarm_rate'])})")


def _early_warning_lines(rates: pl.DataFrame) -> list[str]:
    by_score = {row["score"]: row for row in rates.iter_rows(named=True)}
    new, old = by_score["health_score"], by_score["health_score_old"]
    return [
        "",
        f"Early warning (the lowest {new['budget']:.0%} of households flagged each day; "
        "flagged 30-60 days before churning):",
        _score_line("new health score", new, counts=True),
        _score_line("old health score", old, counts=False),
    ]


def _churn_lines(latest: dict[str, tuple[str, dict]]) -> list[str]:
    lines = []
    if "churn_model" in latest:
        model = latest["churn_model"][1]
        lines += ["", f"Churn model (out-of-time holdout from {model['holdout_first_day']}; "
                  f"selected {model['selected']}, registered as version "
                  f"{model['challenger_version']}; champion: version {model['champion_version']}"
                  f" — {model['promotion_reason']}):", model["candidates"].rstrip()]
    if "churn_predictions" in latest:
        day, pred = latest["churn_predictions"]
        lines += ["", f"Churn risk as of {day} ({pred['model']}): "
                  + ", ".join(f"{pred[s]:,} {s}"
                              for s in ("critical", "high", "medium", "low"))]
    if "survival_model" in latest:
        surv = latest["survival_model"][1]
        lines += ["", f"Survival (Cox, concordance {surv['concordance']:.3f}); revenue at risk "
                  f"over 12 months {surv['revenue_at_risk_total']:,.0f}; hazard ratios:",
                  surv["hazard_ratios"].rstrip()]
    return lines


LISTS = ("micro_segments", "journey_stages", "journey_transitions", "survey_eligibility",
         "nps_themes", "feedback_escalations", "proactive_checkin_candidates",
         "premium_adoption_risk", "downgrade_save_offers", "downgrade_saves",
         "upsell_candidates", "upsell_funnel", "cross_sell_opportunities", "csm_assignments",
         "issued_referral_codes", "referral_conversions", "invalid_referral_codes",
         "referral_leaderboard", "review_request_candidates", "rewards_ledger")


def _segment_lines(latest: dict[str, tuple[str, dict]]) -> list[str]:
    sizes = [(name, latest[name][1].get("dagster/row_count"))
             for name in LISTS if name in latest]
    if not sizes:
        return []
    day = latest[sizes[0][0]][0]
    lines = ["", f"Lists as of {day}: " + ", ".join(f"{name} {rows:,}" for name, rows in sizes)]
    if "micro_segments" in latest:
        lines.append(latest["micro_segments"][1]["largest_segments"].rstrip())
    if "journey_stages" in latest:
        lines.append(latest["journey_stages"][1]["households_per_stage"].rstrip())
    return lines


def _playbook_lines(latest: dict[str, tuple[str, dict]]) -> list[str]:
    lines = []
    if "playbook_enrolments" in latest:
        day, enrolled = latest["playbook_enrolments"]
        lines += ["", f"Playbooks on {day}: {enrolled['dagster/row_count']:,} enrolments "
                  f"(raw opt-out flags recorded: {enrolled['opted_out_raw_flag']:,})",
                  enrolled["by_playbook"].rstrip()]
    if "playbook_deliveries" in latest:
        last = latest["playbook_deliveries"][1]
        lines += ["Dispatcher's last pass (outbox only; set CS_SMTP_HOST to send):",
                  last["outcomes"].rstrip(),
                  f"Contacts on the platform's first day: {last['households_contacted_7d']:,} "
                  f"households got customer-facing messages, at most "
                  f"{last['contacts_per_household_7d_max']} and "
                  f"{last['contacts_per_household_7d_mean']} on average each, of which at most "
                  f"{last['marketing_per_household_24h_max']} marketing (the rest receipts; "
                  "contact_policy in playbooks.yaml); deferred by the policy:",
                  last["deferrals_by_reason_7d"].rstrip(),
                  "CSM tasks per person (opened in the 7 days up to the pass, open, overdue, "
                  "open-task capacity; cs-assets tasks list):",
                  last["csm_task_load"].rstrip()]
    return lines


def _report_lines(latest: dict[str, tuple[str, dict]]) -> list[str]:
    lines = []
    if "weekly_cs_report" in latest:
        lines.append(f"  weekly report    {latest['weekly_cs_report'][1]['path']}")
    if "ebr_decks" in latest:
        ebr = latest["ebr_decks"][1]
        lines.append(f"  EBR decks        {ebr['folder']} ({ebr['decks']} households on a plan "
                     "with executive reviews)")
    return lines


def summarize(
    results: list[ExecuteInProcessResult], home: Path, seconds: float,
    rates: pl.DataFrame | None = None,
) -> str:
    counts: dict[str, int] = {}
    latest: dict[str, tuple[str, dict]] = {}  # asset -> (partition, metadata) of its last day
    for result in results:
        for event in result.get_asset_materialization_events():
            mat = event.event_specific_data.materialization
            key = mat.asset_key.to_user_string()
            row_count = mat.metadata.get("dagster/row_count")
            if row_count is not None and mat.partition is None:
                counts[key] = row_count.value
            if (mat.partition or "") >= latest.get(key, ("",))[0]:
                latest[key] = (mat.partition or "", {k: v.value for k, v in mat.metadata.items()})
    failed_checks = [
        f"{e.asset_key.to_user_string()}:{e.check_name} ({e.severity.value})"
        for result in results for e in result.get_asset_check_evaluations()
        if not e.passed
    ]
    success = all(r.success for r in results)
    lines = ["", "cs_assets demo " + ("finished" if success else "FAILED")
             + f" in {seconds:.0f} s", "", f"{'raw table':<26}{'valid':>12}{'quarantined':>13}"]
    for name in TABLES:
        lines.append(
            f"{name:<26}{counts.get(name, 0):>12,}{counts.get(f'{name}_quarantine', 0):>13,}"
        )
    if "health_tiers" in latest:
        day, tiers = latest["health_tiers"]
        scores = latest["health_scores"][1]
        lines += [
            "",
            f"Daily health check as of {day}: {tiers['critical']:,} critical, "
            f"{tiers['at_risk']:,} at risk, {tiers['healthy']:,} healthy; "
            f"mean health {scores['mean_health_score']:.1f} "
            f"(old score {scores['mean_health_score_old']:.1f})",
        ]
    if rates is not None:
        lines += _early_warning_lines(rates)
    lines += _churn_lines(latest)
    lines += _segment_lines(latest)
    lines += _playbook_lines(latest)
    lines += ["", "Checks not passing: " + (", ".join(failed_checks) or "none")]
    lines += [
        "",
        "Where to look next:",
        "  make ui          Dagster UI at http://localhost:3000 (assets, checks, run history)",
        "  make mlflow-ui   MLflow UI at http://localhost:5000"
        + latest.get("churn_model", ("", {}))[1].get("mlflow_runs_view", ""),
        f"  outputs          {home / 'storage'} (Parquet, one file per asset)",
        f"  raw demo data    {home / 'raw'} (ground truth in {home / 'raw' / '_truth'})",
        f"  state database   {home / 'state.db'} (enrolments, steps, outbox, csm_tasks, "
        "health_snapshot)",
        *_report_lines(latest),
    ]
    return "\n".join(lines)
