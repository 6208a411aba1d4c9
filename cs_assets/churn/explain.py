"""Per-household drivers of a churn probability: SHAP values of the fitted model.

Tree models use shap's exact TreeExplainer; the logistic baseline its LinearExplainer. Values
are in log-odds, so they add up to the model's score and read the same for every candidate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shap
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline


def _split(model: BaseEstimator, X: pd.DataFrame) -> tuple[BaseEstimator, pd.DataFrame]:
    """The final estimator and its input (a pipeline's preprocessing applied)."""
    if isinstance(model, Pipeline):
        Xt = model[:-1].transform(X)
        return model[-1], pd.DataFrame(np.asarray(Xt), columns=X.columns, index=X.index)
    return model, X


def shap_values(model: BaseEstimator, X: pd.DataFrame) -> np.ndarray:
    """(rows, columns) contributions to the log-odds of churn."""
    est, Xt = _split(model, X)
    if isinstance(est, LogisticRegression):
        explainer = shap.LinearExplainer(est, shap.maskers.Independent(Xt, max_samples=1000))
    else:
        explainer = shap.TreeExplainer(est)
    values = np.asarray(explainer.shap_values(Xt))
    return values[..., 1] if values.ndim == 3 else values


def top_drivers(model: BaseEstimator, X: pd.DataFrame, k: int = 3) -> list[str]:
    """Per row, up to `k` inputs that raised the risk most: "name = value (+0.42)"."""
    values = shap_values(model, X)
    raw = X.to_numpy()
    names = X.columns
    out = []
    for i in range(len(X)):
        order = np.argsort(-values[i], kind="stable")[:k]
        out.append("; ".join(
            f"{names[j]} = {_fmt(raw[i, j])} ({values[i, j]:+.2f})"
            for j in order if values[i, j] > 0
        ))
    return out


def mean_abs_shap(model: BaseEstimator, X: pd.DataFrame) -> pd.Series:
    """Global importance comparable across candidates: mean |SHAP| per input, descending."""
    return pd.Series(np.abs(shap_values(model, X)).mean(axis=0), index=X.columns).sort_values(
        ascending=False
    )


def _fmt(value: float) -> str:
    if np.isnan(value):
        return "missing"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"
