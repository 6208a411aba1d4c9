"""Diagnostic figures of a candidate on the holdout (logged to its MLflow run)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no display: figures are files

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_recall_curve, roc_curve


def _figure() -> tuple[Figure, plt.Axes]:
    return plt.subplots(figsize=(5, 4), dpi=100)


def _draw_roc(ax: plt.Axes, y: np.ndarray, p: np.ndarray, auc: float) -> None:
    fpr, tpr, _ = roc_curve(y, p)
    ax.set_title(f"ROC (AUC {auc:.3f})")
    ax.plot(fpr, tpr)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")


def _draw_calibration(ax: plt.Axes, y: np.ndarray, p: np.ndarray) -> None:
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
    ax.set_title("Calibration (deciles of predicted risk)")
    ax.plot(predicted, observed, marker="o")
    top = max(float(predicted.max()), float(observed.max()))
    ax.plot([0, top], [0, top], linestyle="--", color="grey")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed churn rate")


def roc_figure(y: np.ndarray, p: np.ndarray, auc: float) -> Figure:
    fig, ax = _figure()
    _draw_roc(ax, y, p, auc)
    return fig


def pr_figure(y: np.ndarray, p: np.ndarray, ap: float) -> Figure:
    precision, recall, _ = precision_recall_curve(y, p)
    fig, ax = _figure()
    ax.set_title(f"Precision-recall (AP {ap:.3f})")
    ax.plot(recall, precision)
    ax.axhline(float(np.mean(y)), linestyle="--", color="grey")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    return fig


def calibration_figure(y: np.ndarray, p: np.ndarray) -> Figure:
    fig, ax = _figure()
    _draw_calibration(ax, y, p)
    return fig


def roc_calibration_figure(y: np.ndarray, p: np.ndarray, auc: float) -> Figure:
    """ROC and calibration side by side, small: the selected candidate at a glance in the
    Dagster UI (the full-size figures go to its MLflow run)."""
    fig, (roc, calibration) = plt.subplots(1, 2, figsize=(8, 3.4))
    _draw_roc(roc, y, p, auc)
    _draw_calibration(calibration, y, p)
    fig.tight_layout()
    return fig


def importance_figure(importance: pd.Series, top: int = 15) -> Figure:
    head = importance.head(top)[::-1]
    fig, ax = plt.subplots(figsize=(6, 5), dpi=100)
    ax.barh(head.index, head.to_numpy())
    ax.set_title("Mean |SHAP| on the holdout (log-odds)")
    fig.tight_layout()
    return fig
