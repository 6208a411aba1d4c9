"""The model's input: a fixed, named, numeric design matrix built from features and scores.

Categoricals are one-hot encoded against fixed levels (not the levels seen in one batch), so
training and daily scoring always produce the same columns; booleans become 0/1; missing
values stay NaN (HistGradientBoosting handles them, the other candidates impute).
"""

from __future__ import annotations

import pandas as pd
import polars as pl

from cs_assets.contract.tables import PLANS
from cs_assets.features.household import FEATURE_COLUMNS
from cs_assets.features.product_signals import PREFIX as SIGNAL_PREFIX

PAYMENT_STATUSES = ("none", "current", "failed", "past_due")
CATEGORICAL = {"plan": PLANS, "payment_status": PAYMENT_STATUSES}
SCORE_FEATURES = ("product_usage_score", "feature_adoption_score", "support_engagement_score",
                  "engagement_score", "payment_health_score", "value_delivery_score",
                  "health_score")
NUMERIC_FEATURES = tuple(
    c for c in FEATURE_COLUMNS if c not in ("household_id", "as_of", *CATEGORICAL)
) + SCORE_FEATURES
DESIGN_COLUMNS = NUMERIC_FEATURES + tuple(
    f"{col}={level}" for col, levels in CATEGORICAL.items() for level in levels
)


def design_columns(frame: pl.DataFrame) -> tuple[str, ...]:
    """The fixed design columns, then the product's own signals the frame carries."""
    return DESIGN_COLUMNS + tuple(c for c in frame.columns if c.startswith(SIGNAL_PREFIX))


def design_matrix(frame: pl.DataFrame, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
    """`frame` (features joined with health scores) as the float64 matrix the models take.

    `columns` selects and orders the output (a loaded model's signature names its own;
    default `design_columns(frame)`); a column the frame cannot provide is an error naming
    it, never a silent zero.
    """
    columns = design_columns(frame) if columns is None else columns
    signals = [c for c in columns if c.startswith(SIGNAL_PREFIX)]
    missing = [c for c in (*NUMERIC_FEATURES, *signals)
               if c in columns and c not in frame.columns]
    missing += [c for c in CATEGORICAL if c not in frame.columns
                and any(k.startswith(f"{c}=") for k in columns)]
    if missing:
        raise KeyError(f"design matrix: input lacks column(s) {missing}")
    exprs = [pl.col(c).cast(pl.Float64) for c in (*NUMERIC_FEATURES, *signals) if c in columns]
    exprs += [
        (pl.col(col) == level).fill_null(False).cast(pl.Float64).alias(f"{col}={level}")
        for col, levels in CATEGORICAL.items() for level in levels
        if f"{col}={level}" in columns
    ]
    unknown = sorted(set(columns) - set(DESIGN_COLUMNS) - set(signals))
    if unknown:
        raise KeyError(f"design matrix: the model asks for unknown column(s) {unknown}")
    return frame.select(exprs).select(list(columns)).to_pandas().astype("float64")
