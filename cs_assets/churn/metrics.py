"""How a churn probability is judged: ranking, calibration, and early warning at a budget."""

from __future__ import annotations

import numpy as np
import polars as pl
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from cs_assets.churn.early_warning import early_warning_rates

RISK = "churn_probability"


def top_decile_lift(y: np.ndarray, p: np.ndarray) -> float:
    """Churn rate among the riskiest 10% divided by the overall churn rate (1.0 = no better
    than random). Ties at the cut are broken by order, so exactly ceil(10%) rows are taken."""
    y = np.asarray(y, dtype=float)
    base = y.mean()
    if base == 0:
        return float("nan")
    k = max(1, int(np.ceil(0.1 * len(y))))
    top = np.argsort(-np.asarray(p), kind="stable")[:k]
    return float(y[top].mean() / base)


def classification_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC (average precision), Brier score, log loss and top-decile lift."""
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), 1e-15, 1 - 1e-15)
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "top_decile_lift": top_decile_lift(y, p),
    }


def early_warning_recall(
    scored: pl.DataFrame, churn: pl.DataFrame, score_col: str = RISK, *,
    higher_is_riskier: bool = True, budget: float = 0.10,
) -> float | None:
    """Share of churners flagged on some scored as-of day 30–60 days before churning, when each
    day the riskiest `budget` of the households scored that day are flagged (the same rule as
    the health scores' early warning, so the numbers compare)."""
    col = pl.col(score_col)
    frame = scored.select("household_id", "as_of", (-col if higher_is_riskier else col)
                          .alias("_score"))
    rates = early_warning_rates(frame, churn, ["_score"], budget)
    return rates["churner_rate"][0]
