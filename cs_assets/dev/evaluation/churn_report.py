"""`make evaluate`: the churn lifecycle materialized on simulator data, judged against the truth.

    python -m cs_assets.dev.evaluation.churn_report [--product NAME] [--households N] [--seed S]

For each product (PetForce and every simulated product in `cs_assets/dev/products`, or the
one named), in its own process with its own configuration files:

1. Simulates its world into `$CS_HOME/evaluate/<product>/` (reused when the manifest
   matches); for PetForce also the pure proportional-hazards world.
2. Materializes raw -> weekly snapshots -> training set -> churn model -> survival model, in
   process, with a fresh MLflow store per world.
3. Scores the champion on the out-of-time holdout next to the simulator's oracles, the new and
   old health scores and the yardstick (`yardstick.py`: an L1 logistic regression on 28-day
   event counts and tenure, fitted on the champion's own training rows), with a paired
   bootstrap interval of the champion's ROC-AUC lead; for PetForce compares the recovered Cox
   hazard ratios with the planted ones.
4. Prints a report per product and ends with one JSON line for all of them.

Two oracles are printed. `p_churn_30d` integrates the latent hazard actually realised over
the next 30 days: it knows the downgrades, failed payments and tickets that have not happened
yet, an upper bound no model can reach. `p_churn_30d_known` integrates only what is knowable at
the as-of instant (future triggers left out): the fair ceiling.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import asdict
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.metrics import roc_auc_score

from cs_assets.churn.dataset import LABEL, Split, out_of_time_split
from cs_assets.churn.metrics import RISK, classification_metrics, early_warning_recall
from cs_assets.churn.registry import load_champion
from cs_assets.churn.training import holdout_scores
from cs_assets.dev.evaluation.yardstick import event_counts, fit_and_score, paired_bootstrap
from cs_assets.dev.products import CONFIG_FILES, PRODUCTS, config_env, simulate_product
from cs_assets.dev.simulator.params import SimulationParams
from cs_assets.settings import cs_home
from cs_assets.survival.cox import fit_cox
from cs_assets.vocabulary import AS_OF, HH

EVALUATED = ("petforce", *PRODUCTS)
END = date(2026, 11, 1)
SPEC = {"roc_auc": 0.847, "flagged_30d_early": 0.70}
HOLDOUT_DAYS = 112
BUDGET = 0.10
ORACLES = ("p_churn_30d", "p_churn_30d_known")
TRUTH_COVARIATES = {  # survival covariate -> (truth column, planted hazard ratio)
    "plan_type[Premium]": ("premium_at_signup", SimulationParams().hr_premium),
    "initial_pets": ("initial_pets", SimulationParams().hr_pet),
    "initial_members": ("initial_members", SimulationParams().hr_member),
    "avg_health_first_90d": ("health_equivalent", SimulationParams().hr_health_point),
    "premium_features_first_30d": ("premium_features_first_30d",
                                   SimulationParams().hr_premium_feature),
}
# The full world adds mechanisms that do not depend on the covariates (no-signal, silent
# decline, payment failures) and one that does but is not proportional (post-downgrade churn of
# Premium households with few features). The first only dilutes a log hazard ratio toward 0;
# so for pets, members and health the recovered ratio must have the planted sign or be within
# 2 standard errors of 1, and never be stronger than planted by more than 2 standard errors.
# Plan type and Premium features are driven by the downgrade mechanism: reported, not judged.
DILUTED = ("initial_pets", "initial_members", "avg_health_first_90d")


def _world(root: Path, households: int, seed: int, simulate) -> Path:
    raw = root / "raw"
    manifest = raw / "_manifest.json"
    wanted = {"households": households, "end_date": END.isoformat(), "seed": seed}
    if not (manifest.is_file() and all(
            json.loads(manifest.read_text()).get(k) == v for k, v in wanted.items())
            and (raw / "_truth" / "households.parquet").is_file()):
        shutil.rmtree(root, ignore_errors=True)
        simulate(raw, households=households, end_date=END, seed=seed)
    return root


def world_env(root: Path) -> dict[str, str]:
    """The environment of one world: its own home (its state database is the default under
    it), raw data and MLflow store; configuration files and thresholds as the caller's
    environment sets them."""
    inherited = {k: v for k, v in os.environ.items() if k != "CS_STATE_URL"}
    return {**inherited, "CS_HOME": str(root), "CS_RAW_DIR": str(root / "raw"),
            "CS_REFERENCE_TIME": END.isoformat(),
            "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow' / 'mlflow.db'}",
            "CS_MLFLOW_ARTIFACT_ROOT": (root / "mlflow" / "artifacts").as_uri()}


def _materialize(root: Path, assets: list[str]) -> dict[str, float]:
    """Materialize `assets` (and the raw tables) on `root`, fresh MLflow store; step seconds.
    Resources come from the function the definitions use, on the world's environment."""
    from dagster import AssetSelection, DagsterInstance, materialize

    from cs_assets.definitions import defs
    from cs_assets.defs.shared.resources import resources_from_env

    shutil.rmtree(root / "mlflow", ignore_errors=True)
    shutil.rmtree(root / "storage", ignore_errors=True)
    (root / "state.db").unlink(missing_ok=True)
    (root / "mlflow").mkdir()
    result = materialize(
        list(defs.assets),
        selection=AssetSelection.groups("raw") | AssetSelection.assets(*assets),
        resources=resources_from_env(world_env(root)),
        instance=DagsterInstance.ephemeral(),
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    if not result.success:
        raise SystemExit(f"materialization failed in {root}")
    seconds = {}
    for event in result.all_events:
        if event.event_type_value == "STEP_SUCCESS":
            seconds[event.step_key] = event.event_specific_data.duration_ms / 1000
    return seconds


def _mlflow(root: Path):
    from cs_assets.defs.shared.resources import mlflow_from_env

    return mlflow_from_env(world_env(root))


def _split(root: Path) -> Split:
    """The champion's own split of the materialized training set."""
    training = pl.read_parquet(root / "storage" / "churn_training_set.parquet")
    return out_of_time_split(training, holdout_days=HOLDOUT_DAYS)


def _scored(root: Path, test: pl.DataFrame) -> tuple[pl.DataFrame, str, pl.DataFrame]:
    """The holdout with the champion's probability, both oracles and both health scores."""
    champion = load_champion(_mlflow(root).client())
    scored = holdout_scores(champion.model, test, champion.columns)
    truth = pl.read_parquet(root / "raw" / "_truth" / "hazard_daily.parquet").rename(
        {"day": "as_of"})
    scored = scored.join(test.select("household_id", "as_of", "health_score",
                                     "health_score_old"), on=["household_id", "as_of"])
    scored = scored.join(truth.select("household_id", "as_of", *ORACLES),
                         on=["household_id", "as_of"], how="left")
    churn = pl.read_parquet(root / "raw" / "households.parquet").select(
        "household_id", "churned_at")
    return scored, champion.version, churn


def _judge(scored: pl.DataFrame, churn: pl.DataFrame) -> dict[str, dict[str, float]]:
    y = scored[LABEL].cast(pl.Int8).to_numpy()
    out = {}
    for name in ("churn_probability", *ORACLES):
        frame = scored.select("household_id", "as_of",
                              pl.col(name).fill_null(0.0).alias("churn_probability"))
        metrics = classification_metrics(y, frame["churn_probability"].to_numpy())
        metrics["early_warning_recall"] = early_warning_recall(frame, churn, budget=BUDGET)
        out["champion" if name == "churn_probability" else name] = metrics
    for name in ("health_score", "health_score_old"):
        score = scored[name].cast(pl.Float64).to_numpy()
        out[name] = {"roc_auc": float(roc_auc_score(y, -score)),
                     "early_warning_recall": early_warning_recall(
                         scored, churn, name, higher_is_riskier=False, budget=BUDGET)}
    return out


def _recovered(root: Path) -> pl.DataFrame:
    """The survival asset's hazard ratios (the table its MLflow run logged)."""
    client = _mlflow(root).client()
    run = client.search_runs([client.get_experiment_by_name("survival").experiment_id])[0]
    table = json.loads(Path(client.download_artifacts(run.info.run_id, "hazard_ratios.json"))
                       .read_text())
    return pl.DataFrame(table["data"], schema=table["columns"], orient="row")


def _truth_fit(root: Path) -> pl.DataFrame:
    """Cox on the simulator's own covariates: what an ideal measurement would recover."""
    signup = pl.read_parquet(root / "raw" / "households.parquet").select(
        "household_id", "created_at")
    truth = pl.read_parquet(root / "raw" / "_truth" / "households.parquet").join(
        signup, on="household_id")
    stop = pl.col("churned_at").fill_null(datetime(END.year, END.month, END.day, tzinfo=UTC))
    data = truth.with_columns(tenure_days=(stop - pl.col("created_at")).dt.total_days(),
                              churned=pl.col("churned_at").is_not_null().cast(pl.Int8))
    result = fit_cox(data, [column for column, _ in TRUTH_COVARIATES.values()])
    names = {column: name for name, (column, _) in TRUTH_COVARIATES.items()}
    return result.summary.with_columns(pl.col("covariate").replace(names))


def _ratios(recovered: pl.DataFrame, world: str) -> list[dict]:
    rows = []
    for row in recovered.iter_rows(named=True):
        planted = TRUTH_COVARIATES[row["covariate"]][1]
        inside = row["ci_low"] <= planted <= row["ci_high"]
        verdict = inside
        if world == "full":
            verdict = _diluted_ok(row, planted) if row["covariate"] in DILUTED else None
        rows.append({"covariate": row["covariate"], "planted": planted,
                     "recovered": row["hazard_ratio"], "ci_low": row["ci_low"],
                     "ci_high": row["ci_high"], "inside_ci": inside, "within_tolerance": verdict})
    return rows


def _diluted_ok(row: dict, planted: float) -> bool:
    coef, se, target = row["coef"], row["se"], math.log(planted)
    same_sign_or_null = coef * target > 0 or abs(coef) <= 2 * se
    not_stronger = abs(coef) <= abs(target) + 2 * se
    return same_sign_or_null and not_stronger


def _fmt(value) -> str:
    return "-" if value is None or (isinstance(value, float) and np.isnan(value)) else (
        f"{value:.3f}" if isinstance(value, float) else str(value))


def _yardstick(root: Path, split: Split, scored: pl.DataFrame) -> dict:
    """The baseline fitted on the champion's training rows and scored on its holdout rows,
    beside the champion, with the paired bootstrap interval of their ROC-AUC difference."""
    counts = event_counts(pl.scan_parquet(root / "raw" / "activity_events" / "*.parquet"),
                          pl.scan_parquet(root / "raw" / "households.parquet"),
                          pl.concat([split.train, split.test]).select(HH, AS_OF))
    train = split.train.select(HH, AS_OF, LABEL).join(counts, on=[HH, AS_OF])
    test = scored.select(HH, AS_OF, LABEL, RISK).join(counts, on=[HH, AS_OF])
    started = time.perf_counter()
    p = fit_and_score(train, test, LABEL)
    y = test[LABEL].cast(pl.Int8).to_numpy()
    interval = paired_bootstrap(y, test[RISK].to_numpy(), p, test[HH].to_numpy())
    return {"metrics": classification_metrics(y, p), "champion_minus_baseline": asdict(interval),
            "event_types": sum(c.startswith("n_") for c in counts.columns),
            "seconds": round(time.perf_counter() - started, 1)}


def evaluate_product(product: str, households: int, seed: int, reuse: bool) -> dict:
    """One product's world materialized, scored and judged; prints its report."""
    base = cs_home() / "evaluate" / product
    started = time.perf_counter()
    full = _world(base / "full", households, seed, simulator(product))
    steps = {} if reuse else _materialize(
        full, ["churn_snapshots", "churn_training_set", "churn_model", "survival_model"])
    split = _split(full)
    scored, version, churn = _scored(full, split.test)
    judged = _judge(scored, churn)
    yardstick = _yardstick(full, split, scored)
    judged["yardstick"] = yardstick["metrics"]
    candidates = pl.read_parquet(full / "storage" / "churn_model.parquet")
    cox = {}
    if product == "petforce":
        ph = _world(base / "ph_only", households, seed, simulator(product, ph_only=True))
        if not reuse:
            _materialize(ph, ["churn_snapshots", "survival_model"])
        cox = {
            "full_observed": _ratios(_recovered(full), "full"),
            "ph_only_observed": _ratios(_recovered(ph), "ph_only"),
            "ph_only_truth_covariates": _ratios(_truth_fit(ph), "ph_only"),
        }
    champion, known = judged["champion"], judged["p_churn_30d_known"]
    churner_rows = int(scored[LABEL].sum())
    interval = yardstick["champion_minus_baseline"]
    targets = _targets(product, judged, cox) | {
        "champion_above_yardstick_ci_low": interval["low"] > 0,
        "holdout_churner_rows_500": churner_rows >= 500,
    }
    if product != "petforce":
        targets["auc_vs_known_state_oracle_0.03"] = champion["roc_auc"] >= known["roc_auc"] - 0.03

    print(f"\n{product}: churn model on simulator data ({households:,} households, seed {seed}; "
          f"out-of-time holdout: the last {HOLDOUT_DAYS} days of weekly as-of days, "
          f"{scored.height:,} observations, {churner_rows:,} churning within 30 days; "
          f"champion cs_churn v{version})\n")
    print(f"{'scored by':<30}{'ROC-AUC':>9}{'PR-AUC':>9}{'lift@10%':>10}{'EW recall':>11}")
    for name, label in (("champion", "champion model"),
                        ("yardstick", "yardstick (L1 on counts)"),
                        ("p_churn_30d", "oracle (with foresight)"),
                        ("p_churn_30d_known", "oracle (known at as-of)"),
                        ("health_score", "health score (new)"),
                        ("health_score_old", "health score (old)")):
        m = judged[name]
        print(f"{label:<30}{_fmt(m['roc_auc']):>9}{_fmt(m.get('pr_auc')):>9}"
              f"{_fmt(m.get('top_decile_lift')):>10}{_fmt(m.get('early_warning_recall')):>11}")
    if product == "petforce":
        print(f"{'spec (PetForce, reported)':<30}{SPEC['roc_auc']:>9}{'':>9}{'':>10}"
              f"{SPEC['flagged_30d_early']:>11}")
    print(f"\nYardstick: LogisticRegressionCV (L1, saga, 5 folds, ROC-AUC) on the log1p 28-day "
          f"count of each of {yardstick['event_types']} event types plus tenure, standardized, "
          f"fitted on the champion's training rows. Champion - yardstick ROC-AUC "
          f"{interval['difference']:+.3f}, 95% interval [{interval['low']:+.3f}, "
          f"{interval['high']:+.3f}] ({interval['resamples']} paired bootstrap resamples of "
          f"households).")
    print(f"EW recall: share of churners flagged on some as-of day 30-60 days before churning "
          f"when the riskiest {BUDGET:.0%} are flagged each day.\n")
    print(candidates.select("candidate", "roc_auc", "pr_auc", "early_warning_recall",
                            "train_seconds", "selected"))
    for world, rows in cox.items():
        print(f"\nCox hazard ratios, {world.replace('_', ' ')}:")
        print(pl.DataFrame(rows).with_columns(pl.col(pl.Float64).round(3)))
    print("\ntargets: " + ", ".join(f"{k}={'met' if v else 'NOT met'}"
                                     for k, v in targets.items()))
    return {
        "households": households, "seed": seed, "holdout_rows": scored.height,
        "holdout_churner_rows": churner_rows, "champion_version": version, "metrics": judged,
        "yardstick": yardstick, "candidates": candidates.drop("run_id").to_dicts(), "cox": cox,
        "targets": targets, "step_seconds": steps,
        "seconds": round(time.perf_counter() - started, 1),
    } | ({"spec": SPEC} if product == "petforce" else {})


def _targets(product: str, judged: dict, cox: dict) -> dict[str, bool]:
    champion, oracle, known = (judged[k] for k in ("champion", "p_churn_30d",
                                                    "p_churn_30d_known"))
    targets = {
        "auc_vs_oracle": champion["roc_auc"] >= oracle["roc_auc"] - 0.05,
        "auc_vs_known_state_oracle": champion["roc_auc"] >= known["roc_auc"] - 0.05,
        "recall_vs_known_state_oracle": champion["early_warning_recall"]
        >= 0.9 * known["early_warning_recall"],
        "recall_above_health_scores": champion["early_warning_recall"] > max(
            judged["health_score"]["early_warning_recall"],
            judged["health_score_old"]["early_warning_recall"]),
    }
    if product != "petforce":
        return targets
    return targets | {
        "auc_0.665": champion["roc_auc"] >= 0.665,
        "recall_vs_oracle": champion["early_warning_recall"]
        >= 0.9 * oracle["early_warning_recall"],
        "ph_only_observed_all_inside": all(r["inside_ci"] for r in cox["ph_only_observed"]),
        "ph_only_truth_all_inside": all(r["inside_ci"]
                                        for r in cox["ph_only_truth_covariates"]),
        "full_within_tolerance": all(r["within_tolerance"] for r in cox["full_observed"]
                                     if r["within_tolerance"] is not None),
    }


def simulator(product: str, ph_only: bool = False):
    """`simulate(raw_dir, households=, end_date=, seed=)` of the product's world."""
    if product == "petforce":
        from cs_assets.dev.simulator.engine import simulate

        return partial(simulate, ph_only=ph_only)
    return partial(simulate_product, product)


def product_env(product: str) -> dict[str, str]:
    """The caller's environment pointed at the product's configuration files (PetForce: the
    packaged defaults)."""
    env = {k: v for k, v in os.environ.items() if k not in (*CONFIG_FILES, "CS_METRICS")}
    return env if product == "petforce" else env | config_env(product)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--product", choices=EVALUATED,
                        help="one product (default: every one, each in its own process)")
    parser.add_argument("--households", type=int, default=12_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--reuse", action="store_true",
                        help="report on the last materialization instead of running it again")
    parser.add_argument("--json-out", type=Path, help=argparse.SUPPRESS)  # a worker's result
    args = parser.parse_args(argv)
    if args.json_out:  # a worker: the product's configuration is already in the environment
        warnings.filterwarnings("ignore")
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        result = evaluate_product(args.product, args.households, args.seed, args.reuse)
        args.json_out.write_text(json.dumps(result, default=_json_default))
        return
    results = {}
    for product in [args.product] if args.product else EVALUATED:
        out = cs_home() / "evaluate" / f"{product}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", __spec__.name, "--product", product, "--households",
                   str(args.households), "--seed", str(args.seed), "--json-out", str(out),
                   *(["--reuse"] if args.reuse else [])]
        subprocess.run(command, env=product_env(product), check=True)
        results[product] = json.loads(out.read_text())
    if len(results) > 1:
        print("\nsummary: " + "; ".join(
            f"{p} champion {r['metrics']['champion']['roc_auc']:.3f} vs yardstick "
            f"{r['metrics']['yardstick']['roc_auc']:.3f}, targets "
            f"{sum(r['targets'].values())}/{len(r['targets'])} met" for p, r in results.items()))
    print(json.dumps({"products": results}))


def _json_default(value):
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return str(value)


if __name__ == "__main__":
    main()
