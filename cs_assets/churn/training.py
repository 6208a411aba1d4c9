"""Fit every candidate on the training period and score it on the out-of-time holdout."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import polars as pl
from sklearn.base import BaseEstimator

from cs_assets.churn.candidates import CANDIDATES
from cs_assets.churn.dataset import LABEL, Split
from cs_assets.churn.design import DESIGN_COLUMNS, design_matrix
from cs_assets.churn.explain import mean_abs_shap
from cs_assets.churn.metrics import RISK, classification_metrics, early_warning_recall
from cs_assets.vocabulary import AS_OF, HH

IMPORTANCE_ROWS = 2000  # holdout rows explained for the global importance (exact SHAP is costly)


@dataclass
class CandidateResult:
    name: str
    model: BaseEstimator
    metrics: dict[str, float]
    train_seconds: float
    holdout: pl.DataFrame  # household_id, as_of, churned_30d, churn_probability
    importance: pd.Series = field(repr=False)
    started_ms: int = 0  # epoch milliseconds the candidate's fit began (its MLflow run's start)
    columns: tuple[str, ...] = DESIGN_COLUMNS  # the design columns it was fitted on
    dropped: dict[str, str] = field(default_factory=dict)  # column -> why it was left out


def informative_columns(X: pd.DataFrame) -> tuple[tuple[str, ...], dict[str, str]]:
    """The columns a candidate can learn from on these training rows, and the others with the
    reason. An all-null column crashes HistGradientBoosting's binning and a constant one
    carries nothing; a product without some source (no tickets, no pets) has both."""
    dropped: dict[str, str] = {}
    for column in X.columns:
        values = X[column]
        if values.isna().all():
            dropped[column] = "all null"
        elif values.nunique(dropna=False) == 1:
            dropped[column] = f"constant {values.iloc[0]:g}"
    return tuple(c for c in X.columns if c not in dropped), dropped


def holdout_scores(model: BaseEstimator, test: pl.DataFrame,
                   columns: tuple[str, ...]) -> pl.DataFrame:
    """`household_id, as_of, churned_30d, churn_probability` of `model`, fitted on `columns`,
    on the holdout rows."""
    X = design_matrix(test, tuple(columns))
    p = model.predict_proba(X)[:, 1]
    return test.select(HH, AS_OF, LABEL).with_columns(pl.Series(RISK, p, dtype=pl.Float64))


def score_holdout(scored: pl.DataFrame, churn: pl.DataFrame, budget: float) -> dict[str, float]:
    """The classification metrics plus early-warning recall at `budget` of a scored holdout."""
    y = scored[LABEL].cast(pl.Int8).to_numpy()
    metrics = classification_metrics(y, scored[RISK].to_numpy())
    recall = early_warning_recall(scored, churn, budget=budget)
    metrics["early_warning_recall"] = float("nan") if recall is None else recall
    return metrics


def train_candidate(
    name: str, split: Split, churn: pl.DataFrame, *, seed: int = 42, budget: float = 0.10
) -> CandidateResult:
    """Fit candidate `name` on `split.train`'s informative columns, evaluate it on
    `split.test`."""
    every = design_matrix(split.train)
    columns, dropped = informative_columns(every)
    if not columns:
        raise ValueError("no design column varies on the training rows: nothing to learn from")
    X = every[list(columns)]
    y = split.train[LABEL].cast(pl.Int8).to_numpy()
    model = CANDIDATES[name](seed)
    started_ms = time.time_ns() // 1_000_000
    start = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - start
    scored = holdout_scores(model, split.test, columns)
    metrics = score_holdout(scored, churn, budget)
    sample = design_matrix(split.test.sample(min(IMPORTANCE_ROWS, split.test.height), seed=seed),
                           columns)
    return CandidateResult(name, model, metrics, seconds, scored, mean_abs_shap(model, sample),
                           started_ms, columns, dropped)


def best(results: list[CandidateResult], metric: str) -> CandidateResult:
    """The candidate with the highest holdout `metric` (NaN counts as worst)."""
    return max(results, key=lambda r: np.nan_to_num(r.metrics[metric], nan=-np.inf))
