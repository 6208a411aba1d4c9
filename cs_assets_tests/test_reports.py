"""The weekly CS report and the EBR decks on small hand-built populations whose figures are
worked out by hand below (not by the code under test), read back from the rendered HTML; and
both assets materialized through Dagster on that data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest
from dagster import AssetSpec, DagsterInstance, RunRequest, build_schedule_context, materialize

from cs_assets.contract.events import load_event_mapping
from cs_assets.defs.reports.assets import ebr_schedule, report_assets
from cs_assets.defs.shared.partitions import daily_partitions
from cs_assets.defs.shared.resources import (
    ListsResource,
    PolarsParquetIOManager,
    RawSourceResource,
    StateResource,
)
from cs_assets.ingestion.rules import event_kind_expr
from cs_assets.reports.ebr import deck_html, deck_markdown, ebr_decks
from cs_assets.reports.weekly import weekly_html, weekly_markdown, weekly_report
from cs_assets.state import schema as state_tables
from cs_assets.state.store import state_engine
from cs_assets_tests.factories import frame

WEEK = date(2026, 10, 5)  # a Monday; as-of days 10-05 .. 10-11
WEEK_DAYS = [WEEK + timedelta(days=i) for i in range(7)]
QUARTER = date(2026, 7, 1)  # 2026-Q3; the previous quarter starts 2026-04-01
GENERATED = datetime(2026, 10, 12, 7, tzinfo=UTC)
PREMIUM, ENTERPRISE = 100.0, 500.0


def at(day: str, hour: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


# ------------------------------------------------------------------ reading the HTML back


class Page(HTMLParser):
    """The text of every element with an id, the rows of every table with an id (header row
    first), the items of every list with an id and the image sources."""

    VOID = frozenset({"img", "meta", "br", "hr", "link", "input"})

    def __init__(self, html: str):
        super().__init__()
        self.text: dict[str, str] = {}
        self.tables: dict[str, list[list[str]]] = {}
        self.lists: dict[str, list[str]] = {}
        self._list: str | None = None
        self.images: list[str] = []
        self._ids: list[str | None] = []
        self._table: str | None = None
        self._row: list[str] | None = None
        self._in_cell = False
        self.feed(html)
        self.text = {k: " ".join(v.split()) for k, v in self.text.items()}
        self.lists = {k: [" ".join(i.split()) for i in v] for k, v in self.lists.items()}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if tag in self.VOID:
            return
        ident = attrs.get("id")
        self._ids.append(ident)
        if ident:
            self.text[ident] = ""
        if tag == "table":
            self._table = ident
            self.tables[ident] = []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._row.append("")
            self._in_cell = True
        elif tag in ("ul", "ol") and ident:
            self._list = ident
            self.lists[ident] = []
        elif tag == "li" and self._list:
            self.lists[self._list].append("")

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        self._ids.pop()
        if tag in ("td", "th"):
            self._in_cell = False
            self._row[-1] = " ".join(self._row[-1].split())
        elif tag == "tr" and self._table:
            self.tables[self._table].append(self._row)
        elif tag == "table":
            self._table = None
        elif tag in ("ul", "ol"):
            self._list = None

    def handle_data(self, data):
        for ident in self._ids:
            if ident:
                self.text[ident] += data
        if self._in_cell:
            self._row[-1] += data
        if self._list and self.lists[self._list]:
            self.lists[self._list][-1] += data

    def rows(self, table_id: str) -> list[dict[str, str]]:
        header, *rows = self.tables[table_id]
        return [dict(zip(header, row, strict=True)) for row in rows]


# ------------------------------------------------------------------ the weekly population


def _change(cid, hh, when, kind, before, after, mrr):
    return dict(change_id=cid, household_id=hh, changed_at=when, change_type=kind,
                from_plan=before, to_plan=after, mrr_after=mrr)


def weekly_raw() -> dict[str, pl.DataFrame]:
    """Households around the week [2026-10-05, 2026-10-12):

    cohort (signed up before Monday, not churned then): h1 h2 h3 h4 h5 h6 h9 h10 = 8;
    churned in the week: h4 (10-09), h6 (10-10) -> churn rate 2/8 = 25.00%. h9 churns exactly
    at the week's end (not in it), h8 before it (not in the cohort), h7 signs up in it.
    MRR at Monday 00:00: h1 100, h2 100, h3 500, h4 100, h10 100 (its upgrade is exactly at
    Monday 00:00, not before it) = 900. At the end: h1 100, h2 500 (+400), h3 100 (-400),
    h4 0 (churned 100), h10 500 (+400). Expansion 800, contraction 400, churned 100.
    GRR = (900 - 400 - 100) / 900 = 44.44%; NRR = (900 + 800 - 400 - 100) / 900 = 133.33%.
    New MRR: h7 100.
    """
    old = at("2026-01-01")
    hh = [
        dict(household_id="h1", created_at=old), dict(household_id="h2", created_at=old),
        dict(household_id="h3", created_at=old),
        dict(household_id="h4", created_at=old, churned_at=at("2026-10-09", 12)),
        dict(household_id="h5", created_at=at("2026-02-01")),
        dict(household_id="h6", created_at=old, churned_at=at("2026-10-10")),
        dict(household_id="h7", created_at=at("2026-10-06")),
        dict(household_id="h8", created_at=old, churned_at=at("2026-09-01")),
        dict(household_id="h9", created_at=old, churned_at=at("2026-10-12")),
        dict(household_id="h10", created_at=old),
    ]
    households = frame("households", [dict(region="US", email_opt_out=False,
                                           owner_name=f"Owner {r['household_id']}", **r)
                                      for r in hh])
    changes = frame("subscription_changes", [
        _change("c1", "h1", old, "new", None, "Premium", PREMIUM),
        _change("c2", "h2", old, "new", None, "Premium", PREMIUM),
        _change("c3", "h2", at("2026-10-07"), "upgrade", "Premium", "Enterprise", ENTERPRISE),
        _change("c4", "h3", old, "new", None, "Enterprise", ENTERPRISE),
        _change("c5", "h3", at("2026-10-08"), "downgrade", "Enterprise", "Premium", PREMIUM),
        _change("c6", "h4", old, "new", None, "Premium", PREMIUM),
        _change("c7", "h4", at("2026-10-09", 12), "cancel", "Premium", None, 0.0),
        _change("c8", "h5", at("2026-02-01"), "new", None, "Free", 0.0),
        _change("c9", "h6", old, "new", None, "Free", 0.0),
        _change("c10", "h7", at("2026-10-06"), "new", None, "Premium", PREMIUM),
        _change("c11", "h8", old, "new", None, "Premium", PREMIUM),
        _change("c12", "h8", at("2026-09-01"), "cancel", "Premium", None, 0.0),
        _change("c13", "h9", old, "new", None, "Free", 0.0),
        _change("c14", "h10", old, "new", None, "Premium", PREMIUM),
        _change("c15", "h10", at("2026-10-05"), "upgrade", "Premium", "Enterprise", ENTERPRISE),
    ])
    # this week 10, 9, 8, 3: 2 promoters, 1 passive, 1 detractor -> NPS 25.0; the one at
    # the week's end is next week's; 09-30 is the week before (NPS -100)
    nps = frame("nps_responses", [
        dict(response_id=f"n{i}", household_id="h1", responded_at=when, score=score)
        for i, (when, score) in enumerate([
            (at("2026-10-05"), 10), (at("2026-10-06", 9), 9), (at("2026-10-08"), 8),
            (at("2026-10-11", 23), 3), (at("2026-10-12"), 0), (at("2026-09-30"), 0)])
    ])
    return {"households": households, "subscription_changes": changes, "nps_responses": nps}


def weekly_daily() -> dict[str, pl.DataFrame]:
    """The week's daily asset rows.

    Tiers: households a b c d. Monday to Saturday: a, b, c healthy, d at risk. Sunday: a
    critical (30), b at risk (50), c healthy, d at risk (45). So critical 0 -> 1 (+1),
    at risk 1 -> 2 (+1), healthy 3 -> 1 (-2); Sunday's shares 25%, 50%, 25%.
    Top at risk: a (critical), then d (45), then b (50); CSMs on Sunday: a sarah, d mike,
    b none.
    """
    rows = []
    for day in WEEK_DAYS:
        last = day == WEEK_DAYS[-1]
        for hh, early, late in [("a", ("healthy", 80.0, 0), ("critical", 30.0, 1)),
                                ("b", ("healthy", 75.0, 0), ("at_risk", 50.0, 0)),
                                ("c", ("healthy", 70.0, 0), ("healthy", 70.0, 0)),
                                ("d", ("at_risk", 55.0, 0), ("at_risk", 45.0, 2))]:
            tier, score, alerts = late if last else early
            rows.append(dict(household_id=hh, as_of=day, health_score=score,
                             alert_count=alerts, tier=tier, top_reasons=f"reason of {hh}"))
    tiers = pl.DataFrame(rows)
    alerts = pl.DataFrame([
        dict(household_id="a", as_of=WEEK_DAYS[5], metric="task_completion", severity="critical"),
        dict(household_id="a", as_of=WEEK_DAYS[6], metric="task_completion", severity="critical"),
        dict(household_id="d", as_of=WEEK_DAYS[6], metric="active_users", severity="critical"),
    ])
    assignments = pl.DataFrame([
        dict(household_id="a", as_of=WEEK_DAYS[6], csm_id="csm_sarah"),
        dict(household_id="d", as_of=WEEK_DAYS[6], csm_id="csm_mike"),
        dict(household_id="b", as_of=WEEK_DAYS[5], csm_id="csm_old"),  # not Sunday's
    ])
    themes = pl.DataFrame([
        dict(theme="ease_of_use", responses=2, positive_mentions=2, negative_mentions=0,
             net_sentiment=1.0, as_of=WEEK_DAYS[0]),
        dict(theme="price", responses=1, positive_mentions=0, negative_mentions=1,
             net_sentiment=-1.0, as_of=WEEK_DAYS[0]),
        dict(theme="ease_of_use", responses=5, positive_mentions=4, negative_mentions=1,
             net_sentiment=0.6, as_of=WEEK_DAYS[6]),
        dict(theme="price", responses=0, positive_mentions=0, negative_mentions=0,
             net_sentiment=0.0, as_of=WEEK_DAYS[6]),
    ])
    funnel = pl.DataFrame([
        dict(as_of=WEEK_DAYS[0], free_households=90, awareness_count=1, consideration_count=1,
             trial_count=1, purchase_count=1, purchases_any_path=1,
             awareness_to_consideration=100.0, consideration_to_trial=100.0,
             trial_to_purchase=100.0, overall_conversion=100.0),
        dict(as_of=WEEK_DAYS[6], free_households=100, awareness_count=40,
             consideration_count=10, trial_count=4, purchase_count=1, purchases_any_path=3,
             awareness_to_consideration=25.0, consideration_to_trial=40.0,
             trial_to_purchase=25.0, overall_conversion=2.5),
    ])
    transitions = pl.DataFrame([
        dict(household_id="h7", from_stage=None, to_stage="onboarding", as_of=WEEK_DAYS[2]),
        dict(household_id="h1", from_stage="adoption", to_stage="growth", as_of=WEEK_DAYS[3]),
        dict(household_id="h2", from_stage="adoption", to_stage="growth", as_of=WEEK_DAYS[4]),
    ], schema_overrides={"from_stage": pl.String})
    return dict(tiers=tiers, alerts=alerts, assignments=assignments, themes=themes,
                funnel=funnel, transitions=transitions)


def playbook_state() -> dict[str, pl.DataFrame]:
    """at_risk_outreach: a treated and d held out this week; a's first step sent in the week,
    its second skipped. onboarding: an old enrolment whose step due this week is in doubt
    and whose step sent in September is not this week's. win_back (2026-07-01): h8 treated,
    churned 09-01 (day 62: not within 60 days, within 90), h1 held out, not churned:
    churn_90d treated 100%, holdout 0%."""
    enrolments = pl.DataFrame([
        (1, "at_risk_outreach", "a", date(2026, 10, 6), False),
        (2, "at_risk_outreach", "d", date(2026, 10, 7), True),
        (3, "onboarding", "c", date(2026, 9, 1), False),
        (4, "win_back", "h8", date(2026, 7, 1), False),
        (5, "win_back", "h1", date(2026, 7, 1), True),
    ], schema=["enrolment_id", "playbook", "household_id", "enrolled_on", "holdout"],
        orient="row")
    steps = pl.DataFrame([
        (1, "sent", at("2026-10-06", 12), at("2026-10-06", 12)),
        (1, "skipped", at("2026-10-08"), None),
        (3, "in_doubt", at("2026-10-09"), None),
        (3, "sent", at("2026-09-02"), at("2026-09-02")),
    ], schema={"enrolment_id": pl.Int64, "status": pl.String,
               "due_at": pl.Datetime("us", "UTC"), "sent_at": pl.Datetime("us", "UTC")},
        orient="row")
    return {"enrolments": enrolments, "steps": steps}


@pytest.fixture(scope="module")
def weekly_page() -> Page:
    report = weekly_report(WEEK, **weekly_daily(), **weekly_raw(), **playbook_state())
    return Page(weekly_html(report, GENERATED))


def test_weekly_churn_and_revenue_retention(weekly_page):
    assert weekly_page.text["churn-rate"] == "25.00%"
    assert weekly_page.text["grr"] == "44.4%"
    assert weekly_page.text["nrr"] == "133.3%"
    mrr = {r["measure"]: r["MRR ($)"] for r in weekly_page.rows("mrr-movement")}
    assert mrr == {"Paying cohort MRR at week start": "900.00", "Expansion": "800.00",
                   "Contraction": "-400.00", "Churned MRR": "-100.00",
                   "New MRR (signed up this week, not in NRR)": "100.00"}


def test_weekly_tier_counts_and_top_at_risk(weekly_page):
    tiers = {r["tier"]: r for r in weekly_page.rows("tier-counts")}
    assert {t: (r["first as-of day"], r["last as-of day"], r["change"], r["share (last day)"])
            for t, r in tiers.items()} == {
        "critical": ("0", "1", "1", "25.0%"), "at_risk": ("1", "2", "1", "50.0%"),
        "healthy": ("3", "1", "-2", "25.0%")}
    at_risk = weekly_page.rows("at-risk")
    assert [(r["household id"], r["tier"], r["health score"], r["assigned CSM"])
            for r in at_risk] == [("a", "critical", "30.0", "csm_sarah"),
                                  ("d", "at_risk", "45.0", "csm_mike"),
                                  ("b", "at_risk", "50.0", "unassigned")]
    assert at_risk[0]["reasons"] == "reason of a"


def test_weekly_alerts_playbooks_voc_funnel_and_journey(weekly_page):
    assert [(r["metric"], r["alerts"], r["households"]) for r in weekly_page.rows("alerts")] == [
        ("task_completion", "2", "1"), ("active_users", "1", "1")]
    activity = {r["playbook"]: r for r in weekly_page.rows("playbook-activity")}
    assert set(activity) == {"at_risk_outreach", "onboarding"}
    assert [activity["at_risk_outreach"][c] for c in
            ("enrolled", "held out", "steps sent", "steps skipped", "steps in doubt")] == [
        "2", "1", "1", "1", "0"]
    assert activity["onboarding"]["steps in doubt"] == "1"
    assert activity["onboarding"]["steps sent"] == "0"
    effect = {(r["playbook"], r["metric"]): r for r in weekly_page.rows("playbook-effect")}
    assert (effect["win_back", "churn_90d"]["treated value"],
            effect["win_back", "churn_90d"]["holdout value"]) == ("100.0%", "0.0%")
    assert effect["win_back", "churn_60d"]["treated value"] == "0.0%"
    assert weekly_page.text["nps"] == "25.0"
    trend = weekly_page.rows("nps-trend")
    assert len(trend) == 8
    assert (trend[-1]["week"], trend[-1]["responses"], trend[-1]["nps"]) == ("2026-10-05", "4",
                                                                            "25.0")
    assert (trend[-2]["responses"], trend[-2]["nps"]) == ("1", "-100.0")
    themes = {r["theme"]: (r["responses"], r["change"]) for r in weekly_page.rows("themes")}
    assert themes == {"ease_of_use": ("5", "+3"), "price": ("0", "-1")}
    funnel = {r["stage"]: (r["households"], r["conversion"]) for r in weekly_page.rows("funnel")}
    assert funnel["Awareness: upsell campaign sent"] == ("40", "")
    assert funnel["Consideration: Premium page viewed"] == ("10", "25.0%")
    assert funnel["Purchases by any path"] == ("3", "")
    assert [(r["from"], r["to"], r["households"]) for r in weekly_page.rows("journey-flow")] == [
        ("adoption", "growth", "2"), ("(new)", "onboarding", "1")]
    assert len(weekly_page.images) == 4 and all(
        src.startswith("data:image/png;base64,") for src in weekly_page.images)


def test_weekly_sections_without_data_say_so():
    empty = {name: frame.clear() for name, frame in weekly_daily().items()}
    state = {name: frame.clear() for name, frame in playbook_state().items()}
    raw = weekly_raw()
    report = weekly_report(WEEK, **empty, **state, households=raw["households"].clear(),
                           subscription_changes=raw["subscription_changes"].clear(),
                           nps_responses=raw["nps_responses"].clear())
    page = Page(weekly_html(report, GENERATED))
    for section in ("tier-counts", "at-risk", "alerts", "playbook-activity", "themes",
                    "funnel", "journey-flow"):
        assert page.text[section] == "no data this week", section
    assert page.text["churn-rate"] == page.text["grr"] == page.text["nps"] == "n/a"
    assert page.images == []
    assert "no data this week" in weekly_markdown(report, GENERATED, "/x.html")


def test_weekly_says_nps_is_not_available_without_an_nps_table():
    raw = weekly_raw() | {"nps_responses": weekly_raw()["nps_responses"].clear()}
    report = weekly_report(WEEK, **weekly_daily(), **raw, **playbook_state(),
                           nps_available=False)
    html = weekly_html(report, GENERATED)
    page = Page(html)
    assert page.text["nps"] == "not available"
    assert "Not available: this product has no NPS responses table." in html
    assert "nps-trend" not in page.tables and "themes" not in page.tables
    assert len(page.images) == 3  # no NPS chart
    assert "not available" in weekly_markdown(report, GENERATED, "/x.html")


# ------------------------------------------------------------------ the EBR population

EVENT_MAPPING = load_event_mapping()


def _events(rows: list[tuple]) -> pl.DataFrame:
    return frame("activity_events", [
        dict(event_id=f"ev{i}", household_id=hh, user_id=user, occurred_at=when,
             event_type=kind, feature_name=feature)
        for i, (hh, user, when, kind, feature) in enumerate(rows)
    ]).with_columns(event_kind=event_kind_expr(EVENT_MAPPING))


def ebr_raw() -> dict[str, pl.DataFrame]:
    """Enterprise at 2026-10-01 00:00 and not churned: e1 and e3 (upgraded 09-30 23:00).
    e2 churned in the quarter, e4 downgraded in it, p1 is Premium.

    e1, 2026-Q3: tasks u1 07-01 07-02 07-03, u2 07-11 (two) 07-12 -> 6; member-days u1 3 + u2
    2 = 5, member-weeks 2 (u1 block 0, u2 block 1) -> DAU/WAU 5 / 14 = 35.7%; active members
    2 of 2 (u3 left 08-01). Q2: 4 tasks by u1 only -> tasks +50.0%, active members 1 -> 2.
    Pets at the end: pet1, pet2 (pet3 removed 09-01) = 2; at Q2's end pet1, pet3 = 2 -> +0.0%.
    Time saved 6 x 10 min = 1.0 h; cost reduction 1.0 x $30 = $30.00; tasks per active member
    3 against 4: productivity -25.0%; paid in the quarter 3 x 500 -> ROI 30 / 1500 = 0.02x.
    Tickets opened in Q3: 3; resolved ones took 10 h and 26 h -> 18.0 h; CSAT (4 + 5) / 2 =
    4.5; open at the end: the Q2 critical billing one, then the high sync one. Last NPS: 9.
    Features: catalog = reminders, vet_records, walk_tracker (seen) + 4 capabilities; e1 used
    advanced_analytics and walk_tracker in Q3, reminders in Q2 only.
    """
    old = at("2026-01-01")
    households = frame("households", [
        dict(household_id="e1", created_at=old, region="US", owner_name="Ada Lovelace",
             email_opt_out=False),
        dict(household_id="e2", created_at=old, region="US", owner_name="Bo Brown",
             email_opt_out=False, churned_at=at("2026-08-15")),
        dict(household_id="e3", created_at=old, region="EU", email_opt_out=False),
        dict(household_id="e4", created_at=old, region="US", email_opt_out=False),
        dict(household_id="p1", created_at=old, region="US", email_opt_out=False),
    ])
    changes = frame("subscription_changes", [
        _change("c1", "e1", old, "new", None, "Enterprise", ENTERPRISE),
        _change("c2", "e2", old, "new", None, "Enterprise", ENTERPRISE),
        _change("c3", "e2", at("2026-08-15"), "cancel", "Enterprise", None, 0.0),
        _change("c4", "e3", old, "new", None, "Premium", PREMIUM),
        _change("c5", "e3", at("2026-09-30", 23), "upgrade", "Premium", "Enterprise",
                ENTERPRISE),
        _change("c6", "e4", old, "new", None, "Enterprise", ENTERPRISE),
        _change("c7", "e4", at("2026-09-15"), "downgrade", "Enterprise", "Premium", PREMIUM),
        _change("c8", "p1", old, "new", None, "Premium", PREMIUM),
    ])
    members = frame("members", [
        dict(user_id="u1", household_id="e1", role="owner", joined_at=old),
        dict(user_id="u2", household_id="e1", role="member", joined_at=old),
        dict(user_id="u3", household_id="e1", role="member", joined_at=at("2026-05-01"),
             removed_at=at("2026-08-01")),
        dict(user_id="u9", household_id="e3", role="owner", joined_at=old),
    ])
    pets = frame("pets", [
        dict(pet_id="pet1", household_id="e1", species="dog", added_at=at("2026-01-02"),
             has_medical_needs=False),
        dict(pet_id="pet2", household_id="e1", species="cat", added_at=at("2026-07-10"),
             has_medical_needs=False),
        dict(pet_id="pet3", household_id="e1", species="bird", added_at=at("2026-03-01"),
             removed_at=at("2026-09-01"), has_medical_needs=False),
    ])
    task = "task_completion"
    events = _events([
        ("e1", "u1", at("2026-07-01", 8), task, None),
        ("e1", "u1", at("2026-07-02", 8), task, None),
        ("e1", "u1", at("2026-07-02", 9), "feature_use", "walk_tracker"),
        ("e1", "u1", at("2026-07-03", 8), task, None),
        ("e1", "u1", at("2026-07-03", 9), "advanced_analytics_view", None),
        ("e1", "u2", at("2026-07-11", 8), task, None),
        ("e1", "u2", at("2026-07-11", 20), task, None),
        ("e1", "u2", at("2026-07-12", 8), task, None),
        ("e1", "u1", at("2026-10-01"), task, None),  # next quarter
        ("e1", "u1", at("2026-04-01", 8), task, None),
        ("e1", "u1", at("2026-04-01", 9), task, None),
        ("e1", "u1", at("2026-04-02", 8), task, None),
        ("e1", "u1", at("2026-05-01", 8), task, None),
        ("e1", "u1", at("2026-05-01", 9), "feature_use", "reminders"),
        ("p1", None, at("2026-08-01"), "feature_use", "vet_records"),
    ])
    tickets = frame("support_tickets", [
        dict(ticket_id="t1", household_id="e1", created_at=at("2026-07-05"),
             resolved_at=at("2026-07-05", 10), priority="low", csat_score=4),
        dict(ticket_id="t2", household_id="e1", created_at=at("2026-08-01"),
             resolved_at=at("2026-08-02", 2), priority="medium", csat_score=5),
        dict(ticket_id="t3", household_id="e1", created_at=at("2026-09-20"), priority="high",
             category="sync"),
        dict(ticket_id="t4", household_id="e1", created_at=at("2026-06-15"),
             priority="critical", category="billing"),
    ])
    payments = frame("payments", [
        dict(payment_id=f"pay{m}", household_id="e1", due_at=at(f"2026-0{m}-01"),
             paid_at=at(f"2026-0{m}-01", 1), amount=ENTERPRISE, status="paid")
        for m in (6, 7, 8, 9)
    ] + [dict(payment_id="payx", household_id="e1", due_at=at("2026-09-15"), amount=ENTERPRISE,
              status="failed")])
    nps = frame("nps_responses", [
        dict(response_id="r1", household_id="e1", responded_at=at("2026-07-10"), score=6),
        dict(response_id="r2", household_id="e1", responded_at=at("2026-09-01"), score=9),
    ])
    plans = frame("success_plans", [
        dict(plan_goal_id="g1", household_id="e1", quarter="2026-Q3",
             goal="Onboard every household member", status="achieved"),
        dict(plan_goal_id="g2", household_id="e1", quarter="2026-Q3",
             goal="Digitise all vet records", status="achieved"),
        dict(plan_goal_id="g3", household_id="e1", quarter="2026-Q3",
             goal="Track expenses per pet", status="missed"),
        dict(plan_goal_id="g4", household_id="e1", quarter="2026-Q3",
             goal="Review health analytics monthly", status="in_progress"),
        dict(plan_goal_id="g5", household_id="e1", quarter="2026-Q2",
             goal="Old goal", status="achieved"),
    ])
    return dict(households=households, members=members, pets=pets, activity_events=events,
                support_tickets=tickets, subscription_changes=changes, payments=payments,
                nps_responses=nps, success_plans=plans)


def health_days() -> dict[str, pl.DataFrame]:
    """Two scored days of the quarter; the deck shows the later one (72.4)."""
    return {day: pl.DataFrame({"household_id": ["e1", "p1"], "as_of": [date.fromisoformat(day)] * 2,
                               "health_score": [score, 90.0],
                               "top_reasons": [f"reasons on {day}", "fine"]})
            for day, score in (("2026-09-29", 60.0), ("2026-09-30", 72.4))}


@pytest.fixture(scope="module")
def decks():
    raw = ebr_raw()
    return ebr_decks(QUARTER, **{**raw, "activity_events": raw["activity_events"].lazy()},
                     health=health_days()["2026-09-30"])


def test_ebr_decks_are_for_enterprise_households_at_quarter_end(decks):
    assert [d.household_id for d in decks] == ["e1", "e3"]
    assert decks[0].quarter == "2026-Q3"


def test_ebr_usage_value_and_quarter_over_quarter_change(decks):
    page = Page(deck_html(decks[0]))
    assert page.text["health-score"] == "72/100"
    assert page.text["tasks-completed"] == "6"
    assert page.text["tasks-change"] == "+50.0%"
    assert page.text["dau-wau"] == "35.7%"
    assert page.text["active-members"] == "2/2"
    assert page.text["pets-managed"] == "2"
    usage = {r["measure"]: r for r in page.rows("usage")}
    assert usage["Active members"]["last quarter"] == "1"
    assert usage["Active members"]["change"] == "+100.0%"
    assert usage["Pets managed"]["change"] == "+0.0%"
    assert page.text["trend"].startswith("Usage increased")
    assert page.text["time-saved"] == "1.0 hours"
    assert page.text["cost-reduction"] == "$30.00"
    assert page.text["productivity-gain"] == "-25.0%"
    assert page.text["roi"] == "0.02x"
    assert page.text["goals-achieved"] == "2/4"
    assert len(page.images) == 1


def test_ebr_goals_features_support_and_next_quarter(decks):
    page = Page(deck_html(decks[0]))
    assert page.text["goals-achieved"] == "2/4"
    assert page.lists["goal-list-achieved"] == ["Onboard every household member",
                                                "Digitise all vet records"]
    assert page.lists["goal-list-in_progress"] == ["Review health analytics monthly"]
    assert page.lists["goal-list-missed"] == ["Track expenses per pet"]
    assert page.lists["features-used"] == ["advanced analytics", "walk tracker"]
    assert page.lists["features-not-explored"] == ["calendar sync", "custom templates",
                                                   "priority support", "vet records"]
    assert page.lists["features-lapsed"] == ["reminders"]
    assert page.text["tickets-opened"] == "3"
    assert page.text["resolution-hours"] == "18.0 hours"
    assert page.text["csat"] == "4.5/5.0"
    assert page.text["nps-score"] == "9"
    assert page.lists["open-issues"] == ["critical priority, billing, open since 2026-06-15",
                                         "high priority, sync, open since 2026-09-20"]
    # no success plan for 2026-Q4: unfinished goals first, then a feature to adopt
    assert page.lists["priorities"] == ["Review health analytics monthly",
                                        "Track expenses per pet", "Adopt calendar sync"]
    assert [e.split(":")[0] for e in page.lists["expansion"]] == ["Integrations"]
    # one slide per printed page
    html = deck_html(decks[0])
    assert html.count('class="slide"') == 8
    assert "@media print" in html and "break-after: page" in html


def test_ebr_deck_without_data_and_names_only_where_allowed(decks):
    empty = Page(deck_html(decks[1]))
    assert empty.text["tasks-completed"] == "0"
    assert empty.text["tasks-change"] == "n/a"
    assert empty.text["dau-wau"] == "n/a"
    assert empty.text["health-score"] == empty.text["csat"] == empty.text["roi"] == "n/a"
    assert empty.text["resolution-hours"] == empty.text["nps-score"] == "n/a"
    assert empty.text["goals-none"] == "No success plan recorded for this quarter."
    assert "Ada Lovelace" in deck_html(decks[0])
    assert "Ada Lovelace" in deck_markdown(decks[0])
    preview = deck_markdown(decks[0], with_name=False)
    assert "Ada Lovelace" not in preview
    assert preview.count("\n---\n") == 7


# ------------------------------------------------------------------ through Dagster


def _write(base: Path, key: str, frames: pl.DataFrame | dict[str, pl.DataFrame]) -> None:
    """Where PolarsParquetIOManager keeps an asset (or each of its partitions)."""
    if isinstance(frames, pl.DataFrame):
        base.mkdir(parents=True, exist_ok=True)
        frames.write_parquet(base / f"{key}.parquet")
        return
    (base / key).mkdir(parents=True, exist_ok=True)
    for partition, part in frames.items():
        part.write_parquet(base / key / f"{partition}.parquet")


def test_assets_write_the_files_and_metadata_without_names(tmp_path, monkeypatch):
    monkeypatch.setenv("CS_HOME", str(tmp_path / "home"))
    storage = tmp_path / "storage"
    daily = weekly_daily()
    for name, key in (("tiers", "health_tiers"), ("alerts", "trend_alerts"),
                      ("assignments", "csm_assignments"), ("themes", "nps_themes"),
                      ("funnel", "upsell_funnel"), ("transitions", "journey_transitions")):
        # Wednesday is missing: the report still renders from the other six days
        _write(storage, key, {str(d): daily[name].filter(pl.col("as_of") == d)
                              for d in WEEK_DAYS if d != WEEK_DAYS[2]})
    raw = {**ebr_raw(), **weekly_raw()}
    raw["households"] = pl.concat([ebr_raw()["households"], weekly_raw()["households"]])
    raw["subscription_changes"] = pl.concat([ebr_raw()["subscription_changes"],
                                             weekly_raw()["subscription_changes"]])
    for key, table in raw.items():
        _write(storage, key, table)
    (tmp_path / "raw").mkdir()  # the source the absent tables are read from: NPS is present
    raw["nps_responses"].write_parquet(tmp_path / "raw" / "nps_responses.parquet")
    _write(storage, "health_scores", health_days())
    engine = state_engine(f"sqlite:///{tmp_path / 'state.db'}")
    state = playbook_state()
    with engine.begin() as conn:
        conn.execute(state_tables.enrolments.insert(), [
            {**r, "enrolment_key": str(r["enrolled_on"]), "created_at": GENERATED}
            for r in state["enrolments"].to_dicts()])
        conn.execute(state_tables.step_executions.insert(), [
            {**r, "step_index": i, "channel": "email", "template": "t", "message_id": f"m{i}",
             "next_attempt_at": r["due_at"],
             "skipped_reason": "holdout" if r["status"] == "skipped" else None}
            for i, r in enumerate(state["steps"].to_dicts())])
    upstream = [AssetSpec(key, partitions_def=daily_partitions) for key in (
        "health_tiers", "trend_alerts", "csm_assignments", "nps_themes", "upsell_funnel",
        "journey_transitions", "health_scores")] + [AssetSpec(key) for key in raw]
    resources = {"io_manager": PolarsParquetIOManager(base_dir=str(storage)),
                 "state": StateResource(url=f"sqlite:///{tmp_path / 'state.db'}"),
                 "lists": ListsResource(),
                 "raw_source": RawSourceResource(parquet_dir=str(tmp_path / "raw"))}
    instance = DagsterInstance.ephemeral()
    weekly, ebr = report_assets
    week = materialize([weekly, *upstream], selection=[weekly], partition_key=str(WEEK),
                       resources=resources, instance=instance)
    assert week.success
    path = tmp_path / "home" / "reports" / "weekly" / "2026-10-05.html"
    page = Page(path.read_text())
    # e1, e3, e4 and p1 join the weekly cohort (12), none churned; their MRR 1,200 is kept:
    # churn 2 / 12, GRR (2,100 - 400 - 100) / 2,100
    assert page.text["churn-rate"] == "16.67%"
    assert page.text["grr"] == "76.2%"
    assert page.text["nps"] != "not available"
    assert len(page.rows("at-risk")) == 3
    meta = week.asset_materializations_for_node("weekly_cs_report")[0].metadata
    assert meta["path"].value == str(path)
    assert meta["as_of_days_with_data"].value == 6
    assert "76.2%" in meta["summary"].value and "Owner h" not in meta["summary"].value
    assert {r["playbook"] for r in page.rows("playbook-activity")} == {"at_risk_outreach",
                                                                       "onboarding"}

    quarter = materialize([ebr, *upstream], selection=[ebr], partition_key=str(QUARTER),
                          resources=resources, instance=instance)
    assert quarter.success
    folder = tmp_path / "home" / "reports" / "ebr" / "2026-Q3"
    # h3 (weekly population) is Enterprise until 10-08, so it has a deck too
    assert sorted(p.name for p in folder.iterdir()) == ["e1.html", "e1.md", "e3.html", "e3.md",
                                                         "h3.html", "h3.md"]
    assert Page((folder / "e1.html").read_text()).text["time-saved"] == "1.0 hours"
    meta = quarter.asset_materializations_for_node("ebr_decks")[0].metadata
    assert meta["decks"].value == 3
    assert meta["paths"].value == [str(folder / f"{h}.html") for h in ("e1", "e3", "h3")]
    assert meta["health_as_of"].value == "2026-09-30"
    assert "72/100" in meta["preview"].value
    assert "Ada Lovelace" not in meta["preview"].value


def test_ebr_schedule_asks_for_the_quarter_just_ended():
    def request(when: datetime):
        return ebr_schedule(build_schedule_context(scheduled_execution_time=when))

    assert request(at("2026-10-01", 8)) == RunRequest(run_key="2026-07-01",
                                                     partition_key="2026-07-01")
    assert request(at("2026-01-01", 8)).partition_key == "2025-10-01"
    assert not isinstance(request(at("2025-01-01", 8)), RunRequest)  # before the partitions


def test_a_negative_zero_prints_as_zero():
    from cs_assets.reports.render import number

    assert (number(-0.0, 2), number(-1.5, 2), number(7)) == ("0.00", "-1.50", "7")
