"""Benchmark: fitting the churn candidates at scale, the spec's GBM vs HistGradientBoosting.

    python -m cs_assets.dev.benchmarks.training_bench [--households N] [--rows N] [--big-rows N]
                                                  [--skip-spec-gbm] [--threads N]

1. Simulates `--households` households (demo scale: two years of signups and activity) into
   `$CS_HOME/bench/training/<households>/raw`, unless a dataset whose manifest matches is
   already there.
2. Builds the labelled observations the churn training set is made of, but on *daily* as-of
   days (the pipeline uses weekly ones) over the last 12 months: every day from the reference
   day minus 365 days to the last day whose 30-day label window is over. Daily spacing is what
   gives over a million training-period rows from 16,000 households. The result is
   cached as `observations/observations.parquet`, reused while its `_manifest.json` (the raw
   data's manifest, the scorecard and the day spacing) matches; delete the folder to rebuild.
3. Splits it out of time as `churn_model` does (holdout: the latest 112 as-of days; training:
   days whose label window closes before the holdout starts), shuffles the training rows once
   with seed `SEED` and takes the first `--rows` / `--big-rows` (uniform samples of whole rows
   without replacement; the smaller is part of the larger).
4. Fits `spec_gbm` on `--rows` and `hist_gbm` on `--rows` and `--big-rows`, each seeded with
   `SEED`, and scores every model on the same full holdout. Prints a table (fit wall and CPU
   seconds, holdout predict seconds, ROC-AUC, PR-AUC) and ends with one JSON line of every
   figure. Fit time is `fit` alone: building the design matrix is outside it. The candidates
   are taken as `churn.candidates` defines them at run time; each model's repr is recorded.

The machine's CPU count, load average and OpenMP thread count are printed because the spec's
GBM is single-threaded while HistGradientBoosting runs OpenMP threads on every core, so its
times move with other work on the box: on a busy 2-core machine two spinning OpenMP threads
can be many times slower than one (`--threads 1` caps them).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from threadpoolctl import threadpool_info, threadpool_limits

from cs_assets.churn.candidates import CANDIDATES
from cs_assets.churn.dataset import LABEL, label_observations, out_of_time_split, snapshot_days
from cs_assets.churn.design import design_matrix
from cs_assets.churn.metrics import classification_metrics
from cs_assets.churn.snapshots import features_and_scores
from cs_assets.dev.evaluation.raw_folder import load_feature_inputs, reference_time
from cs_assets.dev.simulator.engine import simulate
from cs_assets.scoring import DEFAULT_SCORECARD_PATH, load_scorecard
from cs_assets.settings import cs_home
from cs_assets.vocabulary import AS_OF, HH

DEFAULT_HOUSEHOLDS = 16_000  # about 1.3M training-period rows at daily as-of days
END_DATE = date(2026, 11, 1)
SIM_SEED = 7
SCALE = "demo"
EVERY_DAYS = 1
LOOKBACK_DAYS = 365
LABEL_DAYS = 30
HOLDOUT_DAYS = 112
SEED = 42  # the row sample and the models (the churn_model asset's default seed)


# ---------------------------------------------------------------- data


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ensure_raw(data: Path, households: int) -> Path:
    """The simulated raw tables, generated only when missing or stale."""
    raw = data / "raw"
    manifest = raw / "_manifest.json"
    if manifest.is_file():
        found = json.loads(manifest.read_text())
        wanted = {"households": households, "scale": SCALE, "seed": SIM_SEED,
                  "end_date": END_DATE.isoformat()}
        if all(found.get(k) == v for k, v in wanted.items()):
            print(f"raw data: reusing {raw}", flush=True)
            return raw
    print(f"raw data: simulating {households:,} households ({SCALE} scale) into {raw} ...",
          flush=True)
    manifest.unlink(missing_ok=True)
    summary = simulate(raw, households=households, end_date=END_DATE, seed=SIM_SEED, scale=SCALE)
    print(f"raw data: {summary.events:,} events in {summary.seconds:.0f} s", flush=True)
    return raw


def _observations_spec(raw: Path) -> dict[str, Any]:
    """What the cached observations depend on: a change to any of it rebuilds them."""
    return {
        "raw_manifest_sha256": _sha256(raw / "_manifest.json"),
        "scorecard_sha256": _sha256(DEFAULT_SCORECARD_PATH),
        "every_days": EVERY_DAYS,
        "lookback_days": LOOKBACK_DAYS,
        "label_days": LABEL_DAYS,
    }


def build_observations(raw: Path) -> pl.DataFrame:
    """Features and scores on every as-of day of the last 12 months whose label is known,
    labelled `churned_30d` exactly as the churn training set is."""
    reference = reference_time(raw)
    first = reference.date() - timedelta(days=LOOKBACK_DAYS)
    days = snapshot_days(reference - timedelta(days=LABEL_DAYS), first, EVERY_DAYS)
    print(f"observations: features and scores on {len(days)} as-of days "
          f"({days[0]}..{days[-1]}, every {EVERY_DAYS} day(s)) ...", flush=True)
    inputs = load_feature_inputs(raw)
    frame = features_and_scores(inputs, days, load_scorecard())
    churn = inputs.households.select(HH, "churned_at")
    return label_observations(frame, churn, reference, LABEL_DAYS)


def ensure_observations(data: Path, raw: Path) -> tuple[pl.DataFrame, float | None]:
    """The labelled observations and the seconds spent building them (None: cache reused)."""
    folder = data / "observations"
    path, manifest = folder / "observations.parquet", folder / "_manifest.json"
    spec = _observations_spec(raw)
    if manifest.is_file() and path.is_file() and json.loads(manifest.read_text()) == spec:
        print(f"observations: reusing {path}", flush=True)
        return pl.read_parquet(path), None
    started = time.perf_counter()
    manifest.unlink(missing_ok=True)
    frame = build_observations(raw)
    folder.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path)
    manifest.write_text(json.dumps(spec, indent=2))
    seconds = time.perf_counter() - started
    print(f"observations: {frame.height:,} rows in {seconds:.0f} s, cached in {path}", flush=True)
    return frame, seconds


def take(shuffled: pl.DataFrame, rows: int, notes: list[str]) -> pl.DataFrame:
    """The first `rows` shuffled training rows, or all of them (with a note) if fewer exist."""
    if rows > shuffled.height:
        notes.append(f"asked for {rows:,} training rows; the training period has only "
                     f"{shuffled.height:,}, so all of them were used")
        print(f"NOTE: {notes[-1]}", flush=True)
    return shuffled.head(rows)


# ---------------------------------------------------------------- fitting


def _iterations(model) -> int:
    """Boosting rounds actually fitted (HistGradientBoosting stops early)."""
    return int(getattr(model, "n_iter_", None) or model[-1].n_estimators_)


def run(name: str, sample: pl.DataFrame, X_test, y_test: np.ndarray) -> dict[str, Any]:
    """Fit candidate `name` on `sample`, then predict and score the whole holdout."""
    X = design_matrix(sample)
    y = sample[LABEL].cast(pl.Int8).to_numpy()
    model = CANDIDATES[name](SEED)
    print(f"  {name:8s} on {sample.height:>9,} rows: fitting ...", end="", flush=True)
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(X, y)
    fit_seconds, fit_cpu = time.perf_counter() - wall, time.process_time() - cpu
    started = time.perf_counter()
    p = model.predict_proba(X_test)[:, 1]
    predict_seconds = time.perf_counter() - started
    metrics = classification_metrics(y_test, p)
    print(f" {fit_seconds:.1f} s, ROC-AUC {metrics['roc_auc']:.4f}", flush=True)
    return {
        "candidate": name,
        "rows": sample.height,
        "fit_seconds": fit_seconds,
        "fit_cpu_seconds": fit_cpu,
        "predict_seconds": predict_seconds,
        "iterations": _iterations(model),
        "roc_auc": metrics["roc_auc"],
        "pr_auc": metrics["pr_auc"],
        "model": " ".join(repr(model).split()),
    }


# ---------------------------------------------------------------- report


def openmp_threads() -> int | None:
    """The OpenMP threads scikit-learn's HistGradientBoosting would use now."""
    counts = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"]
    return max(counts, default=None)


def _period(frame: pl.DataFrame) -> dict[str, Any]:
    return {
        "first_day": str(frame[AS_OF].min()),
        "last_day": str(frame[AS_OF].max()),
        "days": frame[AS_OF].n_unique(),
        "rows": frame.height,
        "churn_rate": float(frame[LABEL].mean()),
    }


def _describe(label: str, period: dict[str, Any]) -> str:
    return (f"{label} {period['first_day']}..{period['last_day']} ({period['days']} days): "
            f"{period['rows']:,} rows, churn rate {period['churn_rate']:.2%}")


def print_table(results: list[dict[str, Any]]) -> None:
    print(f"\n  {'candidate':9s} {'rows':>10s} {'fit s':>8s} {'fit CPU s':>10s} "
          f"{'predict s':>10s} {'iters':>6s} {'ROC-AUC':>8s} {'PR-AUC':>8s}")
    for r in results:
        print(f"  {r['candidate']:9s} {r['rows']:>10,} {r['fit_seconds']:8.1f} "
              f"{r['fit_cpu_seconds']:10.1f} {r['predict_seconds']:10.2f} {r['iterations']:6d} "
              f"{r['roc_auc']:8.4f} {r['pr_auc']:8.4f}")
    print("  (fit s: wall clock of fit alone; fit CPU s: all threads; predict s: the whole "
          "holdout; iters: boosting rounds fitted; AUCs on the same out-of-time holdout)")


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="churn training: the spec's GBM vs HistGradientBoosting at scale"
    )
    parser.add_argument("--households", type=int, default=DEFAULT_HOUSEHOLDS)
    parser.add_argument("--rows", type=int, default=250_000)
    parser.add_argument("--big-rows", type=int, default=1_000_000)
    parser.add_argument("--skip-spec-gbm", action="store_true")
    parser.add_argument("--threads", type=int, default=None,
                        help="cap OpenMP/BLAS threads (default: the libraries' own, all CPUs)")
    args = parser.parse_args(argv)

    load_start = os.getloadavg()
    print(f"{os.cpu_count()} CPUs; load average {load_start[0]:.2f} (1 min), "
          f"{load_start[1]:.2f} (5 min)", flush=True)
    data = cs_home() / "bench" / "training" / str(args.households)
    raw = ensure_raw(data, args.households)
    observations, build_seconds = ensure_observations(data, raw)
    split = out_of_time_split(observations, holdout_days=HOLDOUT_DAYS, label_days=LABEL_DAYS)
    train, test = _period(split.train), _period(split.test)
    print(_describe("training period", train))
    print(_describe("holdout", test))
    print(f"samples: uniform over the training period's rows, without replacement, seed {SEED} "
          f"(one shuffle; the --rows sample is the start of the --big-rows one)", flush=True)

    notes: list[str] = []
    shuffled = split.train.sample(fraction=1.0, shuffle=True, seed=SEED)
    small, big = take(shuffled, args.rows, notes), take(shuffled, args.big_rows, notes)
    X_test = design_matrix(split.test)
    y_test = split.test[LABEL].cast(pl.Int8).to_numpy()
    plan = [("hist_gbm", small), ("hist_gbm", big)]
    if not args.skip_spec_gbm:
        plan.insert(0, ("spec_gbm", small))
    with threadpool_limits(args.threads):
        threads = openmp_threads()
        print(f"fitting with {threads} OpenMP thread(s)", flush=True)
        results = [run(name, sample, X_test, y_test) for name, sample in plan]
    load_end = os.getloadavg()

    print_table(results)
    print(f"load average after the fits: {load_end[0]:.2f} (1 min), {load_end[1]:.2f} (5 min), "
          f"{load_end[2]:.2f} (15 min) on {os.cpu_count()} CPUs")
    figures = {
        "benchmark": "churn_training",
        "households": args.households,
        "scale": SCALE,
        "end_date": END_DATE.isoformat(),
        "as_of_every_days": EVERY_DAYS,
        "observations": observations.height,
        "observations_build_seconds": build_seconds,
        "train_period": train,
        "holdout": test,
        "seed": SEED,
        "results": results,
        "notes": notes,
        "cpus": os.cpu_count(),
        "openmp_threads": threads,
        "load_average_start": list(load_start),
        "load_average_end": list(load_end),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
