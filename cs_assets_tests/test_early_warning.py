"""Early warning at a fixed alert budget: the flagging, the evaluable churners and the rates on
hand-built frames, then the new health score against the old one on simulator data."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from cs_assets.churn.early_warning import (
    early_warning_by_mechanism,
    early_warning_rates,
    evaluable_churners,
    flag_lowest,
    flag_quota,
)
from cs_assets.dev.evaluation.raw_folder import evaluate_raw_folder
from cs_assets.dev.evaluation.run import as_of_days, main

D0 = date(2026, 1, 1)


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def scores_frame(rows: list[tuple[str, int, float | None]], col: str = "s") -> pl.DataFrame:
    """(household_id, day offset, score) rows."""
    return pl.DataFrame(
        {
            "household_id": [r[0] for r in rows],
            "as_of": [day(r[1]) for r in rows],
            col: [r[2] for r in rows],
        },
        schema={"household_id": pl.String, "as_of": pl.Date, col: pl.Float64},
    )


def churn_frame(rows: list[tuple[str, int | None, str | None]]) -> pl.DataFrame:
    """(household_id, churn day offset or None, mechanism) rows; churn at 15:00 UTC that day."""
    return pl.DataFrame(
        {
            "household_id": [r[0] for r in rows],
            "churned_at": [
                None
                if r[1] is None
                else datetime.combine(day(r[1]), datetime.min.time(), UTC) + timedelta(hours=15)
                for r in rows
            ],
            "mechanism": [r[2] for r in rows],
        },
        schema={
            "household_id": pl.String,
            "churned_at": pl.Datetime("us", "UTC"),
            "mechanism": pl.String,
        },
    )


def flagged_ids(flags: pl.DataFrame, n: int) -> list[str]:
    return flags.filter(pl.col("flagged") & (pl.col("as_of") == day(n)))["household_id"].to_list()


# --- flag_lowest ------------------------------------------------------------------------------


def test_quota_is_exact_ceil_without_float_noise():
    assert flag_quota(30, 0.10) == 3  # 0.1 * 30 == 3.0000000000000004 in floating point
    assert flag_quota(31, 0.10) == 4
    assert flag_quota(1, 0.10) == 1
    assert flag_quota(1000, 0.07) == 70
    assert flag_quota(10, 1.0) == 10


def test_flags_exactly_the_lowest_budget_share_per_day():
    rows = [(f"h{i:02d}", 0, float(100 - i)) for i in range(30)]  # h29 is lowest
    rows += [(f"h{i:02d}", 1, float(i)) for i in range(31)]  # h00 is lowest, 31 active
    flags = flag_lowest(scores_frame(rows), "s", 0.10)
    assert sorted(flagged_ids(flags, 0)) == ["h27", "h28", "h29"]
    assert flagged_ids(flags, 1) == ["h00", "h01", "h02", "h03"]  # ceil(3.1)
    assert flags.height == len(rows)
    assert flags.filter(pl.col("as_of") == day(1))["flag_rank"].to_list() == list(range(1, 32))


def test_ties_are_broken_by_household_id_so_the_budget_is_exact():
    rows = [(h, 0, 50.0) for h in ("hd", "hb", "he", "ha", "hc")]
    rows += [(h, 0, 60.0) for h in ("h0", "h1", "h2", "h3", "h4")]
    flags = flag_lowest(scores_frame(rows), "s", 0.30)  # 3 of 10, all among the five 50s
    assert flagged_ids(flags, 0) == ["ha", "hb", "hc"]
    assert flag_lowest(scores_frame(rows), "s", 0.30).equals(flags)  # deterministic


def test_everyone_tied_still_flags_only_the_budget():
    rows = [(f"h{i:03d}", 0, 70.0) for i in range(200)]
    flags = flag_lowest(scores_frame(rows), "s", 0.10)
    assert flags["flagged"].sum() == 20


def test_null_scores_rank_after_real_scores():
    rows = [("a", 0, None), ("b", 0, 90.0), ("c", 0, 95.0), ("d", 0, None)]
    flags = flag_lowest(scores_frame(rows), "s", 0.5)
    assert flagged_ids(flags, 0) == ["b", "c"]


@pytest.mark.parametrize("budget", [0.0, -0.1, 1.5])
def test_budget_must_be_a_share(budget):
    with pytest.raises(ValueError, match="budget"):
        flag_lowest(scores_frame([("a", 0, 1.0)]), "s", budget)


def test_duplicate_household_days_are_rejected():
    with pytest.raises(ValueError, match="one row per"):
        flag_lowest(scores_frame([("a", 0, 1.0), ("a", 0, 2.0)]), "s", 0.1)


# --- lead windows and evaluable churners ------------------------------------------------------

SCORED = range(0, 121)  # as-of days 0..120
CHURN = 100  # lead window of a day-100 churner: as-of days 40..70


def window_world(special: dict[str, int], churn_day: int = CHURN) -> pl.DataFrame:
    """Churners scoring 100 except 0 on their special day; a non-churner `z` at 50 every day.
    With one flag a day, each day flags the special churner if any, else `z`."""
    rows = [("z", d, 50.0) for d in SCORED]
    for h, on in special.items():
        rows += [(h, d, 0.0 if d == on else 100.0) for d in SCORED if d < churn_day]
    return scores_frame(rows)


def warned(rates: pl.DataFrame, score: str = "s") -> dict:
    return rates.filter(pl.col("score") == score).row(0, named=True)


def test_lead_window_boundaries_29_30_60_61():
    special = {"c29": CHURN - 29, "c30": CHURN - 30, "c60": CHURN - 60, "c61": CHURN - 61}
    scores = window_world(special)
    churn = churn_frame([(h, CHURN, "profile_risk") for h in special] + [("z", None, None)])
    budget = 0.05  # ceil(0.05 x at most 5 active) = 1 flag a day
    by_mechanism = early_warning_by_mechanism(scores, churn, ["s"], budget).row(0, named=True)
    assert (by_mechanism["mechanism"], by_mechanism["evaluated"]) == ("profile_risk", 4)
    rates = warned(early_warning_rates(scores, churn, ["s"], budget))
    assert rates["churners_evaluated"] == 4
    assert rates["churners_warned"] == 2  # c30 and c60 only
    assert rates["churner_rate"] == pytest.approx(0.5)
    for h, hit in {"c29": False, "c30": True, "c60": True, "c61": False}.items():
        one = warned(
            early_warning_rates(scores, churn.filter(pl.col("household_id") == h), ["s"], budget)
        )
        assert one["churners_warned"] == int(hit), h


def test_only_churners_whose_whole_window_is_scored_and_active_count():
    scores = window_world({"inside": 50, "early": 10})
    # `early` churns on day 50: its window (days -10..20) starts before the first scored day.
    scores = pl.concat(
        [
            scores.filter(~((pl.col("household_id") == "early") & (pl.col("as_of") >= day(50)))),
            # `late` churns on day 140: window 80..110 is scored, so it counts (never flagged).
            scores_frame([("late", d, 100.0) for d in SCORED]),
            # `after` churns on day 170: window 110..140 runs past the last scored day (120).
            scores_frame([("after", d, 100.0) for d in SCORED]),
            # `newbie` churns on day 100 but signed up on day 55, inside its window 40..70.
            scores_frame([("newbie", d, 0.0) for d in SCORED if 55 <= d < CHURN]),
        ]
    )
    churn = churn_frame(
        [
            ("inside", CHURN, "silent_decline"),
            ("early", 50, "silent_decline"),
            ("late", 140, "no_signal"),
            ("after", 170, "no_signal"),
            ("newbie", CHURN, "silent_decline"),
            ("z", None, None),
        ]
    )
    evaluable = evaluable_churners(scores, churn)
    assert evaluable["household_id"].to_list() == ["inside", "late"]
    assert evaluable["window_days"].to_list() == [31, 31]
    rates = warned(early_warning_rates(scores, churn, ["s"], 0.10))
    assert (rates["churners_evaluated"], rates["silent_evaluated"]) == (2, 1)


def test_window_days_follow_the_scored_days():
    every_third = [d for d in SCORED if d % 3 == 0]
    scores = scores_frame(
        [("c", d, 1.0) for d in every_third if d < CHURN] + [("z", d, 2.0) for d in every_third]
    )
    evaluable = evaluable_churners(scores, churn_frame([("c", CHURN, None)]))
    assert evaluable["window_days"].to_list() == [len([d for d in every_third if 40 <= d <= 70])]
    # a missing row in the window (say, a score failed that day) makes it not evaluable
    gap = scores.filter(~((pl.col("household_id") == "c") & (pl.col("as_of") == day(45))))
    assert evaluable_churners(gap, churn_frame([("c", CHURN, None)])).is_empty()


def test_date_churn_column_and_null_rates_when_nobody_is_evaluable():
    scores = window_world({"c": 50})
    churn = pl.DataFrame({"household_id": ["c"], "churned_at": [day(CHURN)]})  # Date, no mechanism
    rates = warned(early_warning_rates(scores, churn, ["s"], 0.05))
    assert (rates["churners_evaluated"], rates["churners_warned"]) == (1, 1)
    assert rates["silent_evaluated"] == 0
    assert rates["silent_rate"] is None
    none = warned(early_warning_rates(scores, churn_frame([("c", 300, None)]), ["s"], 0.05))
    assert none["churners_evaluated"] == 0
    assert none["churner_rate"] is None


def test_rates_per_score_silent_churners_and_false_alarms():
    # Day by day, 10 households: 8 non-churners n0..n7 and churners `loud` and `quiet`
    # (silent decline), both churning on day 100. Score `a` ranks the churners lowest in
    # their windows; score `b` ranks n0 lowest every day. One flag a day (budget 0.1).
    rows: list[tuple[str, date, float, float]] = []
    for d in SCORED:
        for i in range(8):
            rows.append((f"n{i}", day(d), 50.0 + i, 10.0 if i == 0 else 50.0 + i))
        if d < CHURN:
            low = 40 <= d <= 70
            rows.append(("loud", day(d), 1.0 if low and d % 2 else 90.0, 90.0))
            rows.append(("quiet", day(d), 1.0 if low and d % 2 == 0 else 90.0, 90.0))
    scores = pl.DataFrame(rows, schema=["household_id", "as_of", "a", "b"], orient="row")
    churn = churn_frame(
        [("loud", CHURN, "support_frustration"), ("quiet", CHURN, "silent_decline")]
        + [(f"n{i}", None, None) for i in range(8)]
    )
    rates = early_warning_rates(scores, churn, ["a", "b"], 0.10)
    a, b = warned(rates, "a"), warned(rates, "b")
    assert (a["churner_rate"], a["silent_rate"]) == (1.0, 1.0)
    assert (b["churner_rate"], b["silent_rate"]) == (0.0, 0.0)
    assert a["budget"] == b["budget"] == 0.10
    assert a["flagged_per_day"] == b["flagged_per_day"] == 1.0
    # b spends every flag on n0: 121 of the 8 x 121 non-churner days, and every one of n0's 91
    # full 31-day windows (ending on days 30..120) holds a flag
    assert (b["non_churners"], b["non_churner_days"], b["non_churner_windows"]) == (8, 968, 728)
    assert b["non_churner_day_share"] == pytest.approx(1 / 8)
    assert b["false_alarm_rate"] == pytest.approx(1 / 8)
    # a flags n0 on the 121 - 31 days outside days 40..70: the only window of n0 without a flag
    # is the one ending on day 70
    assert a["non_churner_day_share"] == pytest.approx((121 - 31) / (8 * 121))
    assert a["false_alarm_rate"] == pytest.approx(90 / 728)


def test_false_alarm_windows_are_full_windows_of_the_lead_window_length():
    # One flag a day between non-churners x and y. y (50) is flagged every day it is scored,
    # except day 50 when x scores 0; y is not scored on day 80, so x is flagged then.
    rows = [("x", d, 0.0 if d == 50 else 60.0) for d in SCORED]
    rows += [("y", d, 50.0) for d in SCORED if d != 80]
    rates = warned(early_warning_rates(scores_frame(rows), churn_frame([]), ["s"], 0.5))
    # x: 91 full windows (ending on days 30..120); those ending 50..110 hold a flag (61).
    # y: the windows ending 80..110 lack day 80, leaving 60 full ones, all with a flag.
    assert rates["non_churner_windows"] == 91 + 60
    assert rates["false_alarm_rate"] == pytest.approx((61 + 60) / (91 + 60))


def test_as_of_days_end_the_day_before_the_data_ends():
    assert as_of_days(date(2026, 11, 1), 7, 3) == [
        date(2026, 10, 25),
        date(2026, 10, 28),
        date(2026, 10, 31),
    ]
    assert len(as_of_days(date(2026, 11, 1), 180)) == 180


# --- end to end on simulator data -------------------------------------------------------------

# A small demo-scale world: 2,000 households with two years of history, scored every third day
# of the 180 days ending a month before the data ends (60 as-of days), so that every churner of
# the last 150 days is evaluable: ~150-180 churners, ~20-35 of them planted silent decliners.
SIM_HOUSEHOLDS = 2000
SIM_SEED = 11
SIM_END = date(2026, 11, 1)
SIM_DAYS = as_of_days(SIM_END - timedelta(days=30), 180, 3)
# Margins from measurement (this set-up at seeds 1-5 and 11, and 2,500 households over 240 days
# at the same seeds): the new score's churner rate beat the old one's by 6.5-17.5 points
# (mean ~11) and its silent-churner rate by 17-41 points (mean ~29). Seed 11 here: +11.0 / +16.7.
MIN_CHURNER_GAIN = 0.08
MIN_SILENT_GAIN = 0.15
# Net of false alarms (rate minus the score's own non-churner window rate) the silent-churner
# gain was +8 to +34 points; the all-churner one only -1.5 to +9 (not asserted).
MIN_SILENT_NET_GAIN = 0.05


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> Path:
    from cs_assets.dev.simulator.engine import simulate

    out = tmp_path_factory.mktemp("early_warning_raw")
    simulate(out, households=SIM_HOUSEHOLDS, end_date=SIM_END, seed=SIM_SEED, scale="demo")
    return out


@pytest.mark.xdist_group("early_warning_simulation")
def test_new_score_warns_more_churners_than_old_at_the_same_budget(simulated):
    rates = evaluate_raw_folder(simulated, SIM_DAYS, budget=0.10)
    with pl.Config(tbl_cols=-1, tbl_width_chars=250):
        print(rates)  # shown when the test fails
    new, old = warned(rates, "health_score"), warned(rates, "health_score_old")
    # the same budget, households and evaluable churners for both scores
    assert new["budget"] == old["budget"] == 0.10
    assert new["flagged_per_day"] == old["flagged_per_day"]
    assert new["non_churner_day_share"] <= 0.10
    assert new["churners_evaluated"] == old["churners_evaluated"] >= 120
    assert new["silent_evaluated"] == old["silent_evaluated"] >= 15
    assert new["churner_rate"] - old["churner_rate"] >= MIN_CHURNER_GAIN
    assert new["silent_rate"] - old["silent_rate"] >= MIN_SILENT_GAIN
    # not bought by flagging more distinct households: net of each score's false alarms
    net_gain = (new["silent_rate"] - new["false_alarm_rate"]) - (
        old["silent_rate"] - old["false_alarm_rate"]
    )
    assert net_gain >= MIN_SILENT_NET_GAIN


@pytest.mark.xdist_group("early_warning_simulation")
def test_cli_prints_the_table_and_one_json_line(simulated, capsys):
    assert main(["--raw-dir", str(simulated), "--days", "3", "--step", "3", "--no-validate"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "health_score_old" in "\n".join(lines[:-1])
    summary = json.loads(lines[-1])
    assert set(summary["early_warning"]) == {"health_score", "health_score_old"}
    assert summary["as_of_first"] == summary["as_of_last"] == "2026-10-31"
    assert summary["early_warning"]["health_score"]["churners_evaluated"] == 0  # one day only
