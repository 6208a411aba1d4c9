"""`simulate`: write a deterministic demo data set of every raw table plus ground truth.

Layout of `out_dir`:

* `<table>.parquet` for each raw table, `activity_events/part-NNNNN.parquet` (one
  part per chunk of households);
* `_truth/households.parquet` (churn mechanism, churned_at, Cox covariates) and
  `_truth/hazard_daily.parquet` (the latent daily hazard and two 30-day churn oracles: with
  foresight, and from what is known on the day);
* `_manifest.json` (inputs, parameters, row counts; identical across reruns) and
  `_timings.json` (seconds per phase; the only file that differs).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from cs_assets.contract.tables import TABLES
from cs_assets.dev.simulator.activity import Events
from cs_assets.dev.simulator.catalog import EVENT_TYPES, FEATURE_NAMES, ZONES
from cs_assets.dev.simulator.chunk import ChunkResult, Outcome, rng_for, simulate_chunk
from cs_assets.dev.simulator.hazards import ORACLE_DAYS
from cs_assets.dev.simulator.households import households_frame, referral_codes, truth_frame
from cs_assets.dev.simulator.ids import household_id, id_width, sequence_id, slot_id
from cs_assets.dev.simulator.params import SCALES, Scale, SimulationParams
from cs_assets.dev.simulator.population import Population, draw_population
from cs_assets.dev.simulator.timegrid import Calendar, utc_offsets_us
from cs_assets.vocabulary import UTC_TS

EVENT_ID_WIDTH = 10
# Per table: extra sort keys after the household, and the generated key (column, prefix).
FINISH: dict[str, tuple[list[str], tuple[str, str] | None]] = {
    "members": (["slot"], None),
    "pets": (["slot"], None),
    "support_tickets": (["created_at"], ("ticket_id", "t_")),
    "subscription_changes": (["changed_at"], ("change_id", "sc_")),
    "payments": (["due_at"], ("payment_id", "pay_")),
    "nps_responses": (["responded_at"], ("response_id", "nps_")),
    "pet_health_observations": (["slot", "observed_at", "metric"], ("observation_id", "obs_")),
    "success_plans": (["quarter", "j"], ("plan_goal_id", "goal_")),
    "reviews": (["submitted_at"], ("review_id", "rev_")),
}


@dataclasses.dataclass(frozen=True)
class SimulationSummary:
    """What a run produced; the CLI prints events per second."""

    out_dir: Path
    rows: dict[str, int]  # raw tables and `_truth/*`
    events: int
    seconds: float
    events_per_second: float


# Snappy: the codec exported product data usually arrives in (the default of pyarrow, Spark,
# DuckDB and warehouse unloads). At the bench scale the features take about a sixth less CPU
# on snappy files than on zstd ones, which are 1.7x smaller (docs/benchmarks.md, "The codec").
RAW_COMPRESSION = "snappy"
COMPRESSIONS = ("snappy", "zstd", "lz4")  # codecs both polars and pyarrow write


def _write(df: pl.DataFrame, path: Path, compression: str) -> None:
    """Parquet without statistics: the same frame always gives the same bytes."""
    df.write_parquet(path, compression=compression, statistics=False)


def _finish(name: str, df: pl.DataFrame, width: int) -> pl.DataFrame:
    """Sort by household then time, attach string ids, keep the contract's columns."""
    sort, key = FINISH[name]
    df = df.sort(["h", *sort], maintain_order=True)
    h = pl.col("h")
    ids = {"household_id": household_id(h, width)}
    if name == "members":
        ids["user_id"] = slot_id("u_", h, pl.col("slot"), width)
    if name in ("pets", "pet_health_observations"):
        ids["pet_id"] = slot_id("pet_", h, pl.col("slot"), width)
    if key:
        ids[key[0]] = sequence_id(key[1], 0)
    return df.with_columns(**ids).select(list(TABLES[name].columns))


def _events_frame(ev: Events, offset: int, first_id: int, width: int) -> pl.DataFrame:
    df = pl.DataFrame(
        {
            "h": ev.h + offset,
            "us": ev.us,
            "code": ev.code,
            "slot": ev.slot,
            "minutes": ev.minutes,
            "feature": ev.feature,
        }
    ).sort(["h", "us", "code"], maintain_order=True)
    h, slot, feature = pl.col("h"), pl.col("slot"), pl.col("feature")
    return df.select(
        sequence_id("ev_", first_id, EVENT_ID_WIDTH).alias("event_id"),
        household_id(h, width).alias("household_id"),
        pl.when(slot >= 0).then(slot_id("u_", h, slot, width)).alias("user_id"),
        pl.col("us").cast(UTC_TS).alias("occurred_at"),
        pl.lit(pl.Series(EVENT_TYPES)).gather(pl.col("code")).alias("event_type"),
        pl.col("minutes").fill_nan(None).alias("session_minutes"),
        pl.lit(pl.Series(FEATURE_NAMES))
        .gather(pl.when(feature >= 0).then(feature))
        .alias("feature_name"),
    )


def _hazard_frame(res: ChunkResult, cal: Calendar, offset: int, width: int) -> pl.DataFrame:
    h, day, hazard, p30, p30_known = res.hazard
    return pl.DataFrame(
        {
            "h": h + offset,
            "day": (day + cal.epoch_day).astype(np.int32),
            "hazard": hazard,
            "p_churn_30d": p30,
            "p_churn_30d_known": p30_known,
        }
    ).select(
        household_id(pl.col("h"), width).alias("household_id"),
        pl.col("day").cast(pl.Date),
        "hazard",
        "p_churn_30d",
        "p_churn_30d_known",
    )


def _resolve_scale(scale: str | Scale) -> tuple[str, Scale]:
    if isinstance(scale, Scale):
        return "custom", scale
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; expected one of {sorted(SCALES)}")
    return scale, SCALES[scale]


def simulate(
    out_dir: Path,
    *,
    households: int,
    end_date: dt.date,
    seed: int,
    scale: str | Scale = "demo",
    ph_only: bool = False,
    params: SimulationParams | None = None,
    compression: str = RAW_COMPRESSION,
) -> SimulationSummary:
    """Simulate `households` households up to `end_date` (exclusive, midnight UTC).

    Same inputs, same bytes. `scale` names a SCALES entry (or is a Scale) for the
    signup spread and the activity span; `ph_only` keeps only the Cox component of
    the hazard so a Cox fit on the truth covariates recovers the spec's ratios.
    `compression` is the Parquet codec of every file written (recorded in the manifest).
    """
    started = time.perf_counter()
    scale_name, sc = _resolve_scale(scale)
    if households < 1:
        raise ValueError(f"households must be at least 1, got {households}")
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression: expected one of {COMPRESSIONS}, got {compression!r}")
    p = params or SimulationParams()
    if ph_only:
        p = p.proportional_hazards_only()
    if sc.activity_factor != 1.0:
        p = p.busier(sc.activity_factor)
    out_dir = Path(out_dir)
    (out_dir / "_truth").mkdir(parents=True, exist_ok=True)

    cal = Calendar.build(end_date, sc.signup_spread_days, sc.activity_days, ORACLE_DAYS)
    pop = draw_population(households, cal, sc.signup_spread_days, p, rng_for(seed, "population"))
    width = id_width(households)
    timings = {"population": time.perf_counter() - started}
    outcomes, frames, rows = _run_chunks(out_dir, pop, cal, p, seed, width, compression)
    timings["chunks"] = time.perf_counter() - started - timings["population"]
    rows.update(_write_tables(out_dir, pop, outcomes, frames, p, seed, width, compression))
    timings["tables"] = time.perf_counter() - started - sum(timings.values())
    manifest = {
        "seed": seed,
        "end_date": end_date.isoformat(),
        "households": households,
        "scale": scale_name,
        "scale_values": dataclasses.asdict(sc),
        "ph_only": ph_only,
        "compression": compression,
        "params": dataclasses.asdict(p),
        "rows": dict(sorted(rows.items())),
    }
    (out_dir / "_manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    seconds = time.perf_counter() - started
    timings["total"] = seconds
    (out_dir / "_timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    events = rows["activity_events"]
    return SimulationSummary(
        out_dir=out_dir,
        rows=rows,
        events=events,
        seconds=seconds,
        events_per_second=events / seconds if seconds > 0 else 0.0,
    )


def _run_chunks(
    out_dir: Path, pop: Population, cal: Calendar, p: SimulationParams, seed: int, width: int,
    compression: str,
) -> tuple[list[Outcome], dict[str, list[pl.DataFrame]], dict[str, int]]:
    """Simulate chunk by chunk; events and hazard truth go to disk as each chunk is done."""
    events_dir = out_dir / "activity_events"
    events_dir.mkdir(exist_ok=True)
    for stale in events_dir.glob("part-*.parquet"):  # a previous, larger run's parts
        stale.unlink()
    offsets = utc_offsets_us(cal, ZONES)
    frames: dict[str, list[pl.DataFrame]] = {name: [] for name in FINISH}
    outcomes: list[Outcome] = []
    n_events = n_hazard = 0
    writer: pq.ParquetWriter | None = None
    for index, start in enumerate(range(0, len(pop), p.chunk_households)):
        stop = min(start + p.chunk_households, len(pop))
        res = simulate_chunk(pop.slice(start, stop), cal, offsets, p, seed, index, start)
        events = _events_frame(res.events, start, n_events, width)
        _write(events, events_dir / f"part-{index:05d}.parquet", compression)
        n_events += events.height
        hazard = _hazard_frame(res, cal, start, width).to_arrow()
        if writer is None:
            writer = pq.ParquetWriter(
                out_dir / "_truth" / "hazard_daily.parquet",
                hazard.schema,
                compression=compression,
                write_statistics=False,
            )
        writer.write_table(hazard)
        n_hazard += hazard.num_rows
        for name, df in res.frames.items():
            frames[name].append(df)
        outcomes.append(res.outcome)
        del res, events, hazard  # free this chunk before the next one is drawn
    if writer is not None:
        writer.close()
    return outcomes, frames, {"activity_events": n_events, "_truth/hazard_daily": n_hazard}


def _write_tables(
    out_dir: Path,
    pop: Population,
    outcomes: list[Outcome],
    frames: dict[str, list[pl.DataFrame]],
    p: SimulationParams,
    seed: int,
    width: int,
    compression: str,
) -> dict[str, int]:
    """Household-level tables (they need everyone's churn) and every collected table."""
    outcome = Outcome.concat(outcomes)
    codes, used = referral_codes(pop, outcome.stop_us, p, rng_for(seed, "referrals"))
    tables = {
        "households": households_frame(pop, outcome.churn_us, used),
        "referral_codes": codes.sort("h", "issued_at", maintain_order=True),
        **{name: pl.concat(parts) for name, parts in frames.items()},
        "_truth/households": truth_frame(pop, outcome, p),
    }
    rows: dict[str, int] = {}
    for name, df in tables.items():
        if name in FINISH:
            df = _finish(name, df, width)
        else:
            columns = list(TABLES[name].columns) if name in TABLES else df.columns[1:]
            df = df.with_columns(household_id=household_id(pl.col("h"), width)).select(
                "household_id", pl.col(columns).exclude("household_id")
            )
        _write(df, out_dir / f"{name}.parquet", compression)
        rows[name] = df.height
    return rows
