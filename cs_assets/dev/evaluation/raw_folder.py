"""Early warning of a raw folder's health scores (e.g. the simulator's output): its tables
validated like the ingestion assets do, scored on chosen days, judged against its churn."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from cs_assets.churn.early_warning import LEAD_DAYS, SCORE_COLS, early_warning_rates
from cs_assets.churn.snapshots import features_and_scores
from cs_assets.contract.events import load_event_mapping
from cs_assets.contract.tables import TABLES
from cs_assets.features.household import FEATURE_INPUTS, FeatureInputs
from cs_assets.ingestion.conform import ROW, conform
from cs_assets.ingestion.rules import event_kind_expr
from cs_assets.ingestion.sources import read_parquet_table
from cs_assets.ingestion.validate import lookup_tables, validate_table
from cs_assets.scoring import Scorecard, load_scorecard
from cs_assets.vocabulary import HH


def reference_time(raw_dir: Path) -> datetime:
    """The instant the data was extracted: the simulator's `end_date`, else now."""
    manifest = raw_dir / "_manifest.json"
    if manifest.is_file():
        end = date.fromisoformat(json.loads(manifest.read_text())["end_date"])
        return datetime(end.year, end.month, end.day, tzinfo=UTC)
    return datetime.now(UTC)


def load_feature_inputs(raw_dir: Path, *, validate: bool = True) -> FeatureInputs:
    """The raw tables the features need, validated like the ingestion assets do (invalid rows
    dropped) unless `validate` is False, with canonical event kinds attached."""
    raw_dir = Path(raw_dir)
    mapping = load_event_mapping()
    reference = reference_time(raw_dir)
    tables: dict[str, pl.DataFrame] = {}
    for name in FEATURE_INPUTS:
        parts = read_parquet_table(raw_dir, name)
        if validate:
            tables[name] = validate_table(
                TABLES[name],
                parts,
                reference_time=reference,
                parents={p: tables[p] for p in lookup_tables(name)},
                event_mapping=mapping if name == "activity_events" else None,
            ).valid
        else:
            tables[name] = conform(TABLES[name], parts).frame.drop(ROW)
    tables["activity_events"] = tables["activity_events"].with_columns(
        event_kind=event_kind_expr(mapping)
    )
    return FeatureInputs.build(**tables)


def churn_frame(raw_dir: Path, households: pl.DataFrame) -> pl.DataFrame:
    """`household_id, churned_at, mechanism`: churn from `households.churned_at` (the contract's
    authority), mechanism from the simulator's `_truth/households.parquet` when present."""
    truth_path = Path(raw_dir) / "_truth" / "households.parquet"
    churn = households.select(HH, "churned_at")
    if not truth_path.is_file():
        return churn.with_columns(mechanism=pl.lit(None, pl.String))
    truth = pl.read_parquet(truth_path, columns=[HH, "churn_mechanism"])
    return churn.join(truth.rename({"churn_mechanism": "mechanism"}), on=HH, how="left")


def score_days(
    inputs: FeatureInputs,
    days: Sequence[date],
    scorecard: Scorecard | None = None,
    *,
    batch_days: int = 30,
) -> pl.DataFrame:
    """Health scores (all score columns, no features) of every active household on each day,
    computed `batch_days` as-of days at a time to bound memory."""
    return features_and_scores(inputs, days, scorecard or load_scorecard(),
                               batch_days=batch_days, keep_features=False)


def evaluate_raw_folder(
    raw_dir: Path,
    days: Sequence[date],
    budget: float = 0.10,
    *,
    score_cols: Sequence[str] = SCORE_COLS,
    lead_days: tuple[int, int] = LEAD_DAYS,
    scorecard: Scorecard | None = None,
    validate: bool = True,
) -> pl.DataFrame:
    """`early_warning_rates` of the scores of a raw folder (e.g. `simulate`'s output) on `days`.

    Validates the raw tables (the simulator's are contract-valid, so nothing is dropped),
    builds the features for `days`, scores them with `scorecard` (default: the packaged one)
    and compares against `households.churned_at` and the truth's churn mechanisms."""
    inputs = load_feature_inputs(Path(raw_dir), validate=validate)
    scores = score_days(inputs, days, scorecard)
    churn = churn_frame(Path(raw_dir), inputs.households)
    return early_warning_rates(scores, churn, score_cols, budget, lead_days)
