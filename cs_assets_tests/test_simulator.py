"""The demo-data simulator: reproducible, contract-valid, and its planted mechanisms show.

Everything here is measured from the files the simulator writes (raw tables and
`_truth/`), the way the platform will see them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from cs_assets.contract.events import load_event_mapping
from cs_assets.contract.tables import TABLES
from cs_assets.dev.simulator import SCALES, Scale, SimulationParams, simulate
from cs_assets.dev.simulator.hazards import HazardInputs, known_window_hazard
from cs_assets.dev.simulator.params import MECHANISMS
from cs_assets.dev.simulator.timegrid import ChunkGrid

END = dt.date(2026, 11, 1)
REF = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
SEED = 7  # the Makefile's demo seed


def _read(out: Path, name: str) -> pl.DataFrame:
    path = out / name
    if path.is_dir():
        return pl.read_parquet(path / "*.parquet")
    return pl.read_parquet(path.with_suffix(".parquet"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    summary = simulate(out, households=SCALES["demo"].households, end_date=END, seed=SEED)
    assert summary.events > 0 and summary.events_per_second > 0
    return out


@pytest.fixture(scope="module")
def tables(demo: Path) -> dict[str, pl.DataFrame]:
    return {name: _read(demo, name) for name in TABLES}


@pytest.fixture(scope="module")
def truth(demo: Path) -> pl.DataFrame:
    return _read(demo, "_truth/households")


def _digests(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "_timings.json"
    }


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path: Path):
    small = Scale(households=400, signup_spread_days=365, activity_days=365)
    runs = {}
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        simulate(tmp_path / name, households=400, end_date=END, seed=seed, scale=small)
        runs[name] = _digests(tmp_path / name)
    assert "activity_events/part-00000.parquet" in runs["a"]
    assert runs["a"] == runs["b"]
    same = [f for f, digest in runs["a"].items() if runs["c"].get(f) == digest]
    assert same == []


def test_files_are_written_in_the_codec_asked_for_with_the_same_rows(tmp_path: Path):
    """Snappy by default (how exported product data usually comes); another codec changes the
    bytes and the manifest, never the rows."""
    small = Scale(households=60, signup_spread_days=90, activity_days=90)
    for codec in ("snappy", "zstd"):
        kwargs = {} if codec == "snappy" else {"compression": codec}
        simulate(tmp_path / codec, households=60, end_date=END, seed=5, scale=small, **kwargs)
        manifest = json.loads((tmp_path / codec / "_manifest.json").read_text())
        assert manifest["compression"] == codec
        for file in ("activity_events/part-00000.parquet", "payments.parquet",
                     "_truth/hazard_daily.parquet"):
            meta = pq.ParquetFile(tmp_path / codec / file).metadata
            assert meta.row_group(0).column(0).compression == codec.upper(), file
    for name in ("activity_events", "households", "payments"):
        assert _read(tmp_path / "snappy", name).equals(_read(tmp_path / "zstd", name)), name
    with pytest.raises(ValueError, match="compression: expected one of"):
        simulate(tmp_path / "x", households=10, end_date=END, seed=5, scale=small,
                 compression="brotli")


def test_every_table_passes_its_contract_model(tables: dict[str, pl.DataFrame]):
    for name, spec in TABLES.items():
        assert tables[name].height > 0, name
        spec.model.validate(tables[name], lazy=True)


def test_keys_are_unique_and_every_reference_resolves(tables: dict[str, pl.DataFrame]):
    households = tables["households"]["household_id"]
    for name, spec in TABLES.items():
        df = tables[name]
        assert df[spec.key].is_unique().all(), name
        if spec.parent == "households":
            assert df["household_id"].is_in(households.implode()).all(), name
    pets = tables["pets"]["pet_id"]
    assert tables["pet_health_observations"]["pet_id"].is_in(pets.implode()).all()
    codes = tables["referral_codes"]["code"]
    used = tables["households"]["referral_code_used"].drop_nulls()
    assert used.is_in(codes.implode()).mean() > 0.8  # a few codes were never issued


def test_event_users_are_members_present_at_the_event(tables: dict[str, pl.DataFrame]):
    events = tables["activity_events"]
    assert set(events["event_type"].unique()) <= set(load_event_mapping())
    with_user = events.filter(pl.col("user_id").is_not_null())
    joined = with_user.join(tables["members"], on=["household_id", "user_id"], how="left")
    assert joined.height == with_user.height
    assert joined["joined_at"].is_not_null().all()
    present = (pl.col("joined_at") <= pl.col("occurred_at")) & (
        pl.col("removed_at").is_null() | (pl.col("occurred_at") < pl.col("removed_at"))
    )
    assert joined.select(present.all()).item()
    sessions = events.filter(pl.col("event_type") == "app_session")
    assert sessions["session_minutes"].is_not_null().all()
    assert (
        events.filter(pl.col("event_type") != "app_session")["session_minutes"].null_count()
        == events.height - sessions.height
    )


def test_nothing_before_signup_after_churn_or_at_the_reference_time(
    tables: dict[str, pl.DataFrame],
):
    life = tables["households"].select("household_id", "created_at", "churned_at")
    assert (life["created_at"] < REF).all()
    assert life.filter(pl.col("churned_at") >= REF).height == 0
    for name, spec in TABLES.items():
        df = tables[name]
        for col in spec.future_columns:
            assert df.filter(pl.col(col) >= REF).height == 0, (name, col)
        if not spec.after_signup_columns:
            continue
        df = df.join(life, on="household_id", suffix="_hh")
        signup = "created_at_hh" if name == "support_tickets" else "created_at"
        for col in spec.after_signup_columns:
            assert df.filter(pl.col(col) < pl.col(signup)).height == 0, (name, col)
            late = pl.col(col) >= pl.col("churned_at")
            if name == "subscription_changes":  # the cancellation sits exactly at churned_at
                late = late & (pl.col("change_type") != "cancel")
            assert df.filter(late).height == 0, (name, col)


def test_subscription_history_agrees_with_signup_plan_and_churn(
    tables: dict[str, pl.DataFrame], truth: pl.DataFrame
):
    changes = tables["subscription_changes"]
    households = tables["households"]
    new = changes.filter(pl.col("change_type") == "new").join(households, on="household_id")
    assert new.height == households.height
    assert (new["changed_at"] == new["created_at"]).all()
    prices = {"Free": 0.0, "Premium": 100.0, "Enterprise": 500.0}
    assert (new["mrr_after"] == new["to_plan"].replace_strict(prices)).all()
    plan = new.join(truth, on="household_id")
    assert (plan["to_plan"] == plan["plan_at_signup"]).all()
    cancel = changes.filter(pl.col("change_type") == "cancel").join(households, on="household_id")
    assert cancel.height == households["churned_at"].is_not_null().sum()
    assert (cancel["changed_at"] == cancel["churned_at"]).all()
    down = changes.filter(pl.col("change_type") == "downgrade")
    assert down.height > 0
    assert (down["from_plan"] == "Premium").all() and (down["to_plan"] == "Free").all()
    up = changes.filter(pl.col("change_type") == "upgrade")
    assert up.height > 0 and (up["from_plan"] == "Free").all() and (up["mrr_after"] == 100).all()


def test_truth_matches_the_tables_and_the_hazard_oracle_is_sane(
    demo: Path, tables: dict[str, pl.DataFrame], truth: pl.DataFrame
):
    assert set(truth["churn_mechanism"].drop_nulls()) <= set(MECHANISMS)
    both = truth.join(tables["households"], on="household_id", suffix="_hh")
    assert both.height == tables["households"].height
    assert (both["churned_at"].is_null() == both["churn_mechanism"].is_null()).all()
    assert both.filter(pl.col("churned_at") != pl.col("churned_at_hh")).height == 0
    assert truth["health_equivalent"].is_between(0, 100).all()

    hazard = _read(demo, "_truth/hazard_daily")
    assert hazard.schema == pl.Schema(
        {"household_id": pl.String, "day": pl.Date, "hazard": pl.Float32,
         "p_churn_30d": pl.Float32, "p_churn_30d_known": pl.Float32}
    )
    assert hazard["p_churn_30d"].is_between(0, 1).all() and (hazard["hazard"] >= 0).all()
    assert hazard["p_churn_30d_known"].is_between(0, 1).all()
    span = (
        hazard.group_by("household_id")
        .agg(first=pl.col("day").min(), last=pl.col("day").max(), n=pl.len())
        .join(both, on="household_id")
    )
    assert (span["first"] == span["created_at"].dt.date()).all()
    last = pl.min_horizontal(pl.col("churned_at").dt.date(), pl.lit(END - DAY))
    assert span.select((pl.col("last") == last).all()).item()
    assert span.select(
        (pl.col("n") == (pl.col("last") - pl.col("first")).dt.total_days() + 1).all()
    ).item()

    manifest = json.loads((demo / "_manifest.json").read_text())
    assert manifest["seed"] == SEED and manifest["end_date"] == END.isoformat()
    assert manifest["rows"]["activity_events"] == tables["activity_events"].height


def _windowed(events: pl.DataFrame, anchors: pl.DataFrame, kinds: tuple[str, ...]):
    """Relative change per kind: the 4 weeks before each anchor vs the 4 weeks before that."""
    at = pl.col("anchor")
    return (
        events.filter(pl.col("event_type").is_in(kinds))
        .join(anchors, on="household_id")
        .with_columns(
            window=pl.when(pl.col("occurred_at") >= at - 28 * DAY)
            .then(pl.lit("last"))
            .when(pl.col("occurred_at") >= at - 56 * DAY)
            .then(pl.lit("prior"))
        )
        .filter(pl.col("window").is_not_null())
        .group_by("event_type", "window")
        .len()
        .pivot("window", index="event_type", values="len")
        .select("event_type", pl.col("last") / pl.col("prior") - 1)
        .rows_by_key("event_type", unique=True)
    )


def test_silent_decline_churners_stop_completing_tasks_but_keep_logging_in(
    tables: dict[str, pl.DataFrame], truth: pl.DataFrame
):
    decliners = truth.filter(pl.col("churn_mechanism") == "silent_decline").select(
        "household_id", anchor="churned_at"
    )
    assert decliners.height >= 40
    change = _windowed(tables["activity_events"], decliners, ("task_completion", "app_login"))
    assert change["task_completion"][0] < -0.5
    assert abs(change["app_login"][0]) < 0.2


def test_stayers_task_trend_is_flat(tables: dict[str, pl.DataFrame]):
    stayers = (
        tables["households"]
        .filter(pl.col("churned_at").is_null() & (pl.col("created_at") < REF - 56 * DAY))
        .select("household_id", anchor=pl.lit(REF))
    )
    change = _windowed(tables["activity_events"], stayers, ("task_completion",))
    assert abs(change["task_completion"][0]) < 0.1


def test_churn_by_trailing_ticket_bucket_follows_the_support_paradox(
    demo: Path, tables: dict[str, pl.DataFrame]
):
    """War story 2 at monthly as-of dates: tickets in the 90 days before, churn after.

    The oracle (truth p_churn_30d) orders the buckets exactly as the spec, 1-2 < 3-5 <
    0 < 6+; realized 90-day churn, noisier on ~3000 households, at least has 1-2 lowest
    and 6+ highest.
    """
    households, tickets = tables["households"], tables["support_tickets"]
    rows = []
    for k in range(16):  # monthly as-of dates over the second year
        asof = REF - (90 + 30 * k) * DAY
        active = households.filter(
            (pl.col("created_at") < asof)
            & (pl.col("churned_at").is_null() | (pl.col("churned_at") >= asof))
        )
        recent = tickets.filter(
            pl.col("created_at").is_between(asof - 90 * DAY, asof, closed="left")
        )
        counts = recent.group_by("household_id").len("n")
        rows.append(
            active.join(counts, on="household_id", how="left").select(
                "household_id",
                day=pl.lit(asof.date()),
                n=pl.col("n").fill_null(0),
                churned=(pl.col("churned_at") < asof + 90 * DAY).fill_null(False),
            )
        )
    oracle = _read(demo, "_truth/hazard_daily").select("household_id", "day", "p_churn_30d")
    rates = (
        pl.concat(rows)
        .join(oracle, on=["household_id", "day"])
        .group_by(bucket=pl.col("n").cut([0, 2, 5], labels=["0", "1-2", "3-5", "6+"]))
        .agg(pl.col("churned", "p_churn_30d").mean())
        .select(pl.col("bucket").cast(pl.String), "churned", "p_churn_30d")
        .rows_by_key("bucket", unique=True)
    )
    realized = {bucket: r[0] for bucket, r in rates.items()}
    expected = {bucket: r[1] for bucket, r in rates.items()}
    assert expected["1-2"] < expected["3-5"] < expected["0"] < expected["6+"]
    assert realized["1-2"] < min(realized["0"], realized["3-5"])
    assert realized["6+"] > max(realized["0"], realized["1-2"], realized["3-5"])


def test_most_downgraders_churn_within_60_days(tables: dict[str, pl.DataFrame]):
    down = (
        tables["subscription_changes"]
        .filter((pl.col("change_type") == "downgrade") & (pl.col("changed_at") < REF - 60 * DAY))
        .join(tables["households"], on="household_id")
    )
    assert down.height >= 30
    churned = (pl.col("churned_at") - pl.col("changed_at") <= 60 * DAY).fill_null(False)
    assert down.select(churned.mean()).item() >= 0.6


def test_many_churners_leave_no_signal_and_first_year_churn_is_realistic(
    tables: dict[str, pl.DataFrame], truth: pl.DataFrame
):
    mechanisms = truth["churn_mechanism"].drop_nulls()
    assert set(mechanisms) == set(MECHANISMS)
    assert (mechanisms == "no_signal").mean() >= 0.25
    old = tables["households"].filter(pl.col("created_at") < REF - 365 * DAY)
    first_year = (pl.col("churned_at") - pl.col("created_at") < 365 * DAY).fill_null(False)
    assert 0.25 <= old.select(first_year.mean()).item() <= 0.45


def _cox_hazard_ratios(x: np.ndarray, time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """exp(beta) of a Cox model (Breslow ties) by Newton steps on the partial likelihood.

    A dozen numpy lines instead of importing lifelines, whose import alone costs seconds.
    """
    order = np.argsort(-time, kind="stable")
    x, time, event = x[order], time[order], event[order].astype(bool)
    x = x - x.mean(axis=0)
    # The risk set of a death at t is everyone with time >= t: a prefix of the sorted rows.
    end = np.searchsorted(-time, -time[event], side="right") - 1
    beta = np.zeros(x.shape[1])
    for _ in range(25):
        w = np.exp(x @ beta)
        s0 = np.cumsum(w)[end]
        s1 = np.cumsum(w[:, None] * x, axis=0)[end] / s0[:, None]
        s2 = np.cumsum(w[:, None, None] * x[:, :, None] * x[:, None, :], axis=0)[end]
        grad = (x[event] - s1).sum(axis=0)
        info = (s2 / s0[:, None, None] - s1[:, :, None] * s1[:, None, :]).sum(axis=0)
        step = np.linalg.solve(info, grad)
        beta += step
        if np.abs(step).max() < 1e-9:
            break
    return np.exp(beta)


def test_ph_only_recovers_the_cox_hazard_ratios(tmp_path: Path):
    simulate(tmp_path, households=3000, end_date=END, seed=SEED, ph_only=True)
    truth = _read(tmp_path, "_truth/households").join(
        _read(tmp_path, "households").select("household_id", "created_at"), on="household_id"
    )
    assert set(truth["churn_mechanism"].drop_nulls()) == {"profile_risk"}
    churn_by_plan = dict(
        truth.group_by("premium_at_signup")
        .agg(pl.col("churned_at").is_not_null().mean())
        .iter_rows()
    )
    assert churn_by_plan[False] > churn_by_plan[True]
    covariates = [
        "premium_at_signup",
        "initial_pets",
        "initial_members",
        "premium_features_first_30d",
        "health_equivalent",
    ]
    ratios = dict(
        zip(
            covariates,
            _cox_hazard_ratios(
                truth.select(pl.col(covariates).cast(pl.Float64)).to_numpy(),
                truth.select(
                    (pl.col("churned_at").fill_null(REF) - pl.col("created_at")).dt.total_days()
                )
                .to_series()
                .to_numpy(),
                truth["churned_at"].is_not_null().to_numpy(),
            ),
            strict=True,
        )
    )
    assert 0.3 <= ratios["premium_at_signup"] <= 0.6  # spec: 0.42
    assert 0.65 <= ratios["initial_members"] <= 0.85  # spec: 0.75
    assert 0.955 <= ratios["health_equivalent"] <= 0.985  # spec: 0.97 per health point


def test_scales_and_default_params_are_the_documented_ones():
    assert SCALES["demo"] == Scale(households=3000, signup_spread_days=730, activity_days=730)
    assert SCALES["bench"] == Scale(
        households=200_000, signup_spread_days=365, activity_days=120, activity_factor=1.3
    )
    p = SimulationParams()
    assert (p.hr_premium, p.hr_pet, p.hr_member, p.hr_premium_feature, p.hr_health_point) == (
        0.42,
        0.88,
        0.75,
        0.65,
        0.97,
    )
    with pytest.raises(ValueError, match="unknown scale"):
        simulate(Path("unused"), households=1, end_date=END, seed=1, scale="huge")


def _known(downgrade_day: int, trouble_days: range) -> np.ndarray:
    """`known_window_hazard` of one household signed up on day 0, nothing else happening."""
    n = 80
    trouble = np.zeros((1, n), bool)
    trouble[0, list(trouble_days)] = True
    far = np.array([10**6])
    inputs = HazardInputs(
        signup_day=np.array([0]), paid_start_day=far, premium_features_30d=np.array([0]),
        onset_day=far, downgrade_day=np.array([downgrade_day]),
        linear_predictor=np.array([0.0]), ticket_multiplier=np.ones((1, n)),
        payment_trouble=trouble)
    return known_window_hazard(inputs, ChunkGrid(0, n), SimulationParams())[0]


def test_the_known_state_oracle_counts_only_triggers_before_the_day():
    p = SimulationParams()
    quiet = _known(10**6, range(0))
    downgraded = _known(10, range(0)) - quiet
    assert np.allclose(downgraded[:11], 0)  # on day 10 the downgrade is not known yet
    assert downgraded[11] == pytest.approx(30 * p.post_downgrade_hazard)
    trouble = _known(10**6, range(5, 9)) - quiet
    assert np.allclose(trouble[:6], 0)  # a spike starting on the day is not known on it
    assert trouble[6] == pytest.approx(3 * p.payment_failure_hazard)  # days 6, 7, 8 remain
    assert trouble[8] == pytest.approx(p.payment_failure_hazard)
    assert np.allclose(trouble[9:], 0)
