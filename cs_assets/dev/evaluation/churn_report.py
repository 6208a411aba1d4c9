"""`make evaluate`: the churn lifecycle materialized on simulator data, judged against the truth.

    python -m cs_assets.dev.evaluation.churn_report [--households N] [--seed S]

1. Simulates the full world (every mechanism) and the pure proportional-hazards world into
   `$CS_HOME/evaluate/` (reused when the manifest matches).
2. Materializes raw -> weekly snapshots -> training set -> churn model -> survival model on
   each, in process, with a fresh MLflow store per world (`$CS_HOME/evaluate/<world>/mlflow.db`).
3. Scores the champion on the out-of-time holdout next to the simulator's oracle (its true
   30-day churn probabilities, scored the same way) and the new and old health scores, at the
   same alert budget; compares the recovered Cox hazard ratios with the planted ones.
4. Prints a report beside the spec's own figures and ends with one JSON line.

Two oracles are printed. `p_churn_30d` integrates the latent hazard actually realised over
the next 30 days: it knows the downgrades, failed payments and tickets that have not happened
yet, an upper bound no model can reach. `p_churn_30d_known` integrates only what is knowable at
the as-of instant (future triggers left out): the fair yardstick.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import time
import warnings
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.metrics import roc_auc_score

from cs_assets.churn.dataset import LABEL, out_of_time_split
from cs_assets.churn.metrics import classification_metrics, early_warning_recall
from cs_assets.churn.registry import load_champion
from cs_assets.churn.training import holdout_scores
from cs_assets.dev.simulator.params import SimulationParams
from cs_assets.settings import cs_home
from cs_assets.survival.cox import fit_cox

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


def _world(root: Path, households: int, seed: int, ph_only: bool) -> Path:
    from cs_assets.dev.simulator.engine import simulate

    raw = root / "raw"
    manifest = raw / "_manifest.json"
    wanted = {"households": households, "end_date": END.isoformat(), "seed": seed}
    if not (manifest.is_file() and all(
            json.loads(manifest.read_text()).get(k) == v for k, v in wanted.items())
            and (raw / "_truth" / "households.parquet").is_file()):
        shutil.rmtree(root, ignore_errors=True)
        simulate(raw, households=households, end_date=END, seed=seed, ph_only=ph_only)
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


def _scored(root: Path) -> tuple[pl.DataFrame, str, pl.DataFrame]:
    """The holdout with the champion's probability, both oracles and both health scores."""
    training = pl.read_parquet(root / "storage" / "churn_training_set.parquet")
    test = out_of_time_split(training, holdout_days=HOLDOUT_DAYS).test
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=12_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--reuse", action="store_true",
                        help="report on the last materialization instead of running it again")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    base = cs_home() / "evaluate"
    started = time.perf_counter()

    full = _world(base / "full", args.households, args.seed, ph_only=False)
    steps = {} if args.reuse else _materialize(
        full, ["churn_snapshots", "churn_training_set", "churn_model", "survival_model"])
    scored, version, churn = _scored(full)
    judged = _judge(scored, churn)
    candidates = pl.read_parquet(full / "storage" / "churn_model.parquet")
    ph = _world(base / "ph_only", args.households, args.seed, ph_only=True)
    if not args.reuse:
        _materialize(ph, ["churn_snapshots", "survival_model"])
    cox = {
        "full_observed": _ratios(_recovered(full), "full"),
        "ph_only_observed": _ratios(_recovered(ph), "ph_only"),
        "ph_only_truth_covariates": _ratios(_truth_fit(ph), "ph_only"),
    }

    champion, oracle, known = judged["champion"], judged["p_churn_30d"], judged[
        "p_churn_30d_known"]
    targets = {
        "auc_vs_oracle": champion["roc_auc"] >= oracle["roc_auc"] - 0.05,
        "auc_vs_known_state_oracle": champion["roc_auc"] >= known["roc_auc"] - 0.05,
        "recall_vs_oracle": champion["early_warning_recall"]
        >= 0.9 * oracle["early_warning_recall"],
        "recall_vs_known_state_oracle": champion["early_warning_recall"]
        >= 0.9 * known["early_warning_recall"],
        "recall_above_health_scores": champion["early_warning_recall"] > max(
            judged["health_score"]["early_warning_recall"],
            judged["health_score_old"]["early_warning_recall"]),
        "ph_only_observed_all_inside": all(r["inside_ci"] for r in cox["ph_only_observed"]),
        "ph_only_truth_all_inside": all(r["inside_ci"]
                                        for r in cox["ph_only_truth_covariates"]),
        "full_within_tolerance": all(r["within_tolerance"] for r in cox["full_observed"]
                                     if r["within_tolerance"] is not None),
    }

    print(f"\nChurn model on simulator data ({args.households:,} households, seed {args.seed}; "
          f"out-of-time holdout: the last {HOLDOUT_DAYS} days of weekly as-of days, "
          f"{scored.height:,} observations; champion cs_churn v{version})\n")
    print(f"{'scored by':<28}{'ROC-AUC':>9}{'PR-AUC':>9}{'lift@10%':>10}{'EW recall':>11}")
    for name, label in (("champion", "champion model"),
                        ("p_churn_30d", "oracle (with foresight)"),
                        ("p_churn_30d_known", "oracle (known at as-of)"),
                        ("health_score", "health score (new)"),
                        ("health_score_old", "health score (old)")):
        m = judged[name]
        print(f"{label:<28}{_fmt(m['roc_auc']):>9}{_fmt(m.get('pr_auc')):>9}"
              f"{_fmt(m.get('top_decile_lift')):>10}{_fmt(m['early_warning_recall']):>11}")
    print(f"{'spec (PetForce, reported)':<28}{SPEC['roc_auc']:>9}{'':>9}{'':>10}"
          f"{SPEC['flagged_30d_early']:>11}")
    print(f"\nEW recall: share of churners flagged on some as-of day 30-60 days before churning "
          f"when the riskiest {BUDGET:.0%} are flagged each day.\n")
    print(candidates.select("candidate", "roc_auc", "pr_auc", "early_warning_recall",
                            "train_seconds", "selected"))
    for world, rows in cox.items():
        print(f"\nCox hazard ratios, {world.replace('_', ' ')}:")
        print(pl.DataFrame(rows).with_columns(pl.col(pl.Float64).round(3)))
    print("\ntargets: " + ", ".join(f"{k}={'met' if v else 'NOT met'}"
                                     for k, v in targets.items()))
    print(json.dumps({
        "households": args.households, "seed": args.seed, "holdout_rows": scored.height,
        "champion_version": version, "metrics": judged, "spec": SPEC,
        "candidates": candidates.drop("run_id").to_dicts(), "cox": cox, "targets": targets,
        "step_seconds": steps, "seconds": round(time.perf_counter() - started, 1),
    }, default=_json_default))


def _json_default(value):
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return str(value)


if __name__ == "__main__":
    main()
