"""Benchmark: `household_features` for the last as-of day, three ways, on the same files.

    python -m cs_assets.dev.benchmarks.features_bench [--households N] [--skip-pandas]
        [--repeat N] [--compression snappy|zstd|lz4]

1. Generates the *bench* scale (200,000 households x 120 days of activity, about 70M
   events) with the simulator into `$CS_HOME/bench/raw` (snappy Parquet, as exported data
   usually comes; `raw-<codec>` for another codec), unless a dataset whose manifest matches
   is already there.
2. Computes the features as of the end date (the instant is midnight UTC; only data strictly
   before it) three ways, each in its own subprocess with its own peak memory:
   the project's polars code (`project_features`), pandas group-bys over the raw events
   (`pandas_features`, the spec's Python style) and one plain DuckDB query
   (`duckdb_features`). Each is timed from opening the Parquet files to the features frame.
   The project's run also times the scoring chain after it (health scores, trend alerts,
   tiers, explanations).
3. Checks the three agree on the household set and on every feature column
   (`COMPARED_COLUMNS`: all of `FEATURE_COLUMNS`; floats within `RTOL`/`ATOL`, nulls in the
   same places), prints the mismatches and exits 1 if they disagree.
4. Prints a table (seconds, ratio vs DuckDB, ratio vs pandas, peak RSS) and ends with one
   JSON line of every figure.

If pandas does not fit in memory at the bench scale (its process passes the memory budget,
or fails), the script says so and also runs all three on the largest household subset of
the same data that pandas fits (halving from the bench scale).

A watchdog kills any engine whose resident memory passes `--memory-budget-mb` (default 80%
of the memory available at start), so a run that cannot fit fails alone instead of
exhausting the machine. Speed targets are printed, not asserted: this is a script, not a test.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from cs_assets.dev.benchmarks import common
from cs_assets.dev.simulator import SCALES, simulate
from cs_assets.dev.simulator.engine import COMPRESSIONS, RAW_COMPRESSION
from cs_assets.features import daily
from cs_assets.features.household import FEATURE_COLUMNS
from cs_assets.settings import cs_home

BENCH_HOUSEHOLDS = 200_000
END_DATE = date(2026, 11, 1)
SEED = 7
SCALE = "bench"
ENGINES = ("project", "duckdb", "pandas")
MODULES = {name: f"cs_assets.dev.benchmarks.{name}_features" for name in ENGINES}
KEY = "household_id"
# Every feature column is compared; the core the issue names (window counts, trends, session
# minutes, active users, DAU/WAU, active days, feature adoption, weekend / peak-hour usage,
# days since last login, tickets, CSAT, critical tickets, plan / MRR, payment status) is in it.
COMPARED_COLUMNS = [c for c in FEATURE_COLUMNS if c != KEY]
RTOL = 1e-9
ATOL = 1e-9
TARGETS = {
    "ratio_vs_duckdb_max": 1.0,
    "speedup_vs_pandas_min": 8.0,
    "peak_rss_mb_max": 3072.0,
    "scoring_chain_ratio_max": 2.0,
    "signals_ratio_max": 0.5,  # the product's own signals: at most half the features' time
}


# ---------------------------------------------------------------- data


def _manifest_matches(raw: Path, households: int, compression: str = RAW_COMPRESSION) -> bool:
    path = raw / "_manifest.json"
    if not path.is_file():
        return False
    manifest = json.loads(path.read_text())
    return (
        manifest.get("households") == households
        and manifest.get("scale") == SCALE
        and manifest.get("seed") == SEED
        and manifest.get("end_date") == END_DATE.isoformat()
        # a dataset of an earlier bench scale (e.g. before its activity factor) is stale
        and manifest.get("scale_values") == dataclasses.asdict(SCALES[SCALE])
        and manifest.get("compression") == compression
    )


def ensure_dataset(root: Path, households: int, compression: str = RAW_COMPRESSION) -> Path:
    """The simulated raw tables for `households` in `compression`-coded Parquet, generated
    only when missing or stale."""
    name = "raw" if households == BENCH_HOUSEHOLDS else f"raw-{households}"
    raw = root / (name if compression == RAW_COMPRESSION else f"{name}-{compression}")
    if _manifest_matches(raw, households, compression):
        print(f"dataset: reusing {raw}", flush=True)
        return raw
    print(
        f"dataset: simulating {households:,} households ({SCALE} scale) into {raw} ...", flush=True
    )
    (raw / "_manifest.json").unlink(missing_ok=True)
    summary = simulate(raw, households=households, end_date=END_DATE, seed=SEED, scale=SCALE,
                       compression=compression)
    print(f"dataset: {summary.events:,} events in {summary.seconds:.0f} s", flush=True)
    return raw


def count_events(raw: Path) -> int:
    return (
        pl.scan_parquet(common.parquet_glob(raw, "activity_events"))
        .select(pl.len())
        .collect()
        .item()
    )


def subset_dataset(raw: Path, dest: Path, households: int, compression: str) -> Path:
    """The first `households` households of `raw` with all their rows, in the same codec: the
    same data at a smaller scale (for when pandas does not fit the whole)."""
    marker = dest / "_subset.json"
    spec = {"source": str(raw), "households": households, "compression": compression}
    if marker.is_file() and json.loads(marker.read_text()) == spec:
        return dest
    (dest / "activity_events").mkdir(parents=True, exist_ok=True)
    homes = pl.read_parquet(common.parquet_glob(raw, "households")).head(households)
    homes.write_parquet(dest / "households.parquet", compression=compression)
    ids = homes.get_column(KEY).implode()
    for table in common.SMALL_TABLES:
        if table in ("households", "pet_health_observations"):
            continue
        pl.scan_parquet(common.parquet_glob(raw, table)).filter(
            pl.col(KEY).is_in(ids)
        ).sink_parquet(dest / f"{table}.parquet", compression=compression)
    pets = pl.read_parquet(dest / "pets.parquet", columns=["pet_id"]).get_column("pet_id")
    pl.scan_parquet(common.parquet_glob(raw, "pet_health_observations")).filter(
        pl.col("pet_id").is_in(pets.implode())
    ).sink_parquet(dest / "pet_health_observations.parquet", compression=compression)
    pl.scan_parquet(common.parquet_glob(raw, "activity_events")).filter(
        pl.col(KEY).is_in(ids)
    ).sink_parquet(dest / "activity_events" / "part-00000.parquet", compression=compression)
    marker.write_text(json.dumps(spec))
    return dest


# ---------------------------------------------------------------- running an engine


@dataclass
class Run:
    engine: str
    ok: bool
    figures: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    @property
    def seconds(self) -> float:
        return self.figures["seconds"]

    @property
    def peak_mb(self) -> float:
        return self.figures["peak_rss_mb"]

    @property
    def cpu_seconds(self) -> float:
        return self.figures["cpu_seconds"]


def _available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return 16 * 1024.0


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_engine(engine: str, raw: Path, out_dir: Path, budget_mb: float) -> Run:
    """One engine in its own process, killed if its memory passes `budget_mb`."""
    out = out_dir / f"{engine}.parquet"
    out.unlink(missing_ok=True)
    out.with_suffix(".json").unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-m",
        MODULES[engine],
        "--raw",
        str(raw),
        "--as-of",
        END_DATE.isoformat(),
        "--out",
        str(out),
    ]
    print(f"  {engine:8s} running ...", end="", flush=True)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    peak_seen = 0.0
    killed = False
    while proc.poll() is None:
        peak_seen = max(peak_seen, _rss_mb(proc.pid))
        if peak_seen > budget_mb:
            proc.kill()
            killed = True
            break
        time.sleep(0.1)
    _, stderr = proc.communicate()
    wall = time.perf_counter() - started
    if killed:
        print(f" killed above the {budget_mb:,.0f} MB memory budget after {wall:.0f} s")
        return Run(engine, False, error=f"over the {budget_mb:,.0f} MB memory budget")
    if proc.returncode != 0 or not out.with_suffix(".json").is_file():
        tail = "\n".join(stderr.strip().splitlines()[-5:])
        print(f" failed (exit {proc.returncode}):\n{tail}")
        reason = "MemoryError" if "MemoryError" in stderr else f"exit {proc.returncode}"
        return Run(engine, False, error=reason)
    figures = json.loads(out.with_suffix(".json").read_text())
    print(f" {figures['seconds']:.1f} s, peak {figures['peak_rss_mb']:,.0f} MB")
    return Run(engine, True, figures)


def best_run(engine: str, runs: list[Run], out_dir: Path) -> Run:
    """The fastest of an engine's runs; peak memory is the largest seen. Its result files are
    moved to `out_dir`, where the agreement check reads them."""
    ok = [r for r in runs if r.ok]
    if not ok:
        return runs[0]
    index = min(range(len(runs)), key=lambda i: runs[i].seconds if runs[i].ok else float("inf"))
    best = runs[index]
    best.figures["peak_rss_mb"] = max(r.peak_mb for r in ok)
    best.figures["runs"] = len(ok)
    best.figures["all_seconds"] = [round(r.seconds, 2) for r in ok]
    if len(runs) > 1:
        for suffix in (".parquet", ".json"):
            (out_dir / f"run-{index}" / f"{engine}{suffix}").replace(out_dir / f"{engine}{suffix}")
    return best


def run_all(
    engines: list[str], raw: Path, out_dir: Path, budget_mb: float, repeat: int = 1
) -> dict[str, Run]:
    """Each engine `repeat` times, in rounds (every engine once per round), so a slow spell of
    a shared machine falls on all of them rather than on one; each keeps its fastest run."""
    runs: dict[str, list[Run]] = {engine: [] for engine in engines}
    for i in range(repeat):
        if repeat > 1:
            print(f" round {i + 1} of {repeat}:", flush=True)
        for engine in engines:
            where = out_dir / f"run-{i}" if repeat > 1 else out_dir
            runs[engine].append(run_engine(engine, raw, where, budget_mb))
    return {engine: best_run(engine, engine_runs, out_dir) for engine, engine_runs in runs.items()}


# ---------------------------------------------------------------- agreement


def _normalise(frame: pl.DataFrame) -> pl.DataFrame:
    """Common types across engines: numbers as Float64, flags as Boolean, dates as Date."""
    casts = []
    for name, dtype in frame.schema.items():
        if name == KEY or dtype == pl.String:
            casts.append(pl.col(name).cast(pl.String))
        elif dtype == pl.Boolean:
            casts.append(pl.col(name))
        elif dtype.is_temporal():
            casts.append(pl.col(name).cast(pl.Date))
        else:
            casts.append(pl.col(name).cast(pl.Float64))
    return frame.select(casts).sort(KEY)


def compare(reference: pl.DataFrame, other: pl.DataFrame, name: str) -> list[str]:
    """Differences of `other` from `reference` (empty when they agree)."""
    problems = []
    missing = [c for c in [KEY, *COMPARED_COLUMNS] if c not in other.columns]
    if missing:
        return [f"{name}: missing columns {missing}"]
    ref = _normalise(reference.select(KEY, *COMPARED_COLUMNS))
    oth = _normalise(other.select(KEY, *COMPARED_COLUMNS))
    only_ref = ref.join(oth, on=KEY, how="anti").height
    only_oth = oth.join(ref, on=KEY, how="anti").height
    if only_ref or only_oth:
        problems.append(
            f"{name}: household sets differ ({only_ref} only in project, {only_oth} only in {name})"
        )
    both = ref.join(oth, on=KEY, how="inner", suffix="__other")
    for col in COMPARED_COLUMNS:
        a, b = pl.col(col), pl.col(f"{col}__other")
        if both.schema[col] == pl.Float64:
            same = (a.is_null() & b.is_null()) | (
                a.is_not_null() & b.is_not_null() & ((a - b).abs() <= ATOL + RTOL * b.abs())
            )
        else:
            same = a.eq_missing(b)
        bad = both.filter(~same.fill_null(False))
        if bad.height:
            example = bad.select(KEY, col, f"{col}__other").head(3).rows()
            problems.append(
                f"{name}: {col} differs for {bad.height:,} households, "
                f"e.g. (household, project, {name}) {example}"
            )
    return problems


def agreement(runs: dict[str, Run], out_dir: Path) -> tuple[bool, list[str]]:
    reference = pl.read_parquet(out_dir / "project.parquet")
    problems: list[str] = []
    for engine, run in runs.items():
        if engine != "project" and run.ok:
            problems += compare(reference, pl.read_parquet(out_dir / f"{engine}.parquet"), engine)
    return not problems, problems


# ---------------------------------------------------------------- report


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _fmt(x: float | None, spec: str) -> str:
    return format(x, spec) if x is not None else format("-", f">{spec.split('.')[0]}")


def summarise(runs: dict[str, Run], households: int, events: int) -> dict[str, Any]:
    seconds = {e: r.seconds if r.ok else None for e, r in runs.items()}
    cpu = {e: r.cpu_seconds if r.ok else None for e, r in runs.items()}
    peaks = {e: r.peak_mb if r.ok else None for e, r in runs.items()}
    project = runs["project"].figures if runs["project"].ok else {}
    scoring = project.get("scoring_seconds")
    chain = seconds["project"] + scoring if scoring is not None else None
    return {
        "households": households,
        "events": events,
        "seconds": seconds,
        "seconds_of_every_run": {e: r.figures.get("all_seconds") for e, r in runs.items()},
        "cpu_seconds": cpu,
        "peak_rss_mb": peaks,
        "ratio_project_vs_duckdb": _ratio(seconds.get("project"), seconds.get("duckdb")),
        "ratio_project_vs_pandas": _ratio(seconds.get("project"), seconds.get("pandas")),
        "speedup_vs_pandas": _ratio(seconds.get("pandas"), seconds.get("project")),
        "speedup_vs_duckdb": _ratio(seconds.get("duckdb"), seconds.get("project")),
        "scoring_seconds": scoring,
        "signals_seconds": project.get("signals_seconds"),
        "signals_columns": project.get("signals_columns"),
        "signals_to_features_ratio": _ratio(project.get("signals_seconds"),
                                            seconds.get("project")),
        "features_to_tiers_seconds": chain,
        "features_to_tiers_ratio": _ratio(chain, seconds.get("project")),
        "errors": {e: r.error for e, r in runs.items() if not r.ok},
    }


def print_table(title: str, runs: dict[str, Run], summary: dict[str, Any]) -> None:
    secs = summary["seconds"]
    print(
        f"\n{title}: {summary['households']:,} households, {summary['events']:,} events, "
        f"as of {END_DATE}"
    )
    print(
        f"  {'engine':8s} {'seconds':>9s} {'vs duckdb':>10s} {'vs pandas':>10s} "
        f"{'peak RSS MB':>12s} {'CPU s':>8s}"
    )
    for engine, run in runs.items():
        if not run.ok:
            print(
                f"  {engine:8s} {'-':>9s} {'-':>10s} {'-':>10s} {'-':>12s} {'-':>8s}  ({run.error})"
            )
            continue
        print(
            f"  {engine:8s} {run.seconds:9.1f} "
            f"{_fmt(_ratio(run.seconds, secs.get('duckdb')), '10.2f')} "
            f"{_fmt(_ratio(run.seconds, secs.get('pandas')), '10.3f')} "
            f"{run.peak_mb:12,.0f} {run.cpu_seconds:8.1f}"
        )
    print(
        "  (seconds: wall clock from opening the Parquet files to the features frame, the "
        "fastest run; ratios are seconds / the other engine's; CPU s: all threads)"
    )
    every = summary["seconds_of_every_run"]
    if any(seconds and len(seconds) > 1 for seconds in every.values()):
        print("  every run: " + "; ".join(
            f"{e} {' / '.join(f'{s:.1f}' for s in secs)}" for e, secs in every.items() if secs
        ))
    if summary["scoring_seconds"] is not None:
        print(
            f"  scoring chain (health scores -> trend alerts -> tiers -> explanations): "
            f"{summary['scoring_seconds']:.1f} s; features -> tiers "
            f"{summary['features_to_tiers_seconds']:.1f} s = "
            f"{summary['features_to_tiers_ratio']:.2f}x the features time"
        )
    if summary["signals_seconds"] is not None:
        print(
            f"  product signals ({summary['signals_columns']} columns, default metrics of "
            f"every event type), timed apart: {summary['signals_seconds']:.1f} s = "
            f"{summary['signals_to_features_ratio']:.2f}x the features time"
        )


def targets(summary: dict[str, Any]) -> dict[str, bool | None]:
    def at_most(x: float | None, limit: float) -> bool | None:
        return None if x is None else x <= limit

    speedup = summary["speedup_vs_pandas"]
    return {
        "project_no_slower_than_duckdb": at_most(
            summary["ratio_project_vs_duckdb"], TARGETS["ratio_vs_duckdb_max"]
        ),
        "project_8x_faster_than_pandas": None
        if speedup is None
        else speedup >= TARGETS["speedup_vs_pandas_min"],
        "project_peak_rss_within_3gb": at_most(
            summary["peak_rss_mb"]["project"], TARGETS["peak_rss_mb_max"]
        ),
        "features_to_tiers_within_2x": at_most(
            summary["features_to_tiers_ratio"], TARGETS["scoring_chain_ratio_max"]
        ),
        "signals_within_half_the_features": at_most(
            summary["signals_to_features_ratio"], TARGETS["signals_ratio_max"]
        ),
    }


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="household_features: project vs pandas vs DuckDB at the bench scale"
    )
    parser.add_argument("--households", type=int, default=BENCH_HOUSEHOLDS)
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="where datasets and results go (default $CS_HOME/bench)",
    )
    parser.add_argument(
        "--memory-budget-mb",
        type=float,
        default=None,
        help="kill an engine above this RSS (default 80%% of available)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run every engine this many times, in rounds, and keep each one's fastest run",
    )
    parser.add_argument(
        "--compression",
        choices=COMPRESSIONS,
        default=RAW_COMPRESSION,
        help="Parquet codec of the generated raw files (default %(default)s)",
    )
    args = parser.parse_args(argv)

    if common.PEAK_HOURS != daily.PEAK_HOURS:
        raise SystemExit("benchmarks.common.PEAK_HOURS no longer mirrors features.daily")
    root = args.cache or cs_home() / "bench"
    budget = args.memory_budget_mb or 0.8 * _available_mb()
    raw = ensure_dataset(root, args.households, args.compression)
    events = count_events(raw)
    engines = [e for e in ENGINES if not (args.skip_pandas and e == "pandas")]
    print(
        f"engines in separate processes, memory budget {budget:,.0f} MB each; "
        f"{os.cpu_count()} CPUs, {events:,} events in {args.compression} Parquet",
        flush=True,
    )
    out_dir = root / "results" / raw.name
    runs = run_all(engines, raw, out_dir, budget, args.repeat)
    if not runs["project"].ok:
        print("the project's features failed; nothing to compare")
        return 1

    agree, problems = agreement(runs, out_dir)
    summary = summarise(runs, args.households, events)
    print_table("bench scale" if args.households == BENCH_HOUSEHOLDS else "scale", runs, summary)

    fallback = None
    pandas_run = runs.get("pandas")
    if pandas_run is not None and not pandas_run.ok:
        print(
            f"\npandas does not fit at {args.households:,} households "
            f"({pandas_run.error}); running all three at the largest scale it fits:"
        )
        size = args.households // 2
        while size >= 1000:
            sub = subset_dataset(raw, root / f"subset-{size}", size, args.compression)
            sub_dir = root / "results" / sub.name
            print(f" {size:,} households:")
            pandas_sub = run_engine("pandas", sub, sub_dir, budget)
            if pandas_sub.ok:
                sub_runs = {e: run_engine(e, sub, sub_dir, budget) for e in ("project", "duckdb")}
                sub_runs["pandas"] = pandas_sub
                sub_agree, sub_problems = agreement(sub_runs, sub_dir)
                agree, problems = agree and sub_agree, problems + sub_problems
                fallback = summarise(sub_runs, size, count_events(sub))
                print_table("largest scale pandas fits", sub_runs, fallback)
                break
            size //= 2

    print(
        f"\nagreement over {len(COMPARED_COLUMNS)} feature columns "
        f"(floats within rtol {RTOL:g} / atol {ATOL:g}): {'yes' if agree else 'NO'}"
    )
    for problem in problems:
        print(f"  {problem}")
    met = targets(summary)
    if fallback is not None:
        met["project_8x_faster_than_pandas"] = targets(fallback)["project_8x_faster_than_pandas"]
    print(
        "targets: "
        + ", ".join(
            f"{k}={'met' if v else 'n/a' if v is None else 'NOT met'}" for k, v in met.items()
        )
    )
    figures = {
        "benchmark": "household_features",
        "as_of": END_DATE.isoformat(),
        "compression": args.compression,
        **summary,
        "agreement": agree,
        "compared_columns": len(COMPARED_COLUMNS),
        "targets": met,
        "cpus": os.cpu_count(),
    }
    if fallback is not None:
        figures["pandas_scale_note"] = (
            f"pandas does not fit at {args.households:,} households; all three were also run "
            f"at {fallback['households']:,} households, the largest scale pandas fits"
        )
        figures["at_pandas_scale"] = fallback
    print(json.dumps(figures, default=str))
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
