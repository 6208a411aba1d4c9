"""The demo's closing summary prints early-warning rates the evaluation could not measure (too
few scored days, no silent churner) instead of failing on them."""

from datetime import UTC, date, datetime, timedelta

import polars as pl

from cs_assets.churn.early_warning import early_warning_rates
from cs_assets.dev.demo_summary import _playbook_lines, summarize

D0 = date(2026, 1, 1)


def rates(days: int, churn_day: int, mechanism: str | None = None) -> pl.DataFrame:
    """Both scores of households a (churns on `churn_day`) and b on `days` as-of days."""
    as_of = [D0 + timedelta(days=n) for n in range(days)]
    scores = pl.DataFrame({
        "household_id": ["a"] * days + ["b"] * days,
        "as_of": as_of * 2,
        "health_score": [10.0] * days + [90.0] * days,
        "health_score_old": [90.0] * days + [10.0] * days,
    })
    churn = pl.DataFrame({
        "household_id": ["a", "b"],
        "churned_at": [datetime.combine(D0 + timedelta(days=churn_day), datetime.min.time(), UTC),
                       None],
        "mechanism": [mechanism, None],
    })
    return early_warning_rates(scores, churn, budget=0.5)


def early_warning(summary: str) -> list[str]:
    lines = summary.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Early warning"))
    return lines[start:start + 3]


def test_too_few_days_to_measure(tmp_path):
    week = rates(7, churn_day=40)
    assert week["churners_evaluated"].to_list() == [0, 0]
    assert week["churner_rate"].is_null().all()
    assert early_warning(summarize([], tmp_path, 1.0, week))[1:] == [
        "  new health score: not enough days to measure",
        "  old health score: not enough days to measure",
    ]


def test_a_rate_nobody_is_counted_for_is_not_available(tmp_path):
    measured = rates(70, churn_day=65)  # a's 30-60-day window fits; no silent churner
    assert early_warning(summarize([], tmp_path, 1.0, measured)) == [
        "Early warning (the lowest 50% of households flagged each day; flagged 30-60 days "
        "before churning):",
        "  new health score: 100.0% of 1 churners, n/a of 0 silent churners "
        "(non-churners flagged within a month: 0.0%)",
        "  old health score: 0.0% of churners, n/a of silent churners "
        "(non-churners flagged within a month: 100.0%)",
    ]


def test_the_summary_gives_the_days_contacts_and_the_tasks_opened_per_csm():
    load = "| csm_id | opened_7d | open | overdue | capacity |\n|---|---|---|---|---|\n" \
           "| csm_01 | 3 | 2 | 0 | 20 |\n"
    deferrals = "| reason | deferrals |\n|---|---|\n| outside the send window | 7 |\n"
    latest = {"playbook_deliveries": ("2026-11-01", {
        "outcomes": "| outcome | steps |\n", "csm_task_load": load,
        "households_contacted_7d": 1234, "contacts_per_household_7d_max": 2,
        "contacts_per_household_7d_mean": 1.41, "marketing_per_household_24h_max": 2,
        "deferrals_by_reason_7d": deferrals})}
    lines = _playbook_lines(latest)
    assert lines[-4].startswith("Contacts on the platform's first day: 1,234 households got "
                                "customer-facing messages, at most 2 and 1.41 on average each, "
                                "of which at most 2 marketing")
    assert lines[-3].endswith("| outside the send window | 7 |")
    assert lines[-2].startswith("CSM tasks per person (opened in the 7 days")
    assert lines[-1].endswith("| csm_01 | 3 | 2 | 0 | 20 |")
