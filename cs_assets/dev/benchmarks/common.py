"""What the three feature engines share: the as-of instant, the window constants, the command
line of one engine run, and how its time and peak memory are measured.

Each engine runs in its own process (`python -m cs_assets.dev.benchmarks.<engine> --raw DIR
--as-of DAY --out FILE.parquet`) so its peak resident memory is its own. It writes its
features to `FILE.parquet` and its figures to `FILE.json`. The timed span is everything
from opening the raw Parquet files to the features frame in memory; imports and writing
the result are outside it. Wall seconds are the figure compared; CPU seconds (all threads)
are recorded too, since the machine may be shared.

This module imports neither polars, pandas nor DuckDB, so no engine pays for another's
import in its peak memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cs_assets.contract.product import PRODUCT

# Mirrors cs_assets.features.daily.PEAK_HOURS (the bench checks they are equal).
PEAK_HOURS = (7, 8, 18, 19, 20, 21)
PAID_PLANS = PRODUCT.paid_plans
LATE_PAYMENT = timedelta(days=3)
# The raw tables the features read besides activity_events, and the columns read from each.
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "households": ("household_id", "created_at", "churned_at", "timezone"),
    "members": ("household_id", "joined_at", "removed_at"),
    "pets": ("pet_id", "household_id", "added_at", "removed_at"),
    "support_tickets": ("household_id", "created_at", "resolved_at", "priority", "csat_score"),
    "subscription_changes": ("household_id", "changed_at", "change_id", "change_type",
                             "from_plan", "to_plan", "mrr_after"),
    "payments": ("household_id", "due_at", "paid_at", "amount", "status"),
    "pet_health_observations": ("pet_id", "observed_at", "metric", "value"),
}
SMALL_TABLES = tuple(TABLE_COLUMNS)
EVENT_COLUMNS = (
    "household_id",
    "user_id",
    "occurred_at",
    "event_type",
    "session_minutes",
    "feature_name",
)


def as_of_instant(day: date) -> datetime:
    """Midnight UTC starting `day`: every input is cut strictly before it."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def table_path(raw: Path, table: str) -> Path:
    """`<raw>/<table>.parquet` or the folder `<raw>/<table>/` of part files."""
    single = raw / f"{table}.parquet"
    return single if single.is_file() else raw / table


def parquet_glob(raw: Path, table: str) -> str:
    path = table_path(raw, table)
    return str(path if path.suffix == ".parquet" else path / "*.parquet")


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB.

    Linux's `VmHWM` (the high-water mark of this program's memory, reset by exec).
    `getrusage(RUSAGE_SELF).ru_maxrss` is the fallback elsewhere: on Linux it also counts the
    parent's resident memory at the fork, which would charge an engine for the bench script.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    """User + system CPU time of this process (all its threads) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class EngineArgs:
    raw: Path
    as_of: date
    out: Path


def parse_engine_args(argv: list[str] | None = None) -> EngineArgs:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True, help="folder of raw Parquet tables")
    parser.add_argument("--as-of", type=date.fromisoformat, required=True)
    parser.add_argument("--out", type=Path, required=True, help="result Parquet file")
    ns = parser.parse_args(argv)
    return EngineArgs(raw=ns.raw, as_of=ns.as_of, out=ns.out)


def run_engine(
    name: str,
    compute: Callable[[Path, date], Any],
    write: Callable[[Any, Path], None],
    argv: list[str] | None = None,
    after: Callable[[Any, Path, date], dict[str, Any]] | None = None,
) -> None:
    """Time `compute(raw, as_of)`, record peak memory, write the frame and a JSON of figures.

    `after(frame, raw, as_of)` may time further work (the scoring chain); its figures are
    added to the JSON, and the features' own peak memory is taken before it runs.
    """
    args = parse_engine_args(argv)
    rss_before = peak_rss_mb()
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    frame = compute(args.raw, args.as_of)
    seconds = time.perf_counter() - started
    figures: dict[str, Any] = {
        "engine": name,
        "seconds": seconds,
        "cpu_seconds": _cpu_seconds() - cpu_before,
        "peak_rss_mb": peak_rss_mb(),
        "rss_after_imports_mb": rss_before,
        "rows": len(frame),
    }
    if after is not None:
        figures.update(after(frame, args.raw, args.as_of))
        figures["peak_rss_with_after_mb"] = peak_rss_mb()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write(frame, args.out)
    args.out.with_suffix(".json").write_text(json.dumps(figures, indent=2) + "\n")
